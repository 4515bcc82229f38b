import { usageFromAnthropic } from '../../pricing/usage.js';
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
import { answerWithUsage, messagesUsagePayload, type RelayedAnswer } from '../usage-payload.js';
import { messagesToChat, type MessagesRequest } from './messages-request.js';
import { messageFromChat } from './messages-response.js';
import { MessagesFromChatStream, NativeMessagesStream } from './messages-stream.js';

/**
 * `POST /v1/messages`: passed through to Anthropic (cache writes of 5 minutes and 1 hour and cache reads
 * priced at their own rates, from Anthropic's own usage), translated through the chat form for every other
 * upstream. Held, priced and settled by the one pipeline; `usage` carries the charge.
 */
export function messagesIntent(request: MessagesRequest): CallIntent {
  const promptTokens = estimatePromptTokens(messagesToChat(request, false).messages);
  return {
    model: request.model,
    operation: 'messages',
    promptTokens,
    // Anthropic's end-user id lives in metadata.user_id (Messages API reference).
    endUser: (request as { metadata?: { user_id?: unknown } }).metadata?.user_id,
    requestedMaxOutput: request.max_tokens,
    worstCase: tokenWorstCase(promptTokens, { value: request.max_tokens, param: 'max_tokens' }),
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function completeMessage(
  pipeline: CallPipeline,
  request: MessagesRequest,
  caller: Caller,
  options: CallOptions & { forwardHeaders: Record<string, string> },
): Promise<JsonReply> {
  return runJsonCall<RelayedAnswer>(pipeline, messagesIntent(request), caller, options, {
    async exchange(call, signal) {
      const { adapter, target } = call.route;
      if (servedNatively(call)) {
        const body = { kind: 'json' as const, json: request, forwardHeaders: options.forwardHeaders };
        const answer = await adapter.sendNative!('messages', body, target, signal);
        if (answer.kind !== 'json' || !isRecord(answer.json)) throw invalidAnswer(call);
        const upstreamUsage = isRecord(answer.json.usage) ? answer.json.usage : undefined;
        const usage = usageFromAnthropic(upstreamUsage) ?? estimateTextUsage(call, contentText(answer.json));
        return { answer: { json: answer.json, text: answer.text, upstreamUsage }, usage };
      }
      const result = await adapter.complete(upstreamChatRequest(call, messagesToChat(request, true)), target, signal);
      const body = messageFromChat(result.body, request.model, messageId(call));
      return {
        answer: { json: body },
        usage: result.usage ?? estimateTextUsage(call, completionText(result.body)),
      };
    },
    render(answer, report) {
      const usage = messagesUsagePayload(report, answer.upstreamUsage);
      return { body: answerWithUsage(answer, usage, report.breakdown.charge) };
    },
  });
}

/** @throws GatewayError when the call cannot start (the hold is released first). */
export function openMessageStream(
  pipeline: CallPipeline,
  request: MessagesRequest,
  caller: Caller,
  options: CallOptions & { forwardHeaders: Record<string, string> },
): Promise<StreamReply> {
  return openStreamCall<StreamEvent | NativeStreamEvent>(
    pipeline,
    messagesIntent(request),
    caller,
    options,
    (call, signal) => {
      const { adapter, target } = call.route;
      if (servedNatively(call)) {
        return adapter.streamNative!(
          'messages',
          { kind: 'json', json: request, forwardHeaders: options.forwardHeaders },
          target,
          signal,
        );
      }
      return adapter.stream(upstreamChatRequest(call, messagesToChat(request, true)), target, signal);
    },
    (call): StreamCodec<StreamEvent | NativeStreamEvent> =>
      servedNatively(call) ? new NativeMessagesStream(call) : new MessagesFromChatStream(call, request.model),
  );
}

function servedNatively(call: PreparedCall): boolean {
  return call.route.adapter.nativeShapes.has('messages') && call.route.adapter.sendNative !== undefined;
}

function messageId(call: PreparedCall): string {
  return `msg_${call.requestId.replace(/^req_/, '')}`;
}

/** The text a Message generated (text, thinking, tool inputs as JSON), for a local count when it reports no usage. */
export function contentText(body: Record<string, unknown>): string {
  let text = '';
  for (const block of Array.isArray(body.content) ? body.content : []) {
    if (!isRecord(block)) continue;
    if (typeof block.text === 'string') text += block.text;
    if (typeof block.thinking === 'string') text += block.thinking;
    if (block.type === 'tool_use') text += JSON.stringify(block.input ?? {});
  }
  return text;
}

function invalidAnswer(call: PreparedCall): GatewayError {
  return new GatewayError(
    'upstream_error',
    `${call.route.providerId} answered the Messages call with something that is not a message`,
  );
}
