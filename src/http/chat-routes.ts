import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogModel, PricingCatalog } from '../catalog/snapshot.js';
import { GatewayError } from '../gateway/errors.js';
import { completeChat, openChatStream } from '../gateway/chat-calls.js';
import { parseChatRequest } from '../gateway/chat-request.js';
import type { IdempotentCalls } from '../gateway/idempotent-calls.js';
import type { CallPipeline } from '../gateway/pipeline.js';
import type { Authenticator } from './auth.js';
import { replyToCall } from './call-replies.js';

export interface CallRouteServices {
  pipeline: CallPipeline;
  authenticator: Authenticator;
  idempotency: IdempotentCalls;
  catalog: PricingCatalog;
}

const chatSchema = {
  summary: "Create a chat completion (OpenAI-compatible), billed from the caller's credits",
  description:
    'OpenAI request and response shapes; `stream: true` answers with server-sent events whose last data event carries `usage` with `cost`. ' +
    'Send `Idempotency-Key` to make a retry return the first result without a second charge.',
  headers: {
    type: 'object',
    properties: { 'idempotency-key': { type: 'string', maxLength: 255 } },
  },
  // Documentation only: the body is checked by parseChatRequest (Ajv would coerce `"model": 123` to "123").
  body: {
    type: 'object',
    additionalProperties: true,
    properties: { model: { description: 'the model name (a string)' }, messages: { description: 'the messages (an array)' } },
  },
  security: [{ bearer: [] }],
} as const;

/** The call routes: thin handlers over the gateway services. */
export function registerChatRoutes(app: FastifyInstance, services: CallRouteServices): void {
  const handler = (request: FastifyRequest, reply: FastifyReply) => handleChat(services, request, reply);
  app.post('/v1/chat/completions', { schema: { ...chatSchema, tags: ['calls'] } }, handler);
  // The seed's route: same request, same behaviour.
  app.post(
    '/api/llm/create-and-call',
    { schema: { ...chatSchema, tags: ['calls'], summary: "The seed system's call route: same as /v1/chat/completions" } },
    handler,
  );

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['calls'],
        summary: 'Active models with their current prices (USD per token, exact decimal strings)',
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      await services.authenticator.caller(request.headers.authorization, request.headers);
      return { object: 'list', data: services.catalog.listModels().map(modelJson) };
    },
  );

  app.get(
    '/v1/models/*',
    {
      schema: {
        tags: ['calls'],
        summary: "One model with its current price (the name is resolved as a call's would be: alias, prefix, snapshot)",
        security: [{ bearer: [] }],
      },
    },
    async (request) => {
      await services.authenticator.caller(request.headers.authorization, request.headers);
      const name = decodeURIComponent((request.params as { '*': string })['*']);
      const resolution = services.pipeline.resolveModel(name);
      const model =
        resolution?.modelId !== undefined
          ? services.catalog.listModels().find((candidate) => candidate.id === resolution.modelId)
          : undefined;
      if (!resolution || resolution.source === 'default' || !model) {
        throw new GatewayError('model_not_found', `The model '${name}' does not exist in this gateway's catalog`, 'model');
      }
      return { ...modelJson(model), requested: name, match: resolution.match };
    },
  );
}

/** A catalog model in OpenAI's model shape, with its current price as exact decimal strings. */
function modelJson(model: CatalogModel): Record<string, unknown> {
  const imageRates = model.price.imageRates ?? [];
  return {
    id: model.id,
    object: 'model',
    created: Math.floor((model.price.effectiveFrom?.getTime() ?? 0) / 1000),
    owned_by: model.providerId,
    modality: model.modality,
    context_window: model.contextWindow ?? null,
    max_output_tokens: model.maxOutputTokens ?? null,
    pricing: {
      currency: 'USD',
      unit: 'per token',
      price_version: model.price.version ?? null,
      ...Object.fromEntries(Object.entries(model.price.rates).map(([key, value]) => [snakeCase(key), value.toString()])),
      ...(imageRates.length > 0
        ? {
            image_rates: imageRates.map((entry) => ({
              size: entry.size,
              ...(entry.quality !== undefined ? { quality: entry.quality } : {}),
              rate: entry.rate.toString(),
            })),
          }
        : {}),
    },
  };
}

async function handleChat(services: CallRouteServices, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const caller = await services.authenticator.caller(request.headers.authorization, request.headers);
  const body = parseChatRequest(request.body);
  await replyToCall(services.idempotency, caller, request, reply, request.body, (options) =>
    body.stream
      ? openChatStream(services.pipeline, body, caller, options)
      : completeChat(services.pipeline, body, caller, options),
  );
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z0-9]+/g, (part) => `_${part.toLowerCase()}`);
}
