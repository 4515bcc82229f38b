import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';

/**
 * Client `Idempotency-Key` handling (Stripe's semantics, Formance's inputs hash): the first request with a
 * key claims it; a retry after completion replays the stored status and body without calling upstream or
 * charging again; a retry while the first is still running is told so; the same key with a different
 * request is refused. A failed call abandons its claim so the client can retry.
 */
export type IdempotencyBegin =
  { kind: 'new' } | { kind: 'replay'; statusCode: number; response: unknown } | { kind: 'conflict' } | { kind: 'in_progress' };

/** When a claim whose request never completed is orphaned, and may be taken over by a retry. */
export interface ClaimExpiry {
  /** A claim's owner (a gateway instance) silent this long, stopped, or gone, died with the request. */
  silenceMs: number;
  /** A claim with no owner recorded (made before owners were) is orphaned after this age. */
  unownedSeconds: number;
}

export const DEFAULT_CLAIM_EXPIRY: ClaimExpiry = { silenceMs: 30_000, unownedSeconds: 900 };

export async function beginIdempotentRequest(
  db: Kysely<Schema>,
  input: { accountId: string; key: string; requestHash: string; requestId: string; ownerId?: string },
  expiry: ClaimExpiry = DEFAULT_CLAIM_EXPIRY,
): Promise<IdempotencyBegin> {
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({
      account_id: input.accountId,
      key: input.key,
      request_hash: input.requestHash,
      request_id: input.requestId,
      status: 'in_progress',
      owner_id: input.ownerId ?? null,
    })
    .onConflict((conflict) => conflict.columns(['account_id', 'key']).doNothing())
    .returning('key')
    .executeTakeFirst();
  if (claimed) return { kind: 'new' };
  const existing = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status', 'status_code', 'response', 'created_at', 'owner_id', 'request_id'])
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .executeTakeFirst();
  // Abandoned between our insert and this read: claim again.
  if (!existing) return beginIdempotentRequest(db, input, expiry);
  if (existing.request_hash !== input.requestHash) return { kind: 'conflict' };
  if (existing.status === 'completed')
    return {
      kind: 'replay',
      statusCode: existing.status_code ?? 200,
      response: existing.response === null ? null : JSON.parse(existing.response),
    };
  if (!(await isOrphaned(db, existing, expiry))) return { kind: 'in_progress' };
  // The claim's process died with the request: take it over (only that claim, if nobody else did first).
  const taken = await db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .where('status', '<>', 'completed')
    .where('request_id', '=', existing.request_id)
    .executeTakeFirst();
  return taken.numDeletedRows > 0n ? beginIdempotentRequest(db, input, expiry) : { kind: 'in_progress' };
}

/** An in-progress claim whose owner is stopped, gone or silent (or, unowned, older than the expiry). */
async function isOrphaned(
  db: Kysely<Schema>,
  claim: { owner_id: string | null; created_at: Date },
  expiry: ClaimExpiry,
): Promise<boolean> {
  if (claim.owner_id === null) return new Date(claim.created_at).getTime() < Date.now() - expiry.unownedSeconds * 1000;
  const owner = await db
    .selectFrom('gateway_instances')
    .select((eb) => [
      'stopped_at',
      sql<boolean>`heartbeat_at < now() - make_interval(secs => ${expiry.silenceMs / 1000})`.as('silent'),
    ])
    .where('id', '=', claim.owner_id)
    .executeTakeFirst();
  return !owner || owner.stopped_at !== null || owner.silent;
}

/** Stores the outcome a retry will replay. */
export async function completeIdempotentRequest(
  db: Kysely<Schema>,
  input: { accountId: string; key: string; statusCode: number; response: unknown },
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({
      status: 'completed',
      status_code: input.statusCode,
      response: JSON.stringify(input.response ?? null),
      completed_at: new Date(),
    })
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .execute();
}

/** Frees the key after a failed call, so a retry runs instead of waiting on a claim that will never complete. */
export async function abandonIdempotentRequest(db: Kysely<Schema>, input: { accountId: string; key: string }): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .where('status', '<>', 'completed')
    .execute();
}

/** sha256 of the body's canonical JSON: object keys sorted at every depth, so key order does not matter. */
export function hashRequest(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return canonicalJson((value as { toJSON(): unknown }).toJSON());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}
