import { Decimal } from '../money/decimal.js';
import { MAX_BELIEVABLE_TOKEN_RATE, PER_TOKEN_RATES } from '../money/units.js';
import type { PriceRates, RateKey } from '../pricing/types.js';
import { windowLabel } from '../pricing/windows.js';
import { parseSource } from './importers/index.js';
import type { FormatName, ImportedEntry, ParsedSource } from './importers/types.js';
import { RATE_COLUMNS, type PriceStatement } from './price-row.js';

/** The models every catalog must price (`tollgate catalog validate --critical` default). */
export const DEFAULT_CRITICAL_MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5'];

/** Rates quoted per token, where a value above MAX_BELIEVABLE_TOKEN_RATE is almost surely a per-1K or per-1M figure. */
const TOKEN_RATES: readonly RateKey[] = PER_TOKEN_RATES;
const SUSPICIOUS_PER_TOKEN = MAX_BELIEVABLE_TOKEN_RATE;

export interface ValidationProblem {
  severity: 'error' | 'warning';
  file: string;
  model?: string;
  message: string;
}

export interface ValidationResult {
  /** False when any problem is an error (a warning alone keeps the files valid). */
  valid: boolean;
  problems: ValidationProblem[];
  sources: { file: string; format: FormatName | undefined; entries: number }[];
}

/**
 * Checks price files without touching the catalog: each loads and has a known format, every price is valid,
 * the critical models are present (under their id, a variant or as `<provider>/<id>`), the same model priced
 * by two files does not differ by a power-of-ten factor (a unit conversion slip), and values that look wrong
 * are flagged: a per-token rate above $0.001, or output priced under a tenth of input.
 */
export function validateSources(
  files: { file: string; text: string }[],
  options: { critical?: string[]; format?: FormatName } = {},
): ValidationResult {
  const problems: ValidationProblem[] = [];
  const parsed: ParsedSource[] = [];
  const sources: ValidationResult['sources'] = [];
  for (const { file, text } of files) {
    try {
      const source = parseSource(text, file, options.format);
      parsed.push(source);
      sources.push({ file, format: source.format, entries: source.entries.length });
      for (const error of source.errors) problems.push({ severity: 'error', file, model: error.model, message: error.message });
      if (source.entries.length === 0)
        problems.push({ severity: 'error', file, message: `${file}: no priced model in the file` });
      for (const entry of source.entries) problems.push(...suspicious(file, entry));
    } catch (error) {
      sources.push({ file, format: undefined, entries: 0 });
      problems.push({ severity: 'error', file, message: error instanceof Error ? error.message : String(error) });
    }
  }
  const entries = parsed.flatMap((source) => source.entries.map((entry) => ({ file: source.file, entry })));
  for (const model of options.critical ?? DEFAULT_CRITICAL_MODELS) {
    if (!entries.some(({ entry }) => names(entry).includes(model))) {
      problems.push({
        severity: 'error',
        file: files.map((file) => file.file).join(', '),
        model,
        message: `critical model ${model} is not priced`,
      });
    }
  }
  problems.push(...crossFileUnitSlips(entries));
  return { valid: !problems.some((problem) => problem.severity === 'error'), problems, sources };
}

/** One line per problem: `error manual_pricing.json: ...`. */
export function formatProblem(problem: ValidationProblem): string {
  const prefix = problem.message.startsWith(`${problem.file}:`)
    ? ''
    : `${problem.file}: ${problem.model ? `model ${problem.model}: ` : ''}`;
  return `${problem.severity} ${prefix}${problem.message}`;
}

/** The ids an entry answers to: its own, its variants, `<provider>/<upstream>`, and the upstream without its organisation. */
function names(entry: ImportedEntry): string[] {
  const upstream = entry.upstreamModel;
  const withoutOrganisation = upstream.includes('/') ? upstream.slice(upstream.indexOf('/') + 1) : upstream;
  return [entry.modelId, ...entry.variants, `${entry.providerId}/${upstream}`, upstream, withoutOrganisation];
}

