/**
 * `npm run bench:ledger`: hold + capture throughput on PostgreSQL from concurrent workers, beside the floor
 * of this design measured in the same run: a bare single-row `UPDATE accounts SET balance = balance - x
 * WHERE id = ?` loop with the same workers. Every hold + capture is two transactions (the hold's conditional
 * write plus its entry; the capture's row lock, entry and projection update), so the ratio says what the
 * exactness costs over the cheapest possible debit.
 *
 * Uses BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres, to
 * create a scratch database that is dropped at the end. Options: WORKERS (16), OPERATIONS (4000).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { migrate, openDatabase, type Database } from '../src/db/database.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';

const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const workers = Number(process.env.WORKERS ?? 16);
const operations = Number(process.env.OPERATIONS ?? 4000);

async function withScratchDatabase(body: (database: Database) => Promise<void>): Promise<void> {
  const name = `tollgate_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // A database name cannot be a bound parameter; `name` is generated above from hex digits only.
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ kind: 'postgres', url: url.toString() });
  try {
    await migrate(database.db);
    await body(database);
  } finally {
    await database.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

/** Runs `count` operations spread over `workers` concurrent loops; returns operations per second. */
async function measure(count: number, work: (index: number, worker: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let index = next++; index < count; index = next++) await work(index, worker);
    }),
  );
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
      floorSpread: await Promise.all(Array.from({ length: workers }, (_, worker) => create(`floor-${worker}`))),
    };
    const hold = Decimal.parse('0.05');
    const actual = Decimal.parse('0.0123456');
    const holdAndCapture = (accountFor: (worker: number) => string, tag: string) => async (index: number, worker: number) => {
      const requestId = `${tag}-${index}`;
      await ledger.hold({ accountId: accountFor(worker), requestId, amount: hold });
      await ledger.capture({ requestId, amount: actual });
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
        floorAccount: () => accounts.floorShared,
      },
      {
        label: 'one account per worker',
        tag: 'spread',
        ledgerAccount: (worker: number) => accounts.ledgerSpread[worker]!,
        floorAccount: (worker: number) => accounts.floorSpread[worker]!,
      },
    ];
    const rows: Array<[string, number, number]> = [];
    for (const scenario of scenarios) {
      const floor = await measure(operations, bareUpdate(scenario.floorAccount));
      const ledgerRate = await measure(operations, holdAndCapture(scenario.ledgerAccount, scenario.tag));
      rows.push([scenario.label, ledgerRate, floor]);
    }
    const verification = await ledger.verify();
    const ledgerAccounts = verification.accounts.filter((account) => account.name.startsWith('bench-'));

    console.log(`ledger benchmark: PostgreSQL, ${workers} workers, ${operations} operations per measurement`);
    for (const [label, ledgerRate, floor] of rows) {
      console.log(
        `${label.padEnd(30)} hold+capture ${ledgerRate.toFixed(0).padStart(6)}/s   bare UPDATE ${floor
          .toFixed(0)
          .padStart(6)}/s   ratio ${(floor / ledgerRate).toFixed(2)}x`,
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
