import type { NormalizedUsage } from '../pricing/types.js';
import { usageFromOpenAI } from '../pricing/usage.js';
import { countTextTokens } from '../providers/token-estimate.js';
import type { NativeStreamEvent } from '../providers/types.js';
import { isRecord } from '../util/is-record.js';
import {
  estimateTextUsage,
  openStreamCall,
  runJsonCall,
  sseFrame,
  type CallOptions,
  type JsonReply,
  type StreamCodec,
  type StreamReply,
} from './call-runner.js';
import { checkModelName } from './chat-request.js';
import { GatewayError } from './errors.js';
import { tokenWorstCase } from './output-limit.js';
import type { CallIntent, CallPipeline, Caller, PreparedCall } from './pipeline.js';
import { answerWithUsage, serializeWithExactCost, usagePayload, type ChargeReport, type RelayedAnswer } from './usage-payload.js';

/**
 * `POST /v1/completions`, OpenAI's legacy text completions: served by OpenAI-compatible upstreams as they are
 * (gpt-3.5-turbo-instruct, vLLM and the inference gateways' base models). Its text-in, text-out contract has
 * no faithful chat form, so other providers' models are refused with a pointer to chat completions.
 */
export interface CompletionsRequest {
  model: string;
  prompt: string | string[] | number[] | number[][];
  max_tokens?: number;
  stream?: boolean;
  [field: string]: unknown;
}

/** OpenAI's default `max_tokens` for legacy completions (API reference, "Create completion"). */
const LEGACY_DEFAULT_MAX_TOKENS = 16;

/** @throws GatewayError invalid_request naming the bad field. */
export function parseCompletionsRequest(body: unknown): CompletionsRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  checkModelName(body.model);
  const prompt = body.prompt;
  const tokens = (value: unknown) => Array.isArray(value) && value.every((item) => Number.isSafeInteger(item));
  const valid =
    typeof prompt === 'string' ||
    tokens(prompt) ||
    (Array.isArray(prompt) && prompt.every((item) => typeof item === 'string' || tokens(item)));
  if (!valid) invalid('prompt', 'is required and must be a string, an array of strings, or token arrays');
  const max = body.max_tokens;
  if (max !== undefined && max !== null && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)) {
    invalid('max_tokens', 'must be a whole number of at least 1');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') invalid('stream', 'must be true or false');
  if (body.n !== undefined && body.n !== 1) invalid('n', 'only n = 1 is supported (each choice would be billed separately)');
  if (body.best_of !== undefined && body.best_of !== 1)
    invalid('best_of', 'only best_of = 1 is supported (every candidate is billed)');
  return body as CompletionsRequest;
}

export function completionsIntent(request: CompletionsRequest): CallIntent {
  const promptTokens = promptTokenCount(request.prompt);
  return {
    model: request.model,
    operation: 'completions',
    promptTokens,
    endUser: (request as { user?: unknown }).user,
    requestedMaxOutput: request.max_tokens ?? LEGACY_DEFAULT_MAX_TOKENS,
    worstCase: tokenWorstCase(promptTokens, { value: request.max_tokens ?? LEGACY_DEFAULT_MAX_TOKENS, param: 'max_tokens' }),
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function createCompletion(
  pipeline: CallPipeline,
  request: CompletionsRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<RelayedAnswer>(pipeline, completionsIntent(request), caller, options, {
    async exchange(call, signal) {
      const answer = await requireNative(call).sendNative!(
        'completions',
        { kind: 'json', json: request },
        call.route.target,
        signal,
      );
      if (answer.kind !== 'json' || !isRecord(answer.json) || !Array.isArray(answer.json.choices)) {
        throw new GatewayError('upstream_error', `${call.route.providerId} answered the completion without a choices array`);
      }
      return {
        answer: { json: answer.json, text: answer.text },
        usage: usageFromOpenAI(answer.json.usage) ?? estimateTextUsage(call, choicesText(answer.json)),
      };
    },
    render(answer, report) {
      const upstreamUsage = isRecord(answer.json.usage) ? answer.json.usage : undefined;
      return { body: answerWithUsage(answer, usagePayload(report, upstreamUsage), report.breakdown.charge) };
    },
  });
}

/** @throws GatewayError when the call cannot start (the hold is released first). */
export function openCompletionStream(
  pipeline: CallPipeline,
  request: CompletionsRequest,
  caller: Caller,
  options: CallOptions,
): Promise<StreamReply> {
  return openStreamCall<NativeStreamEvent>(
    pipeline,
    completionsIntent(request),
    caller,
    options,
    (call, signal) =>
      requireNative(call).streamNative!('completions', { kind: 'json', json: request }, call.route.target, signal),
    (call) => new CompletionsStream(call),
  );
}

/** Text chunks pass through; the upstream's usage-only last chunk is replaced by one with the charge, then [DONE]. */
class CompletionsStream implements StreamCodec<NativeStreamEvent> {
  private usage: NormalizedUsage | undefined;
  private generated = '';
  private meta: Record<string, unknown> = {};

  constructor(private readonly call: PreparedCall) {}

  push({ payload }: NativeStreamEvent): string[] {
    if (!isRecord(payload)) return [];
    const { usage, ...chunk } = payload;
    this.usage = usageFromOpenAI(usage) ?? this.usage;
    this.meta = { id: chunk.id, object: chunk.object ?? 'text_completion', created: chunk.created, model: chunk.model };
    if (!Array.isArray(chunk.choices) || chunk.choices.length === 0) return [];
    this.generated += choicesText(chunk);
    return [sseFrame(JSON.stringify(chunk))];
  }

  reportedUsage(): NormalizedUsage | undefined {
    return this.usage;
  }

  estimatedUsage(): NormalizedUsage {
    return estimateTextUsage(this.call, this.generated);
  }

  generatedAnything(): boolean {
    return this.generated !== '';
  }

  finish(report: ChargeReport): string[] {
    const final = { ...this.meta, choices: [], usage: usagePayload(report) };
    return [sseFrame(serializeWithExactCost(final, report.breakdown.charge)), 'data: [DONE]\n\n'];
  }

  failure(error: GatewayError): string[] {
    return [sseFrame(JSON.stringify(error.toBody()))];
  }
}

function requireNative(call: PreparedCall) {
  const adapter = call.route.adapter;
  if (adapter.nativeShapes.has('completions') && adapter.sendNative && adapter.streamNative) return adapter;
  throw new GatewayError(
    'invalid_request',
    `legacy completions are served only by OpenAI-compatible upstreams, and ${call.intent.model} is served by ${call.route.providerId}; use /v1/chat/completions`,
    'model',
  );
}

function choicesText(body: Record<string, unknown>): string {
  let text = '';
  for (const choice of Array.isArray(body.choices) ? body.choices : [])
    if (isRecord(choice) && typeof choice.text === 'string') text += choice.text;
  return text;
}

function promptTokenCount(prompt: CompletionsRequest['prompt']): number {
  if (typeof prompt === 'string') return countTextTokens(prompt);
  if (prompt.every((item) => typeof item === 'number')) return prompt.length;
  return (prompt as Array<string | number[]>).reduce<number>(
    (sum, item) => sum + (typeof item === 'string' ? countTextTokens(item) : item.length),
    0,
  );
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
