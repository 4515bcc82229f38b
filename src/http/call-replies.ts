import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonReply, StreamReply } from '../gateway/call-runner.js';
import type { IdempotentCalls, StoredReply } from '../gateway/idempotent-calls.js';
import type { Caller } from '../gateway/pipeline.js';
import { drainedOrClosed } from '../util/drained.js';

/**
 * What every billed route does around its call, whatever its API shape: `Idempotency-Key` (a retry replays
 * the first answer, JSON or the whole event stream, without a second charge), the client's disconnect
 * aborting the upstream call (settlement then bills what was generated), and writing the answer or the
 * stream. The route only parses its request and picks the codec.
 */
export async function replyToCall(
  idempotency: IdempotentCalls,
  caller: Caller,
  request: FastifyRequest,
  reply: FastifyReply,
  /** What identifies the request for the idempotency check: its body (a hash of it is kept). */
  idempotencyBody: unknown,
  run: (options: { signal: AbortSignal; requestId: string }) => Promise<JsonReply | StreamReply>,
): Promise<void> {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const session = idempotency.begin(caller, headerValue(request.headers['idempotency-key']), idempotencyBody);
  const started = await session.start();
  if (started.kind === 'replay') return sendReplay(reply, started.reply);
  try {
    const answer = await run({ signal: controller.signal, requestId: started.requestId });
    if (!('frames' in answer)) {
      await session.complete({ kind: 'json', ...answer });
      return sendJson(reply, answer);
    }
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...answer.headers,
    });
    const frames: string[] = [];
    for await (const frame of answer.frames) {
      // The first frame goes out at once, with the headers (see `write`): the client's time to first token is
      // not held back while the rest of the upstream's first network chunk is relayed.
      frames.push(frame);
      if (!(await write(reply, frame, frames.length === 1))) break; // the client left; the relay's finally settles the call
    }
    // The answer is stored before the response ends: a client that read the whole stream and retries at once
    // gets the replay, not a 409 "still in progress" (the end waits one write, and only with an Idempotency-Key).
    try {
      if (answer.completed()) await session.complete({ kind: 'sse', statusCode: 200, headers: answer.headers, frames });
      else await session.abandon();
    } finally {
      if (!reply.raw.destroyed) reply.raw.end();
    }
  } catch (error) {
    await session.abandon();
    throw error;
  }
}

function sendJson(reply: FastifyReply, result: JsonReply): void {
  void reply
    .code(result.statusCode)
    .headers(result.headers)
    .type(result.contentType ?? 'application/json; charset=utf-8')
    .send(result.body);
}

function sendReplay(reply: FastifyReply, stored: StoredReply): void {
  const headers = { ...stored.headers, 'x-tollgate-idempotent-replay': 'true' };
  if (stored.kind === 'json') {
    void reply
      .code(stored.statusCode)
      .headers(headers)
      .type(stored.contentType ?? 'application/json; charset=utf-8')
      .send(stored.body);
    return;
  }
  void reply.code(200).headers(headers).type('text/event-stream; charset=utf-8').send(stored.frames.join(''));
}

/**
 * Writes one frame of a stream. Node's response corks its socket on a write until the next tick, so the frames
 * an upstream chunk yields within one turn of the event loop leave in one write to the socket. The first frame
 * (`first`) is sent at once, with the headers: left corked, it would wait behind the rest of the upstream's
 * chunk (up to 16 KiB of frames, when an upstream sends many events at once).
 */
async function write(reply: FastifyReply, frame: string, first: boolean): Promise<boolean> {
  const raw = reply.raw;
  if (raw.destroyed || raw.writableEnded) return false;
  const room = raw.write(frame);
  if (first) raw.socket?.uncork(); // a socket Node did not cork is left as it is
  if (room) return true;
  await drainedOrClosed(raw);
  return !raw.destroyed;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text && text.trim() !== '' ? text.trim() : undefined;
}
