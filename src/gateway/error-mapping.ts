import { isDatabaseUnavailable } from '../db/database-errors.js';
import { GatewayError, serviceUnavailable } from './errors.js';
import {
  AccountNotFoundError,
  AccountSuspendedError,
  IdempotencyConflictError,
  InsufficientCreditsError,
} from '../ledger/errors.js';
import { UpstreamError } from '../providers/types.js';

/**
 * Maps anything a call can throw to the gateway's error catalog: status and retryability are decided
 * here and nowhere else (STYLE habit 7).
 */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof InsufficientCreditsError) {
    return new GatewayError(
      'insufficient_credits',
      `insufficient credits: this call needs up to ${error.needed.toString()} ${error.unit} held and ${error.available.toString()} ${error.unit} are available`,
    );
  }
  if (error instanceof AccountSuspendedError) return new GatewayError('account_suspended', 'the account is suspended');
  if (error instanceof AccountNotFoundError) return new GatewayError('invalid_api_key', 'the API key belongs to no account');
  if (error instanceof IdempotencyConflictError) return new GatewayError('idempotency_conflict', error.message);
  if (error instanceof UpstreamError) {
    switch (error.kind) {
      case 'rate_limited':
        return new GatewayError('rate_limited', `the upstream provider is rate limiting: ${error.message}`);
      case 'timeout':
        return new GatewayError('upstream_timeout', `the upstream provider did not answer in time: ${error.message}`);
      case 'bad_request':
        return new GatewayError('invalid_request', `the upstream provider refused the request: ${error.message}`);
      case 'not_found':
        return new GatewayError('model_not_found', `the upstream provider does not know the model: ${error.message}`, 'model');
      case 'not_configured':
        return new GatewayError('upstream_not_configured', error.message);
      default:
        return new GatewayError('upstream_error', `the upstream provider failed: ${error.message}`);
    }
  }
  if (isDatabaseUnavailable(error)) return serviceUnavailable();
  return new GatewayError('internal_error', 'internal error in the gateway; the call was not charged');
}
