import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';

export interface GatewayInstanceOptions {
  /**
   * How long an instance may be silent (no heartbeat, by the database's clock) before the others treat it as
   * dead: its holds and credit leases are released, its idempotency claims taken over.
   */
  silenceMs: number;
  logger?: Logger;
  /** Monotonic clock in milliseconds (tests control it). */
  now?: () => number;
}

/**
 * This gateway process as the others see it: a row in `gateway_instances` whose `heartbeat_at` it moves every
 * sixth of the silence time. Holds, credit leases and idempotency claims carry the instance's id, so a process
 * that dies (`kill -9`, a lost machine) gives its credits back within the silence time, not after a fixed age
 * (LiteLLM's users filed budget drift across restarts and replicas: litellm#6288, #27639).
 *
 * The other side of that promise: an instance whose heartbeats have not reached the database for long
 * enough that another instance may have declared it dead must stop spending what it holds. `fenced` says so
 * (a third of the silence time before the others may act, measured from when the last successful heartbeat was
 * sent, so a slow commit only makes it stricter); credit leases then take no new calls.
 */
export class GatewayInstance {
  readonly id = `inst_${randomUUID().replaceAll('-', '')}`;
  private lastBeatSentAt: number;
  /** Since when heartbeats have succeeded without a gap of a fence's length (for the sweeper's patience). */
  private steadySince: number;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private stopped = false;
  private readonly deathListeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly logger: Logger;

  private constructor(
    private readonly db: Kysely<Schema>,
    private readonly options: GatewayInstanceOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.logger = options.logger ?? silentLogger();
    this.lastBeatSentAt = this.now();
    this.steadySince = this.lastBeatSentAt;
  }

  /** Registers the instance and starts its heartbeat. @throws the database error (the gateway cannot start). */
  static async register(db: Kysely<Schema>, options: GatewayInstanceOptions): Promise<GatewayInstance> {
    const instance = new GatewayInstance(db, options);
    const sentAt = instance.now();
    await db.insertInto('gateway_instances').values({ id: instance.id, host: hostname(), pid: process.pid }).execute();
    instance.lastBeatSentAt = sentAt;
    instance.steadySince = sentAt;
    instance.timer = setInterval(() => void instance.beat(), instance.heartbeatMs);
    instance.timer.unref();
    return instance;
  }

  get heartbeatMs(): number {
    return Math.max(50, Math.floor(this.options.silenceMs / 6));
  }

  get silenceMs(): number {
    return this.options.silenceMs;
  }

  /** True when this instance must not spend what it holds: its heartbeat is too old to be sure it still owns it. */
  get fenced(): boolean {
    return this.now() - this.lastBeatSentAt > this.fenceMs;
  }

  /** How long heartbeats have succeeded without a fence-length gap (ms). */
  get steadyForMs(): number {
    return this.fenced ? 0 : this.now() - this.steadySince;
  }

  /** One heartbeat now (the timer's, or a test's). Failures are logged; the next beat tries again. */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => (this.beating = undefined));
    return this.beating;
  }

  /**
   * Called when a heartbeat finds this instance declared dead by another (after a long enough silence): its
   * holds and leases were released in the database, so what it keeps of them in memory must be dropped.
   */
  onDeclaredDead(listener: () => void): () => void {
    this.deathListeners.add(listener);
    return () => this.deathListeners.delete(listener);
  }

  /** Stops the heartbeat and marks the instance stopped, so its leftovers are released at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.beating?.catch(() => undefined);
    await this.db
      .updateTable('gateway_instances')
      .set({ stopped_at: sql<Date>`now()` })
      .where('id', '=', this.id)
      .execute()
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not mark this instance stopped; the others will find it silent'),
      );
  }

  private get fenceMs(): number {
    return this.options.silenceMs - 2 * this.heartbeatMs;
  }

  private async beatOnce(): Promise<void> {
    if (this.stopped) return;
    const sentAt = this.now();
    try {
      const result = await this.db
        .updateTable('gateway_instances')
        .set({ heartbeat_at: sql<Date>`now()` })
        .where('id', '=', this.id)
        .where('stopped_at', 'is', null)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) {
        // Another instance declared this one dead (or the row was removed): what it held is gone. Register
        // again so new holds have a living owner; the fence stays until the next beat proves the row lives.
        await this.db
          .insertInto('gateway_instances')
          .values({ id: this.id, host: hostname(), pid: process.pid })
          .onConflict((conflict) => conflict.column('id').doUpdateSet({ heartbeat_at: sql<Date>`now()`, stopped_at: null }))
          .execute();
        this.logger.error(
          { instance: this.id },
          'this instance was declared dead by another after a silence: its credit leases were released; registered again',
        );
        for (const listener of this.deathListeners) listener();
      }
      // After a fence-length gap (this instance was fenced when the beat was sent), steady starts again.
      if (sentAt - this.lastBeatSentAt > this.fenceMs) this.steadySince = sentAt;
      this.lastBeatSentAt = sentAt;
    } catch (error) {
      this.logger.warn({ err: error, instance: this.id }, 'heartbeat failed; will retry');
    }
  }
}
