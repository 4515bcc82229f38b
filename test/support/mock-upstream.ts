import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody, loadRecordings, withoutUsage, type MockApi, type Recording } from './mock-recordings.js';
import { drainedOrClosed } from '../../src/util/drained.js';
import { keepConnectionsOpen } from './loopback.js';

/**
 * A loopback upstream speaking OpenAI (`POST /v1/chat/completions`), Anthropic (`POST /v1/messages`) and
 * Gemini (`POST /v1beta/models/<model>:generateContent` and `:streamGenerateContent?alt=sse`), replaying
 * recorded real responses.
 *
 * The scenario of a request is, first match wins: the `x-mock-scenario` header; the next scenario queued
 * with `queue()`; the requested model when it is a scenario name or `mock-<scenario>`; `setDefault()`'s;
 * `text`. Recorded scenarios: text, reasoning, cache-hit, cache-write, tool-call, xai (OpenAI format),
 * error-400, error-404 (Gemini), rate-limited (Gemini's recorded 429). Scripted ones:
 * - error-500: a 500 in the API's error shape; rate-limited: a 429 with `retry-after: 30` (too long to retry);
 * - rate-limited-once: odd hits answer 429 with `retry-after: 0`, even hits the text recording;
 * - hang-once: odd hits never answer (as hang), even hits the text recording;
 * - inflated-usage (OpenAI JSON): the text recording with its usage fields replaced by `inflatedUsage`;
 * - advisor (Anthropic, JSON or stream): the text recording with the recorded usage of a call that consulted
 *   Anthropic's advisor tool (see `advisorUsage` in mock-recordings.ts);
 * - hang: headers never sent (for timeouts);
 * - no-usage: the text recording (JSON or stream) with every usage field removed; malformed: a 200 whose body is
 *   not JSON;
 * - stalled-stream: the first part of the text stream (see `firstPart`), then nothing until the client goes away;
 * - error-mid-stream: the first part of the text stream (see `firstPart`), then an error event in the API's shape
 *   (OpenAI's chat sends a data event carrying `error`, Anthropic and the Responses API an `error` event: see
 *   `midStreamError`) and the end: an upstream that fails
 *   after the 200, having generated part of an answer;
 * - ended-mid-stream: the first part of the text stream, then the end, with no error and no final event (the
 *   usage, `[DONE]`, `message_stop`, `response.completed`): a stream cut off cleanly;
 * - stalled-before-text, error-before-text: the same with only the events before the first text (the role),
 *   so nothing was generated when the stream stalls or fails;
 * - flood-stream: the text stream's first content event, its text made 2 KiB long, repeated until the client
 *   stops reading or goes away (at most FLOOD_EVENTS of them), then the rest of the recording: a client that
 *   stops reading holds the gateway's response on backpressure;
 * - long-stream: the same with LONG_STREAM_EVENTS of those events, then the rest of the recording (its usage):
 *   longer than what the sockets between a paused client and the upstream hold;
 * - spaced-stream: the text stream with each payload written with a space after every colon and comma (as
 *   Python's json.dumps writes it), and "é" as `\u00e9`: an upstream whose own spelling a relay must keep;
 * - plain-text (transcriptions): the text recording's `text` as `text/plain`, a line of its own, as OpenAI
 *   answers a transcription asked for with `response_format: text`.
 */
export interface RecordedRequest {
  api: MockApi;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  scenario: string;
  stream: boolean;
}

