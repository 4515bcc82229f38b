import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { fakeRetryTimeouts, recordTimeoutDelays, restoreRetryTimeouts } from '../../test/support/retry-waits.js';
import { Decimal } from '../money/decimal.js';
import { CaptureJournal } from './capture-journal.js';
import { captureBatch } from './capture-batch.js';
import { CaptureWriter, captureFromRecord, captureOfRecord, journalRecord } from './capture-writer.js';
import { DatabaseUnavailableError } from '../db/database-errors.js';
import { batchChannel, type BatchEvent } from '../db/group-commit.js';
import { Ledger } from './ledger.js';
import { refuseEntriesOf, stopEntryFaults } from '../../test/support/database-faults.js';
import { nextTurn, untilNextTurns } from '../../test/support/wait.js';

const d = (text: string) => Decimal.parse(text);
const JOURNAL_FAILING =
  'cannot append to the capture journal; until it can, captures are written to the database before their calls are answered, and usage records without a journal line';

describe('journalRecord', () => {
  it('keeps exactly the fields a replay needs: a lease only when named, a price version even when 0, usage and breakdown when given', () => {
    expect(journalRecord({ requestId: 'req_1', amount: d('0.0100') })).toEqual({
      type: 'capture',
      requestId: 'req_1',
      amount: '0.01',
    });
    // Absent fields are not there at all (not there as undefined).
    expect(Object.keys(journalRecord({ requestId: 'req_1', amount: d('0.0100') }))).toEqual(['type', 'requestId', 'amount']);
    const full = journalRecord({
      requestId: 'req_2',
      amount: d('3'),
      leaseId: 'lease_a',
      priceVersion: 0,
      usage: null,
      breakdown: { lines: [] },
    });
    expect(full).toEqual({
      type: 'capture',
      requestId: 'req_2',
      leaseId: 'lease_a',
      amount: '3',
      priceVersion: 0,
      usage: null,
      breakdown: { lines: [] },
    });
    expect(Object.keys(full)).toEqual(['type', 'requestId', 'leaseId', 'amount', 'priceVersion', 'usage', 'breakdown']);
    expect(journalRecord({ requestId: 'req_3', amount: d('1'), leaseId: '' })).toEqual({
      type: 'capture',
      requestId: 'req_3',
      amount: '1',
    });
  });
});

describe('captureOfRecord and captureFromRecord', () => {
  it('give back the capture a journal line holds: the amount exact, only the fields the line has', () => {
    const full = {
      requestId: 'req_9',
      amount: d('0.000000000000000001'),
      leaseId: 'lease_b',
      priceVersion: 0,
      usage: null,
      breakdown: { lines: [1] },
    };
    const back = captureFromRecord(JSON.stringify(journalRecord(full)));
    expect(back).toEqual(full);
    expect(back.amount).toBeInstanceOf(Decimal);
    expect(back.amount.toString()).toBe('0.000000000000000001');
    expect(Object.keys(back)).toEqual(['requestId', 'amount', 'leaseId', 'priceVersion', 'usage', 'breakdown']);
    expect(Object.keys(captureOfRecord({ type: 'capture', requestId: 'req_10', amount: '2' }))).toEqual(['requestId', 'amount']);
  });
});

