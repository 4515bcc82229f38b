import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusError, UpstreamHttpClient } from './http-client.js';
import { UpstreamError } from './types.js';

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
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: request.url }));
    });
  });
  const client = new UpstreamHttpClient({ timeoutMs: 5_000, connectTimeoutMs: 1_000, maxRetries: 0 });
  let base = '';
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await client.close();
    server.close();
  });

  const post = (url: string) => ({
    providerId: 'mock',
    url,
    headers: {},
    body: { n: 1 },
    signal: new AbortController().signal,
    apiKey: undefined,
  });

  it('posts JSON to the path and query of each URL, the same URL again and another one after it', async () => {
    expect(await client.postJson(post(`${base}/v1/chat/completions`))).toEqual({ echoed: '/v1/chat/completions' });
    expect(await client.postJson(post(`${base}/v1/chat/completions`))).toEqual({ echoed: '/v1/chat/completions' });
    expect(await client.postJson(post(`${base}/v1beta/models/m:generateContent?alt=sse`))).toEqual({
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
});
