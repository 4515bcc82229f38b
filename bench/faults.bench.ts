/**
 * `npm run bench:faults`: the billing promise under faults. Two `tollgate serve` processes (the CLI, as an
 * operator runs it) on one scratch PostgreSQL database, each reaching it through a loopback TCP proxy, answer a
 * steady load through a loopback mock upstream while faults are injected, BENCH_FAULTS rounds (default 2) of:
 *   - terminate: every database connection of the gateways killed (`pg_terminate_backend`);
 *   - outage: the database unreachable for BENCH_OUTAGE_MS (default 2000), as a restart looks from the gateway;
 *   - kill -9: one gateway killed mid-load and started again.
 * Printed: calls the clients got a 2xx for, captures in the ledger, lost (2xx without a capture: must be 0),
 * double (a request captured twice: must be 0), charged without an answer (calls cut by the kill), the
 * recovery time after each fault (until the affected gateway is ready and answers a call again), and the
 * throughput under faults as a ratio of the same load without faults, measured first in the same run.
 *
 * Needs PostgreSQL: TEST_DATABASE_URL or DATABASE_URL (a scratch database is created and dropped).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { progress, runLoad, type LoadResult } from '../test/support/call-load.js';
import { admin, capturedRequests, FAULT_ADMIN_KEY, ledgerHolds } from '../test/support/fault-checks.js';
import { startGatewayProcess, type GatewayProcess } from '../test/support/gateway-process.js';
import { startMockUpstream } from '../test/support/mock-upstream.js';
import { openScratchPostgres } from '../test/support/scratch-database.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';

const adminUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const rounds = Number(process.env.BENCH_FAULTS ?? 2);
const outageMs = Number(process.env.BENCH_OUTAGE_MS ?? 2_000);
const steadyMs = Number(process.env.BENCH_STEADY_MS ?? 3_000);
const concurrency = 8;

interface Instance {
  proxy: TcpProxy;
  gateway: GatewayProcess;
}

async function main(): Promise<void> {
  if (!adminUrl)
    throw new Error('bench:faults needs PostgreSQL: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  const upstream = await startMockUpstream();
  const database = await openScratchPostgres(adminUrl, 'tollgate_faults');
  const journals = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-faults-'));
  const target = new URL(database.url);
  const instances: Instance[] = [];
  const start = async (proxy: TcpProxy, seed: boolean): Promise<GatewayProcess> => {
    const url = new URL(database.url);
    url.port = String(proxy.port);
    return startGatewayProcess({
      DATABASE_URL: url.toString(),
      TOLLGATE_ADMIN_KEY: FAULT_ADMIN_KEY,
      TOLLGATE_DEMO: 'off',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_SEED_ON_START: seed ? 'true' : 'false',
      TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
      TOLLGATE_JOURNAL_DIR: journals,
      TOLLGATE_LOG_LEVEL: 'error',
      OPENAI_BASE_URL: `${upstream.url}/v1`,
      OPENAI_API_KEY: 'sk-bench',
    });
  };
  try {
    for (let index = 0; index < 2; index += 1) {
      const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      instances.push({ proxy, gateway: await start(proxy, index === 0) });
    }
    const created = await admin<{ account: { id: string }; api_key: { key: string } }>(
      instances[0]!.gateway.url,
      'POST',
      '/admin/accounts',
      {
        name: 'bench-faults',
        mode: 'consumption_usd',
        credits: '100000',
      },
    );
    const key = created.api_key.key;

    // The same load with no fault, for the ratio, after a warm-up as long (JIT, pools, leases).
    const warm = await timedLoad(instances, key, steadyMs);
    const baseline = await timedLoad(instances, key, steadyMs);
    const baselineRate = baseline.served / (steadyMs / 1000);
    console.log(`no faults: ${baseline.served} calls in ${steadyMs} ms on 2 instances (${baselineRate.toFixed(0)} calls/s)`);

    const results: LoadResult[] = [...warm.results, ...baseline.results];
    const recoveries: Array<{ fault: string; ms: number }> = [];
    const controller = new AbortController();
    const watches = instances.map(() => progress());
    const loads = instances.map((_, index) => runLoadOn(instances, index, key, controller.signal, watches[index]!.onCall));
    const faultStarted = performance.now();
    const killer = new pg.Client({ connectionString: database.url });
    await killer.connect();
    for (let round = 0; round < rounds; round += 1) {
      await pause(steadyMs);
      let started = performance.now();
      await killer.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      recoveries.push({ fault: `terminate #${round + 1}`, ms: await recovered(instances[0]!, key, started) });

      await pause(steadyMs);
      await Promise.all(instances.map((instance) => instance.proxy.cut()));
      await pause(outageMs);
      await Promise.all(instances.map((instance) => instance.proxy.restore()));
      started = performance.now();
      recoveries.push({ fault: `outage ${outageMs} ms #${round + 1}`, ms: await recovered(instances[0]!, key, started) });

      await pause(steadyMs);
      started = performance.now();
      await instances[1]!.gateway.crash();
      instances[1]!.gateway = await start(instances[1]!.proxy, false);
      recoveries.push({ fault: `kill -9 and restart #${round + 1}`, ms: await recovered(instances[1]!, key, started) });
    }
    await pause(steadyMs);
    controller.abort();
    const faulted = await Promise.all(loads);
    const faultSeconds = (performance.now() - faultStarted) / 1000;
    await killer.end();
    results.push(...faulted.flat());
    for (const instance of instances) await instance.gateway.stop();

    const served = new Set([...results.flatMap((result) => result.served), ...probeServed]);
    const captured = await capturedRequests(database.db, created.account.id);
    const lost = [...served].filter((id) => !captured.has(id)).length;
    const extra = [...captured].filter((id) => !served.has(id)).length;
    const doubles = await database.db
      .selectFrom('ledger_entries')
      .select('request_id')
      .where('kind', '=', 'capture')
      .groupBy('request_id')
      .having((eb) => eb.fn.countAll(), '>', 1)
      .execute();
    const statuses: Record<string, number> = {};
    for (const result of results)
      for (const [status, count] of Object.entries(result.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
    const unanswered = results.reduce((total, result) => total + result.networkErrors, 0);
    const faultedServed = faulted.flat().reduce((total, result) => total + result.served.length, 0);
    const ledger = await ledgerHolds(database.db);
    console.log('');
    for (const recovery of recoveries) console.log(`recovery after ${recovery.fault}: ${recovery.ms.toFixed(0)} ms`);
    console.log('');
    console.log(`calls answered 2xx      ${served.size}`);
    console.log(`captures in the ledger  ${captured.size}`);
    console.log(`lost                    ${lost} (must be 0)`);
    console.log(`double                  ${doubles.length} (must be 0)`);
    console.log(`charged, answer cut     ${extra} (calls in flight at a kill -9; ${unanswered} calls got no answer)`);
    console.log(`statuses                ${JSON.stringify(statuses)}`);
    console.log(`ledger verify           ${ledger.ok ? 'ok' : 'FAILED'}; negative balances: ${ledger.negative.length}`);
    const faultRate = faultedServed / faultSeconds;
    console.log(
      `throughput under faults ${faultRate.toFixed(0)} calls/s vs ${baselineRate.toFixed(0)} without: ${(faultRate / baselineRate).toFixed(2)}x`,
    );
    if (lost > 0 || doubles.length > 0 || !ledger.ok || ledger.negative.length > 0) process.exitCode = 1;
  } finally {
    for (const instance of instances) {
      await instance.gateway.stop().catch(() => undefined);
      await instance.proxy.close();
    }
    await database.close();
    await upstream.close();
    rmSync(journals, { recursive: true, force: true });
  }
}

function runLoadOn(
  instances: Instance[],
  index: number,
  key: string,
  signal: AbortSignal,
  onCall: (result: LoadResult) => void,
): Promise<LoadResult[]> {
  // The instance's gateway may be replaced (kill -9 and restart): the load follows it, round after round.
  const results: LoadResult[] = [];
  return (async () => {
    while (!signal.aborted) {
      const gateway = instances[index]!.gateway;
      const inner = new AbortController();
      const stop = () => inner.abort();
      signal.addEventListener('abort', stop, { once: true });
      void gateway.exited.then(stop);
      results.push(
        await runLoad({
          url: gateway.url,
          key,
          concurrency,
          maxCalls: 1_000_000,
          signal: inner.signal,
          onCall,
          errorPauseMs: 50,
        }),
      );
      signal.removeEventListener('abort', stop);
      while (!signal.aborted && instances[index]!.gateway === gateway) await pause(20);
    }
    return results;
  })();
}

async function timedLoad(instances: Instance[], key: string, ms: number): Promise<{ served: number; results: LoadResult[] }> {
  const signal = AbortSignal.timeout(ms);
  const results = await Promise.all(
    instances.map((instance) => runLoad({ url: instance.gateway.url, key, concurrency, maxCalls: 1_000_000, signal })),
  );
  return { served: results.reduce((total, result) => total + result.served.length, 0), results };
}

/** Request ids of the calls `recovered` made and got a 200 for (they are served calls too). */
const probeServed: string[] = [];

/** Milliseconds from `since` until the instance is ready and answers a call with 200 (bounded: 120 s). */
async function recovered(instance: Instance, key: string, since: number): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await (async () => {
      const ready = await fetch(`${instance.gateway.url}/readyz`);
      if (ready.status !== 200) return false;
      const answer = await fetch(`${instance.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      });
      await answer.text();
      if (answer.status === 200) probeServed.push(String(answer.headers.get('x-tollgate-request-id')));
      return answer.status === 200;
    })().catch(() => false);
    if (ok) return performance.now() - since;
    if (Date.now() > deadline) throw new Error('the gateway did not recover within 120 s');
    await pause(10);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await main();
