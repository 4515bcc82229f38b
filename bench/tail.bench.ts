/**
 * `npm run bench:tail`: what the slowest calls at concurrency 1 wait for. `tollgate serve --workers 1` as a user
 * starts it (the built CLI, billing every call on PostgreSQL, or on embedded PGlite without a URL), the Portkey
 * open-source gateway and the mock upstream called directly, each over one kept-alive connection, measured
 * interleaved as in `bench:gateway` (BENCH_ROUNDS rounds of blocks of sequential calls, about DURATION_SECONDS in
 * all per path). Both gateways run with a probe loaded (`node --import bench/support/tail-probe.mjs`) that records
 * every garbage collection of their main thread and every batch tollgate's named queues ran (the
 * `tollgate:batch` diagnostics channel: captures, usage records); the client records when each call was sent
 * and answered. TOLLGATE_NODE_ARGUMENTS adds Node flags to the tollgate process. Clocks are the processes' `performance.timeOrigin + performance.now()`, one machine's clock.
 *
 * Printed per gateway: the latency percentiles, how many calls overlapped a GC pause or a batch in flight, and
 * what the slowest calls (at or above the path's p99) overlapped: a GC pause, a batch, both or neither, beside
 * how often a call in each of those cases was that slow. The peer's figures come from the same run: tollgate's
 * added p99 as a ratio of Portkey's, and Portkey's slowest calls against its own GC pauses.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openScratchPostgres } from '../test/support/scratch-database.js';
import { answersWithUsage, CHAT_REQUEST_BODY, createBenchAccount, directTarget, startPortkey } from './support/chat-targets.js';
import { forkTypeScript, type ServerProcess } from './support/child-process.js';
import { percentile, SequentialConnection, type Target } from './support/load.js';
import { startServe } from './support/tollgate-serve.js';

const seconds = Number(process.env.DURATION_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
/** Calls each path gets before it is measured, twice: once to warm it up, once to take its rate. */
const warmCalls = Number(process.env.BENCH_WARM_CALLS ?? 1000);
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? '';
/** TOLLGATE_NODE_ARGUMENTS: Node flags for the tollgate process only, as in bench:gateway (e.g. "--cpu-prof"). */
const tollgateNodeArguments = (process.env.TOLLGATE_NODE_ARGUMENTS ?? '').split(' ').filter((argument) => argument !== '');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROBE = fileURLToPath(new URL('./support/tail-probe.mjs', import.meta.url));
const ADMIN_KEY = `bench-admin-${randomBytes(8).toString('hex')}`;
/** GC kinds as perf_hooks reports them. */
const MINOR_GC = 1;

/** A call as the client saw it: sent and answered, wall-clock milliseconds. */
type Call = [sent: number, answered: number];
/** What the probe of one process wrote (see tail-probe.mjs). */
interface ProbeFile {
  pid: number;
  gc: Array<[start: number, duration: number, kind: number]>;
  batches: Array<[start: number, end: number, name: string, size: number]>;
}
/** An interval of wall-clock milliseconds. */
type Span = [start: number, end: number];

const servers: ServerProcess[] = [];

async function main(): Promise<void> {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const probeDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-tail-probe-'));
  const journalDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-tail-journal-'));
  // Read by the probe in every process started from here on that loads it (the gateways, not the mock).
  process.env.TOLLGATE_TAIL_PROBE_DIR = probeDirectory;
  const scratch = postgresUrl === '' ? undefined : await openScratchPostgres(postgresUrl, 'tollgate_bench');
  const dataDirectory = scratch ? undefined : mkdtempSync(path.join(tmpdir(), 'tollgate-tail-data-'));
  try {
    const mock = await forkTypeScript<{ type: 'ready'; port: number }>(
      new URL('./support/mock-upstream-process.ts', import.meta.url),
    );
    servers.push(mock.server);
    const upstreamUrl = `http://127.0.0.1:${mock.ready.port}`;
    const portkey = await startPortkey(upstreamUrl, ['--import', PROBE]);
    servers.push(portkey.server);
    const serve = await startServe(
      {
        ...(scratch ? { DATABASE_URL: scratch.url } : { TOLLGATE_DATA_DIR: dataDirectory! }),
        TOLLGATE_ADMIN_KEY: ADMIN_KEY,
        TOLLGATE_SYNC_CRON: 'off',
        TOLLGATE_JOURNAL_DIR: journalDirectory,
        OPENAI_BASE_URL: `${upstreamUrl}/v1`,
        OPENAI_API_KEY: 'sk-bench-upstream',
      },
      1,
      ['--import', PROBE, ...tollgateNodeArguments],
    );
    let served = 0;
    let code: number | null;
    try {
      const account = await createBenchAccount(serve.url, ADMIN_KEY);
      const tollgate: Target = {
        label: 'tollgate --workers 1',
        url: `${serve.url}/v1/chat/completions`,
        headers: { authorization: `Bearer ${account.key}` },
        body: CHAT_REQUEST_BODY,
      };
      const targets = [directTarget(upstreamUrl), tollgate, portkey.target];
      for (const target of targets) await answersWithUsage(target);
      const calls = await measure(targets);
      served = calls[1]!.length;
      // The probes write every second: a pause, then the gateways stop (tollgate's writes itself at exit).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      code = await serve.stop();
      report(targets, calls, readProbes(probeDirectory), portkey.server.child.pid!, scratch ? 'PostgreSQL' : 'embedded PGlite');
    } finally {
      await serve.stop();
    }
    if (code !== 0) {
      console.log(`INVALID RUN: tollgate serve exited with code ${code} after ${served} measured calls`);
      process.exitCode = 1;
    }
  } finally {
    for (const server of servers.reverse()) await server.stop();
    rmSync(probeDirectory, { recursive: true, force: true });
    rmSync(journalDirectory, { recursive: true, force: true });
    if (dataDirectory) rmSync(dataDirectory, { recursive: true, force: true });
    await scratch?.close();
  }
}

