/**
 * Fetching one provider feed: bounded in time and in size, so a hanging or runaway endpoint can never stall
 * the scheduler or fill the memory of a gateway that is serving calls at the same time.
 */

/** The largest feed accepted. LiteLLM's map, the biggest public feed, was 0.9 MB in 2025 and 1.6 MB in 2026. */
export const DEFAULT_MAX_FEED_BYTES = 32 * 1024 * 1024;

export class FeedFetchError extends Error {
  constructor(
    readonly url: string,
    message: string,
  ) {
    super(`${url}: ${message}`);
    this.name = 'FeedFetchError';
  }
}

export interface FetchFeedOptions {
  timeoutMs: number;
  maxBytes?: number | undefined;
  /** Ends the fetch early (the gateway is stopping). */
  signal?: AbortSignal | undefined;
}

/**
 * Reads a feed's body as text. The timeout covers the whole exchange (connect, headers and body), not just
 * the first byte: a server that sends headers and then stalls is a timeout too.
 * @throws FeedFetchError on a non-2xx status, a timeout, a network error, or a body over `maxBytes`.
 */
export async function fetchFeed(url: string, options: FetchFeedOptions): Promise<string> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FEED_BYTES;
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new FeedFetchError(url, 'not a valid URL');
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new FeedFetchError(url, `only http and https feeds are fetched, not ${parsedUrl.protocol}`);
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const stop = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    const response = await fetch(parsedUrl, { signal: controller.signal, headers: { accept: 'application/json' } });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new FeedFetchError(url, `HTTP ${response.status} ${response.statusText}`.trim());
    }
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new FeedFetchError(url, `the feed is ${declared} bytes, over the ${maxBytes}-byte limit`);
    }
    return await readBounded(response, url, maxBytes);
  } catch (error) {
    if (error instanceof FeedFetchError) throw error;
    if (timedOut) throw new FeedFetchError(url, `no complete response within ${options.timeoutMs} ms`);
    if (options.signal?.aborted) throw new FeedFetchError(url, 'fetch stopped: the price sync is shutting down');
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new FeedFetchError(url, `fetch failed: ${cause}`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
  }
}

async function readBounded(response: Response, url: string, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FeedFetchError(url, `the feed is over the ${maxBytes}-byte limit`);
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}
