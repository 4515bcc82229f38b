import { hash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { randomBase62 } from './accounts.js';
import { ExpiringCache } from '../util/expiring-cache.js';
import { InvalidKeyFieldError } from './errors.js';

/**
 * API keys: `tg_` + 32 base62 characters (~190 bits from a CSPRNG), shown once at creation. The table keeps
 * only the sha256 of the key and its first 12 characters (the prefix, for listings and revocation); a
 * leaked table gives no usable key. A fast hash is right here: the key is random, not a password, so there
 * is nothing to brute-force.
 */
export type KeyScope = 'user' | 'admin';

export interface CreatedApiKey {
  id: string;
  prefix: string;
  /** The whole key: returned once, never stored. */
  key: string;
}

export interface AuthenticatedKey {
  keyId: string;
  prefix: string;
  scope: KeyScope;
  accountId: string | null;
  /** The models the key may call (names or `*` patterns); null: every model. */
  allowedModels: string[] | null;
  /** When the key stops working (ms since the epoch); null: never. */
  expiresAt: number | null;
}

export interface ApiKeyListing {
  id: string;
  prefix: string;
  scope: KeyScope;
  name: string | null;
  accountId: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  allowedModels: string[] | null;
  expiresAt: Date | null;
}

export const KEY_PREFIX_LENGTH = 12;
/**
 * How long an authentication stays cached in this process: a key's identity, allowed models and expiry, read
 * once per this many milliseconds rather than on every call. A revoke or update in this process clears the cache
 * at once; one made elsewhere (another instance, the CLI) is announced on ACCOUNTS_CHANGED_CHANNEL and clears it
 * on every instance when the notification arrives (`forgetAuthentications`): this lifetime is only the backstop
 * for a notification lost with its connection (a lost connection refreshes everything when it is back anyway).
 */
export const AUTHENTICATION_CACHE_TTL_MS = 10_000;
/** `last_used_at` is written at most once a minute per key, after the call, so it never slows the call path. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export function hashKey(key: string): string {
  // One-shot: a fifth of createHash().update().digest()'s time, on every call's authentication.
  return hash('sha256', key, 'hex');
}

/** At most this many model names or patterns on one key. */
export const MAX_ALLOWED_MODELS = 100;

/**
 * Checks a key's allow-list (names or `*` patterns, none empty) and expiry (a real time).
 * @throws InvalidKeyFieldError
 */
export function checkKeyControls(controls: { allowedModels?: string[] | null; expiresAt?: Date | null }): void {
  const models = controls.allowedModels;
  if (models) {
    if (models.length > MAX_ALLOWED_MODELS)
      throw new InvalidKeyFieldError('models', `at most ${MAX_ALLOWED_MODELS} names or patterns`);
    for (const model of models) {
      if (model.trim() === '' || model.length > 200) {
        throw new InvalidKeyFieldError(
          'models',
          `each must be a model name or pattern of 1 to 200 characters, got ${JSON.stringify(model)}`,
        );
      }
    }
  }
  if (controls.expiresAt && Number.isNaN(controls.expiresAt.getTime())) {
    throw new InvalidKeyFieldError('expires_at', 'must be a time such as 2026-12-31T23:59:59Z');
  }
}

export async function createApiKey(
  db: Kysely<Schema>,
  input: { accountId: string | null; scope: KeyScope; name?: string; allowedModels?: string[] | null; expiresAt?: Date | null },
): Promise<CreatedApiKey> {
  checkKeyControls(input);
  const key = `tg_${randomBase62(32)}`;
  const id = `key_${randomUUID()}`;
  const prefix = key.slice(0, KEY_PREFIX_LENGTH);
  await db
    .insertInto('api_keys')
    .values({
      id,
      account_id: input.accountId,
      prefix,
      hash: hashKey(key),
      scope: input.scope,
      name: input.name ?? null,
      allowed_models: input.allowedModels?.length ? JSON.stringify(input.allowedModels) : null,
      expires_at: input.expiresAt ?? null,
    })
    .execute();
  cacheFor(db).unknown.delete(hashKey(key));
  return { id, prefix, key };
}

/**
 * Known keys, and apart from them the hashes found unknown: a client hammering with a wrong or revoked key
 * costs one query a minute, not one per call, and a flood of random keys only churns the unknown ones, never
 * evicting the keys in use.
 */
interface KeyCaches {
  known: ExpiringCache<AuthenticatedKey>;
  unknown: ExpiringCache<true>;
}

/** How long an unknown key's hash is remembered as unknown. */
export const UNKNOWN_KEY_CACHE_TTL_MS = 60_000;

/** Per database handle, so two databases in one process (tests) never share answers. */
const caches = new WeakMap<Kysely<Schema>, KeyCaches>();
const lastUsedWrites = new WeakMap<Kysely<Schema>, Map<string, number>>();

function cacheFor(db: Kysely<Schema>): KeyCaches {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = { known: new ExpiringCache(10_000), unknown: new ExpiringCache(10_000) }));
  return cache;
}

