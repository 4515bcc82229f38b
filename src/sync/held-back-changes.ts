import { sql } from 'kysely';
import { writePriceVersion, type PriceInput } from '../catalog/price-history.js';
import {
  RATE_COLUMNS,
  RATE_KEYS,
  tiersFromStored,
  tiersToStored,
  windowsFromStored,
  windowsToStored,
} from '../catalog/price-row.js';
import type { Database } from '../db/database.js';
import type { RateName, StoredPriceTier, StoredPriceWindow } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import type { MatchRule, PriceRates } from '../pricing/types.js';
import { syncLabel, type PlannedChange } from './diff.js';
import type { HeldBackChange, SyncResult } from './run-sync.js';

/** A held-back change's price as stored in its run's result: rates in USD per unit as exact text. */
export interface ProposedPrice {
  rates: Partial<Record<RateName, string>>;
  tiers: StoredPriceTier[];
  /** The feed's declared names and time-of-day windows, as stored (absent in proposals recorded before issue 11). */
  matchRule?: MatchRule | null;
  windows?: StoredPriceWindow[];
  /** The price version the change was computed against (null: the model had none); approval needs it still current. */
  replacesVersion: number | null;
}

export interface HeldBackDecision {
  action: 'approved' | 'rejected';
  decidedAt: string;
  note: string | null;
  /** The price version an approval wrote. */
  version: number | null;
}

/** A held-back change still waiting for an operator, with where it is kept (run and index). */
export interface PendingHeldBack {
  runId: number;
  index: number;
  source: string;
  runStartedAt: string;
  change: HeldBackChange;
  /** False for an entry the feed got wrong (nothing to apply): it can only be rejected. */
  approvable: boolean;
}

/** Why a decision was refused; `status` is the HTTP status the route answers with. */
export class HeldBackDecisionError extends Error {
  override name = 'HeldBackDecisionError';
  constructor(
    message: string,
    readonly status: 404 | 409,
  ) {
    super(message);
  }
}

/** How many recent executed runs the pending list looks through (a daily sync of two feeds: over a year). */
const RUNS_SCANNED = 1_000;

export function proposedPrice(planned: PlannedChange): ProposedPrice {
  const rates: Partial<Record<RateName, string>> = {};
  for (const key of RATE_KEYS) {
    const value = planned.price.rates[key];
    if (value !== undefined) rates[RATE_COLUMNS[key]] = value.toString();
  }
  return {
    rates,
    tiers: JSON.parse(tiersToStored(planned.price.tiers)) as StoredPriceTier[],
    matchRule: planned.price.match ?? null,
    windows: JSON.parse(windowsToStored(planned.price.windows)) as StoredPriceWindow[],
    replacesVersion: planned.currentVersion,
  };
}

function priceInput(proposed: ProposedPrice): PriceInput {
  const rates: Partial<PriceRates> = {};
  for (const key of RATE_KEYS) {
    const text = proposed.rates[RATE_COLUMNS[key]];
    if (text !== undefined) rates[key] = Decimal.parse(text);
  }
  return {
    rates,
    tiers: tiersFromStored(proposed.tiers),
    ...(proposed.matchRule ? { match: proposed.matchRule } : {}),
    ...(proposed.windows?.length ? { windows: windowsFromStored(proposed.windows) } : {}),
  };
}

/**
 * The held-back changes of executed runs that no operator has decided, newest run first, one per model:
 * a feed that keeps proposing the same suspicious price holds it back on every run, and only the newest
 * proposal is the one to decide (an older one is superseded by it).
 */
