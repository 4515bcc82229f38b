import type { NormalizedUsage } from '../pricing/types.js';
import { emptyUsage } from '../pricing/usage.js';
import { countTextTokens } from '../providers/token-estimate.js';
import { UpstreamError } from '../providers/types.js';
import { GatewayError } from './errors.js';
import { answeredBy, type CallIntent, type CallPipeline, type Caller, type PreparedCall } from './pipeline.js';
import { chargeHeaders, pricingHeaders, type ChargeReport } from './usage-payload.js';

/**
 * The one way a call runs, whatever its API shape: prepare (resolve, quote, hold) -> the codec's upstream
 * exchange -> settle (price and capture what was used) or fail (release everything). A codec only translates
 * its shape's request, answer and stream events; billing never differs between shapes.
 */

export interface CallOptions {
  signal: AbortSignal;
  /** The call's id (the idempotency session picks it, so a replay names the same call). */
  requestId: string;
}

/** A finished non-streaming call: status, headers and the exact text of the body. */
export interface JsonReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  /** `application/json; charset=utf-8` unless the shape answers otherwise (a text transcription). */
  contentType?: string;
}

/** An opened streaming call: headers to send now, then SSE frames; the last ones carry usage and cost. */
export interface StreamReply {
  headers: Record<string, string>;
  frames: AsyncGenerator<string, void, undefined>;
  /** True once the stream ended as the upstream ended it, its charge in the last frames (a replay may repeat it). */
  completed(): boolean;
}

/** A codec's non-streaming exchange: the upstream's answer, and the usage to bill for it. */
export interface Exchanged<Answer> {
  answer: Answer;
  /** The provider's usage, or the codec's local count marked estimated when the provider sent none. */
  usage: NormalizedUsage;
}

export interface JsonCodec<Answer> {
  /** @throws UpstreamError, GatewayError: the hold is released and the error mapped. */
  exchange(call: PreparedCall, signal: AbortSignal): Promise<Exchanged<Answer>>;
  /** The response body in the shape's own form, charge included. */
  render(answer: Answer, report: ChargeReport, call: PreparedCall): { body: string; contentType?: string };
}

/**
 * A non-streaming call, billed exactly: the usage is priced and captured before the response leaves, so the
 * charge in the body and the credits header are final.
 * @throws GatewayError for anything that stops the call (the hold is released first).
 */
export async function runJsonCall<Answer>(
  pipeline: CallPipeline,
  intent: CallIntent,
  caller: Caller,
  options: CallOptions,
  codec: JsonCodec<Answer>,
): Promise<JsonReply> {
  const call = await pipeline.prepare(intent, caller, { stream: false, requestId: options.requestId });
  let exchanged: Exchanged<Answer>;
  try {
    exchanged = await codec.exchange(call, options.signal);
  } catch (error) {
    throw await pipeline.fail(call, options.signal.aborted ? clientClosed(error) : error);
  }
  const report = await pipeline.settle(call, exchanged.usage);
  const rendered = codec.render(exchanged.answer, report, call);
  return {
    statusCode: 200,
    headers: { ...callHeaders(call), ...chargeHeaders(report) },
    body: rendered.body,
    ...(rendered.contentType ? { contentType: rendered.contentType } : {}),
  };
}

/** Turns a shape's upstream events into the client's frames, and knows what was used so far. */
export interface StreamCodec<Event> {
  /** The client's frames for one upstream event (none to drop it, or to hold it back until the charge is known). */
  push(event: Event): string[];
  /** The usage the provider has reported, if any (the last report wins). */
  reportedUsage(): NormalizedUsage | undefined;
  /** What was generated so far counted locally, marked estimated: billed when the provider reported nothing. */
  estimatedUsage(): NormalizedUsage;
  /** True once anything was generated: a stream that fails after that is billed for it. */
  generatedAnything(): boolean;
  /** The frames that end a completed stream, carrying the charge. */
  finish(report: ChargeReport): string[];
  /** The frames that tell the client the stream failed after it started. */
  failure(error: GatewayError): string[];
  /**
   * Why the upstream's stream, having ended, is not whole: a shape with a final event (a native Messages
   * stream's `message_stop`, a Responses stream's `response.completed`) that never came. Such a stream is a
   * failed one: billed for what was generated, its answer never stored for an idempotent retry.
   */
  unfinished?(): Error | undefined;
}

/**
 * A streaming call. The upstream is called (and its first event awaited) before any header is sent, so a
 * refusal still gets a proper status. Usage comes from the provider's own report; only when it sent none is
 * the output counted locally and marked estimated. A client that goes away, or an upstream that fails after
 * it started, is billed once for what was generated up to then.
 * @throws GatewayError when the call cannot start (the hold is released first).
 */
