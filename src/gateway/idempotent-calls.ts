import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database.js';
import { GatewayError } from './errors.js';
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
  completeIdempotentRequest,
  DEFAULT_CLAIM_EXPIRY,
  hashRequest,
  type ClaimExpiry,
} from '../ledger/idempotency.js';
import type { Logger } from '../logging/logger.js';
import type { Caller } from './pipeline.js';

/** What a first call answered, kept to replay it for a retry with the same Idempotency-Key. */
export type StoredReply =
  | { kind: 'json'; statusCode: number; headers: Record<string, string>; body: string; contentType?: string }
  | { kind: 'sse'; statusCode: number; headers: Record<string, string>; frames: string[] };

export type StartedCall = { kind: 'run'; requestId: string } | { kind: 'replay'; reply: StoredReply };

export interface IdempotentRun {
  /**
   * Whether `complete` keeps the reply (the call came with an Idempotency-Key): a stream's frames are collected
   * for it only then, not held in memory to the stream's end for nothing.
   */
  readonly keeps: boolean;
  /** @throws GatewayError idempotency_conflict (same key, other request) or idempotency_in_progress. */
  start(): Promise<StartedCall>;
  complete(reply: StoredReply): Promise<void>;
  /** The call failed: free the key so a retry runs again (nothing was charged). */
  abandon(): Promise<void>;
}

/**
 * `Idempotency-Key` handling: a retry after a success replays the first response and charges nothing
 * more; the same key with a different request is refused (Formance: key plus a hash of the inputs).
 */
export class IdempotentCalls {
  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    /** The gateway instance that claims keys (a claim of a dead instance is taken over), and when claims expire. */
    private readonly owner: { instanceId?: string; expiry?: ClaimExpiry } = {},
  ) {}

  begin(caller: Caller, key: string | undefined, body: unknown): IdempotentRun {
    const requestId = `req_${randomUUID().replaceAll('-', '')}`;
    if (!key) {
      return {
        keeps: false,
        start: async () => ({ kind: 'run', requestId }),
        complete: async () => undefined,
        abandon: async () => undefined,
      };
    }
    const scope = { accountId: caller.accountId, key };
    let begun = false;
    return {
      keeps: true,
      start: async () => {
        const outcome = await beginIdempotentRequest(
          this.db,
          {
            ...scope,
            requestHash: hashRequest(body),
            requestId,
            ...(this.owner.instanceId ? { ownerId: this.owner.instanceId } : {}),
          },
          this.owner.expiry ?? DEFAULT_CLAIM_EXPIRY,
        );
        switch (outcome.kind) {
          case 'new':
            begun = true;
            return { kind: 'run', requestId };
          case 'replay':
            return { kind: 'replay', reply: outcome.response as StoredReply };
          case 'conflict':
            throw new GatewayError(
              'idempotency_conflict',
              'this Idempotency-Key was already used with a different request body',
              'Idempotency-Key',
            );
          case 'in_progress':
            throw new GatewayError(
              'idempotency_in_progress',
              'a request with this Idempotency-Key is still in progress; retry when it has finished',
            );
        }
      },
      complete: async (reply) => {
        if (begun) await completeIdempotentRequest(this.db, { ...scope, statusCode: reply.statusCode, response: reply });
      },
      abandon: async () => {
        if (!begun) return;
        await abandonIdempotentRequest(this.db, scope).catch((error: unknown) => {
          this.logger.error({ err: error, accountId: caller.accountId }, 'could not free an idempotency key');
        });
      },
    };
  }
}
