import { Decimal } from '../money/decimal.js';
import type { MatchKind, ModelPrice, PriceRates, PriceSourceKind, Resolution } from '../pricing/types.js';
import type { ImportedEntry } from './importers/types.js';
import { detectProvider } from './provider-detection.js';

/** One catalog model with every price version it has had, newest first. */
export interface SnapshotModel {
  id: string;
  providerId: string;
  upstreamModel: string;
  active: boolean;
  modality: string;
  contextWindow: number | undefined;
  maxOutputTokens: number | undefined;
  /** Price versions ordered by `effectiveFrom`, newest first; empty when the model has no price. */
  prices: ModelPrice[];
}

export interface SnapshotInput {
  source: Exclude<PriceSourceKind, 'default'>;
  models: SnapshotModel[];
  aliases: Array<{ alias: string; modelId: string }>;
}

interface Found {
  model: SnapshotModel;
  match: Exclude<MatchKind, 'default'>;
}

/** Names remembered per snapshot; past this the memo starts over, so random names cannot grow memory without bound. */
const MEMO_LIMIT = 50_000;

/**
 * An immutable view of the catalog: lookups by exact id, alias, lower-case name and prefix variant, each a
 * map read. Never a substring match: the seed's "partial match" priced `gpt-4o-mini` as `gpt-4o`, which is
 * the bug every peer has shipped at some point (langfuse#10958 is the opposite miss, a prefixed name).
 */
export class CatalogSnapshot {
  private readonly aliases = new Map<string, SnapshotModel>();
  private readonly lowerCase = new Map<string, SnapshotModel>();
  private readonly variants = new Map<string, SnapshotModel | null>();
  private readonly memo = new Map<string, Found | null>();
  /** Models whose id ends in `-latest`, by the family name before it (`claude-3-5-haiku-latest` -> `claude-3-5-haiku`). */
  private readonly latest = new Map<string, SnapshotModel>();

  private constructor(
    readonly source: SnapshotInput['source'],
    readonly models: ReadonlyMap<string, SnapshotModel>,
  ) {}

  static build(input: SnapshotInput): CatalogSnapshot {
    const models = new Map<string, SnapshotModel>();
    for (const model of input.models) if (!models.has(model.id)) models.set(model.id, model);
    const snapshot = new CatalogSnapshot(input.source, models);
    for (const { alias, modelId } of input.aliases) {
      const model = models.get(modelId);
      if (model && !models.has(alias) && !snapshot.aliases.has(alias)) snapshot.aliases.set(alias, model);
    }
    // Lower-case names: ids first, so an id wins over another model's alias that differs only in case.
    for (const [id, model] of models)
      if (!snapshot.lowerCase.has(id.toLowerCase())) snapshot.lowerCase.set(id.toLowerCase(), model);
    for (const [alias, model] of snapshot.aliases) {
      if (!snapshot.lowerCase.has(alias.toLowerCase())) snapshot.lowerCase.set(alias.toLowerCase(), model);
    }
    for (const [name, model] of snapshot.lowerCase) {
      if (name.endsWith('-latest')) {
        const family = name.slice(0, -'-latest'.length);
        for (const key of [family, ...prefixVariants(family)]) if (!snapshot.latest.has(key)) snapshot.latest.set(key, model);
      }
      for (const variant of prefixVariants(name)) {
        if (snapshot.lowerCase.has(variant)) continue;
        snapshot.addVariant(variant, model);
      }
    }
    return snapshot;
  }

  get size(): number {
    return this.models.size;
  }

  /** The model a name denotes and how it was found; undefined when none. Pure map reads, memoised. */
  find(name: string): Found | undefined {
    const remembered = this.memo.get(name);
    if (remembered !== undefined) return remembered ?? undefined;
    const found = this.findUncached(name);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(name, found ?? null);
    return found;
  }