export async function openStreamCall<Event>(
  pipeline: CallPipeline,
  intent: CallIntent,
  caller: Caller,
  options: CallOptions,
  open: (call: PreparedCall, signal: AbortSignal) => AsyncIterable<Event>,
  codecFor: (call: PreparedCall) => StreamCodec<Event>,
): Promise<StreamReply> {
  const call = await pipeline.prepare(intent, caller, { stream: true, requestId: options.requestId });
  let iterator: AsyncIterator<Event>;
  let first: IteratorResult<Event>;
  try {
    iterator = open(call, options.signal)[Symbol.asyncIterator]();
    first = await iterator.next();
  } catch (error) {
    throw await pipeline.fail(call, options.signal.aborted ? clientClosed(error) : error);
  }
  const state = { completed: false };
  return {
    headers: callHeaders(call),
    frames: relay(pipeline, call, iterator, first, codecFor(call), options.signal, state),
    completed: () => state.completed,
  };
}

async function* relay<Event>(
  pipeline: CallPipeline,
  call: PreparedCall,
  iterator: AsyncIterator<Event>,
  first: IteratorResult<Event>,
  codec: StreamCodec<Event>,
  signal: AbortSignal,
  state: { completed: boolean },
): AsyncGenerator<string, void, undefined> {
  const used = () => codec.reportedUsage() ?? codec.estimatedUsage();
  let settled = false;
  try {
    try {
      for (let step = first; !step.done; step = await iterator.next()) {
        for (const frame of codec.push(step.value)) yield frame;
      }
      const cut = codec.unfinished?.();
      if (cut) throw cut;
    } catch (error) {
      settled = true;
      if (signal.aborted) {
        await pipeline.settle(call, used(), 'aborted');
        return;
      }
      // The upstream failed mid-stream: nothing generated is not charged; what was generated is.
      let mapped: GatewayError;
      if (!codec.generatedAnything() && !codec.reportedUsage()) mapped = await pipeline.fail(call, error);
      else {
        await pipeline.settle(call, used(), 'aborted');
        mapped =
          error instanceof GatewayError
            ? error
            : new GatewayError(
                'upstream_error',
                `the upstream stream failed: ${error instanceof Error ? error.message : String(error)}`,
              );
      }
      for (const frame of codec.failure(mapped)) yield frame;
      return;
    }
    settled = true;
    const report = await pipeline.settle(call, used());
    const frames = codec.finish(report);
    state.completed = true;
    for (const frame of frames) yield frame;
  } finally {
    if (!settled) {
      // The consumer stopped reading (the client went away between frames): stop the upstream and bill once.
      settled = true;
      await iterator.return?.().catch(() => undefined);
      await pipeline.settle(call, used(), 'aborted');
    }
  }
}

/**
 * The failure of a call whose client went away before its answer (the upstream exchange was stopped, or failed
 * meanwhile): recorded as aborted, with nothing charged, since no usage came back to bill.
 */
function clientClosed(error: unknown): GatewayError {
  const reason = error instanceof Error ? `: ${error.message}` : '';
  return new GatewayError('client_closed', `the client closed the connection before the answer${reason}`);
}

/** Headers every call's response carries: its id, how its price was found, and who answered it. */
export function callHeaders(call: PreparedCall): Record<string, string> {
  return {
    'x-tollgate-request-id': call.requestId,
    'x-tollgate-provider': answeredBy(call),
    ...pricingHeaders(call.resolution),
    ...call.admission.headers,
  };
}

/**
 * Whether a stream of chat chunks ended whole: once a choice has its finish_reason or the provider reported the
 * usage (both come last). One with neither was cut off (`StreamCodec.unfinished`).
 */
export function unfinishedChat(finished: boolean, usage: NormalizedUsage | undefined): Error | undefined {
  if (finished || usage) return undefined;
  return new UpstreamError('server_error', 'the upstream ended the stream before its last chunk (no finish_reason, no usage)');
}

/** Local counts when the provider reported none: the prompt estimate and the text actually generated. */
export function estimateTextUsage(call: Pick<PreparedCall, 'promptTokens'>, generatedText: string): NormalizedUsage {
  const usage = emptyUsage();
  usage.input.uncached = call.promptTokens;
  usage.output.text = countTextTokens(generatedText);
  usage.estimated = true;
  return usage;
}

/** An SSE frame of one JSON payload, named when the shape names its events (Responses and Messages do). */
export function sseFrame(payload: string, event?: string): string {
  return event ? `event: ${event}\ndata: ${payload}\n\n` : `data: ${payload}\n\n`;
}
