import { coverage } from '../catalog/catalog-store.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logging/logger.js';

export type AlertKind =
  'missing_price' | 'held_back_change' | 'sync_failed' | 'usage_anomaly' | 'budget_threshold' | 'low_balance';

/** An alert as GET /admin/alerts lists it and the webhook receives it. */
export interface Alert {
  id: number;
  kind: string;
  message: string;
  details: unknown;
  createdAt: string;
  deliveredAt: string | null;
}

export interface AlertServiceOptions {
  database: Database;
  logger: Logger;
  webhookUrl: string | undefined;
  /** Waits before each retry of a failed delivery; one attempt more than there are delays. */
  retryDelaysMs?: number[];
  /** Bound on one delivery attempt. */
  attemptTimeoutMs?: number;
}

const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000];
const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;

/**
 * Alerts for the operator: logged, stored in `alerts`, and POSTed to the webhook in the background.
 * Delivery never blocks the caller (a sync, a request): `raise` returns once the row is stored, and a
 * failing webhook is retried with growing waits, then given up with a log line (the row keeps
 * `delivered_at` null, so the list shows what never arrived).
 */
export class AlertService {
  private readonly pending = new Set<Promise<void>>();
  /** Retry waits under way, each with the function that ends it early. */
  private readonly waits = new Map<NodeJS.Timeout, (proceed: boolean) => void>();
  private stopped = false;

  constructor(private readonly options: AlertServiceOptions) {}

  /** Stores and logs an alert, and starts its delivery. @throws the database error when it cannot be stored. */
  async raise(kind: AlertKind, message: string, details: unknown): Promise<Alert> {
    this.options.logger.warn({ alert: kind, details }, message);
    const row = await this.options.database.db
      .insertInto('alerts')
      .values({ kind, message, details: JSON.stringify(details ?? null) })
      .returningAll()
      .executeTakeFirstOrThrow();
    const alert = toAlert(row);
    if (this.options.webhookUrl && !this.stopped) {
      const delivery = this.deliver(alert, this.options.webhookUrl).finally(() => this.pending.delete(delivery));
      this.pending.add(delivery);
    }
    return alert;
  }

  /** Raises one `missing_price` alert listing the active models without a current price, if there are any. */
  async raiseMissingPrices(): Promise<Alert | undefined> {
    const report = await coverage(this.options.database.db);
    if (report.unpriced.length === 0) return undefined;
    return this.raise('missing_price', `${report.unpriced.length} active models have no price (coverage ${report.percent}%)`, {
      coverage: report.percent,
      active: report.active,
      priced: report.priced,
      unpriced: report.unpriced,
    });
  }

  /** The newest alerts first. */
  async list(options: { limit?: number; kind?: string } = {}): Promise<Alert[]> {
    let query = this.options.database.db.selectFrom('alerts').selectAll();
    if (options.kind) query = query.where('kind', '=', options.kind);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(options.limit ?? 100)
      .execute();
    return rows.map(toAlert);
  }

  /** Resolves when every delivery under way has succeeded or given up. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Cancels the retries still waiting; deliveries in flight finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [timer, finish] of this.waits) {
      clearTimeout(timer);
      finish(false);
    }
    this.waits.clear();
    await this.idle();
  }

  private async deliver(alert: Alert, url: string): Promise<void> {
    const delays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0 && !(await this.wait(delays[attempt - 1]!))) return;
      const failure = await this.attempt(alert, url);
      if (failure === undefined) {
        await this.options.database.db
          .updateTable('alerts')
          .set({ delivered_at: new Date() })
          .where('id', '=', alert.id)
          .execute()
          .catch((error: unknown) =>
            this.options.logger.error({ err: error, alert: alert.id }, 'alert delivered, but marking it delivered failed'),
          );
        return;
      }
      this.options.logger.warn({ alert: alert.id, attempt: attempt + 1, failure }, 'alert webhook delivery failed');
    }
    this.options.logger.error({ alert: alert.id, attempts: delays.length + 1 }, 'alert webhook delivery given up');
  }

  /** One POST; the failure's description, or undefined on a 2xx answer. */
  private async attempt(alert: Alert, url: string): Promise<string | undefined> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(this.options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  /** Waits `ms` unless stopped first; false when stopped. */
  private wait(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waits.delete(timer);
        resolve(!this.stopped);
      }, ms);
      timer.unref();
      this.waits.set(timer, resolve);
    });
  }
}

function toAlert(row: {
  id: number;
  kind: string;
  message: string;
  details: unknown;
  created_at: Date;
  delivered_at: Date | null;
}): Alert {
  return {
    id: row.id,
    kind: row.kind,
    message: row.message,
    details: row.details,
    createdAt: new Date(row.created_at).toISOString(),
    deliveredAt: row.delivered_at ? new Date(row.delivered_at).toISOString() : null,
  };
}
