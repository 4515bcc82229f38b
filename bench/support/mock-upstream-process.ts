/**
 * The benchmark's upstream, run as its own process so that neither the load generator nor a gateway shares
 * its event loop: a minimal OpenAI-compatible `POST /v1/chat/completions` on loopback that drains the request
 * and answers one recorded response (fixtures/provider-responses/openai/openai-chat-text.json, with its
 * usage), the same bytes for every path. Anything else is a 404, so a gateway calling the wrong URL shows up
 * as non-2xx responses instead of a silent success. Reports `{ port }` over IPC; exits when the parent goes.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const recorded = readFileSync(new URL('../../fixtures/provider-responses/openai/openai-chat-text.json', import.meta.url));
// Re-serialized compactly, as the API sends it; the content is the recording's.
const body = Buffer.from(JSON.stringify(JSON.parse(recorded.toString('utf8'))));
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    if (request.method === 'POST' && request.url === '/v1/chat/completions') {
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