export interface MockUpstream {
  /** http://127.0.0.1:<port>; OpenAI and Anthropic base URLs are `${url}/v1`, Gemini's `${url}/v1beta`. */
  url: string;
  requests: RecordedRequest[];
  /** Responses fully written, and responses whose client went away first. */
  counts: { completed: number; aborted: number };
  /** The last flood-stream or long-stream: events written so far, and whether it is waiting for its reader to drain. */
  flood: { sent: number; waiting: boolean };
  queue(...scenarios: string[]): void;
  setDefault(scenario: string | undefined): void;
  /** The usage fields the inflated-usage scenario reports (e.g. 10^12 completion tokens). */
  inflatedUsage: Record<string, unknown>;
  /** Resolves once `aborted` reaches `count` (the client's disconnect reached the upstream). */
  waitForAborted(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once `requests` holds `count` requests. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export const SCRIPTED_SCENARIOS = [
  'error-500',
  'rate-limited',
  'rate-limited-once',
  'hang-once',
  'inflated-usage',
  'hang',
  'no-usage',
  'malformed',
  'stalled-stream',
  'error-mid-stream',
  'ended-mid-stream',
  'stalled-before-text',
  'error-before-text',
  'flood-stream',
  'long-stream',
  'spaced-stream',
  'plain-text',
];

/** The most events a flood-stream sends: 2 KiB each, 64 MiB in all, far past any socket buffer. */
export const FLOOD_EVENTS = 32_768;

/**
 * How many 2 KiB events a long-stream sends before the recording's last events: 32 MiB, four times what the
 * sockets between a paused client and the upstream were seen to hold (a flood-stream's upstream waited after
 * 2,338–3,787 events).
 */
export const LONG_STREAM_EVENTS = 16_384;

/** How long a wait on the mock gives up after: only a hang, never a slow machine, gets that far. */
const WAIT_LIMIT_MS = 120_000;

export async function startMockUpstream(): Promise<MockUpstream> {
  const recordings = loadRecordings();
  const known = new Set([...SCRIPTED_SCENARIOS, ...Object.values(recordings).flatMap((byName) => Object.keys(byName))]);
  const queued: string[] = [];
  const hits = new Map<string, number>();
  const sockets = new Set<import('node:net').Socket>();
  let defaultScenario: string | undefined;
  // Emits 'change' whenever a request arrives or a response ends, for the waits below.
  const changes = new EventEmitter();

  const waitUntil = async (reached: () => boolean, describe: () => string, timeoutMs: number) => {
    if (reached()) return;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        await once(changes, 'change', { signal: timeout });
        if (reached()) return;
      }
    } catch (error) {
      if (timeout.aborted) throw new Error(describe());
      throw error;
    }
  };