/**
 * Each target's calls, measured interleaved: a warm-up block each (which also gives its rate), then `rounds`
 * rounds in which every target gets a block of sequential calls, the order rotating. A failed call fails the run.
 */
async function measure(targets: Target[]): Promise<Call[][]> {
  const connections = await Promise.all(targets.map((target) => SequentialConnection.open(target)));
  try {
    const block = async (index: number, amount: number, into?: Call[]): Promise<number> => {
      const started = performance.now();
      for (let call = 0; call < amount; call += 1) {
        const sent = performance.timeOrigin + performance.now();
        const status = await connections[index]!.call();
        if (status < 200 || status >= 300) throw new Error(`${targets[index]!.label} answered ${status}`);
        into?.push([sent, performance.timeOrigin + performance.now()]);
      }
      return amount / ((performance.now() - started) / 1000);
    };
    // Warm-up: a path's first calls compile its code; its rate is taken from the second half.
    const rates: number[] = [];
    for (const index of targets.keys()) {
      await block(index, warmCalls);
      rates.push(await block(index, warmCalls));
    }
    const calls = targets.map((): Call[] => []);
    for (let round = 0; round < rounds; round += 1) {
      for (let step = 0; step < targets.length; step += 1) {
        const index = (round + step) % targets.length;
        await block(index, Math.max(50, Math.round((rates[index]! * seconds) / rounds)), calls[index]);
      }
    }
    return calls;
  } finally {
    for (const connection of connections) connection.close();
  }
}

function readProbes(directory: string): ProbeFile[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(directory, file), 'utf8')) as ProbeFile);
}

/** How a path's calls line up with its gateway's GC pauses and batches. */
interface Attribution {
  latencies: number[];
  p99: number;
  gcPauses: Span[];
  /** How many of those pauses were minor collections (scavenges). */
  minorPauses: number;
  batches: Array<[start: number, end: number, name: string, size: number]>;
  /** Per call: did it overlap a GC pause, a batch in flight. */
  overlaps: Array<{ gc: boolean; batch: boolean; slow: boolean }>;
}

function attribute(calls: Call[], probes: ProbeFile[]): Attribution {
  const first = calls[0]![0];
  const last = calls[calls.length - 1]![1];
  const within = (start: number, end: number) => end > first && start < last;
  const collections = probes.flatMap((probe) => probe.gc).filter(([start, duration]) => within(start, start + duration));
  const gcPauses = collections
    .map(([start, duration]): Span => [start, start + duration])
    .sort((left, right) => left[0] - right[0]);
  const minorPauses = collections.filter(([, , kind]) => kind === MINOR_GC).length;
  const batches = probes
    .flatMap((probe) => probe.batches)
    .filter(([start, end]) => within(start, end))
    .sort((left, right) => left[0] - right[0]);
  const latencies = calls.map(([sent, answered]) => answered - sent);
  const p99 = percentile(
    [...latencies].sort((left, right) => left - right),
    0.99,
  );
  const batchSpans = batches.map(([start, end]): Span => [start, end]);
  const overlaps = calls.map(([sent, answered], index) => ({
    gc: overlapsAny(gcPauses, sent, answered),
    batch: overlapsAny(batchSpans, sent, answered),
    slow: latencies[index]! >= p99,
  }));
  return { latencies, p99, gcPauses, minorPauses, batches, overlaps };
}

/** Whether [start, end] overlaps one of `spans` (sorted by start; found by binary search on the start). */
function overlapsAny(spans: Span[], start: number, end: number): boolean {
  let low = 0;
  let high = spans.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (spans[middle]![0] < end) low = middle + 1;
    else high = middle;
  }
  // Spans starting before `end`, latest first; a batch can outlast the ones after it, so look back a few.
  for (let index = low - 1; index >= 0 && index >= low - 8; index -= 1) if (spans[index]![1] > start) return true;
  return false;
}

