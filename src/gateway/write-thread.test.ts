import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/ledger-checks.js';
import { postgresBackend, type TestDatabase } from '../../test/support/backends.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { recordedRequestIds, usageRecordRow } from '../../test/support/usage-records.js';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import { postgresKysely } from '../db/database.js';
import { captureBatch } from '../ledger/capture-batch.js';
import { captureFromRecord, journalRecord } from '../ledger/capture-writer.js';
import { HoldNotFoundError } from '../ledger/errors.js';
import { Ledger } from '../ledger/ledger.js';
import type { CaptureInput } from '../ledger/settlement.js';
import { Decimal } from '../money/decimal.js';
import { writeSerializedUsageRecords, type UsageRecordRow } from './usage-writer.js';
import { errorToWire, resultToWire, WriteThread } from './write-thread.js';

const d = (text: string) => Decimal.parse(text);
const line = (capture: CaptureInput) => JSON.stringify(journalRecord(capture));
const postgres = postgresBackend();

async function postgresConnection(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** The thread's answers cross as structured clones: what each keeps is what its writer reads on the other side. */
describe('what crosses between the write thread and the serving thread', () => {
  it("keeps an error's name, message, text SQLSTATE and stack, a missing hold's request id, and the text of anything else thrown", () => {
    const refused = Object.assign(new Error('insert or update violates a foreign key'), { code: '23503' });
    refused.name = 'DatabaseError';
    expect(errorToWire(refused)).toEqual({
      name: 'DatabaseError',
      message: 'insert or update violates a foreign key',
      code: '23503',
      stack: refused.stack,
    });
    // A code that is not a SQLSTATE's text, and a missing stack, are left out rather than sent as they are.
    const numbered = Object.assign(new Error('numbered'), { code: 7 });
    numbered.stack = undefined;
    expect(errorToWire(numbered)).toStrictEqual({ name: 'Error', message: 'numbered' });
    const missing = new HoldNotFoundError('req_wire_1');
    expect(errorToWire(missing)).toEqual({
      name: 'HoldNotFoundError',
      message: missing.message,
      code: 'hold_not_found',
      stack: missing.stack,
      holdId: 'req_wire_1',
    });
    expect(errorToWire('a refusal as text')).toStrictEqual({ name: 'Error', message: 'a refusal as text' });
  });

  it("sends a capture's outcome with its amounts as their exact text, and a capture's error as an error", () => {
    const outcome = {
      captured: d('0.000000000000000001'),
      released: d('0.4999'),
      overdraft: d('0.25'),
      shortfall: d('0.125'),
      balance: d('-3.5'),
      available: d('12'),
      replayed: true,
    };
    expect(resultToWire({ value: outcome })).toEqual({
      value: {
        captured: '0.000000000000000001',
        released: '0.4999',
        overdraft: '0.25',
        shortfall: '0.125',
        balance: '-3.5',
        available: '12',
        replayed: true,
      },
    });
    expect(resultToWire({ error: new HoldNotFoundError('req_wire_2') })).toEqual({
      error: expect.objectContaining({ name: 'HoldNotFoundError', holdId: 'req_wire_2' }),
    });
  });
});

/**
 * The write thread runs on PostgreSQL only (PGlite belongs to the thread that opened it). What it answers must
 * be what the same batch answers in the serving thread, errors included, and a thread that dies must cost
 * nothing but a retry.
 */
describe.skipIf(!postgres)('write thread on PostgreSQL', () => {
  let database: TestDatabase;
  let ledger: Ledger;
  let thread: WriteThread;
  let counter = 0;
  const { logger, logged } = recordingLogger('warn');

  beforeAll(async () => {
    database = await postgres!.open();
    ledger = new Ledger(database.db);
    thread = new WriteThread(database.url!, database.db, logger);
  });
  afterAll(async () => {
    await thread.close();
    await database.close();
  });

  const account = async (credits: string) => {
    counter += 1;
    return (await ledger.createAccount({ name: `thread-${counter}`, mode: 'consumption_usd', credits: d(credits) })).account.id;
  };
  const held = async (accountId: string, amount: string) => {
    counter += 1;
    const requestId = `req_thread_${counter}`;
    await ledger.hold({ accountId, requestId, amount: d(amount) });
    return requestId;
  };
  const serialized = (rows: UsageRecordRow[]) => rows.map((row) => ({ json: JSON.stringify(row), createdAt: row.created_at }));
  const recordedIds = (accountId: string) => recordedRequestIds(database.db, accountId);

  it('settles a batch of captures with the amounts the serving thread computes, and replays a capture made before', async () => {
    const accountId = await account('10');
    const first = await held(accountId, '1');
    const second = await held(accountId, '0.5');
    const results = await thread.captures([
      line({ requestId: first, amount: d('0.25'), priceVersion: 3, usage: { input: 7 } }),
      line({ requestId: second, amount: d('0.75') }),
    ]);
    const outcomes = results.map((result) => ('value' in result ? result.value : result.error));
    expect(outcomes).toEqual([
      {
        captured: d('0.25'),
        released: d('0.75'),
        overdraft: d('0'),
        shortfall: d('0'),
        balance: d('9.75'),
        available: d('9.25'),
        replayed: false,
      },
      // Past its hold of 0.5: the rest comes from available.
      {
        captured: d('0.75'),
        released: d('0'),
        overdraft: d('0.25'),
        shortfall: d('0'),
        balance: d('9'),
        available: d('9'),
        replayed: false,
      },
    ]);
    // Every amount is a Decimal again, as the writers use it.
    expect((outcomes[0] as { captured: Decimal }).captured).toBeInstanceOf(Decimal);
    // The same capture again, in the serving thread: a replay of the first outcome, nothing written twice.
    const again = await captureBatch(database.db, [captureFromRecord(line({ requestId: first, amount: d('0.25') }))]);
    expect(again).toEqual([{ value: expect.objectContaining({ captured: d('0.25'), replayed: true, balance: d('9') }) }]);
    const [replayed] = await thread.captures([line({ requestId: second, amount: d('0.75') })]);
    expect(replayed).toEqual({ value: expect.objectContaining({ captured: d('0.75'), replayed: true }) });
    const entries = await database.db
      .selectFrom('ledger_entries')
      .select(['request_id', 'amount', 'price_version', 'usage'])
      .where('account_id', '=', accountId)
      .where('kind', '=', 'capture')
      .orderBy('id')
      .execute();
    expect(entries.map((entry) => [entry.request_id, d(entry.amount).toString(), entry.price_version, entry.usage])).toEqual([
      [first, '-0.25', 3, { input: 7 }],
      [second, '-0.75', null, null],
    ]);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('gives each capture its own error, as the error it is: a hold that does not exist is a HoldNotFoundError', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId, '0.5');
    const results = await thread.captures([
      line({ requestId: 'req_thread_no_such_hold', amount: d('0.1') }),
      line({ requestId, amount: d('0.1') }),
    ]);
    expect('error' in results[0]! && results[0].error).toBeInstanceOf(HoldNotFoundError);
    expect('error' in results[0]! && (results[0].error as HoldNotFoundError).requestId).toBe('req_thread_no_such_hold');
    expect(results[1]).toEqual({ value: expect.objectContaining({ captured: d('0.1'), replayed: false }) });
  });

  it('writes usage records once: a batch written again counts none new', async () => {
    const accountId = await account('1');
    const rows = [0, 1, 2].map((n) =>
      usageRecordRow(`req_thread_usage_${counter}_${n}`, accountId, new Date(Date.UTC(2026, 10, 30, 12, n)).toISOString()),
    );
    expect(await thread.usageRecords(serialized(rows))).toBe(3);
    expect(await thread.usageRecords(serialized(rows))).toBe(0);
    expect(await recordedIds(accountId)).toEqual(rows.map((row) => row.request_id).sort());
  });

  it('answers a batch the database refuses with the database error and its SQLSTATE', async () => {
    const rows = [usageRecordRow('req_thread_no_account', '00000000-0000-0000-0000-000000000000', new Date().toISOString())];
    rows.push({ ...rows[0]!, request_id: 'req_thread_no_account_2' });
    // No such account: the foreign key refuses the batch (23503), which is not a reason to retry.
    const refused = await thread.usageRecords(serialized(rows)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: '23503' });
    expect(isDatabaseUnavailable(refused)).toBe(false);
    // Its stack is where the thread met it (the driver's), for the log.
    expect((refused as Error).stack).toContain('node_modules/pg/');
  });

  it('fails the batches of a thread that dies as "database unavailable" (their writers retry), and the next batch starts a new thread', async () => {
    const accountId = await account('1');
    const rows = [usageRecordRow(`req_thread_dies_${counter}`, accountId, new Date().toISOString())];
    await thread.usageRecords([]); // a thread running
    const worker = (thread as unknown as { worker: { terminate(): Promise<number> } }).worker;
    const inFlight = thread.usageRecords(serialized(rows)).catch((error: unknown) => error);
    await worker.terminate();
    const failure = await inFlight;
    // Whether or not the batch committed before the thread died, its retry writes the record exactly once.
    if (failure !== 1) expect(isDatabaseUnavailable(failure)).toBe(true);
    expect(await thread.usageRecords(serialized(rows))).toBe(failure === 1 ? 0 : 1);
    expect(await recordedIds(accountId)).toEqual([rows[0]!.request_id]);
    if (failure !== 1)
      expect(failure).toMatchObject({ message: expect.stringContaining('the write thread stopped (it exited with code 1)') });
    expect(logged().filter((entry) => entry.msg === 'the write thread stopped; its batches are retried on a new one')).toEqual(
      failure === 1
        ? []
        : [
            expect.objectContaining({
              level: 50,
              err: expect.objectContaining({ message: 'it exited with code 1' }),
              batches: 1,
            }),
          ],
    );
  });

  it('when a thread cannot start at all, writes the batches in the serving thread instead, and says so once', async () => {
    const { logger: ownLogger, logged: ownLogged } = recordingLogger('warn');
    const broken = new WriteThread(database.url!, database.db, ownLogger, {
      entry: new URL('./no-such-module.js', import.meta.url),
    });
    const accountId = await account('1');
    const requestId = await held(accountId, '0.5');
    const rows = [usageRecordRow(`req_thread_fallback_${counter}`, accountId, new Date().toISOString())];
    const first = await broken.usageRecords(serialized(rows)).catch((error: unknown) => error);
    expect(isDatabaseUnavailable(first)).toBe(true);
    // Its writer's retry (and every batch after it) runs here.
    expect(await broken.usageRecords(serialized(rows))).toBe(1);
    expect(await broken.captures([line({ requestId, amount: d('0.2') })])).toEqual([
      { value: expect.objectContaining({ captured: d('0.2'), replayed: false }) },
    ]);
    // The thread's own error (its module not found), not only that it exited.
    expect(ownLogged()).toEqual([
      expect.objectContaining({
        level: 50,
        err: expect.objectContaining({ message: expect.stringContaining('no-such-module') }),
        msg: 'the write thread could not start; captures and usage records are written by the serving thread',
      }),
    ]);
    await broken.close();
  });

  it('closed while a batch cannot finish (the database stalls it): stops the thread after the wait, fails the batch as "database unavailable" and says the journal keeps it', async () => {
    const { logger: ownLogger, logged: ownLogged } = recordingLogger('warn');
    const closing = new WriteThread(database.url!, database.db, ownLogger);
    const accountId = await account('1');
    const rows = [usageRecordRow(`req_thread_stalled_${counter}`, accountId, new Date().toISOString())];
    // Another transaction holds the account's row: the records' foreign-key check waits for it.
    const blocker = await postgresConnection(database.url!);
    await blocker.query('begin');
    await blocker.query('select id from accounts where id = $1 for update', [accountId]);
    try {
      const stalled = closing.usageRecords(serialized(rows)).catch((error: unknown) => error);
      // Read outside the blocker's transaction, which would see one snapshot of the activity throughout.
      await eventually(async () => {
        const { rows: waiting } = await sql<{ count: string }>`
          select count(*)::text as count from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(database.db);
        expect(waiting[0]!.count).toBe('1');
      });
      await closing.close(100);
      expect(isDatabaseUnavailable(await stalled)).toBe(true);
      expect(ownLogged()).toEqual([
        expect.objectContaining({
          level: 40,
          batches: 1,
          msg: 'the write thread closed with batches in flight; the capture journal keeps them',
        }),
      ]);
    } finally {
      await blocker.query('rollback');
      await blocker.end();
    }
    // The stopped thread's query may still commit once the lock is gone; the journal's replay writes the record
    // again, and it is there once either way.
    await writeSerializedUsageRecords(database.db, serialized(rows));
    expect(await recordedIds(accountId)).toEqual([rows[0]!.request_id]);
  });

  it('refuses batches once closed, as "database unavailable" (what is left stays in the journal)', async () => {
    const { logger: ownLogger, logged: ownLogged } = recordingLogger('warn');
    const closing = new WriteThread(database.url!, database.db, ownLogger);
    expect(await closing.usageRecords([])).toBe(0);
    await closing.close();
    const refused = await closing.usageRecords([]).catch((error: unknown) => error);
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(refused).toMatchObject({ message: 'the database is unreachable: the write thread is closed' });
    // Closed with nothing in flight: nothing to say.
    expect(ownLogged()).toEqual([]);
  });

  it("runs the batches on its own connections: the serving thread's handle is not used (here it reaches no server)", async () => {
    // Nothing listens on loopback port 1: any query through this handle fails at once.
    const nowhere = postgresKysely('postgres://postgres@127.0.0.1:1/nowhere', { max: 1, onError: () => undefined });
    const { logger: ownLogger, logged: ownLogged } = recordingLogger('warn');
    const own = new WriteThread(database.url!, nowhere.db, ownLogger);
    try {
      const accountId = await account('1');
      const requestId = await held(accountId, '0.5');
      const rows = [usageRecordRow(`req_thread_own_${counter}`, accountId, new Date().toISOString())];
      expect(await own.usageRecords(serialized(rows))).toBe(1);
      expect(await own.captures([line({ requestId, amount: d('0.2') })])).toEqual([
        { value: expect.objectContaining({ captured: d('0.2'), replayed: false }) },
      ]);
      expect(await recordedIds(accountId)).toEqual([rows[0]!.request_id]);
      expect(ownLogged()).toEqual([]);
    } finally {
      await own.close();
      await nowhere.db.destroy();
    }
  });
});
