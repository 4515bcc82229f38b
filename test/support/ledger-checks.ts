import { sql, type Kysely, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Schema } from '../../src/db/schema.js';
import type { Db } from '../../src/db/database.js';
import { Ledger } from '../../src/ledger/ledger.js';
import type { Backend, TestDatabase } from './backends.js';
import { Decimal } from '../../src/money/decimal.js';
import { WAIT_LIMIT_MS } from './wait.js';

/** The same database through a handle that counts the statements it sends (each one a round trip). */
export function countingHandle(db: Kysely<Schema>): { db: Kysely<Schema>; statements: () => number } {
  let count = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      count += 1;
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  return { db: db.withPlugin(plugin), statements: () => count };
}

/**
 * A gateway instance's row as another process would have left it: its heartbeat `heartbeatSecondsAgo` old by
 * the database's clock, and stopped `stoppedHoursAgo` hours ago if given (default host `rules.invalid`, pid 1).
 */
export async function insertInstanceRow(
  db: Db,
  id: string,
  options: { host?: string; pid?: number; heartbeatSecondsAgo?: number; stoppedHoursAgo?: number } = {},
): Promise<void> {
  await db
    .insertInto('gateway_instances')
    .values({
      id,
      host: options.host ?? 'rules.invalid',
      pid: options.pid ?? 1,
      heartbeat_at: sql<Date>`now() - make_interval(secs => ${options.heartbeatSecondsAgo ?? 0})`,
      ...(options.stoppedHoursAgo !== undefined
        ? { stopped_at: sql<Date>`now() - make_interval(hours => ${options.stoppedHoursAgo})` }
        : {}),
    } as never)
    .execute();
}

/** When the instance's row says it stopped (null: running; undefined: no such row). */
export async function stoppedAtOf(db: Db, id: string): Promise<Date | null | undefined> {
  return (await db.selectFrom('gateway_instances').select('stopped_at').where('id', '=', id).executeTakeFirst())?.stopped_at;
}

/** The ledger entries of one account, oldest first. */
export async function entriesOf(db: Db, accountId: string) {
  return db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('id', 'asc').execute();
}

/**
 * What every end-to-end test checks afterwards (once the harness has flushed): no hold is left open (every
 * hold ended captured or released), every capture was drawn on its own hold or on a credit lease of the same
 * account, a closed lease gave back exactly its amount less what its calls drew, available equals balance,
 * and `verify` holds for every account.
 */
export async function expectSettled(db: Db, ledger: Ledger, accountId: string): Promise<void> {
  const entries = await entriesOf(db, accountId);
  const holds = entries.filter((entry) => entry.kind === 'hold');
  for (const hold of holds) {
    const settled = entries.some(
      (entry) => entry.request_id === hold.request_id && (entry.kind === 'capture' || entry.kind === 'release'),
    );
    expect(settled, `hold of ${hold.request_id} is still open`).toBe(true);
    const release = entries.find((entry) => entry.request_id === hold.request_id && entry.kind === 'release');
    if (release) {
      const drawn = Decimal.sum(
        entries
          .filter((entry) => entry.kind === 'capture' && entry.lease_id === hold.request_id)
          .map((entry) => Decimal.parse(entry.amount).neg()),
      );
      const expected = Decimal.max(Decimal.ZERO, Decimal.parse(hold.amount).sub(drawn));
      expect(Decimal.parse(release.amount).toString(), `release of ${hold.request_id}`).toBe(expected.toString());
    }
  }
  for (const capture of entries.filter((entry) => entry.kind === 'capture')) {
    const holdId = capture.lease_id ?? capture.request_id;
    expect(
      holds.some((hold) => hold.request_id === holdId),
      `capture of ${capture.request_id} draws on ${holdId}, which is no hold of this account`,
    ).toBe(true);
  }
  const account = await ledger.getAccount(accountId);
  expect(account.available.toString()).toBe(account.balance.toString());
  const verification = await ledger.verify();
  expect(verification.ok).toBe(true);
}

/** The kinds of an account's entries, oldest first. */
export async function kindsOf(db: Db, accountId: string): Promise<string[]> {
  return (await entriesOf(db, accountId)).map((entry) => entry.kind);
}

/** Σ capture amounts of an account (what it was charged), exactly. */
export async function capturedTotal(db: Db, accountId: string): Promise<Decimal> {
  const entries = await entriesOf(db, accountId);
  return Decimal.sum(entries.filter((entry) => entry.kind === 'capture').map((entry) => Decimal.parse(entry.amount).abs()));
}

/**
 * Polls until `check` passes (for work that settles after the response); `timeoutMs` only guards against a
 * hang (see support/wait.ts), it is no claim about how soon.
 */
export async function eventually(check: () => Promise<void>, timeoutMs = WAIT_LIMIT_MS): Promise<void> {
  // performance.now(), not Date.now(): a test may fake Date (vitest fake timers) while it waits.
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/**
 * The usual ledger suite setup: a fresh database of `backend` and a Ledger on it before the suite's tests, closed
 * after them. `use` receives both (assign them to the suite's variables).
 */
export function openLedgerFor(backend: Backend, use: (opened: { database: TestDatabase; ledger: Ledger }) => void): void {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await backend.open();
    use({ database, ledger: new Ledger(database.db) });
  });
  afterAll(async () => {
    await database?.close();
  });
}
