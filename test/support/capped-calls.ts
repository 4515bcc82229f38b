import { CapExceededError, type CapReservations, type CapSpec } from '../../src/ledger/cap-reservations.js';
import { InsufficientCreditsError } from '../../src/ledger/errors.js';
import type { CallReservations } from '../../src/ledger/reservations.js';
import type { Decimal } from '../../src/money/decimal.js';

/**
 * A call's money path as the gateway runs it (src/gateway/pipeline.ts): its worst case reserved on every cap,
 * then held on the wallet, then settled on both with `actual` (the worst case unless given).
 */
export async function cappedCall(
  caps: CapReservations,
  reservations: CallReservations,
  input: { specs: CapSpec[]; walletId: string; requestId: string; amount: Decimal; actual?: Decimal; startedAt?: number },
): Promise<void> {
  const capHold = await caps.reserve(input.specs, input.amount, input.startedAt ?? Date.now());
  let hold;
  try {
    hold = await reservations.hold({ accountId: input.walletId, requestId: input.requestId, amount: input.amount });
  } catch (error) {
    await caps.release(capHold);
    throw error;
  }
  const actual = input.actual ?? input.amount;
  const charged = await reservations.settle(hold, { amount: actual, priceVersion: 1 });
  await caps.settle(capHold, charged.captured);
}

/** How many calls were served; every failure must be a refusal (a cap's or the wallet's), nothing else. */
export function servedCount(outcomes: Array<PromiseSettledResult<unknown>>): {
  served: number;
  capRefusals: number;
  creditRefusals: number;
} {
  let served = 0;
  let capRefusals = 0;
  let creditRefusals = 0;
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') served += 1;
    else if (outcome.reason instanceof CapExceededError) capRefusals += 1;
    else if (outcome.reason instanceof InsufficientCreditsError) creditRefusals += 1;
    else throw outcome.reason;
  }
  return { served, capRefusals, creditRefusals };
}

/** What the cap's row says is used in its period (settled plus open reservations). */
export { usedOf as capUsed } from '../../src/ledger/cap-reservations.js';
