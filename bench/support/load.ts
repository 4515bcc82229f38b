import autocannon from 'autocannon';

/** One target of the benchmark: the same request sent the same way, only the URL and headers differ. */
export interface Target {
  label: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  connections: number;
  /** Requests sent: a fixed count, so every one is answered before the run ends and none is left in flight. */
  amount: number;
  seconds: number;
  ok: number;
  /** Non-2xx responses plus connection errors and timeouts: a run with any is not a valid figure. */
  failed: number;
  requestsPerSecond: number;
  /** Milliseconds, from autocannon's per-response times (its histogram rounds to whole milliseconds). */
  p50: number;
  p99: number;
}

/**
 * Sends `amount` requests of `target` from `connections` keep-alive connections and returns the latency
 * percentiles of the 2xx responses and the 2xx throughput. A count, not a duration, bounds the run: a timed
 * run ends with requests still in flight, which the gateway finishes (and bills) after the client stopped
 * counting, so the billing check could not match 2xx responses to captures exactly. Latencies are taken from
 * autocannon's `response` events, which carry the exact hrtime duration: its own histogram keeps whole
 * milliseconds, too coarse for a loopback call well under one.
 */
export async function runLoad(target: Target, connections: number, amount: number): Promise<LoadResult> {
  const { result, latencies } = await load(target, connections, amount);
  latencies.sort((left, right) => left - right);
  return { ...result, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** One autocannon run: its counts and the latency of every 2xx response, in arrival order. */
function load(
  target: Target,
  connections: number,
  amount: number,
): Promise<{ result: Omit<LoadResult, 'p50' | 'p99'>; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  // autocannon reports a counted run at its next once-a-second sample, not when the last answer came: timed by
  // its own clock, a run of 4.1 s would count as 5 s. The run ends at its last answer.
  let lastAnswer = started;
  return new Promise((resolve, reject) => {
    const tracker = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: target.body,
        connections,
        amount,
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (lastAnswer - started) / 1000;
        resolve({
          result: {
            connections,
            amount,
            seconds,
            ok: result['2xx'],
            failed: result.non2xx + result.errors + result.timeouts,
            requestsPerSecond: result['2xx'] / seconds,
          },
          latencies,
        });
      },
    );
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      lastAnswer = performance.now();
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

/**
 * Latency at concurrency 1 of several targets measured together: after a calibration run of `probeAmount`
 * calls each (which also warms it up), `rounds` rounds in which every target gets a block of sequential calls
 * (about `seconds / rounds` of them at its calibrated rate), the order rotating from round to round. A target
 * measured minutes after another meets a different machine (other work, the host); interleaved, a burst of
 * other work weighs on every target alike. Each target's percentiles are taken over all its blocks; its
 * `seconds` is the sum of its blocks' and `amount` the calls counted. The calibration runs are returned apart
 * (their failures count too, and a gateway bills their calls).
 */
export async function runInterleaved(
  targets: Target[],
  options: { rounds: number; seconds: number; probeAmount: number },
): Promise<{ measured: LoadResult[]; probes: LoadResult[] }> {
  const probes: LoadResult[] = [];
  for (const target of targets) probes.push(await runLoad(target, 1, options.probeAmount));
  const blocks = probes.map((probe) => Math.max(50, Math.round((probe.requestsPerSecond * options.seconds) / options.rounds)));
  const latencies = targets.map((): number[] => []);
  const totals = targets.map(() => ({ amount: 0, seconds: 0, ok: 0, failed: 0 }));
  for (let round = 0; round < options.rounds; round += 1) {
    for (let step = 0; step < targets.length; step += 1) {
      const index = (round + step) % targets.length;
      const run = await load(targets[index]!, 1, blocks[index]!);
      latencies[index]!.push(...run.latencies);
      const total = totals[index]!;
      total.amount += run.result.amount;
      total.seconds += run.result.seconds;
      total.ok += run.result.ok;
      total.failed += run.result.failed;
    }
  }
  const measured = totals.map((total, index): LoadResult => {
    const sorted = latencies[index]!.sort((left, right) => left - right);
    return {
      connections: 1,
      ...total,
      requestsPerSecond: total.ok / total.seconds,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    };
  });
  return { measured, probes };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * About `seconds` of load at `connections`: a calibration run of `probeAmount` requests (which also warms
 * the path up) gives the rate, and the measured run sends rate × seconds requests (at least `probeAmount`).
 */
export async function runTimedByCount(
  target: Target,
  connections: number,
  seconds: number,
  probeAmount: number,
): Promise<LoadResult[]> {
  const probe = await runLoad(target, connections, probeAmount);
  return [probe, await runLoad(target, connections, measuredAmount(probe, seconds))];
}

/** The requests a measured run sends to last about `seconds` at the rate its calibration run `probe` saw. */
export function measuredAmount(probe: LoadResult, seconds: number): number {
  return Math.max(probe.amount, Math.round(probe.requestsPerSecond * seconds));
}
