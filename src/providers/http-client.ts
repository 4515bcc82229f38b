import { Agent, type Dispatcher } from 'undici';
import { UpstreamError, type UpstreamErrorKind } from './types.js';

export interface UpstreamHttpOptions {
  timeoutMs: number;
  connectTimeoutMs: number;
  maxRetries: number;
  /** Tests and benchmarks may pass their own; otherwise one keep-alive Agent (a pool per origin) is created. */
  dispatcher?: Dispatcher;
  /** The longest `retry-after` honoured on a 429 or 503; longer waits are the client's decision. */
  maxRetryAfterMs?: number;
  /** The most bytes read of one answer (a stream's included); past it the call fails instead of filling memory. */
  maxBodyBytes?: number;
}

export interface UpstreamPost {
  /** Names the provider in error messages. */
  providerId: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
  /** Removed from any upstream message we keep (OpenAI echoes part of a wrong key in its 401 message). */
  apiKey: string | undefined;
  /** A body that is not JSON (a multipart form), sent as these bytes with this content type instead of `body`. */
  encoded?: { bytes: Buffer; contentType: string };
}

const DEFAULT_MAX_RETRY_AFTER_MS = 2_000;
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
type Headers = Record<string, string | string[] | undefined>;

/** An answer read whole. */
interface WholeAnswer {
  statusCode: number;
  headers: Headers;
  text: string;
}

/** Upstream URLs are few (a base URL per provider; Gemini's name the model): more than this many is a clear. */
const MAX_PARSED_URLS = 1_000;

/**
 * Upstream HTTP through undici. Every upstream failure becomes an UpstreamError here and only here.
 * Retries only where a second attempt cannot double a charge: nothing was written to the socket
 * (connection refused, or reset before a byte went out), or the upstream refused with 429/503 and a short
 * `retry-after`. Never once response bytes of an accepted call have arrived.
 */
