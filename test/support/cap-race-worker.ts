import { openDatabase } from '../../src/db/database.js';
import { CapReservations, type CapSpec } from '../../src/ledger/cap-reservations.js';
import { CreditLeases } from '../../src/ledger/credit-leases.js';
import { Decimal } from '../../src/money/decimal.js';
import { cappedCall, servedCount } from './capped-calls.js';

/**
 * One process of test/limits-caps.test.ts: a gateway process's money path (caps, then the wallet's credit
 * lease) on its own connection pool, as ledger-race-worker.ts does for holds alone. On `run` it opens the
 * database and says `ready`; on `go` it fires its calls at once and reports how many were served and refused.
 */
export type CapRaceOrder = {
  type: 'run';
  url: string;
  walletId: string;
  specs: Array<Omit<CapSpec, 'cap'> & { cap: string }>;
  count: number;
  amount: string;
  prefix: string;
  callsPerLease: number;
};

export type CapRaceReport = { type: 'done'; served: number; refused: number; errors: string[] };

let started: (() => void) | undefined;

process.on('message', (message: { type: string }) => {
  if (message.type === 'run') void run(message as CapRaceOrder);
  else if (message.type === 'go') started?.();
  else if (message.type === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));

async function run(order: CapRaceOrder): Promise<void> {
  const database = await openDatabase({ kind: 'postgres', url: order.url });
  const amount = Decimal.parse(order.amount);
  const caps = new CapReservations(database.db, { callsPerLease: order.callsPerLease });
  const leases = new CreditLeases(database.db, { callsPerLease: order.callsPerLease });
  const specs = order.specs.map((spec) => ({ ...spec, cap: Decimal.parse(spec.cap) }));
  await database.db.selectFrom('accounts').select('id').where('id', '=', order.walletId).execute();
  const go = new Promise<void>((resolve) => (started = resolve));
  process.send!({ type: 'ready' });
  await go;
  const outcomes = await Promise.allSettled(
    Array.from({ length: order.count }, (_, index) =>
      cappedCall(caps, leases, { specs, walletId: order.walletId, requestId: `${order.prefix}-${index}`, amount }),
    ),
  );
  const report: CapRaceReport = { type: 'done', served: 0, refused: 0, errors: [] };
  try {
    const counted = servedCount(outcomes);
    report.served = counted.served;
    report.refused = counted.capRefusals + counted.creditRefusals;
  } catch (error) {
    report.errors.push(String(error));
  }
  await caps.close();
  await leases.close();
  await database.close();
  process.send!(report);
}
