import {
  MemoryRateLimiter,
  RateLimitExceededError,
  type RateLimitKind,
  type RateLimiter,
  type RateSubject,
  type RateTicket,
} from './rate-limits.js';

/**
 * Rate limits shared by the workers of one `tollgate serve --workers N` without Redis: the primary process
 * keeps the one exact in-memory limiter, and each worker asks it over the cluster's IPC channel (messages on
 * one channel arrive in order, so a call's settlement always follows its admission). Only calls of a key or
 * account that has a rate limit ask; the others never leave the worker. With `REDIS_URL` set the workers use
 * Redis instead, like separate instances.
 */

/** Worker → primary. */
export type RateRequest =
  | { type: 'tollgate:rate'; op: 'acquire'; id: number; subjects: RateSubject[]; tokens: number; now: number }
  | { type: 'tollgate:rate'; op: 'settle'; id: number; actualTokens: number };

/** Primary → worker, for an acquire. */
export type RateReply =
  | { type: 'tollgate:rate'; id: number; window: number; headers: Record<string, string> }
  | {
      type: 'tollgate:rate';
      id: number;
      refusal: { subject: number; kind: RateLimitKind; retryAfterMs: number; headers: Record<string, string> };
    }
  | { type: 'tollgate:rate'; id: number; error: string };

interface TicketWithId extends RateTicket {
  readonly id: number;
}

/** The worker's side: a RateLimiter whose counts live in the primary. */
export class WorkerRateLimiter implements RateLimiter {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(ticket: RateTicket): void; reject(error: Error): void; subjects: RateSubject[]; tokens: number }>();

  constructor(private readonly send: (message: RateRequest) => void) {}

  /** Feed every message from the primary here; returns true when it was this limiter's. */
  receive(message: unknown): boolean {
    if (!isRateMessage(message)) return false;
    const reply = message as RateReply;
    const request = this.pending.get(reply.id);
    if (!request) return true;
    this.pending.delete(reply.id);
    if ('error' in reply) request.reject(new Error(`rate limits (primary process): ${reply.error}`));
    else if ('refusal' in reply) {
      const { subject, kind, retryAfterMs, headers } = reply.refusal;
      request.reject(new RateLimitExceededError(request.subjects[subject]!, kind, retryAfterMs, headers));
    } else {
      const ticket: TicketWithId = { id: reply.id, window: reply.window, subjects: request.subjects, tokens: request.tokens, headers: reply.headers };
      request.resolve(ticket);
    }
    return true;
  }

  acquire(subjects: readonly RateSubject[], tokens: number, now: number): Promise<RateTicket> {
    const id = this.nextId++;
    return new Promise<RateTicket>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, subjects: [...subjects], tokens });
      try {
        this.send({ type: 'tollgate:rate', op: 'acquire', id, subjects: [...subjects], tokens, now });
      } catch (error) {
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  async settle(ticket: RateTicket, actualTokens: number): Promise<void> {
    this.send({ type: 'tollgate:rate', op: 'settle', id: (ticket as TicketWithId).id, actualTokens });
  }

  async close(): Promise<void> {
    for (const request of this.pending.values()) request.reject(new Error('rate limits: the worker is closing'));
    this.pending.clear();
  }
}

/**
 * The primary's side: one exact limiter for every worker. `forget(worker)` settles what a dead worker still
 * had in flight (at its estimate), so its concurrency slots are not held forever.
 */
export class PrimaryRateLimits {
  private readonly limiter = new MemoryRateLimiter();
  /** Per worker, its admitted calls not yet settled, by the worker's id for them. */
  private readonly open = new Map<number, Map<number, RateTicket>>();

  async handle(worker: number, request: RateRequest, reply: (message: RateReply) => void): Promise<void> {
    let tickets = this.open.get(worker);
    if (!tickets) this.open.set(worker, (tickets = new Map()));
    if (request.op === 'settle') {
      const ticket = tickets.get(request.id);
      if (!ticket) return;
      tickets.delete(request.id);
      await this.limiter.settle(ticket, request.actualTokens);
      return;
    }
    try {
      const ticket = await this.limiter.acquire(request.subjects, request.tokens, request.now);
      tickets.set(request.id, ticket);
      reply({ type: 'tollgate:rate', id: request.id, window: ticket.window, headers: ticket.headers });
    } catch (error) {
      if (error instanceof RateLimitExceededError) {
        const subject = request.subjects.findIndex((candidate) => candidate.limitId === error.subject.limitId);
        reply({
          type: 'tollgate:rate',
          id: request.id,
          refusal: { subject: Math.max(0, subject), kind: error.kind, retryAfterMs: error.retryAfterMs, headers: error.headers },
        });
      } else reply({ type: 'tollgate:rate', id: request.id, error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** A worker died: what it admitted and never settled is settled at the estimate it was admitted with. */
  async forget(worker: number): Promise<void> {
    const tickets = this.open.get(worker);
    this.open.delete(worker);
    for (const ticket of tickets?.values() ?? []) await this.limiter.settle(ticket, ticket.tokens);
  }
}

export function isRateMessage(message: unknown): message is RateRequest | RateReply {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'tollgate:rate';
}
