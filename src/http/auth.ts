import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Db } from '../db/database.js';
import type { Caller } from '../gateway/pipeline.js';
import { authenticateKey, forgetAuthentications } from '../ledger/api-keys.js';
import type { Ledger } from '../ledger/ledger.js';
import { billingTerms } from '../ledger/accounts.js';
import { GatewayError } from '../gateway/errors.js';

const ACCOUNT_CACHE_MS = 5_000;

export type KeyIdentity =
  | { role: 'admin'; keyId: string | null; keyPrefix: string | null }
  | { role: 'customer'; keyId: string; keyPrefix: string; accountId: string };

/**
 * Turns an `Authorization: Bearer <key>` header into the caller. Keys are looked up by hash (the table
 * never holds a key) and cached for 10 s (AUTHENTICATION_CACHE_TTL_MS); the account's billing settings for 5 s.
 * Both are dropped on every instance as soon as an admin change is announced (ACCOUNTS_CHANGED_CHANNEL: see
 * `invalidate`); the lifetimes are backstops. The status that matters for money (suspended) is enforced again by
 * the hold's conditional write.
 */
export class Authenticator {
  private readonly accounts = new Map<string, { caller: Omit<Caller, 'keyId' | 'allowedModels' | 'endUser'>; expires: number }>();
  private readonly adminKeyHash: Buffer | undefined;

  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    adminKey: string | undefined,
    /** The request header that names the caller's end user when the body does not (lower case). */
    private readonly endUserHeader?: string,
  ) {
    this.adminKeyHash = adminKey ? sha256(adminKey) : undefined;
  }

  /**
   * `headers`: the request's, for the configured end-user header. `options.apiKeyHeader`: the route also takes
   * the key as `x-api-key` (Anthropic's header, on /v1/messages), so a missing key's error names both.
   * @throws GatewayError missing_api_key, invalid_api_key, key_expired, forbidden (an admin key on a call route).
   */
  async caller(
    authorization: string | undefined,
    headers?: IncomingHttpHeaders,
    options: { apiKeyHeader?: boolean } = {},
  ): Promise<Caller> {
    const presented = bearer(
      authorization,
      options.apiKeyHeader ? '"x-api-key: <key>" or "Authorization: Bearer <key>"' : '"Authorization: Bearer <key>"',
    );
    const key = await authenticateKey(this.db, presented);
    if (!key) throw new GatewayError('invalid_api_key', 'invalid API key: check the key, or ask the operator for a new one');
    if (!key.accountId) throw new GatewayError('forbidden', 'this key has no account; calls need a user key of an account');
    if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
      throw new GatewayError(
        'key_expired',
        `this API key expired at ${new Date(key.expiresAt).toISOString()}; ask the operator for a new key or a later expiry`,
        undefined,
        undefined,
        { details: { level: 'key', expired_at: new Date(key.expiresAt).toISOString() } },
      );
    }
    const named = this.endUserHeader ? headers?.[this.endUserHeader] : undefined;
    const endUser = typeof named === 'string' && named !== '' ? named : undefined;
    const keyControls = { keyId: key.keyId, allowedModels: key.allowedModels, ...(endUser ? { endUser } : {}) };
    const cached = this.accounts.get(key.accountId);
    if (cached && cached.expires > Date.now()) return { ...cached.caller, ...keyControls };
    const terms = await billingTerms(this.db, key.accountId);
    const { account, chain, wallet } = terms;
    if (account.status !== 'active') throw new GatewayError('account_suspended', 'the account is suspended');
    // A team's account draws on its wallet (the root of its chain): every level must be active.
    for (const parent of chain.slice(1)) {
      if (parent.status !== 'active')
        throw new GatewayError('account_suspended', `the account's team ${parent.name} is suspended`);
    }
    const caller: Omit<Caller, 'keyId' | 'allowedModels' | 'endUser'> = {
      accountId: account.id,
      ...(chain.length > 1 ? { chain: chain.map((level) => level.id) } : {}),
      mode: wallet.mode,
      // Its own job price and markup, else its wallet's (src/ledger/accounts.ts, billingTerms).
      jobPrice: terms.jobPrice,
      markup: terms.markup,
    };
    this.accounts.set(key.accountId, { caller, expires: Date.now() + ACCOUNT_CACHE_MS });
    return { ...caller, ...keyControls };
  }

  /**
   * Forgets cached account settings (after an admin changes them); without an account, every account's and
   * every authenticated key's too (after an account, key or limit changed anywhere: ACCOUNTS_CHANGED_CHANNEL),
   * so a revoked key is refused, and a key's new expiry or models apply, at its next call.
   */
  invalidate(accountId?: string): void {
    if (accountId) this.accounts.delete(accountId);
    else {
      this.accounts.clear();
      forgetAuthentications(this.db);
    }
  }

  /** The configured admin key, or an admin-scope key from the database. @throws GatewayError when neither. */
  async requireAdmin(authorization: string | undefined): Promise<void> {
    const identity = await this.identify(bearer(authorization));
    if (identity?.role === 'admin') return;
    if (identity) throw new GatewayError('forbidden', 'this route needs an admin key; the key given is a user key');
    throw new GatewayError('invalid_api_key', 'invalid admin key');
  }

  /**
   * What a key is: the configured admin key (no id), an admin-scope key, or a user key of an account;
   * undefined for an unknown or revoked key (or a user key with no account, which nothing accepts).
   */
  async identify(presented: string): Promise<KeyIdentity | undefined> {
    if (this.adminKeyHash && timingSafeEqual(sha256(presented), this.adminKeyHash)) {
      return { role: 'admin', keyId: null, keyPrefix: null };
    }
    const key = await authenticateKey(this.db, presented);
    if (key?.scope === 'admin') return { role: 'admin', keyId: key.keyId, keyPrefix: key.prefix };
    if (key?.accountId) return { role: 'customer', keyId: key.keyId, keyPrefix: key.prefix, accountId: key.accountId };
    return undefined;
  }
}

/** `how`: the headers the route takes the key in, for the error. */
function bearer(authorization: string | undefined, how = '"Authorization: Bearer <key>"'): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) {
    throw new GatewayError('missing_api_key', `missing API key: send it as ${how}`);
  }
  return match[1]!;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
