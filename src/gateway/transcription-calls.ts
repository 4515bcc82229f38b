import type { NormalizedUsage } from '../pricing/types.js';
import { emptyUsage } from '../pricing/usage.js';
import { countTextTokens } from '../providers/token-estimate.js';
import type { UploadedFile } from '../providers/types.js';
import { audioDurationSeconds, billedSeconds } from '../util/audio-duration.js';
import { isRecord } from '../util/is-record.js';
import { runJsonCall, type CallOptions, type JsonReply } from './call-runner.js';
import { checkModelName } from './chat-request.js';
import { GatewayError } from './errors.js';
import type { CallIntent, CallPipeline, Caller, PreparedCall } from './pipeline.js';
import { chargePayload, serializeWithExactCost } from './usage-payload.js';

/**
 * `POST /v1/audio/transcriptions` (multipart), passed through to OpenAI and OpenAI-compatible gateways (groq,
 * nosana, ...). Priced by the catalog's unit for the model: per second of audio (whisper-1, $0.006 a minute),
 * else per token (gpt-4o-transcribe reports audio and text tokens). The duration is the upstream's
 * (`usage.seconds`, or verbose_json's `duration`), else the file's own, read before the call: it bounds the hold.
 */
export interface TranscriptionRequest {
  model: string;
  file: UploadedFile;
  fields: Record<string, string | string[]>;
  /** Seconds of audio, read from the file; undefined when its format is not one the gateway reads. */
  durationSeconds: number | undefined;
}

/** OpenAI's limit on the file (API reference, "Create transcription"). */
export const MAX_AUDIO_BYTES = 25 * 1024 * 1024;
/** OpenAI's audio models count 10 input tokens a second (recorded gpt-4o-mini-transcribe: 1.7 s, 17 audio tokens). */
const AUDIO_TOKENS_PER_SECOND = 10;
/** The lowest bitrate a speech file plausibly has (8 kbit/s), to bound the duration of a file the gateway cannot read. */
const MIN_BYTES_PER_SECOND = 1000;

/** @throws GatewayError invalid_request naming the bad field. */
export async function transcriptionRequest(
  fields: Record<string, string | string[]>,
  file: UploadedFile | undefined,
): Promise<TranscriptionRequest> {
  const model = fields.model;
  checkModelName(model);
  if (!file || file.bytes.length === 0) invalid('file', 'is required: the audio to transcribe, as a file part');
  if (fields.stream === 'true') invalid('stream', 'streamed transcriptions are not supported; leave stream unset');
  const { model: _model, ...rest } = fields;
  return { model, file, fields: rest, durationSeconds: await audioDurationSeconds(file.bytes, file.contentType) };
}

export function transcriptionIntent(request: TranscriptionRequest): CallIntent {
  const prompt = typeof request.fields.prompt === 'string' ? countTextTokens(request.fields.prompt) : 0;
  const seconds = billedSeconds(request.durationSeconds ?? request.file.bytes.length / MIN_BYTES_PER_SECOND);
  return {
    model: request.model,
    operation: 'transcriptions',
    promptTokens: prompt,
    endUser: request.fields.user,
    worstCase(resolution, defaults) {
      const usage = emptyUsage();
      usage.estimated = true;
      if (resolution.price.rates.audioSecond) {
        usage.audioSeconds = seconds;
        return usage;
      }
      // Priced per token: the audio at twice OpenAI's rate of tokens, the prompt, and a whole output limit of text.
      usage.input.audio = seconds * AUDIO_TOKENS_PER_SECOND * 2;
      usage.input.uncached = prompt;
      usage.output.text = defaults.maxOutputTokens;
      return usage;
    },
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function createTranscription(
  pipeline: CallPipeline,
  request: TranscriptionRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<{ json?: Record<string, unknown>; text?: string; contentType?: string }>(
    pipeline,
    transcriptionIntent(request),
    caller,
    options,
    {
      async exchange(call, signal) {
        const adapter = call.route.adapter;
        if (!adapter.nativeShapes.has('transcriptions') || !adapter.sendNative) {
          throw new GatewayError(
            'invalid_request',
            `model ${JSON.stringify(request.model)} is served by ${call.route.providerId}, which has no transcription API`,
            'model',
          );
        }
        const body = { kind: 'form' as const, fields: request.fields, file: request.file };
        const answer = await adapter.sendNative('transcriptions', body, call.route.target, signal);
        if (answer.kind === 'text')
          return {
            answer: { text: answer.text, contentType: answer.contentType },
            usage: transcriptionUsage(call, request, undefined, answer.text),
          };
        if (!isRecord(answer.json))
          throw new GatewayError(
            'upstream_error',
            `${call.route.providerId} answered the transcription with something that is not an object`,
          );
        const text = typeof answer.json.text === 'string' ? answer.json.text : '';
        return { answer: { json: answer.json }, usage: transcriptionUsage(call, request, answer.json, text) };
      },
      render(answer, report) {
        if (answer.json === undefined)
          return { body: answer.text ?? '', contentType: answer.contentType ?? 'text/plain; charset=utf-8' };
        const upstreamUsage = isRecord(answer.json.usage) ? answer.json.usage : {};
        return {
          body: serializeWithExactCost(
            { ...answer.json, usage: { ...upstreamUsage, ...chargePayload(report) } },
            report.breakdown.charge,
          ),
        };
      },
    },
  );
}

/**
 * What a transcription used: seconds for a model priced by the second (the upstream's count, else verbose_json's
 * duration, else the file's, rounded up); for a model priced by the token, the upstream's token usage, else
 * its audio at OpenAI's 10 tokens a second and the text counted locally, marked estimated.
 */
function transcriptionUsage(
  call: PreparedCall,
  request: TranscriptionRequest,
  json: Record<string, unknown> | undefined,
  text: string,
): NormalizedUsage {
  const reported = isRecord(json?.usage) ? json.usage : undefined;
  const usage = emptyUsage();
  usage.raw = reported;
  const reportedSeconds =
    reported?.type === 'duration' && typeof reported.seconds === 'number' ? billedSeconds(reported.seconds) : undefined;
  const verboseSeconds = typeof json?.duration === 'number' ? billedSeconds(json.duration) : undefined;
  const fileSeconds = request.durationSeconds === undefined ? undefined : billedSeconds(request.durationSeconds);
  const seconds = reportedSeconds ?? verboseSeconds ?? fileSeconds;
  if (call.resolution.price.rates.audioSecond) {
    usage.audioSeconds = seconds ?? billedSeconds(request.file.bytes.length / MIN_BYTES_PER_SECOND);
    usage.estimated = seconds === undefined;
    return usage;
  }
  if (reported?.type === 'tokens' && typeof reported.input_tokens === 'number' && typeof reported.output_tokens === 'number') {
    const details = isRecord(reported.input_token_details) ? reported.input_token_details : {};
    const audio = typeof details.audio_tokens === 'number' ? details.audio_tokens : reported.input_tokens;
    usage.input.audio = Math.min(audio, reported.input_tokens);
    usage.input.uncached = reported.input_tokens - usage.input.audio;
    usage.output.text = reported.output_tokens;
    return usage;
  }
  usage.input.audio = (seconds ?? 0) * AUDIO_TOKENS_PER_SECOND;
  usage.input.uncached = call.promptTokens;
  usage.output.text = countTextTokens(text);
  usage.estimated = true;
  return usage;
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
