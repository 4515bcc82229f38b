import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { insertInstanceRow, openLedgerFor, stoppedAtOf } from '../../test/support/ledger-checks.js';
import { createLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import type { JournalRecord } from './capture-journal.js';
import { releaseHoldsOfDeadInstances } from './dead-instances.js';
import { replayLeftJournals, type ReplayOptions } from './journal-replay.js';
import { Ledger } from './ledger.js';
import { refuseEntriesOf } from '../../test/support/database-faults.js';

const d = (text: string) => Decimal.parse(text);
const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;
/** A pid no process has (above Linux's pid_max): `kill(pid, 0)` fails with ESRCH. */
const DEAD_PID = 999_999_999;

const journalText = (records: unknown[]) => records.map((record) => `${JSON.stringify(record)}\n`).join('');

describe.each(backends())('journal replay rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let directory: string;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-replay-rules-'));
  });
  afterEach(async () => {
    rmSync(directory, { recursive: true, force: true });
    // Every test starts with no instance and no owned hold left open by the one before.
    await database.db
      .updateTable('gateway_instances')
      .set({ stopped_at: sql<Date>`now()` })
      .where('stopped_at', 'is', null)
      .execute();
    await releaseHoldsOfDeadInstances(database.db);
    await database.db.deleteFrom('gateway_instances').execute();
  });

  const account = async (credits: string) => {
    counter += 1;
    return (await ledger.createAccount({ name: `replay-${counter}`, mode: 'consumption_usd', credits: d(credits) })).account.id;
  };
  const register = async (
    id: string,
    options: { host?: string; pid?: number; stopped?: boolean; heartbeatSecondsAgo?: number } = {},
  ) =>
    insertInstanceRow(database.db, id, {
      host: options.host ?? hostname(),
      pid: options.pid ?? process.pid,
      ...(options.heartbeatSecondsAgo !== undefined ? { heartbeatSecondsAgo: options.heartbeatSecondsAgo } : {}),
      ...(options.stopped ? { stoppedHoursAgo: 0 } : {}),
    });
  const stoppedAt = (id: string) => stoppedAtOf(database.db, id);
  const entries = (accountId: string) =>
    database.db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
  const replay = (options: Partial<ReplayOptions> & { instanceId: string }) =>
    replayLeftJournals({
      db: database.db,
      directory,
      silenceMs: 30_000,
      writeUsage: async () => undefined,
      soleOwner: false,
      logger: createLogger('silent'),
      ...options,
    });
  const files = () => readdirSync(directory).sort();

  it('writes every journaled capture exactly as journaled, hands the usage rows over, removes the file and reports it', async () => {
    const accountId = await account('10');
    const dead = newId('inst'); // no row at all: dead
    const me = newId('inst');
    await register(me);
    const leaseId = newId('lease');
    await ledger.hold({ accountId, requestId: leaseId, amount: d('2'), ownerId: dead });
    await ledger.hold({ accountId, requestId: 'req_own_hold', amount: d('1') });
    const records: JournalRecord[] = [
      {
        type: 'capture',
        requestId: 'req_on_lease',
        leaseId,
        amount: '0.1234567',
        priceVersion: 0,
        usage: { prompt_tokens: 12 },
        breakdown: { lines: [{ kind: 'input', amount: '0.1234567' }] },
      },
      { type: 'usage', row: { request_id: 'req_on_lease', charge: '0.1234567' } },
      // An empty lease id is no lease: the capture draws on the request's own hold.
      { type: 'capture', requestId: 'req_own_hold', leaseId: '', amount: '0.4' },
      { type: 'usage', row: { request_id: 'req_own_hold', charge: '0.4' } },
    ];
    writeFileSync(path.join(directory, `${dead}-${DEAD_PID}-1.journal`), journalText(records));
    const usage: Array<Array<Record<string, unknown>>> = [];
    const { logger, logged } = recordingLogger();
    const report = await replay({ instanceId: me, logger, writeUsage: async (rows) => void usage.push(rows) });

    expect(report).toEqual({ files: 1, captures: 2, usageRecords: 2, unreadable: 0, released: 1 });
    expect(usage).toEqual([
      [
        { request_id: 'req_on_lease', charge: '0.1234567' },
        { request_id: 'req_own_hold', charge: '0.4' },
      ],
    ]);
    expect(files()).toEqual([]);
    const rows = await entries(accountId);
    const captures = rows.filter((row) => row.kind === 'capture');
    expect(
      captures.map((row) => [
        row.request_id,
        d(row.amount).toString(),
        row.lease_id,
        row.price_version,
        row.usage,
        row.breakdown,
      ]),
    ).toEqual([
      ['req_on_lease', '-0.1234567', leaseId, 0, { prompt_tokens: 12 }, { lines: [{ kind: 'input', amount: '0.1234567' }] }],
      ['req_own_hold', '-0.4', null, null, null, null],
    ]);
    // The dead owner's lease gives back what its replayed capture did not draw.
    const release = rows.find((row) => row.kind === 'release' && row.request_id === leaseId)!;
    expect(d(release.amount).toString()).toBe('1.8765433');
    const after = await ledger.getAccount(accountId);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['9.4765433', '9.4765433']);
    expect(logged()).toEqual([
      {
        level: 30,
        files: 1,
        captures: 2,
        usageRecords: 2,
        unreadable: 0,
        released: 1,
        msg: 'replayed what stopped gateway processes left',
      },
    ]);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('warns of the lines it could not read, naming the file and their count, and still replays the rest', async () => {
    const accountId = await account('1');
    const dead = newId('inst');
    const me = newId('inst');
    await ledger.hold({ accountId, requestId: 'req_torn_ok', amount: d('0.5') });
    const name = `${dead}-${DEAD_PID}-1.journal`;
    writeFileSync(
      path.join(directory, name),
      `${journalText([{ type: 'capture', requestId: 'req_torn_ok', amount: '0.3' }])}{"type":"wat"}\n{"type":"capture","req`,
    );
    let usageCalls = 0;
    const { logger, logged } = recordingLogger();
    const report = await replay({
      instanceId: me,
      logger,
      writeUsage: async () => {
        usageCalls += 1;
      },
    });
    expect(report).toEqual({ files: 1, captures: 1, usageRecords: 0, unreadable: 2, released: 0 });
    // No usage record in the file: nothing to hand over.
    expect(usageCalls).toBe(0);
    expect(logged()).toEqual([
      {
        level: 40,
        file: path.join(directory, `${name}.replaying.${me}-${process.pid}`),
        unreadable: 2,
        msg: 'journal lines that could not be read (cut short by the crash) were skipped',
      },
      expect.objectContaining({ level: 30, files: 1, unreadable: 2, msg: 'replayed what stopped gateway processes left' }),
    ]);
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.7');
  });

  it('writes a file of more than one batch (201 captures) in full, each once', async () => {
    const accountId = await account('1');
    const dead = newId('inst');
    const leaseId = newId('lease');
    await ledger.hold({ accountId, requestId: leaseId, amount: d('0.5'), ownerId: dead });
    const records = Array.from({ length: 201 }, (_, index) => ({
      type: 'capture',
      requestId: `req_many_${index}`,
      leaseId,
      amount: '0.001',
    }));
    writeFileSync(path.join(directory, `${dead}-${DEAD_PID}-1.journal`), journalText(records));
    const report = await replay({ instanceId: newId('inst') });
    expect(report).toEqual({ files: 1, captures: 201, usageRecords: 0, unreadable: 0, released: 1 });
    const rows = await entries(accountId);
    const captures = rows.filter((row) => row.kind === 'capture');
    expect(new Set(captures.map((row) => row.request_id)).size).toBe(201);
    expect(Decimal.sum(captures.map((row) => d(row.amount))).toString()).toBe('-0.201');
    expect(d(rows.find((row) => row.kind === 'release')!.amount).toString()).toBe('0.299');
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.799');
  });

  it('logs a capture the ledger refuses, with its request and amount, and goes on with the rest of the file', async () => {
    const accountId = await account('1');
    const dead = newId('inst');
    await ledger.hold({ accountId, requestId: 'req_fine', amount: d('0.5') });
    writeFileSync(
      path.join(directory, `${dead}-${DEAD_PID}-1.journal`),
      journalText([
        { type: 'capture', requestId: 'req_no_hold', amount: '0.3' },
        { type: 'capture', requestId: 'req_fine', amount: '0.2' },
      ]),
    );
    const { logger, logged } = recordingLogger();
    const report = await replay({ instanceId: newId('inst'), logger });
    expect(report).toEqual({ files: 1, captures: 2, usageRecords: 0, unreadable: 0, released: 0 });
    const [refusal, summary] = logged();
    expect(refusal).toMatchObject({
      level: 50,
      requestId: 'req_no_hold',
      amount: '0.3',
      err: { type: 'HoldNotFoundError' },
      msg: 'a journaled capture could not be replayed',
    });
    expect(summary).toMatchObject({ level: 30, msg: 'replayed what stopped gateway processes left' });
    expect(logged()).toHaveLength(2);
    expect(files()).toEqual([]);
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.8');
  });

  it('logs a refusal past the first batch under its own request id', async () => {
    const accountId = await account('1');
    const dead = newId('inst');
    const leaseId = newId('lease');
    await ledger.hold({ accountId, requestId: leaseId, amount: d('0.5'), ownerId: dead });
    const fine = (index: number) => ({ type: 'capture', requestId: `req_batch_${index}`, leaseId, amount: '0.001' });
    // The refused capture is the second of the second batch (records 200 and 201 after the first 200).
    const records = [
      ...Array.from({ length: 201 }, (_, index) => fine(index)),
      { type: 'capture', requestId: 'req_no_hold', amount: '0.3' },
    ];
    writeFileSync(path.join(directory, `${dead}-${DEAD_PID}-1.journal`), journalText([...records, fine(201)]));
    const { logger, logged } = recordingLogger();
    const report = await replay({ instanceId: newId('inst'), logger });
    expect(report).toEqual({ files: 1, captures: 203, usageRecords: 0, unreadable: 0, released: 1 });
    const refusals = logged().filter((line) => line.msg === 'a journaled capture could not be replayed');
    expect(refusals).toEqual([
      expect.objectContaining({
        level: 50,
        requestId: 'req_no_hold',
        amount: '0.3',
        err: expect.objectContaining({ type: 'HoldNotFoundError' }),
      }),
    ]);
    const captured = (await entries(accountId)).filter((row) => row.kind === 'capture');
    expect(captured).toHaveLength(202);
  });

  it('stops at a capture that fails for want of the database: the error is thrown, the file stays claimed, nobody is declared dead', async () => {
    const accountId = await account('1');
    const dead = newId('inst');
    await register(dead, { host: 'elsewhere.invalid', heartbeatSecondsAgo: 600 });
    const leaseId = newId('lease');
    await ledger.hold({ accountId, requestId: leaseId, amount: d('0.5'), ownerId: dead });
    const name = `${dead}-${DEAD_PID}-1.journal`;
    writeFileSync(path.join(directory, name), journalText([{ type: 'capture', requestId: 'req_cut', leaseId, amount: '0.1' }]));
    // A real error of the database with the SQLSTATE of a connection lost (08006), on this account's captures.
    const cut = await refuseEntriesOf(database.db, accountId, { sqlstate: '08006' });
    const me = newId('inst');
    const { logger, logged } = recordingLogger();
    try {
      await expect(replay({ instanceId: me, logger })).rejects.toMatchObject({ code: '08006' });
    } finally {
      await cut.stop();
    }
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 50,
        requestId: 'req_cut',
        amount: '0.1',
        msg: 'a journaled capture could not be replayed',
      }),
    ]);
    expect(files()).toEqual([`${name}.replaying.${me}-${process.pid}`]);
    expect(await stoppedAt(dead)).toBeNull();
    expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold']);
  });

  it('claims the files of instances that are gone, stopped, silent, or on this host with no process; leaves the others', async () => {
    const me = newId('inst');
    await register(me);
    const owners = {
      missing: newId('inst'),
      stopped: newId('inst'),
      silent: newId('inst'),
      deadPid: newId('inst'),
      livePid: newId('inst'),
      elsewhere: newId('inst'),
      recent: newId('inst'),
    };
    await register(owners.stopped, { host: 'elsewhere.invalid', stopped: true });
    await register(owners.silent, { host: 'elsewhere.invalid', heartbeatSecondsAgo: 60 });
    await register(owners.deadPid);
    await register(owners.livePid);
    await register(owners.elsewhere, { host: 'elsewhere.invalid', pid: DEAD_PID });
    await register(owners.recent, { host: 'elsewhere.invalid', heartbeatSecondsAgo: 20 });
    const names = Object.fromEntries(
      Object.entries(owners).map(([key, id]) => {
        // The file's pid (its writer's) is the one checked, not the row's.
        const name = `${id}-${key === 'livePid' ? process.pid : DEAD_PID}-1.journal`;
        writeFileSync(path.join(directory, name), '');
        return [key, name];
      }),
    ) as Record<keyof typeof owners, string>;
    const report = await replay({ instanceId: me, silenceMs: 30_000 });
    expect(report.files).toBe(4);
    expect(files()).toEqual([names.livePid, names.elsewhere, names.recent].sort());
    // The owners whose files were replayed are declared dead; the others are left as they were.
    expect(await stoppedAt(owners.deadPid)).not.toBeNull();
    expect(await stoppedAt(owners.silent)).not.toBeNull();
    for (const alive of [owners.livePid, owners.elsewhere, owners.recent, me]) expect(await stoppedAt(alive)).toBeNull();
  });

  it('on the embedded database (sole owner) every other instance is dead: all are declared so and their holds released', async () => {
    const accountId = await account('5');
    const me = newId('inst');
    const other = newId('inst');
    const another = newId('inst');
    await register(me);
    await register(other);
    await register(another, { host: 'elsewhere.invalid' });
    await ledger.hold({ accountId, requestId: newId('lease'), amount: d('1'), ownerId: other });
    await ledger.hold({ accountId, requestId: newId('lease'), amount: d('0.5'), ownerId: another });
    const mine = newId('lease');
    await ledger.hold({ accountId, requestId: mine, amount: d('0.25'), ownerId: me });
    writeFileSync(path.join(directory, `${other}-${process.pid}-1.journal`), '');
    // A file this very instance is replaying is never taken from it.
    const ownReplay = `${newId('inst')}-1-1.journal.replaying.${me}-${process.pid}`;
    writeFileSync(path.join(directory, ownReplay), '');
    const { logger, logged } = recordingLogger();
    const report = await replay({ instanceId: me, soleOwner: true, logger });
    expect(report).toEqual({ files: 1, captures: 0, usageRecords: 0, unreadable: 0, released: 2 });
    expect(files()).toEqual([ownReplay]);
    expect(await stoppedAt(other)).not.toBeNull();
    expect(await stoppedAt(another)).not.toBeNull();
    expect(await stoppedAt(me)).toBeNull();
    const account_ = await ledger.getAccount(accountId);
    expect(account_.available.toString()).toBe('4.75');
    expect((await ledger.openHolds(accountId)).total.toString()).toBe('0.25');
    expect(logged()).toEqual([
      {
        level: 30,
        files: 1,
        captures: 0,
        usageRecords: 0,
        unreadable: 0,
        released: 2,
        msg: 'replayed what stopped gateway processes left',
      },
    ]);
  });

  it('without a journal directory only releases the holds of dead instances, and says so', async () => {
    const accountId = await account('2');
    const me = newId('inst');
    const stopped = newId('inst');
    await register(me);
    await register(stopped, { stopped: true });
    await ledger.hold({ accountId, requestId: newId('lease'), amount: d('1'), ownerId: stopped });
    const left = `${newId('inst')}-${DEAD_PID}-1.journal`;
    writeFileSync(path.join(directory, left), journalText([{ type: 'capture', requestId: 'req_x', amount: '1' }]));
    const { logger, logged } = recordingLogger();
    const report = await replay({ instanceId: me, directory: undefined, logger });
    expect(report).toEqual({ files: 0, captures: 0, usageRecords: 0, unreadable: 0, released: 1 });
    expect(files()).toEqual([left]);
    expect(logged()).toEqual([
      {
        level: 30,
        files: 0,
        captures: 0,
        usageRecords: 0,
        unreadable: 0,
        released: 1,
        msg: 'replayed what stopped gateway processes left',
      },
    ]);
    expect((await ledger.getAccount(accountId)).available.toString()).toBe('2');
  });

  it('with nothing left and nothing to release, reports zeros and logs nothing', async () => {
    const me = newId('inst');
    await register(me);
    const { logger, logged } = recordingLogger();
    expect(await replay({ instanceId: me, logger })).toEqual({
      files: 0,
      captures: 0,
      usageRecords: 0,
      unreadable: 0,
      released: 0,
    });
    expect(logged()).toEqual([]);
    expect(existsSync(directory)).toBe(true);
  });
});
