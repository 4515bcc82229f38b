import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchFeed, FeedFetchError } from './fetch-feed.js';
import { keepConnectionsOpen } from '../../test/support/loopback.js';

/** The timeout of fetches that are not about the timeout: a guard against a hang, never reached. */
const GUARD_MS = 60_000;
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/big-declared') {
      response.writeHead(200, { 'content-length': '2048' }).end('x'.repeat(2048));
    } else if (request.url === '/big-chunked') {
      // No content-length: the bound must hold while reading the body.
      response.writeHead(200);
      for (let index = 0; index < 8; index++) response.write('y'.repeat(512));
      response.end();
    } else if (request.url === '/slow-body') {
      // Never finished (the connection is closed when the suite ends): only the fetch's timeout can end it.
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"data": [');
    } else {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": []}');
    }
  });
  await new Promise<void>((resolve) => keepConnectionsOpen(server).listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('fetchFeed', () => {
  it('returns the body text', async () => {
    expect(await fetchFeed(`${base}/ok`, { timeoutMs: GUARD_MS })).toBe('{"data": []}');
  });

  it('refuses a body over the size bound, declared or streamed', async () => {
    await expect(fetchFeed(`${base}/big-declared`, { timeoutMs: GUARD_MS, maxBytes: 1024 })).rejects.toThrow(
      'the feed is 2048 bytes, over the 1024-byte limit',
    );
    await expect(fetchFeed(`${base}/big-chunked`, { timeoutMs: GUARD_MS, maxBytes: 1024 })).rejects.toThrow(
      'the feed is over the 1024-byte limit',
    );
  });

  it('times out a body that stalls after the headers', async () => {
    await expect(fetchFeed(`${base}/slow-body`, { timeoutMs: 150 })).rejects.toThrow('no complete response within 150 ms');
  });

  it('names a refused connection and a non-http URL', async () => {
    await expect(fetchFeed('http://127.0.0.1:1/feed.json', { timeoutMs: GUARD_MS })).rejects.toBeInstanceOf(FeedFetchError);
    await expect(fetchFeed('file:///etc/passwd', { timeoutMs: GUARD_MS })).rejects.toThrow(
      'only http and https feeds are fetched',
    );
  });
});
