import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/database.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { testJournalDirectory } from './support/journal-directory.js';
import { openScratchPostgres, type ScratchDatabase } from './support/scratch-database.js';

/**
 * A key cap against three `tollgate serve` processes on one PostgreSQL, answering with the demo provider: 500
 * concurrent calls spread over the three against a key capped at 100 job prices. With per-call reservations
 * exactly 100 are served; with leases (the default) never more than 100, and the cap's use equals what was
 * served once the processes have stopped (their leases given back).
 */
const adminUrl = process.env.TEST_DATABASE_URL;
const ADMIN_KEY = 'limits-processes-admin-key-0123';
const JOB = '0.25';
const CALLS = 500;
const CAP_CALLS = 100;

async function admin<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

describe.skipIf(!adminUrl)('a key cap across three gateway processes on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: ScratchDatabase;
  let reader: Database;
  beforeAll(async () => {
    database = await openScratchPostgres(adminUrl!, 'tollgate_limits');
    reader = await openDatabase({ kind: 'postgres', url: database.url });
  });
  afterAll(async () => {
    await reader?.close();
    await database?.close();
  });

  it.each([
    { holds: 'per_call', exact: true },
    { holds: 'lease', exact: false },
  ])(
    `$holds: ${CALLS} concurrent calls over three processes against a key capped at ${CAP_CALLS} calls`,
    async ({ holds, exact }) => {
      const env = (extra: Record<string, string> = {}) => ({
        DATABASE_URL: database.url,
        TOLLGATE_ADMIN_KEY: ADMIN_KEY,
        TOLLGATE_DEMO: 'on',
        TOLLGATE_SYNC_CRON: 'off',
        TOLLGATE_HOLDS: holds,
        TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
        ...extra,
      });
      const processes: GatewayProcess[] = [await startGatewayProcess(env())];
      try {
        for (let index = 1; index < 3; index += 1)
          processes.push(await startGatewayProcess(env({ TOLLGATE_SEED_ON_START: 'false' })));
        const created = await admin<{ account: { id: string }; api_key: { key: string; prefix: string } }>(
          processes[0]!.url,
          'POST',
          '/admin/accounts',
          {
            name: `capped-${holds}`,
            mode: 'job_based',
            job_price: JOB,
            credits: '1000',
          },
        );
        await admin(processes[0]!.url, 'PUT', `/admin/limits/${created.api_key.prefix}`, {
          cap: Decimal.parse(JOB).times(CAP_CALLS).toString(),
          period: 'month',
        });
        const statuses = await Promise.all(
          Array.from({ length: CALLS }, async (_, index) => {
            const response = await fetch(`${processes[index % 3]!.url}/v1/chat/completions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${created.api_key.key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 }),
            });
            await response.text();
            return response.status;
          }),
        );
        const served = statuses.filter((status) => status === 200).length;
        expect(statuses.filter((status) => status !== 200 && status !== 402)).toEqual([]);
        if (exact) expect(served).toBe(CAP_CALLS);
        else {
          expect(served).toBeGreaterThan(0);
          expect(served).toBeLessThanOrEqual(CAP_CALLS);
        }
        for (const process of processes) await process.stop();
        const usage = await reader.db
          .selectFrom('limit_usage')
          .innerJoin('limits', 'limits.id', 'limit_usage.limit_id')
          .select('used')
          .where('limits.account_id', '=', created.account.id)
          .executeTakeFirstOrThrow();
        expect(Decimal.parse(usage.used).eq(Decimal.parse(JOB).times(served))).toBe(true);
        const ledger = new Ledger(reader.db);
        expect((await ledger.getAccount(created.account.id)).balance.toString()).toBe(
          Decimal.parse('1000').sub(Decimal.parse(JOB).times(served)).toString(),
        );
        expect((await ledger.verify()).ok).toBe(true);
      } finally {
        for (const process of processes) await process.stop();
      }
    },
  );
});
