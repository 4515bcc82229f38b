import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DatabaseUnavailableError } from '../db/database-errors.js';
import type { Db } from '../db/database.js';
import { captureBatch, type CaptureResult } from '../ledger/capture-batch.js';
import { captureFromRecord } from '../ledger/capture-writer.js';
import { HoldNotFoundError } from '../ledger/errors.js';
import type { CaptureOutcome } from '../ledger/settlement.js';
import type { Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { settledWithin } from '../util/settled-within.js';
import { writeSerializedUsageRecords, type SerializedUsageRecord } from './usage-writer.js';

/**
 * The two writes a billed call leaves behind, its capture (to the ledger, as its journal line) and its usage
 * record (with its rollups), in batches on a thread of their own, with its own PostgreSQL connections
 * (`tollgate serve` on PostgreSQL). Building a batch's statements, encoding its parameters, reading its rows and working out
 * its captures' amounts is a few milliseconds of JavaScript per batch, and the queued batches' objects
 * are what the calls' young-generation collections had to copy: on the thread that serves the calls, both
 * were the slowest calls' extra milliseconds (README, "What the latency tail is made of"). The queues and
 * their retries stay with their writers (CaptureWriter, UsageRecorder); only each batch's execution
 * crosses over, as one message each way.
 *
 * A thread that dies (it should not: every error of a batch is answered as that batch's error) fails the
 * batches it had as "database unavailable", which their writers retry; the next batch starts a new
 * thread. A retried batch that had committed replays: one capture per request id, one record per request.
 */
export class WriteThread {
  private worker: Worker | undefined;
  /** The current thread has loaded and runs batches. */
  private ready = false;
  /** A thread could not even start (its module failed to load): batches run in this thread from then on. */
  private fallback = false;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(reply: FromThread): void; reject(error: Error): void }>();
  private closed = false;

  constructor(
    private readonly url: string,
    /** The serving thread's own handle on the same database, for the fallback. */
    private readonly db: Db,
    private readonly logger: Logger,
    /** `connections`: the thread's own (default 2: a capture batch and a usage batch at once). `entry`: its module. */
    private readonly options: { connections?: number; entry?: URL } = {},
  ) {}

  async captures(records: string[]): Promise<CaptureResult[]> {
    if (this.fallback) return captureBatch(this.db, records.map(captureFromRecord));
    const reply = await this.ask({ op: 'captures', records });
    if (!('results' in reply)) throw new Error('the write thread answered a capture batch without results');
    return reply.results.map(resultFromWire);
  }

  async usageRecords(records: SerializedUsageRecord[]): Promise<number> {
    if (this.fallback) return writeSerializedUsageRecords(this.db, records);
    const reply = await this.ask({ op: 'usage', records });
    if (!('recorded' in reply)) throw new Error('the write thread answered a usage batch without a count');
    return reply.recorded;
  }

  /** Stops the thread once its batches are answered (their writers close first); at most `timeoutMs`, then it is terminated. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = once(worker, 'exit');
    worker.postMessage({ id: -1, op: 'close' } satisfies ToThread);
    if (!(await settledWithin(exited, timeoutMs))) await worker.terminate();
  }

  private ask(message: DistributiveOmit<ToThread, 'id'>): Promise<FromThread> {
    if (this.closed) return Promise.reject(new DatabaseUnavailableError('the write thread is closed'));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<FromThread>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id } as ToThread);
    }).then((reply) => {
      if ('error' in reply) throw errorFromWire(reply.error);
      return reply;
    });
  }

  private start(): Worker {
    const workerData = { url: this.url, connections: this.options.connections ?? 2 } satisfies ThreadData;
    const entry = this.options.entry ?? new URL('./write-thread-worker.js', import.meta.url);
    const worker = import.meta.url.endsWith('.ts')
      ? // From the sources (tests), the thread compiles TypeScript as the process does (tsx, registered in it).
        new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href.replace(/\.js$/, '.ts'))}); })`,
          { eval: true, workerData },
        )
      : new Worker(entry, { workerData });
    this.worker = worker;
    this.ready = false;
    worker.on('message', (message: FromThread | { ready: true }) => {
      if ('ready' in message) {
        this.ready = true;
        return;
      }
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      waiting?.resolve(message);
    });
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`it exited with code ${code}`)));
    return worker;
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.closed && this.pending.size === 0) return;
    if (this.closed) {
      // Its writers gave up waiting for the database at shutdown: what these batches held stays in the journal.
      this.logger.warn(
        { batches: this.pending.size },
        'the write thread closed with batches in flight; the capture journal keeps them',
      );
    } else if (!this.ready) {
      // It never ran a batch: another would fail alike. This thread writes them instead (as with TOLLGATE_WRITE_THREAD=off).
      this.fallback = true;
      this.logger.error(
        { err: error },
        'the write thread could not start; captures and usage records are written by the serving thread',
      );
    } else {
      this.logger.error(
        { err: error, batches: this.pending.size },
        'the write thread stopped; its batches are retried on a new one',
      );
    }
    const reason = new DatabaseUnavailableError(`the write thread stopped (${error.message})`);
    for (const waiting of this.pending.values()) waiting.reject(reason);
    this.pending.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What the thread starts with. */
export interface ThreadData {
  url: string;
  connections: number;
}

/** Main → thread. */
export type ToThread =
  | { id: number; op: 'captures'; records: string[] }
  | { id: number; op: 'usage'; records: SerializedUsageRecord[] }
  | { id: number; op: 'close' };

/** Thread → main: a batch's answer, by its id. */
export type FromThread =
  { id: number; results: WireResult[] } | { id: number; recorded: number } | { id: number; error: WireError };

/** A capture's outcome as it crosses over: a Decimal does not survive a structured clone, its text does. */
export type WireResult =
  | { value: { [Key in keyof CaptureOutcome]: CaptureOutcome[Key] extends Decimal ? string : CaptureOutcome[Key] } }
  | { error: WireError };

/** An error as it crosses over: what the writers look at (`code`, the message) and what the logs show. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** HoldNotFoundError's request id. */
  holdId?: string;
}

export function resultToWire(result: CaptureResult): WireResult {
  if ('error' in result) return { error: errorToWire(result.error) };
  const outcome = result.value;
  return {
    value: {
      captured: outcome.captured.toString(),
      released: outcome.released.toString(),
      overdraft: outcome.overdraft.toString(),
      shortfall: outcome.shortfall.toString(),
      balance: outcome.balance.toString(),
      available: outcome.available.toString(),
      replayed: outcome.replayed,
    },
  };
}

function resultFromWire(result: WireResult): CaptureResult {
  if ('error' in result) return { error: errorFromWire(result.error) };
  const wire = result.value;
  return {
    value: {
      captured: Decimal.parse(wire.captured),
      released: Decimal.parse(wire.released),
      overdraft: Decimal.parse(wire.overdraft),
      shortfall: Decimal.parse(wire.shortfall),
      balance: Decimal.parse(wire.balance),
      available: Decimal.parse(wire.available),
      replayed: wire.replayed,
    },
  };
}

export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(error.stack ? { stack: error.stack } : {}),
    ...(error instanceof HoldNotFoundError ? { holdId: error.requestId } : {}),
  };
}

function errorFromWire(wire: WireError): Error {
  if (wire.holdId !== undefined) return new HoldNotFoundError(wire.holdId);
  const error = Object.assign(new Error(wire.message), wire.code !== undefined ? { code: wire.code } : {});
  error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  return error;
}
