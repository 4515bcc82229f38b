/**
 * `npm run bench:gateway`: what a gateway adds to a call. One mock upstream on loopback answers a recorded
 * OpenAI chat completion (or its recorded stream); the same autocannon load goes (1) straight to it,
 * (2) through `tollgate serve` as a user starts it (the built CLI, bin/tollgate.js, configured by its
 * environment, logging at its default level, the shipped catalog seeded on its first start, the capture journal
 * on) with `--workers 1`, (3) the same with `--workers N` (BENCH_WORKERS, default the number of cores), each
 * pricing, holding, capturing and recording every call on PostgreSQL, and (4) through the Portkey open-source
 * gateway (`@portkey-ai/gateway`, headless, which bills nothing) pointed at the same mock, in one run. Every
 * server runs in its own processes. Phase 1, every gateway running: latency p50/p99 at concurrency 1, measured
 * interleaved: BENCH_ROUNDS (8) rounds in which each path gets a block of sequential calls over its one kept-alive
 * connection, the order rotating, so that other work on this shared machine weighs on every path alike
 * (measured one path after another, minutes apart, the same build's p50 ratio to Portkey ranged from 0.27x to
 * 0.82x between runs); then each tollgate is stopped (SIGTERM, drained) and checked. Phase 2, path by path,
 * each tollgate as a fresh process with nothing else but Portkey's idle process running: throughput at 50
 * connections with the CPU each process spent per call, and a streamed call's time to first byte and to the
 * last byte (p50, concurrency 1) with the gateway's CPU per streamed call; each tollgate is then stopped and
 * checked again. (Run interleaved too, the 50-connection runs cost tollgate a good part of its throughput: each
 * run started cold after the idle time of the others' runs, and met the other tollgate's last batches in
 * PostgreSQL.) A check: the database shows one capture per 2xx the process answered, `ledger.verify()` ok, no
 * open hold on its account, exit code 0. The run reports the latency each gateway adds over the direct path,
 * the tollgate/Portkey ratios, and PostgreSQL's commits, inserted rows and CPU per billed call over the whole run.
 *
 * PostgreSQL: TEST_DATABASE_URL, else DATABASE_URL (a scratch database is created and dropped); with neither,
 * tollgate runs on embedded PGlite in a temporary directory, with one worker (PGlite belongs to one process),
 * and the output says so. Every load is a fixed number of requests, sized from a calibration run (which is
 * also the warm-up) to last about DURATION_SECONDS (10); at 50 connections each path is then loaded for
 * WARM_SECONDS (5) more before it is measured, as a gateway in service is warm. The CLI is compiled first (tsc, as `npm ci` does).
 * TOLLGATE_NODE_ARGUMENTS adds Node flags to the tollgate processes only (the workers inherit them), e.g.
 * "--cpu-prof --cpu-prof-dir=prof". BENCH_HOLDS=per_call runs tollgate with a durable hold and capture per
 * call (TOLLGATE_HOLDS) instead of the default credit leases.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { Agent, request } from 'undici';
import { openDatabase, type Database } from '../src/db/database.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { openScratchPostgres } from '../test/support/scratch-database.js';
import { forkTypeScript, type ServerProcess } from './support/child-process.js';
import { measuredAmount, percentile, runInterleaved, runLoad, type LoadResult, type Target } from './support/load.js';
import { ownCpuSeconds, postgresCpuSeconds, processTreeCpuSeconds } from './support/process-cpu.js';
import { startServe, type ServeProcess } from './support/tollgate-serve.js';
import { answersWithUsage, CHAT_REQUEST_BODY, createBenchAccount, directTarget, startPortkey } from './support/chat-targets.js';

const seconds = Number(process.env.DURATION_SECONDS ?? 10);
/** How long each path is loaded at 50 connections, after its calibration, before its throughput is measured. */
const warmSeconds = Number(process.env.WARM_SECONDS ?? 5);
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? '';
const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
/** Rounds of the interleaved concurrency-1 measurement (each path gets one block of calls per round). */
const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
/**
 * The pause after each concurrency-1 block, longer than tollgate's write linger (250 ms) and its batches: the next
 * path's block starts after the previous gateway's writes are done, so no path's latency includes another's.
 */
