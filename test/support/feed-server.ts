import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const FIXTURES = new URL('../../fixtures/sync/', import.meta.url);

/**
 * A loopback HTTP server playing a provider's price feed: `/<file>` serves `fixtures/sync/<file>`,
 * `/hang` sends its headers and the start of a body and then stalls (a feed that never finishes; it gives up
 * by itself after `hangMs`, so a test can never hang on it), `/status/<code>` answers with that status.
 */
export interface FeedServer {
  url(path: string): string;
  /** Paths requested so far, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFeedServer(options: { hangMs?: number } = {}): Promise<FeedServer> {
  const hangMs = options.hangMs ?? 5_000;
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
  const base = await listen(server);
  return {
    url: (path) => `${base}/${path.replace(/^\//, '')}`,
    requests,
    async close() {
      for (const response of hanging) response.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An alert webhook on loopback: records every JSON body it receives; the first `failFirst` calls answer 503. */
export interface WebhookReceiver {
  url: string;
  /** Bodies received, including the ones answered with 503. */
  readonly received: unknown[];
  /** Resolves once `count` bodies have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<unknown[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: { failFirst?: number } = {}): Promise<WebhookReceiver> {
  const received: unknown[] = [];
  let failuresLeft = options.failFirst ?? 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        response.writeHead(503).end();
      } else {
        response.writeHead(204).end();
      }
    });
  });
  const base = await listen(server);
  return {
    url: `${base}/alerts`,
    received,
    async waitFor(count, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`webhook got ${received.length} of ${count} bodies in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
