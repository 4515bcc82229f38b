import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../../test/support/translator-checks.js';
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

/** The recorded vectors, as the response gives them. */
const FIRST = [-0.013431838, -0.004749459, 0.0070375474, 0.013458976, -0.004180019];
const SECOND = [0.011820442, -0.008934927, 0.0051094173, -0.0046936893, 0.011567407];

describe('Gemini embeddings: what is asked and what is billed', () => {
  it('one text is one request; a model already named models/... is not named twice; no dimensions, no outputDimensionality', () => {
    expect(toGeminiEmbedRequest({ input: 'hello' }, 'models/text-embedding-004')).toEqual({
      requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'hello' }] } }],
    });
    expect(toGeminiEmbedRequest({ input: ['a'], dimensions: '256' }, 'gemini-embedding-001')).toEqual({
      requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } }],
    });
  });

  it('refuses input that is not text as bad_request: token arrays, an empty list, a list with a non-string, no input', () => {
    for (const input of [[1, 2, 3], [], ['a', 2], [['a']], 5, undefined, null]) {
      const error = thrown(() => toGeminiEmbedRequest({ input }, 'gemini-embedding-001'));
      expect([error.kind, error.message]).toEqual([
        'bad_request',
        'gemini embeds text only: input must be a string or an array of strings',
      ]);
    }
  });

  it("the recorded answer as OpenAI's list: each vector at its index, 14 prompt tokens billed as uncached input", () => {
    const { body, usage } = fromGeminiEmbedResponse(recording, 'gemini-embedding-001', false);
    expect(body).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: FIRST },
        { object: 'embedding', index: 1, embedding: SECOND },
      ],
      model: 'gemini-embedding-001',
      usage: { prompt_tokens: 14, total_tokens: 14 },
    });
    expect(usage).toEqual({
      input: { uncached: 14, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 },
      output: { text: 0, reasoning: 0, audio: 0 },
      requests: 1,
      images: 0,
      estimated: false,
      raw: { promptTokenCount: 14, promptTokenDetails: [{ modality: 'TEXT', tokenCount: 14 }] },
    });
  });

  it('base64: 4 little-endian float32 bytes per value, each the float32 nearest the recorded value', () => {
    const { body, usage } = fromGeminiEmbedResponse(recording, 'gemini-embedding-001', true);
    const data = body.data as Array<{ object: string; index: number; embedding: string }>;
    expect(data.map(({ object, index }) => [object, index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
    ]);
    data.forEach(({ embedding }, index) => {
      const bytes = Buffer.from(embedding, 'base64');
      expect(bytes).toHaveLength(20);
      const decoded = [0, 1, 2, 3, 4].map((at) => bytes.readFloatLE(at * 4));
      expect(decoded).toEqual((index === 0 ? FIRST : SECOND).map(Math.fround));
    });
    expect(usage?.input.uncached).toBe(14);
  });

  it('an embedding without values is an empty vector; no usage reported is none billed and no usage in the body', () => {
    const { body, usage } = fromGeminiEmbedResponse({ embeddings: [null, { values: 'x' }, { values: [0.5] }] }, 'm', false);
    expect(body).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [] },
        { object: 'embedding', index: 1, embedding: [] },
        { object: 'embedding', index: 2, embedding: [0.5] },
      ],
      model: 'm',
    });
    expect(usage).toBeUndefined();
    // A count that is not a whole number of tokens is no count.
    for (const usageMetadata of [
      '14',
      { promptTokenCount: '14' },
      { promptTokenCount: 1.5 },
      { promptTokenCount: 2 ** 53 },
      {},
    ]) {
      const result = fromGeminiEmbedResponse({ embeddings: [], usageMetadata }, 'm', false);
      expect(result.usage).toBeUndefined();
      expect(result.body).not.toHaveProperty('usage');
    }
    // Zero tokens is a count: reported and billed as zero.
    const zero = fromGeminiEmbedResponse({ embeddings: [], usageMetadata: { promptTokenCount: 0 } }, 'm', false);
    expect(zero.body.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
    expect(zero.usage?.input.uncached).toBe(0);
  });

  it('refuses an answer without an embeddings array as invalid_response', () => {
    for (const raw of [null, 'x', { embedding: { values: [1] } }, { embeddings: {} }]) {
      const error = thrown(() => fromGeminiEmbedResponse(raw, 'm', false));
      expect([error.kind, error.message]).toEqual([
        'invalid_response',
        'gemini answered batchEmbedContents without an embeddings array',
      ]);
    }
  });
});
