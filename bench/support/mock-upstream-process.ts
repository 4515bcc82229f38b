/**
 * The benchmark's upstream, run as its own process so that neither the load generator nor a gateway shares
 * its event loop: a minimal OpenAI-compatible `POST /v1/chat/completions` on loopback that drains the request
 * and answers one recorded response (fixtures/provider-responses/openai/openai-chat-text.json, with its
 * usage), the same bytes for every path; a request with `"stream":true` gets the recorded stream of such an
 * answer instead (its usage in the last chunk). Anything else is a 404, so a gateway calling the wrong URL shows up
 * as non-2xx responses instead of a silent success. Reports `{ port }` over IPC; exits when the parent goes.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const recorded = readFileSync(new URL('../../fixtures/provider-responses/openai/openai-chat-text.json', import.meta.url));
// Re-serialized compactly, as the API sends it; the content is the recording's.
const body = Buffer.from(JSON.stringify(JSON.parse(recorded.toString('utf8'))));
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

// The recorded stream of the same kind of answer (fixtures/provider-responses/openai/openai-chat-text.chunks.txt,
// its last chunk carrying the usage), one SSE event per write, as the API sends them.
const events = readFileSync(
  new URL('../../fixtures/provider-responses/openai/openai-chat-text.chunks.txt', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => Buffer.from(`data: ${line}\n\n`));
events.push(Buffer.from('data: [DONE]\n\n'));
const streamHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const STREAM_FLAG = Buffer.from('"stream":true');

const server = createServer((request, response) => {
  const parts: Buffer[] = [];
  request.on('data', (part: Buffer) => parts.push(part));
  request.on('end', () => {
    if (request.method === 'POST' && request.url === '/v1/chat/completions') {
      if (Buffer.concat(parts).includes(STREAM_FLAG)) {
        response.writeHead(200, streamHeaders);
        for (const event of events) response.write(event);
        response.end();
        return;
      }
      response.writeHead(200, headers);
      response.end(body);
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: { message: `mock upstream: no route ${request.method} ${request.url}` } }));
  });
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('mock upstream: no TCP address');
  process.send?.({ type: 'ready', port: address.port });
});

process.on('disconnect', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
