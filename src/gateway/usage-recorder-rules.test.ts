import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { refuseUsageRecordsOf, stopUsageRecordFaults } from '../../test/support/database-faults.js';
import { failedCall, settledCall } from '../../test/support/recorded-calls.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { fakeRetryTimeouts, recordTimeoutDelays, restoreRetryTimeouts } from '../../test/support/retry-waits.js';
import { recordedRequestIds, usageRecordRow } from '../../test/support/usage-records.js';
import { until } from '../../test/support/wait.js';
import { CaptureJournal } from '../ledger/capture-journal.js';
import { Ledger } from '../ledger/ledger.js';
import { endUserOf, UsageRecorder, type UsageRecorderOptions } from './usage-recorder.js';
import { writeSerializedUsageRecords, type SerializedUsageRecord } from './usage-writer.js';

const RETRYING = 'usage records could not be written yet; retrying until the database is back';
const REFUSED = 'could not write usage record';
const CLOSING = 'closing with usage records not yet written (database unreachable); the journal keeps them for the next start';

describe('endUserOf', () => {
  it('keeps a non-empty string, cut to 256 characters, and takes nothing else for an end user', () => {
    expect(endUserOf('user-7')).toBe('user-7');
    expect(endUserOf('x'.repeat(256))).toBe('x'.repeat(256));
    expect(endUserOf('y'.repeat(256) + 'z')).toBe('y'.repeat(256));
    for (const notOne of ['', undefined, null, 42, { id: 'user-7' }, ['user-7']]) expect(endUserOf(notOne)).toBeNull();
  });
});

/**
 * What the recorder does when the database cannot take a record: a real fault on the account's usage records
 * (a trigger raising a real SQLSTATE), the real writer, and the retry waits read from a faked setTimeout.
 */