  const mock: MockUpstream = {
    url: '',
    requests: [],
    counts: { completed: 0, aborted: 0 },
    flood: { sent: 0, waiting: false },
    inflatedUsage: {},
    queue: (...scenarios) => void queued.push(...scenarios),
    setDefault: (scenario) => void (defaultScenario = scenario),
    waitForAborted: (count, timeoutMs = WAIT_LIMIT_MS) =>
      waitUntil(
        () => mock.counts.aborted >= count,
        () => `mock upstream saw ${mock.counts.aborted} aborted responses, expected ${count}`,
        timeoutMs,
      ),
    waitForRequests: (count, timeoutMs = WAIT_LIMIT_MS) =>
      waitUntil(
        () => mock.requests.length >= count,
        () => `mock upstream saw ${mock.requests.length} requests, expected ${count}`,
        timeoutMs,
      ),
    reset() {
      mock.requests.length = 0;
      mock.counts.completed = 0;
      mock.counts.aborted = 0;
      mock.flood = { sent: 0, waiting: false };
      queued.length = 0;
      hits.clear();
      defaultScenario = undefined;
    },
    async close() {
      server.close();
      for (const socket of sockets) socket.destroy();
      await once(server, 'close');
    },
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`mock upstream failed: ${String(error)}`);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const route = routeOf(request);
    const text = await readBytes(request);
    if (!route) {
      response.writeHead(404, { 'content-type': 'application/json' }).end(errorBody('openai', 404, `no route ${request.url}`));
      return;
    }
    const body = await parseBody(request, text);
    const model = route.model ?? String(body.model ?? '');
    const stream = route.api === 'gemini' ? route.stream : body.stream === true;
    const scenario = chooseScenario(request.headers['x-mock-scenario'], model);
    mock.requests.push({ api: route.api, path: request.url ?? '', headers: request.headers, body, scenario, stream });
    changes.emit('change');
    const hit = (hits.get(scenario) ?? 0) + 1;
    hits.set(scenario, hit);
    response.on('close', () => {
      if (response.writableFinished) mock.counts.completed += 1;
      else mock.counts.aborted += 1;
      changes.emit('change');
    });
    await respond(route.api, scenario, hit, stream, response);
  }

  function chooseScenario(header: string | string[] | undefined, model: string): string {
    if (typeof header === 'string' && header !== '') return header;
    const next = queued.shift();
    if (next !== undefined) return next;
    const named = model.replace(/^(models\/)?mock-/, '');
    if (known.has(named)) return named;
    return defaultScenario ?? 'text';
  }

  async function respond(api: MockApi, scenario: string, hit: number, stream: boolean, response: ServerResponse): Promise<void> {
    const recorded = (name: string): Recording => recordings[api][name] ?? (recordings[api].text as Recording);
    switch (scenario) {
      case 'hang':
        return; // Headers never come; the client's timeout or abort closes the socket.
      case 'hang-once':
        if (hit % 2 === 1) return;
        return respond(api, 'text', hit, stream, response);
      case 'inflated-usage': {
        const body = JSON.parse(recorded('text').json!.body) as { usage: Record<string, unknown> };
        body.usage = { ...body.usage, ...mock.inflatedUsage };
        sendJson(response, 200, JSON.stringify(body));
        return;
      }
      case 'malformed':
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "truncated');
        return;
      case 'error-500':
        sendJson(response, 500, errorBody(api, 500, 'The server had an error while processing your request.'));
        return;
      case 'rate-limited-once':
        if (hit % 2 === 1) {
          sendJson(response, 429, errorBody(api, 429, 'Rate limit reached, retry shortly.'), { 'retry-after': '0' });
          return;
        }
        return respond(api, 'text', hit, stream, response);
      case 'rate-limited': {
        const recordedBody =
          recordings[api]['rate-limited']?.json?.body ?? errorBody(api, 429, 'Rate limit reached for requests.');
        sendJson(response, 429, recordedBody, { 'retry-after': '30' });
        return;
      }
      case 'no-usage':
        if (stream) return sendStream(response, withoutUsage(recorded('text').stream ?? []));
        sendJson(response, 200, withoutUsageJson(recorded('text').json!.body));
        return;
      case 'stalled-stream':
        return sendStream(response, firstPart(recorded('text').stream ?? []), { end: false });
      case 'stalled-before-text':
        return sendStream(response, beforeText(recorded('text').stream ?? []), { end: false });
      case 'ended-mid-stream':
        return sendStream(response, firstPart(recorded('text').stream ?? []));
      case 'error-mid-stream':
      case 'error-before-text': {
        const blocks = recorded('text').stream ?? [];
        sendStream(response, scenario === 'error-mid-stream' ? firstPart(blocks) : beforeText(blocks), { end: false });
        response.end(midStreamError(api, scenario === 'error-mid-stream' ? firstPart(blocks).length : beforeText(blocks).length));
        return;
      }
      case 'flood-stream':
      case 'long-stream':
        mock.flood = { sent: 0, waiting: false };
        return sendFlood(
          response,
          recorded('text').stream ?? [],
          mock.flood,
          scenario === 'long-stream' ? LONG_STREAM_EVENTS : FLOOD_EVENTS,
        );
      case 'spaced-stream':
        return sendStream(response, spaced(recorded('text').stream ?? []));
      case 'plain-text': {
        const { text } = JSON.parse(recorded('text').json!.body) as { text: string };
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
        return;
      }
    }
    const recording = recorded(scenario);
    if (stream && recording.stream) return sendStream(response, recording.stream);
    const json = recording.json ?? (recorded('text').json as { status: number; body: string });
    sendJson(response, json.status, json.body);
  }

  keepConnectionsOpen(server).listen(0, '127.0.0.1');
  await once(server, 'listening');
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mock;
}

function routeOf(request: IncomingMessage): { api: MockApi; model?: string; stream: boolean } | undefined {
  if (request.method !== 'POST' || request.url === undefined) return undefined;
  const path = request.url.split('?')[0] ?? '';
  if (path === '/v1/chat/completions') return { api: 'openai', stream: false };
  if (path === '/v1/messages') return { api: 'anthropic', stream: false };
  if (path === '/v1/responses') return { api: 'responses', stream: false };
  if (path === '/v1/embeddings') return { api: 'embeddings', stream: false };
  if (path === '/v1/completions') return { api: 'completions', stream: false };
  if (path === '/v1/audio/transcriptions') return { api: 'transcriptions', stream: false };
  if (path === '/v1/images/generations') return { api: 'images', stream: false };
  const embed = /^\/v1beta\/models\/([^:]+):batchEmbedContents$/.exec(path);
  if (embed) return { api: 'gemini-embeddings', model: decodeURIComponent(embed[1] ?? ''), stream: false };
  const gemini = /^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent)$/.exec(path);
  if (gemini) return { api: 'gemini', model: decodeURIComponent(gemini[1] ?? ''), stream: gemini[2] === 'streamGenerateContent' };
  return undefined;
}

