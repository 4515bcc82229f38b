import type { FastifyInstance } from 'fastify';
import { completeResponse, openResponseStream } from '../gateway/responses/responses-calls.js';
import { parseResponsesRequest } from '../gateway/responses/responses-request.js';
import { replyToCall } from './call-replies.js';
import type { CallRouteServices } from './chat-routes.js';

/** `POST /v1/responses`: OpenAI's Responses API, JSON and streamed, billed like every call. */
export function registerResponsesRoutes(app: FastifyInstance, services: CallRouteServices): void {
  app.post(
    '/v1/responses',
    {
      schema: {
        tags: ['calls'],
        summary: "Create a model response (OpenAI's Responses API), billed from the caller's credits",
        description:
          'Passed through to upstreams that serve the Responses API (OpenAI, OpenRouter, Groq, xAI); translated through chat ' +
          'completions for the others (Anthropic, Gemini, chat-only gateways: text, function tools, streaming). `usage` carries ' +
          '`cost`; streamed, the `response.completed` event does. `Idempotency-Key` makes a retry replay the first answer.',
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', maxLength: 255 } } },
        // Documentation only: the body is checked by its parser (Ajv would coerce `"model": 123` to "123").
        body: { type: 'object', additionalProperties: true, properties: { model: { description: 'the model name (a string)' } } },
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const caller = await services.authenticator.caller(request.headers.authorization, request.headers);
      const body = parseResponsesRequest(request.body);
      await replyToCall(services.idempotency, caller, request, reply, request.body, (options) =>
        body.stream
          ? openResponseStream(services.pipeline, body, caller, options)
          : completeResponse(services.pipeline, body, caller, options),
      );
    },
  );
}