const settleMs = Number(process.env.BENCH_SETTLE_MS ?? 600);
const STREAM_CALLS = 300;
const streamBody = JSON.stringify({ ...(JSON.parse(CHAT_REQUEST_BODY) as object), stream: true });
const ADMIN_KEY = `bench-admin-${randomBytes(8).toString('hex')}`;

interface StreamFigures {
  firstByteP50: number;
  lastByteP50: number;
  ok: number;
  failed: number;
  /** CPU per streamed call, in microseconds, by process (undefined without /proc). */
  cpu?: CpuPerCall;
}

const NO_STREAM: StreamFigures = { firstByteP50: Number.NaN, lastByteP50: Number.NaN, ok: 0, failed: 0 };

interface PathFigures {
  target: Target;
  single: LoadResult;
  concurrent: LoadResult;
  stream: StreamFigures;
  /** CPU per 2xx response of the 50-connection runs, in microseconds, by process (undefined without /proc). */
  cpu: CpuPerCall;
  billing?: string;
}

type CpuPerCall = { [Process in keyof CpuReadings]?: number };

interface RunningTollgate {
  serve: ServeProcess;
  account: { id: string; key: string };
  /** Its --workers. */
  count: number;
  target: Target;
  stopped: boolean;
}

const servers: ServerProcess[] = [];
let upstreamPid: number | undefined;

