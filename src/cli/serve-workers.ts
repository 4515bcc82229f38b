import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { RateLimiter } from '../gateway/rate-limits.js';
import { isRateMessage, PrimaryRateLimits, WorkerRateLimiter, type RateReply, type RateRequest } from '../gateway/shared-rate-limits.js';
import type { Gateway, Prepared } from '../main.js';

/**
 * `tollgate serve --workers N`: a primary process and N worker processes sharing the port (node:cluster; the
 * primary hands each new connection to the next worker in turn).
 *
 * - The primary migrates the database, seeds an empty catalog and makes a first start's credentials once,
 *   then forks; it serves no call itself. It prints the banner once every worker listens.
 * - Each worker is a gateway instance of its own (its heartbeat and fencing, its capture journal file named
 *   by its instance id and pid, its catalog snapshot and credit leases), exactly as separate `tollgate serve`
 *   processes on one PostgreSQL are. Worker 0 also runs the hold sweeper and the price sync schedule; its
 *   replacement takes both over.
 * - A worker that dies is forked again, at once the first time and then after a back-off that doubles up to
 *   30 s while replacements keep dying young; the replacement replays the dead worker's journal before it
 *   serves, so every call the dead one answered is captured.
 * - SIGTERM or SIGINT: every worker stops taking connections, finishes its calls in flight, writes every
 *   capture and closes its leases; then the primary exits.
 * - `/metrics` on any worker answers for all of them: the worker asks the primary, which gathers every
 *   worker's registry and sums them (prom-client's AggregatorRegistry).
 * - Rate limits without Redis are counted once, in the primary, for every worker (src/gateway/shared-rate-limits.ts),
 *   so N workers allow what one process would; with `REDIS_URL` the workers share Redis like separate instances.
 */

/** Worker → primary. */
type FromWorker = { type: 'tollgate:ready'; banner: BannerFacts } | { type: 'tollgate:metrics'; id: number } | RateRequest;
/** Primary → worker. */
type FromPrimary = { type: 'tollgate:metrics'; id: number; contentType?: string; body?: string; error?: string } | RateReply;

/** What a worker tells the primary for the banner. */
export interface BannerFacts {
  address: string;
  modelCount: number;
  providers: Gateway['providers'];
}

const WORKER_SLOT_VARIABLE = 'TOLLGATE_WORKER_SLOT';
/** Replacements that live at least this long reset the back-off. */
const STEADY_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;

export function isServeWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_SLOT_VARIABLE] !== undefined;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Replacements in a row that died within STEADY_MS. */
  quickDeaths: number;
  timer: NodeJS.Timeout | undefined;
}

export interface PrimaryOptions {
  config: Config;
  workers: number;
  logger: Logger;
  prepare(): Promise<Prepared>;
  /** Serves TOLLGATE_METRICS_ADDRESS with every worker's metrics; returns its URL. */
  startMetricsServer(
    render: () => Promise<{ contentType: string; body: string }>,
  ): Promise<{ url: string; close(): Promise<void> } | undefined>;
  printBanner(prepared: Prepared, facts: BannerFacts, extra: { metricsUrl: string | undefined; pids: number[] }): void;
}

