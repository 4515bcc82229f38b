import { vi } from 'vitest';
import { nextTurn, WAIT_LIMIT_MS } from './wait.js';

/**
 * The waits a writer makes between retries, read from its calls of `setTimeout` (faked, so that a test advances
 * the clock instead of waiting): `fakeRetryTimeouts()` fakes setTimeout and clearTimeout and answers a function
 * giving the n-th wait, once the writer has made it. Timers of 5 s and more are the PostgreSQL pool's own and are
 * not counted; with `from`, only the waits set from that source file are (the database's health probes set
 * timers of their own while it is unreachable). `restoreRetryTimeouts()` (in an `afterEach`) puts the real timers back.
 */
export function fakeRetryTimeouts(options: { from?: string } = {}): (n: number) => Promise<number> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const calls = recordTimeouts();
  return async (n) => {
    const deadline = performance.now() + WAIT_LIMIT_MS;
    for (;;) {
      const waits = calls
        .filter((call) => options.from === undefined || call.stack.includes(options.from))
        .map((call) => call.delay)
        .filter((delay): delay is number => typeof delay === 'number' && delay < 5_000);
      if (waits.length > n) return waits[n]!;
      if (performance.now() > deadline) throw new Error(`no retry wait number ${n}`);
      await nextTurn();
    }
  };
}

/** The recorder first, then the real timers: suites that run after in the same thread (mutation testing) must find the real setTimeout. */
export function restoreRetryTimeouts(): void {
  unrecord?.();
  unrecord = undefined;
  vi.useRealTimers();
}

let unrecord: (() => void) | undefined;

/**
 * Records the delay of every setTimeout call (real or fake) until `restoreRetryTimeouts()` (not vi.spyOn: vitest's spy registry remembers the
 * first setTimeout it wrapped, a fake one here, and would put it back for the suites that follow in one thread).
 * With `from`, only the calls made from that file (its name in the call's stack): a library's own timers of the
 * same length (undici's 30 s keep-alive) are not the wait a test looks for.
 */
export function recordTimeoutDelays(from?: string): () => unknown[] {
  const calls = recordTimeouts();
  return () => calls.filter((call) => from === undefined || call.stack.includes(from)).map((call) => call.delay);
}

function recordTimeouts(): Array<{ delay: unknown; stack: string }> {
  const wrapped = globalThis.setTimeout;
  const calls: Array<{ delay: unknown; stack: string }> = [];
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) => {
    calls.push({ delay, stack: new Error().stack ?? '' });
    return wrapped(callback, delay, ...args);
  }) as typeof setTimeout;
  unrecord = () => {
    globalThis.setTimeout = wrapped;
  };
  return calls;
}
