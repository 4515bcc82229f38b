import type { FastifyError } from 'fastify';
import { errorBody, type OpenAIErrorBody } from '../gateway/errors.js';
import { clip } from '../util/input-checks.js';

/**
 * A schema validation failure in OpenAI's error shape, the field named in `param` by its path (`name`,
 * `messages.0.role`), as Ajv names it by a JSON pointer (`/name`) or, for a missing one, in its params.
 */
export function validationErrorBody(error: FastifyError): OpenAIErrorBody {
  const first = error.validation?.[0];
  const param = first?.instancePath
    ? first.instancePath.slice(1).replaceAll('/', '.')
    : first?.params && 'missingProperty' in first.params
      ? String(first.params.missingProperty)
      : undefined;
  return errorBody('invalid_request', `invalid request: ${clip(error.message, 300)}`, param);
}
