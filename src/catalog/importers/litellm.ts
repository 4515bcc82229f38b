import type { PriceTier, RateKey } from '../../pricing/types.js';
import { isRecord, readInteger } from './exact-json.js';
import { SourceBuilder, withoutPrefix } from './importer-support.js';
import type { Importer } from './types.js';

/** LiteLLM's per-token fields and the rate each one is (model_prices_and_context_window.json, USD per unit). */
const BASE_FIELDS: Record<string, RateKey> = {
  input_cost_per_token: 'input',
  output_cost_per_token: 'output',
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
    for (const [key, value] of Object.entries(document)) {
      if (key === 'sample_spec') continue;
      if (!isRecord(value)) {
        source.error(key, 'entry is not an object');
        continue;
      }
      const ranges = tokenRanges(value.tiered_pricing);
      if (value.input_cost_per_token === undefined && value.output_cost_per_token === undefined && !ranges) {
        const priced = Object.keys(value).filter((field) => field.includes('cost_per'));
        source.notice(key, priced.length ? `no per-token price (only ${priced.join(', ')})` : 'no price');
        continue;
      }
      source.entry(key, () => {
        const rates = source.rates(value, BASE_FIELDS, 'usd-per-unit', key);
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
        const provider =
          typeof value.litellm_provider === 'string' && value.litellm_provider ? value.litellm_provider : 'unknown';
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
    return source.result();
  },
};

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
