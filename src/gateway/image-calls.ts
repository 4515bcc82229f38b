import { imageRateFor } from '../pricing/cost.js';
import type { ModelPrice, NormalizedUsage } from '../pricing/types.js';
import { emptyUsage } from '../pricing/usage.js';
import { countTextTokens } from '../providers/token-estimate.js';
import { isRecord } from '../util/is-record.js';
import { runJsonCall, type CallOptions, type JsonReply } from './call-runner.js';
import { checkModelName } from './chat-request.js';
import { GatewayError } from './errors.js';
import type { CallIntent, CallPipeline, Caller } from './pipeline.js';
import { chargePayload, serializeWithExactCost } from './usage-payload.js';

/**
 * `POST /v1/images/generations`, priced per image: at the rate of the image's size and quality where the
 * catalog has rates by size (dall-e-3 hd 1024x1792 is $0.12), else at the model's flat per-image rate (a
 * zero-priced model is served and charged zero, the breakdown showing the images at 0), else by the tokens
 * the upstream reports. The hold is the dearest rate the request could land on.
 */
export interface ImagesRequest {
  model: string;
  prompt: string;
  n?: number;
  size?: string;
  quality?: string;
  [field: string]: unknown;
}

/** OpenAI's model when a request names none (API reference, "Create image"). */
const DEFAULT_IMAGE_MODEL = 'dall-e-2';
/** OpenAI's size when a request names none. */
const DEFAULT_SIZE = '1024x1024';
/** OpenAI allows 1 to 10 images per request. */
const MAX_IMAGES = 10;

/** @throws GatewayError invalid_request naming the bad field. */
export function parseImagesRequest(body: unknown): ImagesRequest {
  if (!isRecord(body)) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
  if (typeof body.prompt !== 'string' || body.prompt === '') invalid('prompt', 'is required and must be a non-empty string');
  if (body.model !== undefined) checkModelName(body.model);
  const n = body.n;
  if (n !== undefined && n !== null && (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_IMAGES)) {
    invalid('n', `must be a whole number from 1 to ${MAX_IMAGES}`);
  }
  for (const field of ['size', 'quality', 'response_format'] as const) {
    if (body[field] !== undefined && body[field] !== null && typeof body[field] !== 'string') invalid(field, 'must be a string');
  }
  if (body.stream === true) invalid('stream', 'streamed image generation is not supported; leave stream unset');
  return { ...body, model: typeof body.model === 'string' ? body.model : DEFAULT_IMAGE_MODEL } as ImagesRequest;
}

export function imagesIntent(request: ImagesRequest): CallIntent {
  const promptTokens = countTextTokens(request.prompt);
  const count = request.n ?? 1;
  return {
    model: request.model,
    operation: 'images',
    promptTokens,
    endUser: (request as { user?: unknown }).user,
    worstCase(resolution, defaults) {
      const usage = emptyUsage();
      usage.estimated = true;
      const price = resolution.price;
      if (price.imageRates?.length || price.rates.perImage) {
        usage.images = count;
        const dearest = dearestVariant(price, request.size, known(request.quality));
        if (dearest) usage.image = dearest;
        else if (!price.rates.perImage) throw noPriceFor(resolution.modelId ?? request.model, price, request);
        return usage;
      }
      // A model priced by the token only: the prompt and a whole output limit.
      usage.input.uncached = promptTokens;
      usage.output.text = defaults.maxOutputTokens;
      return usage;
    },
  };
}

/** @throws GatewayError for anything that stops the call (the hold is released first). */
export function generateImages(
  pipeline: CallPipeline,
  request: ImagesRequest,
  caller: Caller,
  options: CallOptions,
): Promise<JsonReply> {
  return runJsonCall<Record<string, unknown>>(pipeline, imagesIntent(request), caller, options, {
    async exchange(call, signal) {
      const adapter = call.route.adapter;
      if (!adapter.nativeShapes.has('images') || !adapter.sendNative) {
        throw new GatewayError(
          'invalid_request',
          `model ${JSON.stringify(request.model)} is served by ${call.route.providerId}, which has no image generation API`,
          'model',
        );
      }
      const answer = await adapter.sendNative('images', { kind: 'json', json: request }, call.route.target, signal);
      if (answer.kind !== 'json' || !isRecord(answer.json) || !Array.isArray(answer.json.data)) {
        throw new GatewayError('upstream_error', `${call.route.providerId} answered the image generation without a data list`);
      }
      return { answer: answer.json, usage: imageUsage(call.resolution.price, request, answer.json) };
    },
    render(answer, report) {
      const upstreamUsage = isRecord(answer.usage) ? answer.usage : {};
      return {
        body: serializeWithExactCost(
          { ...answer, usage: { ...upstreamUsage, ...chargePayload(report) } },
          report.breakdown.charge,
        ),
      };
    },
  });
}

