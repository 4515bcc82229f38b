import { Decimal } from '../money/decimal.js';
import type {
  BreakdownLine,
  CostBreakdown,
  ModelPrice,
  NormalizedUsage,
  OtherModelCost,
  PriceRates,
  PriceTier,
  RateKey,
  Resolution,
} from './types.js';
import { totalInputTokens } from './usage.js';

/** The rates in force for a request with `promptTokens` prompt tokens, and the tier that set them. */
export interface EffectiveRates {
  rates: PriceRates;
  /** The threshold of the tier applied, or undefined for the base rates. */
  tier: number | undefined;
}

/**
 * Picks the tier: the highest one whose threshold the request's prompt tokens exceed, strictly. "Above N"
 * means more than N, as both peers read it: LiteLLM applies `*_above_200k_tokens` when prompt tokens
 * > 200,000, and genai-prices selects a tier "when the token count is greater than start" (its data.json
 * says so in the Bedrock GPT-5.6 comments, and its calc compares `input_tokens > tier.start`). The prompt
 * counts every input token: uncached, cache read, cache write and audio (litellm#9807 missed tiers by
 * counting only uncached text). The tier prices the whole request; rates it omits keep the base rate.
 */
export function ratesFor(price: ModelPrice, promptTokens: number): EffectiveRates {
  const chosen = tierFor(price, promptTokens);
  return { rates: chosen ? mergedRates(price, chosen) : price.rates, tier: chosen?.aboveInputTokens };
}

/** The tier in force for `promptTokens` prompt tokens, or undefined for the base rates (see ratesFor). */
function tierFor(price: ModelPrice, promptTokens: number): PriceTier | undefined {
  let chosen: PriceTier | undefined;
  for (const tier of price.tiers) {
    if (promptTokens > tier.aboveInputTokens && (!chosen || tier.aboveInputTokens > chosen.aboveInputTokens)) chosen = tier;
  }
  return chosen;
}

/** The base rates with the tier's over them: merged once per (base rates, tier) and remembered (prices are immutable). */
function mergedRates(price: ModelPrice, tier: PriceTier): PriceRates {
  let byBase = MERGED.get(tier);
  let rates = byBase?.get(price.rates);
  if (!rates) {
    rates = { ...price.rates, ...definedRates(tier.rates) };
    if (!byBase) MERGED.set(tier, (byBase = new WeakMap()));
    byBase.set(price.rates, rates);
  }
  return rates;
}

const MERGED = new WeakMap<PriceTier, WeakMap<PriceRates, PriceRates>>();

/**
 * How the price of another model whose steps ran within a call is found (`NormalizedUsage.otherModels`): the
 * gateway resolves it as it resolves the call's own model, on the call's provider, at the time the call was
 * priced, and never refuses it (the steps already ran).
 */
export type OtherModelResolver = (
  model: string,
) => Pick<Resolution, 'modelId' | 'providerId' | 'source' | 'match' | 'rule' | 'price'>;

/** A usage has steps of another model but nothing to price them with: billing them at nothing is never right. */
export class UnpricedOtherModelsError extends Error {
  constructor(models: string[]) {
    super(`the usage has steps of other models (${models.join(', ')}) and no resolver to price them`);
    this.name = 'UnpricedOtherModelsError';
  }
}

/**
 * Prices a usage exactly: one line per non-zero component, each with its units, the rate used and the
 * amount, plus the rate it fell back to when the model has no rate of its own for that component
 * (cache read/write -> input; 1-hour cache write -> cache write -> input; reasoning -> output; audio ->
 * input/output). Reasoning tokens are priced, at the output rate when there is no reasoning rate
 * (langfuse#16508 left them unpriced). `charge` equals `providerCost` until a markup is applied.
 *
 * Steps another model ran within the call (`usage.otherModels`: Anthropic's advisor) are priced at that model's
 * price, found by `resolveOther`: their lines follow the call's own, each with its `model`, and
 * `breakdown.otherModels` says how each model was priced; `providerCost` is the sum of every line.
 *
 * @example priceUsage(usageFromTotals({ input: 1000, output: 500 }), gpt4oPrice).providerCost // 0.0075
 * @throws UnpricedOtherModelsError for a usage with steps of other models and no `resolveOther`.
 */
export function priceUsage(usage: NormalizedUsage, price: ModelPrice, resolveOther?: OtherModelResolver): CostBreakdown {
  const own = priceOwnUsage(usage, price);
  const others = usage.otherModels;
  if (!others?.length) return own;
  if (!resolveOther) throw new UnpricedOtherModelsError(others.map((other) => other.model));
  const lines = [...own.lines];
  const priced: OtherModelCost[] = [];
  for (const other of others) {
    const resolution = resolveOther(other.model);
    const steps = priceOwnUsage(other.usage, resolution.price);
    for (const line of steps.lines) lines.push({ ...line, model: other.model });
    priced.push({
      model: other.model,
      modelId: resolution.modelId,
      providerId: resolution.providerId,
      source: resolution.source,
      match: resolution.match,
      ...(resolution.rule !== undefined ? { rule: resolution.rule } : {}),
      priceVersion: resolution.price.version,
      tier: steps.tier,
      ...(steps.window !== undefined ? { window: steps.window } : {}),
      cost: steps.providerCost,
    });
  }
  const total = Decimal.sum(lines.map((line) => line.amount));
  return { ...own, lines, otherModels: priced, providerCost: total, charge: total };
}

