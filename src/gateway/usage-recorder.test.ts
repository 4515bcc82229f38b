import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { batchChannel, type BatchEvent } from '../db/group-commit.js';
import { CaptureJournal } from '../ledger/capture-journal.js';
import { Ledger } from '../ledger/ledger.js';
import { createLogger } from '../logging/logger.js';
import { failedCall, PROVIDER_USAGE, settledCall } from '../../test/support/recorded-calls.js';
import { UsageRecorder, type RecordRow } from './usage-recorder.js';
import { until } from '../../test/support/wait.js';

describe.each(backends())('usage recorder on $name', (backend) => {
  let database: TestDatabase;
  let accountId: string;
  const logged: string[] = [];
  let recorder: UsageRecorder;
  beforeAll(async () => {
    database = await backend.open();
    accountId = (await new Ledger(database.db).createAccount({ name: 'recorded', mode: 'consumption_usd' })).account.id;
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (logged.push(chunk.toString()), done()) });
    recorder = new UsageRecorder(database.db, createLogger('error', sink));
  });
  afterAll(async () => {
    await database.close();
  });

  const recordedIds = async () =>
    (await database.db.selectFrom('usage_records').select('request_id').orderBy('request_id').execute()).map(
      (row) => row.request_id,
    );

  it('writes every record of a burst, the ones queued behind an insert together, and flush waits for all', async () => {
    const ids = Array.from({ length: 30 }, (_, index) => `burst-${String(index).padStart(2, '0')}`);
    for (const id of ids)
      recorder.record(failedCall(id, accountId), { status: 'error', errorCode: 'upstream_error', latencyMs: 12.4 });
    await recorder.flush();
    expect(await recordedIds()).toEqual(ids);
    const row = await database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('request_id', '=', 'burst-07')
      .executeTakeFirstOrThrow();
    expect([row.status, row.error_code, row.latency_ms, row.price_version, row.charge]).toEqual([
      'error',
      'upstream_error',
      12,
      3,
      '0',
    ]);
    // A record for a request already recorded is ignored, not an error.
    recorder.record(failedCall('burst-07', accountId), { status: 'error', latencyMs: 1 });
    await recorder.flush();
    expect(await recordedIds()).toHaveLength(30);
    expect(logged).toEqual([]);
  });

  it("names its batches 'usage-records' on the batch channel", async () => {
    const events: BatchEvent[] = [];
    const listener = (event: unknown) => events.push(event as BatchEvent);
    subscribe(batchChannel.name, listener);
    try {
      recorder.record(failedCall('named-1', accountId), { status: 'error', latencyMs: 1 });
      recorder.record(failedCall('named-2', accountId), { status: 'error', latencyMs: 1 });
      await recorder.flush();
    } finally {
      unsubscribe(batchChannel.name, listener);
    }
    expect(events.map((event) => event.name)).toEqual(events.map(() => 'usage-records'));
    expect(events.reduce((total, event) => total + event.size, 0)).toBe(2);
  });

  /** A recorder journaling into a directory of its own (removed afterwards), and the journal's lines as they stand. */
  async function withJournal(
    instanceId: string,
    lingerMs: number,
    use: (journaled: {
      recorder: UsageRecorder;
      journal: CaptureJournal;
      directory: string;
      lines: () => string[];
    }) => Promise<void>,
  ): Promise<void> {
    const directory = mkdtempSync(path.join(tmpdir(), 'tollgate-recorder-journal-'));
    try {
      const journal = new CaptureJournal(directory, instanceId, { sync: 'write' });
      const recorder = new UsageRecorder(database.db, createLogger('silent'), { journal, lingerMs });
      const lines = () =>
        readdirSync(directory).flatMap((file) => readFileSync(path.join(directory, file), 'utf8').trim().split('\n'));
      await use({ recorder, journal, directory, lines });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }

  it("journals a billed call's record and lets the journal go once the record is written, or refused for good", async () => {
    await withJournal('inst_recorder', 0, async ({ recorder: journaled, journal, directory, lines }) => {
      // One written, one the database refuses for good (no such account: not a reason to retry).
      journaled.record(...settledCall('journaled-1', accountId, 'gpt-4o-mini'));
      journaled.record(...settledCall('journaled-2', 'acct_nowhere', 'gpt-4o-mini'));
      await journaled.flush();
      expect(lines().map((line) => (JSON.parse(line) as { row: { request_id: string } }).row.request_id)).toEqual([
        'journaled-1',
        'journaled-2',
      ]);
      expect(await recordedIds()).toContain('journaled-1');
      // Nothing is left pending: closing deletes the segment instead of keeping it for a replay.
      journal.close();
      expect(readdirSync(directory)).toEqual([]);
    });
  });

  it("replays a record an earlier version journaled, without the provider's usage, alone and in a batch", async () => {
    // The row as this version journals it, then as the version before migration 012 did: without the key, and its
    // breakdown as JSON text.
    await withJournal('inst_earlier', 60_000, async ({ recorder: journaling, journal, lines }) => {
      journaling.record(...settledCall('earlier-template', accountId, 'gpt-4o-mini'));
      const { provider_usage: current, ...now } = (JSON.parse(lines()[0]!) as { row: RecordRow }).row;
      expect(current).toEqual(PROVIDER_USAGE);
      await journaling.flush();
      journal.close();
      const earlier = { ...now, breakdown: JSON.stringify(now.breakdown) };
      const ids = ['earlier-alone', 'earlier-batch-1', 'earlier-batch-2'];
      const rowOf = (id: string) => ({ ...earlier, request_id: id }) as RecordRow;
      await recorder.replay([rowOf(ids[0]!)]);
      await recorder.replay([rowOf(ids[1]!), rowOf(ids[2]!)]);
      const rows = await database.db
        .selectFrom('usage_records')
        .selectAll()
        .where('request_id', 'in', [...ids, 'earlier-template'])
        .orderBy('request_id')
        .execute();
      const template = rows.find((row) => row.request_id === 'earlier-template')!;
      expect(
        rows.filter((row) => row !== template).map((row) => [row.request_id, row.provider_usage, row.breakdown, row.charge]),
      ).toEqual(ids.map((id) => [id, null, template.breakdown, '0.001138888887638888888']));
    });
  });

  it('journals the JSON documents of a record as documents, and replays a row journaled with them as text the same', async () => {
    // Before, a record's breakdown, anomaly and provider's usage were journaled (and batched) as JSON text inside
    // the row's JSON: escaped there, and parsed twice by PostgreSQL.
    await withJournal('inst_documents', 60_000, async ({ recorder: journaling, journal, lines }) => {
      journaling.record(...settledCall('documents-now', accountId, 'gpt-4o-mini'));
      const now = (JSON.parse(lines()[0]!) as { row: RecordRow }).row;
      expect(now.provider_usage).toEqual(PROVIDER_USAGE);
      expect(now.breakdown).toMatchObject({ charge: expect.any(String), lines: expect.any(Array) });
      expect(now.usage_anomaly).toMatchObject({ policy: expect.any(String) });
      await journaling.flush();
      journal.close();
      const asText = (id: string) =>
        ({
          ...now,
          request_id: id,
          breakdown: JSON.stringify(now.breakdown),
          usage_anomaly: JSON.stringify(now.usage_anomaly),
          provider_usage: JSON.stringify(now.provider_usage),
        }) as RecordRow;
      await recorder.replay([asText('documents-text-alone')]);
      await recorder.replay([asText('documents-text-batch-1'), asText('documents-text-batch-2')]);
      const rows = await database.db
        .selectFrom('usage_records')
        .select(['request_id', 'breakdown', 'usage_anomaly', sql<string>`provider_usage::text`.as('provider_usage')])
        .where('request_id', 'like', 'documents-%')
        .orderBy('request_id')
        .execute();
      const columns = rows.map(({ request_id: _id, ...documents }) => documents);
      expect(rows.map((row) => row.request_id)).toEqual([
        'documents-now',
        'documents-text-alone',
        'documents-text-batch-1',
        'documents-text-batch-2',
      ]);
      // The provider's usage kept as it was written, keys in their order.
      expect(columns[0]!.provider_usage).toBe(JSON.stringify(PROVIDER_USAGE));
      expect(columns[0]!.usage_anomaly).toMatchObject({ policy: 'cap' });
      expect(columns.slice(1)).toEqual([columns[0], columns[0], columns[0]]);
    });
  });

  it('one bad record does not lose the others queued with it, and is logged by request id', async () => {
    // All four share one insert, which fails for the one that names no account.
    recorder.record(failedCall('lead', accountId), { status: 'error', latencyMs: 1 });
    recorder.record(failedCall('good-1', accountId), { status: 'error', latencyMs: 1 });
    recorder.record(failedCall('orphan', 'acct_missing'), { status: 'error', latencyMs: 1 });
    recorder.record(failedCall('good-2', accountId), { status: 'error', latencyMs: 1 });
    await recorder.flush();
    const ids = await recordedIds();
    expect(ids).toEqual(expect.arrayContaining(['lead', 'good-1', 'good-2']));
    expect(ids).not.toContain('orphan');
    // A failed call reported no usage: nothing estimated, nothing counted.
    const failed = await database.db
      .selectFrom('usage_records')
      .select(['usage_estimated', 'output_text_tokens', 'breakdown', 'provider_usage'])
      .where('request_id', '=', 'good-1')
      .executeTakeFirstOrThrow();
    expect(failed).toEqual({ usage_estimated: false, output_text_tokens: 0, breakdown: null, provider_usage: null });
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({ requestId: 'orphan', msg: 'could not write usage record' });
  });

  /** The transactions that wrote these records, by the id each row carries (xmin). */
  const transactions = async (ids: string[]) =>
    new Set(
      (
        await database.db
          .selectFrom('usage_records')
          .select(sql<string>`xmin::text`.as('transaction'))
          .where('request_id', 'in', ids)
          .execute()
      ).map((row) => row.transaction),
    ).size;

  it('a record waits for the others of its batch and shares their insert; flush writes at once', async () => {
    const lingering = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 60_000 });
    const ids = ['linger-a', 'linger-b', 'linger-c', 'linger-d'];
    for (const id of ids) lingering.record(failedCall(id, accountId), { status: 'error', latencyMs: 1 });
    await lingering.flush();
    expect((await recordedIds()).filter((id) => id.startsWith('linger-'))).toEqual(ids);
    expect(await transactions(ids)).toBe(1);
  });

  it('without lingering, the first record goes alone and the ones queued behind its insert share the next', async () => {
    const immediate = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 0 });
    const ids = ['now-a', 'now-b', 'now-c', 'now-d'];
    for (const id of ids) immediate.record(failedCall(id, accountId), { status: 'error', latencyMs: 1 });
    await immediate.flush();
    expect(await transactions(ids)).toBe(2);
  });

  it('writes a lingering record on its own, without flush', async () => {
    const lingering = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 20 });
    lingering.record(failedCall('timed', accountId), { status: 'error', latencyMs: 1 });
    await until(async () => (await recordedIds()).includes('timed'), 'the lingering record to be written');
    expect(await recordedIds()).toContain('timed');
  });

  it('a full batch is written without waiting for the linger; the rest lingers for the next insert', async () => {
    const lingering = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 3_600_000 });
    const ids = Array.from({ length: 501 }, (_, index) => `full-${String(index).padStart(3, '0')}`);
    for (const id of ids) lingering.record(failedCall(id, accountId), { status: 'error', latencyMs: 1 });
    const written = async () => (await recordedIds()).filter((id) => id.startsWith('full-')).length;
    // An hour's linger: only a full batch can be written before the flush below.
    await until(async () => (await written()) >= 500, 'the full batch to be written');
    expect(await written()).toBe(500);
    await lingering.flush();
    expect(await written()).toBe(ids.length);
    expect(await transactions(ids)).toBe(2);
  });

  it('writes every column the same alone (bound parameters) and in a batch (one JSON parameter)', async () => {
    const model = 'gpt "4o" \\ mini ✓ 🙂\n\t';
    const alone = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 0 });
    alone.record(...settledCall('column-alone', accountId, model));
    await alone.flush();
    const batched = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 60_000 });
    for (const id of ['column-batch-1', 'column-batch-2']) batched.record(...settledCall(id, accountId, model));
    await batched.flush();
    expect(await transactions(['column-batch-1', 'column-batch-2'])).toBe(1);
    const rows = await database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('request_id', 'in', ['column-alone', 'column-batch-1', 'column-batch-2'])
      .orderBy('request_id')
      .execute();
    const [first, second, third] = rows.map(({ id: _id, request_id: _request, created_at: _created, ...columns }) => columns);
    expect(first).toEqual({
      account_id: accountId,
      api_key_id: 'key_test',
      requested_model: model,
      model_id: 'gpt-4o-mini',
      provider_id: 'openai',
      upstream_model: 'gpt-4o-mini',
      input_uncached_tokens: 1200,
      cache_read_tokens: 300,
      cache_write_tokens: 25,
      input_audio_tokens: 7,
      output_text_tokens: 450,
      reasoning_tokens: 128,
      output_audio_tokens: 3,
      usage_estimated: false,
      usage_anomaly: {
        reasons: ['reported 581 output tokens, past the 500 "max_tokens" allowed'],
        policy: 'cap',
        reported: { charge: '0.002', debit: '0.002' },
      },
      price_version: expect.anything(),
      breakdown: {
        lines: [
          { component: 'input', units: 1200, rate: '0.00000015', amount: '0.00018' },
          { component: 'reasoning', units: 128, rate: '0.0000006', amount: '0.0000768', fellBackTo: 'output' },
        ],
        tier: 200000,
        providerCost: '0.000123456789012345678',
        markup: { percent: '12.5', fixedFee: '0.001', amount: '0.00101543209862654321', rule: 'account' },
        charge: '0.001138888887638888888',
      },
      provider_usage: PROVIDER_USAGE,
      provider_cost: '0.000123456789012345678',
      charge: '0.001138888887638888888',
      debit: '0.001138888887638888888',
      debit_unit: 'usd',
      end_user: 'end-user-42',
      markup: '0.00101543209862654321',
      pricing_source: 'database',
      pricing_match: 'exact',
      latency_ms: 1235,
      status: 'success',
      error_code: null,
      stream: true,
    });
    expect(Number(first!.price_version)).toBe(3);
    expect(second).toEqual(first);
    expect(third).toEqual(first);
  });

  it('a text PostgreSQL refuses in JSON (a lone surrogate) costs its batch the shared insert, not a record', async () => {
    const batched = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 60_000 });
    batched.record(...settledCall('surrogate-odd', accountId, 'model \ud800 name'));
    batched.record(...settledCall('surrogate-plain', accountId, 'gpt-4o-mini'));
    await batched.flush();
    const rows = await database.db
      .selectFrom('usage_records')
      .select(['request_id', 'requested_model'])
      .where('request_id', 'in', ['surrogate-odd', 'surrogate-plain'])
      .orderBy('request_id')
      .execute();
    // Bound as UTF-8 text, the lone surrogate arrives as U+FFFD, as it always did.
    expect(rows).toEqual([
      { request_id: 'surrogate-odd', requested_model: 'model \ufffd name' },
      { request_id: 'surrogate-plain', requested_model: 'gpt-4o-mini' },
    ]);
  });
});
