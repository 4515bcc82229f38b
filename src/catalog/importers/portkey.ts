import type { RateKey } from '../../pricing/types.js';
import { isRecord } from './exact-json.js';
import { SourceBuilder } from './importer-support.js';
import type { ImportedEntry, Importer, ParsedSource } from './types.js';

/**
 * Portkey's `pay_as_you_go` rates (Portkey-AI/models, pricing/<provider>.json): US cents per token; its
 * README: `0.003` = $0.03 per 1K tokens, dollars = tokens x price / 100.
 */
const FIELDS: Record<string, RateKey> = {
  request_token: 'input',
  response_token: 'output',
  cache_read_input_token: 'cacheRead',
  cache_write_input_token: 'cacheWrite',
  request_audio_token: 'inputAudio',
  response_audio_token: 'outputAudio',
};
/** `additional_units` that are catalog rates (cents per unit too). */
const ADDITIONAL_FIELDS: Record<string, RateKey> = {
  thinking_token: 'reasoning',
  cache_write_1h: 'cacheWrite1h',
};

/**
 * A Portkey pricing file, keyed by model: `{"<model>": {"pricing_config": {"pay_as_you_go": {"request_token":
 * {"price"}, ...}}}}` plus a `default` entry holding the cost formula. The file name says the provider, so it
 * is read with `parsePortkey(document, file, provider)`; the catalog id is `<provider>/<model>` with the bare
 * model as a variant. `parseSource` takes the provider from the file name (`pricing/openai.json` -> openai).
 */
export const portkeyImporter: Importer = {
  format: 'portkey',
  detect(document) {
    if (!isRecord(document) || !isRecord(document.default)) return false;
    return isRecord(document.default.pricing_config);
  },
  parse(document, file) {
    return parsePortkey(document, file, providerFromFile(file));
  },
};

/** `pricing/openai.json` -> `openai`. */
export function providerFromFile(file: string): string {
  const name = file.split(/[\\/]/).pop() ?? file;
  return name.replace(/\.json$/i, '');
}

export function parsePortkey(document: unknown, file: string, provider: string): ParsedSource {
  const source = new SourceBuilder('portkey', file);
  if (!isRecord(document)) {
    source.error('-', 'the document is not an object keyed by model');
    return source.result();
  }
  for (const [model, value] of Object.entries(document)) {
    if (model === 'default') continue;
    const modelId = `${provider}/${model}`;
    const payAsYouGo =
      isRecord(value) && isRecord(value.pricing_config) && isRecord(value.pricing_config.pay_as_you_go)
        ? value.pricing_config.pay_as_you_go
        : undefined;
    if (!payAsYouGo) {
      source.notice(modelId, 'no pay_as_you_go pricing');
      continue;
    }
    source.entry(modelId, () => {
      const prices: Record<string, unknown> = {};
      for (const [field, price] of Object.entries(payAsYouGo)) if (isRecord(price)) prices[field] = price.price;
      const additional = isRecord(payAsYouGo.additional_units) ? payAsYouGo.additional_units : {};
      for (const [field, price] of Object.entries(additional)) {
        if (ADDITIONAL_FIELDS[field] && isRecord(price)) prices[field] = price.price;
      }
      const rates = source.rates(prices, { ...FIELDS, ...ADDITIONAL_FIELDS }, 'cents-per-unit', modelId);
      if (rates.input === undefined && rates.output === undefined) {
        source.notice(modelId, 'no per-token price');
        return undefined;
      }
      return {
        modelId,
        variants: [model],
        providerId: provider,
        upstreamModel: model,
        modality: 'text',
        rates,
        tiers: [],
      };
    });
  }
  source.entries.push(...mergedContextTiers(source.entries, provider, (model, message) => source.notice(model, message)));
  return source.result();
}

const TIER_SUFFIX = /^(.+)-(lte|gt)-(\d+)k$/;

/**
 * Portkey lists a long-context price as two models, `gemini-2.5-pro-lte-128k` and `gemini-2.5-pro-gt-128k`.
 * Each pair also becomes one entry for the model itself (`google/gemini-2.5-pro`): the `lte` rates, and the
 * `gt` rates as a tier above 128,000 prompt tokens. A model with pairs at two thresholds is ambiguous: noted.
 */
function mergedContextTiers(
  entries: ImportedEntry[],
  provider: string,
  notice: (model: string, message: string) => void,
): ImportedEntry[] {
  const pairs = new Map<string, Map<number, { lte?: ImportedEntry; gt?: ImportedEntry }>>();
  for (const entry of entries) {
    const match = TIER_SUFFIX.exec(entry.upstreamModel);
    if (!match) continue;
    const [, base, side, thousands] = match;
    const byThreshold = pairs.get(base!) ?? new Map<number, { lte?: ImportedEntry; gt?: ImportedEntry }>();
    const pair = byThreshold.get(Number(thousands) * 1000) ?? {};
    pair[side as 'lte' | 'gt'] = entry;
    byThreshold.set(Number(thousands) * 1000, pair);
    pairs.set(base!, byThreshold);
  }
  const merged: ImportedEntry[] = [];
  const listed = new Set(entries.map((entry) => entry.upstreamModel));
  for (const [base, byThreshold] of pairs) {
    if (listed.has(base)) continue; // the file prices the model itself
    const complete = [...byThreshold].filter(([, pair]) => pair.lte && pair.gt);
    if (complete.length !== 1) {
      if (complete.length > 1)
        notice(
          `${provider}/${base}`,
          `long-context prices at ${complete.map(([above]) => above).join(' and ')} tokens; not merged`,
        );
      continue;
    }
    const [above, { lte, gt }] = complete[0]!;
    merged.push({
      ...lte!,
      modelId: `${provider}/${base}`,
      variants: [base],
      upstreamModel: base,
      tiers: [{ aboveInputTokens: above, rates: gt!.rates }],
    });
  }
  return merged;
}
