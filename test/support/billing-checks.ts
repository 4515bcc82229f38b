import { expect } from 'vitest';
import { Decimal } from '../../src/money/decimal.js';
import type { TestGateway } from './gateway-harness.js';
import { capturedTotal, entriesOf, expectSettled } from './ledger-checks.js';

/** Σ units × rate, exactly: an expected charge from a recording's counts and a price file's rates. */
export function cost(...lines: Array<[number, string]>): Decimal {
  return Decimal.sum(lines.map(([units, rate]) => Decimal.parse(rate).times(units)));
}

/**
 * What every billed call must show once its captures are written: exactly one capture for the call, equal to
 * the charge the response reported (`reported`, the decimal text of `usage.tollgate.charge`) and to `expected`
 * when given, the balance down by exactly that, and the ledger settled (no open hold, verify ok).
 */
export async function expectBilledOnce(
  harness: TestGateway,
  account: { id: string },
  credits: string,
  reported: string,
  expected?: Decimal,
): Promise<void> {
  if (expected) expect(reported).toBe(expected.toString());
  await harness.flush();
  const captures = (await entriesOf(harness.database.db, account.id)).filter((entry) => entry.kind === 'capture');
  expect(captures).toHaveLength(1);
  expect((await capturedTotal(harness.database.db, account.id)).toString()).toBe(Decimal.parse(reported).toString());
  const after = await harness.gateway.ledger.getAccount(account.id);
  expect(after.balance.toString()).toBe(Decimal.parse(credits).sub(Decimal.parse(reported)).toString());
  await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
}

/** The `cost` JSON literal of a response body, as written (exact decimal, never a float's rounding). */
export function costLiteral(text: string): string {
  const match = /"cost":(-?[0-9.eE+-]+)/.exec(text);
  if (!match) throw new Error(`no "cost" in ${text.slice(0, 200)}`);
  return match[1]!;
}
