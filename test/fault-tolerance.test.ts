import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, postgresIdentity } from '../src/db/database.js';
import { progress, runLoad, type LoadResult } from './support/call-load.js';
import { admin, capturedRequests, eventually, FAULT_ADMIN_KEY, ledgerHolds, openHoldsOf } from './support/fault-checks.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { openScratchPostgres, type ScratchDatabase } from './support/scratch-database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * The gateway under faults, as an operator runs it: `tollgate serve` processes under bounded concurrent load
 * through a loopback mock upstream, with faults injected mid-load. After each fault the process is alive (or
 * restarted), calls succeed again, every call a client received as 2xx has exactly one capture (and only calls
 * a client may not have received have captures besides), no balance is negative, and the ledger verifies.
 */
const adminUrl = process.env.TEST_DATABASE_URL;

let upstream: MockUpstream;
let journals: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  journals = mkdtempSync(path.join(tmpdir(), 'tollgate-fault-journal-'));
});
afterAll(async () => {
  await upstream.close();
  rmSync(journals, { recursive: true, force: true });
});

function gatewayEnv(extra: Record<string, string>): Record<string, string> {
  return {
    TOLLGATE_ADMIN_KEY: FAULT_ADMIN_KEY,
    TOLLGATE_DEMO: 'off',
    TOLLGATE_SYNC_CRON: 'off',
    TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
    TOLLGATE_JOURNAL_DIR: journals,
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    OPENAI_API_KEY: 'sk-fault-test',
    ...extra,
  };
}

async function createAccount(url: string, credits = '1000'): Promise<{ id: string; key: string }> {
  const created = await admin<{ account: { id: string }; api_key: { key: string } }>(url, 'POST', '/admin/accounts', {
    name: `fault-${Math.random().toString(36).slice(2)}`,
    mode: 'consumption_usd',
    credits,
  });
  return { id: created.account.id, key: created.api_key.key };
}

/** Load on every gateway at once until `fault` has run and each gateway served `after` more calls. */
async function loadThrough(
  gateways: GatewayProcess[],
  key: string,
  fault: () => Promise<void>,
  options: { before?: number; after?: number } = {},
): Promise<LoadResult[]> {
  const controller = new AbortController();
  const watches = gateways.map(() => progress());
  const loads = gateways.map((gateway, index) =>
    runLoad({
      url: gateway.url,
      key,
      concurrency: 6,
      maxCalls: 20_000,
      signal: controller.signal,
      onCall: watches[index]!.onCall,
    }),
  );
  try {
    await Promise.all(watches.map((watch) => watch.until((result) => result.calls >= (options.before ?? 150))));
    const served = watches.map(() => 0);
    await fault();
    await Promise.all(
      watches.map((watch, index) =>
        watch.until((result) => {
          served[index] ||= result.served.length;
          return result.served.length >= served[index]! + (options.after ?? 150);
        }),
      ),
    );
  } finally {
    controller.abort();
  }
  return Promise.all(loads);
}

function served(results: LoadResult[]): Set<string> {
  return new Set(results.flatMap((result) => result.served));
}