/**
 * What a generation used: its images, at the size and quality the upstream says it made (gpt-image-1 answers
 * `size` and `quality`), else the request's, else OpenAI's defaults; a model priced by the token is billed the
 * tokens the upstream reports (gpt-image-1's `usage`: input text and image tokens, output image tokens).
 */
function imageUsage(price: ModelPrice, request: ImagesRequest, answer: Record<string, unknown>): NormalizedUsage {
  const usage = emptyUsage();
  const reported = isRecord(answer.usage) ? answer.usage : undefined;
  usage.raw = reported;
  if (price.imageRates?.length || price.rates.perImage) {
    usage.images = (answer.data as unknown[]).length;
    const size = typeof answer.size === 'string' ? answer.size : request.size;
    const quality = known(typeof answer.quality === 'string' ? answer.quality : request.quality);
    // A size the catalog has no rate for (and no flat rate) is billed at the dearest: never less than it could cost.
    const variant =
      settledVariant(price, size, quality) ?? (price.rates.perImage ? undefined : dearestVariant(price, undefined, undefined));
    if (variant) usage.image = variant;
    return usage;
  }
  if (reported && typeof reported.input_tokens === 'number' && typeof reported.output_tokens === 'number') {
    usage.input.uncached = reported.input_tokens;
    usage.output.text = reported.output_tokens;
    return usage;
  }
  usage.input.uncached = countTextTokens(request.prompt);
  usage.estimated = true;
  return usage;
}

/** The variant a request could cost most at: its size (or any) and its quality (or any). */
function dearestVariant(
  price: ModelPrice,
  size: string | undefined,
  quality: string | undefined,
): { size: string; quality?: string } | undefined {
  let dearest: { size: string; quality?: string; rate: ModelPrice['rates']['input'] } | undefined;
  for (const entry of price.imageRates ?? []) {
    if (size !== undefined && entry.size !== size) continue;
    if (quality !== undefined && entry.quality !== undefined && entry.quality !== quality) continue;
    if (!dearest || entry.rate.gt(dearest.rate)) dearest = entry;
  }
  if (dearest && price.rates.perImage?.gt(dearest.rate)) return undefined;
  return dearest ? { size: dearest.size, ...(dearest.quality !== undefined ? { quality: dearest.quality } : {}) } : undefined;
}

/**
 * The variant an image is billed at: its size (OpenAI's 1024x1024 when unknown) and quality; an unknown quality
 * is dall-e-3's default `standard` where that is priced, else the dearest for the size (never less than it could be).
 */
function settledVariant(
  price: ModelPrice,
  size: string | undefined,
  quality: string | undefined,
): { size: string; quality?: string } | undefined {
  const chosenSize = size ?? DEFAULT_SIZE;
  if (quality !== undefined)
    return imageRateFor(price, { size: chosenSize, quality })
      ? { size: chosenSize, quality }
      : dearestVariant(price, chosenSize, undefined);
  if (imageRateFor(price, { size: chosenSize, quality: 'standard' })) return { size: chosenSize, quality: 'standard' };
  return dearestVariant(price, chosenSize, undefined);
}

/** `auto` (gpt-image-1's default) leaves the quality to the model: unknown until it answers. */
function known(quality: string | undefined): string | undefined {
  return quality === undefined || quality === 'auto' ? undefined : quality;
}

function noPriceFor(model: string, price: ModelPrice, request: ImagesRequest): GatewayError {
  const priced = (price.imageRates ?? []).map((entry) => `${entry.size}${entry.quality ? ` ${entry.quality}` : ''}`).join(', ');
  return new GatewayError(
    'invalid_request',
    `invalid request: ${model} has no price for size ${request.size ?? 'any'}${request.quality ? ` quality ${request.quality}` : ''}; priced: ${priced}`,
    request.size !== undefined ? 'size' : 'quality',
  );
}

function invalid(field: string, problem: string): never {
  throw new GatewayError('invalid_request', `invalid request: ${field} ${problem}`, field);
}