function sendJson(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
}

function sendStream(response: ServerResponse, blocks: string[], options: { end: boolean } = { end: true }): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const block of blocks) response.write(block);
  if (options.end) response.end();
}

/** The error event an API sends after its 200, `sequence` events into the stream (see error-mid-stream). */
export function midStreamError(api: MockApi, sequence: number): string {
  const message = 'The server had an error while processing your request.';
  // The Responses API's own stream error event (its streaming reference: type, code, message, param, sequence_number).
  if (api === 'responses') {
    const event = { type: 'error', sequence_number: sequence, code: 'server_error', message, param: null };
    return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
  }
  const failure = errorBody(api, 500, message);
  return api === 'anthropic' ? `event: error\ndata: ${failure}\n\n` : `data: ${failure}\n\n`;
}

/**
 * What the stalled and failing streams send before they stall or fail: the first half of the recording's
 * events, and at least its first two events with text (Anthropic's recorded stream opens with three events
 * that carry none), so a client always has content before the stream stops.
 */
/** The events before the first that carries text (OpenAI's role chunk, Anthropic's message_start...). */
export function beforeText(blocks: string[]): string[] {
  const firstText = blocks.findIndex((block) => TEXT_EVENT.test(block));
  return blocks.slice(0, Math.max(1, firstText));
}

const TEXT_EVENT = /"(?:content|text)": ?"[^"]/;

export function firstPart(blocks: string[]): string[] {
  const withText = blocks.flatMap((block, index) => (TEXT_EVENT.test(block) ? [index] : []));
  const end = Math.max(Math.floor(blocks.length / 2), (withText[1] ?? withText[0] ?? 0) + 1);
  return blocks.slice(0, end);
}

/** See `flood-stream`: one recorded content event, its text made long, written as fast as the reader takes it. */
async function sendFlood(
  response: ServerResponse,
  blocks: string[],
  flood: MockUpstream['flood'],
  events: number,
): Promise<void> {
  const contentAt = blocks.findIndex((block) => /"content":"[^"]+"/.test(block));
  if (contentAt < 0) throw new Error('flood-stream needs a recording with a content event');
  const filler = 'All work and no play makes a dull stream. '.repeat(48).slice(0, 2048);
  const event = blocks[contentAt]!.replace(/"content":"[^"]+"/, () => `"content":${JSON.stringify(filler)}`);
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const block of blocks.slice(0, contentAt)) response.write(block);
  for (let sent = 0; sent < events; sent += 1) {
    if (response.destroyed) return;
    flood.sent = sent + 1;
    if (!response.write(event)) {
      flood.waiting = true;
      await drainedOrClosed(response);
      flood.waiting = false;
    }
  }
  if (response.destroyed) return;
  for (const block of blocks.slice(contentAt + 1)) response.write(block);
  response.end();
}

/** A JSON recording with its usage removed (OpenAI `usage`, Anthropic `usage`, Gemini `usageMetadata`). */
function withoutUsageJson(body: string): string {
  const payload = JSON.parse(body) as Record<string, unknown>;
  delete payload.usage;
  delete payload.usageMetadata;
  return JSON.stringify(payload);
}

async function readBytes(request: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of request) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/**
 * A JSON body, or a multipart form (transcriptions) read by the platform's own parser: its text fields, and
 * the file as `{ name, type, size }` so tests can check what reached the upstream.
 */
async function parseBody(request: IncomingMessage, bytes: Buffer): Promise<Record<string, unknown>> {
  const contentType = String(request.headers['content-type'] ?? '');
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
    const body: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      body[name] = typeof value === 'string' ? value : { name: value.name, type: value.type, size: value.size };
    }
    return body;
  }
  const text = bytes.toString('utf8');
  return (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
}

/** Each data payload of `blocks` spelled with spaces after colons and commas, and non-ASCII letters escaped. */
export function spaced(blocks: string[]): string[] {
  return blocks.map((block) => {
    const match = /^data: ?(.*)$/m.exec(block);
    if (!match || match[1]?.trim() === '[DONE]') return block;
    // Indented, then joined on one line: JSON's own newlines are all between tokens (a string holds "\n").
    const text = JSON.stringify(JSON.parse(match[1] ?? ''), null, 1)
      .replace(/\n */g, ' ')
      .replace(/[\u0080-\uffff]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
    return block.replace(match[0], () => `data: ${text}`);
  });
}
