import type { Redis } from 'ioredis';

/** One target's rate limits (a key, or an account of the caller's team chain). */
export interface RateSubject {
  limitId: string;
  level: 'account' | 'key' | 'end_user';
  name: string;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** What a call took from its subjects' windows, to correct at settlement and to give back. */
export interface RateTicket {
  readonly window: number;
  readonly subjects: readonly RateSubject[];
  readonly tokens: number;
  /** The `x-ratelimit-*` headers of the call's answer: the tightest of its subjects. */
  readonly headers: Record<string, string>;
}

export type RateLimitKind = 'requests' | 'tokens' | 'concurrency';

/** The call would pass a rate limit: 429 `rate_limit_exceeded`, with headers and when to retry. */
export class RateLimitExceededError extends Error {
  constructor(
    readonly subject: RateSubject,
    readonly kind: RateLimitKind,
    readonly retryAfterMs: number,
    readonly headers: Record<string, string>,
  ) {
    const limit = kind === 'requests' ? subject.rpm : kind === 'tokens' ? subject.tpm : subject.concurrency;
    super(
      `rate limit exceeded: the ${subject.level.replace('_', ' ')} ${subject.name} allows ` +
        (kind === 'concurrency' ? `${limit} concurrent calls` : `${limit} ${kind} per minute`) +
        `; retry after ${Math.ceil(retryAfterMs / 1000)} s`,
    );
    this.name = 'RateLimitExceededError';
  }
}

export const WINDOW_MS = 60_000;

/** Counts of one subject as a limiter read them when admitting a call (before it). */
interface Counts {
  requests: number;
  tokens: number;
  concurrent: number;
}

/**
 * Requests and tokens per minute, and concurrent calls. Minutes are fixed windows (aligned on the clock's
 * minute): the (N+1)th request of a window is refused until the next one starts. Tokens are counted at the
 * hold with the call's estimate (prompt plus its output limit) and corrected at settlement with the usage,
 * within the window the call started in. In memory this is exact for one instance; with Redis (`REDIS_URL`)
 * every instance counts in the same keys, in one script per call, so the limits hold across instances.
 */
export interface RateLimiter {
  /** @throws RateLimitExceededError */
  acquire(subjects: readonly RateSubject[], tokens: number, now: number): Promise<RateTicket>;
  /** The call used `actualTokens`; it is no longer in flight. */
  settle(ticket: RateTicket, actualTokens: number): Promise<void>;
  close(): Promise<void>;
}

/** The exact limiter of one instance. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { window: number; requests: number; tokens: number }>();
  private readonly concurrent = new Map<string, number>();

  async acquire(subjects: readonly RateSubject[], tokens: number, now: number): Promise<RateTicket> {
    const window = Math.floor(now / WINDOW_MS);
    const counts = subjects.map((subject): Counts => {
      const current = this.windows.get(subject.limitId);
      const same = current && current.window === window;
      return {
        requests: same ? current.requests : 0,
        tokens: same ? current.tokens : 0,
        concurrent: this.concurrent.get(subject.limitId) ?? 0,
      };
    });
    const decided = decide(subjects, counts, tokens, now);
    for (const subject of subjects) {
      const current = this.windows.get(subject.limitId);
      const entry = current && current.window === window ? current : { window, requests: 0, tokens: 0 };
      entry.requests += 1;
      entry.tokens += tokens;
      this.windows.set(subject.limitId, entry);
      if (subject.concurrency !== null) this.concurrent.set(subject.limitId, (this.concurrent.get(subject.limitId) ?? 0) + 1);
    }
    return { window, subjects, tokens, headers: decided };
  }

  async settle(ticket: RateTicket, actualTokens: number): Promise<void> {
    for (const subject of ticket.subjects) {
      const current = this.windows.get(subject.limitId);
      if (current && current.window === ticket.window)
        current.tokens = Math.max(0, current.tokens + actualTokens - ticket.tokens);
      if (subject.concurrency !== null) {
        const left = (this.concurrent.get(subject.limitId) ?? 1) - 1;
        if (left <= 0) this.concurrent.delete(subject.limitId);
        else this.concurrent.set(subject.limitId, left);
      }
    }
  }

  async close(): Promise<void> {
    this.windows.clear();
    this.concurrent.clear();
  }
}

/**
 * The Redis limiter: one Lua script reads every subject's counters, refuses or counts the call in all of
 * them, atomically across instances. Keys expire two windows after their minute; a concurrency counter
 * expires after `concurrencyTtlSeconds` without a call, so a crashed instance's calls do not hold slots forever.
 */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix?: string; concurrencyTtlSeconds?: number } = {},
  ) {
    redis.defineCommand('tollgateRateAcquire', { numberOfKeys: 0, lua: ACQUIRE_SCRIPT });
  }

  async acquire(subjects: readonly RateSubject[], tokens: number, now: number): Promise<RateTicket> {
    const window = Math.floor(now / WINDOW_MS);
    const args: Array<string | number> = [window, tokens, this.options.concurrencyTtlSeconds ?? 600, subjects.length];
    for (const subject of subjects) {
      args.push(this.key(subject.limitId), subject.rpm ?? 0, subject.tpm ?? 0, subject.concurrency ?? 0);
    }
    const raw = (await (
      this.redis as unknown as { tollgateRateAcquire(...values: Array<string | number>): Promise<number[]> }
    ).tollgateRateAcquire(...args)) as number[];
    const counts: Counts[] = subjects.map((_, index) => ({
      requests: Number(raw[1 + index * 3]),
      tokens: Number(raw[2 + index * 3]),
      concurrent: Number(raw[3 + index * 3]),
    }));
    // The script counted the call only if it passed; decide() throws the same refusal it made.
    const headers = decide(subjects, counts, tokens, now);
    return { window, subjects, tokens, headers };
  }

  async settle(ticket: RateTicket, actualTokens: number): Promise<void> {
    const pipeline = this.redis.multi();
    for (const subject of ticket.subjects) {
      const key = this.key(subject.limitId);
      if (actualTokens !== ticket.tokens) pipeline.incrby(`${key}:${ticket.window}:tok`, actualTokens - ticket.tokens);
      if (subject.concurrency !== null) pipeline.decr(`${key}:conc`);
    }
    await pipeline.exec();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
  }

  private key(limitId: string): string {
    return `${this.options.prefix ?? 'tollgate:rate'}:${limitId}`;
  }
}

