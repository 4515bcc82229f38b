/**
 * `npm run bench:gateway`: what a gateway adds to a call. One mock upstream on loopback answers a recorded
 * OpenAI chat completion; the same autocannon load goes (1) straight to it, (2) through tollgate, which
 * prices, holds, captures and records every call on PostgreSQL, and (3) through the Portkey open-source
 * gateway (`@portkey-ai/gateway`, headless, which bills nothing) pointed at the same mock, in one run. Each
 * server runs in its own process. Per path: latency p50/p99 at concurrency 1 and throughput at concurrency
 * 50, then the latency each gateway adds over the direct path and the tollgate/Portkey ratios. Afterwards
 * the database must show one capture per 2xx tollgate answered and `ledger.verify()` ok.
 *
 * PostgreSQL: TEST_DATABASE_URL, else DATABASE_URL (a scratch database is created and dropped); with
 * neither, tollgate runs on in-memory PGlite and the output says so. Every load is a fixed number of
 * requests, sized from a calibration run (which is also the warm-up) to last about DURATION_SECONDS (10).
 * TOLLGATE_NODE_ARGUMENTS adds Node flags to the tollgate process only, e.g. "--cpu-prof --cpu-prof-dir=prof".
 * BENCH_HOLDS=per_call runs tollgate with a durable hold and capture per call (TOLLGATE_HOLDS) instead of the
 * default credit leases.
 */
import { createServer } from 'node:net';
import { ask, forkTypeScript, spawnUntil, type ServerProcess } from './support/child-process.js';
import { runTimedByCount, type LoadResult, type Target } from './support/load.js';

const seconds = Number(process.env.DURATION_SECONDS ?? 10);
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? '';
const requestBody = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Invent a new holiday and describe its traditions.' }],
  max_tokens: 500,
});

interface PathFigures {
  target: Target;
  single: LoadResult;
  concurrent: LoadResult;
}

const servers: ServerProcess[] = [];

async function main(): Promise<void> {
  const mock = await forkTypeScript<{ type: 'ready'; port: number }>(
    new URL('./support/mock-upstream-process.ts', import.meta.url),
  );
  servers.push(mock.server);
  const upstreamUrl = `http://127.0.0.1:${mock.ready.port}`;

  const tollgate = await forkTypeScript<{ type: 'ready'; url: string; key: string; storage: string }>(
    new URL('./support/tollgate-process.ts', import.meta.url),
    { BENCH_ADMIN_DATABASE_URL: postgresUrl, BENCH_UPSTREAM_URL: upstreamUrl },
    (process.env.TOLLGATE_NODE_ARGUMENTS ?? '').split(' ').filter((argument) => argument !== ''),
  );
  servers.push(tollgate.server);

  const portkeyPort = await freePort();
  const portkeyHeaders = {
    authorization: 'Bearer sk-anything',
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `${upstreamUrl}/v1`,
  };
  const targets: Target[] = [
    {
      label: 'direct',
      url: `${upstreamUrl}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-anything' },
      body: requestBody,
    },
    {
      label: 'tollgate',
      url: `${tollgate.ready.url}/v1/chat/completions`,
      headers: { authorization: `Bearer ${tollgate.ready.key}` },
      body: requestBody,
    },
    { label: 'portkey', url: `http://127.0.0.1:${portkeyPort}/v1/chat/completions`, headers: portkeyHeaders, body: requestBody },
  ];
  // Portkey reads its port only as `--port=N` (build/start-server.js: argv.find(startsWith('--port='))).
  servers.push(
    await spawnUntil(
      process.execPath,
      ['node_modules/@portkey-ai/gateway/build/start-server.js', `--port=${portkeyPort}`, '--headless'],
      () => answersWithUsage(targets[2]!).then(() => true),
    ),
  );

  // Each path must really reach the mock and return its usage before it is measured.
  for (const target of targets) await answersWithUsage(target);
  let tollgateOk = 1;
  const figures: PathFigures[] = [];
  for (const target of targets) {
    const singleRuns = await runTimedByCount(target, 1, seconds, 200);
    const concurrentRuns = await runTimedByCount(target, 50, seconds, 1000);
    const runs = [...singleRuns, ...concurrentRuns];
    if (target.label === 'tollgate') tollgateOk += runs.reduce((total, run) => total + run.ok, 0);
    // Calibration runs count as failures too: an error anywhere makes the run invalid.
    const calibrationFailures = singleRuns[0]!.failed + concurrentRuns[0]!.failed;
    const single = { ...singleRuns[1]!, failed: singleRuns[1]!.failed + calibrationFailures };
    figures.push({ target, single, concurrent: concurrentRuns[1]! });
  }
  const billing = await ask<{ type: 'finished'; captures: number; usageRecords: number; verifyOk: boolean; openHolds: string }>(
    tollgate.server.child,
    { type: 'finish' },
    'finished',
  );

  console.log(
    `gateway benchmark: about ${seconds} s per measurement (a fixed count of requests, sized by a calibration run that also warms up); tollgate on ${tollgate.ready.storage}`,
  );
  printTable(figures);
  const failures = figures.reduce((total, path) => total + path.single.failed + path.concurrent.failed, 0);
  const billed = billing.captures === tollgateOk && billing.verifyOk && billing.openHolds === '0';
  console.log(
    `billing check: ${billing.captures} capture entries for ${tollgateOk} tollgate 2xx responses (${billing.usageRecords} usage records); ` +
      `ledger.verify() ${billing.verifyOk ? 'ok' : 'FAILED'}; open holds ${billing.openHolds}: ${billed ? 'ok' : 'MISMATCH'}`,
  );
  if (failures > 0) console.log(`INVALID RUN: ${failures} non-2xx responses, errors or timeouts (see the failed column)`);
  if (!billed || failures > 0) process.exitCode = 1;
  console.log(summary(figures));
}

async function answersWithUsage(target: Target): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: target.body,
  });
  const text = await response.text();
  const usage = response.ok
    ? (JSON.parse(text) as { usage?: { prompt_tokens?: number; completion_tokens?: number } }).usage
    : undefined;
  // The recording's counts (fixtures/provider-responses/openai/openai-chat-text.json): 16 in, 363 out.
  if (usage?.prompt_tokens !== 16 || usage.completion_tokens !== 363) {
    throw new Error(
      `${target.label}: expected the mock's completion with its usage, got ${response.status} ${text.slice(0, 300)}`,
    );
  }
}