/**
 * Forgets every key authenticated on this database handle, so the next call of each reads its key again (a
 * revoked key is refused, a changed expiry or allow-list applies). The hashes found unknown stay unknown: a key
 * is never un-revoked, and a new key clears its own hash where it is created.
 */
export function forgetAuthentications(db: Kysely<Schema>): void {
  caches.get(db)?.known.clear();
}

/** The key's identity, or undefined for an unknown or revoked key. Never throws on bad input. */
export async function authenticateKey(db: Kysely<Schema>, presented: string): Promise<AuthenticatedKey | undefined> {
  if (!presented.startsWith('tg_') || presented.length > 200) return undefined;
  const hash = hashKey(presented);
  const cache = cacheFor(db);
  const now = Date.now();
  const known = cache.known.get(hash, now);
  if (known) {
    touchLastUsed(db, known.value.keyId, now);
    return known.value;
  }
  if (cache.unknown.get(hash, now)) return undefined;
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'prefix', 'scope', 'account_id', 'allowed_models', 'expires_at'])
    .where('hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) {
    cache.unknown.set(hash, true, now + UNKNOWN_KEY_CACHE_TTL_MS);
    return undefined;
  }
  const value: AuthenticatedKey = {
    keyId: row.id,
    prefix: row.prefix,
    scope: row.scope,
    accountId: row.account_id,
    allowedModels: row.allowed_models === null ? null : (JSON.parse(row.allowed_models) as string[]),
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at).getTime(),
  };
  cache.known.set(hash, value, now + AUTHENTICATION_CACHE_TTL_MS);
  touchLastUsed(db, value.keyId, now);
  return value;
}

function touchLastUsed(db: Kysely<Schema>, keyId: string, now: number): void {
  let writes = lastUsedWrites.get(db);
  if (!writes) lastUsedWrites.set(db, (writes = new Map()));
  const last = writes.get(keyId);
  if (last !== undefined && now - last < LAST_USED_WRITE_INTERVAL_MS) return;
  writes.set(keyId, now);
  // Fire-and-forget: a lost last-used time is harmless, a slower call is not.
  void db
    .updateTable('api_keys')
    .set({ last_used_at: new Date(now) })
    .where('id', '=', keyId)
    .execute()
    .catch(() => undefined);
}

/**
 * Revokes the key with this prefix; false when no live key has it. Clears this process's cache at once; the
 * caller announces it to the other instances (ACCOUNTS_CHANGED_CHANNEL), as the admin route and the CLI do.
 */
export async function revokeApiKey(db: Kysely<Schema>, prefix: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('prefix', '=', prefix)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  cacheFor(db).known.clear();
  return result.numUpdatedRows > 0n;
}

export async function listApiKeys(
  db: Kysely<Schema>,
  accountId?: string,
  options: { livePrefix?: string } = {},
): Promise<ApiKeyListing[]> {
  let query = db
    .selectFrom('api_keys')
    .select([
      'id',
      'prefix',
      'scope',
      'name',
      'account_id',
      'created_at',
      'revoked_at',
      'last_used_at',
      'allowed_models',
      'expires_at',
    ]);
  if (accountId !== undefined) query = query.where('account_id', '=', accountId);
  if (options.livePrefix !== undefined) query = query.where('prefix', '=', options.livePrefix).where('revoked_at', 'is', null);
  const rows = await query.orderBy('created_at').orderBy('id').execute();
  return rows.map((row) => ({
    id: row.id,
    prefix: row.prefix,
    scope: row.scope,
    name: row.name,
    accountId: row.account_id,
    createdAt: new Date(row.created_at),
    revokedAt: row.revoked_at ? new Date(row.revoked_at) : null,
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at) : null,
    allowedModels: row.allowed_models === null ? null : (JSON.parse(row.allowed_models) as string[]),
    expiresAt: row.expires_at ? new Date(row.expires_at) : null,
  }));
}

export interface KeyChanges {
  name?: string | null;
  /** An empty list or null: every model. */
  allowedModels?: string[] | null;
  expiresAt?: Date | null;
}

/**
 * Changes a live key's label, allowed models or expiry; false when no live key has the prefix. Clears this
 * process's cache at once; the caller announces it to the other instances (ACCOUNTS_CHANGED_CHANNEL).
 */
export async function updateApiKey(db: Kysely<Schema>, prefix: string, changes: KeyChanges): Promise<boolean> {
  checkKeyControls(changes);
  const set = {
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.allowedModels !== undefined
      ? { allowed_models: changes.allowedModels?.length ? JSON.stringify(changes.allowedModels) : null }
      : {}),
    ...(changes.expiresAt !== undefined ? { expires_at: changes.expiresAt } : {}),
  };
  if (Object.keys(set).length === 0) {
    const found = await db
      .selectFrom('api_keys')
      .select('id')
      .where('prefix', '=', prefix)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return found !== undefined;
  }
  const result = await db
    .updateTable('api_keys')
    .set(set)
    .where('prefix', '=', prefix)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  cacheFor(db).known.clear();
  return result.numUpdatedRows > 0n;
}
