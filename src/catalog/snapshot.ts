import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logging/logger.js';
import type { MatchKind, ModelPrice, PriceSourceKind, ResolveContext, Resolution } from '../pricing/types.js';
import { parseExactJson } from './importers/exact-json.js';
import { llmPricingJsonImporter } from './importers/llm-pricing-json.js';
import { modelPriceFromRow } from './price-row.js';
import { detectProvider } from './provider-detection.js';
import { CatalogSnapshot, priceAt, resolveIn, snapshotFromEntries, type Found, type SnapshotModel } from './resolver.js';
import { clip } from '../util/input-checks.js';
import { validatePrice } from './validate.js';

/** An active model with its current price, as GET /v1/models lists it. */
export interface CatalogModel {
  id: string;
  providerId: string;
  upstreamModel: string;
  modality: string;
  contextWindow: number | undefined;
  maxOutputTokens: number | undefined;
  /** The catalog's current price, else what resolve() would charge (the JSON file's, or the default). */
  price: ModelPrice;
}

export interface PricingCatalogOptions {
  database: Database | undefined;
  config: Config;
  logger: Logger;
  /** Called on every lookup (a metrics counter); must not throw. */
  onLookup?: (source: PriceSourceKind, match: MatchKind) => void;
}

export interface ReloadResult {
  models: number;
  source: PriceSourceKind;
  /** Set when the database could not be read and the previous snapshot kept serving. */
  error?: string;
}

/** Both snapshots are swapped together, as one object, so a lookup never sees half of a reload. */
interface State {
  database: CatalogSnapshot | undefined;
  json: CatalogSnapshot | undefined;
  loadedAt: Date;
}

// The shipped fallback file, found relative to this module so it works from src/ (tsx) and dist/ alike.
const SHIPPED_FALLBACK = new URL('../../data/catalog/llm_pricing_current.json', import.meta.url);
const WARNING_INTERVAL_MS = 60_000;
const WARNED_LIMIT = 10_000;

/**
 * The in-memory price catalog every call resolves against. Lookups are synchronous map reads on an immutable
 * snapshot; `reload()` builds a new one and swaps it. The seed's rule holds: "the pricing system is designed
 * to never fail". A database outage keeps the last snapshot; with none, the JSON file; then the default price.
 */
export class PricingCatalog {
  private state: State;
  private timer: NodeJS.Timeout | undefined;
  private readonly warnedAt = new Map<string, number>();
  private readonly defaultRates;

  private constructor(private readonly options: PricingCatalogOptions) {
    this.state = { database: undefined, json: undefined, loadedAt: new Date() };
    this.defaultRates = { input: options.config.pricing.defaultInputRate, output: options.config.pricing.defaultOutputRate };
  }

  /** Loads the catalog; never throws (a failed load leaves the JSON file and the default price). */
  static async create(options: PricingCatalogOptions): Promise<PricingCatalog> {
    const catalog = new PricingCatalog(options);
    await catalog.reload();
    return catalog;
  }

  get modelCount(): number {
    return this.state.database?.size || this.state.json?.size || 0;
  }

  get loadedAt(): Date {
    return this.state.loadedAt;
  }

  /**
   * The price for a model name at a time (default now). Undefined only when the model is unpriced and the
   * operator chose `reject`. No I/O; never throws.
   */
  resolve(modelName: string, at?: Date, context?: ResolveContext): Resolution | undefined {
    const time = at?.getTime() ?? Date.now();
    const { database, json } = this.state;
    // A malformed request may carry a non-string model; it is simply unknown, never an exception here.
    const name = typeof modelName === 'string' ? modelName : String(modelName);
    const found = (database && resolveIn(database, name, time, context)) || (json && resolveIn(json, name, time, context));
    if (found) {
      this.report(found.source, found.match);
      return found;
    }
    if (this.options.config.pricing.unpricedModels === 'reject') return undefined;
    return this.defaultResolution(name);
  }

