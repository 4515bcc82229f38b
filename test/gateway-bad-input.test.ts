import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

/**
 * Every kind of bad input gets a 4xx in OpenAI's error shape naming the problem, and nothing is charged or
 * written: each of these answered 500 (or was served and billed) before.
 */
describe.each(backends())('bad input on $name', (backend) => {
  let harness: TestGateway;
  let account: { id: string; key: string };

  beforeAll(async () => {
    harness = await startTestGateway(backend, {
      env: { TOLLGATE_REQUEST_TIMEOUT_MS: '1000', TOLLGATE_HEADERS_TIMEOUT_MS: '1000' },
    });
    account = await harness.createAccount('consumption_usd', { credits: '5' });
  });
  afterAll(async () => {
    await harness?.close();
  });

  /** What a refused request must leave as it was: entries, records, accounts, this account's balance. */
  async function state() {
    await harness.flush();
    const db = harness.database.db;
    const count = async (table: 'ledger_entries' | 'usage_records' | 'accounts' | 'api_keys') =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('count'))
            .executeTakeFirstOrThrow()
        ).count,
      );
    const row = await db
      .selectFrom('accounts')
      .select(['balance', 'available'])
      .where('id', '=', account.id)
      .executeTakeFirstOrThrow();
    return {
      entries: await count('ledger_entries'),
      records: await count('usage_records'),
      accounts: await count('accounts'),
      keys: await count('api_keys'),
      ...row,
    };
  }

  async function refused(
    request: { method: string; path: string; body?: string; admin?: boolean },
    expected: { status: number; code: string; param?: string | null; message: RegExp },
  ): Promise<void> {
    const before = await state();
    const response = await fetch(`${harness.url}${request.path}`, {
      method: request.method,
      headers: {
        authorization: `Bearer ${request.admin ? ADMIN_KEY : account.key}`,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    const body = (await response.json()) as { error: { message: string; type: string; code: string; param: string | null } };
    expect(response.status).toBe(expected.status);
    expect(body.error.code).toBe(expected.code);
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(expected.message);
    expect(body.error.message.length).toBeLessThan(1_000);
    if (expected.param !== undefined) expect(body.error.param).toBe(expected.param);
    expect(await state()).toEqual(before);
  }

  const chat = (fields: Record<string, unknown> | string) => ({
    method: 'POST',
    path: '/v1/chat/completions',
    body:
      typeof fields === 'string'
        ? fields
        : JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...fields }),
  });

  it('a field nested 5,000 levels deep', async () => {
    const deep = `${'['.repeat(5_000)}1${']'.repeat(5_000)}`;
    await refused(chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi","extra":${deep}}]}`), {
      status: 400,
      code: 'invalid_request',
      message: /messages\[0\]\.extra.*nests deeper than 64 levels/,
    });
    const deepObject = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    await refused(
      {
        method: 'POST',
        path: '/admin/accounts',
        admin: true,
        body: `{"name":"deep","mode":"consumption_usd","x":${deepObject}}`,
      },
      { status: 400, code: 'invalid_request', message: /nests deeper than 64 levels/ },
    );
  });

  it('a NUL in the model name, a model that is not a string, and a 1 MB model name', async () => {
    await refused(chat({ model: 'gpt-4o-mini\u0000' }), {
      status: 400,
      code: 'invalid_request',
      param: 'model',
      message: /control characters/,
    });
    await refused(chat({ model: 123 }), { status: 400, code: 'invalid_request', param: 'model', message: /must be a string/ });
    await refused(chat({ model: 'm'.repeat(1_000_000) }), {
      status: 400,
      code: 'invalid_request',
      param: 'model',
      message: /at most 256 characters, got 1000000/,
    });
  });

  it('NUL bytes and 1 MB names on the admin routes, in bodies and in paths', async () => {
    const create = (name: string) => ({
      method: 'POST',
      path: '/admin/accounts',
      admin: true,
      body: JSON.stringify({ name, mode: 'consumption_usd' }),
    });
    await refused(create('a\u0000b'), { status: 400, code: 'invalid_request', param: 'name', message: /NUL character/ });
    await refused(create('n'.repeat(1_000_000)), {
      status: 400,
      code: 'invalid_request',
      param: 'name',
      message: /longer than 10000 characters/,
    });
    await refused(create('n'.repeat(201)), { status: 400, code: 'invalid_request', param: 'name', message: /200 characters/ });
    for (const path of [
      '/admin/accounts/a%00b',
      '/admin/pricing/models/gpt%00',
      '/admin/usage?model=a%00',
      `/admin/keys/tg_%00`,
    ]) {
      await refused(
        { method: path.startsWith('/admin/keys') ? 'DELETE' : 'GET', path, admin: true },
        {
          status: 400,
          code: 'invalid_request',
          message: /URL contains a NUL character/,
        },
      );
    }
  });

  it('an amount sent as a JSON number the parser rounded: refused, naming the field, instead of coerced to a wrong decimal', async () => {
    const grant = (body: string) => ({ method: 'POST', path: `/admin/accounts/${account.id}/grants`, admin: true, body });
    // 12345678901234567890 parses to 12345678901234567000: coerced to text, it would look exact and be wrong.
    await refused(grant('{"amount": 12345678901234567890}'), {
      status: 400,
      code: 'invalid_request',
      param: 'amount',
      message: /the JSON number 12345678901234567000, which is not exact: send amounts as decimal strings/,
    });
    await refused(grant('{"amount": 0.1}'), {
      status: 400,
      code: 'invalid_request',
      param: 'amount',
      message: /JSON number 0\.1/,
    });
    await refused(
      { method: 'PUT', path: `/admin/limits/${account.id}`, admin: true, body: '{"cap": "1", "rpm": 1.5}' },
      { status: 400, code: 'invalid_request', param: 'rpm', message: /JSON number 1\.5/ },
    );
  });

  it('a refund larger than anything ever charged, and a grant of 2,000 digits', async () => {
    await refused(
      { method: 'POST', path: `/admin/accounts/${account.id}/refunds`, admin: true, body: JSON.stringify({ amount: '1000000' }) },
      {
        status: 400,
        code: 'invalid_amount',
        param: 'amount',
        message: /more than the account was charged and not yet refunded \(0 usd\)/,
      },
    );
    await refused(
      {
        method: 'POST',
        path: `/admin/accounts/${account.id}/credits`,
        admin: true,
        body: JSON.stringify({ amount: '9'.repeat(2_000) }),
      },
      {
        status: 400,
        code: 'invalid_amount',
        param: 'amount',
        message: /at most 15 digits before the decimal point and 18 after/,
      },
    );
    await refused(
      {
        method: 'POST',
        path: `/admin/accounts/${account.id}/credits`,
        admin: true,
        body: JSON.stringify({ amount: '1.0000000000000000001' }),
      },
      { status: 400, code: 'invalid_amount', param: 'amount', message: /18 after, got 1 and 19/ },
    );
    // What was charged can be refunded, and no more.
    const call = await fetch(`${harness.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
    });
    const charged = ((await call.json()) as { usage: { tollgate: { debit: string } } }).usage.tollgate.debit;
    // At once: the route writes this process's lingering captures before it reads what was charged.
    const refund = (amount: string) =>
      fetch(`${harness.url}/admin/accounts/${account.id}/refunds`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ amount }),
      });
    expect((await refund(charged)).status).toBe(200);
    const again = await refund('0.000000001');
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: { message: string } }).error.message).toMatch(/not yet refunded \(0 usd\)/);
  });

  it('headers past the size limit get a 431 in OpenAI error shape', async () => {
    const socket = connect(new URL(harness.url).port ? Number(new URL(harness.url).port) : 80, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`);
    const reply = await readAll(socket);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toEqual({
      error: {
        message: expect.stringMatching(/headers are larger/),
        type: 'invalid_request_error',
        code: 'headers_too_large',
        param: null,
      },
    });
  });

  it('a request whose body stalls after the headers is answered 408 and its connection closed', async () => {
    const before = await state();
    const socket = connect(Number(new URL(harness.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${account.key}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"model":`,
    );
    // The server ends it (TOLLGATE_REQUEST_TIMEOUT_MS=1000 here); the test only waits for that to happen.
    const reply = await readAll(socket);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
    expect(await state()).toEqual(before);
  });
});

/** Everything the server writes until it closes the connection. */
async function readAll(socket: import('node:net').Socket): Promise<string> {
  const parts: Buffer[] = [];
  socket.on('data', (part: Buffer) => parts.push(part));
  socket.on('error', () => undefined);
  await once(socket, 'close');
  return Buffer.concat(parts).toString('utf8');
}
