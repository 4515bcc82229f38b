/**
 * The one error catalog of the HTTP edge: every error leaves the gateway in OpenAI's shape
 * `{"error": {"message", "type", "code", "param"}}` with its status decided here, so SDKs map them
 * to their own exception classes (openai-node: 402 → APIError, 404 → NotFoundError, 429 → RateLimitError...).
 */
export type ErrorCode =
  | 'invalid_request'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'forbidden'
  | 'insufficient_credits'
  | 'account_suspended'
  | 'model_not_found'
  | 'not_found'
  | 'idempotency_conflict'
  | 'idempotency_in_progress'
  | 'rate_limited'
  | 'rate_limit_exceeded'
  | 'budget_exceeded'
  | 'model_not_allowed'
  | 'key_expired'
  | 'upstream_error'
  | 'upstream_timeout'
  | 'upstream_not_configured'
  | 'service_unavailable'
  | 'client_closed'
  | 'internal_error';

const CATALOG: Record<ErrorCode, { status: number; type: string }> = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  insufficient_credits: { status: 402, type: 'insufficient_credits' },
  account_suspended: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'not_found_error' },
  idempotency_conflict: { status: 422, type: 'invalid_request_error' },
  idempotency_in_progress: { status: 409, type: 'conflict_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 402, type: 'insufficient_quota' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  key_expired: { status: 401, type: 'authentication_error' },
  upstream_error: { status: 502, type: 'upstream_error' },
  upstream_timeout: { status: 504, type: 'upstream_error' },
  upstream_not_configured: { status: 502, type: 'upstream_error' },
  service_unavailable: { status: 503, type: 'server_error' },
  // The client went away before the answer (nobody reads it; 499 as proxies log it): not the gateway's fault.
  client_closed: { status: 499, type: 'client_closed' },
  internal_error: { status: 500, type: 'server_error' },
};

export class GatewayError extends Error {
  readonly status: number;
  readonly type: string;
  /** Sent as `Retry-After` (seconds): when a retry of the same request may succeed. */
  readonly retryAfterSeconds: number | undefined;
  /** Headers of the refusal besides Retry-After (a rate limit's `x-ratelimit-*`). */
  private readonly extraHeaders: Record<string, string>;
  /** Fields the body's `error` carries besides OpenAI's four: which limit refused, its level, when it resets. */
  readonly details: Record<string, unknown> | undefined;
  /**
   * The call's id, for a call that got as far as its hold (its failure is recorded under this id): sent as
   * `x-tollgate-request-id`, as a successful call's response is, so the client can name the call it saw fail.
   */
  requestId: string | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param?: string,
    status?: number,
    options: { retryAfterSeconds?: number; headers?: Record<string, string>; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.status = status ?? CATALOG[code].status;
    this.type = CATALOG[code].type;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.extraHeaders = options.headers ?? {};
    this.details = options.details;
  }

  /** Headers the error's response carries besides its body. */
  headers(): Record<string, string> {
    return {
      ...this.extraHeaders,
      ...(this.retryAfterSeconds === undefined ? {} : { 'retry-after': String(this.retryAfterSeconds) }),
      ...(this.requestId === undefined ? {} : { 'x-tollgate-request-id': this.requestId }),
    };
  }

  toBody(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, code: this.code, param: this.param ?? null, ...(this.details ?? {}) },
    };
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

export function errorBody(code: ErrorCode, message: string, param?: string): OpenAIErrorBody {
  return new GatewayError(code, message, param).toBody();
}

/** The database cannot be reached: the same request will work once it is back. */
/** A request that arrived while this gateway shuts down: nothing was done, a retry (here after the restart, or elsewhere) may succeed. */
export function shuttingDown(): GatewayError {
  return new GatewayError(
    'service_unavailable',
    'the gateway is shutting down, so the call was not made; retry shortly',
    undefined,
    undefined,
    { retryAfterSeconds: 1 },
  );
}

export function serviceUnavailable(): GatewayError {
  return new GatewayError(
    'service_unavailable',
    'the billing database is unreachable, so the call cannot be billed and was not made; retry shortly',
    undefined,
    undefined,
    { retryAfterSeconds: 1 },
  );
}