  /**
   * The price of a model whose steps already ran within a call (Anthropic's advisor: the model the call was made
   * to consulted it server-side): as `resolve`, but never undefined. The provider bills those steps whether or not
   * the catalog prices the model, and refusing is no longer possible, so a model `resolve` would refuse
   * (`TOLLGATE_UNPRICED_MODELS=reject`) is priced at the default price, with source and match `default` recorded
   * and the warning logged, rather than charged nothing.
   */
  resolveRan(modelName: string, at?: Date, context?: ResolveContext): Resolution {
    return (
      this.resolve(modelName, at, context) ??
      this.defaultResolution(typeof modelName === 'string' ? modelName : String(modelName))
    );
  }

  private defaultResolution(name: string): Resolution {
    this.warnDefault(name);
    this.report('default', 'default');
    return {
      requested: name,
      modelId: undefined,
      // The gateway routes an unknown model by its name; the markup rules see the same provider.
      providerId: detectProvider(name, () => true),
      upstreamModel: undefined,
      source: 'default',
      match: 'default',
      price: this.defaultPrice(name),
      maxOutputTokens: undefined,
      contextWindow: undefined,
    };
  }

  /**
   * The catalog model a name denotes, resolved as `resolve` does (the database snapshot, then the JSON file),
   * without choosing a price: `catalog price` shows the model's version in force at a time, windows and all.
   */
  lookup(modelName: string, context?: ResolveContext): (Found & { source: 'database' | 'json' }) | undefined {
    const { database, json } = this.state;
    const fromDatabase = database?.find(modelName, context);
    if (fromDatabase) return { ...fromDatabase, source: 'database' };
    const fromFile = json?.find(modelName, context);
    return fromFile && { ...fromFile, source: 'json' };
  }

