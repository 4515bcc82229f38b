import { emptyUsage, usageFromOpenAI } from '../pricing/usage.js';
import type { NormalizedUsage } from '../pricing/types.js';
import { countTextTokens } from '../providers/token-estimate.js';
import { isRecord } from '../util/is-record.js';
import { runJsonCall, type CallOptions, type JsonReply } from './call-runner.js';
import { checkModelName } from './chat-request.js';
import { GatewayError } from './errors.js';
import type { CallIntent, CallPipeline, Caller, PreparedCall } from './pipeline.js';
import { answerWithUsage, chargePayload, type RelayedAnswer } from './usage-payload.js';

/**
 * `POST /v1/embeddings`, priced per input token: passed through to OpenAI and OpenAI-compatible upstreams,
 * through the adapter's own embeddings call for Gemini. The hold is twice the local count of the input: the
 * local tokenizer is OpenAI's, and other providers' tokenizers count some texts higher; embeddings cost
 * little, and an underestimate would be a charge past the hold.
 */
export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  [field: string]: unknown;
}

/** OpenAI's limit on inputs per request (platform.openai.com/docs/api-reference/embeddings/create). */
const MAX_INPUTS = 2048;

/** @throws GatewayError invalid_request naming the bad field. */
export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  checkModelName(body.model);
  const input = body.input;
  const tokens = (value: unknown) =>
    Array.isArray(value) && value.length > 0 && value.every((item) => Number.isSafeInteger(item) && (item as number) >= 0);
  const valid =
    (typeof input === 'string' && input !== '') ||
    tokens(input) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      input.length <= MAX_INPUTS &&
      input.every((item) => (typeof item === 'string' && item !== '') || tokens(item)));
  if (!valid) invalid('input', `must be a non-empty string, an array of up to ${MAX_INPUTS} non-empty strings, or token arrays`);
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
    invalid('encoding_format', 'must be "float" or "base64"');
  }
  const dimensions = body.dimensions;
  if (dimensions !== undefined && (typeof dimensions !== 'number' || !Number.isSafeInteger(dimensions) || dimensions < 1)) {
    invalid('dimensions', 'must be a whole number of at least 1');
  }
  return body as EmbeddingsRequest;
}

export function embeddingsIntent(request: EmbeddingsRequest): CallIntent {
  const promptTokens = inputTokens(request.input);
  return {
    model: request.model,
    operation: 'embeddings',
    promptTokens,
    endUser: (request as { user?: unknown }).user,
    worstCase() {
      const usage = emptyUsage();
      usage.estimated = true;
      usage.input.uncached = promptTokens * 2;
      return usage;
    },
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function createEmbeddings(
  pipeline: CallPipeline,
  request: EmbeddingsRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<RelayedAnswer>(pipeline, embeddingsIntent(request), caller, options, {
    async exchange(call, signal) {
      const { adapter, target } = call.route;
      if (adapter.nativeShapes.has('embeddings') && adapter.sendNative) {
        const answer = await adapter.sendNative('embeddings', { kind: 'json', json: request }, target, signal);
        if (answer.kind !== 'json' || !isRecord(answer.json) || !Array.isArray(answer.json.data)) {
          throw new GatewayError('upstream_error', `${call.route.providerId} answered the embeddings call without a data list`);
        }
        return { answer: { json: answer.json, text: answer.text }, usage: embeddingUsage(answer.json.usage) ?? estimated(call) };
      }
      if (adapter.embed) {
        const result = await adapter.embed(request, target, signal);
        return { answer: { json: result.body }, usage: result.usage ?? estimated(call) };
      }
      throw new GatewayError(
        'invalid_request',
        `model ${JSON.stringify(request.model)} is served by ${call.route.providerId}, which has no embeddings API`,
        'model',
      );
    },
    render(answer, report) {
      const tokens = report.usage.input.uncached + report.usage.input.cacheRead;
      const upstreamUsage = isRecord(answer.json.usage) ? answer.json.usage : {};
      const usage = { ...upstreamUsage, prompt_tokens: tokens, total_tokens: tokens, ...chargePayload(report) };
      return { body: answerWithUsage(answer, usage, report.breakdown.charge) };
    },
  });
}

/** An embeddings usage (`prompt_tokens`, no completion): every token is input. */
function embeddingUsage(raw: unknown): NormalizedUsage | undefined {
  return usageFromOpenAI(raw);
}

function estimated(call: PreparedCall): NormalizedUsage {
  const usage = emptyUsage();
  usage.input.uncached = call.promptTokens;
  usage.estimated = true;
  return usage;
}

function inputTokens(input: EmbeddingsRequest['input']): number {
  if (typeof input === 'string') return countTextTokens(input);
  if (input.every((item) => typeof item === 'number')) return input.length;
  return (input as Array<string | number[]>).reduce<number>(
    (sum, item) => sum + (typeof item === 'string' ? countTextTokens(item) : item.length),
    0,
  );
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
