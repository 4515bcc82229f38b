import pg from 'pg';
import { silentLogger, type Logger } from '../logging/logger.js';

/** What a subscriber hears: each notification, and a gap when notifications may have been missed. */
export interface Subscriber {
  onMessage(payload: string): void;
  /**
   * The connection was lost and is back: anything sent meanwhile was not heard, so whatever the channel
   * keeps in step (a price snapshot, cached accounts) must be refreshed.
   */
  onGap?(): void;
}

export interface ListenerOptions {
  /** First wait before reconnecting; doubles (with jitter) up to `reconnectMaxMs`. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  logger?: Logger;
  /** Told whenever the connection comes or goes (for readiness). */
  onState?(connected: boolean, detail?: string): void;
}

/**
 * PostgreSQL LISTEN on one dedicated connection for every channel, that survives the connection: a
 * restarted server, `pg_terminate_backend`, a network cut. A lost connection is reopened with growing waits
 * (100 ms doubling to 1 s, with jitter so a fleet does not reconnect in step), every channel is listened to
 * again, and each subscriber is told of the gap, since NOTIFY is not queued for a session that was not there.
 * Without this an instance kept its old prices until the TTL and served an account another instance had
 * suspended.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private readonly channels = new Map<string, Set<Subscriber>>();
  private closed = false;
  private reconnecting = false;
  private connecting: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly options: Required<Omit<ListenerOptions, 'logger' | 'onState'>>;
  private readonly logger: Logger;

  constructor(
    private readonly url: string,
    private readonly listenerOptions: ListenerOptions = {},
  ) {
    this.options = {
      reconnectMinMs: listenerOptions.reconnectMinMs ?? 100,
      reconnectMaxMs: listenerOptions.reconnectMaxMs ?? 1_000,
    };
    this.logger = listenerOptions.logger ?? silentLogger();
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /**
   * Subscribes to `channel`; the first subscription opens the connection (its failure is thrown: an
   * instance must hear its channels from the start). Returns the unsubscribe function.
   */
  async subscribe(channel: string, subscriber: Subscriber): Promise<() => Promise<void>> {
    const identifier = quoteIdentifier(channel);
    let subscribers = this.channels.get(channel);
    const first = !subscribers;
    if (!subscribers) this.channels.set(channel, (subscribers = new Set()));
    subscribers.add(subscriber);
    try {
      if (!this.client && !this.reconnecting) {
        this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
        await this.connecting;
      }
      // LISTEN twice is a no-op, so a channel the connect just listened to costs one round trip more, once.
      if (first && this.client) await this.client.query(`listen ${identifier}`);
    } catch (error) {
      subscribers.delete(subscriber);
      if (subscribers.size === 0) this.channels.delete(channel);
      throw error;
    }
    return async () => {
      subscribers.delete(subscriber);
      if (subscribers.size > 0 || this.channels.get(channel) !== subscribers) return;
      this.channels.delete(channel);
      await this.client?.query(`unlisten ${identifier}`).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Opens the connection and listens to every channel. @throws the connection's error. */
  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, connectionTimeoutMillis: 5_000 });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      const detail = error?.message ?? 'connection ended';
      this.logger.warn({ err: error }, 'lost the notification connection; reconnecting');
      this.listenerOptions.onState?.(false, detail);
      void this.reconnect();
    };
    // A connection error with no listener would crash the process (an 'error' event nobody handles).
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      for (const subscriber of this.channels.get(message.channel) ?? []) {
        try {
          subscriber.onMessage(message.payload ?? '');
        } catch (error) {
          this.logger.error({ err: error, channel: message.channel }, 'a notification handler failed');
        }
      }
    });
    try {
      await client.connect();
      for (const channel of this.channels.keys()) await client.query(`listen ${quoteIdentifier(channel)}`);
    } catch (error) {
      lost = true;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.listenerOptions.onState?.(true);
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; !this.closed; attempt += 1) {
        const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** attempt);
        await this.sleep(ceiling / 2 + Math.random() * (ceiling / 2));
        if (this.closed) return;
        try {
          await this.connect();
        } catch (error) {
          this.listenerOptions.onState?.(false, error instanceof Error ? error.message : String(error));
          continue;
        }
        this.logger.info(
          { attempts: attempt + 1 },
          'notification connection restored; refreshing what notifications keep in step',
        );
        for (const subscribers of this.channels.values()) {
          for (const subscriber of subscribers) {
            try {
              subscriber.onGap?.();
            } catch (error) {
              this.logger.error({ err: error }, 'a notification gap handler failed');
            }
          }
        }
        return;
      }
    } finally {
      this.reconnecting = false;
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
      this.wake = done;
    });
  }
}

/** LISTEN takes an identifier, not a bound parameter: channel names are checked to be plain identifiers. */
export function quoteIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid channel name ${JSON.stringify(name)}`);
  return `"${name}"`;
}
