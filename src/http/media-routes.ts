import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createCompletion, openCompletionStream, parseCompletionsRequest } from '../gateway/completions-calls.js';
import { createEmbeddings, parseEmbeddingsRequest } from '../gateway/embeddings-calls.js';
import { GatewayError } from '../gateway/errors.js';
import { generateImages, parseImagesRequest } from '../gateway/image-calls.js';
import { createTranscription, MAX_AUDIO_BYTES, transcriptionRequest } from '../gateway/transcription-calls.js';
import type { UploadedFile } from '../providers/types.js';
import { replyToCall } from './call-replies.js';
import type { CallRouteServices } from './chat-routes.js';

const idempotencyHeader = { type: 'object', properties: { 'idempotency-key': { type: 'string', maxLength: 255 } } } as const;
const jsonBody = { type: 'object', additionalProperties: true } as const;

/**
 * The OpenAI routes for models that are not chat models, each billed like every call: embeddings (per input
 * token), legacy completions, audio transcriptions (per second of audio or per token) and image generations
 * (per image, by size and quality).
 */
export async function registerMediaRoutes(app: FastifyInstance, services: CallRouteServices): Promise<void> {
  const { pipeline, authenticator, idempotency } = services;

  app.post(
    '/v1/embeddings',
    {
      schema: {
        tags: ['calls'],
        summary: 'Create embeddings, priced per input token; `usage.cost` carries the charge',
        headers: idempotencyHeader,
        body: jsonBody,
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const caller = await authenticator.caller(request.headers.authorization, request.headers);
      const body = parseEmbeddingsRequest(request.body);
      await replyToCall(idempotency, caller, request, reply, request.body, (options) =>
        createEmbeddings(pipeline, body, caller, options),
      );
    },
  );

  app.post(
    '/v1/completions',
    {
      schema: {
        tags: ['calls'],
        summary: 'Create a legacy text completion (OpenAI-compatible upstreams), JSON or streamed',
        headers: idempotencyHeader,
        body: jsonBody,
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const caller = await authenticator.caller(request.headers.authorization, request.headers);
      const body = parseCompletionsRequest(request.body);
      await replyToCall(idempotency, caller, request, reply, request.body, (options) =>
        body.stream ? openCompletionStream(pipeline, body, caller, options) : createCompletion(pipeline, body, caller, options),
      );
    },
  );

  app.post(
    '/v1/images/generations',
    {
      schema: {
        tags: ['calls'],
        summary: 'Generate images, priced per image by size and quality; `usage.cost` carries the charge',
        headers: idempotencyHeader,
        body: jsonBody,
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const caller = await authenticator.caller(request.headers.authorization, request.headers);
      const body = parseImagesRequest(request.body);
      await replyToCall(idempotency, caller, request, reply, request.body, (options) =>
        generateImages(pipeline, body, caller, options),
      );
    },
  );

  await app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: MAX_AUDIO_BYTES, files: 1, fields: 32 } });
    scope.post(
      '/v1/audio/transcriptions',
      {
        schema: {
          tags: ['calls'],
          summary: 'Transcribe audio (multipart: file, model, ...), priced per second of audio or per token',
          description:
            'The duration comes from the upstream, else from the file itself; `usage.cost` (or, for text formats, `x-tollgate-cost`) carries the charge.',
          headers: idempotencyHeader,
          security: [{ bearer: [] }],
        },
      },
      async (request, reply) => {
        const caller = await authenticator.caller(request.headers.authorization, request.headers);
        const { fields, file } = await readForm(request);
        const body = await transcriptionRequest(fields, file);
        // The same key with another file is another request: the file's bytes are part of what is hashed.
        const identity = { fields, file: file ? { name: file.filename, bytes: file.bytes.toString('base64') } : null };
        await replyToCall(idempotency, caller, request, reply, identity, (options) =>
          createTranscription(pipeline, body, caller, options),
        );
      },
    );
  });
}

/** The form's text fields (repeated names, `timestamp_granularities[]`, as lists) and its one file. @throws GatewayError */
async function readForm(
  request: FastifyRequest,
): Promise<{ fields: Record<string, string | string[]>; file: UploadedFile | undefined }> {
  if (!request.isMultipart())
    throw new GatewayError('invalid_request', 'a transcription is a multipart/form-data request with a file part', 'file');
  const fields: Record<string, string | string[]> = {};
  let file: UploadedFile | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        file = { filename: part.filename, contentType: part.mimetype, bytes: await part.toBuffer() };
        continue;
      }
      const value = String(part.value);
      const existing = fields[part.fieldname];
      fields[part.fieldname] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new GatewayError('invalid_request', `the audio file is larger than ${MAX_AUDIO_BYTES} bytes`, 'file', 413);
    }
    throw new GatewayError('invalid_request', `the multipart body could not be read: ${(error as Error).message}`);
  }
  return { fields, file };
}
