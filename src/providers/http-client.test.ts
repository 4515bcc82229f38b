import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { statusError, UpstreamHttpClient, type UpstreamHttpOptions, type UpstreamPost } from './http-client.js';
import { UpstreamError } from './types.js';
import { until } from '../../test/support/wait.js';
import { keepConnectionsOpen } from '../../test/support/loopback.js';
import { recordTimeoutDelays, restoreRetryTimeouts } from '../../test/support/retry-waits.js';

/** A client with long timeouts and no retries unless `options` say otherwise. */
const clientWith = (options: Partial<UpstreamHttpOptions> = {}) =>
  new UpstreamHttpClient({ timeoutMs: 60_000, connectTimeoutMs: 60_000, maxRetries: 0, ...options });

/** A post of `{}` to `url` by the provider `mock`, with no key. */
const postTo = (url: string, signal = new AbortController().signal): UpstreamPost => ({
  providerId: 'mock',
  url,
  headers: {},
  body: {},
  signal,
  apiKey: undefined,
});

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
      } else if (request.url === '/stall-stream') {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('data: {"first":true}\n\n');
      } else if (request.url === '/long-json') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('y'.repeat(300));
      } else if (request.url === '/not-json') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops</html>');
      } else if (request.url === '/untyped') {
        response.writeHead(200).end('plain');
      } else if (request.url === '/failing-stream') {
        response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"stream refused"}}');
      } else if (request.url === '/headers') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ headers: request.headers }));
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
  const client = clientWith();
  const base = onLoopback(server, client);

  const post = (url: string, signal?: AbortSignal) => ({ ...postTo(url, signal), body: { n: 1 } });

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
    await expect(client.postJson(post('ftp://127.0.0.1/v1/chat/completions'))).rejects.toMatchObject({
      message: 'mock could not be reached: not an http(s) URL: ftp://127.0.0.1/v1/chat/completions',
      cause: expect.any(TypeError),
    });
  });

  it('sends JSON and asks for JSON, or for an event stream when streaming', async () => {
    const { headers } = (await client.postJson({ ...post(`${base()}/headers`), headers: { 'x-api-key': 'k' } })) as {
      headers: Record<string, string>;
    };
    expect([headers['content-type'], headers.accept, headers['x-api-key']]).toEqual([
      'application/json',
      'application/json',
      'k',
    ]);
    const stream = await client.postStream(post(`${base()}/headers`)).catch((caught: unknown) => caught);
    // The upstream answered JSON to a stream request: refused, with what it sent, which shows what was asked.
    expect(stream).toMatchObject({ kind: 'invalid_response', upstreamStatus: 200 });
    const asked = (stream as Error).message;
    expect(asked).toMatch(/^mock answered a streaming request with application\/json: \{"headers":/);
    expect(asked).toContain('"accept":"text/event-stream"');
    expect(asked).toContain('"content-type":"application/json"');
  });

  it('refuses a streaming answer without a content type, naming that, and one that is not JSON when JSON was asked', async () => {
    await expect(client.postStream(post(`${base()}/untyped`))).rejects.toMatchObject({
      kind: 'invalid_response',
      message: 'mock answered a streaming request with no content type: plain',
    });
    await expect(client.postJson(post(`${base()}/not-json`))).rejects.toMatchObject({
      kind: 'invalid_response',
      message: 'mock answered with a body that is not JSON',
      upstreamStatus: 200,
      cause: expect.any(SyntaxError),
    });
  });

  it('quotes the first 200 characters of what a JSON answer to a stream request said', async () => {
    await expect(client.postStream(post(`${base()}/long-json`))).rejects.toMatchObject({
      message: `mock answered a streaming request with application/json: ${'y'.repeat(200)}`,
    });
  });

  it('takes an https URL as one (here it meets a plain HTTP server and cannot reach it)', async () => {
    const error = await client.postJson(post(base().replace('http:', 'https:'))).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'network', message: expect.stringMatching(/^mock could not be reached: /) });
    expect((error as Error).message).not.toContain('not an http(s) URL');
  });

  it("maps a stream's error answer with its message", async () => {
    await expect(client.postStream(post(`${base()}/failing-stream`))).rejects.toMatchObject({
      kind: 'server_error',
      message: 'mock answered 500: stream refused',
    });
  });

  it('gives the abort reason itself when the caller aborts a stream mid-way', async () => {
    const controller = new AbortController();
    const stream = await client.postStream(post(`${base()}/stall-stream`, controller.signal));
    const reason = new Error('client left the stream');
    const reading = (async () => {
      for await (const _bytes of stream) controller.abort(reason);
    })();
    await expect(reading).rejects.toBe(reason);
  });

  it('reads a body sent in pieces, and drops a leading byte order mark', async () => {
    expect(await client.postJson(post(`${base()}/chunks`))).toEqual({ text: 'héllo wörld' });
    expect(await client.postJson(post(`${base()}/bom`))).toEqual({ bom: true });
  });

  it('maps a body cut off mid-way to a network error, without retrying the call', async () => {
    const retrying = clientWith({ maxRetries: 2 });
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
    const reason = new Error('client went away');
    controller.abort(reason);
    // The reason itself, not an upstream error made of it.
    await expect(pending).rejects.toBe(reason);
    await until(() => stalledClosed.length > 0, 'the stalled answer to be closed');
    expect(stalledClosed).toEqual(['/stall']);

    const before = seen.length;
    const gone = new Error('already gone');
    await expect(client.postJson(post(`${base()}/v1/x`, AbortSignal.abort(gone)))).rejects.toBe(gone);
    await expect(client.postStream(post(`${base()}/v1/x`, AbortSignal.abort(gone)))).rejects.toBe(gone);
    expect(seen.length).toBe(before);
  });
});

