import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { Ledger } from '../ledger/ledger.js';
import { GatewayError } from './errors.js';
import { IdempotentCalls, type StoredReply } from './idempotent-calls.js';
import type { Caller } from './pipeline.js';

const REPLY: StoredReply = { kind: 'json', statusCode: 200, headers: { 'x-tollgate-cost': '0.01' }, body: '{"id":"chatcmpl-1"}' };

/** The session a route opens per call around its Idempotency-Key: claim, then complete, abandon or replay. */
describe.each(backends())('idempotent calls on $name', (backend) => {
  let database: TestDatabase;
  let caller: Caller;
  const keyRow = (key: string) =>
    database.db
      .selectFrom('idempotency_keys')
      .select(['status', 'status_code', 'response', 'owner_id', 'request_id'])
      .where('account_id', '=', caller.accountId)
      .where('key', '=', key)
      .executeTakeFirst();

  beforeAll(async () => {
    database = await backend.open();
    const { account, apiKey } = await new Ledger(database.db).createAccount({ name: 'idem-calls', mode: 'consumption_usd' });
    caller = { accountId: account.id, mode: 'consumption_usd', jobPrice: undefined, markup: undefined, keyId: apiKey.id };
  });
  afterAll(async () => {
    await database.close();
  });

  it('without a key every call runs under a fresh request id, and nothing is stored or freed', async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger);
    const first = calls.begin(caller, undefined, { model: 'm' });
    const second = calls.begin(caller, '', { model: 'm' });
    expect([first.keeps, second.keeps]).toEqual([false, false]); // a stream's frames are not collected for it
    const started = [await first.start(), await second.start()];
    expect(started.map((call) => call.kind)).toEqual(['run', 'run']);
    const [a, b] = started.map((call) => (call.kind === 'run' ? call.requestId : ''));
    expect(a).toMatch(/^req_[0-9a-f]{32}$/);
    expect(b).toMatch(/^req_[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
    await first.complete(REPLY);
    await second.abandon();
    const rows = await database.db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('account_id', '=', caller.accountId)
      .execute();
    expect(rows).toEqual([]);
  });

  it('claims the key under the instance that runs the call, stores the reply, and replays it to a retry', async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger, { instanceId: 'inst_runner' });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
    const run = calls.begin(caller, 'key-replay', body);
    expect(run.keeps).toBe(true);
    const started = await run.start();
    expect(started.kind).toBe('run');
    const requestId = started.kind === 'run' ? started.requestId : '';
    expect(await keyRow('key-replay')).toEqual({
      status: 'in_progress',
      status_code: null,
      response: null,
      owner_id: 'inst_runner',
      request_id: requestId,
    });
    await run.complete(REPLY);
    expect(await keyRow('key-replay')).toMatchObject({ status: 'completed', status_code: 200 });

    // The same body with its keys in another order is the same request.
    const retry = calls.begin(caller, 'key-replay', { messages: [{ content: 'hi', role: 'user' }], model: 'gpt-4o-mini' });
    expect(await retry.start()).toEqual({ kind: 'replay', reply: REPLY });
    // A replay neither stores its own outcome nor frees the key.
    await retry.complete({ ...REPLY, statusCode: 201 });
    await retry.abandon();
    expect(await keyRow('key-replay')).toMatchObject({ status: 'completed', status_code: 200, request_id: requestId });
  });

  it('a claim without an instance records no owner, and is orphaned after the configured expiry, not the default', async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger);
    await calls.begin(caller, 'key-unowned', { n: 1 }).start();
    expect((await keyRow('key-unowned'))?.owner_id).toBeNull();
    // Under the default expiry (15 minutes) the claim is still someone's.
    await expect(calls.begin(caller, 'key-unowned', { n: 1 }).start()).rejects.toMatchObject({ code: 'idempotency_in_progress' });
    // An expiry that has always passed: the retry takes the claim over.
    const impatient = new IdempotentCalls(database.db, recordingLogger('info').logger, {
      expiry: { silenceMs: 30_000, unownedSeconds: -3600 },
    });
    expect((await impatient.begin(caller, 'key-unowned', { n: 1 }).start()).kind).toBe('run');
  });

  it("keys are per account: another account's call with the same key runs", async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger);
    const { account, apiKey } = await new Ledger(database.db).createAccount({ name: 'idem-other', mode: 'consumption_usd' });
    await calls.begin(caller, 'key-shared', { n: 1 }).start();
    const other: Caller = { ...caller, accountId: account.id, keyId: apiKey.id };
    expect((await calls.begin(other, 'key-shared', { n: 2 }).start()).kind).toBe('run');
  });

  it('refuses the key with another body (422, naming the header) and while the first call runs (409)', async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger);
    const first = calls.begin(caller, 'key-busy', { n: 1 });
    expect((await first.start()).kind).toBe('run');

    const conflict = await calls
      .begin(caller, 'key-busy', { n: 2 })
      .start()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(conflict).toBeInstanceOf(GatewayError);
    expect(conflict).toMatchObject({
      code: 'idempotency_conflict',
      status: 422,
      param: 'Idempotency-Key',
    });
    expect((conflict as Error).message).toBe('this Idempotency-Key was already used with a different request body');

    const busy = await calls
      .begin(caller, 'key-busy', { n: 1 })
      .start()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(busy).toBeInstanceOf(GatewayError);
    expect(busy).toMatchObject({
      code: 'idempotency_in_progress',
      status: 409,
      param: undefined,
    });
    expect((busy as Error).message).toBe('a request with this Idempotency-Key is still in progress; retry when it has finished');
  });

  it('abandon frees the key of a call that failed, so the retry runs; a refused call leaves the first claim alone', async () => {
    const calls = new IdempotentCalls(database.db, recordingLogger('info').logger);
    const first = calls.begin(caller, 'key-failed', { n: 1 });
    await first.start();
    // The conflicting call never claimed the key: its abandon must not free the first call's claim.
    const conflicting = calls.begin(caller, 'key-failed', { n: 2 });
    await expect(conflicting.start()).rejects.toMatchObject({ code: 'idempotency_conflict' });
    await conflicting.abandon();
    await conflicting.complete(REPLY);
    expect(await keyRow('key-failed')).toMatchObject({ status: 'in_progress', status_code: null });

    await first.abandon();
    expect(await keyRow('key-failed')).toBeUndefined();
    const retry = await calls.begin(caller, 'key-failed', { n: 1 }).start();
    expect(retry.kind).toBe('run');
  });

  it('a key that cannot be freed is logged with the account, and the call still ends', async () => {
    const scratch = await backend.open();
    const { account, apiKey } = await new Ledger(scratch.db).createAccount({ name: 'idem-lost', mode: 'consumption_usd' });
    const lost: Caller = { ...caller, accountId: account.id, keyId: apiKey.id };
    const { logger, logged } = recordingLogger('info');
    const run = new IdempotentCalls(scratch.db, logger).begin(lost, 'key-lost', { n: 1 });
    await run.start();
    await scratch.close();
    await run.abandon();
    expect(logged()).toEqual([
      {
        level: 50,
        err: expect.objectContaining({ message: expect.any(String) }),
        accountId: account.id,
        msg: 'could not free an idempotency key',
      },
    ]);
  });
});
