import { GatewayError } from './errors.js';
import { emptyUsage } from '../pricing/usage.js';
import type { NormalizedUsage } from '../pricing/types.js';
import { countTextTokens } from '../providers/token-estimate.js';
import type { ChatCompletionRequest, StreamEvent } from '../providers/types.js';
import type { CallPipeline, Caller, PreparedCall } from './pipeline.js';
import { chargeHeaders, pricingHeaders, serializeWithExactCost, usagePayload } from './usage-payload.js';
import { isRecord } from '../util/is-record.js';

export interface CallOptions {
  signal: AbortSignal;
  requestId?: string;
}

/** A finished non-streaming call: status, headers and the exact JSON text of the body. */
export interface JsonReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** An opened streaming call: headers to send now, then SSE frames; the last data frame carries usage and cost. */
export interface StreamReply {
  headers: Record<string, string>;
  frames: AsyncGenerator<string, void, undefined>;
}

/**
 * A non-streaming chat completion, billed exactly: the upstream's usage is priced and captured before the
 * response leaves, so `usage.cost` and the credits header are final.
 * @throws GatewayError for anything that stops the call (the hold is released first).
 */
export async function completeChat(
  pipeline: CallPipeline,
  request: ChatCompletionRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  const call = await pipeline.prepare(request, caller, {
    stream: false,
    ...(options.requestId ? { requestId: options.requestId } : {}),
  });
  let result;
  try {
    result = await call.route.adapter.complete(upstreamRequest(call, false), call.route.target, options.signal);
  } catch (error) {
    throw await pipeline.fail(call, error);
  }
  const usage = result.usage ?? estimateUsage(call, completionText(result.body));
  const report = await pipeline.settle(call, usage);
  const upstreamUsage = asRecord((result.body as { usage?: unknown }).usage);
  const body = { ...result.body, usage: usagePayload(report, upstreamUsage) };
  return {
    statusCode: 200,
    headers: { 'x-tollgate-request-id': call.requestId, ...pricingHeaders(call.resolution), ...chargeHeaders(report) },
    body: serializeWithExactCost(body, report.breakdown.charge),
  };
}

/**
 * A streaming chat completion. The upstream is called (and its first event awaited) before any header is
 * sent, so a refusal still gets a proper status. Usage comes from the provider's final event; only when it
 * sent none is the output counted locally and marked estimated. A client that goes away is billed once for
 * what was generated up to then.
 * @throws GatewayError when the call cannot start (the hold is released first).
 */
export async function openChatStream(
  pipeline: CallPipeline,
  request: ChatCompletionRequest,
  caller: Caller,
  options: CallOptions,
): Promise<StreamReply> {
  const call = await pipeline.prepare(request, caller, {
    stream: true,
    ...(options.requestId ? { requestId: options.requestId } : {}),
  });
  const iterator = call.route.adapter
    .stream(upstreamRequest(call, true), call.route.target, options.signal)
    [Symbol.asyncIterator]();
  let first: IteratorResult<StreamEvent>;
  try {
    first = await iterator.next();
  } catch (error) {
    throw await pipeline.fail(call, error);
  }
  return {
    headers: { 'x-tollgate-request-id': call.requestId, ...pricingHeaders(call.resolution) },
    frames: relay(pipeline, call, iterator, first, options.signal),
  };
}

async function* relay(
  pipeline: CallPipeline,
  call: PreparedCall,
  iterator: AsyncIterator<StreamEvent>,
  first: IteratorResult<StreamEvent>,
  signal: AbortSignal,
): AsyncGenerator<string, void, undefined> {
  let usage: NormalizedUsage | undefined;
  let generated = '';
  let meta = { id: call.requestId, created: Math.floor(Date.now() / 1000), model: call.request.model };
  let settled = false;
  try {
    try {
      for (let step = first; !step.done; step = await iterator.next()) {
        const event = step.value;
        if (event.type === 'usage') {
          usage = event.usage;
          continue;
        }
        const chunk = event.chunk as unknown as { id?: string; created?: number; model?: string };
        meta = { id: chunk.id ?? meta.id, created: chunk.created ?? meta.created, model: chunk.model ?? meta.model };
        generated += chunkText(event.chunk);
        yield `data: ${JSON.stringify(event.chunk)}\n\n`;
      }
    } catch (error) {
      settled = true;
      if (signal.aborted) {
        await pipeline.settle(call, usage ?? estimateUsage(call, generated), 'aborted');
        return;
      }
      // The upstream failed mid-stream: nothing generated is not charged; what was generated is.
      const mapped =
        generated === '' && !usage
          ? await pipeline.fail(call, error)
          : await settleAfterError(pipeline, call, usage, generated, error);
      yield `data: ${JSON.stringify(mapped.toBody())}\n\n`;
      return;
    }
    settled = true;
    const report = await pipeline.settle(call, usage ?? estimateUsage(call, generated));
    const final = { ...meta, object: 'chat.completion.chunk', choices: [], usage: usagePayload(report) };
    yield `data: ${serializeWithExactCost(final, report.breakdown.charge)}\n\n`;
    yield 'data: [DONE]\n\n';
  } finally {
    if (!settled) {
      // The consumer stopped reading (the client went away between frames): stop the upstream and bill once.
      settled = true;
      await iterator.return?.().catch(() => undefined);
      await pipeline.settle(call, usage ?? estimateUsage(call, generated), 'aborted');
    }
  }
}

async function settleAfterError(
  pipeline: CallPipeline,
  call: PreparedCall,
  usage: NormalizedUsage | undefined,
  generated: string,
  error: unknown,
) {
  await pipeline.settle(call, usage ?? estimateUsage(call, generated), 'aborted');
  return error instanceof GatewayError
    ? error
    : new GatewayError('upstream_error', `the upstream stream failed: ${error instanceof Error ? error.message : String(error)}`);
}

/** Local counts when the provider reported none: the prompt estimate and the text actually received. */
function estimateUsage(call: PreparedCall, generatedText: string): NormalizedUsage {
  const usage = emptyUsage();
  usage.input.uncached = call.promptTokens;
  usage.output.text = generatedText === '' ? 0 : countTextTokens(generatedText);
  usage.estimated = true;
  return usage;
}

function upstreamRequest(call: PreparedCall, stream: boolean): ChatCompletionRequest {
  return { ...call.request, model: call.route.target.upstreamModel, stream };
}

function chunkText(chunk: unknown): string {
  let text = '';
  for (const choice of asArray(asRecord(chunk)?.choices)) {
    const delta = asRecord(asRecord(choice)?.delta);
    if (!delta) continue;
    if (typeof delta.content === 'string') text += delta.content;
    if (typeof delta.reasoning_content === 'string') text += delta.reasoning_content;
    for (const toolCall of asArray(delta.tool_calls)) {
      const argumentsText = asRecord(asRecord(toolCall)?.function)?.arguments;
      if (typeof argumentsText === 'string') text += argumentsText;
    }
  }
  return text;
}

function completionText(body: unknown): string {
  let text = '';
  for (const choice of asArray(asRecord(body)?.choices)) {
    const message = asRecord(asRecord(choice)?.message);
    if (typeof message?.content === 'string') text += message.content;
    for (const toolCall of asArray(message?.tool_calls)) {
      const argumentsText = asRecord(asRecord(toolCall)?.function)?.arguments;
      if (typeof argumentsText === 'string') text += argumentsText;
    }
  }
  return text;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