async function main(): Promise<void> {
  const loadBefore = loadavg();
  // The CLI runs from dist/, as installed: compile the current sources first.
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: 'inherit',
  });
  const mock = await forkTypeScript<{ type: 'ready'; port: number }>(
    new URL('./support/mock-upstream-process.ts', import.meta.url),
  );
  servers.push(mock.server);
  upstreamPid = mock.server.child.pid;
  const upstreamUrl = `http://127.0.0.1:${mock.ready.port}`;

  const direct = directTarget(upstreamUrl);
  const { server: portkeyServer, target: portkey } = await startPortkey(upstreamUrl);
  servers.push(portkeyServer);

  const storage = await openStorage();
  const journalDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-journal-'));
  const storageLabel = storage.label;
  const tollgates: RunningTollgate[] = [];
  let figures: PathFigures[];
  let databaseWork: string | undefined;
  try {
    // Every gateway runs from the start, so that their latencies can be measured interleaved.
    const counts = storage.kind === 'postgres' ? [1, workers] : [1];
    for (const count of counts) tollgates.push(await startTollgate(count));
    const paths = [direct, ...tollgates.map((tollgate) => tollgate.target), portkey];
    for (const target of paths) await answersWithUsage(target);
    const database = tollgates.length > 0 ? await storage.open() : undefined;
    const before = database ? await databaseActivity(database) : undefined;
    // Phase 1, every gateway running: latency at concurrency 1, interleaved. Then each tollgate is stopped and
    // checked: every call it answered, captured once.
    const single = await runInterleaved(paths, { rounds, seconds, probeAmount: 1000, settleMs });
    const checks = new Map<Target, string>();
    let billedCalls = 0;
    for (const tollgate of tollgates) {
      const index = paths.indexOf(tollgate.target);
      const served = 1 + single.probes[index]!.ok + single.measured[index]!.ok;
      billedCalls += served;
      checks.set(tollgate.target, await stopAndCheck(tollgate, database!, served));
    }
    // Phase 2, path by path, each gateway alone but for Portkey's idle process (a fresh tollgate process, as
    // before this benchmark interleaved anything): throughput at 50 connections, CPU per call, streams.
    figures = [];
    for (const [index, target] of paths.entries()) {
      const count = tollgates.find((running) => running.target === target)?.count;
      const fresh = count !== undefined ? await startTollgate(count) : undefined;
      if (fresh) tollgates.push(fresh);
      if (fresh) await answersWithUsage(fresh.target);
      const pid = fresh ? fresh.serve.child.pid : target === portkey ? portkeyServer.child.pid : undefined;
      const measured = await measureConcurrent(fresh?.target ?? target, pid);
      const path: PathFigures = {
        ...measured,
        target,
        single: { ...single.measured[index]!, failed: single.measured[index]!.failed + single.probes[index]!.failed },
      };
      if (fresh) {
        const served = 1 + measured.served;
        billedCalls += served;
        path.billing = `${checks.get(target)!}; its 50-connection and streamed calls (a second process): ${await stopAndCheck(fresh, database!, served)}`;
      }
      figures.push(path);
    }
    const after = database ? await databaseActivity(database) : undefined;
    await database?.close();
    if (before && after) {
      const cpu =
        before.cpuSeconds !== undefined && after.cpuSeconds !== undefined
          ? (after.cpuSeconds - before.cpuSeconds) / billedCalls
          : undefined;
      databaseWork =
        `PostgreSQL per billed call over the whole run (every call of every tollgate process): ${((after.commits - before.commits) / billedCalls).toFixed(2)} commits, ` +
        `${((after.inserted - before.inserted) / billedCalls).toFixed(2)} rows inserted` +
        (cpu !== undefined
          ? `, ${(cpu * 1_000_000).toFixed(0)} µs of its CPU (one core of it carries about ${Math.round(1 / cpu).toLocaleString('en-US')} billed calls/s)`
          : '');
    }
  } finally {
    for (const tollgate of tollgates) if (!tollgate.stopped) await tollgate.serve.stop();
    rmSync(journalDirectory, { recursive: true, force: true });
    await storage.close();
  }

  async function startTollgate(count: number): Promise<RunningTollgate> {
    const nodeArguments = (process.env.TOLLGATE_NODE_ARGUMENTS ?? '').split(' ').filter((argument) => argument !== '');
    const serve = await startServe(
      {
        ...storage.env,
        TOLLGATE_ADMIN_KEY: ADMIN_KEY,
        TOLLGATE_SYNC_CRON: 'off',
        TOLLGATE_JOURNAL_DIR: journalDirectory,
        TOLLGATE_HOLDS: process.env.BENCH_HOLDS ?? 'lease',
        OPENAI_BASE_URL: `${upstreamUrl}/v1`,
        OPENAI_API_KEY: 'sk-bench-upstream',
      },
      count,
      nodeArguments,
    );
    const account = await createBenchAccount(serve.url, ADMIN_KEY);
    return {
      serve,
      account,
      count,
      stopped: false,
      target: {
        label: `tollgate --workers ${count}`,
        url: `${serve.url}/v1/chat/completions`,
        headers: { authorization: `Bearer ${account.key}` },
        body: CHAT_REQUEST_BODY,
      },
    };
  }

  /** SIGTERM (the drain writes every capture), then: one capture per 2xx the path answered, `ledger.verify()` ok, no open hold, exit code 0. */
  async function stopAndCheck(tollgate: RunningTollgate, database: Database, served: number): Promise<string> {
    const { target, account } = tollgate;
    const code = await tollgate.serve.stop();
    tollgate.stopped = true;
    const ledger = new Ledger(database.db);
    const captures = await database.db
      .selectFrom('ledger_entries')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('account_id', '=', account.id)
      .where('kind', '=', 'capture')
      .executeTakeFirstOrThrow();
    const verification = await ledger.verify();
    // Its own account's: the other tollgate may still hold a lease on its account.
    const openHolds = verification.accounts
      .filter((entry) => entry.id === account.id)
      .reduce((total, entry) => total.add(entry.openHolds), Decimal.ZERO);
    const billed = Number(captures.count) === served && verification.ok && openHolds.isZero() && code === 0;
    if (!billed) process.exitCode = 1;
    return (
      `${target.label}: ${captures.count} captures for ${served} 2xx responses; ledger.verify() ${verification.ok ? 'ok' : 'FAILED'}; ` +
      `open holds ${openHolds.toString()}; exit code ${code}: ${billed ? 'ok' : 'MISMATCH'}`
    );
  }

  const loadAfter = loadavg();
  console.log(
    `gateway benchmark: about ${seconds} s per measurement (a fixed count of requests, sized by a calibration run that also warms up; ` +
      `concurrency 1 interleaved in ${rounds} rounds, every gateway running; 50 connections and streams path by path, each tollgate a fresh process, ${warmSeconds} s of load before the 50-connection measurement); ` +
      `tollgate on ${storageLabel}, holds: ${process.env.BENCH_HOLDS ?? 'lease'}; ${availableParallelism()} cores; ` +
      `load average before ${loadBefore.map((value) => value.toFixed(2)).join(' ')}, after ${loadAfter.map((value) => value.toFixed(2)).join(' ')}`,
  );
  printTable(figures);
  if (figures.some((path) => path.stream.ok === 0))
    console.log(
      'n/a: no streamed figures (Portkey answers 500 to a stream from this upstream under Node 20; see its log line above)',
    );
  for (const path of figures) if (path.billing) console.log(`billing check, ${path.billing}`);
  if (databaseWork) console.log(databaseWork);
  const failures = figures.reduce((total, path) => total + path.single.failed + path.concurrent.failed + path.stream.failed, 0);
  if (failures > 0) {
    console.log(`INVALID RUN: ${failures} non-2xx responses, errors or timeouts (see the failed column)`);
    process.exitCode = 1;
  }
  console.log(summary(figures));
}