/**
 * Runs the primary: prepares the database, forks the workers, prints the banner once all listen, restarts
 * the ones that die and drains them all on SIGTERM/SIGINT (then exits the process).
 * @throws Error when preparing fails or a worker exits before it listens (the others are stopped first)
 */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { logger } = options;
  const prepared = await options.prepare();
  const aggregator = new AggregatorRegistry();
  const render = async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() });
  const rateLimits = new PrimaryRateLimits();

  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({
    index,
    worker: undefined,
    startedAt: 0,
    quickDeaths: 0,
    timer: undefined,
  }));
  let stopping = false;
  let started = false;
  let startupFailed: ((error: Error) => void) | undefined;
  const firstBanner = new Map<number, BannerFacts>();
  let allReady: (() => void) | undefined;

  const fork = (slot: Slot) => {
    slot.timer = undefined;
    slot.startedAt = performance.now();
    const worker = cluster.fork({ [WORKER_SLOT_VARIABLE]: String(slot.index) });
    slot.worker = worker;
    worker.on('message', (message: FromWorker) => {
      if (isRateMessage(message)) {
        void rateLimits.handle(worker.id, message as RateRequest, (reply) => sendIfConnected(worker, reply));
      } else if (message?.type === 'tollgate:ready') {
        if (!started) {
          firstBanner.set(slot.index, message.banner);
          if (firstBanner.size === slots.length) allReady?.();
        } else logger.info({ worker: slot.index, pid: worker.process.pid }, 'worker restarted and listening');
      } else if (message?.type === 'tollgate:metrics') {
        render().then(
          (rendered) => sendIfConnected(worker, { type: 'tollgate:metrics', id: message.id, ...rendered }),
          (error: unknown) => sendIfConnected(worker, { type: 'tollgate:metrics', id: message.id, error: String(error) }),
        );
      }
    });
    worker.once('exit', (code, signal) => {
      if (slot.worker === worker) slot.worker = undefined;
      // Its calls in flight will never settle: give back their concurrency slots.
      void rateLimits.forget(worker.id);
      if (stopping) return;
      if (!started) {
        startupFailed?.(new Error(`worker ${slot.index} exited (${signal ?? `code ${code}`}) before it listened`));
        return;
      }
      if (performance.now() - slot.startedAt >= STEADY_MS) slot.quickDeaths = 0;
      const delayMs = slot.quickDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 250 * 2 ** (slot.quickDeaths - 1));
      slot.quickDeaths += 1;
      logger.warn(
        { worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delayMs },
        'worker exited; starting a replacement (it replays what the dead one left before serving)',
      );
      slot.timer = setTimeout(() => fork(slot), delayMs);
    });
  };

  const stopWorkers = async () => {
    stopping = true;
    const exits: Array<Promise<unknown>> = [];
    for (const slot of slots) {
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (!worker || worker.process.exitCode !== null || worker.process.signalCode !== null) continue;
      exits.push(once(worker, 'exit'));
      worker.process.kill('SIGTERM');
    }
    await Promise.all(exits);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      allReady = resolve;
      startupFailed = reject;
      for (const slot of slots) fork(slot);
    });
  } catch (error) {
    await stopWorkers();
    throw error;
  }
  started = true;
  const metricsServer = await options.startMetricsServer(render);
  options.printBanner(prepared, firstBanner.get(0)!, {
    metricsUrl: metricsServer?.url,
    pids: slots.map((slot) => slot.worker?.process.pid ?? 0),
  });

  const stop = (signal: string) => {
    if (stopping) return;
    process.stderr.write(`\n${signal}: ${slots.length} workers finishing in-flight calls and closing\n`);
    void stopWorkers()
      .then(() => metricsServer?.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

export interface WorkerOptions {
  config: Config;
  logger: Logger;
  start(options: {
    background: boolean;
    renderMetrics: () => Promise<{ contentType: string; body: string }>;
    /** The primary's shared rate limits, when there is no Redis to share them through. */
    rateLimiter: RateLimiter | undefined;
  }): Promise<Gateway>;
}

/**
 * Runs one worker: a gateway on the shared port, with the primary's preparation already done. Exits the
 * process when it cannot start (the primary reports it) and after draining on SIGTERM/SIGINT.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const slot = Number(process.env[WORKER_SLOT_VARIABLE]);
  // Answers the primary's requests for this process's metrics from the first moment (empty until the gateway is up).
  new AggregatorRegistry();
  const pending = new Map<number, { resolve(value: { contentType: string; body: string }): void; reject(error: Error): void }>();
  let nextId = 0;
  const rateLimiter = options.config.limits.redisUrl
    ? undefined
    : new WorkerRateLimiter((message) => process.send!(message satisfies FromWorker));
  process.on('message', (message: FromPrimary) => {
    if (rateLimiter?.receive(message)) return;
    if (message?.type !== 'tollgate:metrics') return;
    const request = pending.get(message.id);
    if (!request) return;
    pending.delete(message.id);
    if (message.error !== undefined || message.body === undefined)
      request.reject(new Error(`metrics of the workers: ${message.error}`));
    else request.resolve({ contentType: message.contentType ?? 'text/plain', body: message.body });
  });
  const renderMetrics = () =>
    new Promise<{ contentType: string; body: string }>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      process.send!({ type: 'tollgate:metrics', id } satisfies FromWorker);
    });

  let gateway: Gateway;
  try {
    gateway = await options.start({ background: slot === 0, renderMetrics, rateLimiter });
    AggregatorRegistry.setRegistries([gateway.metrics.registry]);
    const address = await gateway.app.listen({ host: options.config.http.host, port: options.config.http.port });
    const banner: BannerFacts = { address, modelCount: gateway.catalog.modelCount, providers: gateway.providers };
    process.send!({ type: 'tollgate:ready', banner } satisfies FromWorker);
  } catch (error) {
    process.stderr.write(`error: worker ${slot} could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void gateway
      .close()
      .catch((error: unknown) => options.logger.error({ err: error }, 'worker did not close cleanly'))
      .finally(() => process.exit(0));
  };
  // Ctrl-C reaches every process of the group, then the primary's SIGTERM follows: one drain.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A primary that dies closes the channel, and Node's cluster module then exits the worker at once (no drain):
  // as after a kill, the next start replays the worker's journal.
}

function sendIfConnected(worker: Worker, message: FromPrimary): void {
  if (worker.isConnected()) worker.send(message);
}
