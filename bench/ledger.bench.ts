/**
 * `npm run bench:ledger`: hold + capture throughput on PostgreSQL from concurrent workers, beside the floor
 * of this design measured in the same run: a bare single-row `UPDATE accounts SET balance = balance - x
 * WHERE id = ?` loop with the same workers. Every hold + capture is two transactions (the hold's conditional
 * write plus its entry; the capture's row lock, entry and projection update), so the ratio says what the
 * exactness costs over the cheapest possible debit. A third column runs the same calls through credit leases
 * (the gateway's default: reservations in memory, captures written afterwards in batches), timed until every
 * capture is written.
 *
 * Uses BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres, to
 * create a scratch database that is dropped at the end. Options: WORKERS (16), OPERATIONS (4000).
 */
import { sql } from 'kysely';
import type { Database } from '../src/db/database.js';
import { CreditLeases } from '../src/ledger/credit-leases.js';
import { Ledger } from '../src/ledger/ledger.js';
import { openScratchPostgres } from '../test/support/scratch-database.js';
import { Decimal } from '../src/money/decimal.js';

const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const workers = Number(process.env.WORKERS ?? 16);
const operations = Number(process.env.OPERATIONS ?? 4000);

async function withScratchDatabase(body: (database: Database) => Promise<void>): Promise<void> {
  const database = await openScratchPostgres(adminUrl, 'tollgate_bench');
  try {
    await body(database);
  } finally {
    await database.close();
  }
}

/**
 * Runs `count` operations spread over `workers` concurrent loops, then `finish` (inside the timing: the
 * leased path's captures count once they are written); returns operations per second.
 */
async function measure(
  count: number,
  work: (index: number, worker: number) => Promise<unknown>,
  finish: () => Promise<void> = async () => undefined,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let index = next++; index < count; index = next++) await work(index, worker);
    }),
  );
  await finish();
  return count / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  await withScratchDatabase(async (database) => {
    const ledger = new Ledger(database.db);
    const credits = Decimal.parse('1000000000');
    const create = async (name: string) => (await ledger.createAccount({ name, mode: 'consumption_usd', credits })).account.id;
    // The floor debits its own accounts: its bare updates write no entries, so those accounts cannot verify.
    const accounts = {
      ledgerShared: await create('bench-shared'),
      floorShared: await create('floor-shared'),
      ledgerSpread: await Promise.all(Array.from({ length: workers }, (_, worker) => create(`bench-${worker}`))),
      leasedShared: await create('bench-leased-shared'),
      leasedSpread: await Promise.all(Array.from({ length: workers }, (_, worker) => create(`bench-leased-${worker}`))),
      floorSpread: await Promise.all(Array.from({ length: workers }, (_, worker) => create(`floor-${worker}`))),
    };
    const hold = Decimal.parse('0.05');
    const actual = Decimal.parse('0.0123456');
    const holdAndCapture = (accountFor: (worker: number) => string, tag: string) => async (index: number, worker: number) => {
      const requestId = `${tag}-${index}`;
      await ledger.hold({ accountId: accountFor(worker), requestId, amount: hold });
      await ledger.capture({ requestId, amount: actual });
    };
    // What the gateway does by default: reserve from a credit lease in memory, settle, write the capture after.
    const leases = new CreditLeases(database.db);
    const leasedHoldAndCapture =
      (accountFor: (worker: number) => string, tag: string) => async (index: number, worker: number) => {
        const held = await leases.hold({ accountId: accountFor(worker), requestId: `${tag}-leased-${index}`, amount: hold });
        await leases.settle(held, { amount: actual });
      };
    const bareUpdate = (accountFor: (worker: number) => string) => async (_index: number, worker: number) => {
      await database.db
        .updateTable('accounts')
        .set({ balance: sql<string>`balance - cast(${actual.toString()} as numeric)` })
        .where('id', '=', accountFor(worker))
        .execute();
    };

    // Warm up connections and plans.
    await measure(
      workers * 10,
      holdAndCapture(() => accounts.ledgerShared, 'warm'),
    );
    await measure(
      workers * 10,
      bareUpdate(() => accounts.floorShared),
    );

    const scenarios = [
      {
        label: 'one shared account (hot row)',
        tag: 'shared',
        ledgerAccount: () => accounts.ledgerShared,
        leasedAccount: () => accounts.leasedShared,
        floorAccount: () => accounts.floorShared,
      },
      {
        label: 'one account per worker',
        tag: 'spread',
        ledgerAccount: (worker: number) => accounts.ledgerSpread[worker]!,
        leasedAccount: (worker: number) => accounts.leasedSpread[worker]!,
        floorAccount: (worker: number) => accounts.floorSpread[worker]!,
      },
    ];
    const rows: Array<[string, number, number, number]> = [];
    for (const scenario of scenarios) {
      const floor = await measure(operations, bareUpdate(scenario.floorAccount));
      const ledgerRate = await measure(operations, holdAndCapture(scenario.ledgerAccount, scenario.tag));
      const leasedRate = await measure(operations, leasedHoldAndCapture(scenario.leasedAccount, scenario.tag), () =>
        leases.flush(),
      );
      rows.push([scenario.label, ledgerRate, leasedRate, floor]);
    }
    await leases.close();
    const verification = await ledger.verify();
    const ledgerAccounts = verification.accounts.filter((account) => account.name.startsWith('bench-'));

    console.log(`ledger benchmark: PostgreSQL, ${workers} workers, ${operations} operations per measurement`);
    for (const [label, ledgerRate, leasedRate, floor] of rows) {
      const rate = (value: number) => `${value.toFixed(0).padStart(6)}/s`;
      console.log(
        `${label.padEnd(30)} hold+capture ${rate(ledgerRate)} (${(floor / ledgerRate).toFixed(2)}x slower than bare)   ` +
          `leased ${rate(leasedRate)} (${(leasedRate / floor).toFixed(2)}x bare)   bare UPDATE ${rate(floor)}`,
      );
    }
    const openHolds = ledgerAccounts.reduce((total, account) => total.add(account.openHolds), Decimal.ZERO);
    const verified = ledgerAccounts.every((account) => account.ok);
    console.log(
      `ledger verify on the ${ledgerAccounts.length} ledger accounts: ${verified ? 'ok' : 'FAILED'}; open holds left: ${openHolds.toString()}`,
    );
    if (!verified) process.exitCode = 1;
  });
}

await main();
