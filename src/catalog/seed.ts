import path from 'node:path';
import type { Kysely } from 'kysely';
import type { ModelPriceRow, Schema } from '../db/schema.js';
import { computeCoverage, coverage, type Coverage } from './coverage.js';
import type { ImportedEntry, ImportIssue, ParsedSource } from './importers/types.js';
import { INSERT_BATCH, insertModels, registrationOf, type RegisterModel } from './model-registry.js';
import { assertAfter, currentPriceRows, storedPrice } from './price-history.js';
import { priceColumns, samePrice } from './price-row.js';
import { CatalogMatcher, isZeroPrice } from './seed-matching.js';
import { validatePrice } from './validate.js';

export interface SeedOptions {
  /** False: a dry run that reads and compares but writes nothing. */
  execute: boolean;
  /** Create the models an entry prices that are not yet in the catalog. */
  registerModels: boolean;
  /**
   * Write prices that fail validation (a negative rate, a token rate above the believable limit) instead of
   * holding them back. Default false: they are held back and reported, as the price sync does.
   */
  acceptSuspicious?: boolean;
  /** The start of new versions and the end of the versions they replace (default: now). */
  now?: Date;
  onProgress?: (done: number, total: number) => void;
}

/** What one source did, in the seed script's terms. */
export interface SourceStats {
  file: string;
  format: string;
  /** Entries read with a valid shape, plus entries with errors. */
  total: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Models created because the entry's model was not in the catalog (with registerModels). */
  registered: number;
  skippedNotInCatalog: number;
  skippedZeroPrice: number;
  /** Entries whose model a later entry of the run prices (the last source given wins). */
  superseded: number;
  variantMatches: { from: string; to: string }[];
  /** Entries whose price fails validation: held back (not written) unless accepted, with the reasons. */
  suspicious: { model: string; reasons: string[] }[];
  /** How many of `suspicious` were held back (0 with acceptSuspicious). */
  heldBack: number;
  errors: ImportIssue[];
  /** Entries the source deliberately does not import, with the reason. */
  notices: ImportIssue[];
}

export interface SeedReport {
  mode: 'dry-run' | 'execute';
  sources: SourceStats[];
  /** Coverage after the run (for a dry run: what it would be). */
  coverage: Coverage;
  written: { models: number; versions: number; closed: number };
}

interface Claim {
  sourceIndex: number;
  entry: ImportedEntry;
}

/**
 * Prices the catalog from parsed sources. Every valid entry of every source is compared with the current
 * price in memory (current prices are loaded once); the changes are written in ONE transaction, so a crash
 * leaves the catalog as it was. When several sources price the same model, the last source given wins, so
 * running the same seed twice reports everything unchanged and writes nothing.
 * @throws Error when a changed price would start before the version it replaces (nothing is written).
 */
