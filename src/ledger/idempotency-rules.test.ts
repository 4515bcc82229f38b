import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { insertInstanceRow, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { beginIdempotentRequest, completeIdempotentRequest, DEFAULT_CLAIM_EXPIRY, hashRequest } from './idempotency.js';
import { Ledger } from './ledger.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('hashRequest rules', () => {
  it('hashes the canonical JSON: keys sorted at every depth, undefined fields dropped, toJSON values as their JSON', () => {
    expect(hashRequest({ b: 1, a: [1, { d: undefined, c: 'x"y' }], e: null, Z: true })).toBe(
      sha256('{"Z":true,"a":[1,{"c":"x\\"y"}],"b":1,"e":null}'),
    );
    expect(hashRequest({ amount: Decimal.parse('1.50'), at: new Date('2025-01-02T03:04:05Z') })).toBe(
      sha256('{"amount":"1.5","at":"2025-01-02T03:04:05.000Z"}'),
    );
    expect(hashRequest([undefined, 'a'])).toBe(sha256('[null,"a"]'));
    expect(hashRequest(undefined)).toBe(sha256('null'));
    expect(hashRequest('text')).toBe(sha256('"text"'));
    expect(hashRequest({ bb: 1, b: 2, a: 3, ab: 4 })).toBe(sha256('{"a":3,"ab":4,"b":2,"bb":1}'));
  });
});

describe.each(backends())('idempotency key rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let accountId: string;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(() => {
    vi.useRealTimers();
  });

  const key = () => `rules-${(counter += 1)}`;
  const ensureAccount = async () => {
    accountId ??= (await ledger.createAccount({ name: 'idem-rules', mode: 'consumption_usd' })).account.id;
    return accountId;
  };
  const row = (k: string) =>
    database.db.selectFrom('idempotency_keys').selectAll().where('key', '=', k).executeTakeFirstOrThrow();

  it('records the owner of a claim (none when not given) and completes it with a time, replaying what was stored', async () => {
    const account = await ensureAccount();
    const [owned, unowned] = [key(), key()];
    const input = { accountId: account, requestHash: 'h', requestId: 'req_1' };
    expect(await beginIdempotentRequest(database.db, { ...input, key: owned, ownerId: 'inst_owner' })).toEqual({ kind: 'new' });
    expect(await beginIdempotentRequest(database.db, { ...input, key: unowned })).toEqual({ kind: 'new' });
    expect([(await row(owned)).owner_id, (await row(unowned)).owner_id]).toEqual(['inst_owner', null]);
    expect([(await row(owned)).status, (await row(owned)).completed_at]).toEqual(['in_progress', null]);
    await completeIdempotentRequest(database.db, { accountId: account, key: owned, statusCode: 201, response: undefined });
    const completed = await row(owned);
    expect([completed.status, completed.status_code, completed.response]).toEqual(['completed', 201, 'null']);
    expect(completed.completed_at).toBeInstanceOf(Date);
    expect(await beginIdempotentRequest(database.db, { ...input, key: owned, requestId: 'req_2' })).toEqual({
      kind: 'replay',
      statusCode: 201,
      response: null,
    });
  });

  it('replays a completed claim with no stored status as 200 and no stored response as null', async () => {
    const account = await ensureAccount();
    const k = key();
    const input = { accountId: account, key: k, requestHash: 'h', requestId: 'req_1' };
    await beginIdempotentRequest(database.db, input);
    await database.db
      .updateTable('idempotency_keys')
      .set({ status: 'completed', status_code: null, response: null })
      .where('key', '=', k)
      .execute();
    expect(await beginIdempotentRequest(database.db, input)).toEqual({ kind: 'replay', statusCode: 200, response: null });
  });

  it('an unowned claim is orphaned only once older than unownedSeconds, to the millisecond', async () => {
    const account = await ensureAccount();
    const k = key();
    const created = new Date('2025-03-01T00:00:00Z');
    await database.db
      .insertInto('idempotency_keys')
      .values({
        account_id: account,
        key: k,
        request_hash: 'h',
        request_id: 'req_old',
        status: 'in_progress',
        created_at: created,
      })
      .execute();
    vi.useFakeTimers({ toFake: ['Date'] });
    const input = { accountId: account, key: k, requestHash: 'h', requestId: 'req_retry' };
    const expiry = { ...DEFAULT_CLAIM_EXPIRY, unownedSeconds: 60 };
    vi.setSystemTime(created.getTime() + 60_000);
    expect(await beginIdempotentRequest(database.db, input, expiry)).toEqual({ kind: 'in_progress' });
    vi.setSystemTime(created.getTime() + 60_001);
    expect(await beginIdempotentRequest(database.db, input, expiry)).toEqual({ kind: 'new' });
    expect((await row(k)).request_id).toBe('req_retry');
  });

  it('a claim whose owner has no row is orphaned; one whose owner beat within the silence is not, past it is', async () => {
    const account = await ensureAccount();
    const [gone, fresh] = [key(), key()];
    const input = { accountId: account, requestHash: 'h', requestId: 'req_first' };
    await beginIdempotentRequest(database.db, { ...input, key: gone, ownerId: 'inst_without_row' });
    expect(await beginIdempotentRequest(database.db, { ...input, key: gone, requestId: 'req_retry' })).toEqual({ kind: 'new' });
    await insertInstanceRow(database.db, 'inst_rules_owner', { heartbeatSecondsAgo: 20 });
    await beginIdempotentRequest(database.db, { ...input, key: fresh, ownerId: 'inst_rules_owner' });
    const retry = { ...input, key: fresh, requestId: 'req_retry' };
    expect(await beginIdempotentRequest(database.db, retry, { silenceMs: 30_000, unownedSeconds: 900 })).toEqual({
      kind: 'in_progress',
    });
    expect(await beginIdempotentRequest(database.db, retry, { silenceMs: 10_000, unownedSeconds: 900 })).toEqual({ kind: 'new' });
    expect((await row(fresh)).request_id).toBe('req_retry');
  });
});