describe.each(backends())('capture writer rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let directory: string;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-writer-rules-'));
  });
  afterEach(async () => {
    restoreRetryTimeouts();
    rmSync(directory, { recursive: true, force: true });
    await stopEntryFaults(database.db);
  });

  const account = async (credits: string, overdraftLimit?: string) => {
    counter += 1;
    return (
      await ledger.createAccount({
        name: `writer-${counter}`,
        mode: 'consumption_usd',
        credits: d(credits),
        ...(overdraftLimit ? { overdraftLimit: d(overdraftLimit) } : {}),
      })
    ).account.id;
  };
  const held = async (accountId: string, amount = '0.5') => {
    counter += 1;
    const requestId = `req_writer_${counter}`;
    await ledger.hold({ accountId, requestId, amount: d(amount) });
    return requestId;
  };
  const captures = async (accountId: string) =>
    (
      await database.db
        .selectFrom('ledger_entries')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('kind', '=', 'capture')
        .execute()
    ).map((row) => [row.request_id, d(row.amount).toString()]);
  const files = () => readdirSync(directory);

  /** A real database error with SQLSTATE `errcode` on every capture entry of the account, until stopped. */
  const failCaptures = async (accountId: string, errcode: string) =>
    (await refuseEntriesOf(database.db, accountId, { sqlstate: errcode })).stop;

  it('journals a capture before it is queued, writes it, and marks it written so the journal file goes at close', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const journal = new CaptureJournal(directory, 'inst_writer', { sync: 'write' });
    const writer = new CaptureWriter(database.db, { lingerMs: 0, journal });
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
    const { written, durable } = writer.submit({ requestId, amount: d('0.125'), priceVersion: 2 });
    expect(files().map((file) => readFileSync(path.join(directory, file), 'utf8'))).toEqual([
      `{"type":"capture","requestId":"${requestId}","amount":"0.125","priceVersion":2}\n`,
    ]);
    await durable;
    const outcome = await written;
    expect([outcome.captured, outcome.released, outcome.shortfall, outcome.balance].map(String)).toEqual([
      '0.125',
      '0.375',
      '0',
      '0.875',
    ]);
    await writer.idle();
    journal.close();
    expect(files()).toEqual([]);
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
  });

  it('without a journal, writes the capture and its durable promise resolves at once', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const writer = new CaptureWriter(database.db, { lingerMs: 0 });
    const { written, durable } = writer.submit({ requestId, amount: d('0.2') });
    await durable;
    expect((await written).captured.toString()).toBe('0.2');
    expect(await captures(accountId)).toEqual([[requestId, '-0.2']]);
  });

  it('writes a capture the journal cannot take at once, not lingering, and its durable promise waits for the database', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const gone = path.join(directory, 'gone');
    const { logger, logged } = recordingLogger();
    const journal = new CaptureJournal(gone, 'inst_broken', { sync: 'write', logger });
    rmSync(gone, { recursive: true });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const writer = new CaptureWriter(database.db, { lingerMs: 60_000, journal });
    const { written, durable } = writer.submit({ requestId, amount: d('0.2') });
    let outcome: string | undefined;
    void written.then((value) => (outcome = value.captured.toString()));
    // No timer is advanced: the capture does not wait out the linger, and durable waits for its write.
    await durable;
    expect(outcome).toBe('0.2');
    expect(await captures(accountId)).toEqual([[requestId, '-0.2']]);
    expect(logged()).toEqual([
      { level: 50, err: expect.objectContaining({ code: 'ENOENT' }), directory: gone, msg: JOURNAL_FAILING },
    ]);
  });

  it('a capture the journal cannot take and the ledger refuses rejects its durable promise: its call is not answered as billed', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    await refuseEntriesOf(database.db, accountId);
    const gone = path.join(directory, 'gone');
    const journal = new CaptureJournal(gone, 'inst_refused', { sync: 'write' });
    rmSync(gone, { recursive: true });
    const writer = new CaptureWriter(database.db, { lingerMs: 0, journal });
    const { written, durable } = writer.submit({ requestId, amount: d('0.2') });
    await expect(durable).rejects.toMatchObject({ code: 'P0001' });
    await expect(written).rejects.toMatchObject({ code: 'P0001' });
    expect(writer.stats).toEqual({ lost: 1, discrepancies: 0 });
    expect(await captures(accountId)).toEqual([]);
  });

  it('when the journal cannot sync (fsync mode), durable waits for the database instead of rejecting', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const { logger, logged } = recordingLogger();
    const journal = new CaptureJournal(directory, 'inst_unsynced', { sync: 'fsync', logger });
    // The journal's segment, opened by a first line: its descriptor becomes a pipe's, which takes the capture's
    // line and fails its fdatasync (EINVAL), as a failing disk fails a sync.
    const opened = journal.append({ type: 'usage', row: {} });
    const segment = opened.segment as unknown as { descriptor: number };
    const file = segment.descriptor;
    const fifo = path.join(directory, 'pipe');
    execFileSync('mkfifo', [fifo]);
    segment.descriptor = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const writer = new CaptureWriter(database.db, { lingerMs: 60_000, journal });
    const { written, durable } = writer.submit({ requestId, amount: d('0.3') });
    let outcome: string | undefined;
    void written.then((value) => (outcome = value.captured.toString()));
    // The failed sync is logged; durable waits for the capture's write, which the linger would hold a minute.
    await untilNextTurns(() => logged().length > 0, 'the failed sync logged');
    expect(outcome).toBeUndefined();
    vi.advanceTimersByTime(60_000);
    await durable;
    expect(outcome).toBe('0.3');
    expect(await captures(accountId)).toEqual([[requestId, '-0.3']]);
    expect(logged()).toEqual([
      {
        level: 50,
        err: expect.objectContaining({ code: 'EINVAL' }),
        directory,
        msg: 'could not sync the capture journal to disk; captures that waited on it are answered once the database has them',
      },
    ]);
    closeSync(segment.descriptor);
    segment.descriptor = file;
    journal.written(opened);
  });

  it('lingers for company unless the capture is urgent', async () => {
    const accountId = await account('1');
    const [lingering, urgent] = [await held(accountId), await held(accountId)];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const writer = new CaptureWriter(database.db, { lingerMs: 60_000 });
    const late = writer.submit({ requestId: lingering, amount: d('0.1') }).written;
    const now = writer.submit({ requestId: urgent, amount: d('0.2') }, { urgent: true }).written;
    // Urgent: the batch runs without the linger's timer firing, and takes the lingering one along.
    await now;
    await late;
    expect((await captures(accountId)).sort()).toEqual([
      [lingering, '-0.1'],
      [urgent, '-0.2'],
    ]);
  });

  it('a lingering capture waits for its linger', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const writer = new CaptureWriter(database.db, { lingerMs: 60_000 });
    let done = false;
    const written = writer.submit({ requestId, amount: d('0.1') }).written.then(() => (done = true));
    for (let i = 0; i < 20; i += 1) await nextTurn();
    expect(done).toBe(false);
    vi.advanceTimersByTime(60_000);
    await written;
    expect(await captures(accountId)).toEqual([[requestId, '-0.1']]);
  });

  it('retries a transiently failing capture after 25 ms, doubling, capped at maxRetryDelayMs, warning once, until it is written', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, '40001');
    const wait = fakeRetryTimeouts();
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger, maxRetryDelayMs: 60 });
    const { written } = writer.submit({ requestId, amount: d('0.3') });
    const waits: number[] = [];
    for (let n = 0; n < 4; n += 1) {
      waits.push(await wait(n));
      if (n === 3) await stop();
      vi.advanceTimersByTime(waits[n]!);
    }
    expect(waits).toEqual([25, 50, 60, 60]);
    expect((await written).captured.toString()).toBe('0.3');
    expect(await captures(accountId)).toEqual([[requestId, '-0.3']]);
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
    expect(logged()).toEqual([
      {
        level: 40,
        err: expect.objectContaining({ code: '40001' }),
        captures: 1,
        msg: 'captures could not be written yet; retrying until the database is back',
      },
    ]);
  });

  it('by default caps the retry wait at 2 s', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, '40001');
    const wait = fakeRetryTimeouts();
    const writer = new CaptureWriter(database.db, { lingerMs: 0 });
    const { written } = writer.submit({ requestId, amount: d('0.3') });
    const waits: number[] = [];
    for (let n = 0; n < 9; n += 1) {
      waits.push(await wait(n));
      if (n === 8) await stop();
      vi.advanceTimersByTime(waits[n]!);
    }
    expect(waits).toEqual([25, 50, 100, 200, 400, 800, 1_600, 2_000, 2_000]);
    expect((await written).captured.toString()).toBe('0.3');
  });

  it.each([
    ['a deadlock (40P01)', '40P01'],
    ['a lost connection (08006)', '08006'],
  ])('retries %s too', async (_name, errcode) => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, errcode);
    const wait = fakeRetryTimeouts();
    const writer = new CaptureWriter(database.db, { lingerMs: 0 });
    const { written } = writer.submit({ requestId, amount: d('0.3') });
    const first = await wait(0);
    await stop();
    vi.advanceTimersByTime(first);
    expect((await written).captured.toString()).toBe('0.3');
    expect(writer.stats.lost).toBe(0);
  });

  it("names its batches 'captures' on the batch channel, as the ledger's own capture of a per-call hold does", async () => {
    const accountId = await account('1');
    const [leased, perCall] = [await held(accountId), await held(accountId)];
    const events: BatchEvent[] = [];
    const listener = (event: unknown) => events.push(event as BatchEvent);
    subscribe(batchChannel.name, listener);
    try {
      const writer = new CaptureWriter(database.db, { lingerMs: 0 });
      await writer.submit({ requestId: leased, amount: d('0.1') }).written;
      await ledger.capture({ requestId: perCall, amount: d('0.1') });
    } finally {
      unsubscribe(batchChannel.name, listener);
    }
    expect(events.map((event) => [event.name, event.size])).toEqual([
      ['captures', 1],
      ['captures', 1],
    ]);
  });

  it('retries a batch whose write failed as a whole (its write thread lost) like a transient failure, then writes it', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const wait = fakeRetryTimeouts();
    const { logger, logged } = recordingLogger();
    const batches: string[][] = [];
    const writer = new CaptureWriter(database.db, {
      lingerMs: 0,
      logger,
      write: async (records) => {
        batches.push(records);
        if (batches.length === 1) throw new DatabaseUnavailableError('the write thread stopped (test)');
        return captureBatch(database.db, records.map(captureFromRecord));
      },
    });
    const { written } = writer.submit({ requestId, amount: d('0.3'), priceVersion: 2 });
    vi.advanceTimersByTime(await wait(0));
    expect((await written).captured.toString()).toBe('0.3');
    expect(await captures(accountId)).toEqual([[requestId, '-0.3']]);
    // Both attempts carried the capture as its journal line.
    expect(batches).toEqual([[expect.any(String)], [batches[0]![0]]]);
    expect(JSON.parse(batches[0]![0]!)).toEqual({ type: 'capture', requestId, amount: '0.3', priceVersion: 2 });
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 40,
        captures: 1,
        msg: 'captures could not be written yet; retrying until the database is back',
      }),
    ]);
  });

  it('retries only the captures that failed: the others of the batch keep their first outcome', async () => {
    const failing = await account('1');
    const fine = await account('1');
    const requests = [await held(failing), await held(fine), await held(failing)];
    const stop = await failCaptures(failing, '40001');
    const wait = fakeRetryTimeouts();
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 60_000, logger });
    const written = requests.map((requestId) => writer.submit({ requestId, amount: d('0.1') }).written);
    const idle = writer.idle(); // runs the three lingering captures now, as one batch
    const first = await wait(0);
    await stop();
    vi.advanceTimersByTime(first);
    const outcomes = await Promise.all(written);
    await idle;
    expect(outcomes.map((outcome) => [outcome.captured.toString(), outcome.replayed])).toEqual([
      ['0.1', false],
      ['0.1', false],
      ['0.1', false],
    ]);
    expect(logged()).toEqual([expect.objectContaining({ level: 40, captures: 2 })]);
  });

  it('does not retry a refusal: the capture is counted lost, logged with what replays it, and its journal record is done', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, 'P0001');
    const delays = recordTimeoutDelays();
    const journal = new CaptureJournal(directory, 'inst_refused', { sync: 'write' });
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger, journal });
    const { written } = writer.submit({ requestId, amount: d('0.3'), priceVersion: 5, usage: { tokens: 3 } });
    await expect(written).rejects.toMatchObject({ code: 'P0001' });
    await stop();
    expect(delays().filter((delay) => (delay as number) < 5_000)).toEqual([]);
    expect(writer.stats).toEqual({ lost: 1, discrepancies: 0 });
    expect(logged()).toEqual([
      {
        level: 50,
        err: expect.objectContaining({ code: 'P0001', message: 'the test refuses this capture' }),
        requestId,
        amount: '0.3',
        priceVersion: 5,
        capture: { type: 'capture', requestId, amount: '0.3', priceVersion: 5, usage: { tokens: 3 } },
        msg: 'a capture could not be written to the ledger; the call was served and is not charged',
      },
    ]);
    journal.close();
    expect(files()).toEqual([]);
  });

  it('without a logger, a refusal is still counted and its promise rejects with the ledger error', async () => {
    const accountId = await account('1');
    const writer = new CaptureWriter(database.db, { lingerMs: 0 });
    await expect(writer.submit({ requestId: 'req_writer_no_hold', amount: d('0.3') }).written).rejects.toMatchObject({
      name: 'HoldNotFoundError',
    });
    expect(writer.stats).toEqual({ lost: 1, discrepancies: 0 });
    expect(await captures(accountId)).toEqual([]);
  });

  it('once told to stop retrying, leaves a transiently failing capture in the journal, not lost, without the retry warning', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, '40001');
    const journal = new CaptureJournal(directory, 'inst_stopping', { sync: 'write' });
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger, journal });
    writer.stopRetrying();
    const { written } = writer.submit({ requestId, amount: d('0.3') });
    await expect(written).rejects.toMatchObject({ code: '40001' });
    await stop();
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
    expect(logged()).toEqual([{ level: 40, requestId, msg: 'capture left in the journal for the next start' }]);
    journal.close();
    expect(files()).toEqual([`inst_stopping-${process.pid}-1.journal`]);
  });

  it('told to stop while retrying, gives up at the next failure', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, '40001');
    const wait = fakeRetryTimeouts();
    const journal = new CaptureJournal(directory, 'inst_midway', { sync: 'write' });
    const writer = new CaptureWriter(database.db, { lingerMs: 0, journal });
    const { written } = writer.submit({ requestId, amount: d('0.3') });
    const first = await wait(0);
    writer.stopRetrying();
    vi.advanceTimersByTime(first);
    await expect(written).rejects.toMatchObject({ code: '40001' });
    await stop();
    expect(writer.stats.lost).toBe(0);
    expect(await captures(accountId)).toEqual([]);
  });

  it('without a journal, a capture given up on when stopping is lost and logged', async () => {
    const accountId = await account('1');
    const requestId = await held(accountId);
    const stop = await failCaptures(accountId, '40001');
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger });
    writer.stopRetrying();
    await expect(writer.submit({ requestId, amount: d('0.3') }).written).rejects.toMatchObject({ code: '40001' });
    await stop();
    expect(writer.stats).toEqual({ lost: 1, discrepancies: 0 });
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 50,
        requestId,
        amount: '0.3',
        msg: 'a capture could not be written to the ledger; the call was served and is not charged',
      }),
    ]);
  });

  it('counts and logs a lease capture the ledger settled for less than the call was told (its lease was released meanwhile)', async () => {
    const accountId = await account('1');
    counter += 1;
    const leaseId = `lease_writer_${counter}`;
    await ledger.hold({ accountId, requestId: leaseId, amount: d('1') });
    await ledger.release(leaseId, 'released after a silence');
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger });
    const outcome = await writer.submit({ requestId: 'req_writer_late', leaseId, amount: d('1.5') }).written;
    expect([outcome.captured.toString(), outcome.shortfall.toString()]).toEqual(['1', '0.5']);
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 1 });
    expect(logged()).toEqual([
      {
        level: 50,
        requestId: 'req_writer_late',
        leaseId,
        amount: '1.5',
        shortfall: '0.5',
        msg: 'a capture settled after its credit lease was released: the ledger took less than the call reported',
      },
    ]);
  });

  it('a shortfall on a call of its own hold, or a lease capture paid in full, is no discrepancy', async () => {
    const accountId = await account('1');
    const own = await held(accountId, '0.1');
    counter += 1;
    const leaseId = `lease_writer_${counter}`;
    await ledger.hold({ accountId, requestId: leaseId, amount: d('0.5') });
    const { logger, logged } = recordingLogger();
    const writer = new CaptureWriter(database.db, { lingerMs: 0, logger });
    // A lease released meanwhile, its capture's outcome awaited and reported to the call (a charge past its lease).
    counter += 1;
    const released = `lease_writer_${counter}`;
    await ledger.hold({ accountId, requestId: released, amount: d('0.1') });
    await ledger.release(released, 'released after a silence');
    const paid = await writer.submit({ requestId: 'req_writer_paid', leaseId, amount: d('0.5') }).written;
    const short = await writer.submit({ requestId: own, amount: d('5') }).written;
    expect([paid.captured.toString(), paid.shortfall.toString()]).toEqual(['0.5', '0']);
    expect(short.shortfall.isPositive()).toBe(true);
    const told = await writer.submit({ requestId: 'req_writer_told', leaseId: released, amount: d('9') }, { reported: true })
      .written;
    expect(told.shortfall.isPositive()).toBe(true);
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
    expect(logged()).toEqual([]);
  });

  it('stats are a copy: changing them changes nothing', async () => {
    const writer = new CaptureWriter(database.db, { lingerMs: 0 });
    const stats = writer.stats;
    stats.lost = 99;
    expect(writer.stats).toEqual({ lost: 0, discrepancies: 0 });
  });
});
