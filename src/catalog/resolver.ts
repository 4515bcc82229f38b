import { Decimal } from '../money/decimal.js';
import type {
  MatchKind,
  MatchRule,
  ModelPrice,
  PriceRates,
  PriceSourceKind,
  PriceWindow,
  ResolveContext,
  Resolution,
} from '../pricing/types.js';
import { priceInForce } from '../pricing/windows.js';
import type { ImportedEntry, ImportedWindow } from './importers/types.js';
import { matchesRule, ruleBranches, ruleText, specificity } from './match-rules.js';
import { makerOf, providerFamily } from './provider-ids.js';
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
  /** The operator's provider order for a bare name several providers list (`TOLLGATE_PROVIDER_PREFERENCE`). */
  preference?: readonly string[];
}

export interface Found {
  model: SnapshotModel;
  match: Exclude<MatchKind, 'default'>;
  /** The declared rule that matched (match `alias` through a source's rule). */
  rule?: string;
  /** The last resolution made from this lookup, reused while the name and the price in force stay the same. */
  resolved?: Resolution;
}

interface DeclaredRule {
  model: SnapshotModel;
  branch: MatchRule;
  specificity: number;
  text: string;
}

/** A Bedrock model id: the maker, a dot, the model and a version (`anthropic.claude-sonnet-4-5-20250929-v1:0`). */
const BEDROCK_MODEL = /^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|openai|writer)\.(.+?)(?:-v\d+(?::\d+)?)?$/i;

/** Names remembered per snapshot; past this the memo starts over, so random names cannot grow memory without bound. */
const MEMO_LIMIT = 50_000;

/** Bedrock's cross-region inference profiles: `us.anthropic.claude-...`, `eu.`, `apac.`, `global.` and others. */
const BEDROCK_REGION = /^(?:us|eu|apac|global|us-gov|jp|au|ca|sa)\.(?=[a-z0-9-]+\.)/i;

/**
 * An immutable view of the catalog: lookups by exact id, alias, lower-case name, prefix variant and the name
 * rules sources declare, each a map read or (for a declared pattern) a scan remembered per name. Never a
 * substring match of tollgate's own: the seed's "partial match" priced `gpt-4o-mini` as `gpt-4o`, which is the
 * bug every peer has shipped at some point (langfuse#10958 is the opposite miss, a prefixed name).
 *
 * A bare name several providers list resolves to the listing of the provider the call is routed to, then of the
 * model's maker (`gemini-*` -> google, `kimi-*` -> moonshot), then of the operator's preference; provider ids are
 * compared by family (`gemini` = `google` = `vertex_ai`), an exact id first.
 */
export class CatalogSnapshot {
  private readonly aliases = new Map<string, SnapshotModel>();
  private readonly lowerCase = new Map<string, SnapshotModel>();
  private readonly variants = new Map<string, SnapshotModel[]>();
  /** By routed provider ('' for none), then by name. */
  private readonly memo = new Map<string, Map<string, Found | null>>();
  private remembered = 0;
  /** Models whose id ends in `-latest`, by the family name before it (`claude-3-5-haiku-latest` -> `claude-3-5-haiku`). */
  private readonly latest = new Map<string, SnapshotModel>();
  /** Provider family -> the lower-case name a model has under its provider (`gemini/x` -> `x`) -> those models. */
  private readonly byFamily = new Map<string, Map<string, SnapshotModel[]>>();
  private readonly byFamilyShort = new Map<string, Map<string, SnapshotModel[]>>();
  /** Declared `equals` names, lower-case, and the other declared branches (scanned, most specific first). */
  private readonly declaredNames = new Map<string, DeclaredRule[]>();
  private readonly declaredPatterns: DeclaredRule[] = [];
  private readonly preference: readonly string[];

  private constructor(
    readonly source: SnapshotInput['source'],
    readonly models: ReadonlyMap<string, SnapshotModel>,
    preference: readonly string[],
  ) {
    this.preference = preference.map(providerFamily);
  }

