import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameWriter, headerValue, MAX_HELD_FRAMES } from './call-replies.js';

describe('headerValue', () => {
  it('gives a header trimmed, its first value when repeated, and nothing for an absent or blank one', () => {
    expect(headerValue(' key-1 ')).toBe('key-1');
    expect(headerValue(['first', 'second'])).toBe('first');
    expect(headerValue(['  ', 'second'])).toBeUndefined();
    expect(headerValue('   ')).toBeUndefined();
    expect(headerValue('')).toBeUndefined();
    expect(headerValue(undefined)).toBeUndefined();
  });
});

describe('FrameWriter', () => {
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  });

  /** A loopback server's response to one request, with the client's side, and each `write` the response got. */
  async function exchange(): Promise<{ response: ServerResponse; client: IncomingMessage; writes: string[] }> {
    const served = new Promise<ServerResponse>((resolve) => {
      server = createServer((_request, response) => resolve(response));
    });
    server!.listen(0, '127.0.0.1');
    await once(server!, 'listening');
    const { port } = server!.address() as AddressInfo;
    const outgoing = request({ host: '127.0.0.1', port, method: 'POST', agent: false });
    outgoing.on('error', () => undefined); // some tests end the exchange by destroying it
    outgoing.end();
    const response = await served;
    const writes: string[] = [];
    const write = response.write.bind(response) as (chunk: string) => boolean;
    response.write = ((chunk: string) => {
      writes.push(chunk);
      return write(chunk);
    }) as typeof response.write;
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.flushHeaders(); // the client's 'response' comes with them
    const [client] = (await once(outgoing, 'response')) as [IncomingMessage];
    return { response, client, writes };
  }

  async function body(client: IncomingMessage): Promise<string> {
    let text = '';
    for await (const chunk of client) text += (chunk as Buffer).toString('utf8');
    return text;
  }

  /** Resolves after the current turn of the event loop, and the ticks queued in it, are over. */
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  it('writes the first frame at once and the frames of one turn after it in one write, in order', async () => {
    const { response, client, writes } = await exchange();
    const out = new FrameWriter(response);
    const frames = Array.from({ length: 50 }, (_, index) => `data: {"n":${index}}\n\n`);
    for (const frame of frames) expect(out.send(frame)).toBe(true);
    expect(writes).toEqual([frames[0]]);
    await nextTurn();
    expect(writes).toEqual([frames[0], frames.slice(1).join('')]);
    out.send('data: [DONE]\n\n');
    out.flush(); // the last frames go before the end, without waiting for the turn
    expect(writes).toHaveLength(3);
    response.end();
    expect(await body(client)).toBe(`${frames.join('')}data: [DONE]\n\n`);
  });

  it('writes what it holds once it holds MAX_HELD_FRAMES characters, without waiting for the turn to end', async () => {
    const { response, client, writes } = await exchange();
    client.resume();
    const out = new FrameWriter(response);
    const frame = `data: ${'x'.repeat(1_016)}\n\n`; // 1,024 characters: MAX_HELD_FRAMES is a whole number of them
    out.send(frame);
    const held = MAX_HELD_FRAMES / frame.length;
    expect(Number.isInteger(held)).toBe(true);
    for (let index = 0; index < held - 1; index += 1) out.send(frame);
    expect(writes).toHaveLength(1);
    out.send(frame);
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(frame.repeat(held));
    out.flush();
    expect(writes).toHaveLength(2); // nothing was left to write
    response.end();
  });

  it('writes nothing once the response ended, held frames included, and says so', async () => {
    const { response, client, writes } = await exchange();
    client.resume();
    const errors: unknown[] = [];
    response.on('error', (error) => errors.push(error));
    const out = new FrameWriter(response);
    out.send('data: 1\n\n');
    out.send('data: 2\n\n'); // held for the end of the turn
    response.end();
    out.flush();
    expect(out.send('data: 3\n\n')).toBe(false);
    await nextTurn();
    expect(writes).toEqual(['data: 1\n\n']);
    expect(errors).toEqual([]);
  });

  it('makes the caller wait while the client does not read, goes on once it drains, and stops when it leaves', async () => {
    const { response, client } = await exchange();
    const out = new FrameWriter(response);
    const frame = `data: ${'y'.repeat(4_000)}\n\n`;
    /** Sends until the response waits for its client (at most 4,000 frames, 16 MB: far past loopback's buffers). */
    async function sendUntilHeld(): Promise<{ sent: boolean | Promise<boolean> }> {
      let sent: boolean | Promise<boolean> = true;
      for (let count = 0; sent === true && count < 4_000; count += 1) {
        sent = out.send(frame);
        if (sent === true) await nextTurn();
      }
      return { sent }; // wrapped: an async function returning the promise itself would wait for it
    }
    // The client reads nothing: the kernel's buffers fill, then the response's own.
    let { sent } = await sendUntilHeld();
    expect(sent).toBeInstanceOf(Promise);
    expect(response.writableNeedDrain).toBe(true);
    client.resume(); // reading again drains it
    expect(await sent).toBe(true);
    expect(response.writableNeedDrain).toBe(false);

    client.pause();
    ({ sent } = await sendUntilHeld());
    expect(sent).toBeInstanceOf(Promise);
    client.destroy(); // the client goes away while the response waits
    expect(await sent).toBe(false);
    expect(out.send(frame)).toBe(false);
  });
});