describe('UpstreamHttpClient answer size limit', () => {
  // 3,000 bytes in three writes: a JSON answer, an event stream, and an error body, each past a 1,024-byte limit.
  const piece = 'x'.repeat(1_000);
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const type = request.url === '/stream' || request.url === '/exact-stream' ? 'text/event-stream' : 'application/json';
      if (request.url === '/exact-json') {
        response.writeHead(200, { 'content-type': type }).end(JSON.stringify({ fits: 'x'.repeat(1_024 - '{"fits":""}'.length) }));
        return;
      }
      if (request.url === '/exact-stream') {
        // Exactly the limit, in two writes.
        const event = `data: {"t":"${'z'.repeat(1_024 - 'data: {"t":""}\n\n'.length)}"}\n\n`;
        response.writeHead(200, { 'content-type': type });
        response.write(event.slice(0, 500));
        response.end(event.slice(500));
        return;
      }
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
  const client = clientWith({ maxBodyBytes: 1_024 });
  const base = onLoopback(server, client);
  const post = (path: string) => postTo(`${base()}${path}`);
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

  it('reads an answer, and a stream, of exactly the limit', async () => {
    expect(await client.postJson(post('/exact-json'))).toEqual({ fits: 'x'.repeat(1_024 - '{"fits":""}'.length) });
    let total = 0;
    for await (const bytes of await client.postStream(post('/exact-stream'))) total += bytes.length;
    expect(total).toBe(1_024);
  });

  it('fails an error answer past the limit the same way', async () => {
    await expect(client.postJson(post('/error'))).rejects.toMatchObject(tooLarge);
  });
});

interface Listening {
  /** http://127.0.0.1:<port> */
  base: string;
  close(): void;
}

