/**
 * The NOTIFY channels every instance on one database listens to. They live with the database layer because
 * the HTTP routes, the CLI and the price sync all announce on them, and none of those owns the others.
 */

/** A price changed (admin PUT, sync, reload): every instance reloads its catalog snapshot and markups. */
export const PRICES_CHANGED_CHANNEL = 'tollgate_prices_changed';

/**
 * An admin changed an account, a key (revoked, its expiry or models changed) or a limit, through the admin routes
 * or the CLI: every instance drops its cached account settings, authenticated keys and limits, and retires its
 * leases, so the change applies at its next call.
 */
export const ACCOUNTS_CHANGED_CHANNEL = 'tollgate_accounts_changed';