  static build(input: SnapshotInput): CatalogSnapshot {
    const models = new Map<string, SnapshotModel>();
    for (const model of input.models) if (!models.has(model.id)) models.set(model.id, model);
    const snapshot = new CatalogSnapshot(input.source, models, input.preference ?? []);
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
        addTo(snapshot.variants, variant, model);
      }
    }
    for (const model of models.values()) {
      snapshot.indexUnderProvider(model);
      snapshot.indexDeclared(model);
    }
    snapshot.declaredPatterns.sort((a, b) => b.specificity - a.specificity || (a.model.id < b.model.id ? -1 : 1));
    return snapshot;
  }

  get size(): number {
    return this.models.size;
  }

  /** True when `id` is a provider (by family) some model of this snapshot is listed under. */
  hasProvider(id: string): boolean {
    return this.byFamily.has(providerFamily(id));
  }

  /**
   * The model a name denotes and how it was found; undefined when none. `context.provider` is the provider the
   * call is routed to: its own listing of a bare name wins. Pure map reads, memoised.
   */
  find(name: string, context?: ResolveContext): Found | undefined {
    const provider = context?.provider ?? '';
    let memo = this.memo.get(provider);
    if (!memo) this.memo.set(provider, (memo = new Map()));
    const remembered = memo.get(name);
    if (remembered !== undefined) return remembered ?? undefined;
    const found = this.findUncached(name.trim(), provider || undefined);
    if (this.remembered >= MEMO_LIMIT) {
      this.memo.clear();
      this.memo.set(provider, (memo = new Map()));
      this.remembered = 0;
    }
    memo.set(name, found ?? null);
    this.remembered += 1;
    return found;
  }

  private findUncached(name: string, routed: string | undefined): Found | undefined {
    // Provider name forms: Gemini's `models/gemini-2.5-pro`; Bedrock's regional `us.anthropic.claude-...`
    // when no source lists that form itself.
    if (name.toLowerCase().startsWith('models/') && !this.lowerCase.has(name.toLowerCase())) {
      const found = this.findUncached(name.slice('models/'.length), routed ?? 'google');
      return found && { ...found, match: found.match === 'alias' ? 'alias' : 'prefix' };
    }
    const slash = name.indexOf('/');
    const prefix = slash > 0 && this.hasProvider(name.slice(0, slash)) ? name.slice(0, slash) : undefined;
    if (prefix) {
      const exact = this.findNamed(name);
      if (exact) return exact;
    }
    const bare = prefix ? name.slice(slash + 1) : name;
    // With no routed provider given, a bare name goes where the gateway sends one: to its maker.
    const provider = prefix ?? routed ?? makerOf(bare, detectMaker);
    if (provider) {
      const listed = this.findUnderProvider(bare, provider, name);
      if (listed) return listed;
    }
    const found = this.findGeneral(name);
    if (found) return found;
    // Bedrock: the regional profile's base model (`us.anthropic.claude-x-v1:0` -> `anthropic.claude-x-v1:0`),
    // then the maker's own model (`claude-x`) when no source lists the Bedrock id.
    const region = BEDROCK_REGION.exec(bare);
    const vendor = BEDROCK_MODEL.exec(region ? bare.slice(region[0].length) : bare);
    for (const base of [region && bare.slice(region[0].length), vendor?.[1]]) {
      if (!base) continue;
      const found = this.findUncached(`${prefix ? `${prefix}/` : ''}${base}`, routed);
      if (found) return { ...found, match: found.match === 'alias' ? 'alias' : 'prefix' };
    }
    return undefined;
  }

  /** Exact id, alias, then the same name in another case. */
  private findNamed(name: string): Found | undefined {
    const exact = this.models.get(name);
    if (exact) return { model: exact, match: 'exact' };
    const alias = this.aliases.get(name);
    if (alias) return { model: alias, match: 'alias' };
    const byCase = this.lowerCase.get(name.toLowerCase());
    return byCase && { model: byCase, match: 'case' };
  }

  /** A name as one provider (family) lists it: its own id, its declared names, then its dated snapshots. */
  private findUnderProvider(bare: string, provider: string, name: string): Found | undefined {
    const listing = this.byFamily.get(providerFamily(provider));
    if (!listing) return undefined;
    const lower = bare.toLowerCase();
    const direct = this.choose(listing.get(lower) ?? [], bare, provider);
    if (direct) {
      const match = direct.id === name ? 'exact' : direct.id.toLowerCase() === name.toLowerCase() ? 'case' : 'prefix';
      return { model: direct, match };
    }
    const declared = this.findDeclared(bare, provider);
    if (declared) return declared;
    const short = this.choose(this.byFamilyShort.get(providerFamily(provider))?.get(lower) ?? [], bare, provider);
    if (short) return { model: short, match: 'prefix' };
    let current = bare;
    for (let step = 0; step < 3; step += 1) {
      const stripped = stripSnapshotSuffix(current);
      if (stripped === undefined) break;
      const model = this.choose(listing.get(stripped.toLowerCase()) ?? [], bare, provider);
      if (model) return { model, match: 'snapshot' };
      current = stripped;
    }
    return undefined;
  }

  private findGeneral(name: string): Found | undefined {
    const direct = this.findNamed(name) ?? this.findDeclared(name, undefined, false) ?? this.findDirect(name);
    if (direct) return direct;
    const declared = this.findDeclared(name, undefined, true);
    if (declared) return declared;
    // Dated snapshots: strip one real date or version suffix at a time, never an arbitrary tail. A catalog
    // that names only the family's `-latest` (genai-prices: `claude-3-5-haiku-latest`) prices its dated
    // snapshots; a dated catalog id never prices another date (gpt-4o-2024-05-13 costs twice gpt-4o's price).
    let current = name;
    for (let step = 0; step < 3; step += 1) {
      const stripped = stripSnapshotSuffix(current);
      if (stripped === undefined) break;
      const found = this.findDirect(stripped) ?? this.findLatest(stripped);
      if (found) return { model: found.model, match: 'snapshot' };
      current = stripped;
    }
    return undefined;
  }

  /**
   * The declared rules a name matches (genai-prices: `o1-preview` is a name of `openai/o1`), restricted to one
   * provider family when given; the most specific rule of the preferred provider wins. A dated name
   * (`-20250514`) is also tried as genai-prices writes dates in its rules (`-2025-05-14`).
   */
  private findDeclared(name: string, provider: string | undefined, patterns = true): Found | undefined {
    const family = provider && providerFamily(provider);
    const fits = (rule: DeclaredRule) => !family || providerFamily(rule.model.providerId) === family;
    for (const candidate of [name, isoDated(name)]) {
      if (candidate === undefined) continue;
      const lower = candidate.toLowerCase();
      const named = (this.declaredNames.get(lower) ?? []).filter(fits);
      const matched =
        named.length > 0 || !patterns
          ? named
          : this.declaredPatterns.filter((rule) => fits(rule) && matchesRule(rule.branch, candidate, lower));
      if (matched.length === 0) continue;
      // The most specific rule of each provider, then the preferred provider among them.
      const best = new Map<SnapshotModel, DeclaredRule>();
      const top = matched[0]!.specificity;
      for (const rule of matched) if (rule.specificity === top && !best.has(rule.model)) best.set(rule.model, rule);
      const model = this.choose([...best.keys()], name, provider);
      if (model) return { model, match: 'alias', rule: best.get(model)!.text };
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
    const named = this.findNamed(name);
    if (named) return named;
    const lower = name.toLowerCase();
    // `openai/gpt-4o` -> `gpt-4o`, `nosana/openai/whisper-large-v3` -> `nosana/whisper-large-v3`.
    for (const variant of prefixVariants(lower)) {
      // Real names only: matching a variant against another model's variant would price `groq/whisper-large-v3`
      // as `nosana/openai/whisper-large-v3` by their shared tail.
      const model = this.lowerCase.get(variant);
      if (model) return { model, match: 'prefix' };
    }
    // `gpt-4o` -> `openai/gpt-4o`, `nosana/whisper-large-v3` -> `nosana/openai/whisper-large-v3`.
    const widened = this.choose(this.variants.get(lower) ?? [], name, undefined);
    if (widened) return { model: widened, match: 'prefix' };
    return undefined;
  }

  /**
   * One model of several listing the same name: the routed provider's (its exact id, then its family), then the
   * maker's (`gpt-*` -> openai, `gemini-*` -> google), then the operator's preference; none when still tied.
   */
  private choose(candidates: SnapshotModel[], name: string, routed: string | undefined): SnapshotModel | undefined {
    if (candidates.length <= 1) return candidates[0];
    const maker = makerOf(name, detectMaker);
    const wanted = [routed, maker].filter((id): id is string => id !== undefined);
    for (const id of wanted) {
      const exact = candidates.filter((model) => model.providerId.toLowerCase() === id.toLowerCase());
      if (exact.length === 1) return exact[0];
    }
    for (const family of [...wanted.map(providerFamily), ...this.preference]) {
      const inFamily = candidates.filter((model) => providerFamily(model.providerId) === family);
      if (inFamily.length === 1) return inFamily[0];
      if (inFamily.length > 1) {
        // Several ids of one family (google's `gemini` and `vertex_ai`): the one the operator prefers, if any.
        const preferred = inFamily.filter((model) => this.preference.includes(model.providerId.toLowerCase()));
        return preferred.length === 1 ? preferred[0] : undefined;
      }
    }
    return undefined;
  }

  /** Indexes a model under its provider family by the name it has there: `gemini/x` and `x` under `gemini` are `x`. */
  private indexUnderProvider(model: SnapshotModel): void {
    const family = providerFamily(model.providerId);
    let listing = this.byFamily.get(family);
    if (!listing) this.byFamily.set(family, (listing = new Map()));
    const names = new Set<string>([model.upstreamModel.toLowerCase()]);
    const id = model.id.toLowerCase();
    const slash = id.indexOf('/');
    if (slash < 0) names.add(id);
    else if (providerFamily(id.slice(0, slash)) === family) names.add(id.slice(slash + 1));
    for (const name of names) addTo(listing, name, model);
    // A gateway's `openrouter/google/gemini-2.5-pro` is also `gemini-2.5-pro` there (the organisation dropped),
    // after its own names and the names it declares.
    const short = id.slice(id.lastIndexOf('/') + 1);
    if (!names.has(short)) {
      let loose = this.byFamilyShort.get(family);
      if (!loose) this.byFamilyShort.set(family, (loose = new Map()));
      addTo(loose, short, model);
    }
  }

  private indexDeclared(model: SnapshotModel): void {
    const rule = model.prices[0]?.match;
    if (!rule) return;
    for (const branch of ruleBranches(rule)) {
      const declared = { model, branch, specificity: specificity(branch), text: ruleText(branch) };
      if ('equals' in branch) addTo(this.declaredNames, branch.equals.toLowerCase(), declared);
      else this.declaredPatterns.push(declared);
    }
  }
}

