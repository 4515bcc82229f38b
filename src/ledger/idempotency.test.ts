import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
  completeIdempotentRequest,
  hashRequest,
  STALE_CLAIM_SECONDS,
} from './idempotency.js';
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
    // A claim whose process died: still in progress, and older than the stale limit.
    await database.db.deleteFrom('idempotency_keys').where('key', '=', 'retry-2').execute();
    await database.db
      .insertInto('idempotency_keys')
      .values({
        account_id: accountId,
        key: 'retry-2',
        request_hash: input.requestHash,
        request_id: 'req-dead',
        status: 'in_progress',
        created_at: new Date(Date.now() - (STALE_CLAIM_SECONDS + 5) * 1000),
      })
      .execute();
    expect((await beginIdempotentRequest(database.db, { ...input, requestId: 'req-c' })).kind).toBe('new');
    const row = await database.db
      .selectFrom('idempotency_keys')
      .select('request_id')
      .where('key', '=', 'retry-2')
      .executeTakeFirstOrThrow();
    expect(row.request_id).toBe('req-c');
  });
});
