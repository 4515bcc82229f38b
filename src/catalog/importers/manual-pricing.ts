import { isRecord } from './exact-json.js';
import { SourceBuilder } from './importer-support.js';
import type { Importer } from './types.js';

/**
 * The seed's `manual_pricing.json`: `{"<gateway>": {"<model>": {"prompt", "completion", "cached_prompt"?}}}`,
 * USD per 1M tokens as decimal strings; an image model may also state `per_image`, in USD per image (not per
 * 1M: an image is one unit), which makes it an image model. The catalog id is `<gateway>/<model>` and the gateway is the
 * provider, as the seed's script prepended it (`nosana/meta-llama/Llama-3.3-70B-Instruct`). The seed's
 * `nosana/whisper-large-v3` is registered as `nosana/openai/whisper-large-v3`: the seeding finds it through
 * the gateway/organisation variant, not here.
 */
export const manualPricingImporter: Importer = {
  format: 'manual-pricing',

  detect(document) {
    if (!isRecord(document) || 'models' in document) return false;
    const gateways = Object.entries(document).filter(([key]) => key !== '_metadata');
    if (gateways.length === 0) return false;
    return gateways.every(([, models]) => {
      if (!isRecord(models)) return false;
      const first = Object.values(models)[0];
      return first === undefined || (isRecord(first) && 'prompt' in first && 'completion' in first);
    });
  },

  parse(document, file) {
    const source = new SourceBuilder('manual-pricing', file);
    if (!isRecord(document)) {
      source.error('-', 'the document is not an object keyed by gateway');
      return source.result();
    }
    for (const [gateway, models] of Object.entries(document)) {
      if (gateway === '_metadata') continue;
      if (!isRecord(models)) {
        source.error(gateway, `gateway "${gateway}" is not an object of models`);
        continue;
      }
      for (const [model, value] of Object.entries(models)) {
        const modelId = `${gateway}/${model}`;
        if (!isRecord(value)) {
          source.error(modelId, 'entry is not an object');
          continue;
        }
        source.entry(modelId, () => {
          const rates = source.rates(value, { cached_prompt: 'cacheRead' }, 'usd-per-1m', modelId);
          const input = source.required(value, 'prompt', 'usd-per-1m', modelId);
          const output = source.required(value, 'completion', 'usd-per-1m', modelId);
          const perImage = source.price(value, 'per_image', 'usd-per-unit', modelId);
          return {
            modelId,
            variants: [],
            providerId: gateway,
            upstreamModel: model,
            modality: perImage === undefined ? 'text' : 'image',
            rates: { input, output, ...rates, ...(perImage !== undefined ? { perImage } : {}) },
            tiers: [],
          };
        });
      }
    }
    return source.result();
  },
};