  /**
   * Active models with the price a call would pay now, sorted by id (database models, else the JSON file's).
   * A model with no price of its own lists the fallback price; in reject mode it is left out (it cannot be called).
   */
  listModels(): CatalogModel[] {
    const snapshot = this.state.database?.size ? this.state.database : this.state.json;
    if (!snapshot) return [];
    const now = Date.now();
    const list: CatalogModel[] = [];
    for (const model of snapshot.models.values()) {
      if (!model.active) continue;
      const price = priceAt(model, now) ?? this.fallbackPrice(model.id, now);
      if (!price) continue;
      list.push({
        id: model.id,
        providerId: model.providerId,
        upstreamModel: model.upstreamModel,
        modality: model.modality,
        contextWindow: model.contextWindow,
        maxOutputTokens: model.maxOutputTokens,
        price,
      });
    }
    return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Builds a new snapshot and swaps it in; a database error keeps the previous one. Never throws. */
  async reload(): Promise<ReloadResult> {
    const json = this.loadFallbackFile() ?? this.state.json;
    let database = this.state.database;
    let error: string | undefined;
    if (this.options.database) {
      try {
        database = await loadDatabaseSnapshot(this.options.database, this.options.config.pricing.providerPreference);
      } catch (cause) {
        error = cause instanceof Error ? cause.message : String(cause);
        this.options.logger.error(
          { error, keptModels: database?.size ?? 0 },
          'pricing reload from the database failed; the last snapshot keeps serving',
        );
      }
    }
    this.state = { database, json, loadedAt: error ? this.state.loadedAt : new Date() };
    const source: PriceSourceKind = database?.size ? 'database' : json?.size ? 'json' : 'default';
    const models = this.modelCount;
    if (error) return { models, source, error };
    this.options.logger.info({ models, source }, `pricing data loaded: ${models} models from ${source}`);
    return { models, source };
  }

  /** Reloads every `config.pricing.ttlSeconds`; the timer does not keep the process alive. */
  startAutoReload(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.reload(), this.options.config.pricing.ttlSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private fallbackPrice(modelId: string, now: number): ModelPrice | undefined {
    const fromFile = this.state.json && resolveIn(this.state.json, modelId, now);
    if (fromFile) return fromFile.price;
    if (this.options.config.pricing.unpricedModels === 'reject') return undefined;
    return this.defaultPrice(modelId);
  }

  private defaultPrice(modelName: string): ModelPrice {
    return {
      version: undefined,
      modelId: modelName,
      rates: { ...this.defaultRates },
      tiers: [],
      effectiveFrom: undefined,
      effectiveUntil: undefined,
      source: 'default',
    };
  }

  private loadFallbackFile(): CatalogSnapshot | undefined {
    const configured = this.options.config.pricing.fallbackFile;
    const file = configured ?? (existsSync(SHIPPED_FALLBACK) ? fileURLToPath(SHIPPED_FALLBACK) : undefined);
    if (!file) return undefined;
    try {
      const parsed = llmPricingJsonImporter.parse(parseExactJson(readFileSync(file, 'utf8')), file);
      for (const issue of parsed.errors) this.options.logger.warn({ file, issue }, 'fallback pricing entry skipped');
      // Held back as `catalog seed` holds them: a rate past the believable limit is a unit slip, not a price.
      const entries = parsed.entries.filter((entry) => {
        const reasons = validatePrice(entry);
        if (reasons.length > 0)
          this.options.logger.warn({ file, model: entry.modelId, reasons }, 'fallback pricing entry held back');
        return reasons.length === 0;
      });
      return snapshotFromEntries(entries, 'json', `file:${file}`, this.options.config.pricing.providerPreference);
    } catch (cause) {
      this.options.logger.warn(
        { file, error: cause instanceof Error ? cause.message : String(cause) },
        'fallback pricing file not found or invalid; using the default price for unknown models',
      );
      return undefined;
    }
  }

  private warnDefault(modelName: string): void {
    const now = Date.now();
    const last = this.warnedAt.get(modelName);
    if (last !== undefined && now - last < WARNING_INTERVAL_MS) return;
    if (this.warnedAt.size >= WARNED_LIMIT) this.warnedAt.clear();
    this.warnedAt.set(modelName, now);
    const shown = clip(modelName);
    this.options.logger.warn({ model: shown }, `default pricing used for ${shown}`);
  }

  private report(source: PriceSourceKind, match: MatchKind): void {
    try {
      this.options.onLookup?.(source, match);
    } catch {
      // A metrics callback must never turn a priced call into a failed one.
    }
  }
}

/** Reads models, aliases and every price version into a snapshot. @throws the database error. */
export async function loadDatabaseSnapshot(database: Database, preference: readonly string[] = []): Promise<CatalogSnapshot> {
  const [modelRows, aliasRows, priceRows] = await Promise.all([
    database.db.selectFrom('models').selectAll().execute(),
    database.db.selectFrom('model_aliases').select(['alias', 'model_id']).execute(),
    database.db.selectFrom('model_prices').selectAll().orderBy('effective_from', 'desc').orderBy('id', 'desc').execute(),
  ]);
  const pricesByModel = new Map<string, ModelPrice[]>();
  for (const row of priceRows) {
    const list = pricesByModel.get(row.model_id) ?? [];
    list.push(modelPriceFromRow(row));
    pricesByModel.set(row.model_id, list);
  }
  const models: SnapshotModel[] = modelRows.map((row) => ({
    id: row.id,
    providerId: row.provider_id,
    upstreamModel: row.upstream_model,
    active: row.active,
    modality: row.modality,
    contextWindow: row.context_window ?? undefined,
    maxOutputTokens: row.max_output_tokens ?? undefined,
    prices: pricesByModel.get(row.id) ?? [],
  }));
  const aliases = aliasRows.map((row) => ({ alias: row.alias, modelId: row.model_id }));
  return CatalogSnapshot.build({ source: 'database', models, aliases, preference });
}