/** `server` listening on loopback (its connections kept open between calls, as an upstream keeps them). */
async function listening(server: Server): Promise<Listening> {
  keepConnectionsOpen(server).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Listens on loopback before the suite and closes it (and the client) after; returns its base URL once listening. */
function onLoopback(server: Server, client: UpstreamHttpClient): () => string {
  let upstream: Listening | undefined;
  beforeAll(async () => {
    upstream = await listening(server);
  });
  afterAll(async () => {
    await client.close();
    upstream?.close();
  });
  return () => upstream?.base ?? '';
}

describe('UpstreamHttpClient: what is retried, and how long it waits', () => {
  /** Each path answers its script in turn (the last answer repeats): [status, retry-after or none]. */
  const scripts = new Map<string, Array<[number, string | undefined]>>();
  const requests = new Map<string, number>();
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const path = request.url ?? '';
      const count = (requests.get(path) ?? 0) + 1;
      requests.set(path, count);
      const script = scripts.get(path) ?? [[200, undefined]];
      const [status, retryAfter] = script[Math.min(count, script.length) - 1]!;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
      response.writeHead(status, headers).end(status < 400 ? '{"ok":true}' : '{"error":{"message":"busy"}}');
    });
  });
  const client = clientWith({ maxRetries: 2, maxRetryAfterMs: 50 });
  const base = onLoopback(server, client);
  afterEach(() => restoreRetryTimeouts());

  let counter = 0;
  /** A fresh path answering `script`; the post, its path's request count, and the client's waits between tries. */
  const scripted = (script: Array<[number, string | undefined]>) => {
    counter += 1;
    const path = `/scripted-${counter}`;
    scripts.set(path, script);
    const delays = recordTimeoutDelays();
    return {
      post: postTo(`${base()}${path}`),
      requests: () => requests.get(path) ?? 0,
      waits: () => delays().filter((delay) => typeof delay === 'number' && delay <= 50),
    };
  };

  it.each([429, 503])('retries a %i whose retry-after is within the limit, after waiting it out', async (status) => {
    const call = scripted([
      [status, '0.05'],
      [200, undefined],
    ]);
    expect(await client.postJson(call.post)).toEqual({ ok: true });
    expect(call.requests()).toBe(2);
    expect(call.waits()).toEqual([50]);
  });

  it.each([500, 502, 400])('does not retry a %i, whatever its retry-after', async (status) => {
    const call = scripted([
      [status, '0'],
      [200, undefined],
    ]);
    await expect(client.postJson(call.post)).rejects.toBeInstanceOf(UpstreamError);
    expect(call.requests()).toBe(1);
  });

  it('gives up after maxRetries retries and answers the last refusal', async () => {
    const call = scripted([[429, '0']]);
    await expect(client.postJson(call.post)).rejects.toMatchObject({ kind: 'rate_limited', upstreamStatus: 429 });
    expect(call.requests()).toBe(3);
  });

  it('takes retry-after as seconds with a fraction, spaces around it, or an HTTP date; not past the limit, nor garbage', async () => {
    const honoured: Array<[string, number]> = [
      ['0.025', 25],
      [' 0.04 ', 40],
      ['0', 0],
      // Not a number of seconds (a sign): read as a date, long past.
      ['-1', 0],
      // A date already past: retried at once.
      ['Wed, 21 Oct 2015 07:28:00 GMT', 0],
    ];
    for (const [retryAfter, wait] of honoured) {
      const call = scripted([
        [429, retryAfter],
        [200, undefined],
      ]);
      expect(await client.postJson(call.post)).toEqual({ ok: true });
      expect([retryAfter, call.requests(), call.waits()]).toEqual([retryAfter, 2, [wait]]);
      restoreRetryTimeouts();
    }
    for (const retryAfter of ['0.051', '1', 'Fri, 01 Jan 2100 00:00:00 GMT', 'soon', '']) {
      const call = scripted([
        [429, retryAfter],
        [200, undefined],
      ]);
      await expect(client.postJson(call.post)).rejects.toMatchObject({ kind: 'rate_limited' });
      expect([retryAfter, call.requests()]).toEqual([retryAfter, 1]);
      restoreRetryTimeouts();
    }
  });

  it('without maxRetries retries nothing', async () => {
    const once = clientWith();
    try {
      const call = scripted([
        [429, '0'],
        [200, undefined],
      ]);
      await expect(once.postJson(call.post)).rejects.toMatchObject({ kind: 'rate_limited' });
      expect(call.requests()).toBe(1);
    } finally {
      await once.close();
    }
  });
});

