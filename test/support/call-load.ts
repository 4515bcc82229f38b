import { Agent, request } from 'undici';

/** What a bounded load saw: the request ids of the answers that were 2xx, and how every other call ended. */
export interface LoadResult {
  /** x-tollgate-request-id of every 2xx answer received in full. */
  served: string[];
  /** Count per HTTP status (2xx included). */
  statuses: Record<number, number>;
  /** Calls that got no complete answer: refused or reset connections, a body cut short. */
  networkErrors: number;
  calls: number;
}

export interface LoadOptions {
  url: string;
  key: string;
  concurrency: number;
  /** Hard bound on the calls made, so a loop always ends. */
  maxCalls: number;
  /** The load stops when this is aborted (or at maxCalls). */
  signal: AbortSignal;
  body?: Record<string, unknown>;
  /** Called after every completed call (for a test that waits for progress). */
  onCall?(result: LoadResult): void;
  /** Pause after a network error, so a stopped gateway is not hammered in a tight loop. */
  errorPauseMs?: number;
}

const DEFAULT_BODY = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 20 };

/**
 * Chat completions from `concurrency` loops, each call awaited in full (a 2xx counts only once its whole body
 * has arrived, as a client would). Bounded by `maxCalls` and stopped by `signal`.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { served: [], statuses: {}, networkErrors: 0, calls: 0 };
  const dispatcher = new Agent({ connections: options.concurrency, keepAliveTimeout: 1_000 });
  const body = JSON.stringify(options.body ?? DEFAULT_BODY);
  const worker = async () => {
    while (!options.signal.aborted && result.calls < options.maxCalls) {
      result.calls += 1;
      try {
        const response = await request(`${options.url}/v1/chat/completions`, {
          method: 'POST',
          dispatcher,
          headers: { authorization: `Bearer ${options.key}`, 'content-type': 'application/json' },
          body,
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
        });
        await response.body.text();
        result.statuses[response.statusCode] = (result.statuses[response.statusCode] ?? 0) + 1;
        if (response.statusCode >= 200 && response.statusCode < 300) {
          result.served.push(String(response.headers['x-tollgate-request-id']));
        }
      } catch {
        result.networkErrors += 1;
        await new Promise((resolve) => setTimeout(resolve, options.errorPauseMs ?? 20));
      }
      options.onCall?.(result);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await dispatcher.close();
  }
  return result;
}

/** Resolves once `predicate` holds for the load's progress (checked after each call), or rejects after `timeoutMs`. */
export function progress(): {
  onCall(result: LoadResult): void;
  until(predicate: (result: LoadResult) => boolean, timeoutMs?: number): Promise<void>;
} {
  let waiters: Array<{ predicate: (result: LoadResult) => boolean; resolve(): void }> = [];
  return {
    onCall(result) {
      waiters = waiters.filter((waiter) => {
        if (!waiter.predicate(result)) return true;
        waiter.resolve();
        return false;
      });
    },
    until(predicate, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`load progress not reached within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}
