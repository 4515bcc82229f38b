import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { authenticateKey, createApiKey, hashKey, KEY_PREFIX_LENGTH, listApiKeys, revokeApiKey } from './api-keys.js';
import { Ledger } from './ledger.js';
import { until } from '../../test/support/wait.js';

describe.each(backends())('api keys on $name', (backend) => {
  let database: TestDatabase;
  let accountId: string;
  beforeAll(async () => {
    database = await backend.open();
    accountId = (await new Ledger(database.db).createAccount({ name: 'keys', mode: 'consumption_usd' })).account.id;
  });
  afterAll(async () => {
    await database.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stores only the sha256 and a short prefix, never the key', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user', name: 'ci' });
    expect(created.key).toMatch(/^tg_[0-9A-Za-z]{32}$/);
    expect(created.prefix).toBe(created.key.slice(0, KEY_PREFIX_LENGTH));
    const row = await database.db.selectFrom('api_keys').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.hash).toBe(hashKey(created.key));
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    const everything = JSON.stringify(await database.db.selectFrom('api_keys').selectAll().execute());
    expect(everything).not.toContain(created.key);
    expect(everything).not.toContain(created.key.slice(KEY_PREFIX_LENGTH));
  });

  it('authenticates the right key, refuses a wrong one, and records last use off the call path', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user' });
    expect(await authenticateKey(database.db, created.key)).toEqual({
      keyId: created.id,
      prefix: created.prefix,
      scope: 'user',
      accountId,
      allowedModels: null,
      expiresAt: null,
    });
    const wrong = `${created.key.slice(0, -1)}${created.key.endsWith('a') ? 'b' : 'a'}`;
    expect(await authenticateKey(database.db, wrong)).toBeUndefined();
    expect(await authenticateKey(database.db, 'sk-not-ours')).toBeUndefined();
    // Written after authentication returned, in the background: wait for it (a hang guard, not a deadline).
    const lastUsed = async () => (await listApiKeys(database.db, accountId)).find((key) => key.id === created.id)!.lastUsedAt;
    await until(async () => (await lastUsed()) !== null, 'last use to be recorded');
    expect(await lastUsed()).toBeInstanceOf(Date);
  });

  it('revokes by prefix, at once in this process', async () => {
    const created = await createApiKey(database.db, { accountId: null, scope: 'admin' });
    expect((await authenticateKey(database.db, created.key))?.scope).toBe('admin');
    expect(await revokeApiKey(database.db, created.prefix)).toBe(true);
    expect(await authenticateKey(database.db, created.key)).toBeUndefined();
    expect(await revokeApiKey(database.db, created.prefix)).toBe(false);
    const listed = (await listApiKeys(database.db)).find((key) => key.id === created.id)!;
    expect(listed.revokedAt).toBeInstanceOf(Date);
    expect(listed.accountId).toBeNull();
  });

  it('an unknown key costs one query, not one per call, and a flood of random keys never evicts the keys in use', async () => {
    // Counts the queries on api_keys through a plugin on the real database handle (its own cache, too).
    let lookups = 0;
    const counted = database.db.withPlugin({
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('"api_keys"')) lookups += 1;
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    const created = await createApiKey(counted, { accountId, scope: 'user' });
    // The caches expire by Date.now(): frozen, so a slow machine's flood cannot outlast them.
    vi.useFakeTimers({ toFake: ['Date'] });
    lookups = 0;
    const unknown = `tg_${'x'.repeat(32)}`;
    for (let call = 0; call < 50; call += 1) expect(await authenticateKey(counted, unknown)).toBeUndefined();
    expect(lookups).toBe(1);
    expect(await authenticateKey(counted, created.key)).toMatchObject({ keyId: created.id });
    const afterKnown = lookups;
    // A flood of random keys goes to the unknown-key cache only (its bound is tested in expiring-cache.test.ts).
    for (let call = 0; call < 30; call += 1) await authenticateKey(counted, `tg_${call.toString().padStart(32, '0')}`);
    lookups = 0;
    expect(await authenticateKey(counted, created.key)).toMatchObject({ keyId: created.id });
    expect(lookups).toBe(0);
    expect(afterKnown).toBeGreaterThanOrEqual(1);
    // Once the unknown key's minute is up, it is looked up again (a key created meanwhile elsewhere works).
    vi.setSystemTime(Date.now() + 61_000);
    await authenticateKey(counted, unknown);
    expect(lookups).toBe(1);
  });
});
