import type { ImageRate, MatchRule, PriceRates, PriceTier, PriceWindow } from '../../pricing/types.js';

/** The source formats tollgate imports; `tollgate catalog seed --format` takes these names. */
export const FORMAT_NAMES = [
  'llm-pricing-json', // the seed's llm_pricing_current.json: USD per token
  'manual-pricing', // the seed's manual_pricing.json: USD per 1M, keyed by gateway
  'google-config', // the seed's Google models config: USD per 1K, several providers per model
  'litellm', // LiteLLM's model_prices_and_context_window.json: USD per token
  'openrouter', // OpenRouter /api/v1/models: USD per token as strings
  'genai-prices', // pydantic genai-prices data.json: USD per 1M
  'portkey', // Portkey pricing/<provider>.json: US cents per token
] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** One model's price as a source states it, already converted to USD per single unit. */
export interface ImportedEntry {
  /** The catalog id this entry prices, e.g. `nosana/meta-llama/Llama-3.3-70B-Instruct`. */
  modelId: string;
  /** Other ids the same model may be registered under, tried in order when `modelId` is not in the catalog. */
  variants: string[];
  providerId: string;
  upstreamModel: string;
  modality: string;
  contextWindow?: number;
  maxOutputTokens?: number;
  /** Rates the source gives; input and output may be absent for models priced per image or per request. */
  rates: Partial<PriceRates>;
  tiers: PriceTier[];
  /** Per-image rates by size and quality (image generation models); absent when the source has none. */
  imageRates?: ImageRate[];
  /** The names the source declares for this model (genai-prices `match`, canonical slugs): alias rules. */
  match?: MatchRule;
  /** Time-of-day windows with their own rates (genai-prices `start_time`/`end_time` constraints). */
  windows?: ImportedWindow[];
}

/** A window as imported: rates may omit input/output like an entry's. */
export type ImportedWindow = Omit<PriceWindow, 'rates'> & { rates: Partial<PriceRates> };

/** A problem with one entry, naming the file, the model and the field. */
export interface ImportIssue {
  file: string;
  model: string;
  field?: string;
  message: string;
}

export interface ParsedSource {
  format: FormatName;
  file: string;
  entries: ImportedEntry[];
  /** Invalid prices: listed, never written. */
  errors: ImportIssue[];
  /** Entries deliberately not imported (a variable price, a non-model entry), with the reason. */
  notices: ImportIssue[];
  /**
   * True when the format states a zero price on purpose (LiteLLM's local `ollama/*` models, OpenRouter's
   * `:free` variants), so a zero-priced entry is a free model. Otherwise a zero stands for a missing price
   * and seeding skips it, as the seed did for its zero-priced image model.
   */
  zeroIsFree?: boolean;
}

export interface Importer {
  format: FormatName;
  /** True when the parsed JSON has this format's shape. */
  detect(document: unknown): boolean;
  /** @param file the name used in error messages. */
  parse(document: unknown, file: string): ParsedSource;
}
