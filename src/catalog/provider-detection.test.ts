import { describe, expect, it } from 'vitest';
import { detectProvider, upstreamNameFor } from './provider-detection.js';

const known = new Set(['openai', 'anthropic', 'gemini', 'groq', 'nosana', 'openrouter']);
const isKnown = (id: string) => known.has(id);

describe('provider detection', () => {
  it.each([
    ['gpt-4o-mini', 'openai'],
    ['o3', 'openai'],
    ['o4-mini-2025-04-16', 'openai'],
    ['claude-sonnet-4-5', 'anthropic'],
    ['gemini-2.5-flash', 'gemini'],
    ['groq/llama-3.3-70b-versatile', 'groq'],
    ['nosana/meta-llama/Llama-3.3-70B-Instruct', 'nosana'],
    ['openrouter/anthropic/claude-3.5-sonnet', 'openrouter'],
    ['grok-3', 'xai'],
  ])('%s is served by %s', (model, provider) => {
    expect(detectProvider(model, isKnown)).toBe(provider);
  });

  it('does not guess from a substring in the middle of a name', () => {
    expect(detectProvider('my-gpt-4o-clone', isKnown)).toBeUndefined();
    expect(detectProvider('totally-unknown-model', isKnown)).toBeUndefined();
    expect(detectProvider('o3x', isKnown)).toBeUndefined();
  });

  it('strips only a known gateway prefix for the upstream name', () => {
    expect(upstreamNameFor('groq/llama-3.3-70b-versatile', 'groq')).toBe('llama-3.3-70b-versatile');
    expect(upstreamNameFor('meta-llama/Llama-3.3-70B-Instruct', 'nosana')).toBe('meta-llama/Llama-3.3-70B-Instruct');
  });
});
