import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';

/**
 * Client `Idempotency-Key` handling (Stripe's semantics, Formance's inputs hash): the first request with a
 * key claims it; a retry after completion replays the stored status and body without calling upstream or
 * charging again; a retry while the first is still running is told so; the same key with a different
 * request is refused. A failed call abandons its claim so the client can retry.
 */
export type IdempotencyBegin =
  { kind: 'new' } | { kind: 'replay'; statusCode: number; response: unknown } | { kind: 'conflict' } | { kind: 'in_progress' };

/**
 * A claim older than this whose request never completed belongs to a process that died; a new request
 * with the same key and body takes it over (the sweeper has released that request's hold by then).
 */
export const STALE_CLAIM_SECONDS = 900;

export async function beginIdempotentRequest(
  db: Kysely<Schema>,
  input: { accountId: string; key: string; requestHash: string; requestId: string },
): Promise<IdempotencyBegin> {
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({
      account_id: input.accountId,
      key: input.key,
      request_hash: input.requestHash,
      request_id: input.requestId,
      status: 'in_progress',
    })
    .onConflict((conflict) => conflict.columns(['account_id', 'key']).doNothing())
    .returning('key')
    .executeTakeFirst();
  if (claimed) return { kind: 'new' };
  const existing = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status', 'status_code', 'response', 'created_at'])
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .executeTakeFirst();
  // Abandoned between our insert and this read: claim again.
  if (!existing) return beginIdempotentRequest(db, input);
  if (existing.request_hash !== input.requestHash) return { kind: 'conflict' };
  if (existing.status === 'completed')
    return { kind: 'replay', statusCode: existing.status_code ?? 200, response: existing.response };
  const staleClaim = await db
    .deleteFrom('idempotency_keys')
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .where('status', '<>', 'completed')
    .where('created_at', '<', new Date(Date.now() - STALE_CLAIM_SECONDS * 1000))
    .executeTakeFirst();
  return staleClaim.numDeletedRows > 0n ? beginIdempotentRequest(db, input) : { kind: 'in_progress' };
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
