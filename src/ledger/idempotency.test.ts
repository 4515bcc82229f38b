import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
  completeIdempotentRequest,
  DEFAULT_CLAIM_EXPIRY,
  hashRequest,
} from './idempotency.js';
import { GatewayInstance } from './gateway-instance.js';
import { Ledger } from './ledger.js';

describe('hashRequest', () => {
  it('ignores key order and undefined fields but not values', () => {
    expect(hashRequest({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })).toBe(
      hashRequest({ messages: [{ content: 'hi', role: 'user' }], model: 'gpt-4o', user: undefined }),
    );
    expect(hashRequest({ model: 'gpt-4o', max_tokens: 10 })).not.toBe(hashRequest({ model: 'gpt-4o', max_tokens: 11 }));
    expect(hashRequest([1, 2])).not.toBe(hashRequest([2, 1]));
    expect(hashRequest({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe.each(backends())('idempotency keys on $name', (backend) => {
  let database: TestDatabase;
  let accountId: string;
  beforeAll(async () => {
    database = await backend.open();
    accountId = (await new Ledger(database.db).createAccount({ name: 'idem', mode: 'consumption_usd' })).account.id;
  });
  afterAll(async () => {
    await database.close();
  });

  it('claims, reports in-progress, replays the completed outcome and refuses another request', async () => {
    const body = { model: 'demo', messages: [] };
    const input = { accountId, key: 'retry-1', requestHash: hashRequest(body), requestId: 'req-1' };
    expect(await beginIdempotentRequest(database.db, input)).toEqual({ kind: 'new' });
    expect(await beginIdempotentRequest(database.db, { ...input, requestId: 'req-2' })).toEqual({ kind: 'in_progress' });
    await completeIdempotentRequest(database.db, {
      accountId,
      key: 'retry-1',
      statusCode: 200,
      response: { id: 'chatcmpl-1', cost: '0.01' },
    });
    expect(await beginIdempotentRequest(database.db, { ...input, requestId: 'req-3' })).toEqual({
      kind: 'replay',
      statusCode: 200,
      response: { id: 'chatcmpl-1', cost: '0.01' },
    });
    expect(await beginIdempotentRequest(database.db, { ...input, requestHash: hashRequest({ other: true }) })).toEqual({
      kind: 'conflict',
    });
    // Abandoning a completed key changes nothing.
    await abandonIdempotentRequest(database.db, { accountId, key: 'retry-1' });
    expect((await beginIdempotentRequest(database.db, input)).kind).toBe('replay');
  });

  it('frees an abandoned key for a retry, and takes over a claim left by a dead process', async () => {
    const input = { accountId, key: 'retry-2', requestHash: hashRequest({ n: 2 }), requestId: 'req-a' };
    expect((await beginIdempotentRequest(database.db, input)).kind).toBe('new');
    await abandonIdempotentRequest(database.db, { accountId, key: 'retry-2' });
    expect((await beginIdempotentRequest(database.db, { ...input, requestId: 'req-b' })).kind).toBe('new');
    // A claim of no recorded owner whose process died: still in progress, and older than the configured expiry.
    await database.db.deleteFrom('idempotency_keys').where('key', '=', 'retry-2').execute();
    await database.db
      .insertInto('idempotency_keys')
      .values({
        account_id: accountId,
        key: 'retry-2',
        request_hash: input.requestHash,
        request_id: 'req-dead',
        status: 'in_progress',
        created_at: new Date(Date.now() - 65 * 1000),
      })
      .execute();
    // Younger than the default 15 minutes: still someone's; past a configured minute: orphaned.
    expect((await beginIdempotentRequest(database.db, { ...input, requestId: 'req-c' })).kind).toBe('in_progress');
    const oneMinute = { ...DEFAULT_CLAIM_EXPIRY, unownedSeconds: 60 };
    expect((await beginIdempotentRequest(database.db, { ...input, requestId: 'req-c' }, oneMinute)).kind).toBe('new');
    const row = await database.db
      .selectFrom('idempotency_keys')
      .select('request_id')
      .where('key', '=', 'retry-2')
      .executeTakeFirstOrThrow();
    expect(row.request_id).toBe('req-c');
  });

  it("a claim follows its owner: kept while the owner's heartbeat is fresh, taken over once it stopped or went silent", async () => {
    let clock = 0;
    const owner = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => clock });
    const input = { accountId, key: 'retry-3', requestHash: hashRequest({ n: 3 }), requestId: 'req-owned', ownerId: owner.id };
    expect((await beginIdempotentRequest(database.db, input)).kind).toBe('new');
    const retry = { ...input, requestId: 'req-retry', ownerId: 'inst_other' };
    expect((await beginIdempotentRequest(database.db, retry)).kind).toBe('in_progress');
    // Silent by the database's clock: move its heartbeat back past the silence time.
    await database.db
      .updateTable('gateway_instances')
      .set({ heartbeat_at: new Date(Date.now() - 31_000) })
      .where('id', '=', owner.id)
      .execute();
    expect((await beginIdempotentRequest(database.db, retry)).kind).toBe('new');
    const row = await database.db
      .selectFrom('idempotency_keys')
      .select(['request_id', 'owner_id'])
      .where('key', '=', 'retry-3')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ request_id: 'req-retry', owner_id: 'inst_other' });

    // A stopped owner's claim is taken over at once.
    const second = { ...input, key: 'retry-4', requestId: 'req-owned-4' };
    clock += 1;
    await owner.beat();
    expect((await beginIdempotentRequest(database.db, second)).kind).toBe('new');
    expect((await beginIdempotentRequest(database.db, { ...second, requestId: 'req-retry-4' })).kind).toBe('in_progress');
    await owner.stop();
    expect((await beginIdempotentRequest(database.db, { ...second, requestId: 'req-retry-4' })).kind).toBe('new');
  });
});
