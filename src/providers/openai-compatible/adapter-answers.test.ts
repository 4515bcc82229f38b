import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keepConnectionsOpen } from '../../../test/support/loopback.js';
import { UpstreamHttpClient } from '../http-client.js';
import { UpstreamError, type ChatCompletionRequest, type StreamEvent, type UpstreamTarget } from '../types.js';
import { OpenAICompatibleAdapter, usageWithCacheHitsAt, type OpenAICompatibleOptions } from './openai-compatible-adapter.js';

/**
 * The OpenAI-format adapter against a loopback upstream (the real HTTP client, no retries): what it asks, and
 * the usage it reads out of each answer, which is what the call is billed. Answers are recorded OpenAI ones
 * (fixtures/provider-responses/openai) or, for what no recording shows, small bodies in the same shape.
 */
const recording = (name: string) =>
  readFileSync(new URL(`../../../fixtures/provider-responses/openai/${name}`, import.meta.url), 'utf8');

interface Seen {
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the upstream answers next: a status, a content type and a body. */
let answer = { status: 200, contentType: 'application/json', body: '{}' };
const seen: Seen[] = [];
const server = keepConnectionsOpen(
  createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push({ url: request.url, headers: request.headers, body });
      response.writeHead(answer.status, { 'content-type': answer.contentType });
      response.end(answer.body);
    });
  }),
);
const http = new UpstreamHttpClient({ timeoutMs: 60_000, connectTimeoutMs: 60_000, maxRetries: 0 });
let target: UpstreamTarget;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  // Trailing slashes on the base URL are not doubled into the path.
  target = { providerId: 'acme', upstreamModel: 'acme-large-2', baseUrl: `http://127.0.0.1:${port}/v1//`, apiKey: 'sk-acme-1' };
});

afterAll(async () => {
  await http.close();
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  seen.length = 0;
});

const adapter = (options: Partial<OpenAICompatibleOptions> = {}) =>
  new OpenAICompatibleAdapter(http, { id: 'acme', defaultBaseUrl: undefined, ...options });

const signal = () => new AbortController().signal;

const request = (extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'acme/large',
  messages: [{ role: 'user', content: 'Capital of France?' }],
  ...extra,
});

/** An SSE body of these data payloads, then `[DONE]`. */
const sse = (...payloads: unknown[]) =>
  [
    ...payloads.map((payload) => `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`),
    'data: [DONE]\n\n',
  ].join('');

const streamAnswer = (body: string) => {
  answer = { status: 200, contentType: 'text/event-stream', body };
};

async function events<T = StreamEvent>(source: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const event of source) all.push(event);
  return all;
}

/** The UpstreamError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof UpstreamError)) throw new Error(`expected an UpstreamError, got ${String(error)}`);
  return error;
}

/** A chunk of choices with nothing but text, as OpenAI streams one. */
const textChunk = (content: string, extra: Record<string, unknown> = {}) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'acme-large-2',
  choices: [{ index: 0, delta: { content }, finish_reason: null }],
  ...extra,
});

