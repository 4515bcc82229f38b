import type { BudgetMode } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import type { CostBreakdown, NormalizedUsage } from './types.js';
import { otherModelTokens, totalInputTokens, totalOutputTokens } from './usage.js';

export type DebitUnit = 'usd' | 'tokens';

export interface Debit {
  amount: Decimal;
  unit: DebitUnit;
}

export interface DebitInput {
  breakdown: CostBreakdown;
  usage: NormalizedUsage;
  /** The account's job price (accounts.job_price), needed by `job_based` only. */
  jobPrice: Decimal | undefined;
}

/** A `job_based` account with no job price: the ledger cannot know what to debit. */
export class MissingJobPriceError extends Error {
  constructor() {
    super(
      'the account uses the job_based budget mode but has no job price; set accounts.job_price ' +
        '(tollgate accounts update <account> --job-price <usd>) or switch the account to consumption_usd',
    );
    this.name = 'MissingJobPriceError';
  }
}

/**
 * What one successful call takes from an account, in the account's unit (the seed's three credit modes):
 * - `consumption_usd`: the charge (provider cost plus markup), in USD;
 * - `consumption_tokens`: every token, input and output of every kind (cache reads and writes, audio and
 *   reasoning included, and those of other models' steps within the call, such as Anthropic's advisor), because
 *   the account holds a token balance;
 * - `job_based`: the account's fixed job price per call, whatever the call cost.
 * @throws MissingJobPriceError for `job_based` without a job price.
 */
export function debitFor(mode: BudgetMode, input: DebitInput): Debit {
  switch (mode) {
    case 'consumption_usd':
      return { amount: input.breakdown.charge, unit: 'usd' };
    case 'consumption_tokens':
      return {
        amount: Decimal.of(totalInputTokens(input.usage) + totalOutputTokens(input.usage) + otherModelTokens(input.usage)),
        unit: 'tokens',
      };
    case 'job_based':
      if (input.jobPrice === undefined) throw new MissingJobPriceError();
      return { amount: input.jobPrice, unit: 'usd' };
    default:
      throw new RangeError(`unknown budget mode ${JSON.stringify(mode)}`);
  }
}
