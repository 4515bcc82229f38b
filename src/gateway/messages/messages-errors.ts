import type { GatewayError } from '../errors.js';

/**
 * The gateway's errors in Anthropic's shape for `/v1/messages` (docs.anthropic.com/en/api/errors:
 * `{"type": "error", "error": {"type", "message"}}`), so the official SDK raises its own classes. The
 * gateway's code and the field at fault ride along, as OpenAI's shape carries them.
 */
const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

export function anthropicErrorBody(error: GatewayError): Record<string, unknown> {
  return {
    type: 'error',
    error: { type: TYPES[error.status] ?? 'api_error', message: error.message, code: error.code, param: error.param ?? null },
  };
}
