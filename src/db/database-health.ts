import { silentLogger, type Logger } from '../logging/logger.js';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './database-errors.js';

/** One readiness check: whether it passes, and why not. */
export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface HealthOptions {
  /** First wait before probing an unreachable database again; doubles up to `probeMaxMs`. */
  probeMinMs?: number;
  probeMaxMs?: number;
  logger?: Logger;
}

type Listener = (reachable: boolean) => void;

/**
 * Whether the database can be reached, as the gateway has seen it. Any query that fails for want of a
 * connection marks it unreachable at once (so the next calls answer 503 without each waiting on a
 * connect); from then on one probe query at a time, with growing waits, finds out when it is back. Nothing
 * polls while the database answers: the queries the gateway makes anyway are the probe.
 *
 * The notification listener reports its own connection here too: an instance that cannot hear NOTIFY may
 * serve stale prices or a suspended account, so it is not ready either (`/readyz`).
 */
export class DatabaseHealth {
  private reachable = true;
  /** Why it was last found unreachable (read only while it is). */
  private reason = '';
  private downSince: number | undefined;
  private probing = false;
  private closed = false;
  private notifications: ReadinessCheck = { ok: true };
  private readonly listeners = new Set<Listener>();
  private readonly options: Required<Omit<HealthOptions, 'logger'>>;
  private readonly logger: Logger;
  private wakeProbe: (() => void) | undefined;

  constructor(
    private readonly probe: () => Promise<void>,
    options: HealthOptions = {},
  ) {
    this.options = { probeMinMs: options.probeMinMs ?? 100, probeMaxMs: options.probeMaxMs ?? 1_000 };
    this.logger = options.logger ?? silentLogger();
  }

  get isReachable(): boolean {
    return this.reachable;
  }

  /** Why the database is unreachable (undefined while it is reachable). */
  get unreachableReason(): string | undefined {
    return this.reachable ? undefined : this.reason;
  }

  /**
   * Looks at a failed query's error: a lost or refused connection marks the database unreachable. The gateway's
   * own refusal while it is known to be (a `DatabaseUnavailableError`) leaves the reason the database gave.
   */
  observe(error: unknown): void {
    if (error instanceof DatabaseUnavailableError && !this.reachable) return;
    if (isDatabaseUnavailable(error)) this.markUnreachable(describe(error));
  }

  markUnreachable(reason: string): void {
    if (this.closed) return;
    this.reason = reason;
    if (!this.reachable) return;
    this.reachable = false;
    this.downSince = Date.now();
    this.logger.warn({ reason }, 'database unreachable: calls that need it answer 503 until it is back');
    this.emit(false);
    void this.probeUntilBack();
  }

  /** The notification listener's connection state (PostgreSQL LISTEN). */
  setNotifications(check: ReadinessCheck): void {
    this.notifications = check;
  }

  /** Called with `true` when the database is back after an outage, `false` when it is lost. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  checks(): Record<string, ReadinessCheck> {
    return {
      database: this.reachable ? { ok: true } : { ok: false, detail: `unreachable: ${this.reason}` },
      notifications: this.notifications,
    };
  }

  close(): void {
    this.closed = true;
    this.wakeProbe?.();
  }

  private async probeUntilBack(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      for (let attempt = 0; !this.closed && !this.reachable; attempt += 1) {
        await this.sleep(Math.min(this.options.probeMaxMs, this.options.probeMinMs * 2 ** attempt));
        if (this.closed) return;
        try {
          await this.probe();
        } catch (error) {
          this.reason = describe(error);
          continue;
        }
        const downMs = Date.now() - (this.downSince ?? Date.now());
        this.reachable = true;
        this.logger.info({ downMs }, 'database reachable again');
        this.emit(true);
      }
    } finally {
      this.probing = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeProbe = done;
    });
  }

  private emit(reachable: boolean): void {
    for (const listener of this.listeners) {
      try {
        listener(reachable);
      } catch (error) {
        this.logger.error({ err: error }, 'a database health listener failed');
      }
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return (error as { code?: string }).code ? `${(error as { code?: string }).code}: ${error.message}` : error.message;
  return String(error);
}