describe.skipIf(!adminUrl)('fault tolerance on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: ScratchDatabase;
  beforeAll(async () => {
    database = await openScratchPostgres(adminUrl!, 'tollgate_fault');
  });

  /** A gateway process whose database connections go through a loopback proxy the test can cut. */
  async function gatewayBehindProxy(): Promise<{ proxy: TcpProxy; proxied: string; gateway: GatewayProcess }> {
    const target = new URL(database.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(database.url);
    proxied.port = String(proxy.port);
    const gateway = await startGatewayProcess(gatewayEnv({ DATABASE_URL: proxied.toString(), TOLLGATE_SEED_ON_START: 'false' }));
    return { proxy, proxied: proxied.toString(), gateway };
  }
  afterAll(async () => {
    await database?.close();
  });

  it('every connection terminated mid-load, twice: both instances live on, bill every served call once, and stay in step', async () => {
    const first = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url }));
    const second = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false' }));
    try {
      const account = await createAccount(first.url);
      const killer = new pg.Client({ connectionString: database.url });
      await killer.connect();
      const terminate = async () => {
        const { rowCount } = await killer.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
        );
        expect(rowCount).toBeGreaterThan(2); // both gateways' pools and their notification connections
      };
      const results = [
        ...(await loadThrough([first, second], account.key, terminate)),
        ...(await loadThrough([first, second], account.key, terminate)),
      ];
      await killer.end();

      expect(first.child.exitCode).toBeNull();
      expect(second.child.exitCode).toBeNull();
      const clientServed = served(results);
      const unanswered = results.reduce((total, result) => total + result.networkErrors, 0);
      expect(unanswered).toBe(0);
      // Statuses other than 200 are the 503s of calls refused while their query's connection was cut.
      for (const result of results) for (const status of Object.keys(result.statuses)) expect(['200', '503']).toContain(status);

      // Both instances hear notifications again: a price change and a suspension made on one reach the other.
      await eventually('both instances ready again', async () => {
        const states = await Promise.all([first, second].map((gateway) => fetch(`${gateway.url}/readyz`)));
        return states.every((state) => state.status === 200);
      });
      await admin(first.url, 'PUT', '/admin/pricing/models/gpt-4o-mini/price', { unit: '1m', input: '0.2', output: '0.8' });
      await eventually('the second instance prices at the new version', async () => {
        const models = await fetch(`${second.url}/v1/models`, { headers: { authorization: `Bearer ${account.key}` } }).then(
          (response) => response.json() as Promise<{ data: Array<{ id: string; pricing: { input: string } }> }>,
        );
        return models.data.find((model) => model.id === 'gpt-4o-mini')?.pricing.input === '0.0000002';
      });

      await Promise.all([first, second].map((gateway) => gateway.stop()));
      const captured = await capturedRequests(database.db, account.id);
      expect([...clientServed].filter((id) => !captured.has(id))).toEqual([]); // no served call lost
      expect(captured.size).toBe(clientServed.size); // and none charged that no client received
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
      expect(await openHoldsOf(database.db, account.id)).toBe(0);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it('the database goes away under load and comes back: 503 with Retry-After meanwhile, not ready, then every served call billed once', async () => {
    const { proxy, proxied, gateway } = await gatewayBehindProxy();
    try {
      const account = await createAccount(gateway.url, '100');
      let outage: { ready: Response; health: Response; refused: Response | undefined } | undefined;
      let during: LoadResult | undefined;
      const results = await loadThrough([gateway], account.key, async () => {
        await proxy.cut();
        // Calls that need the database (a new credit lease, a key not yet cached) are refused, not failed.
        const watch = progress();
        const stopProbe = new AbortController();
        const probe = runLoad({
          url: gateway.url,
          key: account.key,
          concurrency: 2,
          maxCalls: 2_000,
          signal: stopProbe.signal,
          onCall: watch.onCall,
        });
        await watch.until((result) => (result.statuses[503] ?? 0) > 0);
        const ready = await fetch(`${gateway.url}/readyz`);
        const health = await fetch(`${gateway.url}/healthz`);
        const refused = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer tg_not_a_cached_key_00000000000000', 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        });
        outage = { ready, health, refused };
        await proxy.restore();
        stopProbe.abort();
        during = await probe;
      });
      results.push(during!);
      expect(outage!.ready.status).toBe(503);
      expect(await outage!.ready.json()).toMatchObject({ status: 'not_ready', checks: { database: { ok: false } } });
      expect(outage!.health.status).toBe(200);
      expect(outage!.refused!.status).toBe(503);
      expect(outage!.refused!.headers.get('retry-after')).toBe('1');
      expect(await outage!.refused!.json()).toMatchObject({ error: { code: 'service_unavailable', type: 'server_error' } });
      await eventually('ready again', async () => (await fetch(`${gateway.url}/readyz`)).status === 200);
      expect(gateway.child.exitCode).toBeNull();
      for (const result of results) for (const status of Object.keys(result.statuses)) expect(['200', '503']).toContain(status);
      await gateway.stop();
      const captured = await capturedRequests(database.db, account.id);
      expect(captured).toEqual(served(results));
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
    } finally {
      await gateway.stop();
      await proxy.close();
    }
  });

  it('a full disk under the journal and the database gone: calls are refused 503 before they are made, then served again', async () => {
    const { proxy, proxied, gateway } = await gatewayBehindProxy();
    try {
      const account = await createAccount(gateway.url, '10');
      // The process's first journal segment is /dev/full, which fails every write with ENOSPC.
      const [instance] = await database.db
        .selectFrom('gateway_instances')
        .select('id')
        .where('pid', '=', gateway.child.pid!)
        .where('stopped_at', 'is', null)
        .execute();
      const directory = path.join(journals, postgresIdentity(proxied));
      symlinkSync('/dev/full', path.join(directory, `${instance!.id}-${gateway.child.pid}-1.journal`));
      const call = () =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
        });
      const served = new Set<string>();
      const serve = async () => {
        const response = await call();
        expect(response.status).toBe(200);
        await response.text();
        served.add(response.headers.get('x-tollgate-request-id')!);
      };
      // The journal cannot take the capture, the database can: served, its capture written before the answer.
      await serve();
      expect(await capturedRequests(database.db, account.id)).toEqual(served);

      await proxy.cut();
      await eventually('the gateway sees the database unreachable', async () => {
        const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as { checks: { database: { ok: boolean } } };
        return !ready.checks.database.ok;
      });
      // The key is cached and the lease has room, but the capture could be kept nowhere: the call is not made.
      const upstreamCalls = upstream.requests.length;
      const refused = await call();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ error: { code: 'service_unavailable', type: 'server_error' } });
      expect(upstream.requests.length).toBe(upstreamCalls);

      await proxy.restore();
      await eventually('ready again', async () => (await fetch(`${gateway.url}/readyz`)).status === 200);
      await serve();
      await gateway.stop();
      expect(gateway.output()).toMatch(/cannot append to the capture journal/);
      expect(await capturedRequests(database.db, account.id)).toEqual(served);
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
    } finally {
      await gateway.stop();
      await proxy.close();
    }
  });

  it('a suspension made while an instance was deaf reaches it once its notification connection is back', async () => {
    const first = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false' }));
    const second = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false' }));
    try {
      const account = await createAccount(first.url);
      const call = (gateway: GatewayProcess) =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
        });
      expect((await call(second)).status).toBe(200);
      // Cut every connection, and suspend through the first instance right away, while the second may not
      // have its notification connection back: the NOTIFY is lost to it; its reconnect must catch up.
      const killer = new pg.Client({ connectionString: database.url });
      await killer.connect();
      await killer.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      await killer.end();
      await eventually('the first instance takes admin changes again', async () => {
        await admin(first.url, 'PATCH', `/admin/accounts/${account.id}`, { status: 'suspended' });
        return true;
      });
      await eventually('the second instance refuses the suspended account', async () => (await call(second)).status === 403);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it('kill -9 mid-load: after a restart every served call is captured, and the dead process gives its credits back at once', async () => {
    const gateway = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false' }));
    let restarted: GatewayProcess | undefined;
    try {
      const account = await createAccount(gateway.url, '50');
      // An idempotent call in flight when the process dies: its key must not stay "in progress" for long.
      const idempotent = () =>
        fetch(`${(restarted ?? gateway).url}/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${account.key}`,
            'content-type': 'application/json',
            'idempotency-key': 'cut-by-a-crash',
          },
          body: JSON.stringify({ model: 'mock-hang-once', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
        });
      const inFlight = idempotent().catch(() => undefined);
      await eventually('the idempotent call reached the upstream', async () =>
        upstream.requests.some((request) => request.scenario === 'hang-once'),
      );
      const results = await loadThrough([gateway], account.key, () => gateway.crash(), { after: 0 });
      await inFlight;
      restarted = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false' }));
      // The restart replayed the journal and released the dead instance's leases before listening.
      expect(await openHoldsOf(database.db, account.id)).toBe(0);
      // The dead process's claim is taken over at once (it was declared dead at the restart), not refused 409.
      const retried = await idempotent();
      expect(retried.status).toBe(200);
      results.push({
        served: [String(retried.headers.get('x-tollgate-request-id'))],
        statuses: { 200: 1 },
        networkErrors: 0,
        calls: 1,
      });
      await retried.text();
      const after = await runLoad({
        url: restarted.url,
        key: account.key,
        concurrency: 4,
        maxCalls: 100,
        signal: new AbortController().signal,
      });
      expect(after.statuses).toEqual({ 200: 100 });
      await restarted.stop();

      const captured = await capturedRequests(database.db, account.id);
      const clientServed = served([...results, after]);
      expect([...clientServed].filter((id) => !captured.has(id))).toEqual([]);
      // Each answered call's usage record was journaled before its answer too: reports lose none of them.
      const recorded = new Set(
        (await database.db.selectFrom('usage_records').select('request_id').where('account_id', '=', account.id).execute()).map(
          (row) => row.request_id,
        ),
      );
      expect([...clientServed].filter((id) => !recorded.has(id))).toEqual([]);
      // Calls cut by the kill may have been charged without their answer arriving; nothing else.
      const extra = [...captured].filter((id) => !clientServed.has(id));
      expect(extra.length).toBeLessThanOrEqual(results[0]!.networkErrors);
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
      expect(await openHoldsOf(database.db, account.id)).toBe(0);
    } finally {
      await gateway.stop();
      await restarted?.stop();
    }
  });
});