const detectMaker = (name: string) => detectProvider(name, () => false);

function addTo<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

/** `claude-sonnet-4-20250514` -> `claude-sonnet-4-2025-05-14`, as genai-prices retries a dated name; else undefined. */
function isoDated(name: string): string | undefined {
  const dated = name.replace(/-(20\d{2})(\d{2})(\d{2})(?=-|:|$)/g, (whole, year: string, month: string, day: string) =>
    isDate(year, month, day) ? `-${year}-${month}-${day}` : whole,
  );
  return dated === name ? undefined : dated;
}

/** The price version in force at `at` (epoch milliseconds), if any. */
export function priceAt(model: SnapshotModel, at: number): ModelPrice | undefined {
  const prices = model.prices;
  for (let index = 0; index < prices.length; index += 1) {
    const price = prices[index]!;
    if (
      (price.effectiveFrom === undefined || price.effectiveFrom.getTime() <= at) &&
      (price.effectiveUntil === undefined || at < price.effectiveUntil.getTime())
    ) {
      return price;
    }
  }
  return undefined;
}

/**
 * Resolves a name in one snapshot at a time; undefined when the name is unknown or had no price then. The price
 * is the one in force at that instant: the version, then its time-of-day window (DeepSeek's off-peak rates).
 */
export function resolveIn(snapshot: CatalogSnapshot, name: string, at: number, context?: ResolveContext): Resolution | undefined {
  const found = snapshot.find(name, context);
  if (!found) return undefined;
  const version = priceAt(found.model, at);
  if (!version) return undefined;
  const price = priceInForce(version, at);
  // The same name at the same price resolves to the same (read-only) object: no allocation on the hot path.
  const last = found.resolved;
  if (last && last.price === price && last.requested === name) return last;
  const resolution: Resolution = {
    requested: name,
    modelId: found.model.id,
    providerId: found.model.providerId,
    upstreamModel: found.model.upstreamModel,
    source: snapshot.source,
    match: found.match,
    price,
    maxOutputTokens: found.model.maxOutputTokens,
    contextWindow: found.model.contextWindow,
    rule: found.rule,
  };
  found.resolved = resolution;
  return resolution;
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
    match: entry.match,
    windows: entry.windows?.length ? entry.windows.map(fullWindow) : undefined,
  };
}

/** A window's rates with input and output read as zero when the source gives none, as a version's are. */
export function fullWindow(window: ImportedWindow): PriceWindow {
  return {
    ...window,
    rates: { ...window.rates, input: window.rates.input ?? Decimal.ZERO, output: window.rates.output ?? Decimal.ZERO },
  };
}

/** A snapshot straight from a parsed source file (the JSON fallback, the peer checks); variants become aliases. */
export function snapshotFromEntries(
  entries: ImportedEntry[],
  source: SnapshotInput['source'],
  sourceName: string,
  preference: readonly string[] = [],
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
  return CatalogSnapshot.build({ source, models, aliases, preference });
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
