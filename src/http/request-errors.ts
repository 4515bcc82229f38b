import type { FastifyError } from 'fastify';
import { GatewayError } from '../gateway/errors.js';
import { validationErrorBody } from './validation-errors.js';

/**
 * Fastify's refusals of a request (a body that is not JSON, a schema that does not match, a body too large)
 * as the gateway's errors, with `param` naming the field at fault as OpenAI's errors do (`model` for a
 * missing model, `messages.0.role`). Undefined for an error that is not the request's fault.
 */
export function requestError(error: FastifyError): GatewayError | undefined {
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return new GatewayError('invalid_request', `the request body is not valid JSON: ${error.message}`);
  }
  if (error.validation) {
    const { message, param } = validationErrorBody(error).error;
    return new GatewayError('invalid_request', message, param ?? undefined);
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new GatewayError('invalid_request', error.message, undefined, error.statusCode);
  }
  return undefined;
}