describe('a chat completion through the OpenAI-format adapter', () => {
  it('posts the request unstreamed under the upstream model with the key, and bills the recorded cache hit', async () => {
    answer = { status: 200, contentType: 'application/json', body: recording('openai-chat-prompt-cache-hit.json') };
    const result = await adapter({ extraHeaders: { 'x-title': 'tollgate' } }).complete(
      request({ stream: true, stream_options: { include_usage: true }, temperature: 0 }),
      target,
      signal(),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe('/v1/chat/completions');
    expect(seen[0]?.headers.authorization).toBe('Bearer sk-acme-1');
    expect(seen[0]?.headers['x-title']).toBe('tollgate');
    expect(JSON.parse(seen[0]!.body)).toEqual({
      model: 'acme-large-2',
      messages: [{ role: 'user', content: 'Capital of France?' }],
      temperature: 0,
      stream: false,
    });
    // 4,020 prompt tokens of which 4,012 were read from the cache, and 4 out.
    expect(result.usage?.input).toEqual({ uncached: 8, cacheRead: 4012, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(result.usage?.output).toEqual({ text: 4, reasoning: 0, audio: 0 });
    expect(result.body).toEqual(JSON.parse(answer.body));
    expect(result.text).toBe(answer.body);
  });

  it("reads usage with the upstream's own reader (DeepSeek's cache hits at the top level); no key, no authorization", async () => {
    answer = {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        choices: [{ index: 0, message: { role: 'assistant', content: 'Paris' }, finish_reason: 'stop' }],
        // With `prompt_tokens_details.cached_tokens: 0` beside it, only DeepSeek's reader sees the 800 hits.
        usage: {
          prompt_tokens: 1000,
          completion_tokens: 50,
          total_tokens: 1050,
          prompt_tokens_details: { cached_tokens: 0 },
          prompt_cache_hit_tokens: 800,
        },
      }),
    };
    const result = await adapter({ readUsage: usageWithCacheHitsAt('prompt_cache_hit_tokens') }).complete(
      request(),
      { ...target, apiKey: undefined },
      signal(),
    );
    expect(seen[0]?.headers).not.toHaveProperty('authorization');
    expect(result.usage?.input).toEqual({ uncached: 200, cacheRead: 800, cacheWrite: 0, cacheWrite1h: 0, audio: 0 });
    expect(result.usage?.output.text).toBe(50);
  });

  it('refuses an answer without a choices array as invalid_response', async () => {
    for (const body of ['[]', '{"choices":{}}', '{"object":"chat.completion"}']) {
      answer = { status: 200, contentType: 'application/json', body };
      const error = await failure(adapter().complete(request(), target, signal()));
      expect([error.kind, error.message]).toEqual(['invalid_response', 'acme answered without a choices array']);
    }
  });
});

describe('a chat stream through the OpenAI-format adapter', () => {
  it('asks for usage, relays the recorded chunks as sent but for "usage":null, and bills the last chunk\'s usage once', async () => {
    const recorded = recording('openai-chat-tool-call.sse');
    streamAnswer(recorded);
    const all = await events(
      adapter().stream(request({ stream_options: { include_obfuscation: false } as never }), target, signal()),
    );
    expect(JSON.parse(seen[0]!.body)).toEqual({
      model: 'acme-large-2',
      messages: [{ role: 'user', content: 'Capital of France?' }],
      stream: true,
      stream_options: { include_obfuscation: false, include_usage: true },
    });
    const datas = recorded
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => line.slice('data: '.length));
    const chunks = all.filter((event) => event.type === 'chunk');
    // The last payload is the usage-only chunk (choices: []): it is no chunk of the answer.
    expect(chunks).toHaveLength(datas.length - 1);
    chunks.forEach((event, index) => {
      const { usage: _usage, ...payload } = JSON.parse(datas[index]!) as Record<string, unknown>;
      expect(event).toEqual({ type: 'chunk', chunk: payload, json: datas[index]!.replace(',"usage":null', '') });
    });
    expect(all.slice(-1)).toEqual([
      {
        type: 'usage',
        usage: expect.objectContaining({
          input: { uncached: 53, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 },
          output: { text: 15, reasoning: 0, audio: 0 },
        }),
      },
    ]);
    expect(all.filter((event) => event.type === 'usage')).toHaveLength(1);
  });

  it('a running usage on every chunk (as Perplexity sends): the last one is billed, the chunks re-serialised', async () => {
    streamAnswer(
      sse(
        textChunk('Par', { usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }),
        textChunk('is', { usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } }),
        textChunk('', { usage: null }),
      ),
    );
    const all = await events(adapter().stream(request(), target, signal()));
    // No `json`: the chunk's text carries a usage, so the gateway serialises the chunk without it.
    expect(all.slice(0, 2)).toStrictEqual([
      { type: 'chunk', chunk: textChunk('Par') },
      { type: 'chunk', chunk: textChunk('is') },
    ]);
    expect(all).toHaveLength(4);
    expect(all[3]).toEqual({ type: 'usage', usage: expect.objectContaining({ output: { text: 2, reasoning: 0, audio: 0 } }) });
    expect(all[3]?.type === 'usage' && all[3].usage.input.uncached).toBe(9);
  });

  it("reads usage where the upstream puts it (Groq's x_groq.usage); no usage reported, no usage event", async () => {
    streamAnswer(sse(textChunk('Paris'), textChunk('', { x_groq: { usage: { prompt_tokens: 12, completion_tokens: 3 } } })));
    const groq = adapter({ chunkUsage: (chunk) => chunk.usage ?? (chunk.x_groq as { usage?: unknown } | undefined)?.usage });
    const all = await events(groq.stream(request(), target, signal()));
    expect(all.at(-1)).toEqual({
      type: 'usage',
      usage: expect.objectContaining({ output: { text: 3, reasoning: 0, audio: 0 } }),
    });
    expect(all.at(-1)?.type === 'usage' && all.at(-1)).toMatchObject({ usage: { input: { uncached: 12 } } });

    streamAnswer(sse(textChunk('Paris'), { id: 'c1', choices: [] }));
    const plain = await events(adapter().stream(request(), target, signal()));
    expect(plain).toEqual([{ type: 'chunk', chunk: textChunk('Paris'), json: JSON.stringify(textChunk('Paris')) }]);
  });

  it('an error event after the 200 fails the stream as a server error, with its message or "stream failed"', async () => {
    for (const [error, message] of [
      [
        { message: 'The server had an error while processing your request.', type: 'server_error' },
        'acme failed mid-stream: The server had an error while processing your request.',
      ],
      [{ code: 500 }, 'acme failed mid-stream: stream failed'],
    ] as const) {
      streamAnswer(sse(textChunk('Par'), { error }));
      const stream = adapter().stream(request(), target, signal());
      const first = await stream.next();
      expect(first.value).toMatchObject({ type: 'chunk' });
      const failed = await failure(stream.next());
      expect([failed.kind, failed.message]).toEqual(['server_error', message]);
    }
  });

  it('refuses an event that is not a chunk (not an object, or without choices) as invalid_response, quoting it', async () => {
    const long = { id: 'x'.repeat(300), object: 'chat.completion.chunk' };
    for (const [payload, quoted] of [
      ['42', '42'],
      ['null', 'null'],
      ['{"id":"c1","choices":[', '{"id":"c1","choices":['],
      ['"text"', '"text"'],
      [JSON.stringify({ id: 'c1', choices: {} }), '{"id":"c1","choices":{}}'],
      [JSON.stringify(long), JSON.stringify(long).slice(0, 200)],
    ] as const) {
      streamAnswer(sse(payload));
      const error = await failure(events(adapter().stream(request(), target, signal())));
      expect([error.kind, error.message]).toEqual([
        'invalid_response',
        `acme sent a stream event that is not a chunk: ${quoted}`,
      ]);
    }
  });
});