describe('UpstreamHttpClient.postForAnswer', () => {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.url === '/text') response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('hello there');
      else if (request.url === '/srt')
        response.writeHead(200, { 'content-type': 'application/x-subrip' }).end('1\n00:00 --> 00:01\nhi\n');
      else if (request.url === '/untyped') response.writeHead(200).end('{"text":"untyped"}');
      else if (request.url === '/refused')
        response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad audio"}}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"json"}');
    });
  });
  const client = clientWith();
  const base = onLoopback(server, client);
  const post = (path: string) => postTo(`${base()}${path}`);

  it('maps a refusal with the message the upstream gave', async () => {
    await expect(client.postForAnswer(post('/refused'))).rejects.toMatchObject({
      kind: 'bad_request',
      message: 'mock answered 400: bad audio',
    });
  });

  it('answers JSON when the upstream says JSON, or says nothing, and the text with its type otherwise', async () => {
    expect(await client.postForAnswer(post('/json'))).toEqual({ kind: 'json', json: { text: 'json' } });
    expect(await client.postForAnswer(post('/untyped'))).toEqual({ kind: 'json', json: { text: 'untyped' } });
    expect(await client.postForAnswer(post('/text'))).toEqual({
      kind: 'text',
      text: 'hello there',
      contentType: 'text/plain; charset=utf-8',
    });
    expect(await client.postForAnswer(post('/srt'))).toEqual({
      kind: 'text',
      text: '1\n00:00 --> 00:01\nhi\n',
      contentType: 'application/x-subrip',
    });
  });
});

describe('upstream error messages', () => {
  const post = { providerId: 'openai', apiKey: 'sk-12345' };

  it("reads OpenAI's, Anthropic's and Gemini's error shapes, a bare error string and a top-level message", () => {
    expect(statusError(400, '{"error":{"message":"bad model"}}', post).message).toBe('openai answered 400: bad model');
    expect(statusError(400, '{"type":"error","error":{"type":"invalid_request_error","message":"too long"}}', post).message).toBe(
      'openai answered 400: too long',
    );
    expect(statusError(400, '{"error":"plain words"}', post).message).toBe('openai answered 400: plain words');
    expect(statusError(400, '{"message":"top level"}', post).message).toBe('openai answered 400: top level');
  });

  it('falls back to the body, trimmed and cut to 300 characters, when no message is where one is expected', () => {
    expect(statusError(400, '{"error":{"code":42}}', post).message).toBe('openai answered 400: {"error":{"code":42}}');
    expect(statusError(400, '{"error":null,"message":7}', post).message).toBe('openai answered 400: {"error":null,"message":7}');
    expect(statusError(502, `  ${'x'.repeat(400)}  `, post).message).toBe(`openai answered 502: ${'x'.repeat(300)}`);
  });

  it('redacts a key of 8 characters or more, not a shorter one', () => {
    expect(statusError(401, '{"error":{"message":"bad key sk-12345"}}', post).message).toBe(
      'openai answered 401: bad key [redacted]',
    );
    expect(statusError(401, '{"error":{"message":"bad key sk-1234"}}', { providerId: 'openai', apiKey: 'sk-1234' }).message).toBe(
      'openai answered 401: bad key sk-1234',
    );
  });
});

describe('UpstreamHttpClient.close', () => {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  let upstream: Listening;
  beforeAll(async () => {
    upstream = await listening(server);
  });
  afterAll(() => upstream.close());
  const post = () => postTo(`${upstream.base}/v1/chat/completions`);

  it('closes the pool it made, after which a call cannot be made', async () => {
    const client = clientWith();
    expect(await client.postJson(post())).toEqual({ ok: true });
    await client.close();
    await expect(client.postJson(post())).rejects.toMatchObject({ kind: 'network' });
  });

  it('leaves a pool it was given open for its owner', async () => {
    const agent = new Agent();
    try {
      const client = clientWith({ dispatcher: agent });
      expect(await client.postJson(post())).toEqual({ ok: true });
      await client.close();
      expect(agent.closed).toBe(false);
      expect(await client.postJson(post())).toEqual({ ok: true });
    } finally {
      await agent.close();
    }
  });
});