  private findUncached(name: string): Found | undefined {
    const direct = this.findDirect(name.trim());
    if (direct) return direct;
    // Dated snapshots: strip one real date or version suffix at a time, never an arbitrary tail. A catalog
    // that names only the family's `-latest` (genai-prices: `claude-3-5-haiku-latest`) prices its dated
    // snapshots; a dated catalog id never prices another date (gpt-4o-2024-05-13 costs twice gpt-4o's price).
    let current = name.trim();
    for (let step = 0; step < 3; step += 1) {
      const stripped = stripSnapshotSuffix(current);
      if (stripped === undefined) break;
      const found = this.findDirect(stripped) ?? this.findLatest(stripped);
      if (found) return { model: found.model, match: 'snapshot' };
      current = stripped;
    }
    return undefined;
  }

  private findLatest(family: string): Found | undefined {
    const lower = family.toLowerCase();
    const model =
      this.latest.get(lower) ??
      prefixVariants(lower)
        .map((variant) => this.latest.get(variant))
        .find(Boolean);
    return model ? { model, match: 'snapshot' } : undefined;
  }

  private findDirect(name: string): Found | undefined {
    const exact = this.models.get(name);
    if (exact) return { model: exact, match: 'exact' };
    const alias = this.aliases.get(name);
    if (alias) return { model: alias, match: 'alias' };
    const lower = name.toLowerCase();
    const byCase = this.lowerCase.get(lower);
    if (byCase) return { model: byCase, match: 'case' };
    // `openai/gpt-4o` -> `gpt-4o`, `nosana/openai/whisper-large-v3` -> `nosana/whisper-large-v3`.
    for (const variant of prefixVariants(lower)) {
      // Real names only: matching a variant against another model's variant would price `groq/whisper-large-v3`
      // as `nosana/openai/whisper-large-v3` by their shared tail.
      const model = this.lowerCase.get(variant);
      if (model) return { model, match: 'prefix' };
    }
    // `gpt-4o` -> `openai/gpt-4o`, `nosana/whisper-large-v3` -> `nosana/openai/whisper-large-v3`.
    const widened = this.variants.get(lower);
    if (widened) return { model: widened, match: 'prefix' };
    return undefined;
  }

  /**
   * A variant two models share is ambiguous (`gpt-4o` from `openai/gpt-4o` and `azure/gpt-4o`): it goes to
   * the model whose provider the name itself points to (gpt-* -> openai), or to none.
   */
  private addVariant(variant: string, model: SnapshotModel): void {
    if (!this.variants.has(variant)) {
      this.variants.set(variant, model);
      return;
    }
    const current = this.variants.get(variant);
    if (current === model) return;
    const owner = detectProvider(variant, () => true);
    if (current && current.providerId === owner) return;
    this.variants.set(variant, model.providerId === owner ? model : null);
  }
}

/** The price version in force at `at` (epoch milliseconds), if any. */
export function priceAt(model: SnapshotModel, at: number): ModelPrice | undefined {
  for (const price of model.prices) {
    const from = price.effectiveFrom?.getTime() ?? Number.NEGATIVE_INFINITY;
    const until = price.effectiveUntil?.getTime() ?? Number.POSITIVE_INFINITY;
    if (from <= at && at < until) return price;
  }
  return undefined;
}

/** Resolves a name in one snapshot at a time; undefined when the name is unknown or had no price then. */
export function resolveIn(snapshot: CatalogSnapshot, name: string, at: number): Resolution | undefined {
  const found = snapshot.find(name);
  if (!found) return undefined;
  const price = priceAt(found.model, at);
  if (!price) return undefined;
  return {
    requested: name,
    modelId: found.model.id,
    providerId: found.model.providerId,
    upstreamModel: found.model.upstreamModel,
    source: snapshot.source,
    match: found.match,
    price,
    maxOutputTokens: found.model.maxOutputTokens,
    contextWindow: found.model.contextWindow,
  };
}

