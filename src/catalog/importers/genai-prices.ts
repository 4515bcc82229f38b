import type { PriceUnit } from '../../money/units.js';
import type { MatchRule, PriceRates, PriceTier, RateKey } from '../../pricing/types.js';
import { parseTimeOfDay } from '../../pricing/windows.js';
import { readMatchRule } from '../match-rules.js';
import { isRecord, readInteger } from './exact-json.js';
import { InvalidEntryError, SourceBuilder } from './importer-support.js';
import type { ImportedWindow, Importer, ParsedSource } from './types.js';

/** genai-prices price fields (prices/data.json): USD per 1M tokens, `requests_kcount` per 1,000 requests. */
const FIELDS: Record<string, { rate: RateKey; unit: PriceUnit }> = {
  input_mtok: { rate: 'input', unit: 'usd-per-1m' },
  output_mtok: { rate: 'output', unit: 'usd-per-1m' },
  cache_read_mtok: { rate: 'cacheRead', unit: 'usd-per-1m' },
  cache_write_mtok: { rate: 'cacheWrite', unit: 'usd-per-1m' },
  cache_write_1h_mtok: { rate: 'cacheWrite1h', unit: 'usd-per-1m' },
  output_reasoning_mtok: { rate: 'reasoning', unit: 'usd-per-1m' },
  input_audio_mtok: { rate: 'inputAudio', unit: 'usd-per-1m' },
  output_audio_mtok: { rate: 'outputAudio', unit: 'usd-per-1m' },
  requests_kcount: { rate: 'perRequest', unit: 'usd-per-1k' },
};

/**
 * pydantic genai-prices `data.json`: a list of providers `{id, models: [{id, match, context_window, prices}]}`.
 * The catalog id is `<provider id>/<model id>`. A price may be tiered, `{"base": 3, "tiers": [{"start":
 * 200000, "price": 6}]}`; genai-prices selects a tier when the prompt has more tokens than `start` (its data
 * notes: "the pricing engines select a tier when the token count is greater than start"), which is exactly a
 * PriceTier above `start`. `prices` may also be a list of `{constraint, prices}`: of the dated ones, the one in
 * force now is imported (the latest `start_date` not in the future; a notice says which), and the time-of-day
 * ones (`start_time`/`end_time`, UTC) become windows of that price, checked latest first as genai-prices does.
 * The model's `match` clause is kept as its declared name rule (`o1-preview` is a name of `openai/o1`).
 */
export const genaiPricesImporter: Importer = {
  format: 'genai-prices',
  detect(document) {
    if (!Array.isArray(document)) return false;
    const first: unknown = document[0];
    return isRecord(first) && typeof first.id === 'string' && Array.isArray(first.models);
  },
  parse(document, file) {
    return parseGenaiPrices(document, file, new Date());
  },
};

/** The importer with an explicit "now" for choosing among dated prices. */
export function parseGenaiPrices(document: unknown, file: string, now: Date): ParsedSource {
  const source = new SourceBuilder('genai-prices', file, true);
  if (!Array.isArray(document)) {
    source.error('-', 'the document is not a list of providers');
    return source.result();
  }
  for (const provider of document) {
    if (!isRecord(provider) || typeof provider.id !== 'string' || !Array.isArray(provider.models)) {
      source.error('-', 'a provider without a string "id" and a "models" list');
      continue;
    }
    for (const model of provider.models) {
      const modelId = isRecord(model) && typeof model.id === 'string' ? `${provider.id}/${model.id}` : undefined;
      if (!isRecord(model) || !modelId) {
        source.error(provider.id, 'a model without a string "id"');
        continue;
      }
      const chosen = pricesInForce(model.prices, now, (message) => source.notice(modelId, message));
      if (!chosen) {
        source.error(modelId, 'no price in force', 'prices');
        continue;
      }
      source.entry(modelId, () => {
        const { rates, tiers } = readPrices(source, chosen.prices, modelId);
        const windows: ImportedWindow[] = chosen.windows.map(({ start, end, prices }, index) => {
          const where = `${modelId} window ${index + 1}`;
          return {
            startSecond: timeOfDay(start, 'start_time'),
            endSecond: timeOfDay(end, 'end_time'),
            ...readPrices(source, prices, where),
          };
        });
        let match: MatchRule | undefined;
        if (model.match !== undefined) {
          try {
            match = readMatchRule(model.match);
          } catch (error) {
            throw new InvalidEntryError('match', (error as Error).message);
          }
        }
        return {
          modelId,
          variants: [],
          providerId: provider.id as string,
          upstreamModel: model.id as string,
          modality: 'text',
          contextWindow: readInteger(model.context_window),
          rates,
          tiers,
          ...(match ? { match } : {}),
          ...(windows.length ? { windows } : {}),
        };
      });
    }
  }
  return source.result();
}

