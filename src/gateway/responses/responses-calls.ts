import { usageFromOpenAI } from '../../pricing/usage.js';
import { estimatePromptTokens } from '../../providers/token-estimate.js';
import type { NativeStreamEvent, StreamEvent } from '../../providers/types.js';
import { isRecord } from '../../util/is-record.js';
import {
  estimateTextUsage,
  openStreamCall,
  runJsonCall,
  type CallOptions,
  type JsonReply,
  type StreamCodec,
  type StreamReply,
} from '../call-runner.js';
import { completionText, upstreamChatRequest } from '../chat-calls.js';
import { GatewayError } from '../errors.js';
import { tokenWorstCase } from '../output-limit.js';
import type { CallIntent, CallPipeline, Caller, PreparedCall } from '../pipeline.js';
import { answerWithUsage, responsesUsagePayload, type RelayedAnswer } from '../usage-payload.js';
import { responsesToChat, type ResponsesRequest } from './responses-request.js';
import { responseFromChat } from './responses-response.js';
import { NativeResponsesStream, ResponsesFromChatStream } from './responses-stream.js';

/**
 * `POST /v1/responses`: passed through to an upstream that serves the Responses API (OpenAI, OpenRouter, Groq,
 * xAI), translated through the chat form for every other (Anthropic, Gemini, chat-only gateways, the demo).
 * Either way it is held, priced and settled by the one pipeline, and `usage` carries the charge.
 */
export function responsesIntent(request: ResponsesRequest): CallIntent {
  const chat = responsesToChat(request, false);
  const promptTokens = estimatePromptTokens(chat.messages);
  return {
    model: request.model,
    operation: 'responses',
    promptTokens,
    endUser: (request as { user?: unknown }).user,
    ...(typeof request.max_output_tokens === 'number' ? { requestedMaxOutput: request.max_output_tokens } : {}),
    worstCase: tokenWorstCase(promptTokens, { value: request.max_output_tokens ?? undefined, param: 'max_output_tokens' }),
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function completeResponse(
  pipeline: CallPipeline,
  request: ResponsesRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<RelayedAnswer>(pipeline, responsesIntent(request), caller, options, {
    async exchange(call, signal) {
      const { adapter, target } = call.route;
      if (servedNatively(call)) {
        const answer = await adapter.sendNative!('responses', { kind: 'json', json: request }, target, signal);
        if (answer.kind !== 'json' || !isRecord(answer.json)) throw invalidAnswer(call);
        const upstreamUsage = isRecord(answer.json.usage) ? answer.json.usage : undefined;
        const usage = usageFromOpenAI(upstreamUsage) ?? estimateTextUsage(call, outputText(answer.json));
        return { answer: { json: answer.json, text: answer.text, upstreamUsage }, usage };
      }
      const chat = responsesToChat(request, true);
      const result = await adapter.complete(upstreamChatRequest(call, chat), target, signal);
      const body = responseFromChat(result.body, request, responseId(call));
      return {
        answer: { json: body },
        usage: result.usage ?? estimateTextUsage(call, completionText(result.body)),
      };
    },
    render(answer, report) {
      const usage = responsesUsagePayload(report, answer.upstreamUsage);
      return { body: answerWithUsage(answer, usage, report.breakdown.charge) };
    },
  });
}

/** @throws GatewayError when the call cannot start (the hold is released first). */
export function openResponseStream(
  pipeline: CallPipeline,
  request: ResponsesRequest,
  caller: Caller,
  options: CallOptions,
): Promise<StreamReply> {
  const intent = responsesIntent(request);
  return openStreamCall<StreamEvent | NativeStreamEvent>(
    pipeline,
    intent,
    caller,
    options,
    (call, signal) => {
      const { adapter, target } = call.route;
      if (servedNatively(call)) return adapter.streamNative!('responses', { kind: 'json', json: request }, target, signal);
      return adapter.stream(upstreamChatRequest(call, responsesToChat(request, true)), target, signal);
    },
    // One stream of either kind of event: the codec picked matches what `open` returned for the same call.
    (call): StreamCodec<StreamEvent | NativeStreamEvent> =>
      servedNatively(call) ? new NativeResponsesStream(call) : new ResponsesFromChatStream(call, request),
  );
}

function servedNatively(call: PreparedCall): boolean {
  return call.route.adapter.nativeShapes.has('responses') && call.route.adapter.sendNative !== undefined;
}

function responseId(call: PreparedCall): string {
  return `resp_${call.requestId.replace(/^req_/, '')}`;
}

/** The text a Responses object generated (messages, reasoning summaries, tool arguments), for a local count. */
export function outputText(body: Record<string, unknown>): string {
  let text = '';
  for (const item of Array.isArray(body.output) ? body.output : []) {
    if (!isRecord(item)) continue;
    if (typeof item.arguments === 'string') text += item.arguments;
    for (const part of [
      ...(Array.isArray(item.content) ? item.content : []),
      ...(Array.isArray(item.summary) ? item.summary : []),
    ]) {
      if (isRecord(part) && typeof part.text === 'string') text += part.text;
    }
  }
  return text;
}

function invalidAnswer(call: PreparedCall): GatewayError {
  return new GatewayError(
    'upstream_error',
    `${call.route.providerId} answered the Responses call with something that is not a response`,
  );
}