describe('fault tolerance on the embedded database', () => {
  it('kill -9 mid-load on PGlite: the restart replays every served call and the data directory opens cleanly', async () => {
    const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-fault-pglite-'));
    const env = gatewayEnv({ TOLLGATE_DATA_DIR: dataDirectory, TOLLGATE_JOURNAL_DIR: path.join(dataDirectory, 'journal') });
    const gateway = await startGatewayProcess(env);
    let restarted: GatewayProcess | undefined;
    try {
      const account = await createAccount(gateway.url, '50');
      const results = await loadThrough([gateway], account.key, () => gateway.crash(), { before: 100, after: 0 });
      restarted = await startGatewayProcess(env);
      const after = await runLoad({
        url: restarted.url,
        key: account.key,
        concurrency: 4,
        maxCalls: 40,
        signal: new AbortController().signal,
      });
      expect(after.statuses).toEqual({ 200: 40 });
      await restarted.stop();

      const database = await openDatabase({ kind: 'pglite', dataDirectory });
      try {
        const captured = await capturedRequests(database.db, account.id);
        const clientServed = served([...results, after]);
        expect([...clientServed].filter((id) => !captured.has(id))).toEqual([]);
        expect([...captured].filter((id) => !clientServed.has(id)).length).toBeLessThanOrEqual(results[0]!.networkErrors);
        expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
        expect(await openHoldsOf(database.db, account.id)).toBe(0);
      } finally {
        await database.close();
      }
    } finally {
      await gateway.stop();
      await restarted?.stop();
      rmSync(dataDirectory, { recursive: true, force: true });
    }
  });
});
