import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusError, UpstreamHttpClient } from './http-client.js';
import { UpstreamError } from './types.js';
import { until } from '../../test/support/wait.js';
import { keepConnectionsOpen } from '../../test/support/loopback.js';

describe('statusError', () => {
  const post = { providerId: 'openai', apiKey: 'sk-secret-0123456789' };

  it.each([
    [401, 'authentication', 502, false],
    [403, 'authentication', 502, false],
    [404, 'not_found', 502, false],
    [408, 'timeout', 504, true],
    [422, 'bad_request', 400, false],
    [429, 'rate_limited', 429, true],
    [503, 'server_error', 502, true],
    [529, 'server_error', 502, true],
  ])('maps %i to %s (gateway status %i)', (status, kind, gatewayStatus, retryable) => {
    const error = statusError(status, '{"error":{"message":"nope"}}', post);
    expect([error.kind, error.status, error.upstreamStatus, error.retryable]).toEqual([kind, gatewayStatus, status, retryable]);
    expect(error.message).toBe(`openai answered ${status}: nope`);
  });

  it('never repeats the API key the upstream echoed', () => {
    const body = JSON.stringify({ error: { message: 'Incorrect API key provided: sk-secret-0123456789.' } });
    expect(statusError(401, body, post).message).toBe('openai answered 401: Incorrect API key provided: [redacted].');
  });

  it('keeps the start of a body that is not JSON', () => {
    expect(statusError(502, '<html>Bad gateway</html>', post).message).toBe('openai answered 502: <html>Bad gateway</html>');
    expect(statusError(500, '', post).message).toBe('openai answered 500: (empty body)');
  });
});

describe('UpstreamHttpClient.postJson', () => {
  const seen: Array<{ url: string | undefined; body: string; contentType: string | undefined }> = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push({ url: request.url, body, contentType: request.headers['content-type'] });
      if (request.url === '/bom') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.from('\ufeff{"bom":true}'));
      } else if (request.url === '/chunks') {
        // Three writes, a multi-byte character split across two of them.
        const bytes = Buffer.from(JSON.stringify({ text: 'héllo wörld' }));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(bytes.subarray(0, 10));
        setTimeout(() => response.write(bytes.subarray(10, 16)), 5);
        setTimeout(() => response.end(bytes.subarray(16)), 10);
      } else if (request.url === '/cut') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        response.write('{"partial": ');
        setTimeout(() => response.destroy(), 10);
      } else if (request.url === '/stall') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        response.write('{"partial": ');
        response.on('close', () => stalledClosed.push(request.url));
        stallStarted();
      } else {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: request.url }));
      }
    });
  });
  const stalledClosed: Array<string | undefined> = [];
  let stallStarted: () => void = () => undefined;
  const client = new UpstreamHttpClient({ timeoutMs: 60_000, connectTimeoutMs: 60_000, maxRetries: 0 });
  const base = onLoopback(server, client);

  const post = (url: string, signal = new AbortController().signal) => ({
    providerId: 'mock',
    url,
    headers: {},
    body: { n: 1 },
    signal,
    apiKey: undefined,
  });

  it('posts JSON to the path and query of each URL, the same URL again and another one after it', async () => {
    expect(await client.postJson(post(`${base()}/v1/chat/completions`))).toEqual({ echoed: '/v1/chat/completions' });
    expect(await client.postJson(post(`${base()}/v1/chat/completions`))).toEqual({ echoed: '/v1/chat/completions' });
    expect(await client.postJson(post(`${base()}/v1beta/models/m:generateContent?alt=sse`))).toEqual({
      echoed: '/v1beta/models/m:generateContent?alt=sse',
    });
    expect(seen.slice(-3).map((request) => [request.body, request.contentType])).toEqual(
      Array.from({ length: 3 }, () => ['{"n":1}', 'application/json']),
    );
  });

  it('maps a URL that does not parse, or is not http(s), to a network error naming the provider', async () => {
    for (const url of ['not a url', 'ftp://127.0.0.1/v1/chat/completions']) {
      const error = await client.postJson(post(url)).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UpstreamError);
      expect([(error as UpstreamError).kind, (error as UpstreamError).message.startsWith('mock could not be reached: ')]).toEqual(
        ['network', true],
      );
    }
  });

  it('reads a body sent in pieces, and drops a leading byte order mark', async () => {
    expect(await client.postJson(post(`${base()}/chunks`))).toEqual({ text: 'héllo wörld' });
    expect(await client.postJson(post(`${base()}/bom`))).toEqual({ bom: true });
  });

  it('maps a body cut off mid-way to a network error, without retrying the call', async () => {
    const retrying = new UpstreamHttpClient({ timeoutMs: 60_000, connectTimeoutMs: 60_000, maxRetries: 2 });
    try {
      const before = seen.length;
      const error = await retrying.postJson(post(`${base()}/cut`)).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).kind).toBe('network');
      expect(seen.length - before).toBe(1);
    } finally {
      await retrying.close();
    }
  });

  it('gives the abort reason and closes the upstream request when the caller aborts mid-body, or before it starts', async () => {
    const controller = new AbortController();
    const started = new Promise<void>((resolve) => (stallStarted = resolve));
    const pending = client.postJson(post(`${base()}/stall`, controller.signal));
    // Mid-body: the answer's headers and first bytes have been sent.
    await started;
    controller.abort(new Error('client went away'));
    await expect(pending).rejects.toThrow('client went away');
    await until(() => stalledClosed.length > 0, 'the stalled answer to be closed');
    expect(stalledClosed).toEqual(['/stall']);

    const before = seen.length;
    await expect(client.postJson(post(`${base()}/v1/x`, AbortSignal.abort(new Error('already gone'))))).rejects.toThrow(
      'already gone',
    );
    expect(seen.length).toBe(before);
  });
});

