import { InvalidPriceError, parsePriceIn } from '../../money/units.js';
import type { PriceRates } from '../../pricing/types.js';
import { isRecord } from './exact-json.js';
import type { ImportedEntry, Importer, ImportIssue, ParsedSource } from './types.js';

/**
 * The seed's `llm_pricing_current.json`: `{"models": {"<model>": {"provider", "input", "output", "cached_input"?}}}`
 * in USD per token, JSON numbers. The key is the catalog id (`gpt-4o`, `xai/grok-3`); a bare key is also
 * tried as `<provider>/<key>`, a prefixed one also bare.
 */
export const llmPricingJsonImporter: Importer = {
  format: 'llm-pricing-json',

  detect(document) {
    if (!isRecord(document) || !isRecord(document.models)) return false;
    const first = Object.values(document.models)[0];
    return isRecord(first) && 'input' in first && 'output' in first && !('prompt' in first);
  },

  parse(document, file): ParsedSource {
    const entries: ImportedEntry[] = [];
    const errors: ImportIssue[] = [];
    const models = isRecord(document) && isRecord(document.models) ? document.models : undefined;
    if (!models) {
      return {
        format: 'llm-pricing-json',
        file,
        entries,
        errors: [{ file, model: '-', message: 'no "models" object' }],
        notices: [],
      };
    }
    for (const [modelId, value] of Object.entries(models)) {
      if (!isRecord(value)) {
        errors.push({ file, model: modelId, message: 'entry is not an object' });
        continue;
      }
      try {
        const read = (field: string) => parsePriceIn(value[field], 'usd-per-unit', { file, model: modelId, field });
        const rates: Partial<PriceRates> = { input: read('input'), output: read('output') };
        if (value.cached_input !== undefined) rates.cacheRead = read('cached_input');
        const providerId = typeof value.provider === 'string' && value.provider ? value.provider : modelId.split('/')[0]!;
        const bare = modelId.startsWith(`${providerId}/`) ? modelId.slice(providerId.length + 1) : modelId;
        entries.push({
          modelId,
          variants: bare === modelId ? [`${providerId}/${modelId}`] : [bare],
          providerId,
          upstreamModel: bare,
          modality: 'text',
          rates,
          tiers: [],
        });
      } catch (error) {
        if (!(error instanceof InvalidPriceError)) throw error;
        errors.push({ file, model: modelId, field: error.location.field, message: error.message });
      }
    }
    return { format: 'llm-pricing-json', file, entries, errors, notices: [] };
  },
};
