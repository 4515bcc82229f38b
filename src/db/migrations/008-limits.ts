import { sql, type Kysely } from 'kysely';

/**
 * Budgets and limits (issue 13):
 * - `accounts.parent_id`: a team's account draws on its parent's balance (the root of its chain is the one
 *   wallet every hold and capture of the chain is written against); `low_balance_alert` is the level below
 *   which the account's wallet raises an alert.
 * - `api_keys.allowed_models` (a JSON list of names or `*` patterns; null = every model) and `expires_at`.
 * - `limits`: one row per target (an account, a key, or an end user of an account): a spend cap per period
 *   in the wallet's unit (hard, or soft: alerts only), in a time zone, and rate limits (requests and tokens per
 *   minute, concurrent calls).
 * - `limit_usage`: per cap and period, what is used: settled spend plus what open reservations still hold.
 *   Every reservation is one conditional write on this row (`used + h <= cap`), so no cap is ever exceeded.
 * - `limit_alerts`: the thresholds already alerted, once per cap, period and threshold.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('accounts')
    .addColumn('parent_id', 'text', (column) => column.references('accounts.id'))
    .execute();
  await db.schema.alterTable('accounts').addColumn('low_balance_alert', 'numeric').execute();
  await db.schema.createIndex('accounts_parent').on('accounts').column('parent_id').execute();

  await db.schema.alterTable('api_keys').addColumn('allowed_models', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'timestamptz').execute();

  await db.schema
    .createTable('limits')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('target_kind', 'text', (column) => column.notNull().check(sql`target_kind in ('account', 'key', 'end_user')`))
    .addColumn('account_id', 'text', (column) => column.notNull().references('accounts.id'))
    .addColumn('key_id', 'text', (column) => column.references('api_keys.id'))
    .addColumn('end_user', 'text')
    /** Unique per target: `account:<id>`, `key:<id>`, `end_user:<account id>:<end user>`. */
    .addColumn('target', 'text', (column) => column.notNull().unique())
    .addColumn('cap', 'numeric', (column) => column.check(sql`cap >= 0`))
    .addColumn('period', 'text', (column) =>
      column
        .notNull()
        .defaultTo('total')
        .check(sql`period in ('day', 'week', 'month', 'total')`),
    )
    .addColumn('timezone', 'text', (column) => column.notNull().defaultTo('UTC'))
    .addColumn('soft', 'boolean', (column) => column.notNull().defaultTo(false))
    .addColumn('rpm', 'integer', (column) => column.check(sql`rpm > 0`))
    .addColumn('tpm', 'integer', (column) => column.check(sql`tpm > 0`))
    .addColumn('concurrency', 'integer', (column) => column.check(sql`concurrency > 0`))
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('limits_account').on('limits').column('account_id').execute();

  await db.schema
    .createTable('limit_usage')
    .addColumn('limit_id', 'text', (column) => column.notNull().references('limits.id').onDelete('cascade'))
    .addColumn('period_start', 'timestamptz', (column) => column.notNull())
    .addColumn('used', 'numeric', (column) => column.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('limit_usage_pkey', ['limit_id', 'period_start'])
    .execute();

  await db.schema
    .createTable('limit_alerts')
    .addColumn('limit_id', 'text', (column) => column.notNull().references('limits.id').onDelete('cascade'))
    .addColumn('period_start', 'timestamptz', (column) => column.notNull())
    .addColumn('threshold', 'integer', (column) => column.notNull())
    .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('limit_alerts_pkey', ['limit_id', 'period_start', 'threshold'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('limit_alerts').execute();
  await db.schema.dropTable('limit_usage').execute();
  await db.schema.dropTable('limits').execute();
  await db.schema.alterTable('api_keys').dropColumn('expires_at').execute();
  await db.schema.alterTable('api_keys').dropColumn('allowed_models').execute();
  await db.schema.alterTable('accounts').dropColumn('low_balance_alert').execute();
  await db.schema.alterTable('accounts').dropColumn('parent_id').execute();
}