function printTable(figures: PathFigures[]): void {
  const direct = figures[0]!;
  const columns = ['path', 'c=1 p50 ms', 'c=1 p99 ms', 'added p50 ms', 'added p99 ms', 'c=50 req/s', 'failed'];
  const rows = figures.map((path) => [
    path.target.label,
    path.single.p50.toFixed(3),
    path.single.p99.toFixed(3),
    path === direct ? '-' : (path.single.p50 - direct.single.p50).toFixed(3),
    path === direct ? '-' : (path.single.p99 - direct.single.p99).toFixed(3),
    path.concurrent.requestsPerSecond.toFixed(0),
    String(path.single.failed + path.concurrent.failed),
  ]);
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join('  ');
  console.log(line(columns));
  for (const row of rows) console.log(line(row));
  const [, tollgate, portkey] = figures as [PathFigures, PathFigures, PathFigures];
  const added = (path: PathFigures, key: 'p50' | 'p99') => path.single[key] - direct.single[key];
  console.log(
    `tollgate/portkey: added p50 ${ratio(added(tollgate, 'p50'), added(portkey, 'p50'))}, added p99 ${ratio(added(tollgate, 'p99'), added(portkey, 'p99'))}, ` +
      `throughput ${ratio(tollgate.concurrent.requestsPerSecond, portkey.concurrent.requestsPerSecond)}`,
  );
}

function summary(figures: PathFigures[]): string {
  const [direct, tollgate, portkey] = figures as [PathFigures, PathFigures, PathFigures];
  const addedP50 = (path: PathFigures) => path.single.p50 - direct.single.p50;
  return (
    `summary: tollgate, billing every call, adds ${addedP50(tollgate).toFixed(3)} ms at p50 (Portkey ${addedP50(portkey).toFixed(3)} ms) ` +
    `and serves ${tollgate.concurrent.requestsPerSecond.toFixed(0)} req/s at 50 connections (Portkey ${portkey.concurrent.requestsPerSecond.toFixed(0)}, direct ${direct.concurrent.requestsPerSecond.toFixed(0)})`
  );
}

function ratio(numerator: number, denominator: number): string {
  return `${(numerator / denominator).toFixed(2)}x`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

try {
  await main();
} finally {
  for (const server of servers.reverse()) await server.stop();
}
