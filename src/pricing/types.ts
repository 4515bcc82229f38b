import type { Decimal } from '../money/decimal.js';

/**
 * The price of one model, in USD per single unit (token, request, image). Optional rates that are absent
 * fall back (cache read/write to input, reasoning to output, audio to input/output); the breakdown says so.
 */
export interface PriceRates {
  input: Decimal;
  output: Decimal;
  cacheRead?: Decimal;
  /** Cache write with the default (5 minute) lifetime. */
  cacheWrite?: Decimal;
  cacheWrite1h?: Decimal;
  reasoning?: Decimal;
  inputAudio?: Decimal;
  outputAudio?: Decimal;
  perRequest?: Decimal;
  /** A generated image, whatever its size and quality (a model's `imageRates` say more when it has them). */
  perImage?: Decimal;
  /** A second of input audio (transcription models priced by duration: whisper-1 $0.006/min = 0.0001/s). */
  audioSecond?: Decimal;
}

export type RateKey = keyof PriceRates;

/** Above `aboveInputTokens` prompt tokens the whole request is priced at the tier's rates (rates it omits keep the base). */
export interface PriceTier {
  aboveInputTokens: number;
  rates: Partial<PriceRates>;
}

/**
 * The price of one generated image of a size and quality (OpenAI's `size` "1024x1024", `quality` "hd"). A rate
 * without a quality prices every quality of its size. dall-e-3 costs $0.04 standard and $0.08 hd at 1024x1024.
 */
export interface ImageRate {
  size: string;
  quality?: string;
  rate: Decimal;
}

/**
 * What a source declares about the names of a model (genai-prices `match` clauses; LiteLLM and OpenRouter
 * canonical slugs as `equals`). Matched as genai-prices matches: case-insensitive, except `regex`.
 */
export type MatchRule =
  | { equals: string }
  | { starts_with: string }
  | { ends_with: string }
  | { contains: string }
  | { regex: string }
  | { or: MatchRule[] }
  | { and: MatchRule[] };

/**
 * A UTC time-of-day window with its own rates (DeepSeek's standard price from 00:30 to 16:30 UTC, its off-peak
 * price the rest of the day). Seconds of the day; `start > end` wraps past midnight. The window's rates and
 * tiers replace the version's base ones while it is in force.
 */
export interface PriceWindow {
  startSecond: number;
  endSecond: number;
  rates: PriceRates;
  tiers: PriceTier[];
}

/** A price version as the catalog holds it. */
export interface ModelPrice {
  /** The price version (model_prices.id); undefined for prices from the JSON file or the default. */
  version: number | undefined;
  modelId: string;
  rates: PriceRates;
  tiers: PriceTier[];
  /** Per-image rates by size and quality; absent or empty when images cost `rates.perImage` whatever their size. */
  imageRates?: ImageRate[];
  effectiveFrom: Date | undefined;
  effectiveUntil: Date | undefined;
  source: string;
  /** The names the source declares for the model (alias rules), stored with the version. */
  match?: MatchRule;
  /** Time-of-day windows whose rates replace the base ones while in force (see PriceWindow). */
  windows?: PriceWindow[];
  /** Set on the price a resolution returns when a window's rates are in force: the window, `HH:MM:SS-HH:MM:SS` UTC. */
  window?: string;
}

/**
 * Usage normalised from any provider. Every count is disjoint: `input.uncached` excludes cached and audio
 * tokens; `output.text` excludes reasoning and audio tokens. Builders per provider live in usage.ts.
 */
