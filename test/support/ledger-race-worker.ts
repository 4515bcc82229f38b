import { openDatabase } from '../../src/db/database.js';
import { CreditLeases } from '../../src/ledger/credit-leases.js';
import { InsufficientCreditsError } from '../../src/ledger/errors.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { Decimal } from '../../src/money/decimal.js';

/**
 * One process of test/ledger-races.test.ts: a gateway process's ledger as far as holds go, on its own
 * connection pool. Forked with an IPC channel, it takes orders one at a time: on `run` it opens the database
 * and says `ready`; on `go` it fires all the order's operations at once and reports how many succeeded, how
 * many were refused for credits, and any other error (which the test fails on), after giving back what it
 * leased and closing the database. `exit` ends it.
 */
export type RaceOrder = {
  type: 'run';
  url: string;
  accountId: string;
  /** `hold`: the ledger's durable hold; `lease`: a call reserved from a credit lease and settled in full. */
  kind: 'hold' | 'lease';
  count: number;
  amount: string;
  prefix: string;
  callsPerLease?: number;
};

export type RaceReport = { type: 'done'; succeeded: number; refused: number; errors: string[] };

let started: (() => void) | undefined;

process.on('message', (message: { type: string }) => {
  if (message.type === 'run') void run(message as RaceOrder);
  else if (message.type === 'go') started?.();
  else if (message.type === 'exit') process.exit(0);
});
// The test process went away: so does this one.
process.on('disconnect', () => process.exit(0));

async function run(order: RaceOrder): Promise<void> {
  const database = await openDatabase({ kind: 'postgres', url: order.url });
  const amount = Decimal.parse(order.amount);
  const ledger = new Ledger(database.db);
  const leases = new CreditLeases(database.db, { callsPerLease: order.callsPerLease ?? 32 });
  // One connection opened before `go`, so the first operations do not all wait for connects.
  await database.db.selectFrom('accounts').select('id').where('id', '=', order.accountId).execute();
  const go = new Promise<void>((resolve) => (started = resolve));
  process.send!({ type: 'ready' });
  await go;
  const operation = async (index: number) => {
    const requestId = `${order.prefix}-${index}`;
    if (order.kind === 'hold') {
      await ledger.hold({ accountId: order.accountId, requestId, amount });
      return;
    }
    const hold = await leases.hold({ accountId: order.accountId, requestId, amount });
    await leases.settle(hold, { amount, priceVersion: 1 });
  };
  const outcomes = await Promise.allSettled(Array.from({ length: order.count }, (_, index) => operation(index)));
  const report: RaceReport = { type: 'done', succeeded: 0, refused: 0, errors: [] };
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') report.succeeded += 1;
    else if (outcome.reason instanceof InsufficientCreditsError) report.refused += 1;
    else report.errors.push(String(outcome.reason));
  }
  await leases.close();
  await database.close();
  process.send!(report);
}
