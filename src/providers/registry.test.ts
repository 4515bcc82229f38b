import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { createProviderRegistry } from './registry.js';

describe('createProviderRegistry', () => {
  const registry = createProviderRegistry(
    loadConfig({ OPENAI_API_KEY: 'sk-openai-key', GEMINI_API_KEY: 'g-key', GROQ_BASE_URL: 'http://127.0.0.1:9/openai/v1' }),
  );

  it('maps catalog provider ids and aliases to adapters; Azure is not routed', () => {
    expect(registry.adapterFor('vertex_ai-language-models')?.id).toBe('gemini');
    expect(registry.adapterFor('google')?.id).toBe('gemini');
    expect(registry.adapterFor('text-completion-openai')?.id).toBe('openai');
    expect(registry.adapterFor('anthropic')?.id).toBe('anthropic');
    expect(registry.adapterFor('nscale')?.id).toBe('nscale');
    expect(registry.adapterFor('azure')).toBeUndefined();
    expect(registry.ids()).toContain('demo');
    expect(registry.ids()).toContain('vertex_ai');
  });

  it('builds targets from configuration, else the public URL', () => {
    expect(registry.targetFor('openai', 'gpt-4o-mini')).toEqual({
      providerId: 'openai',
      upstreamModel: 'gpt-4o-mini',
      baseUrl: 'https://api.openai.com/v1',
      apiKey: 'sk-openai-key',
    });
    expect(registry.targetFor('vertex_ai', 'gemini-2.5-flash').providerId).toBe('gemini');
    expect(registry.targetFor('groq', 'llama').baseUrl).toBe('http://127.0.0.1:9/openai/v1');
  });

  it('knows which providers can be called', () => {
    expect(registry.hasCredentials('openai')).toBe(true);
    expect(registry.hasCredentials('google')).toBe(true);
    expect(registry.hasCredentials('anthropic')).toBe(false);
    expect(registry.hasCredentials('demo')).toBe(true);
    expect(registry.hasCredentials('azure')).toBe(false);
  });

  it('says how to configure a provider without a public URL', () => {
    expect(() => registry.targetFor('nosana', 'llama')).toThrow('provider "nosana" has no public URL; set NOSANA_BASE_URL');
    expect(() => registry.targetFor('azure', 'gpt-4o')).toThrow('no adapter for provider "azure"');
  });
});
