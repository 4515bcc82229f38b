/** One input's result from a shared run: its value, or its own error. */
export type Settled<T> = { value: T } | { error: unknown };

interface Pending<Input, Output> {
  input: Input;
  resolve(value: Output): void;
  reject(error: unknown): void;
}

/**
 * Group commit: inputs submitted while a run is in flight go together into the next run (one transaction,
 * one WAL flush, for many), one run at a time, in submission order. With no `lingerMs`, an input arriving
 * when nothing is in flight runs at once, so an idle caller pays no extra latency; with it, the queue waits
 * that long for company first (for writes nobody waits on, where fewer, larger transactions are the point).
 */
export class GroupCommitQueue<Input, Output> {
  private queue: Array<Pending<Input, Output>> = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly run: (inputs: Input[]) => Promise<Array<Settled<Output>>>,
    private readonly options: { maxBatch: number; lingerMs?: number },
  ) {}

  /** Queues `input`; `urgent` skips the linger (someone is waiting for this one). */
  submit(input: Input, options: { urgent?: boolean } = {}): Promise<Output> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (this.running) return;
      const linger = this.options.lingerMs ?? 0;
      if (linger === 0 || options.urgent || this.queue.length >= this.options.maxBatch) {
        this.start();
      } else {
        this.timer ??= setTimeout(() => this.start(), linger);
      }
    });
  }

  /** Resolves when everything submitted so far has run (lingering inputs are run now). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    if (!this.running) this.start();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        let results: Array<Settled<Output>>;
        try {
          results = await this.run(batch.map((pending) => pending.input));
        } catch (error) {
          results = batch.map(() => ({ error }));
        }
        batch.forEach((pending, index) => {
          const result = results[index] ?? { error: new Error('the batch returned no result for this input') };
          if ('value' in result) pending.resolve(result.value);
          else pending.reject(result.error);
        });
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
