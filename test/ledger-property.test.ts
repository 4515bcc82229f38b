import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientCreditsError } from '../src/ledger/errors.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { backends, type TestDatabase } from './support/backends.js';

/**
 * Any random sequence of grants, holds, captures and releases keeps verify true, never overdraws, and
 * agrees with a plain in-memory model of the same rules (hold iff available covers it; a capture takes at
 * most the hold plus what is available; a settled hold stays settled).
 */
type Operation =
  | { kind: 'grant'; cents: number }
  | { kind: 'hold'; request: number; cents: number }
  | { kind: 'capture'; request: number; cents: number }
  | { kind: 'release'; request: number };

const request = fc.integer({ min: 0, max: 7 });
const cents = fc.integer({ min: 0, max: 400 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('grant' as const), cents: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('hold' as const), request, cents }),
  fc.record({ kind: fc.constant('capture' as const), request, cents }),
  fc.record({ kind: fc.constant('release' as const), request }),
);

const usd = (value: number) => Decimal.of(value).shift(-2);

describe.each(backends())('ledger property on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let run = 0;
  beforeAll(async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
  });
  afterAll(async () => {
    await database.close();
  });

  it('random sequences keep verify true and match the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (operations) => {
        run += 1;
        const { account } = await ledger.createAccount({ name: `property-${run}`, mode: 'consumption_usd', credits: usd(100) });
        const prefix = `p${run}-`;
        let balance = 100;
        let available = 100;
        const holds = new Map<number, { cents: number; settled: 'open' | 'captured' | 'released' }>();
        for (const step of operations) {
          if (step.kind === 'grant') {
            await ledger.grant(account.id, usd(step.cents));
            balance += step.cents;
            available += step.cents;
          } else if (step.kind === 'hold') {
            const attempt = ledger.hold({ accountId: account.id, requestId: prefix + step.request, amount: usd(step.cents) });
            if (holds.has(step.request)) await attempt;
            else if (available >= step.cents) {
              await attempt;
              holds.set(step.request, { cents: step.cents, settled: 'open' });
              available -= step.cents;
            } else await expect(attempt).rejects.toBeInstanceOf(InsufficientCreditsError);
          } else if (!holds.has(step.request)) {
            continue;
          } else if (step.kind === 'capture') {
            const hold = holds.get(step.request)!;
            const outcome = await ledger.capture({ requestId: prefix + step.request, amount: usd(step.cents) });
            if (hold.settled === 'captured') {
              expect(outcome.replayed).toBe(true);
              continue;
            }
            const held = hold.settled === 'open' ? hold.cents : 0;
            const captured = Math.min(step.cents, held + available);
            expect(outcome.captured.toString()).toBe(usd(captured).toString());
            balance -= captured;
            available += held - captured;
            hold.settled = 'captured';
          } else {
            const hold = holds.get(step.request)!;
            const outcome = await ledger.release(prefix + step.request);
            expect(outcome.released).toBe(hold.settled === 'open');
            if (hold.settled === 'open') {
              available += hold.cents;
              hold.settled = 'released';
            }
          }
          expect(available).toBeGreaterThanOrEqual(0);
        }
        const stored = await ledger.getAccount(account.id);
        expect(stored.balance.toString()).toBe(usd(balance).toString());
        expect(stored.available.toString()).toBe(usd(available).toString());
        expect(stored.balance.isNegative() || stored.available.isNegative()).toBe(false);
        const verification = await ledger.verify();
        expect(verification.ok).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
