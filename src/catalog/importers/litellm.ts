import type { Decimal } from '../../money/decimal.js';
import type { ImageRate, PriceTier, RateKey } from '../../pricing/types.js';
import { isRecord, readInteger } from './exact-json.js';
import { SourceBuilder, withoutPrefix } from './importer-support.js';
import type { Importer } from './types.js';

/** LiteLLM's per-token fields and the rate each one is (model_prices_and_context_window.json, USD per unit). */
const BASE_FIELDS: Record<string, RateKey> = {
  input_cost_per_token: 'input',
  output_cost_per_token: 'output',
  // DeepSeek-style cache price (`deepseek/deepseek-chat`: 7e-8 for a cache hit, 2.7e-7 for a miss). Listed
  // before `cache_read_input_token_cost`, which wins when an entry states both.
  input_cost_per_token_cache_hit: 'cacheRead',
  cache_read_input_token_cost: 'cacheRead',
  cache_creation_input_token_cost: 'cacheWrite',
  cache_creation_input_token_cost_above_1hr: 'cacheWrite1h',
  output_cost_per_reasoning_token: 'reasoning',
  input_cost_per_audio_token: 'inputAudio',
  output_cost_per_audio_token: 'outputAudio',
  input_cost_per_request: 'perRequest',
  // A generated image (image_generation models). `input_cost_per_image` is not imported: it prices images in
  // a prompt on Vertex's legacy per-image billing, while the providers tollgate calls count prompt images as
  // input tokens, which `input` already prices.
  output_cost_per_image: 'perImage',
};

/** `*_above_<N>k_tokens` fields: above N thousand prompt tokens the request is priced at these rates. */
const TIER_FIELDS: Record<string, RateKey> = {
  input_cost_per_token: 'input',
  output_cost_per_token: 'output',
  cache_read_input_token_cost: 'cacheRead',
  cache_creation_input_token_cost: 'cacheWrite',
  output_cost_per_reasoning_token: 'reasoning',
  input_cost_per_audio_token: 'inputAudio',
};
const TIER_PATTERN = /^(.+)_above_(\d+)k_tokens$/;

/**
 * Image generation prices by size and quality are entries of their own in LiteLLM's map, keyed
 * `[<provider>/][<quality>/]<width>-x-<height>/<model>` (`hd/1024-x-1792/dall-e-3`, `1024-x-1024/dall-e-2`,
 * `azure/low/1024-x-1536/gpt-image-1`). They are folded into the model's `imageRates`.
 */
const IMAGE_VARIANT = /^(?:(.+?)\/)??(?:(standard|hd|low|medium|high|auto)\/)?(\d+)-x-(\d+)\/([^/]+)$/;

/**
 * LiteLLM prices a generated image with no size of its own at 1024x1024 (its image cost calculator's
 * default size), so a per-pixel price on the bare model (`gpt-image-1`) is the price of that many pixels.
 */
const DEFAULT_IMAGE_PIXELS = 1024 * 1024;

/** LiteLLM `mode` to the catalog's modality. */
const MODALITIES: Record<string, string> = {
  chat: 'text',
  completion: 'text',
  responses: 'text',
  embedding: 'embedding',
  image_generation: 'image',
  audio_transcription: 'audio',
  audio_speech: 'audio',
};

/**
 * LiteLLM's model map (`model_prices_and_context_window.json`): `{"<key>": {"litellm_provider", "mode",
 * "input_cost_per_token", ...}}`, USD per single token as JSON numbers. The catalog id is the key and the
 * provider is `litellm_provider`. `sample_spec` documents the schema and is not a model. An entry with no
 * per-token price (priced per second, character or pixel only) is a notice: the catalog has no such rate.
 */
