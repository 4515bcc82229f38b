import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../gateway/errors.js';
import { anthropicErrorBody } from '../gateway/messages/messages-errors.js';
import { completeMessage, openMessageStream } from '../gateway/messages/messages-calls.js';
import { parseMessagesRequest } from '../gateway/messages/messages-request.js';
import { ANTHROPIC_FORWARDED_HEADERS } from '../providers/anthropic/anthropic-adapter.js';
import { replyToCall, headerValue } from './call-replies.js';
import type { CallRouteServices } from './chat-routes.js';
import { requestError } from './request-errors.js';

/**
 * `POST /v1/messages`: Anthropic's Messages API, so the official `@anthropic-ai/sdk` and Claude Code work with
 * a base URL change. Authenticated by `x-api-key` (Anthropic's header) or a bearer token; errors in
 * Anthropic's shape, from a scope of its own.
 */
export async function registerMessagesRoutes(
  app: FastifyInstance,
  services: CallRouteServices & { unavailable(error: unknown): GatewayError | undefined },
): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError | GatewayError, _request, reply) => {
      const mapped = error instanceof GatewayError ? error : (services.unavailable(error) ?? requestError(error));
      if (!mapped) throw error; // not a request's fault: the app's handler logs it and answers 500
      return reply.code(mapped.status).headers(mapped.headers()).send(anthropicErrorBody(mapped));
    });
    scope.post(
      '/v1/messages',
      {
        schema: {
          tags: ['calls'],
          summary: "Create a message (Anthropic's Messages API), billed from the caller's credits",
          description:
            'Passed through to Anthropic (cache writes and reads priced at their own rates); translated through chat completions ' +
            'for other providers. Send the key as `x-api-key` or `Authorization: Bearer`. `usage` carries `cost`; streamed, the ' +
            "`message_delta` event does. Errors have Anthropic's shape. `Idempotency-Key` makes a retry replay the first answer.",
          headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', maxLength: 255 } } },
          // Documentation only: the body is checked by its parser (Ajv would coerce `"model": 123` to "123").
          body: {
            type: 'object',
            additionalProperties: true,
            properties: { model: { description: 'the model name (a string)' } },
          },
          security: [{ bearer: [] }],
        },
      },
      async (request, reply) => {
        const caller = await services.authenticator.caller(authorizationOf(request), request.headers, { apiKeyHeader: true });
        const body = parseMessagesRequest(request.body);
        const forwardHeaders: Record<string, string> = {};
        for (const name of ANTHROPIC_FORWARDED_HEADERS) {
          const value = headerValue(request.headers[name]);
          if (value !== undefined) forwardHeaders[name] = value;
        }
        await replyToCall(services.idempotency, caller, request, reply, request.body, (options) =>
          body.stream
            ? openMessageStream(services.pipeline, body, caller, { ...options, forwardHeaders })
            : completeMessage(services.pipeline, body, caller, { ...options, forwardHeaders }),
        );
      },
    );
  });
}

/** Anthropic's clients send the key as `x-api-key`; a bearer token works as on every other route. */
function authorizationOf(request: FastifyRequest): string | undefined {
  const apiKey = headerValue(request.headers['x-api-key']);
  return apiKey !== undefined ? `Bearer ${apiKey}` : request.headers.authorization;
}