export interface NormalizedUsage {
  input: { uncached: number; cacheRead: number; cacheWrite: number; cacheWrite1h: number; audio: number };
  output: { text: number; reasoning: number; audio: number };
  requests: number;
  images: number;
  /** The size and quality of the generated images, which pick the per-image rate (`ModelPrice.imageRates`). */
  image?: { size?: string; quality?: string };
  /** Seconds of input audio, whole (OpenAI reports a 1.7 s file as 2): transcriptions priced by duration. */
  audioSeconds?: number;
  /**
   * For a call the provider ran as several sampling steps (Anthropic's server-side compaction: a summary of the
   * conversation, then the answer), the largest step's input and the answer's output. The counts above are the
   * steps' sums (each step is billed); a context tier and the context window apply to one step, and the call's
   * max_tokens to the answer, never to the sums.
   */
  steps?: { largestInput: number; answerOutput: number };
  /**
   * Steps another model ran within the call, one entry per model: with Anthropic's advisor tool the model that
   * serves the call (the executor) consults a stronger one server-side (`usage.iterations` of type
   * `advisor_message`, each naming its model). Anthropic bills them, at that model's rates, and leaves them out of
   * the top-level counts. The counts above stay the executor's own (the usage record's token columns, the anomaly
   * checks, the context tier); these are priced at their own model's price (`priceUsage` with a resolver), and a
   * token-mode account's debit counts their tokens too.
   */
  otherModels?: OtherModelUsage[];
  /**
   * What the provider reported that does not add up: parts larger than the whole they are part of (cache hits
   * beyond `prompt_tokens`). The parts are billed as reported, the whole is not trusted over them, and the
   * call is judged anomalous (usage-anomaly.ts), so the record says so and the anomaly policy applies.
   */
  mismatch?: string[];
  /** True when counted locally because the provider sent no usage; an estimate never lowers a charge. */
  estimated: boolean;
  /** The provider's usage object as received, for the record. */
  raw?: unknown;
}

/** The steps one other model ran within a call (see `NormalizedUsage.otherModels`). */
export interface OtherModelUsage {
  /** The model as the provider named it (`claude-opus-4-8`). */
  model: string;
  /** Its steps' counts, summed; `steps.largestInput` picks its context tier when it ran more than one. */
  usage: NormalizedUsage;
}

/** How a model name was found. */
export type MatchKind = 'exact' | 'alias' | 'case' | 'prefix' | 'snapshot' | 'default';

/** What the caller knows about the call beyond its model name. */
export interface ResolveContext {
  /** The provider the call is routed to: a bare name listed by several providers takes this one's listing. */
  provider?: string;
}
export type PriceSourceKind = 'database' | 'json' | 'default';

export interface Resolution {
  requested: string;
  /** The catalog model id the name resolved to (undefined for the default price). */
  modelId: string | undefined;
  providerId: string | undefined;
  upstreamModel: string | undefined;
  source: PriceSourceKind;
  match: MatchKind;
  price: ModelPrice;
  maxOutputTokens: number | undefined;
  contextWindow: number | undefined;
  /** For match `alias`: the declared rule that matched (e.g. `{"equals":"o1-preview"}`). */
  rule?: string;
}

export interface BreakdownLine {
  component:
    | 'input'
    | 'cache_read'
    | 'cache_write'
    | 'cache_write_1h'
    | 'input_audio'
    | 'output'
    | 'reasoning'
    | 'output_audio'
    | 'request'
    | 'image'
    | 'audio_second';
  units: number;
  rate: Decimal;
  amount: Decimal;
  /** The rate actually used when the component's own rate was missing (e.g. reasoning priced at 'output'). */
  fellBackTo?: RateKey;
  /** For an image line: the size and quality whose rate was used (`any` quality when the rate covers all). */
  variant?: string;
  /**
   * For a line of steps another model ran within the call (Anthropic's advisor): that model as the provider named
   * it, priced at its own price (`CostBreakdown.otherModels` says which version and how it was found). Absent for
   * the lines of the model the call was made to.
   */
  model?: string;
}

/** How the steps of another model within a call were priced: its resolution, as a call's own is recorded. */
export interface OtherModelCost {
  /** The model as the provider named it; the lines priced at it carry the same `model`. */
  model: string;
  /** The catalog model it resolved to (undefined for the default price). */
  modelId: string | undefined;
  providerId: string | undefined;
  source: PriceSourceKind;
  match: MatchKind;
  /** For match `alias`: the declared rule that matched. */
  rule?: string;
  /** The price version (model_prices.id); undefined for prices from the JSON file or the default. */
  priceVersion: number | undefined;
  tier: number | undefined;
  window?: string;
  /** Σ of its lines. */
  cost: Decimal;
}

export interface CostBreakdown {
  lines: BreakdownLine[];
  /** The tier applied, if any (its threshold in prompt tokens). */
  tier: number | undefined;
  /** The time-of-day window whose rates applied (`00:30:00-16:30:00 UTC`), if any. */
  window?: string;
  /** The other models whose steps are priced in `lines` (lines with a `model`), in the order the usage lists them. */
  otherModels?: OtherModelCost[];
  /** Σ lines: what the provider charges us. */
  providerCost: Decimal;
  markup: { percent: Decimal; fixedFee: Decimal; amount: Decimal; rule: string } | undefined;
  /** providerCost + markup: what the customer pays, in USD. */
  charge: Decimal;
}
