/**
 * The NOTIFY channels every instance on one database listens to. They live with the database layer because
 * the HTTP routes, the CLI and the price sync all announce on them, and none of those owns the others.
 */

/** A price changed (admin PUT, sync, reload): every instance reloads its catalog snapshot and markups. */
export const PRICES_CHANGED_CHANNEL = 'tollgate_prices_changed';

/** An admin changed an account: every instance drops its cached account settings and retires its leases. */
export const ACCOUNTS_CHANGED_CHANNEL = 'tollgate_accounts_changed';
