import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryRateLimiter,
  RateLimitExceededError,
  RedisRateLimiter,
  duration,
  type RateLimiter,
  type RateSubject,
} from './rate-limits.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Mid-minute on a controlled clock: every call of a case is in one window, then the next. */
const NOW = Date.parse('2026-11-29T22:00:15Z');

const subject = (limits: Partial<RateSubject>): RateSubject => ({
  limitId: `lim_${Math.random().toString(36).slice(2)}`,
  level: 'key',
  name: 'tg_test',
  rpm: null,
  tpm: null,
  concurrency: null,
  ...limits,
});

/** The same cases against one in-memory limiter, and against two Redis limiters (two instances) sharing the counts. */
const cases: Array<{ name: string; make(): Promise<RateLimiter[]> }> = [
  {
    name: 'in memory (one instance)',
    async make() {
      const one = new MemoryRateLimiter();
      return [one, one];
    },
  },
  {
    name: 'on Redis (two instances)',
    async make() {
      const prefix = `tollgate-test:${process.pid}:${Date.now()}`;
      return [new RedisRateLimiter(new Redis(REDIS_URL), { prefix }), new RedisRateLimiter(new Redis(REDIS_URL), { prefix })];
    },
  },
];

describe.each(cases)('rate limits $name', ({ make }) => {
  let limiters: RateLimiter[];
  beforeAll(async () => {
    limiters = await make();
  });
  afterAll(async () => {
    for (const limiter of new Set(limiters)) await limiter.close();
  });

  it('requests per minute: N calls pass across the instances, the (N+1)th is refused until the next minute', async () => {
    const limited = subject({ rpm: 4 });
    const remaining: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const ticket = await limiters[index % 2]!.acquire([limited], 10, NOW);
      remaining.push(ticket.headers['x-ratelimit-remaining-requests']!);
    }
    expect(remaining).toEqual(['3', '2', '1', '0']);
    const refusal = await limiters[0]!.acquire([limited], 10, NOW).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RateLimitExceededError);
    expect((refusal as RateLimitExceededError).headers).toMatchObject({
      'x-ratelimit-limit-requests': '4',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '45s',
      'retry-after': '45',
    });
    await expect(limiters[1]!.acquire([limited], 10, NOW)).rejects.toBeInstanceOf(RateLimitExceededError);
    await limiters[1]!.acquire([limited], 10, NOW + 45_000);
  });

  it('concurrent requests racing both instances: exactly N of the window pass', async () => {
    const limited = subject({ rpm: 25 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, index) => limiters[index % 2]!.acquire([limited], 1, NOW)),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(25);
  });

  it('tokens per minute are estimated at the hold and corrected at settlement', async () => {
    const limited = subject({ tpm: 100 });
    const first = await limiters[0]!.acquire([limited], 60, NOW);
    await expect(limiters[1]!.acquire([limited], 60, NOW)).rejects.toBeInstanceOf(RateLimitExceededError);
    await limiters[0]!.settle(first, 20);
    const second = await limiters[1]!.acquire([limited], 60, NOW);
    expect(second.headers['x-ratelimit-remaining-tokens']).toBe('20');
  });

  it('concurrency: a slot frees when its call settles', async () => {
    const limited = subject({ concurrency: 2 });
    const a = await limiters[0]!.acquire([limited], 1, NOW);
    await limiters[1]!.acquire([limited], 1, NOW);
    const refusal = await limiters[0]!.acquire([limited], 1, NOW).then(
      () => undefined,
      (error: unknown) => error as RateLimitExceededError,
    );
    expect(refusal?.kind).toBe('concurrency');
    await limiters[0]!.settle(a, 1);
    await limiters[1]!.acquire([limited], 1, NOW);
  });

  it('the tightest of several subjects (a key and its team) decides, and is the one the headers show', async () => {
    const key = subject({ rpm: 10 });
    const team = subject({ rpm: 2, level: 'account', name: 'team' });
    const ticket = await limiters[0]!.acquire([key, team], 1, NOW);
    expect(ticket.headers['x-ratelimit-limit-requests']).toBe('2');
    await limiters[1]!.acquire([key, team], 1, NOW);
    const refusal = await limiters[0]!.acquire([key, team], 1, NOW).then(
      () => undefined,
      (error: unknown) => error as RateLimitExceededError,
    );
    expect(refusal?.subject.name).toBe('team');
    // The refused call counted nowhere: the key has 8 left.
    const keyOnly = await limiters[1]!.acquire([key], 1, NOW);
    expect(keyOnly.headers['x-ratelimit-remaining-requests']).toBe('7');
  });
});

describe('duration', () => {
  it("writes OpenAI's form", () => {
    expect([duration(250), duration(12_000), duration(60_000), duration(61_500)]).toEqual(['250ms', '12s', '1m0s', '1m2s']);
  });
});