export const litellmImporter: Importer = {
  format: 'litellm',

  detect(document) {
    if (!isRecord(document)) return false;
    if (isRecord(document.sample_spec)) return true;
    const first = Object.values(document)[0];
    return isRecord(first) && typeof first.litellm_provider === 'string';
  },

  parse(document, file) {
    const source = new SourceBuilder('litellm', file, true);
    if (!isRecord(document)) {
      source.error('-', 'the document is not an object keyed by model');
      return source.result();
    }
    const imageVariants = new Map<string, { providerId: string; rates: ImageRate[] }>();
    for (const [key, value] of Object.entries(document)) {
      if (key === 'sample_spec') continue;
      if (!isRecord(value)) {
        source.error(key, 'entry is not an object');
        continue;
      }
      const variant = IMAGE_VARIANT.exec(key);
      if (variant && value.mode === 'image_generation') {
        source.entry(key, () => {
          const [, prefix, quality, width, height, model] = variant;
          const size = `${width}x${height}`;
          const rate = imagePrice(source, value, key, Number(width) * Number(height));
          if (rate === undefined) {
            source.notice(key, 'no per-image or per-pixel price');
            return undefined;
          }
          const base = prefix ? `${prefix}/${model}` : model!;
          const providerId = providerOf(value);
          const variants = imageVariants.get(base) ?? { providerId, rates: [] };
          variants.rates.push({ size, ...(quality ? { quality } : {}), rate });
          imageVariants.set(base, variants);
          return undefined;
        });
        continue;
      }
      const ranges = tokenRanges(value.tiered_pricing);
      const perSecond = value.mode === 'audio_transcription' ? audioSecondPrice(source, value, key) : undefined;
      const perImage = value.mode === 'image_generation' ? imagePrice(source, value, key, DEFAULT_IMAGE_PIXELS) : undefined;
      if (
        value.input_cost_per_token === undefined &&
        value.output_cost_per_token === undefined &&
        !ranges &&
        perSecond === undefined &&
        perImage === undefined
      ) {
        const priced = Object.keys(value).filter((field) => field.includes('cost_per'));
        source.notice(key, priced.length ? `no per-token price (only ${priced.join(', ')})` : 'no price');
        continue;
      }
      source.entry(key, () => {
        const rates = source.rates(value, BASE_FIELDS, 'usd-per-unit', key);
        if (perSecond !== undefined) rates.audioSecond = perSecond;
        if (perImage !== undefined && rates.perImage === undefined) rates.perImage = perImage;
        const tiers = new Map<number, PriceTier>();
        for (const field of Object.keys(value)) {
          const match = TIER_PATTERN.exec(field);
          const rate = match ? TIER_FIELDS[match[1]!] : undefined;
          if (!match || !rate) continue;
          const price = source.price(value, field, 'usd-per-unit', key);
          if (price === undefined) continue;
          // LiteLLM applies these when the prompt has more than N thousand tokens (`_above_200k_tokens`).
          const above = Number(match[2]) * 1000;
          const tier = tiers.get(above) ?? { aboveInputTokens: above, rates: {} };
          tier.rates[rate] = price;
          tiers.set(above, tier);
        }
        for (const [position, range] of (ranges ?? []).entries()) {
          const label = `${key} tiered_pricing[${position}]`;
          const rangeRates = source.rates(range.prices, TIER_FIELDS, 'usd-per-unit', label);
          if (range.from === 0) Object.assign(rates, rangeRates);
          else tiers.set(range.from, { aboveInputTokens: range.from, rates: rangeRates });
        }
        const provider = providerOf(value);
        const mode = typeof value.mode === 'string' ? value.mode : 'chat';
        return {
          modelId: key,
          variants: [],
          providerId: provider,
          upstreamModel: withoutPrefix(key, provider) ?? key,
          modality: MODALITIES[mode] ?? mode,
          contextWindow: readInteger(value.max_input_tokens),
          maxOutputTokens: readInteger(value.max_output_tokens),
          rates,
          tiers: [...tiers.values()].sort((a, b) => a.aboveInputTokens - b.aboveInputTokens),
        };
      });
    }
    foldImageVariants(source, imageVariants);
    return source.result();
  },
};