function report(targets: Target[], calls: Call[][], probes: ProbeFile[], portkeyPid: number, storage: string): void {
  const direct = calls[0]!;
  const directP99 = percentile(
    direct.map(([sent, answered]) => answered - sent).sort((left, right) => left - right),
    0.99,
  );
  const ofPortkey = probes.filter((probe) => probe.pid === portkeyPid);
  const ofTollgate = probes.filter((probe) => probe.pid !== portkeyPid);
  const paths = [
    { target: targets[1]!, attribution: attribute(calls[1]!, ofTollgate) },
    { target: targets[2]!, attribution: attribute(calls[2]!, ofPortkey) },
  ];
  console.log(
    `tail benchmark: ${rounds} interleaved rounds, about ${seconds} s of sequential calls per path over one kept-alive connection; ` +
      `tollgate serve --workers 1 billing every call on ${storage}; both gateways with the probe (GC pauses of their main thread, tollgate's batches)`,
  );
  console.log(['path'.padEnd(22), 'calls', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'added p99 ms'].join('  '));
  const rows = [
    { label: 'direct', latencies: direct.map(([sent, answered]) => answered - sent) },
    ...paths.map((path) => ({ label: path.target.label, latencies: path.attribution.latencies })),
  ];
  for (const row of rows) {
    const sorted = [...row.latencies].sort((left, right) => left - right);
    const p99 = percentile(sorted, 0.99);
    console.log(
      [
        row.label.padEnd(22),
        String(sorted.length).padStart(5),
        ...[0.5, 0.9, 0.99, 0.999].map((fraction) => percentile(sorted, fraction).toFixed(3).padStart(6)),
        row.label === 'direct' ? '-' : (p99 - directP99).toFixed(3),
      ].join('  '),
    );
  }
  for (const { target, attribution } of paths) {
    const { gcPauses, minorPauses, batches, overlaps } = attribution;
    const durations = gcPauses.map(([start, end]) => end - start).sort((left, right) => left - right);
    const share = (count: number, of: number) => (of === 0 ? 'n/a' : `${((100 * count) / of).toFixed(1)}%`);
    console.log(
      `${target.label}: ${gcPauses.length} GC pauses during its calls (${minorPauses} minor), median ${percentile(durations, 0.5).toFixed(2)} ms, ` +
        `p90 ${percentile(durations, 0.9).toFixed(2)} ms, ${durations.reduce((total, duration) => total + duration, 0).toFixed(0)} ms in all; ` +
        `${share(overlaps.filter((call) => call.gc).length, overlaps.length)} of its calls overlap one`,
    );
    if (batches.length > 0) {
      const names = [...new Set(batches.map(([, , name]) => name))];
      const described = names.map((name) => {
        const own = batches.filter(([, , batchName]) => batchName === name);
        const inFlight = own.map(([start, end]) => end - start).sort((left, right) => left - right);
        const sizes = own.map(([, , , size]) => size).sort((left, right) => left - right);
        return `${own.length} batches of ${name} (median ${percentile(sizes, 0.5)} inputs, ${percentile(inFlight, 0.5).toFixed(1)} ms in flight)`;
      });
      console.log(
        `${target.label}: ${described.join(', ')}; ${share(overlaps.filter((call) => call.batch).length, overlaps.length)} of its calls overlap a batch in flight`,
      );
    }
    const slow = overlaps.filter((call) => call.slow);
    const cases = [
      { label: 'a GC pause only', test: (call: (typeof overlaps)[number]) => call.gc && !call.batch },
      { label: 'a batch only', test: (call: (typeof overlaps)[number]) => call.batch && !call.gc },
      { label: 'both', test: (call: (typeof overlaps)[number]) => call.gc && call.batch },
      { label: 'neither', test: (call: (typeof overlaps)[number]) => !call.gc && !call.batch },
      // A gateway without batches (Portkey): only whether its slowest calls met its own GC pauses.
    ].filter((entry) => batches.length > 0 || entry.label === 'a GC pause only' || entry.label === 'neither');
    console.log(
      `${target.label}: its slowest calls (${slow.length}, at or above p99 ${attribution.p99.toFixed(2)} ms) overlapped ` +
        cases
          .map((entry) => {
            const all = overlaps.filter(entry.test);
            return `${entry.label} ${share(slow.filter(entry.test).length, slow.length)} (of all its calls so placed, ${share(all.filter((call) => call.slow).length, all.length)} were that slow)`;
          })
          .join('; '),
    );
  }
  const added = (index: number) => paths[index]!.attribution.p99 - directP99;
  console.log(
    `tollgate --workers 1 / portkey: added p99 ${(added(0) / added(1)).toFixed(2)}x (p99 over the direct path's, same run)`,
  );
}

await main();
