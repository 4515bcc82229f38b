import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceAt } from '../src/catalog/catalog-store.js';
import { loadConfig } from '../src/config/config.js';
import { migrate, openDatabase, type Database } from '../src/db/database.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { Decimal } from '../src/money/decimal.js';
import { postgresBackend } from './support/backends.js';
import { ADMIN_KEY, seedTestCatalog, startTestGateway } from './support/gateway-harness.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { runTollgate } from './support/cli-process.js';
import { until } from './support/wait.js';

/**
 * A `tollgate catalog ...` command that writes prices, run in its own process beside a running gateway on the
 * same database, reaches the gateway's prices at once: the command announces the change on the channel the
 * admin routes and the sync use, and the gateway reloads its snapshot. Without the announcement the gateway
 * keeps charging the old, closed version until its TTL (900 s) or a restart; the waits below are bounded far
 * beyond what a notification takes and far below that TTL, so a missing announcement fails the test.
 *
 * On PostgreSQL the command connects as any client; on PGlite the gateway holds the data directory and the
 * command reaches it through the socket the gateway shares there (README "Beside a running server").
 */
interface Setup {
  gateway: Gateway;
  database: Database;
  url: string;
  /** Runs `tollgate <args>` as its own process on the gateway's database. */
  tollgate(...args: string[]): ReturnType<typeof runTollgate>;
  close(): Promise<void>;
}

const postgres = postgresBackend();

/** The gateway's environment: the mock upstream for OpenAI, no schedule, no seeding of its own. */
const gatewayEnv = (upstream: string): Record<string, string> => ({
  TOLLGATE_SEED_ON_START: 'false',
  TOLLGATE_SYNC_CRON: 'off',
  TOLLGATE_LOG_LEVEL: 'silent',
  TOLLGATE_ADMIN_KEY: ADMIN_KEY,
  TOLLGATE_DEMO: 'off',
  TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
  OPENAI_BASE_URL: `${upstream}/v1`,
  OPENAI_API_KEY: 'sk-test-openai',
});

const setups: Array<{ name: string; start: (upstream: string) => Promise<Setup> }> = [
  {
    name: 'pglite',
    async start(upstream) {
      const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-serve-'));
      const prepared = await openDatabase({ kind: 'pglite', dataDirectory });
      try {
        await migrate(prepared.db);
        await seedTestCatalog(prepared.db);
      } finally {
        await prepared.close();
      }
      const gateway = await startGateway(
        loadConfig({ ...gatewayEnv(upstream), TOLLGATE_DATA_DIR: dataDirectory }),
        silentLogger(),
      );
      const url = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
      return {
        gateway,
        database: gateway.database,
        url,
        tollgate: (...args) => runTollgate(dataDirectory, ...args),
        async close() {
          await gateway.close();
          rmSync(dataDirectory, { recursive: true, force: true });
        },
      };
    },
  },
  ...(postgres
    ? [
        {
          name: 'postgres',
          async start(upstream: string): Promise<Setup> {
            const harness = await startTestGateway(postgres, { upstreamUrl: upstream });
            // The directory only satisfies runTollgate: --database-url wins over it, as for an operator.
            const unused = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-serve-pg-'));
            return {
              gateway: harness.gateway,
              database: harness.database,
              url: harness.url,
              tollgate: (...args) => runTollgate(unused, '--database-url', harness.database.url!, ...args),
              async close() {
                await harness.close();
                rmSync(unused, { recursive: true, force: true });
              },
            };
          },
        },
      ]
    : []),
];

