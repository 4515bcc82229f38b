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
export function runLoad(target: Target, connections: number, amount: number): Promise<LoadResult> {
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
        latencies.sort((left, right) => left - right);
        resolve({
          connections,
          amount,
          seconds,
          ok: result['2xx'],
          failed: result.non2xx + result.errors + result.timeouts,
          requestsPerSecond: result['2xx'] / seconds,
          p50: percentile(latencies, 0.5),
          p99: percentile(latencies, 0.99),
        });
      },
    );
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      lastAnswer = performance.now();
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
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
