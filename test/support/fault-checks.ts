import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Schema } from '../../src/db/schema.js';
import { Ledger } from '../../src/ledger/ledger.js';

export const FAULT_ADMIN_KEY = 'fault-admin-key-0123456789';

/** Admin API call on a running gateway; the parsed JSON answer, or throws with the status and body. */
export async function admin<T = Record<string, unknown>>(url: string, method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${FAULT_ADMIN_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Polls `check` until it holds; a bounded wait for something another process makes true (never a timing margin on success). */
export async function eventually(description: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`never happened within ${timeoutMs} ms: ${description}`);
    await sleep(50);
  }
}

/** The request ids the ledger captured for the account (each at most once: the unique index says so). */
export async function capturedRequests(db: Kysely<Schema>, accountId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('ledger_entries')
    .select('request_id')
    .where('account_id', '=', accountId)
    .where('kind', '=', 'capture')
    .execute();
  return new Set(rows.map((row) => row.request_id));
}

/** Every account verifies (balance = Σ entries, available = balance − open holds) and none is below zero. */
export async function ledgerHolds(db: Kysely<Schema>): Promise<{ ok: boolean; negative: string[] }> {
  const verification = await new Ledger(db).verify();
  const negative = await db.selectFrom('accounts').select('id').where('balance', '<', '0').execute();
  return { ok: verification.ok, negative: negative.map((row) => row.id) };
}

/** Open holds and credit leases of the account that the sweeper or a restart should have given back. */
export async function openHoldsOf(db: Kysely<Schema>, accountId: string): Promise<number> {
  const rows = await db
    .selectFrom('ledger_entries as hold')
    .select('hold.request_id')
    .where('hold.account_id', '=', accountId)
    .where('hold.kind', '=', 'hold')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('ledger_entries as settled')
            .select('settled.id')
            .whereRef('settled.request_id', '=', 'hold.request_id')
            .where('settled.kind', 'in', ['capture', 'release']),
        ),
      ),
    )
    .execute();
  return rows.length;
}
