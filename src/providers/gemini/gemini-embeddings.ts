import { emptyUsage } from '../../pricing/usage.js';
import type { NormalizedUsage } from '../../pricing/types.js';
import { isRecord } from '../../util/is-record.js';
import { UpstreamError, type EmbeddingsResult } from '../types.js';

/**
 * OpenAI's embeddings request as Gemini's `batchEmbedContents` (ai.google.dev/api/embeddings): one request per
 * input text, `dimensions` as `outputDimensionality`. Gemini embeds text only, so token-array inputs are refused.
 * @throws UpstreamError bad_request for an input Gemini cannot take.
 */
export function toGeminiEmbedRequest(request: Record<string, unknown>, upstreamModel: string): Record<string, unknown> {
  const texts = typeof request.input === 'string' ? [request.input] : request.input;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((text) => typeof text === 'string')) {
    throw new UpstreamError('bad_request', 'gemini embeds text only: input must be a string or an array of strings');
  }
  const model = `models/${upstreamModel.replace(/^models\//, '')}`;
  const dimensions = typeof request.dimensions === 'number' ? { outputDimensionality: request.dimensions } : {};
  return { requests: texts.map((text) => ({ model, content: { parts: [{ text }] }, ...dimensions })) };
}

/**
 * Gemini's `{embeddings: [{values}], usageMetadata}` as OpenAI's embeddings list. `encoding_format: base64` is
 * honoured as OpenAI does it: the float32 little-endian bytes of each vector, base64 encoded (the official
 * SDKs ask for it by default). Usage comes from `usageMetadata.promptTokenCount` (recorded
 * gemini-batch-embed-contents.json: 14 for two texts); undefined when Gemini reported none.
 * @throws UpstreamError invalid_response when there is no embeddings array.
 */
export function fromGeminiEmbedResponse(raw: unknown, model: string, base64: boolean): EmbeddingsResult {
  if (!isRecord(raw) || !Array.isArray(raw.embeddings)) {
    throw new UpstreamError('invalid_response', 'gemini answered batchEmbedContents without an embeddings array');
  }
  const data = raw.embeddings.map((embedding, index) => {
    const values = isRecord(embedding) && Array.isArray(embedding.values) ? (embedding.values as number[]) : [];
    return { object: 'embedding', index, embedding: base64 ? float32Base64(values) : values };
  });
  const usage = geminiEmbedUsage(raw.usageMetadata);
  const tokens = usage?.input.uncached;
  return {
    body: {
      object: 'list',
      data,
      model,
      ...(tokens !== undefined ? { usage: { prompt_tokens: tokens, total_tokens: tokens } } : {}),
    },
    usage,
  };
}

function geminiEmbedUsage(raw: unknown): NormalizedUsage | undefined {
  if (!isRecord(raw) || typeof raw.promptTokenCount !== 'number' || !Number.isSafeInteger(raw.promptTokenCount)) return undefined;
  const usage = emptyUsage();
  usage.input.uncached = raw.promptTokenCount;
  usage.raw = raw;
  return usage;
}

function float32Base64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString('base64');
}