/** An imported entry as an in-memory price (no version: it was never stored). Missing input/output read as zero. */
export function modelPriceFromEntry(entry: ImportedEntry, source: string): ModelPrice {
  const rates: PriceRates = {
    ...entry.rates,
    input: entry.rates.input ?? Decimal.ZERO,
    output: entry.rates.output ?? Decimal.ZERO,
  };
  return {
    version: undefined,
    modelId: entry.modelId,
    rates,
    tiers: entry.tiers,
    ...(entry.imageRates?.length ? { imageRates: entry.imageRates } : {}),
    effectiveFrom: undefined,
    effectiveUntil: undefined,
    source,
  };
}

/** A snapshot straight from a parsed source file (the JSON fallback, the peer checks); variants become aliases. */
export function snapshotFromEntries(
  entries: ImportedEntry[],
  source: SnapshotInput['source'],
  sourceName: string,
): CatalogSnapshot {
  const models: SnapshotModel[] = [];
  const aliases: SnapshotInput['aliases'] = [];
  for (const entry of entries) {
    models.push({
      id: entry.modelId,
      providerId: entry.providerId,
      upstreamModel: entry.upstreamModel,
      active: true,
      modality: entry.modality,
      contextWindow: entry.contextWindow,
      maxOutputTokens: entry.maxOutputTokens,
      prices: [modelPriceFromEntry(entry, sourceName)],
    });
    for (const variant of entry.variants) aliases.push({ alias: variant, modelId: entry.modelId });
  }
  return CatalogSnapshot.build({ source, models, aliases });
}

/**
 * Prefix variants of a lower-case name, most specific first: drop leading segments (`openai/gpt-4o` ->
 * `gpt-4o`; `nosana/openai/whisper-large-v3` -> `openai/whisper-large-v3`, `whisper-large-v3`) and drop the
 * organisation in the middle (`nosana/openai/whisper-large-v3` -> `nosana/whisper-large-v3`).
 */
export function prefixVariants(name: string): string[] {
  const segments = name.split('/');
  if (segments.length < 2 || segments.some((segment) => segment === '')) return [];
  const variants: string[] = [];
  if (segments.length >= 3) variants.push(`${segments[0]}/${segments[segments.length - 1]}`);
  for (let drop = 1; drop < segments.length; drop += 1) variants.push(segments.slice(drop).join('/'));
  return variants;
}

// Suffixes that name a snapshot of the same model, anchored at the end. Only real dates and version marks:
// `-2024-11-20`, `-20250514`, `@20250514` (Vertex), `-0613` (OpenAI month-day), `-001` (Gemini stable
// versions), `-v1:0` (Bedrock), `-latest`. `-v2` alone is a different model (claude-3-5-sonnet-v2), not a snapshot.
const SNAPSHOT_SUFFIXES: Array<{ pattern: RegExp; valid?: (match: RegExpExecArray) => boolean }> = [
  { pattern: /[-@](?:latest)$/ },
  { pattern: /-v\d+:\d+$/ },
  { pattern: /[-@](20\d{2})-(\d{2})-(\d{2})$/, valid: (match) => isDate(match[1]!, match[2]!, match[3]!) },
  { pattern: /[-@](20\d{2})(\d{2})(\d{2})$/, valid: (match) => isDate(match[1]!, match[2]!, match[3]!) },
  { pattern: /-(\d{2})(\d{2})$/, valid: (match) => isDate('2024', match[1]!, match[2]!) },
  { pattern: /-00\d$/ },
];

/** The name without one snapshot suffix, or undefined when it ends in none. */
export function stripSnapshotSuffix(name: string): string | undefined {
  for (const { pattern, valid } of SNAPSHOT_SUFFIXES) {
    const match = pattern.exec(name);
    if (!match || match.index === 0) continue;
    if (valid && !valid(match)) continue;
    return name.slice(0, match.index);
  }
  return undefined;
}

function isDate(year: string, month: string, day: string): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}
