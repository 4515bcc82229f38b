import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../types.js';
import { fromGeminiEmbedResponse, toGeminiEmbedRequest } from './gemini-embeddings.js';

const recording = JSON.parse(
  readFileSync(new URL('../../../fixtures/provider-responses/google/gemini-batch-embed-contents.json', import.meta.url), 'utf8'),
) as unknown;

describe('Gemini embeddings behind OpenAI shapes', () => {
  it('asks batchEmbedContents for one request per text, dimensions as outputDimensionality', () => {
    expect(toGeminiEmbedRequest({ input: ['a', 'b'], dimensions: 256 }, 'gemini-embedding-001')).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] }, outputDimensionality: 256 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'b' }] }, outputDimensionality: 256 },
      ],
    });
    expect(() => toGeminiEmbedRequest({ input: [1, 2, 3] }, 'm')).toThrow(UpstreamError);
  });

  it("answers OpenAI's list with Gemini's recorded 14 prompt tokens; base64 is the float32 bytes of each vector", () => {
    const floats = fromGeminiEmbedResponse(recording, 'gemini-embedding-001', false);
    expect(floats.usage?.input.uncached).toBe(14);
    expect(floats.body).toMatchObject({
      object: 'list',
      model: 'gemini-embedding-001',
      usage: { prompt_tokens: 14, total_tokens: 14 },
    });
    const first = (floats.body.data as Array<{ embedding: number[] }>)[0]!.embedding;
    const encoded = (
      fromGeminiEmbedResponse(recording, 'gemini-embedding-001', true).body.data as Array<{ embedding: string }>
    )[0]!.embedding;
    const bytes = Buffer.from(encoded, 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    expect(decoded).toHaveLength(first.length);
    decoded.forEach((value, index) => expect(value).toBeCloseTo(first[index]!, 6));
  });
});