describe.each(setups)('catalog commands beside a running gateway on $name', { timeout: 240_000 }, ({ start }) => {
  let mock: MockUpstream;
  let setup: Setup;
  let files: string;
  let accountKey: string;

  beforeAll(async () => {
    mock = await startMockUpstream();
    setup = await start(mock.url);
    files = mkdtempSync(path.join(tmpdir(), 'tollgate-cli-serve-files-'));
    const created = await setup.gateway.ledger.createAccount({
      name: `cli-beside-${Date.now()}`,
      mode: 'consumption_usd',
      credits: Decimal.parse('10'),
    });
    accountKey = created.apiKey.key;
  }, 240_000);
  afterAll(async () => {
    await setup?.close();
    await mock?.close();
    rmSync(files, { recursive: true, force: true });
  });

  /** One chat call to `model`; the price version and charge the gateway reported for it. */
  async function call(model: string): Promise<{ version: number; charge: string; prompt: number; completion: number }> {
    mock.queue('text');
    const response = await fetch(`${setup.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accountKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1000 }),
    });
    expect(response.status).toBe(200);
    const usage = ((await response.json()) as { usage: Record<string, unknown> }).usage as {
      prompt_tokens: number;
      completion_tokens: number;
      tollgate: { charge: string; pricing: { price_version: number } };
    };
    return {
      version: usage.tollgate.pricing.price_version,
      charge: usage.tollgate.charge,
      prompt: usage.prompt_tokens,
      completion: usage.completion_tokens,
    };
  }

  /** Waits until the gateway's snapshot prices `model` at `version`: the reload the command's notification causes. */
  const seenByGateway = (model: string, version: number) =>
    until(
      () => setup.gateway.catalog.resolve(model)?.price.version === version,
      `the gateway to load price version ${version} of ${model}`,
    );

  it('catalog seed --execute: the next call is charged the new version', async () => {
    const before = await call('gpt-4o-mini');
    const old = await priceAt(setup.database.db, 'gpt-4o-mini');
    expect(before.version).toBe(old!.version);

    const file = path.join(files, 'gpt-4o-mini.json');
    writeFileSync(
      file,
      JSON.stringify({ models: { 'gpt-4o-mini': { provider: 'openai', input: '0.0000002', output: '0.0000008' } } }),
    );
    const seeded = await setup.tollgate('catalog', 'seed', file, '--format', 'llm-pricing-json', '--execute', '--json');
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);
    expect(JSON.parse(seeded.stdout).written).toEqual({ models: 0, versions: 1, closed: 1 });
    const current = await priceAt(setup.database.db, 'gpt-4o-mini');
    expect(current!.version).not.toBe(old!.version);
    expect(current!.rates.input.toString()).toBe('0.0000002');

    await seenByGateway('gpt-4o-mini', current!.version!);
    const after = await call('gpt-4o-mini');
    expect(after.version).toBe(current!.version);
    const expected = Decimal.parse('0.0000002').times(after.prompt).add(Decimal.parse('0.0000008').times(after.completion));
    expect(after.charge).toBe(expected.toString());
  });

  it('catalog seed --register-models --execute: a model the gateway did not know is priced and served', async () => {
    const file = path.join(files, 'new-model.json');
    writeFileSync(
      file,
      JSON.stringify({ models: { 'gpt-cli-fresh': { provider: 'openai', input: '0.000001', output: '0.000003' } } }),
    );
    expect(setup.gateway.catalog.resolve('gpt-cli-fresh')?.source).not.toBe('database');
    const seeded = await setup.tollgate(
      'catalog',
      'seed',
      file,
      '--format',
      'llm-pricing-json',
      '--register-models',
      '--execute',
      '--json',
    );
    expect(seeded.code).toBe(0);
    expect(JSON.parse(seeded.stdout).written).toEqual({ models: 1, versions: 1, closed: 0 });
    const current = await priceAt(setup.database.db, 'gpt-cli-fresh');
    await seenByGateway('gpt-cli-fresh', current!.version!);
    const after = await call('gpt-cli-fresh');
    expect(after.version).toBe(current!.version);
    const expected = Decimal.parse('0.000001').times(after.prompt).add(Decimal.parse('0.000003').times(after.completion));
    expect(after.charge).toBe(expected.toString());
  });
});