function providerOf(value: Record<string, unknown>): string {
  return typeof value.litellm_provider === 'string' && value.litellm_provider ? value.litellm_provider : 'unknown';
}

/**
 * The price of one generated image of `pixels` pixels: a per-image field (`input_cost_per_image` is what
 * LiteLLM calls the image an image model makes, `output_cost_per_image` likewise), else the per-pixel price
 * times the pixels, exactly (`hd/1024-x-1792/dall-e-3`: 6.539e-8 x 1,835,008 = 0.11999...; LiteLLM's per-pixel
 * figures are rounded, so its per-image amounts are too, and these are LiteLLM's amounts).
 */
function imagePrice(source: SourceBuilder, value: Record<string, unknown>, key: string, pixels: number): Decimal | undefined {
  const perImage =
    source.price(value, 'input_cost_per_image', 'usd-per-unit', key) ??
    source.price(value, 'output_cost_per_image', 'usd-per-unit', key);
  if (perImage !== undefined) return perImage;
  const inputPixel = source.price(value, 'input_cost_per_pixel', 'usd-per-unit', key);
  const perPixel =
    inputPixel !== undefined && !inputPixel.isZero()
      ? inputPixel
      : (source.price(value, 'output_cost_per_pixel', 'usd-per-unit', key) ?? inputPixel);
  return perPixel?.times(pixels);
}

/**
 * A transcription model's price per second of audio. LiteLLM bills a transcription's duration once, at
 * `output_cost_per_second` when the model has it and else `input_cost_per_second` (its test: 10 s of whisper-1
 * cost 0.001); both are the same 0.0001 for whisper-1 and the output one is 0 for the others, so the input
 * price is read first and the output one only when the input one is missing or zero.
 */
function audioSecondPrice(source: SourceBuilder, value: Record<string, unknown>, key: string): Decimal | undefined {
  const input = source.price(value, 'input_cost_per_second', 'usd-per-unit', key);
  if (input !== undefined && !input.isZero()) return input;
  return source.price(value, 'output_cost_per_second', 'usd-per-unit', key) ?? input;
}

/** Image rates by size and quality go on their model's entry, made when the map prices it only by size. */
function foldImageVariants(source: SourceBuilder, variants: Map<string, { providerId: string; rates: ImageRate[] }>): void {
  for (const [modelId, { providerId, rates }] of variants) {
    const sorted = [...rates].sort((a, b) => `${a.size} ${a.quality ?? ''}`.localeCompare(`${b.size} ${b.quality ?? ''}`));
    const existing = source.entries.find((entry) => entry.modelId === modelId);
    if (existing) {
      existing.imageRates = sorted;
      continue;
    }
    source.entries.push({
      modelId,
      variants: [],
      providerId,
      upstreamModel: withoutPrefix(modelId, providerId) ?? modelId,
      modality: 'image',
      rates: {},
      tiers: [],
      imageRates: sorted,
    });
  }
}

/**
 * LiteLLM's `tiered_pricing` list (dashscope's Qwen models): `[{input_cost_per_token, output_cost_per_token,
 * range: [from, to]}]` by prompt tokens. The range from 0 is the base price; each other range is a tier above
 * its `from`. Undefined when the list has no per-token prices (`exa_ai/search` prices per query).
 */
function tokenRanges(value: unknown): { from: number; prices: Record<string, unknown> }[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const ranges = value.filter(isRecord).flatMap((range) => {
    const from = Array.isArray(range.range) ? readInteger(range.range[0]) : undefined;
    const priced = range.input_cost_per_token !== undefined || range.output_cost_per_token !== undefined;
    return from !== undefined && priced ? [{ from, prices: range }] : [];
  });
  return ranges.some((range) => range.from === 0) ? ranges : undefined;
}
