import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { until, WAIT_LIMIT_MS } from './wait.js';
import { keepConnectionsOpen } from './loopback.js';

const FIXTURES = new URL('../../fixtures/sync/', import.meta.url);

/**
 * A loopback HTTP server playing a provider's price feed: `/<file>` serves `fixtures/sync/<file>`,
 * `/hang` sends its headers and the start of a body and then stalls (a feed that never finishes until the test
 * calls `endHanging()`; it gives up by itself after `hangMs`, a guard so a test can never hang on it),
 * `/status/<code>` answers with that status.
 */
export interface FeedServer {
  url(path: string): string;
  /** Paths requested so far, in order. */
  readonly requests: string[];
  /** How many `/hang` responses are under way. */
  readonly hangingCount: number;
  /** Drops the connections of the `/hang` responses under way (the feed fails mid-body). */
  endHanging(): void;
  close(): Promise<void>;
}

export async function startFeedServer(options: { hangMs?: number } = {}): Promise<FeedServer> {
  const hangMs = options.hangMs ?? 120_000;
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push(path);
    if (path === '/hang') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"data": [');
      hanging.add(response);
      const timer = setTimeout(() => response.destroy(), hangMs);
      timer.unref();
      response.on('close', () => {
        clearTimeout(timer);
        hanging.delete(response);
      });
      return;
    }
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      response.writeHead(Number(status[1]), { 'content-type': 'application/json' });
      response.end('{"error": "test status"}');
      return;
    }
    const name = path.slice(1);
    if (!/^[a-z0-9-]+\.json$/.test(name)) {
      response.writeHead(404).end();
      return;
    }
    try {
      const body = readFileSync(new URL(name, FIXTURES));
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.byteLength });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  const base = await listen(keepConnectionsOpen(server));
  return {
    url: (path) => `${base}/${path.replace(/^\//, '')}`,
    requests,
    get hangingCount() {
      return hanging.size;
    },
    endHanging() {
      for (const response of hanging) response.destroy();
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An alert webhook on loopback: records every JSON body it receives; the first `failFirst` calls answer 503.
 * With `holdAnswers`, no call is answered until `answer()` (what a slow receiver looks like to the sender).
 */
export interface WebhookReceiver {
  url: string;
  /** Bodies received, including the ones answered with 503. */
  readonly received: unknown[];
  /** Resolves once `count` bodies have arrived; rejects after `timeoutMs` (a guard against a hang). */
  waitFor(count: number, timeoutMs?: number): Promise<unknown[]>;
  /** Answers the held calls, and every later one at once. */
  answer(): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  options: { failFirst?: number; holdAnswers?: boolean } = {},
): Promise<WebhookReceiver> {
  const received: unknown[] = [];
  let failuresLeft = options.failFirst ?? 0;
  let holding = options.holdAnswers ?? false;
  const held: Array<() => void> = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      const reply = () => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          response.writeHead(503).end();
        } else {
          response.writeHead(204).end();
        }
      };
      if (holding) held.push(reply);
      else reply();
    });
  });
  const base = await listen(keepConnectionsOpen(server));
  return {
    url: `${base}/alerts`,
    received,
    async waitFor(count, timeoutMs = WAIT_LIMIT_MS) {
      await until(
        () => received.length >= count,
        `the webhook to receive ${count} bodies (it has ${received.length})`,
        timeoutMs,
      );
      return received;
    },
    answer() {
      holding = false;
      for (const reply of held.splice(0)) reply();
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