/**
 * ARGV: window, tokens, concurrency ttl, n, then per subject: key, rpm, tpm, concurrency (0 = none).
 * Returns {admitted (1/0), then per subject: requests, tokens, concurrent as they were before this call}.
 */
const ACQUIRE_SCRIPT = `
local window = ARGV[1]
local tokens = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local out = {1}
local ok = true
for i = 0, n - 1 do
  local key = ARGV[5 + i * 4]
  local rpm = tonumber(ARGV[6 + i * 4])
  local tpm = tonumber(ARGV[7 + i * 4])
  local conc = tonumber(ARGV[8 + i * 4])
  local requests = tonumber(redis.call('GET', key .. ':' .. window .. ':req') or '0')
  local used = tonumber(redis.call('GET', key .. ':' .. window .. ':tok') or '0')
  local current = tonumber(redis.call('GET', key .. ':conc') or '0')
  if current < 0 then current = 0 end
  if (rpm > 0 and requests + 1 > rpm) or (tpm > 0 and used + tokens > tpm) or (conc > 0 and current + 1 > conc) then ok = false end
  table.insert(out, requests)
  table.insert(out, used)
  table.insert(out, current)
end
if ok then
  for i = 0, n - 1 do
    local key = ARGV[5 + i * 4]
    local conc = tonumber(ARGV[8 + i * 4])
    redis.call('INCR', key .. ':' .. window .. ':req')
    redis.call('EXPIRE', key .. ':' .. window .. ':req', 120)
    redis.call('INCRBY', key .. ':' .. window .. ':tok', tokens)
    redis.call('EXPIRE', key .. ':' .. window .. ':tok', 120)
    if conc > 0 then
      redis.call('INCR', key .. ':conc')
      redis.call('EXPIRE', key .. ':conc', ttl)
    end
  end
else
  out[1] = 0
end
return out
`;