export async function seedCatalog(db: Kysely<Schema>, sources: ParsedSource[], options: SeedOptions): Promise<SeedReport> {
  const now = options.now ?? new Date();
  const models = await db.selectFrom('models').select(['id', 'active']).execute();
  const before = new Set(models.map((model) => model.id));
  const ownIds = new Set(sources.flatMap((source) => source.entries.map((entry) => entry.modelId)));
  const skipsZero = (source: ParsedSource, entry: ImportedEntry) => !source.zeroIsFree && isZeroPrice(entry);

  // Models to register: entries that match nothing in the catalog as it was, under their own ids (the last
  // source's metadata wins, as its price does). Matching
  // then runs against the catalog as it will be, which is what a second run sees: it finds the same models.
  const registrations = new Map<string, RegisterModel & { sourceIndex: number }>();
  if (options.registerModels) {
    const matcherBefore = new CatalogMatcher(before, ownIds);
    sources.forEach((source, sourceIndex) => {
      for (const entry of source.entries) {
        if (skipsZero(source, entry)) continue;
        if (!options.acceptSuspicious && validatePrice(entry).length > 0) continue;
        if (matcherBefore.match(entry).kind === 'none') registrations.set(entry.modelId, registrationFor(entry, sourceIndex));
      }
    });
  }
  const matcher = new CatalogMatcher(new Set([...before, ...registrations.keys()]), ownIds);
  const current = await currentPriceRows(db);
  const stats = sources.map(emptyStats);
  for (const registration of registrations.values()) stats[registration.sourceIndex]!.registered++;
  const claims = new Map<string, Claim>();
  const totalEntries = sources.reduce((sum, source) => sum + source.entries.length, 0);
  let done = 0;

  sources.forEach((source, sourceIndex) => {
    const stat = stats[sourceIndex]!;
    for (const entry of source.entries) {
      options.onProgress?.(++done, totalEntries);
      const reasons = validatePrice(entry);
      if (reasons.length > 0) {
        stat.suspicious.push({ model: entry.modelId, reasons });
        if (!options.acceptSuspicious) {
          stat.heldBack++;
          continue;
        }
      }
      const match = matcher.match(entry);
      if (match.kind === 'none') {
        // With registerModels only a zero price keeps an entry out of the catalog: say so.
        if (options.registerModels && skipsZero(source, entry)) stat.skippedZeroPrice++;
        else stat.skippedNotInCatalog++;
        continue;
      }
      if (skipsZero(source, entry)) {
        stat.skippedZeroPrice++;
        continue;
      }
      const previous = claims.get(match.modelId);
      if (previous) stats[previous.sourceIndex]!.superseded++;
      if (match.kind === 'variant') stat.variantMatches.push({ from: entry.modelId, to: match.modelId });
      claims.set(match.modelId, { sourceIndex, entry });
    }
  });

  const changes: { modelId: string; claim: Claim; replaces: ModelPriceRow | undefined }[] = [];
  for (const [modelId, claim] of claims) {
    const stat = stats[claim.sourceIndex]!;
    const existing = current.get(modelId);
    if (existing && samePrice(storedPrice(existing), claim.entry)) {
      stat.unchanged++;
      continue;
    }
    if (existing) assertAfter(modelId, existing, now);
    if (existing) stat.updated++;
    else stat.inserted++;
    changes.push({ modelId, claim, replaces: existing });
  }

  const written = { models: 0, versions: 0, closed: 0 };
  if (options.execute && (changes.length > 0 || registrations.size > 0)) {
    const writeTotal = totalEntries + changes.length;
    await db.transaction().execute(async (transaction) => {
      await insertModels(transaction, [...registrations.values()]);
      written.models = registrations.size;
      const closing = changes.filter((change) => change.replaces).map((change) => change.replaces!.id);
      for (let start = 0; start < closing.length; start += INSERT_BATCH) {
        const batch = closing.slice(start, start + INSERT_BATCH);
        await transaction.updateTable('model_prices').set({ effective_until: now }).where('id', 'in', batch).execute();
      }
      written.closed = closing.length;
      for (let start = 0; start < changes.length; start += INSERT_BATCH) {
        const batch = changes.slice(start, start + INSERT_BATCH);
        await transaction
          .insertInto('model_prices')
          .values(
            batch.map(({ modelId, claim }) => ({
              model_id: modelId,
              effective_from: now,
              ...priceColumns(claim.entry),
              source: sourceLabel(sources[claim.sourceIndex]!),
            })),
          )
          .execute();
        options.onProgress?.(totalEntries + Math.min(start + INSERT_BATCH, changes.length), writeTotal);
      }
      written.versions = changes.length;
    });
  }

  const after = options.execute
    ? await coverage(db)
    : computeCoverage(
        [
          ...models.filter((model) => model.active).map((model) => model.id),
          ...[...registrations.values()].filter((model) => model.active).map((model) => model.id),
        ],
        new Set([...current.keys(), ...claims.keys()]),
      );
  return { mode: options.execute ? 'execute' : 'dry-run', sources: stats, coverage: after, written };
}

/** How a version records where its price came from: `<format>:<file name>`. */
export function sourceLabel(source: ParsedSource): string {
  return `${source.format}:${path.basename(source.file)}`;
}

function emptyStats(source: ParsedSource): SourceStats {
  return {
    file: source.file,
    format: source.format,
    total: source.entries.length + source.errors.length,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    registered: 0,
    skippedNotInCatalog: 0,
    skippedZeroPrice: 0,
    superseded: 0,
    variantMatches: [],
    suspicious: [],
    heldBack: 0,
    errors: source.errors,
    notices: source.notices,
  };
}

function registrationFor(entry: ImportedEntry, sourceIndex: number): RegisterModel & { sourceIndex: number } {
  return { ...registrationOf(entry), sourceIndex };
}