/** The database tollgate bills on: a scratch PostgreSQL database, or an embedded one in a temporary directory. */
async function openStorage(): Promise<{
  kind: 'postgres' | 'pglite';
  label: string;
  env: Record<string, string>;
  open(): Promise<Database>;
  close(): Promise<void>;
}> {
  if (postgresUrl === '') {
    const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-data-'));
    return {
      kind: 'pglite',
      label: 'embedded PGlite (no PostgreSQL URL given: one worker only)',
      env: { TOLLGATE_DATA_DIR: dataDirectory },
      open: () => openDatabase({ kind: 'pglite', dataDirectory }),
      async close() {
        rmSync(dataDirectory, { recursive: true, force: true });
      },
    };
  }
  const scratch = await openScratchPostgres(postgresUrl, 'tollgate_bench');
  const url = new URL(scratch.url);
  return {
    kind: 'postgres',
    label: `PostgreSQL (scratch database ${url.pathname.slice(1)} on ${url.host})`,
    env: { DATABASE_URL: scratch.url },
    open: () => openDatabase({ kind: 'postgres', url: scratch.url }),
    close: () => scratch.close(),
  };
}

/**
 * A path's own phase: throughput at 50 connections (a calibration run, then the measured one, with the CPU each
 * process spent on it) and a streamed call's first and last byte. Calibration runs count as failures too: an
 * error anywhere makes the run invalid. `served`: the 2xx responses of the phase (a gateway bills each).
 */
async function measureConcurrent(
  target: Target,
  /** The gateway's process (with its workers), whose CPU is read around the 50-connection run. */
  gatewayPid?: number,
): Promise<Omit<PathFigures, 'target' | 'single'> & { served: number }> {
  const probe50 = await runLoad(target, 50, 1000);
  // A gateway in service is warm. Right after the calibration, a process is still compiling its call path: two
  // workers with 500 calls each behind them spent markedly more CPU per call in their next 15,000 calls than in
  // the 15,000 after those.
  const warm50 = await runLoad(target, 50, measuredAmount(probe50, warmSeconds));
  const cpuBefore = cpuReadings(gatewayPid);
  const measured50 = await runLoad(target, 50, measuredAmount(probe50, seconds));
  const cpu = cpuPerCall(cpuBefore, cpuReadings(gatewayPid), measured50.ok);
  // Portkey's stream of an OpenAI-compatible upstream fails under Node 20 (its header update throws
  // "TypeError: immutable" and it answers 500): a path whose first streamed call fails is not streamed.
  const probe = target.label === 'portkey' ? await streamCalls(target, 1) : undefined;
  const streams = probe === undefined || probe.ok === 1;
  const warmup = streams ? await streamCalls(target, 50) : NO_STREAM;
  const streamCpuBefore = cpuReadings(gatewayPid);
  const streamed = streams ? await streamCalls(target, STREAM_CALLS) : NO_STREAM;
  const stream = { ...streamed, cpu: cpuPerCall(streamCpuBefore, cpuReadings(gatewayPid), streamed.ok) };
  return {
    concurrent: { ...measured50, failed: measured50.failed + probe50.failed + warm50.failed + warmup.failed },
    stream,
    cpu,
    served: probe50.ok + warm50.ok + measured50.ok + warmup.ok + stream.ok,
  };
}