export async function pendingHeldBack(database: Database): Promise<PendingHeldBack[]> {
  const runs = await database.db
    .selectFrom('sync_runs')
    .select(['id', 'source', 'started_at', sql<HeldBackChange[] | null>`result->'heldBack'`.as('held_back')])
    .where('mode', '=', 'execute')
    .where('status', '=', 'succeeded')
    .where(sql<boolean>`jsonb_array_length(coalesce(result->'heldBack', '[]'::jsonb)) > 0`)
    .orderBy('id', 'desc')
    .limit(RUNS_SCANNED)
    .execute();
  const seen = new Set<string>();
  const pending: PendingHeldBack[] = [];
  for (const run of runs) {
    (run.held_back ?? []).forEach((change, index) => {
      if (seen.has(change.modelId)) return;
      seen.add(change.modelId);
      if (change.decision) return;
      pending.push({
        runId: run.id,
        index,
        source: run.source,
        runStartedAt: new Date(run.started_at).toISOString(),
        change,
        approvable: change.proposed !== undefined,
      });
    });
  }
  return pending;
}

/**
 * Approves (writes the proposed price as a new version effective now, labelled as the feed's) or rejects a
 * held-back change, and records the decision in the run's result; one transaction, the run row locked, so
 * two operators cannot both decide it. An approval is refused when the model's price has changed since the
 * run (its proposal was judged against a price no longer current: run the sync again).
 * @throws HeldBackDecisionError (404 no such run or change; 409 already decided, stale, or nothing to apply)
 */
export async function decideHeldBack(
  database: Database,
  input: { runId: number; index: number; action: 'approve' | 'reject'; note?: string; now?: Date },
): Promise<{ change: HeldBackChange; decision: HeldBackDecision; pricesChanged: boolean }> {
  const now = input.now ?? new Date();
  return database.db.transaction().execute(async (transaction) => {
    const run = await transaction
      .selectFrom('sync_runs')
      .select(['id', 'source', 'mode', 'status', 'result'])
      .where('id', '=', input.runId)
      .forUpdate()
      .executeTakeFirst();
    if (!run) throw new HeldBackDecisionError(`no sync run ${input.runId}`, 404);
    const change = (run.result as SyncResult | null)?.heldBack?.[input.index];
    if (!change) throw new HeldBackDecisionError(`sync run ${input.runId} has no held-back change ${input.index}`, 404);
    if (run.mode !== 'execute') {
      throw new HeldBackDecisionError(
        `sync run ${input.runId} was a dry run: run the sync with execute to act on its changes`,
        409,
      );
    }
    if (change.decision) {
      throw new HeldBackDecisionError(`${change.modelId}: this change was already ${change.decision.action}`, 409);
    }
    let version: number | null = null;
    if (input.action === 'approve') {
      if (!change.proposed) {
        throw new HeldBackDecisionError(
          `${change.modelId}: the feed's entry is invalid and has no price to apply; reject it`,
          409,
        );
      }
      const current = await transaction
        .selectFrom('model_prices')
        .select('id')
        .where('model_id', '=', change.modelId)
        .where('effective_until', 'is', null)
        .executeTakeFirst();
      if ((current?.id ?? null) !== change.proposed.replacesVersion) {
        throw new HeldBackDecisionError(
          `${change.modelId}: its price changed since this run (version ${current?.id ?? 'none'}, the run saw ` +
            `${change.proposed.replacesVersion ?? 'none'}); run the sync again and decide on the new proposal`,
          409,
        );
      }
      const written = await writePriceVersion(
        transaction,
        change.modelId,
        priceInput(change.proposed),
        syncLabel(run.source),
        now,
      );
      version = written.version;
    }
    const decision: HeldBackDecision = {
      action: input.action === 'approve' ? 'approved' : 'rejected',
      decidedAt: now.toISOString(),
      note: input.note ?? null,
      version,
    };
    await transaction
      .updateTable('sync_runs')
      .set({
        result: sql`jsonb_set(result, ${`{heldBack,${input.index},decision}`}::text[], ${JSON.stringify(decision)}::jsonb)`,
      })
      .where('id', '=', run.id)
      .execute();
    return { change: { ...change, decision }, decision, pricesChanged: version !== null };
  });
}