describe.each(backends())('usage recorder rules on $name', (backend) => {
  let database: TestDatabase;
  let directory: string;
  let counter = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database.close();
  });
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-recorder-rules-'));
  });
  afterEach(async () => {
    restoreRetryTimeouts();
    rmSync(directory, { recursive: true, force: true });
    await stopUsageRecordFaults(database.db);
  });

  const account = async () => {
    counter += 1;
    return (await new Ledger(database.db).createAccount({ name: `recorder-rules-${counter}`, mode: 'consumption_usd' })).account
      .id;
  };
  const recorded = (accountId: string) => recordedRequestIds(database.db, accountId);
  /** The journal's usage lines, as the request ids of their rows. */
  const journaled = () =>
    readdirSync(directory)
      .flatMap((file) => readFileSync(path.join(directory, file), 'utf8').split('\n'))
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { row: { request_id: string } }).row.request_id);

  /** A recorder whose inserts are the real writer's, each seen as the request ids it carried. */
  const recorderWith = (options: UsageRecorderOptions & { logger?: ReturnType<typeof recordingLogger>['logger'] }) => {
    const inserts: string[][] = [];
    const writeRecords = (records: SerializedUsageRecord[]) => {
      inserts.push(records.map((record) => (JSON.parse(record.json) as { request_id: string }).request_id));
      return writeSerializedUsageRecords(database.db, records);
    };
    const { logger: recording, logged } = recordingLogger();
    const recorder = new UsageRecorder(database.db, options.logger ?? recording, { ...options, writeRecords });
    return { recorder, inserts, logged };
  };

  it('retries records the database cannot take yet as one insert, 25 ms doubling to maxRetryDelayMs, warning once, until written', async () => {
    const accountId = await account();
    const fault = await refuseUsageRecordsOf(database.db, accountId, { sqlstate: '08006' });
    const wait = fakeRetryTimeouts({ from: 'write-retries.ts' });
    const journal = new CaptureJournal(directory, 'inst_retrying', { sync: 'write' });
    const { recorder, inserts, logged } = recorderWith({ lingerMs: 60_000, journal, maxRetryDelayMs: 60 });
    const ids = ['retrying-1', 'retrying-2', 'retrying-3'];
    for (const id of ids) recorder.record(...settledCall(id, accountId, 'gpt-4o-mini'));
    const flushed = recorder.flush();
    const waits: number[] = [];
    for (let n = 0; n < 4; n += 1) {
      waits.push(await wait(n));
      if (n === 3) await fault.stop();
      vi.advanceTimersByTime(waits[n]!);
    }
    await flushed;
    expect(waits).toEqual([25, 50, 60, 60]);
    // The batch is tried whole each time: an unreachable database is no reason to write its records one by one.
    expect(inserts).toEqual([ids, ids, ids, ids, ids]);
    expect(await recorded(accountId)).toEqual(ids);
    expect(logged()).toEqual([{ level: 40, err: expect.objectContaining({ code: '08006' }), records: 3, msg: RETRYING }]);
    // Every record reached the database: the journal keeps nothing for the next start.
    journal.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('by default waits at most 2 s between retries', async () => {
    const accountId = await account();
    const fault = await refuseUsageRecordsOf(database.db, accountId, { sqlstate: '57P01' });
    const wait = fakeRetryTimeouts({ from: 'write-retries.ts' });
    const { recorder, inserts } = recorderWith({ lingerMs: 0 });
    recorder.record(failedCall('patient-1', accountId), { status: 'error', latencyMs: 3 });
    const flushed = recorder.flush();
    const waits: number[] = [];
    for (let n = 0; n < 9; n += 1) {
      waits.push(await wait(n));
      if (n === 8) await fault.stop();
      vi.advanceTimersByTime(waits[n]!);
    }
    await flushed;
    expect(waits).toEqual([25, 50, 100, 200, 400, 800, 1_600, 2_000, 2_000]);
    expect(inserts).toHaveLength(10);
    expect(await recorded(accountId)).toEqual(['patient-1']);
  });

  it('writes a billed call whose journal line cannot be appended (a full disk) to the database; the journal logs it', async () => {
    const accountId = await account();
    // The journal's segment is /dev/full: every write to it fails with ENOSPC, as on a full disk.
    symlinkSync('/dev/full', path.join(directory, `inst_full-${process.pid}-1.journal`));
    const { logger: journalLogger, logged: journalLogged } = recordingLogger();
    const journal = new CaptureJournal(directory, 'inst_full', { sync: 'write', logger: journalLogger });
    const { recorder, logged } = recorderWith({ lingerMs: 60_000, journal });
    for (const id of ['unjournaled-1', 'unjournaled-2'])
      expect(() => recorder.record(...settledCall(id, accountId, 'gpt-4o-mini'))).not.toThrow();
    expect(journalLogged()).toEqual([
      {
        level: 50,
        err: expect.objectContaining({ code: 'ENOSPC' }),
        directory,
        msg: expect.stringMatching(/^cannot append to the capture journal/),
      },
    ]);
    await recorder.flush();
    expect(await recorded(accountId)).toEqual(['unjournaled-1', 'unjournaled-2']);
    expect(logged()).toEqual([]);
    // Nothing was journaled, so nothing waits in the journal: it closes clean.
    journal.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('does not retry a record the database refuses: it is logged by request id and its journal line is done', async () => {
    const accountId = await account();
    await refuseUsageRecordsOf(database.db, accountId);
    const delays = recordTimeoutDelays();
    const journal = new CaptureJournal(directory, 'inst_refused', { sync: 'write' });
    const { recorder, inserts, logged } = recorderWith({ lingerMs: 0, journal });
    recorder.record(...settledCall('refused-1', accountId, 'gpt-4o-mini'));
    await recorder.flush();
    expect(inserts).toEqual([['refused-1']]);
    expect(delays().filter((delay) => typeof delay === 'number' && delay < 5_000)).toEqual([]);
    expect(await recorded(accountId)).toEqual([]);
    expect(logged()).toEqual([
      { level: 50, err: expect.objectContaining({ code: 'P0001' }), requestId: 'refused-1', msg: REFUSED },
    ]);
    journal.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('writes a refused batch one record at a time: a refusal is logged, one the database cannot take yet is retried alone', async () => {
    const [refusing, unreachable, fine] = [await account(), await account(), await account()];
    await refuseUsageRecordsOf(database.db, refusing);
    const fault = await refuseUsageRecordsOf(database.db, unreachable, { sqlstate: '08006' });
    const wait = fakeRetryTimeouts({ from: 'write-retries.ts' });
    const { recorder, inserts, logged } = recorderWith({ lingerMs: 60_000 });
    // The refusing account's record first, so that the batch's insert fails with the refusal, not the outage.
    recorder.record(failedCall('mixed-refused', refusing), { status: 'error', latencyMs: 1 });
    recorder.record(failedCall('mixed-waiting', unreachable), { status: 'error', latencyMs: 1 });
    recorder.record(failedCall('mixed-fine', fine), { status: 'error', latencyMs: 1 });
    const flushed = recorder.flush();
    expect(await wait(0)).toBe(25);
    expect(inserts).toEqual([
      ['mixed-refused', 'mixed-waiting', 'mixed-fine'],
      ['mixed-refused'],
      ['mixed-waiting'],
      ['mixed-fine'],
    ]);
    expect(await recorded(fine)).toEqual(['mixed-fine']);
    await fault.stop();
    vi.advanceTimersByTime(25);
    await flushed;
    expect(inserts.slice(4)).toEqual([['mixed-waiting']]);
    expect([await recorded(refusing), await recorded(unreachable)]).toEqual([[], ['mixed-waiting']]);
    expect(logged()).toEqual([
      { level: 50, err: expect.objectContaining({ code: 'P0001' }), requestId: 'mixed-refused', msg: REFUSED },
      { level: 40, err: expect.objectContaining({ code: '08006' }), records: 1, msg: RETRYING },
    ]);
  });

  it('journals the record of a billed call only, before it is written', async () => {
    const accountId = await account();
    const journal = new CaptureJournal(directory, 'inst_billed', { sync: 'write' });
    const { recorder } = recorderWith({ lingerMs: 60_000, journal });
    recorder.record(failedCall('unbilled-1', accountId), { status: 'error', latencyMs: 1 });
    recorder.record(...settledCall('billed-1', accountId, 'gpt-4o-mini'));
    expect(journaled()).toEqual(['billed-1']);
    expect(await recorded(accountId)).toEqual([]);
    await recorder.flush();
    expect(await recorded(accountId)).toEqual(['billed-1', 'unbilled-1']);
    journal.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('closing writes what lingers and says nothing when the database takes it', async () => {
    const accountId = await account();
    const journal = new CaptureJournal(directory, 'inst_closed', { sync: 'write' });
    const { recorder, logged } = recorderWith({ lingerMs: 60_000, journal });
    recorder.record(...settledCall('closed-1', accountId, 'gpt-4o-mini'));
    await recorder.close();
    expect(await recorded(accountId)).toEqual(['closed-1']);
    expect(logged()).toEqual([]);
    journal.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('closing with the database unreachable gives up after its timeout, warns, stops retrying, and leaves the record journaled', async () => {
    const accountId = await account();
    await refuseUsageRecordsOf(database.db, accountId, { sqlstate: '08006' });
    const journal = new CaptureJournal(directory, 'inst_closing', { sync: 'write' });
    const { recorder, inserts, logged } = recorderWith({ lingerMs: 0, journal, maxRetryDelayMs: 1 });
    recorder.record(...settledCall('closing-1', accountId, 'gpt-4o-mini'));
    await until(() => inserts.length >= 2, 'a retry of the record');
    // The database stays unreachable, so the timeout always runs out first.
    await recorder.close(50);
    // The retries stop: the queue's batch ends (unwritten) instead of retrying for ever.
    await recorder.flush();
    expect(await recorded(accountId)).toEqual([]);
    expect(logged().map((line) => line.msg)).toEqual([RETRYING, CLOSING]);
    // The record is still pending in the journal: its segment stays for the next start to replay.
    journal.close();
    expect(journaled()).toEqual(['closing-1']);
  });

  it('replays in inserts of at most 500 records, each record once', async () => {
    const accountId = await account();
    const { recorder, inserts } = recorderWith({ lingerMs: 0 });
    const createdAt = new Date().toISOString();
    const rows = Array.from({ length: 1_000 }, (_, index) =>
      usageRecordRow(`replayed-${String(index).padStart(3, '0')}`, accountId, createdAt),
    );
    await recorder.replay(rows);
    expect(inserts.map((insert) => insert.length)).toEqual([500, 500]);
    expect(await recorded(accountId)).toEqual(rows.map((row) => row.request_id));
    // Replayed again (a second start over the same journal): nothing is recorded twice.
    await recorder.replay(rows.slice(998));
    expect(await recorded(accountId)).toHaveLength(1_000);
  });

  it('by default lets a record wait 100 ms for company', async () => {
    const accountId = await account();
    const wait = fakeRetryTimeouts({ from: 'group-commit.ts' });
    const recorder = new UsageRecorder(database.db, recordingLogger().logger);
    recorder.record(failedCall('lingering-1', accountId), { status: 'error', latencyMs: 1 });
    expect(await wait(0)).toBe(100);
    expect(await recorded(accountId)).toEqual([]);
    vi.advanceTimersByTime(100);
    await recorder.flush();
    expect(await recorded(accountId)).toEqual(['lingering-1']);
  });

  it("records a failed call's debit in its account's unit: tokens for a token budget, dollars otherwise", async () => {
    const accountId = await account();
    const { recorder } = recorderWith({ lingerMs: 0 });
    const tokens = failedCall('unit-tokens', accountId);
    tokens.caller = { ...tokens.caller, mode: 'consumption_tokens' };
    const jobs = failedCall('unit-job', accountId);
    jobs.caller = { ...jobs.caller, mode: 'job_based' };
    for (const call of [tokens, jobs, failedCall('unit-usd', accountId)])
      recorder.record(call, { status: 'error', latencyMs: 1 });
    await recorder.flush();
    const units = await database.db
      .selectFrom('usage_records')
      .select(['request_id', 'debit_unit', 'debit'])
      .where('account_id', '=', accountId)
      .orderBy('request_id')
      .execute();
    expect(units).toEqual([
      { request_id: 'unit-job', debit_unit: 'usd', debit: '0' },
      { request_id: 'unit-tokens', debit_unit: 'tokens', debit: '0' },
      { request_id: 'unit-usd', debit_unit: 'usd', debit: '0' },
    ]);
  });

  it('replay waits for the database to come back, and fails with the refusal of a record it cannot write', async () => {
    const [waiting, refusing] = [await account(), await account()];
    const fault = await refuseUsageRecordsOf(database.db, waiting, { sqlstate: '08006' });
    await refuseUsageRecordsOf(database.db, refusing);
    const wait = fakeRetryTimeouts({ from: 'write-retries.ts' });
    const { recorder } = recorderWith({ lingerMs: 0 });
    const createdAt = new Date().toISOString();
    const replayed = recorder.replay([usageRecordRow('replay-waiting', waiting, createdAt)]);
    const first = await wait(0);
    await fault.stop();
    vi.advanceTimersByTime(first);
    await replayed;
    expect(await recorded(waiting)).toEqual(['replay-waiting']);
    restoreRetryTimeouts();
    // The other records of a refused record's batch are written; the replay then fails with the refusal.
    await expect(
      recorder.replay([usageRecordRow('replay-kept', waiting, createdAt), usageRecordRow('replay-refused', refusing, createdAt)]),
    ).rejects.toMatchObject({ code: 'P0001' });
    expect([await recorded(waiting), await recorded(refusing)]).toEqual([['replay-kept', 'replay-waiting'], []]);
    // Alone, a refused record fails the replay the same way.
    await expect(recorder.replay([usageRecordRow('replay-refused-alone', refusing, createdAt)])).rejects.toMatchObject({
      code: 'P0001',
    });
  });
});