/**
 * `count` streamed calls one after another on one keep-alive connection: per call, the milliseconds to the
 * first byte of the body (the first event) and to its last byte; a call counts as ok when it is a 200 that
 * ends with the usage chunk and `[DONE]`.
 */
async function streamCalls(target: Target, count: number): Promise<StreamFigures> {
  const dispatcher = new Agent({ connections: 1 });
  const firstBytes: number[] = [];
  const lastBytes: number[] = [];
  let failed = 0;
  try {
    for (let index = 0; index < count; index += 1) {
      const started = performance.now();
      let first: number | undefined;
      let text = '';
      try {
        const response = await request(target.url, {
          method: 'POST',
          dispatcher,
          headers: { 'content-type': 'application/json', ...target.headers },
          body: streamBody,
        });
        for await (const chunk of response.body) {
          first ??= performance.now() - started;
          text += (chunk as Buffer).toString('utf8');
        }
        const last = performance.now() - started;
        if (
          response.statusCode !== 200 ||
          !text.includes('"completion_tokens":300') ||
          !text.trimEnd().endsWith('data: [DONE]')
        ) {
          failed += 1;
          continue;
        }
        firstBytes.push(first!);
        lastBytes.push(last);
      } catch {
        failed += 1;
      }
    }
  } finally {
    await dispatcher.close();
  }
  firstBytes.sort((left, right) => left - right);
  lastBytes.sort((left, right) => left - right);
  return { firstByteP50: percentile(firstBytes, 0.5), lastByteP50: percentile(lastBytes, 0.5), ok: firstBytes.length, failed };
}

