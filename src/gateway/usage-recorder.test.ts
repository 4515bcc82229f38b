import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { Ledger } from '../ledger/ledger.js';
import { createLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import type { PreparedCall } from './pipeline.js';
import { UsageRecorder } from './usage-recorder.js';

/** A failed call as the pipeline prepares it: only what a usage record reads is meaningful here. */
function failedCall(requestId: string, accountId: string): PreparedCall {
  return {
    requestId,
    caller: { accountId, mode: 'consumption_usd', jobPrice: undefined, markup: undefined, keyId: 'key_test' },
    request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
    resolution: {
      requested: 'gpt-4o-mini',
      modelId: 'gpt-4o-mini',
      providerId: 'openai',
      upstreamModel: 'gpt-4o-mini',
      source: 'database',
      match: 'exact',
      price: { rates: {}, version: 3 },
      maxOutputTokens: undefined,
      contextWindow: undefined,
    },
    route: { providerId: 'openai', target: { upstreamModel: 'gpt-4o-mini' }, demo: false },
    markup: undefined,
    promptTokens: 8,
    held: Decimal.parse('0.01'),
    startedAt: 0,
    stream: false,
  } as unknown as PreparedCall;
}

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
    for (let waited = 0; waited < 5_000 && !(await recordedIds()).includes('timed'); waited += 25) await sleep(25);
    expect(await recordedIds()).toContain('timed');
  });

  it('a full batch is written without waiting for the linger, and what arrives meanwhile goes in the next insert', async () => {
    const lingering = new UsageRecorder(database.db, createLogger('error'), { lingerMs: 60_000 });
    const ids = Array.from({ length: 501 }, (_, index) => `full-${String(index).padStart(3, '0')}`);
    for (const id of ids) lingering.record(failedCall(id, accountId), { status: 'error', latencyMs: 1 });
    const written = async () => (await recordedIds()).filter((id) => id.startsWith('full-')).length;
    for (let waited = 0; waited < 5_000 && (await written()) < ids.length; waited += 25) await sleep(25);
    expect(await written()).toBe(ids.length);
    expect(await transactions(ids)).toBe(2);
  });
});
