import { sql, type Kysely } from 'kysely';

/**
 * Console sessions move from one process's memory into the database, so that every gateway process behind one
 * address (`tollgate serve --workers N`, or several instances) knows a session whichever of them signed it in,
 * and a restart signs nobody out. Keyed by the SHA-256 of the cookie's token: the table holds no usable cookie.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('console_sessions')
    .addColumn('token_hash', 'text', (column) => column.primaryKey())
    .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('admin', 'customer')`))
    .addColumn('key_id', 'text')
    .addColumn('key_prefix', 'text')
    .addColumn('account_id', 'text', (column) => column.references('accounts.id').onDelete('cascade'))
    .addColumn('csrf_token', 'text', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull())
    .addColumn('idle_expires_at', 'timestamptz', (column) => column.notNull())
    .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
    .addCheckConstraint(
      'console_sessions_customer_has_account',
      sql`role = 'admin' or (account_id is not null and key_id is not null)`,
    )
    .execute();
  await db.schema.createIndex('console_sessions_ends').on('console_sessions').column('idle_expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('console_sessions').execute();
}