/** The usage's own counts at `price` (its other models' steps apart). */
function priceOwnUsage(usage: NormalizedUsage, price: ModelPrice): CostBreakdown {
  const chosen = tierFor(price, usage.steps?.largestInput ?? totalInputTokens(usage));
  const rates = chosen ? mergedRates(price, chosen) : price.rates;
  const tier = chosen?.aboveInputTokens;
  const lines: BreakdownLine[] = [];
  const { input, output } = usage;
  const { cacheRead, cacheWrite, cacheWrite1h, inputAudio, reasoning, outputAudio } = rates;
  addLine(lines, 'input', input.uncached, rates.input, undefined);
  addLine(lines, 'cache_read', input.cacheRead, cacheRead ?? rates.input, cacheRead ? undefined : 'input');
  addLine(lines, 'cache_write', input.cacheWrite, cacheWrite ?? rates.input, cacheWrite ? undefined : 'input');
  const writeFallback = cacheWrite1h ? undefined : cacheWrite ? 'cacheWrite' : 'input';
  addLine(lines, 'cache_write_1h', input.cacheWrite1h, cacheWrite1h ?? cacheWrite ?? rates.input, writeFallback);
  addLine(lines, 'input_audio', input.audio, inputAudio ?? rates.input, inputAudio ? undefined : 'input');
  addLine(lines, 'output', output.text, rates.output, undefined);
  addLine(lines, 'reasoning', output.reasoning, reasoning ?? rates.output, reasoning ? undefined : 'output');
  addLine(lines, 'output_audio', output.audio, outputAudio ?? rates.output, outputAudio ? undefined : 'output');
  if (rates.perRequest) addLine(lines, 'request', usage.requests, rates.perRequest, undefined);
  addImageLine(lines, usage, price, rates);
  if (rates.audioSecond) addLine(lines, 'audio_second', usage.audioSeconds ?? 0, rates.audioSecond, undefined);
  const total = Decimal.sum(lines.map((line) => line.amount));
  return { lines, tier, window: price.window, providerCost: total, markup: undefined, charge: total };
}

function addLine(
  lines: BreakdownLine[],
  component: BreakdownLine['component'],
  units: number,
  rate: Decimal,
  fellBackTo: RateKey | undefined,
): void {
  if (units === 0) return;
  const amount = rate.times(units);
  lines.push(fellBackTo ? { component, units, rate, amount, fellBackTo } : { component, units, rate, amount });
}

/**
 * Generated images at the rate of their size and quality when the model has rates by size (dall-e-3 hd
 * 1024x1792 is $0.12, standard 1024x1024 $0.04), else at the flat per-image rate.
 */
function addImageLine(lines: BreakdownLine[], usage: NormalizedUsage, price: ModelPrice, rates: PriceRates): void {
  if (usage.images === 0) return;
  const chosen = imageRateFor(price, usage.image ?? {});
  if (chosen) {
    const amount = chosen.rate.times(usage.images);
    lines.push({ component: 'image', units: usage.images, rate: chosen.rate, amount, variant: chosen.variant });
  } else if (rates.perImage) addLine(lines, 'image', usage.images, rates.perImage, undefined);
}

/**
 * The per-image rate for a size and quality: the rate of that size and quality, else that size's rate for
 * every quality. Undefined when the model has no rates by size or none for this one (the flat per-image
 * rate applies, if any; the gateway refuses a size the model has no price for before calling).
 */
export function imageRateFor(
  price: Pick<ModelPrice, 'imageRates'>,
  image: { size?: string; quality?: string },
): { rate: Decimal; variant: string } | undefined {
  if (!price.imageRates?.length || image.size === undefined) return undefined;
  const sized = price.imageRates.filter((entry) => entry.size === image.size);
  const exact = image.quality === undefined ? undefined : sized.find((entry) => entry.quality === image.quality);
  const chosen = exact ?? sized.find((entry) => entry.quality === undefined);
  return chosen ? { rate: chosen.rate, variant: `${chosen.size} ${chosen.quality ?? 'any'}` } : undefined;
}

function definedRates(rates: Partial<PriceRates>): Partial<PriceRates> {
  const result: Partial<PriceRates> = {};
  for (const key of Object.keys(rates) as RateKey[]) {
    const value = rates[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}
