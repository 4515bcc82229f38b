import { connect, createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { capturedRequests } from './support/fault-checks.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { until } from './support/wait.js';

/**
 * A request that arrives while the gateway shuts down (pipelined behind a call in flight on the same
 * connection) is refused with a 503 in OpenAI's error shape and Retry-After, not Fastify's own body; the call in
 * flight finishes and is billed.
 */
describe.each(backends())('a request that arrives while the gateway shuts down, on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  it('is a 503 service_unavailable with Retry-After; the stream in flight is captured once', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '5' });
    const { hostname, port } = new URL(harness.url);
    const inFlight = connect(Number(port), hostname);
    await once(inFlight, 'connect');
    const chat = (stream: boolean) =>
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100, stream });
    const request = (body: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${account.key}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    // A stream whose upstream sends its first part and then nothing: its call stays in flight (and so the shutdown
    // open) until its client goes away.
    mock.queue('stalled-stream');
    let streamed = '';
    inFlight.on('data', (chunk: Buffer) => (streamed += chunk.toString('utf8')));
    inFlight.write(request(chat(true)));
    await until(() => streamed.includes('data: '), 'the stream to begin');
    const closed = harness.gateway.close();
    // A connection handed to the server after its shutdown began, as node:cluster's primary hands a worker the
    // connections it accepts (the way such a request reaches a worker that is draining).
    const handedOver = createServer((socket) => harness.gateway.app.server.emit('connection', socket));
    handedOver.listen(0, '127.0.0.1');
    await once(handedOver, 'listening');
    const late = connect((handedOver.address() as AddressInfo).port, '127.0.0.1');
    let refusal = '';
    late.on('data', (chunk: Buffer) => (refusal += chunk.toString('utf8')));
    late.write(request(chat(false)));
    await once(late, 'end');
    handedOver.close();

    const [head, body] = refusal.split('\r\n\r\n') as [string, string];
    expect(head.startsWith('HTTP/1.1 503')).toBe(true);
    expect(head.toLowerCase()).toContain('retry-after: 1');
    expect(head.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(body)).toEqual({
      error: {
        code: 'service_unavailable',
        type: 'server_error',
        param: null,
        message: 'the gateway is shutting down, so the call was not made; retry shortly',
      },
    });
    // The call in flight ends when its client goes away (billed for what was generated); the shutdown then completes.
    expect(streamed.startsWith('HTTP/1.1 200')).toBe(true);
    inFlight.destroy();
    await closed;
    // Only the stream in flight reached the upstream, and it alone was captured.
    expect(mock.requests.map((recorded) => recorded.scenario)).toEqual(['stalled-stream']);
    expect((await capturedRequests(harness.database.db, account.id)).size).toBe(1);
  });
});
