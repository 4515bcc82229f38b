import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { releaseHold } from './settlement.js';

/**
 * What the gateway does for the instances that died: declare the silent ones dead, release what they held
 * (a credit lease gives back only what its calls did not draw: their captures stand), and forget them.
 */

/**
 * Marks stopped every instance whose heartbeat (by the database's clock) is older than `silenceMs`. The
 * conditional update races a late heartbeat safely: under the row lock one of them wins, and a heartbeat that
 * loses finds the instance stopped (GatewayInstance then drops its leases). Returns the ids declared dead.
 */
export async function declareSilentInstancesDead(db: Kysely<Schema>, silenceMs: number): Promise<string[]> {
  const rows = await db
    .updateTable('gateway_instances')
    .set({ stopped_at: sql<Date>`now()` })
    .where('stopped_at', 'is', null)
    .where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${silenceMs / 1000})`)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Marks these instances stopped (their process is known to be gone: a journal's owner, PGlite's lone owner). */
export async function declareInstancesDead(db: Kysely<Schema>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('gateway_instances')
    .set({ stopped_at: sql<Date>`now()` })
    .where('id', 'in', ids)
    .where('stopped_at', 'is', null)
    .execute();
}

/**
 * Releases the open holds and credit leases owned by stopped instances, or by instances with no row at all
 * (except `exceptId`, this process). Returns how many were released.
 */
export async function releaseHoldsOfDeadInstances(
  db: Kysely<Schema>,
  options: { exceptId?: string; batch?: number } = {},
): Promise<number> {
  const batch = options.batch ?? 500;
  let released = 0;
  for (;;) {
    let query = db
      .selectFrom('ledger_entries as hold')
      .leftJoin('gateway_instances as owner', 'owner.id', 'hold.owner_id')
      .select('hold.request_id')
      .where('hold.kind', '=', 'hold')
      .where('hold.owner_id', 'is not', null)
      .where((eb) => eb.or([eb('owner.id', 'is', null), eb('owner.stopped_at', 'is not', null)]))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('ledger_entries as settled')
              .select('settled.id')
              .whereRef('settled.request_id', '=', 'hold.request_id')
              .where('settled.kind', 'in', ['capture', 'release']),
          ),
        ),
      )
      .orderBy('hold.id')
      .limit(batch);
    if (options.exceptId) query = query.where('hold.owner_id', '<>', options.exceptId);
    const rows = await query.execute();
    for (const row of rows) {
      const outcome = await releaseHold(db, row.request_id, 'released: its gateway instance stopped or went silent');
      if (outcome.released) released += 1;
    }
    if (rows.length < batch) return released;
  }
}

/**
 * Deletes instances stopped more than `afterHours` ago that hold nothing any more (a missing owner counts as
 * dead everywhere, so forgetting one changes nothing but the table's size).
 */
export async function forgetStoppedInstances(db: Kysely<Schema>, afterHours: number): Promise<number> {
  const result = await db
    .deleteFrom('gateway_instances')
    .where('stopped_at', '<', sql<Date>`now() - make_interval(hours => ${afterHours})`)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('ledger_entries as hold')
            .select('hold.id')
            .whereRef('hold.owner_id', '=', 'gateway_instances.id')
            .where('hold.kind', '=', 'hold')
            .where(({ not: none, exists: any, selectFrom: from }) =>
              none(
                any(
                  from('ledger_entries as settled')
                    .select('settled.id')
                    .whereRef('settled.request_id', '=', 'hold.request_id')
                    .where('settled.kind', 'in', ['capture', 'release']),
                ),
              ),
            ),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