describe('UpstreamHttpClient answer size limit', () => {
  // 3,000 bytes in three writes: a JSON answer, an event stream, and an error body, each past a 1,024-byte limit.
  const piece = 'x'.repeat(1_000);
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const type = request.url === '/stream' ? 'text/event-stream' : 'application/json';
      if (request.url === '/small') {
        response.writeHead(200, { 'content-type': type }).end(JSON.stringify({ fits: piece.slice(0, 500) }));
        return;
      }
      response.writeHead(request.url === '/error' ? 500 : 200, { 'content-type': type });
      const line = request.url === '/stream' ? `data: {"text":"${piece}"}\n\n` : piece;
      response.write(line);
      const rest = () => {
        response.write(line);
        response.end(line);
      };
      // The stream's rest goes once the client has read its first event, so that the two never arrive as one
      // read (which is past the limit on its own); the other answers may arrive whole.
      if (request.url === '/stream') sendRest = rest;
      else setTimeout(rest, 5);
    });
  });
  let sendRest: (() => void) | undefined;
  const client = new UpstreamHttpClient({ timeoutMs: 60_000, connectTimeoutMs: 60_000, maxRetries: 0, maxBodyBytes: 1_024 });
  const base = onLoopback(server, client);
  const post = (path: string) => ({
    providerId: 'mock',
    url: `${base()}${path}`,
    headers: {},
    body: {},
    signal: new AbortController().signal,
    apiKey: undefined,
  });
  const tooLarge = { kind: 'invalid_response', message: 'mock answered with more than 1024 bytes' };

  it('reads an answer within the limit', async () => {
    expect(await client.postJson(post('/small'))).toEqual({ fits: 'x'.repeat(500) });
  });

  it('fails a JSON answer past the limit instead of reading it all', async () => {
    await expect(client.postJson(post('/json'))).rejects.toMatchObject(tooLarge);
  });

  it('fails a stream once it passes the limit, after what came before it', async () => {
    const received: number[] = [];
    const stream = await client.postStream(post('/stream'));
    const error = await (async () => {
      for await (const bytes of stream) {
        received.push(bytes.length);
        sendRest?.();
        sendRest = undefined;
      }
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject(tooLarge);
    expect(received.reduce((total, length) => total + length, 0)).toBeLessThanOrEqual(1_024);
    expect(received.length).toBeGreaterThan(0);
  });

  it('fails an error answer past the limit the same way', async () => {
    await expect(client.postJson(post('/error'))).rejects.toMatchObject(tooLarge);
  });
});

/** Listens on loopback before the suite and closes it (and the client) after; returns its base URL once listening. */
function onLoopback(server: Server, client: UpstreamHttpClient): () => string {
  let base = '';
  beforeAll(async () => {
    keepConnectionsOpen(server).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await client.close();
    server.closeAllConnections();
    server.close();
  });
  return () => base;
}
