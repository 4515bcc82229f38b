import type { Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { until } from '../../test/support/wait.js';
import type { Schema } from '../db/schema.js';
import { authenticateKey, checkKeyControls, createApiKey, listApiKeys, revokeApiKey, updateApiKey } from './api-keys.js';
import { InvalidKeyFieldError } from './errors.js';
import { Ledger } from './ledger.js';
import { refusal } from '../../test/support/refusals.js';

/** The error `run` threw (a run that returns fails the test). */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

describe('key controls', () => {
  it('take up to 100 names or patterns of 1 to 200 characters each', () => {
    expect(() => checkKeyControls({ allowedModels: Array.from({ length: 100 }, (_, index) => `m${index}`) })).not.toThrow();
    const tooMany = thrown(() => checkKeyControls({ allowedModels: Array.from({ length: 101 }, (_, index) => `m${index}`) }));
    expect(tooMany).toBeInstanceOf(InvalidKeyFieldError);
    expect(tooMany.message).toBe('invalid models: at most 100 names or patterns');
    expect(() => checkKeyControls({ allowedModels: ['x'.repeat(200), 'a'] })).not.toThrow();
    for (const model of ['', '   ', 'y'.repeat(201)]) {
      const error = thrown(() => checkKeyControls({ allowedModels: ['gpt-4o', model] }));
      expect(error).toBeInstanceOf(InvalidKeyFieldError);
      expect(error.message).toBe(
        `invalid models: each must be a model name or pattern of 1 to 200 characters, got ${JSON.stringify(model)}`,
      );
    }
  });

  it('take a real expiry time, or none', () => {
    const error = thrown(() => checkKeyControls({ expiresAt: new Date('not a time') }));
    expect(error).toBeInstanceOf(InvalidKeyFieldError);
    expect(error.message).toBe('invalid expires_at: must be a time such as 2026-12-31T23:59:59Z');
    expect((error as InvalidKeyFieldError).param).toBe('expires_at');
    expect(() => checkKeyControls({ expiresAt: new Date('2026-12-31T23:59:59Z') })).not.toThrow();
    expect(() => checkKeyControls({ expiresAt: null, allowedModels: null })).not.toThrow();
    expect(() => checkKeyControls({})).not.toThrow();
    expect(() => checkKeyControls({ allowedModels: [] })).not.toThrow();
  });
});

describe.each(backends())('api key rules on $name', (backend) => {
  let database: TestDatabase;
  let accountId: string;
  let otherAccountId: string;
  beforeAll(async () => {
    database = await backend.open();
    const ledger = new Ledger(database.db);
    accountId = (await ledger.createAccount({ name: 'key-rules', mode: 'consumption_usd' })).account.id;
    otherAccountId = (await ledger.createAccount({ name: 'key-rules-other', mode: 'consumption_usd' })).account.id;
  });
  afterAll(async () => {
    await database.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A handle on the same database with its own caches, counting the selects and updates of api_keys. */
  function counted() {
    const counts = { selects: 0, updates: 0 };
    const db: Kysely<Schema> = database.db.withPlugin({
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('"api_keys"')) {
          if (args.node.kind === 'SelectQueryNode') counts.selects += 1;
          if (args.node.kind === 'UpdateQueryNode') counts.updates += 1;
        }
        return args.node;
      },
      async transformResult(args) {
        return args.result;
      },
    });
    return { db, counts };
  }

  it('stores the label, allowed models and expiry given, and none by default', async () => {
    const expiresAt = new Date('2031-02-03T04:05:06.789Z');
    const full = await createApiKey(database.db, {
      accountId,
      scope: 'user',
      name: 'ci',
      allowedModels: ['gpt-4o*', 'o1'],
      expiresAt,
    });
    expect(full.id).toMatch(/^key_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(full.key).toMatch(/^tg_[0-9A-Za-z]{32}$/);
    expect(full.prefix).toBe(full.key.slice(0, 12));
    const bare = await createApiKey(database.db, { accountId, scope: 'user', allowedModels: [] });
    const rows = await database.db
      .selectFrom('api_keys')
      .select(['id', 'name', 'allowed_models', 'expires_at', 'scope', 'account_id', 'prefix'])
      .where('id', 'in', [full.id, bare.id])
      .execute();
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(full.id)).toEqual({
      id: full.id,
      name: 'ci',
      allowed_models: '["gpt-4o*","o1"]',
      expires_at: expiresAt,
      scope: 'user',
      account_id: accountId,
      prefix: full.prefix,
    });
    expect(byId.get(bare.id)).toEqual({
      id: bare.id,
      name: null,
      allowed_models: null,
      expires_at: null,
      scope: 'user',
      account_id: accountId,
      prefix: bare.prefix,
    });
    expect(await authenticateKey(database.db, full.key)).toEqual({
      keyId: full.id,
      prefix: full.prefix,
      scope: 'user',
      accountId,
      allowedModels: ['gpt-4o*', 'o1'],
      expiresAt: expiresAt.getTime(),
    });
  });

  it('refuses bad controls before storing anything', async () => {
    const before = (await listApiKeys(database.db)).length;
    const error = await refusal(createApiKey(database.db, { accountId, scope: 'user', allowedModels: [''] }));
    expect(error).toBeInstanceOf(InvalidKeyFieldError);
    expect(error.message).toBe('invalid models: each must be a model name or pattern of 1 to 200 characters, got ""');
    await expect(createApiKey(database.db, { accountId, scope: 'user', expiresAt: new Date(Number.NaN) })).rejects.toBeInstanceOf(
      InvalidKeyFieldError,
    );
    expect((await listApiKeys(database.db)).length).toBe(before);
  });

  it('looks up only keys of our shape and length: tg_ and at most 200 characters', async () => {
    const { db, counts } = counted();
    expect(await authenticateKey(db, `sk-${'a'.repeat(40)}`)).toBeUndefined();
    expect(await authenticateKey(db, `tg_${'a'.repeat(198)}`)).toBeUndefined();
    expect(counts.selects).toBe(0);
    expect(await authenticateKey(db, `tg_${'a'.repeat(197)}`)).toBeUndefined();
    expect(counts.selects).toBe(1);
  });

  it('keeps a known key for ten seconds and an unknown one for a minute, to the millisecond', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user' });
    const { db, counts } = counted();
    const start = Date.parse('2030-01-01T00:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    const unknown = `tg_${'u'.repeat(32)}`;
    expect((await authenticateKey(db, created.key))?.keyId).toBe(created.id);
    expect(await authenticateKey(db, unknown)).toBeUndefined();
    expect(counts.selects).toBe(2);
    vi.setSystemTime(start + 9_999);
    expect((await authenticateKey(db, created.key))?.keyId).toBe(created.id);
    expect(await authenticateKey(db, unknown)).toBeUndefined();
    expect(counts.selects).toBe(2);
    vi.setSystemTime(start + 10_000);
    expect((await authenticateKey(db, created.key))?.keyId).toBe(created.id);
    expect(counts.selects).toBe(3);
    vi.setSystemTime(start + 59_999);
    expect(await authenticateKey(db, unknown)).toBeUndefined();
    expect(counts.selects).toBe(3);
    vi.setSystemTime(start + 60_000);
    expect(await authenticateKey(db, unknown)).toBeUndefined();
    expect(counts.selects).toBe(4);
  });

  it('writes last use at most once a minute per key, at the time of the call', async () => {
    const first = await createApiKey(database.db, { accountId, scope: 'user' });
    const second = await createApiKey(database.db, { accountId, scope: 'user' });
    const { db, counts } = counted();
    const start = Date.parse('2030-06-01T12:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    await authenticateKey(db, first.key);
    await authenticateKey(db, second.key);
    expect(counts.updates).toBe(2);
    vi.setSystemTime(start + 59_999);
    await authenticateKey(db, first.key);
    expect(counts.updates).toBe(2);
    vi.setSystemTime(start + 60_000);
    await authenticateKey(db, first.key);
    expect(counts.updates).toBe(3);
    const lastUsed = async (id: string) => (await listApiKeys(database.db, accountId)).find((key) => key.id === id)!.lastUsedAt;
    // Written off the call path: wait for it (a hang guard, not a deadline).
    await until(async () => (await lastUsed(first.id))?.getTime() === start + 60_000, 'the second last-use write');
    expect((await lastUsed(second.id))?.toISOString()).toBe('2030-06-01T12:00:00.000Z');
  });

  it('revokes a live prefix once, at once in this process, and nothing else', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user' });
    const kept = await createApiKey(database.db, { accountId, scope: 'user' });
    vi.useFakeTimers({ toFake: ['Date'] });
    expect((await authenticateKey(database.db, created.key))?.keyId).toBe(created.id);
    expect((await authenticateKey(database.db, kept.key))?.keyId).toBe(kept.id);
    expect(await revokeApiKey(database.db, 'tg_nosuchkey')).toBe(false);
    expect(await revokeApiKey(database.db, created.prefix)).toBe(true);
    expect(await authenticateKey(database.db, created.key)).toBeUndefined();
    expect((await authenticateKey(database.db, kept.key))?.keyId).toBe(kept.id);
    expect(await revokeApiKey(database.db, created.prefix)).toBe(false);
    const listed = await listApiKeys(database.db, accountId);
    expect(listed.find((key) => key.id === created.id)!.revokedAt).toBeInstanceOf(Date);
    expect(listed.find((key) => key.id === kept.id)!.revokedAt).toBeNull();
  });

  it('lists one account or all, oldest first, or the live key of a prefix', async () => {
    const expiresAt = new Date('2032-01-01T00:00:00.000Z');
    const a = await createApiKey(database.db, {
      accountId: otherAccountId,
      scope: 'user',
      name: 'a',
      allowedModels: ['m'],
      expiresAt,
    });
    const b = await createApiKey(database.db, { accountId: otherAccountId, scope: 'user' });
    const admin = await createApiKey(database.db, { accountId: null, scope: 'admin', name: 'ops' });
    const other = await listApiKeys(database.db, otherAccountId);
    // The account's first key, then a and b.
    expect(other.map((key) => key.id).slice(1)).toEqual([a.id, b.id]);
    expect(other.every((key) => key.accountId === otherAccountId)).toBe(true);
    const listedA = other[1]!;
    expect({ ...listedA, createdAt: listedA.createdAt instanceof Date }).toEqual({
      id: a.id,
      prefix: a.prefix,
      scope: 'user',
      name: 'a',
      accountId: otherAccountId,
      createdAt: true,
      revokedAt: null,
      lastUsedAt: null,
      allowedModels: ['m'],
      expiresAt,
    });
    expect(other[2]!.allowedModels).toBeNull();
    expect(other[2]!.expiresAt).toBeNull();
    const everyKey = await listApiKeys(database.db);
    expect(everyKey.map((key) => key.id)).toEqual(expect.arrayContaining([a.id, b.id, admin.id]));
    expect(everyKey.some((key) => key.accountId === accountId)).toBe(true);
    const createdTimes = everyKey.map((key) => key.createdAt.getTime());
    expect(createdTimes).toEqual([...createdTimes].sort((x, y) => x - y));
    expect(
      (await listApiKeys(database.db, undefined, { livePrefix: admin.prefix })).map((key) => [key.id, key.scope, key.accountId]),
    ).toEqual([[admin.id, 'admin', null]]);
    await revokeApiKey(database.db, admin.prefix);
    expect(await listApiKeys(database.db, undefined, { livePrefix: admin.prefix })).toEqual([]);
    expect(await listApiKeys(database.db, accountId, { livePrefix: a.prefix })).toEqual([]);
    expect((await listApiKeys(database.db, otherAccountId, { livePrefix: a.prefix })).map((key) => key.id)).toEqual([a.id]);
  });

  it('orders keys created at the same moment by id', async () => {
    const ids = await database.db
      .transaction()
      .execute(async (transaction) => [
        (await createApiKey(transaction, { accountId: null, scope: 'admin', name: 'same-moment' })).id,
        (await createApiKey(transaction, { accountId: null, scope: 'admin', name: 'same-moment' })).id,
        (await createApiKey(transaction, { accountId: null, scope: 'admin', name: 'same-moment' })).id,
      ]);
    const listed = (await listApiKeys(database.db)).filter((key) => key.name === 'same-moment').map((key) => key.id);
    expect(listed).toEqual([...ids].sort());
  });

  it('updates a live key: label, models and expiry each alone, cleared by null (and models by an empty list)', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user', name: 'before', allowedModels: ['a'] });
    const row = async () =>
      database.db
        .selectFrom('api_keys')
        .select(['name', 'allowed_models', 'expires_at'])
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
    const expiresAt = new Date('2033-03-03T03:03:03.000Z');
    expect(await updateApiKey(database.db, created.prefix, { name: 'after' })).toBe(true);
    expect(await row()).toEqual({ name: 'after', allowed_models: '["a"]', expires_at: null });
    expect(await updateApiKey(database.db, created.prefix, { allowedModels: ['b', 'c*'] })).toBe(true);
    expect(await row()).toEqual({ name: 'after', allowed_models: '["b","c*"]', expires_at: null });
    expect(await updateApiKey(database.db, created.prefix, { expiresAt })).toBe(true);
    expect(await row()).toEqual({ name: 'after', allowed_models: '["b","c*"]', expires_at: expiresAt });
    expect(await updateApiKey(database.db, created.prefix, { allowedModels: [] })).toBe(true);
    expect(await row()).toEqual({ name: 'after', allowed_models: null, expires_at: expiresAt });
    await updateApiKey(database.db, created.prefix, { allowedModels: ['d'] });
    expect(await updateApiKey(database.db, created.prefix, { name: null, allowedModels: null, expiresAt: null })).toBe(true);
    expect(await row()).toEqual({ name: null, allowed_models: null, expires_at: null });
  });

  it('with no change, only says whether the prefix has a live key', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user', name: 'unchanged' });
    const { db, counts } = counted();
    expect(await updateApiKey(db, created.prefix, {})).toBe(true);
    expect(await updateApiKey(db, 'tg_nosuchkey', {})).toBe(false);
    expect(counts.updates).toBe(0);
    await revokeApiKey(database.db, created.prefix);
    expect(await updateApiKey(db, created.prefix, {})).toBe(false);
    expect(await updateApiKey(db, created.prefix, { name: 'too late' })).toBe(false);
    const listed = (await listApiKeys(database.db, accountId)).find((key) => key.id === created.id)!;
    expect(listed.name).toBe('unchanged');
  });

  it('an update takes effect at once in this process, and bad controls are refused', async () => {
    const created = await createApiKey(database.db, { accountId, scope: 'user' });
    vi.useFakeTimers({ toFake: ['Date'] });
    expect((await authenticateKey(database.db, created.key))?.allowedModels).toBeNull();
    await updateApiKey(database.db, created.prefix, { allowedModels: ['gpt-4o'] });
    expect((await authenticateKey(database.db, created.key))?.allowedModels).toEqual(['gpt-4o']);
    const error = await refusal(updateApiKey(database.db, created.prefix, { allowedModels: ['ok', '  '] }));
    expect(error).toBeInstanceOf(InvalidKeyFieldError);
    expect(error.message).toBe('invalid models: each must be a model name or pattern of 1 to 200 characters, got "  "');
    await expect(updateApiKey(database.db, created.prefix, { expiresAt: new Date('nope') })).rejects.toBeInstanceOf(
      InvalidKeyFieldError,
    );
    expect((await authenticateKey(database.db, created.key))?.allowedModels).toEqual(['gpt-4o']);
  });
});