describe("the OpenAI-format adapter's native shapes", () => {
  it('serves completions, embeddings, transcriptions and images, and responses only where the upstream has them', () => {
    expect(adapter().requiresApiKey).toBe(true);
    expect([adapter().id, adapter({ defaultBaseUrl: 'https://api.acme.test/v1' }).defaultBaseUrl]).toEqual([
      'acme',
      'https://api.acme.test/v1',
    ]);
    expect([...adapter().nativeShapes].sort()).toEqual(['completions', 'embeddings', 'images', 'transcriptions']);
    expect([...adapter({ responses: true }).nativeShapes].sort()).toEqual([
      'completions',
      'embeddings',
      'images',
      'responses',
      'transcriptions',
    ]);
  });

  it('posts each shape to its path under the upstream model; responses and completions unstreamed, no stream_options', async () => {
    const paths: Array<[string, string, Record<string, unknown>]> = [
      ['responses', '/v1/responses', { stream: false }],
      ['completions', '/v1/completions', { stream: false }],
      ['embeddings', '/v1/embeddings', { stream: true }],
      ['images', '/v1/images/generations', { stream: true }],
    ];
    for (const [shape, path, streamed] of paths) {
      answer = { status: 200, contentType: 'application/json', body: '{"usage":{"prompt_tokens":4,"total_tokens":4}}' };
      seen.length = 0;
      const result = await adapter({ responses: true }).sendNative(
        shape as 'responses',
        { kind: 'json', json: { model: 'acme/large', input: 'hi', stream: true, stream_options: { include_usage: true } } },
        target,
        signal(),
      );
      expect(seen[0]?.url).toBe(path);
      expect(seen[0]?.headers.authorization).toBe('Bearer sk-acme-1');
      expect(JSON.parse(seen[0]!.body)).toEqual({ model: 'acme-large-2', input: 'hi', ...streamed });
      expect(result).toEqual({ kind: 'json', json: { usage: { prompt_tokens: 4, total_tokens: 4 } }, text: answer.body });
    }
  });

  it('posts a transcription as a multipart form naming the upstream model, and returns a text answer as text', async () => {
    answer = { status: 200, contentType: 'text/plain; charset=utf-8', body: 'Bonjour.' };
    const result = await adapter().sendNative(
      'transcriptions',
      {
        kind: 'form',
        fields: { model: 'acme/whisper', response_format: 'text' },
        file: { filename: 'a.wav', contentType: 'audio/wav', bytes: Buffer.from('RIFF') },
      },
      target,
      signal(),
    );
    expect(result).toEqual({ kind: 'text', text: 'Bonjour.', contentType: 'text/plain; charset=utf-8' });
    expect(seen[0]?.url).toBe('/v1/audio/transcriptions');
    expect(seen[0]?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen[0]?.headers.authorization).toBe('Bearer sk-acme-1');
    expect(seen[0]?.body).toMatch(/name="model"\r\n\r\nacme-large-2\r\n/);
    expect(seen[0]?.body).not.toContain('acme/whisper');
    expect(seen[0]?.body).toMatch(/name="response_format"\r\n\r\ntext\r\n/);
  });

  it('refuses a shape the upstream does not serve as not_found, asking nothing', async () => {
    for (const shape of ['responses', 'messages'] as const) {
      const error = await failure(adapter().sendNative(shape, { kind: 'json', json: {} }, target, signal()));
      expect([error.kind, error.message]).toEqual(['not_found', `acme does not serve ${shape}`]);
      const streamed = await failure(events(adapter().streamNative(shape, { kind: 'json', json: {} }, target, signal())));
      expect([streamed.kind, streamed.message]).toEqual(['not_found', `acme does not serve ${shape}`]);
    }
    expect(seen).toEqual([]);
  });

  it('streams legacy completions asking for usage, and relays every event with its text', async () => {
    const chunk = { id: 'cmpl-1', object: 'text_completion', choices: [{ text: 'Paris', index: 0 }], usage: null };
    const last = { id: 'cmpl-1', object: 'text_completion', choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } };
    streamAnswer(sse(chunk, last));
    const all = await events(
      adapter().streamNative(
        'completions',
        { kind: 'json', json: { model: 'acme/large', prompt: 'Capital?', stream_options: { include_obfuscation: false } } },
        target,
        signal(),
      ),
    );
    expect(seen[0]?.url).toBe('/v1/completions');
    expect(JSON.parse(seen[0]!.body)).toEqual({
      model: 'acme-large-2',
      prompt: 'Capital?',
      stream: true,
      stream_options: { include_obfuscation: false, include_usage: true },
    });
    expect(all).toEqual([
      { event: 'message', payload: chunk, data: JSON.stringify(chunk) },
      { event: 'message', payload: last, data: JSON.stringify(last) },
    ]);
  });

  it('streams Responses as they are (their own error events pass); a bare error payload fails the stream', async () => {
    const created = { type: 'response.created', response: { id: 'resp_1' } };
    const typedError = { type: 'error', error: { message: 'typed' } };
    streamAnswer(
      `event: response.created\ndata: ${JSON.stringify(created)}\n\nevent: error\ndata: ${JSON.stringify(typedError)}\n\n`,
    );
    const all = await events(
      adapter({ responses: true }).streamNative('responses', { kind: 'json', json: { input: 'hi' } }, target, signal()),
    );
    expect(JSON.parse(seen[0]!.body)).toEqual({ input: 'hi', model: 'acme-large-2', stream: true });
    expect(seen[0]?.url).toBe('/v1/responses');
    expect(all).toEqual([
      { event: 'response.created', payload: created, data: JSON.stringify(created) },
      { event: 'error', payload: typedError, data: JSON.stringify(typedError) },
    ]);

    for (const [error, message] of [
      [{ message: 'overloaded' }, 'acme failed mid-stream: overloaded'],
      [{ code: 'server_error' }, 'acme failed mid-stream: stream failed'],
    ] as const) {
      streamAnswer(sse(created, { error }));
      const failed = await failure(
        events(adapter({ responses: true }).streamNative('responses', { kind: 'json', json: {} }, target, signal())),
      );
      expect([failed.kind, failed.message]).toEqual(['server_error', message]);
    }
    streamAnswer('data: {"type":\n\n');
    const invalid = await failure(
      events(adapter({ responses: true }).streamNative('responses', { kind: 'json', json: {} }, target, signal())),
    );
    expect([invalid.kind, invalid.message]).toEqual([
      'invalid_response',
      'acme sent a stream event that is not a chunk: {"type":',
    ]);
  });
});
