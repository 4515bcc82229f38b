import { channel } from 'node:diagnostics_channel';

/**
 * Every batch a named queue runs, published once it has finished, to whoever subscribes (`npm run bench:tail`
 * lines its slowest calls up with them): a `BatchEvent`. Nothing is built when nobody listens.
 */
export const batchChannel = channel('tollgate:batch');

/** A finished batch: its queue's name, its inputs, and when it ran (`performance.now()` of the thread that ran it). */
export interface BatchEvent {
  name: string;
  size: number;
  startedAt: number;
  endedAt: number;
}

/** One input's result from a shared run: its value, or its own error. */
export type Settled<T> = { value: T } | { error: unknown };

interface Pending<Input, Output> {
  input: Input;
  /** When it was queued (`now()`), for the linger. */
  queuedAt: number;
  urgent: boolean;
  resolve(value: Output): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions {
  maxBatch: number;
  /**
   * How long an input may wait for company before its batch runs. Counted from the oldest queued input, and
   * between one batch and the next too: without it, a batch that takes as long as the gap between two
   * calls would run batches of one back to back under a steady trickle, one transaction per call.
   */
  lingerMs?: number;
  /** The clock of the linger (tests pass a controlled one; timers still run on Node's). */
  now?: () => number;
  /** Names the queue's batches on `batchChannel`; an unnamed queue publishes none. */
  name?: string;
}

/**
 * Group commit: inputs submitted while a run is in flight go together into the next run (one transaction,
 * one WAL flush, for many), one run at a time, in submission order. With no `lingerMs`, an input arriving
 * when nothing is in flight runs at once, so an idle caller pays no extra latency; with it, a batch starts
 * once its oldest input has waited that long, once it is full, or once someone waits for it (`urgent`,
 * `idle()`): for writes nobody waits on, where fewer, larger transactions are the point.
 */
export class GroupCommitQueue<Input, Output> {
  private queue: Array<Pending<Input, Output>> = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(
    private readonly run: (inputs: Input[]) => Promise<Array<Settled<Output>>>,
    private readonly options: GroupCommitOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Queues `input`; `urgent` skips the linger (someone is waiting for this one). */
  submit(input: Input, options: { urgent?: boolean } = {}): Promise<Output> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, queuedAt: this.now(), urgent: options.urgent === true, resolve, reject });
      if (this.running) return;
      if (this.mayLinger()) this.timer ??= setTimeout(() => this.start(), this.options.lingerMs);
      else this.start();
    });
  }

  /** Resolves when everything submitted so far has run (lingering inputs are run now). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (!this.running) this.start();
    return idle;
  }

  /** True when the queued inputs may wait longer: a linger is set, nobody waits, the batch is not full. */
  private mayLinger(): boolean {
    const linger = this.options.lingerMs ?? 0;
    if (linger <= 0 || this.idleWaiters.length > 0 || this.queue.length >= this.options.maxBatch) return false;
    if (this.queue.some((pending) => pending.urgent)) return false;
    return this.now() - this.queue[0]!.queuedAt < linger;
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      // The first batch runs: whatever started the drain (the linger's end, a full batch, a waiter) decided so.
      for (let first = true; this.queue.length > 0; first = false) {
        if (!first && this.mayLinger()) {
          const waited = this.now() - this.queue[0]!.queuedAt;
          this.timer = setTimeout(() => this.start(), Math.max(0, (this.options.lingerMs ?? 0) - waited));
          return;
        }
        const batch = this.queue.splice(0, this.options.maxBatch);
        const startedAt = performance.now();
        let results: Array<Settled<Output>>;
        try {
          results = await this.run(batch.map((pending) => pending.input));
        } catch (error) {
          results = batch.map(() => ({ error }));
        }
        const { name } = this.options;
        if (name !== undefined && batchChannel.hasSubscribers)
          batchChannel.publish({ name, size: batch.length, startedAt, endedAt: performance.now() } satisfies BatchEvent);
        batch.forEach((pending, index) => {
          const result = results[index] ?? { error: new Error('the batch returned no result for this input') };
          if ('value' in result) pending.resolve(result.value);
          else pending.reject(result.error);
        });
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