/** PostgreSQL's committed transactions and inserted rows in this database so far (undefined on PGlite). */
async function databaseActivity(
  database: Database,
): Promise<{ commits: number; inserted: number; cpuSeconds: number | undefined } | undefined> {
  if (database.kind !== 'postgres') return undefined;
  // The statistics reach pg_stat_database within a second of a transaction (PostgreSQL 15 flushes them then).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const { rows } = await sql<{ commits: string; inserted: string }>`
    select xact_commit::text as commits, tup_inserted::text as inserted from pg_stat_database where datname = current_database()
  `.execute(database.db);
  return { commits: Number(rows[0]!.commits), inserted: Number(rows[0]!.inserted), cpuSeconds: postgresCpuSeconds() };
}

interface CpuReadings {
  gateway?: number;
  upstream?: number;
  loadGenerator: number;
  postgres?: number;
}

function cpuReadings(gatewayPid: number | undefined): CpuReadings {
  return {
    ...(gatewayPid !== undefined ? { gateway: processTreeCpuSeconds(gatewayPid) } : {}),
    ...(upstreamPid !== undefined ? { upstream: processTreeCpuSeconds(upstreamPid) } : {}),
    loadGenerator: ownCpuSeconds(),
    postgres: postgresCpuSeconds(),
  };
}

/** Microseconds of CPU per call between two readings, by process. */
function cpuPerCall(before: CpuReadings, after: CpuReadings, calls: number): CpuPerCall {
  const per = (key: keyof CpuReadings) => {
    const start = before[key];
    const end = after[key];
    return start === undefined || end === undefined || calls === 0 ? undefined : ((end - start) * 1_000_000) / calls;
  };
  return { gateway: per('gateway'), upstream: per('upstream'), loadGenerator: per('loadGenerator'), postgres: per('postgres') };
}

function printTable(figures: PathFigures[]): void {
  const direct = figures[0]!;
  const columns = [
    'path',
    'c=1 p50 ms',
    'c=1 p99 ms',
    'added p50 ms',
    'added p99 ms',
    'c=50 req/s',
    'stream 1st byte ms',
    'stream last byte ms',
    'failed',
  ];
  const rows = figures.map((path) => [
    path.target.label,
    path.single.p50.toFixed(3),
    path.single.p99.toFixed(3),
    path === direct ? '-' : (path.single.p50 - direct.single.p50).toFixed(3),
    path === direct ? '-' : (path.single.p99 - direct.single.p99).toFixed(3),
    path.concurrent.requestsPerSecond.toFixed(0),
    milliseconds(path.stream.firstByteP50),
    milliseconds(path.stream.lastByteP50),
    String(path.single.failed + path.concurrent.failed + path.stream.failed),
  ]);
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!))).join('  ');
  console.log(line(columns));
  for (const row of rows) console.log(line(row));
  console.log(
    'CPU per 2xx response in the 50-connection runs, microseconds (the gateway with its workers; the mock upstream; ' +
      "this process, which runs the load generator; every PostgreSQL process of the machine, during the path's runs, so a run after a tollgate's includes its last batches):",
  );
  for (const path of figures) {
    const cell = (label: string, value: number | undefined) => (value === undefined ? [] : [`${label} ${value.toFixed(0)}`]);
    const cells = [
      ...cell('gateway', path.cpu.gateway),
      ...cell('upstream', path.cpu.upstream),
      ...cell('load generator', path.cpu.loadGenerator),
      ...cell('PostgreSQL', path.cpu.postgres),
    ];
    const total = [path.cpu.gateway, path.cpu.upstream, path.cpu.loadGenerator, path.cpu.postgres].reduce<number>(
      (sum, value) => sum + (value ?? 0),
      0,
    );
    console.log(`  ${path.target.label}: ${cells.join(', ')}; total ${total.toFixed(0)}`);
  }
  const streamCpu = figures.flatMap((path) =>
    path.stream.cpu?.gateway !== undefined ? [`${path.target.label} ${path.stream.cpu.gateway.toFixed(0)}`] : [],
  );
  if (streamCpu.length > 0)
    console.log(`gateway CPU per streamed call (the recorded stream, one call at a time), microseconds: ${streamCpu.join(', ')}`);
  const portkey = figures[figures.length - 1]!;
  const added = (path: PathFigures, key: 'p50' | 'p99') => path.single[key] - direct.single[key];
  for (const tollgate of figures.slice(1, -1)) {
    console.log(
      `${tollgate.target.label} / portkey: added p50 ${ratio(added(tollgate, 'p50'), added(portkey, 'p50'))}, added p99 ${ratio(added(tollgate, 'p99'), added(portkey, 'p99'))}, ` +
        `throughput ${ratio(tollgate.concurrent.requestsPerSecond, portkey.concurrent.requestsPerSecond)}, ` +
        `stream first byte added ${ratio(tollgate.stream.firstByteP50 - direct.stream.firstByteP50, portkey.stream.firstByteP50 - direct.stream.firstByteP50)}, ` +
        `last byte added ${ratio(tollgate.stream.lastByteP50 - direct.stream.lastByteP50, portkey.stream.lastByteP50 - direct.stream.lastByteP50)}`,
    );
  }
}

function summary(figures: PathFigures[]): string {
  const direct = figures[0]!;
  const portkey = figures[figures.length - 1]!;
  const addedP50 = (path: PathFigures) => path.single.p50 - direct.single.p50;
  const tollgates = figures
    .slice(1, -1)
    .map(
      (path) =>
        `${path.target.label} adds ${addedP50(path).toFixed(3)} ms at p50 and serves ${path.concurrent.requestsPerSecond.toFixed(0)} req/s at 50 connections`,
    );
  return (
    `summary: billing every call, ${tollgates.join('; ')}; Portkey adds ${addedP50(portkey).toFixed(3)} ms and serves ` +
    `${portkey.concurrent.requestsPerSecond.toFixed(0)} req/s; direct ${direct.concurrent.requestsPerSecond.toFixed(0)} req/s`
  );
}

function ratio(numerator: number, denominator: number): string {
  return Number.isNaN(numerator / denominator) ? 'n/a' : `${(numerator / denominator).toFixed(2)}x`;
}

function milliseconds(value: number): string {
  return Number.isNaN(value) ? 'n/a' : value.toFixed(3);
}

try {
  await main();
} finally {
  for (const server of servers.reverse()) await server.stop();
}
