import { once } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PricingCatalog } from '../catalog/snapshot.js';
import { completeChat, openChatStream, type JsonReply } from '../gateway/chat-calls.js';
import { parseChatRequest } from '../gateway/chat-request.js';
import type { IdempotentCalls, StoredReply } from '../gateway/idempotent-calls.js';
import type { CallPipeline } from '../gateway/pipeline.js';
import type { Authenticator } from './auth.js';

export interface ChatRouteServices {
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
export function registerChatRoutes(app: FastifyInstance, services: ChatRouteServices): void {
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
      await services.authenticator.caller(request.headers.authorization);
      return {
        object: 'list',
        data: services.catalog.listModels().map((model) => ({
          id: model.id,
          object: 'model',
          created: Math.floor((model.price.effectiveFrom?.getTime() ?? 0) / 1000),
          owned_by: model.providerId,
          context_window: model.contextWindow ?? null,
          max_output_tokens: model.maxOutputTokens ?? null,
          pricing: {
            currency: 'USD',
            unit: 'per token',
            price_version: model.price.version ?? null,
            ...Object.fromEntries(Object.entries(model.price.rates).map(([key, value]) => [snakeCase(key), value.toString()])),
          },
        })),
      };
    },
  );
}

async function handleChat(services: ChatRouteServices, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const caller = await services.authenticator.caller(request.headers.authorization);
  const body = parseChatRequest(request.body);
  const controller = new AbortController();
  // The client going away mid-call aborts the upstream call; settlement then bills what was generated.
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const idempotencyKey = headerValue(request.headers['idempotency-key']);
  const run = services.idempotency.begin(caller, idempotencyKey, request.body);
  const started = await run.start();
  if (started.kind === 'replay') return sendReplay(reply, started.reply);
  const options = { signal: controller.signal, requestId: started.requestId };
  try {
    if (!body.stream) {
      const result = await completeChat(services.pipeline, body, caller, options);
      await run.complete({ kind: 'json', ...result });
      return sendJson(reply, result);
    }
    const stream = await openChatStream(services.pipeline, body, caller, options);
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...stream.headers,
    });
    const frames: string[] = [];
    let completed = false;
    for await (const frame of stream.frames) {
      frames.push(frame);
      if (frame === 'data: [DONE]\n\n') completed = true;
      if (!(await write(reply, frame))) break; // the client left; the relay's finally settles the call
    }
    if (!reply.raw.destroyed) reply.raw.end();
    if (completed) await run.complete({ kind: 'sse', statusCode: 200, headers: stream.headers, frames });
    else await run.abandon();
  } catch (error) {
    await run.abandon();
    throw error;
  }
}

function sendJson(reply: FastifyReply, result: JsonReply): void {
  void reply.code(result.statusCode).headers(result.headers).type('application/json; charset=utf-8').send(result.body);
}

function sendReplay(reply: FastifyReply, stored: StoredReply): void {
  const headers = { ...stored.headers, 'x-tollgate-idempotent-replay': 'true' };
  if (stored.kind === 'json') {
    void reply.code(stored.statusCode).headers(headers).type('application/json; charset=utf-8').send(stored.body);
    return;
  }
  void reply.code(200).headers(headers).type('text/event-stream; charset=utf-8').send(stored.frames.join(''));
}

async function write(reply: FastifyReply, frame: string): Promise<boolean> {
  const raw = reply.raw;
  if (raw.destroyed || raw.writableEnded) return false;
  if (raw.write(frame)) return true;
  await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
  return !raw.destroyed;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text && text.trim() !== '' ? text.trim() : undefined;
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z0-9]+/g, (part) => `_${part.toLowerCase()}`);
}
