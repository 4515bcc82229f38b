import { describe, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../db/database-errors.js';
import {
  AccountNotFoundError,
  AccountSuspendedError,
  IdempotencyConflictError,
  InsufficientCreditsError,
} from '../ledger/errors.js';
import { Decimal } from '../money/decimal.js';
import { UpstreamError } from '../providers/types.js';
import { toGatewayError } from './error-mapping.js';
import { errorBody, GatewayError } from './errors.js';

/** What the client gets for each thing a call can throw: the status, and the body in OpenAI's shape. */
function answer(error: unknown) {
  const mapped = toGatewayError(error);
  return { status: mapped.status, headers: mapped.headers(), ...mapped.toBody().error };
}

describe('toGatewayError: one place decides what a failure answers', () => {
  it('the ledger refusals: 402 naming the worst case and what is available, 403 suspended, 401 for a key without account, 422 for a reused key', () => {
    expect(answer(new InsufficientCreditsError('acct_1', Decimal.parse('0.0082144'), Decimal.parse('0.0001'), 'usd'))).toEqual({
      status: 402,
      headers: {},
      type: 'insufficient_credits',
      code: 'insufficient_credits',
      param: null,
      message: 'insufficient credits: this call needs up to 0.0082144 usd held and 0.0001 usd are available',
    });
    expect(answer(new AccountSuspendedError('acct_1'))).toMatchObject({
      status: 403,
      code: 'account_suspended',
      type: 'permission_error',
      message: 'the account is suspended',
    });
    expect(answer(new AccountNotFoundError('acct_1'))).toMatchObject({
      status: 401,
      code: 'invalid_api_key',
      message: 'the API key belongs to no account',
    });
    const reused = new IdempotencyConflictError('key-1');
    expect(answer(reused)).toMatchObject({ status: 422, code: 'idempotency_conflict', message: reused.message });
  });

  it.each([
    ['rate_limited', 429, 'rate_limited', 'the upstream provider is rate limiting: slow down', null],
    ['timeout', 504, 'upstream_timeout', 'the upstream provider did not answer in time: slow down', null],
    ['bad_request', 400, 'invalid_request', 'the upstream provider refused the request: slow down', null],
    ['not_found', 404, 'model_not_found', 'the upstream provider does not know the model: slow down', 'model'],
    ['not_configured', 502, 'upstream_not_configured', 'slow down', null],
    ['server_error', 502, 'upstream_error', 'the upstream provider failed: slow down', null],
    ['network', 502, 'upstream_error', 'the upstream provider failed: slow down', null],
    ['invalid_response', 502, 'upstream_error', 'the upstream provider failed: slow down', null],
  ] as const)('upstream %s answers %i %s', (kind, status, code, message, param) => {
    expect(answer(new UpstreamError(kind, 'slow down'))).toMatchObject({ status, code, message, param });
  });

  it('an unreachable database answers 503 with Retry-After: the call was not made', () => {
    expect(answer(new DatabaseUnavailableError('connection refused'))).toStrictEqual({
      status: 503,
      headers: { 'retry-after': '1' },
      type: 'server_error',
      code: 'service_unavailable',
      param: null,
      message: 'the billing database is unreachable, so the call cannot be billed and was not made; retry shortly',
    });
  });

  it('anything else is a 500 that says the call was not charged', () => {
    // Strictly: no header with an undefined value (no request id before the call has one).
    expect(answer(new TypeError('x is undefined'))).toStrictEqual({
      status: 500,
      headers: {},
      type: 'server_error',
      code: 'internal_error',
      param: null,
      message: 'internal error in the gateway; the call was not charged',
    });
    expect(answer('a string thrown')).toMatchObject({ status: 500, code: 'internal_error' });
  });

  it('a GatewayError passes through as it is', () => {
    const error = new GatewayError('invalid_request', 'messages must be an array', 'messages');
    expect(toGatewayError(error)).toBe(error);
    expect(String(error)).toBe('GatewayError: messages must be an array');
    expect(errorBody('invalid_request', 'messages must be an array', 'messages')).toEqual({
      error: { message: 'messages must be an array', type: 'invalid_request_error', code: 'invalid_request', param: 'messages' },
    });
  });
});