export class UpstreamHttpClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly maxRetries: number;
  private readonly maxRetryAfterMs: number;
  private readonly maxBodyBytes: number;
  /** Parsing a URL is a good part of undici's own work per call; the same few URLs come back every call. */
  private readonly parsedUrls = new Map<string, { origin: string; path: string }>();

  constructor(options: UpstreamHttpOptions) {
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: options.connectTimeoutMs },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        keepAliveTimeout: 30_000,
      });
    this.maxRetries = options.maxRetries;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /**
   * POSTs JSON and parses the JSON answer.
   * @throws UpstreamError (any kind but not_configured); the signal's reason when it aborts.
   */
  async postJson(post: UpstreamPost): Promise<unknown> {
    return (await this.postJsonText(post)).json;
  }

  /**
   * POSTs JSON and answers the parsed JSON with the text it was parsed from (an answer relayed with one member
   * changed is spliced into that text rather than serialised again: see `replaceTopLevelMember`).
   * @throws UpstreamError (any kind but not_configured); the signal's reason when it aborts.
   */
  async postJsonText(post: UpstreamPost): Promise<{ json: unknown; text: string }> {
    const answer = await this.send(
      post,
      (payload) => this.exchange(post, payload),
      async (whole) => whole.text,
    );
    return { json: parseJsonAnswer(answer, post), text: answer.text };
  }

  /**
   * POSTs and returns the answer as JSON when the upstream says it is JSON, else as text (a transcription
   * asked for `response_format: text` or `srt` answers plain text).
   * @throws UpstreamError (any kind but not_configured); the signal's reason when it aborts.
   */
  async postForAnswer(
    post: UpstreamPost,
  ): Promise<{ kind: 'json'; json: unknown } | { kind: 'text'; text: string; contentType: string }> {
    const answer = await this.send(
      post,
      (payload) => this.exchange(post, payload),
      async (whole) => whole.text,
    );
    const contentType = String(answer.headers['content-type'] ?? '');
    if (contentType.includes('json') || contentType === '') return { kind: 'json', json: parseJsonAnswer(answer, post) };
    return { kind: 'text', text: answer.text, contentType };
  }

  /**
   * POSTs JSON and returns the response body as bytes for an SSE parser; errors while reading are mapped too.
   * @throws UpstreamError; the signal's reason when it aborts.
   */
  async postStream(post: UpstreamPost): Promise<AsyncIterable<Uint8Array>> {
    const response = await this.send(
      post,
      (payload) =>
        this.dispatcher.request({
          ...this.parseUrl(post.url),
          method: 'POST',
          signal: post.signal,
          headers: { ...post.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
          body: payload,
        }),
      (answer) => readBody(answer.body, post, this.maxBodyBytes),
    );
    const contentType = String(response.headers['content-type'] ?? '');
    if (!contentType.includes('text/event-stream')) {
      // An upstream that ignores `stream: true` would otherwise look like an empty stream billed at nothing.
      const text = await readBody(response.body, post, this.maxBodyBytes);
      throw new UpstreamError(
        'invalid_response',
        `${post.providerId} answered a streaming request with ${contentType || 'no content type'}: ${redact(text.slice(0, 200), post.apiKey)}`,
        { upstreamStatus: response.statusCode },
      );
    }
    return mapStreamErrors(response.body, post, this.maxBodyBytes);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /**
   * One call with its safe retries: `attempt` posts the payload once, `text` reads an error answer's body.
   * @throws UpstreamError; the signal's reason when it aborts.
   */
  private async send<Answer extends { statusCode: number; headers: Headers }>(
    post: UpstreamPost,
    attempt: (payload: string | Buffer) => Promise<Answer>,
    text: (answer: Answer) => Promise<string>,
  ): Promise<Answer> {
    const payload = post.encoded?.bytes ?? JSON.stringify(post.body);
    for (let tries = 0; ; tries += 1) {
      let answer: Answer;
      try {
        answer = await attempt(payload);
      } catch (error) {
        if (post.signal.aborted) throw post.signal.reason;
        if (tries < this.maxRetries && nothingWasSent(error)) continue;
        throw transportError(error, post);
      }
      if (answer.statusCode < 400) return answer;
      const retryAfter = retryAfterMs(answer.headers['retry-after']);
      const retry =
        (answer.statusCode === 429 || answer.statusCode === 503) &&
        tries < this.maxRetries &&
        retryAfter !== undefined &&
        retryAfter <= this.maxRetryAfterMs;
      const body = await text(answer);
      if (!retry) throw statusError(answer.statusCode, body, post);
      await delay(retryAfter, post.signal);
    }
  }

  /**
   * One POST through the dispatcher, its answer read whole (a JSON call needs all of it). Below undici's
   * `request`, which wraps every call in an async resource and a body stream: measured, the larger part of
   * undici's own time per call.
   * @throws the transport's error (a body cut off included); the signal's reason when it aborts.
   */
  private exchange(post: UpstreamPost, payload: string | Buffer): Promise<WholeAnswer> {
    const { signal } = post;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const options: Dispatcher.DispatchOptions = {
      ...this.parseUrl(post.url),
      method: 'POST',
      headers: { ...post.headers, 'content-type': post.encoded?.contentType ?? 'application/json', accept: 'application/json' },
      body: payload,
    };
    return new Promise((resolve, reject) => {
      let controller: Dispatcher.DispatchController | undefined;
      let statusCode = 0;
      let headers: Headers = {};
      const chunks: Buffer[] = [];
      let received = 0;
      const maxBodyBytes = this.maxBodyBytes;
      // Before the request starts there is no controller yet: onRequestStart sees the signal aborted instead.
      const onAbort = () => controller?.abort(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.dispatcher.dispatch(options, {
        onRequestStart(started) {
          controller = started;
          if (signal.aborted) started.abort(signal.reason as Error);
        },
        onResponseStart(_controller, code, responseHeaders) {
          statusCode = code;
          headers = responseHeaders;
        },
        onResponseData(dispatch, chunk) {
          received += chunk.length;
          if (received > maxBodyBytes) {
            dispatch.abort(tooLarge(post, maxBodyBytes));
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          signal.removeEventListener('abort', onAbort);
          resolve({ statusCode, headers, text: utf8(chunks) });
        },
        onResponseError(_controller, error) {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
    });
  }

  /** What undici's `request(url)` derives from the URL. @throws TypeError for a URL that does not parse. */
  private parseUrl(url: string): { origin: string; path: string } {
    let parsed = this.parsedUrls.get(url);
    if (parsed === undefined) {
      const whole = new URL(url);
      if (whole.protocol !== 'http:' && whole.protocol !== 'https:') throw new TypeError(`not an http(s) URL: ${url}`);
      parsed = { origin: whole.origin, path: `${whole.pathname}${whole.search}` };
      if (this.parsedUrls.size >= MAX_PARSED_URLS) this.parsedUrls.clear();
      this.parsedUrls.set(url, parsed);
    }
    return parsed;
  }
}

/** The JSON of a whole answer. @throws UpstreamError invalid_response when it is not JSON. */
function parseJsonAnswer(answer: WholeAnswer, post: UpstreamPost): unknown {
  try {
    return JSON.parse(answer.text) as unknown;
  } catch (error) {
    throw new UpstreamError('invalid_response', `${post.providerId} answered with a body that is not JSON`, {
      upstreamStatus: answer.statusCode,
      cause: error,
    });
  }
}

/** Maps an HTTP error status and body to the one error catalog (401/403, 404, 429, 5xx, other 4xx). */
export function statusError(status: number, bodyText: string, post: Pick<UpstreamPost, 'providerId' | 'apiKey'>): UpstreamError {
  const kind: UpstreamErrorKind =
    status === 401 || status === 403
      ? 'authentication'
      : status === 404
        ? 'not_found'
        : status === 429
          ? 'rate_limited'
          : status === 408
            ? 'timeout'
            : status >= 500
              ? 'server_error'
              : 'bad_request';
  const message = redact(upstreamMessage(bodyText), post.apiKey);
  return new UpstreamError(kind, `${post.providerId} answered ${status}: ${message}`, { upstreamStatus: status });
}

/** OpenAI `{error:{message}}`, Anthropic `{type:"error",error:{message}}`, Gemini `{error:{message,status}}`. */
function upstreamMessage(bodyText: string): string {
  try {
    const parsed = JSON.parse(bodyText) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof parsed.error === 'object' && typeof parsed.error?.message === 'string') return parsed.error.message;
    if (typeof parsed.error === 'string') return parsed.error;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not JSON (a proxy's HTML page): keep the start of the text.
  }
  const trimmed = bodyText.trim().slice(0, 300);
  return trimmed === '' ? '(empty body)' : trimmed;
}

function redact(message: string, apiKey: string | undefined): string {
  return apiKey && apiKey.length >= 8 ? message.split(apiKey).join('[redacted]') : message;
}

function transportError(error: unknown, post: UpstreamPost): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const codes = errorCodes(error);
  const timeoutCode = codes.find((code) => TIMEOUT_CODES.has(code));
  const detail = error instanceof Error ? error.message : String(error);
  if (timeoutCode !== undefined) {
    return new UpstreamError('timeout', `${post.providerId} did not answer in time (${timeoutCode})`, { cause: error });
  }
  return new UpstreamError('network', `${post.providerId} could not be reached: ${redact(detail, post.apiKey)}`, {
    cause: error,
  });
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** True when the request cannot have reached the upstream: refused, or a socket that wrote no byte. */
function nothingWasSent(error: unknown): boolean {
  const codes = errorCodes(error);
  if (codes.includes('ECONNREFUSED')) return true;
  const socket = (error as { socket?: { bytesWritten?: number } } | undefined)?.socket;
  return codes.includes('UND_ERR_SOCKET') && socket?.bytesWritten === 0;
}

/** The error's code and its cause's (undici wraps the system error). */
function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (
    let current: unknown = error, depth = 0;
    current && depth < 3;
    current = (current as { cause?: unknown }).cause, depth += 1
  ) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

/** The body as UTF-8 text, a leading byte order mark dropped (as undici's `body.text()` does). */
function utf8(chunks: Buffer[]): string {
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return bytes.toString('utf8', start);
}

async function readBody(body: Dispatcher.ResponseData['body'], post: UpstreamPost, maxBodyBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const bytes of mapStreamErrors(body, post, maxBodyBytes)) chunks.push(Buffer.from(bytes));
  return utf8(chunks);
}

async function* mapStreamErrors(
  body: AsyncIterable<Uint8Array>,
  post: UpstreamPost,
  maxBodyBytes: number,
): AsyncGenerator<Uint8Array> {
  let received = 0;
  try {
    for await (const bytes of body) {
      received += bytes.length;
      if (received > maxBodyBytes) throw tooLarge(post, maxBodyBytes);
      yield bytes;
    }
  } catch (error) {
    if (post.signal.aborted) throw post.signal.reason;
    throw transportError(error, post);
  }
}

function tooLarge(post: UpstreamPost, maxBodyBytes: number): UpstreamError {
  return new UpstreamError('invalid_response', `${post.providerId} answered with more than ${maxBodyBytes} bytes`);
}

/** `retry-after` in seconds or as an HTTP date (RFC 9110 §10.2.3). */
function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function delay(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, milliseconds);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
