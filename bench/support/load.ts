import autocannon from 'autocannon';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

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

/**
 * Latency at concurrency 1 of several targets measured together: after a calibration block of `probeAmount`
 * calls each (which also warms it up), `rounds` rounds in which every target gets a block of sequential calls
 * (about `seconds / rounds` of them at its calibrated rate), the order rotating from round to round. A target
 * measured minutes after another meets a different machine (other work, the host); interleaved, a burst of
 * other work weighs on every target alike. Each target keeps one kept-alive connection for all its blocks, as
 * a client making sequential calls does (a new connection per block would also land on another worker of a
 * gateway with several). Latency is from sending the request to reading the last byte of the answer. Each
 * target's percentiles are taken over all its blocks; its `seconds` is the sum of its blocks' and `amount` the
 * calls counted. The calibration blocks are returned apart (their failures count too, and a gateway bills them).
 */
export async function runInterleaved(
  targets: Target[],
  options: {
    rounds: number;
    seconds: number;
    probeAmount: number;
    /**
     * A pause after every block, so that the next block does not pay for the work the previous target does after
     * its answers (a gateway's batched writes, its collections): each target's figures are its own.
     */
    settleMs?: number;
  },
): Promise<{ measured: LoadResult[]; probes: LoadResult[] }> {
  const connections = await Promise.all(targets.map((target) => SequentialConnection.open(target)));
  try {
    const block = async (index: number, amount: number) => {
      // A connection the server would close for idleness (its Keep-Alive timeout) is replaced first, as an HTTP client does.
      const connection = (connections[index] = await connections[index]!.ready());
      const latencies: number[] = [];
      let failed = 0;
      const started = performance.now();
      for (let call = 0; call < amount; call += 1) {
        const sent = performance.now();
        const status = await connection.call();
        if (status >= 200 && status < 300) latencies.push(performance.now() - sent);
        else failed += 1;
      }
      const seconds = (performance.now() - started) / 1000;
      if (options.settleMs) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
      return { latencies, failed, amount, seconds };
    };
    const result = (runs: Array<Awaited<ReturnType<typeof block>>>): LoadResult => {
      const sorted = runs.flatMap((run) => run.latencies).sort((left, right) => left - right);
      const seconds = runs.reduce((total, run) => total + run.seconds, 0);
      return {
        connections: 1,
        amount: runs.reduce((total, run) => total + run.amount, 0),
        seconds,
        ok: sorted.length,
        failed: runs.reduce((total, run) => total + run.failed, 0),
        requestsPerSecond: sorted.length / seconds,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
      };
    };
    const probes: LoadResult[] = [];
    for (const index of targets.keys()) probes.push(result([await block(index, options.probeAmount)]));
    const sizes = probes.map((probe) => Math.max(50, Math.round((probe.requestsPerSecond * options.seconds) / options.rounds)));
    const runs = targets.map((): Array<Awaited<ReturnType<typeof block>>> => []);
    for (let round = 0; round < options.rounds; round += 1) {
      for (let step = 0; step < targets.length; step += 1) {
        const index = (round + step) % targets.length;
        runs[index]!.push(await block(index, sizes[index]!));
      }
    }
    return { measured: runs.map(result), probes };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/**
 * One kept-alive HTTP/1.1 connection that sends the target's request and reads its whole answer, one call at a
 * time: as little client work per call as autocannon's (which opens new connections for every run). Reads
 * answers framed by Content-Length or chunked; a connection the server closes counts its call as failed (0).
 */
export class SequentialConnection {
  private waiting: ((status: number) => void) | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  /** When the last answer was read, and the idle time the server said it keeps the connection (`Keep-Alive: timeout=N`). */
  private answeredAt = performance.now();
  private keepAliveMs: number | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly request: Buffer,
    private readonly target: Target,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.complete();
    });
    const fail = () => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(0);
    };
    socket.on('close', fail);
    socket.on('error', fail);
  }

  static async open(target: Target): Promise<SequentialConnection> {
    const url = new URL(target.url);
    const body = Buffer.from(target.body);
    const headers = {
      host: url.host,
      'content-type': 'application/json',
      ...target.headers,
      'content-length': String(body.length),
    };
    const head = `POST ${url.pathname}${url.search} HTTP/1.1\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`;
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    return new SequentialConnection(socket, Buffer.concat([Buffer.from(head), body]), target);
  }

  /**
   * This connection, or a new one to the same target when this one is closed or has been idle for as long as
   * the server keeps an idle connection less a second (undici's margin): a client sending on a connection the
   * server is closing loses that call.
   */
  async ready(): Promise<SequentialConnection> {
    const idle = performance.now() - this.answeredAt;
    if (!this.socket.destroyed && (this.keepAliveMs === undefined || idle < this.keepAliveMs - 1_000)) return this;
    this.close();
    return SequentialConnection.open(this.target);
  }

  /** Sends the request; resolves with the answer's status once all of it is read (0 if the connection ends). */
  call(): Promise<number> {
    if (this.socket.destroyed) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(this.request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private complete(): void {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let total: number;
    if (length) {
      total = end + 4 + Number(length[1]);
      if (this.buffer.length < total) return;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = this.buffer.indexOf('\r\n0\r\n\r\n', end);
      if (last < 0) return;
      total = last + 7;
    } else return;
    this.buffer = this.buffer.subarray(total);
    const keepAlive = /\r\nkeep-alive: *timeout=(\d+)/i.exec(head);
    this.keepAliveMs = keepAlive ? Number(keepAlive[1]) * 1_000 : undefined;
    this.answeredAt = performance.now();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting(status);
  }
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
