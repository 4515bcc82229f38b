import { describe, expect, it } from 'vitest';
import { RateLimitExceededError, type RateSubject } from './rate-limits.js';
import { isRateMessage, PrimaryRateLimits, WorkerRateLimiter, type RateReply, type RateRequest } from './shared-rate-limits.js';

/** Two workers wired to one primary as the cluster's IPC would, each message delivered in order. */
function cluster() {
  const primary = new PrimaryRateLimits();
  const workers = [1, 2].map((id) => {
    const limiter: WorkerRateLimiter = new WorkerRateLimiter((request: RateRequest) => {
      // Through JSON, as IPC carries it.
      const sent = JSON.parse(JSON.stringify(request)) as RateRequest;
      void primary.handle(id, sent, (reply: RateReply) => limiter.receive(JSON.parse(JSON.stringify(reply))));
    });
    return limiter;
  });
  return { primary, workers };
}

const key: RateSubject = { limitId: 'limit_key', level: 'key', name: 'tg_abc', rpm: 3, tpm: null, concurrency: null };
const NOW = Date.parse('2026-11-30T10:00:05Z');

describe('rate limits shared by the workers through the primary', () => {
  it('counts every worker in one window: the 4th request of an RPM of 3 is refused on whichever worker', async () => {
    const { workers } = cluster();
    await workers[0]!.acquire([key], 0, NOW);
    await workers[1]!.acquire([key], 0, NOW);
    const third = await workers[0]!.acquire([key], 0, NOW);
    expect(third.headers['x-ratelimit-remaining-requests']).toBe('0');
    const refusal = await workers[1]!.acquire([key], 0, NOW).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RateLimitExceededError);
    expect((refusal as RateLimitExceededError).kind).toBe('requests');
    expect((refusal as RateLimitExceededError).subject).toEqual(key);
    expect((refusal as RateLimitExceededError).headers['retry-after']).toBeDefined();
    // The next minute serves again.
    await expect(workers[1]!.acquire([key], 0, NOW + 60_000)).resolves.toMatchObject({ window: Math.floor((NOW + 60_000) / 60_000) });
  });

  it('a dead worker gives its concurrency slots back; a settled call frees its slot for the other worker', async () => {
    const { primary, workers } = cluster();
    const single: RateSubject = { ...key, limitId: 'limit_one', rpm: null, concurrency: 1 };
    const held = await workers[0]!.acquire([single], 10, NOW);
    await expect(workers[1]!.acquire([single], 10, NOW)).rejects.toMatchObject({ kind: 'concurrency' });
    await workers[0]!.settle(held, 10);
    const again = await workers[1]!.acquire([single], 10, NOW);
    expect(again.window).toBe(Math.floor(NOW / 60_000));
    // Worker 2 dies with that call in flight: the primary settles it, and worker 1 is admitted.
    await primary.forget(2);
    await expect(workers[0]!.acquire([single], 10, NOW)).resolves.toBeDefined();
  });

  it('recognises only its own messages', () => {
    expect(isRateMessage({ type: 'tollgate:rate', id: 1 })).toBe(true);
    expect(isRateMessage({ type: 'tollgate:metrics', id: 1 })).toBe(false);
    expect(isRateMessage(null)).toBe(false);
    expect(new WorkerRateLimiter(() => undefined).receive({ type: 'tollgate:metrics', id: 0 })).toBe(false);
  });
});
