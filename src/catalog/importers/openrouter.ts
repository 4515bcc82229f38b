import type { PriceTier, RateKey } from '../../pricing/types.js';
import { isRecord, readInteger } from './exact-json.js';
import { InvalidEntryError, SourceBuilder } from './importer-support.js';
import type { Importer } from './types.js';
import { equalsRule } from '../match-rules.js';

/**
 * OpenRouter's pricing fields (https://openrouter.ai/docs/api-reference/list-available-models): USD per
 * token as decimal strings. `audio` is per audio input token; `web_search` (per search) and `image` (per image
 * token on Google models in this dump) have no catalog rate and are left out.
 */
const FIELDS: Record<string, RateKey> = {
  prompt: 'input',
  completion: 'output',
  input_cache_read: 'cacheRead',
  input_cache_write: 'cacheWrite',
  input_cache_write_1h: 'cacheWrite1h',
  internal_reasoning: 'reasoning',
  audio: 'inputAudio',
  audio_output: 'outputAudio',
  request: 'perRequest',
};

/** OpenRouter's sentinel for a router whose price depends on the model it picks (`openrouter/auto`). */
const VARIABLE_PRICE = '-1';

/**
 * OpenRouter `/api/v1/models`: `{"data": [{"id", "context_length", "architecture", "pricing", "top_provider"}]}`.
 * The catalog id is `openrouter/<id>`; the provider is `openrouter` and the upstream model is `<id>`.
 * `pricing.overrides` lists long-context prices `{min_prompt_tokens, prompt, completion, ...}`: a tier that
 * applies from `min_prompt_tokens` prompt tokens on, so it is stored as above `min_prompt_tokens - 1`.
 */
export const openrouterImporter: Importer = {
  format: 'openrouter',

  detect(document) {
    if (!isRecord(document) || !Array.isArray(document.data)) return false;
    const first: unknown = document.data[0];
    return isRecord(first) && typeof first.id === 'string' && isRecord(first.pricing);
  },

  parse(document, file) {
    const source = new SourceBuilder('openrouter', file, true);
    if (!isRecord(document) || !Array.isArray(document.data)) {
      source.error('-', 'no "data" list');
      return source.result();
    }
    document.data.forEach((model: unknown, index: number) => {
      const id = isRecord(model) && typeof model.id === 'string' ? model.id : undefined;
      if (!isRecord(model) || !id) {
        source.error(`data[${index}]`, 'model has no string "id"');
        return;
      }
      const pricing = model.pricing;
      if (!isRecord(pricing)) {
        source.error(id, 'model has no "pricing" object', 'pricing');
        return;
      }
      if (String(pricing.prompt) === VARIABLE_PRICE || String(pricing.completion) === VARIABLE_PRICE) {
        source.notice(id, 'variable price ("-1"): the price depends on the model the router picks; not imported');
        return;
      }
      source.entry(id, () => {
        const rates = source.rates(pricing, FIELDS, 'usd-per-unit', id);
        source.required(pricing, 'prompt', 'usd-per-unit', id);
        source.required(pricing, 'completion', 'usd-per-unit', id);
        const tiers: PriceTier[] = [];
        const overrides = Array.isArray(pricing.overrides) ? pricing.overrides : [];
        overrides.forEach((override: unknown, position: number) => {
          const minimum = isRecord(override) ? readInteger(override.min_prompt_tokens) : undefined;
          if (!isRecord(override) || minimum === undefined || minimum < 1) {
            throw new InvalidEntryError(`overrides[${position}]`, 'override without a positive integer "min_prompt_tokens"');
          }
          tiers.push({ aboveInputTokens: minimum - 1, rates: source.rates(override, FIELDS, 'usd-per-unit', id) });
        });
        const architecture = isRecord(model.architecture) ? model.architecture : {};
        const topProvider = isRecord(model.top_provider) ? model.top_provider : {};
        const outputs = Array.isArray(architecture.output_modalities) ? architecture.output_modalities : [];
        // The dated `canonical_slug` (`deepseek/deepseek-v4-flash-20260731` for `deepseek/deepseek-v4-flash-0731`)
        // is a declared name of the same model.
        const slug = typeof model.canonical_slug === 'string' && model.canonical_slug !== id ? model.canonical_slug : undefined;
        const match = slug ? equalsRule([slug]) : undefined;
        return {
          modelId: `openrouter/${id}`,
          variants: [],
          providerId: 'openrouter',
          upstreamModel: id,
          modality: outputs.includes('text') || outputs.length === 0 ? 'text' : String(outputs[0]),
          contextWindow: readInteger(model.context_length),
          maxOutputTokens: readInteger(topProvider.max_completion_tokens),
          rates,
          tiers: tiers.sort((a, b) => a.aboveInputTokens - b.aboveInputTokens),
          ...(match ? { match } : {}),
        };
      });
    });
    return source.result();
  },
};
