import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend, type TestDatabase } from './support/backends.js';
import { eventually } from './support/ledger-checks.js';
import { seedTestCatalog } from './support/gateway-harness.js';
import { testJournalDirectory } from './support/journal-directory.js';

const ADMIN_KEY = 'instances-test-admin-key';
const postgres = postgresBackend();

/**
 * Two gateway instances on one PostgreSQL, answering with the demo provider: an admin change on one reaches
 * the other at once through LISTEN/NOTIFY, not after its account cache (5 s) and credit lease (10 s) expire.
 * PGlite belongs to one process, so this needs TEST_DATABASE_URL.
 */
(postgres ? describe : describe.skip)('account changes across instances on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  let instanceA: Gateway;
  let instanceB: Gateway;

  beforeEach(async () => {
    database = await postgres!.open();
    await seedTestCatalog(database.db);
    const config = loadConfig({
      TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
      DATABASE_URL: database.url,
      TOLLGATE_SEED_ON_START: 'false',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_DEMO: 'on',
    });
    instanceA = await startGateway(config, silentLogger());
    instanceB = await startGateway(config, silentLogger());
  });

  afterEach(async () => {
    await instanceA?.close();
    await instanceB?.close();
    await database.close();
  });

  const call = (instance: Gateway, key: string) =>
    instance.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: `Bearer ${key}` },
      payload: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 20 },
    });

  it('an account suspended on instance A is refused by instance B at its next call, and B gives its lease back', async () => {
    const { account, apiKey } = await instanceA.ledger.createAccount({
      name: 'shared',
      mode: 'consumption_usd',
      credits: Decimal.parse('1'),
    });
    // B serves a call: it now caches the account as active and holds a lease of its credits.
    expect((await call(instanceB, apiKey.key)).statusCode).toBe(200);
    expect((await instanceA.ledger.openHolds(account.id)).count).toBe(1);

    const suspended = await instanceA.app.inject({
      method: 'PATCH',
      url: `/admin/accounts/${account.id}`,
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      payload: { status: 'suspended' },
    });
    expect(suspended.statusCode).toBe(200);
    await eventually(async () => {
      const refused = await call(instanceB, apiKey.key);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('account_suspended');
    });
    await eventually(async () => expect((await instanceA.ledger.openHolds(account.id)).count).toBe(0));
    const after = await instanceA.ledger.getAccount(account.id);
    expect(after.available.toString()).toBe(after.balance.toString());
    expect(after.balance.lt(Decimal.ONE)).toBe(true);
    expect((await instanceA.ledger.verify()).ok).toBe(true);
  });
});