function suspicious(file: string, entry: ImportedEntry): ValidationProblem[] {
  const found: ValidationProblem[] = [];
  const check = (rates: Partial<PriceRates>, where: string) => {
    for (const key of TOKEN_RATES) {
      const rate = rates[key];
      if (rate && rate.gt(SUSPICIOUS_PER_TOKEN)) {
        found.push({
          severity: 'warning',
          file,
          model: entry.modelId,
          message: `${key}${where} ${rate.toString()} USD per token ($${rate.shift(6).toString()} per 1M) looks like a per-1K or per-1M value`,
        });
      }
    }
    const { input, output } = rates;
    // A zero output is normal (embeddings, transcription); a small non-zero one suggests swapped fields.
    if (input && output && !output.isZero() && output.times(10).lt(input)) {
      found.push({
        severity: 'warning',
        file,
        model: entry.modelId,
        message: `output${where} ${output.toString()} is under a tenth of input ${input.toString()} (swapped fields or units?)`,
      });
    }
  };
  check(entry.rates, '');
  for (const tier of entry.tiers) check(tier.rates, ` (above ${tier.aboveInputTokens} tokens)`);
  for (const window of entry.windows ?? []) {
    check(window.rates, ` (${windowLabel(window)})`);
    for (const tier of window.tiers) check(tier.rates, ` (${windowLabel(window)}, above ${tier.aboveInputTokens} tokens)`);
  }
  return found;
}

/** The same model in two files with input rates a factor of 1,000 or more apart: a unit conversion slip. */
function crossFileUnitSlips(entries: { file: string; entry: ImportedEntry }[]): ValidationProblem[] {
  const byModel = new Map<string, { file: string; input: Decimal }>();
  const found: ValidationProblem[] = [];
  for (const { file, entry } of entries) {
    const input = entry.rates.input;
    if (!input || input.isZero()) continue;
    const key = entry.upstreamModel;
    const other = byModel.get(key);
    if (other && other.file !== file) {
      const [low, high] = input.lt(other.input) ? [input, other.input] : [other.input, input];
      if (low.times(1000).lte(high)) {
        found.push({
          severity: 'error',
          file,
          model: entry.modelId,
          message: `input ${input.toString()} per token is 1000x or more away from ${other.input.toString()} in ${other.file}: a unit conversion slip`,
        });
      }
    } else if (!other) {
      byModel.set(key, { file, input });
    }
  }
  return found;
}

/**
 * Why a price fails validation (empty when it passes): negative rates, or token rates past the believable
 * limit (MAX_BELIEVABLE_TOKEN_RATE), in its base rates, tiers and time-of-day windows. The price sync holds
 * such a price back, and so does `catalog seed` (unless `--accept-suspicious`).
 */
export function validatePrice(price: PriceStatement): string[] {
  const reasons: string[] = [];
  const check = (rates: Partial<PriceRates>, where: string) => {
    for (const [key, value] of Object.entries(rates) as Array<[RateKey, Decimal | undefined]>) {
      if (value === undefined) continue;
      const name = `${where}${RATE_COLUMNS[key]}`;
      if (value.isNegative()) reasons.push(`${name} is negative (${value.toString()})`);
      else if (TOKEN_RATES.includes(key) && value.gt(SUSPICIOUS_PER_TOKEN)) {
        reasons.push(
          `${name} is ${value.toString()} USD per token ($${value.shift(6).toString()} per 1M), above the ` +
            `${SUSPICIOUS_PER_TOKEN.toString()} limit: most likely a per-1M or per-1K price in a per-token field`,
        );
      }
    }
  };
  const checkTiers = (tiers: PriceStatement['tiers'], where: string) => {
    for (const tier of tiers) check(tier.rates, `${where}tier above ${tier.aboveInputTokens} tokens: `);
  };
  check(price.rates, '');
  checkTiers(price.tiers, '');
  for (const window of price.windows ?? []) {
    const where = `window ${windowLabel(window)}: `;
    check(window.rates, where);
    checkTiers(window.tiers, where);
  }
  return reasons;
}
