import type { Decimal } from '../money/decimal.js';
import type { Ledger } from './ledger.js';
import type { CaptureInput } from './settlement.js';

/** What a settled call is charged: the priced usage, in the account's unit, and what is recorded with it. */
export type SettleInput = Omit<CaptureInput, 'requestId' | 'leaseId'>;

/** What a settled call was charged and what its account has left. */
export interface CallCharge {
  captured: Decimal;
  /** The part of the actual amount not collected because the overdraft policy stopped it. */
  shortfall: Decimal;
  /** Credits neither spent nor reserved, as this process knows them. */
  creditsLeft: Decimal;
}

/** A call's reserved credits, to settle or release exactly once. */
export interface CallHold {
  readonly requestId: string;
  readonly accountId: string;
  readonly amount: Decimal;
}

/**
 * How the gateway reserves and settles a call's credits: through credit leases (no database round trip on
 * the call's path; the default) or with a durable hold and capture per call (TOLLGATE_HOLDS=per_call).
 */
export interface CallReservations {
  /** @throws InsufficientCreditsError, AccountSuspendedError, AccountNotFoundError */
  hold(input: { accountId: string; requestId: string; amount: Decimal }): Promise<CallHold>;
  settle(hold: CallHold, input: SettleInput): Promise<CallCharge>;
  /** The call failed: nothing is charged. */
  release(hold: CallHold, reason: string): Promise<void>;
  /** Resolves when every settled call's capture is in the database. */
  flush(): Promise<void>;
  /** Flushes, then gives back whatever is reserved and not in use. */
  returnUnused(): Promise<void>;
  /** The account's terms or status changed (any account's, without an id): reserve afresh for its next calls. */
  retireAccount(accountId?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * One durable hold before the upstream call and one durable capture after it, per call: what the ledger
 * does on its own. Costs two commits on every call's path; every process sees every reservation at once.
 */
export function perCallReservations(ledger: Ledger, options: { ownerId?: string } = {}): CallReservations {
  return {
    async hold(input) {
      await ledger.hold({ ...input, ...(options.ownerId ? { ownerId: options.ownerId } : {}) });
      return { requestId: input.requestId, accountId: input.accountId, amount: input.amount };
    },
    async settle(hold, input) {
      const outcome = await ledger.capture({ ...input, requestId: hold.requestId });
      return { captured: outcome.captured, shortfall: outcome.shortfall, creditsLeft: outcome.available };
    },
    async release(hold, reason) {
      await ledger.release(hold.requestId, reason);
    },
    flush: async () => undefined,
    returnUnused: async () => undefined,
    retireAccount: async () => undefined,
    close: async () => undefined,
  };
}
