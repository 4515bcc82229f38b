import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CreditLeases } from '../src/ledger/credit-leases.js';
import { InsufficientCreditsError } from '../src/ledger/errors.js';
import type { Ledger } from '../src/ledger/ledger.js';
import type { CallHold } from '../src/ledger/reservations.js';
import { Decimal } from '../src/money/decimal.js';
import { backends, type TestDatabase } from './support/backends.js';
import { openLedgerFor } from './support/ledger-checks.js';

/**
 * Credit leases under any random sequence of calls from two gateway processes on one account (reserve,
 * settle for less or more than reserved, fail, a process closing its leases, an admin grant): the account is
 * never overdrawn in the database at any step, every settled call is captured once for exactly what it was
 * told it was charged, and once both processes close, the captures sum to the balance's fall, available
 * equals balance and verify holds.
 */
type Operation =
  | { kind: 'hold'; process: number; request: number; cents: number }
  | { kind: 'settle'; request: number; cents: number }
  | { kind: 'fail'; request: number }
  | { kind: 'close'; process: number }
  | { kind: 'grant'; cents: number };

const processIndex = fc.integer({ min: 0, max: 1 });
const request = fc.integer({ min: 0, max: 11 });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('hold' as const),
      process: processIndex,
      request,
      cents: fc.integer({ min: 0, max: 40 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('settle' as const), request, cents: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const), request }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), process: processIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grant' as const), cents: fc.integer({ min: 1, max: 100 }) }) },
);

const usd = (value: number) => Decimal.of(value).shift(-2);

describe.each(backends())('credit lease property on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  let run = 0;

  it('random calls from two processes never overdraw, capture once each, and verify', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
        run += 1;
        const { account } = await ledger.createAccount({
          name: `lease-property-${run}`,
          mode: 'consumption_usd',
          credits: usd(100),
        });
        const processes = [
          new CreditLeases(database.db, { callsPerLease: 4 }),
          new CreditLeases(database.db, { callsPerLease: 4 }),
        ];
        const open = new Map<number, { hold: CallHold; process: number }>();
        const used = new Set<number>();
        let charged = Decimal.ZERO;
        let granted = 0;
        const charges = new Map<string, Decimal>();
        try {
          for (const step of operations) {
            if (step.kind === 'hold') {
              if (used.has(step.request)) continue;
              used.add(step.request);
              const requestId = `lp${run}-${step.request}`;
              try {
                const hold = await processes[step.process]!.hold({ accountId: account.id, requestId, amount: usd(step.cents) });
                open.set(step.request, { hold, process: step.process });
              } catch (error) {
                expect(error).toBeInstanceOf(InsufficientCreditsError);
              }
            } else if (step.kind === 'settle' || step.kind === 'fail') {
              const call = open.get(step.request);
              if (!call) continue;
              open.delete(step.request);
              const leases = processes[call.process]!;
              if (step.kind === 'fail') {
                await leases.release(call.hold);
                continue;
              }
              const charge = await leases.settle(call.hold, { amount: usd(step.cents) });
              expect(charge.captured.add(charge.shortfall).toString()).toBe(usd(step.cents).toString());
              charged = charged.add(charge.captured);
              charges.set(call.hold.requestId, charge.captured);
            } else if (step.kind === 'close') {
              await processes[step.process]!.returnUnused();
            } else {
              await ledger.grant(account.id, usd(step.cents));
              granted += step.cents;
            }
            await Promise.all(processes.map((leases) => leases.flush()));
            const now = await ledger.getAccount(account.id);
            expect(now.balance.isNegative() || now.available.isNegative(), `overdrawn after ${JSON.stringify(step)}`).toBe(false);
          }
          for (const call of open.values()) await processes[call.process]!.release(call.hold);
          await Promise.all(processes.map((leases) => leases.close()));
          const entries = await database.db
            .selectFrom('ledger_entries')
            .selectAll()
            .where('account_id', '=', account.id)
            .where('kind', '=', 'capture')
            .execute();
          expect(entries).toHaveLength(charges.size);
          for (const entry of entries)
            expect(Decimal.parse(entry.amount).neg().toString()).toBe(charges.get(entry.request_id)?.toString());
          const stored = await ledger.getAccount(account.id);
          expect(stored.balance.toString()).toBe(
            usd(100 + granted)
              .sub(charged)
              .toString(),
          );
          expect(stored.available.toString()).toBe(stored.balance.toString());
          expect((await ledger.openHolds(account.id)).count).toBe(0);
          // This account's verification (an earlier failing run must not shrink into this one).
          expect((await ledger.verify()).accounts.find((entry) => entry.id === account.id)?.ok).toBe(true);
        } finally {
          await Promise.all(processes.map((leases) => leases.close()));
        }
      }),
      { numRuns: 30 },
    );
  });
});