describe('UpstreamHttpClient: connections, limits and waits', () => {
  /** The real pool, counting the requests it is given (a retry is one more). */
  class CountingAgent extends Agent {
    dispatched = 0;
    override dispatch(options: Agent.DispatchOptions, handler: Parameters<Agent['dispatch']>[1]): boolean {
      this.dispatched += 1;
      return super.dispatch(options, handler);
    }
  }
  const refusedPost = () => postTo('http://127.0.0.1:1/v1/chat/completions');

  it('retries a refused connection up to maxRetries times (nothing reached the upstream), then says it could not reach it', async () => {
    for (const maxRetries of [0, 2]) {
      const agent = new CountingAgent();
      const client = clientWith({ maxRetries, dispatcher: agent });
      try {
        const error = await client.postJson(refusedPost()).catch((caught: unknown) => caught);
        expect(error).toMatchObject({
          kind: 'network',
          message: expect.stringMatching(/^mock could not be reached: .*ECONNREFUSED/),
        });
        expect((error as UpstreamError).cause).toMatchObject({ code: 'ECONNREFUSED' });
        expect([maxRetries, agent.dispatched]).toEqual([maxRetries, maxRetries + 1]);
        agent.dispatched = 0;
        await expect(client.postStream(refusedPost())).rejects.toMatchObject({ kind: 'network' });
        expect([maxRetries, agent.dispatched]).toEqual([maxRetries, maxRetries + 1]);
      } finally {
        await agent.close();
      }
    }
  });

  it("maps an upstream that sends no headers in time to a timeout naming undici's code", async () => {
    const upstream = await listening(createServer(() => undefined));
    const client = clientWith({ timeoutMs: 50, maxRetries: 2 });
    try {
      const error = await client.postJson(postTo(`${upstream.base}/slow`)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ kind: 'timeout', message: 'mock did not answer in time (UND_ERR_HEADERS_TIMEOUT)' });
      expect((error as UpstreamError).cause).toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    } finally {
      await client.close();
      upstream.close();
    }
  });

  it('by default honours a retry-after of up to 2 s, and stops waiting out one when the caller aborts', async () => {
    let answered = 0;
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        answered += 1;
        const retryAfter = request.url === '/two' ? '2' : request.url === '/over' ? '2.001' : '30';
        if (answered % 2 === 1 || request.url !== '/two')
          response.writeHead(429, { 'content-type': 'application/json', 'retry-after': retryAfter }).end('{}');
        else response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    const { base, close } = await listening(server);
    const client = clientWith({ maxRetries: 1 });
    const patient = clientWith({ maxRetries: 1, maxRetryAfterMs: 60_000 });
    try {
      expect(await client.postJson(postTo(`${base}/two`))).toEqual({ ok: true });
      answered = 0;
      await expect(client.postJson(postTo(`${base}/over`))).rejects.toMatchObject({ kind: 'rate_limited' });
      expect(answered).toBe(1);
      // A 30 s wait, aborted once it has begun: the caller gets its reason, and no second try is made.
      // The client's own wait (undici sets 30 s keep-alive timers too, from its own files).
      const delays = recordTimeoutDelays('/src/providers/http-client.ts');
      const controller = new AbortController();
      const reason = new Error('caller gone');
      answered = 0;
      const pending = patient.postJson(postTo(`${base}/long`, controller.signal));
      await until(() => delays().includes(30_000), 'the 30 s wait to begin');
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(answered).toBe(1);
    } finally {
      restoreRetryTimeouts();
      await client.close();
      await patient.close();
      close();
    }
  });
});