/** One `prices` object: flat or tiered rates in USD per 1M (`requests_kcount` per 1,000 requests). */
function readPrices(
  source: SourceBuilder,
  prices: Record<string, unknown>,
  modelId: string,
): { rates: Partial<PriceRates>; tiers: PriceTier[] } {
  const rates: Partial<PriceRates> = {};
  const tiers = new Map<number, PriceTier>();
  for (const [field, { rate, unit }] of Object.entries(FIELDS)) {
    const value = prices[field];
    if (value === undefined || value === null) continue;
    if (!isRecord(value)) {
      rates[rate] = source.required(prices, field, unit, modelId);
      continue;
    }
    rates[rate] = source.required(value, 'base', unit, modelId);
    const list = Array.isArray(value.tiers) ? value.tiers : [];
    list.forEach((tier: unknown, index: number) => {
      const start = isRecord(tier) ? readInteger(tier.start) : undefined;
      if (!isRecord(tier) || start === undefined) {
        throw new InvalidEntryError(`${field}.tiers[${index}]`, 'tier without an integer "start"');
      }
      const entry = tiers.get(start) ?? { aboveInputTokens: start, rates: {} };
      entry.rates[rate] = source.required(tier, 'price', unit, `${modelId} ${field}.tiers[${index}]`);
      tiers.set(start, entry);
    });
  }
  return { rates, tiers: [...tiers.values()].sort((a, b) => a.aboveInputTokens - b.aboveInputTokens) };
}

function timeOfDay(text: unknown, field: string): number {
  try {
    return parseTimeOfDay(String(text));
  } catch (error) {
    throw new InvalidEntryError(`constraint.${field}`, (error as Error).message);
  }
}

interface Chosen {
  prices: Record<string, unknown>;
  windows: Array<{ start: unknown; end: unknown; prices: Record<string, unknown> }>;
}

/**
 * The dated price in force at `now`, with the time-of-day windows the list states. genai-prices checks the
 * list from its end, the first constraint that holds winning; windows are kept in that order.
 */
function pricesInForce(prices: unknown, now: Date, notice: (message: string) => void): Chosen | undefined {
  if (isRecord(prices)) return { prices, windows: [] };
  if (!Array.isArray(prices)) return undefined;
  let chosen: { prices: Record<string, unknown>; start: string } | undefined;
  const windows: Chosen['windows'] = [];
  for (const option of prices) {
    if (!isRecord(option) || !isRecord(option.prices)) continue;
    const constraint = isRecord(option.constraint) ? option.constraint : {};
    if (constraint.start_time !== undefined || constraint.end_time !== undefined) {
      windows.unshift({ start: constraint.start_time, end: constraint.end_time, prices: option.prices });
      continue;
    }
    const start = typeof constraint.start_date === 'string' ? constraint.start_date : '';
    if (start && new Date(start) > now) continue;
    if (!chosen || start > chosen.start) chosen = { prices: option.prices, start };
  }
  const dated = prices.length - windows.length;
  if (chosen && dated > 1) {
    notice(`${dated} dated prices; imported the one ${chosen.start ? `from ${chosen.start}` : 'without a start date'}`);
  }
  return chosen && { prices: chosen.prices, windows };
}