/**
 * Refuses the call (the first subject and limit it would pass) or returns the headers of its answer: the
 * limit and what remains after it for the tightest subject, requests and tokens apart.
 * @throws RateLimitExceededError
 */
function decide(
  subjects: readonly RateSubject[],
  counts: readonly Counts[],
  tokens: number,
  now: number,
): Record<string, string> {
  const resetMs = WINDOW_MS - (now % WINDOW_MS);
  let requests: { limit: number; remaining: number } | undefined;
  let tokenLimit: { limit: number; remaining: number } | undefined;
  for (const [index, subject] of subjects.entries()) {
    const count = counts[index]!;
    if (subject.rpm !== null) {
      const remaining = subject.rpm - count.requests - 1;
      if (remaining < 0) throw refusal(subject, 'requests', resetMs, subjects, counts, now);
      if (!requests || remaining < requests.remaining) requests = { limit: subject.rpm, remaining };
    }
    if (subject.tpm !== null) {
      const remaining = subject.tpm - count.tokens - tokens;
      if (remaining < 0) throw refusal(subject, 'tokens', resetMs, subjects, counts, now);
      if (!tokenLimit || remaining < tokenLimit.remaining) tokenLimit = { limit: subject.tpm, remaining };
    }
    if (subject.concurrency !== null && count.concurrent + 1 > subject.concurrency) {
      throw refusal(subject, 'concurrency', 1_000, subjects, counts, now);
    }
  }
  return rateHeaders(requests, tokenLimit, resetMs);
}

function refusal(
  subject: RateSubject,
  kind: RateLimitKind,
  retryAfterMs: number,
  subjects: readonly RateSubject[],
  counts: readonly Counts[],
  now: number,
): RateLimitExceededError {
  const resetMs = WINDOW_MS - (now % WINDOW_MS);
  let requests: { limit: number; remaining: number } | undefined;
  let tokens: { limit: number; remaining: number } | undefined;
  for (const [index, each] of subjects.entries()) {
    const count = counts[index]!;
    if (each.rpm !== null) {
      const remaining = Math.max(0, each.rpm - count.requests);
      if (!requests || remaining < requests.remaining) requests = { limit: each.rpm, remaining };
    }
    if (each.tpm !== null) {
      const remaining = Math.max(0, each.tpm - count.tokens);
      if (!tokens || remaining < tokens.remaining) tokens = { limit: each.tpm, remaining };
    }
  }
  const headers = {
    ...rateHeaders(requests, tokens, resetMs),
    'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
  };
  return new RateLimitExceededError(subject, kind, retryAfterMs, headers);
}

function rateHeaders(
  requests: { limit: number; remaining: number } | undefined,
  tokens: { limit: number; remaining: number } | undefined,
  resetMs: number,
): Record<string, string> {
  const reset = duration(resetMs);
  return {
    ...(requests
      ? {
          'x-ratelimit-limit-requests': String(requests.limit),
          'x-ratelimit-remaining-requests': String(Math.max(0, requests.remaining)),
          'x-ratelimit-reset-requests': reset,
        }
      : {}),
    ...(tokens
      ? {
          'x-ratelimit-limit-tokens': String(tokens.limit),
          'x-ratelimit-remaining-tokens': String(Math.max(0, tokens.remaining)),
          'x-ratelimit-reset-tokens': reset,
        }
      : {}),
  };
}

/** OpenAI's duration form: `1m0s`, `12s`, `250ms`. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.ceil(ms / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${seconds % 60}s` : `${seconds}s`;
}
