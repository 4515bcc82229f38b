import type { Kysely } from 'kysely';

/**
 * Credit leases (src/ledger/credit-leases.ts): a gateway process holds a block of an account's credits
 * once (a hold entry whose request id starts with `lease_`) and settles many calls against it. Each call's
 * capture entry names its lease, so the lease's unspent part (its amount plus the sum of those negative
 * captures) is computable from the entries alone, for `verify` and for the release that closes the lease.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('ledger_entries').addColumn('lease_id', 'text').execute();
  await db.schema
    .createIndex('ledger_entries_lease')
    .on('ledger_entries')
    .column('lease_id')
    .where('lease_id', 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('ledger_entries_lease').ifExists().execute();
  await db.schema.alterTable('ledger_entries').dropColumn('lease_id').execute();
}
