import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

/**
 * The console's access to the HTTP API, in process: sign-in with a key starts a server-side session held by
 * an HttpOnly SameSite=Strict cookie; changes need the session's CSRF token and this origin; a customer's
 * session (or its Bearer key) reads its own account only, through /account; a revoked key ends its sessions.
 */
describe.each(backends())('console sessions and customer routes on $name', (backend) => {
  let gateway: TestGateway;
  let customer: { id: string; key: string };
  let other: { id: string; key: string };
  const inject = (options: InjectOptions) => gateway.gateway.app.inject(options);

  beforeAll(async () => {
    gateway = await startTestGateway(backend);
    customer = await gateway.createAccount('consumption_usd', { credits: '25.5', name: 'customer-one' });
    other = await gateway.createAccount('consumption_usd', { credits: '7', name: 'customer-two' });
  });
  afterAll(async () => {
    await gateway.close();
  });

  const signIn = async (key: string) => {
    const response = await inject({
      method: 'POST',
      url: '/console/api/session',
      headers: { host: 'console.test' },
      payload: { key },
    });
    expect(response.statusCode, response.body).toBe(200);
    return { cookie: sessionCookie(response), csrf: response.json().csrf_token as string, body: response.json() };
  };

  it('signs an operator in with an HttpOnly, SameSite=Strict cookie that never holds the key', async () => {
    const response = await inject({ method: 'POST', url: '/console/api/session', payload: { key: ADMIN_KEY } });
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toMatch(/^tollgate_console=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ADMIN_KEY);
    expect(response.body).not.toContain(ADMIN_KEY);
    expect(response.json()).toMatchObject({ role: 'admin', account: null, key_prefix: null });
    expect(response.json().csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const session = await inject({ method: 'GET', url: '/console/api/session', headers: { cookie: sessionCookie(response) } });
    expect(session.json().csrf_token).toBe(response.json().csrf_token);
  });

  it('refuses a wrong key without a cookie, and a request without a session', async () => {
    const wrong = await inject({ method: 'POST', url: '/console/api/session', payload: { key: 'tg_not-a-real-key' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.json().error.code).toBe('invalid_api_key');
    expect((await inject({ method: 'GET', url: '/console/api/session' })).statusCode).toBe(401);
    const forged = await inject({ method: 'GET', url: '/admin/accounts', headers: { cookie: 'tollgate_console=forged' } });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().error.message).toBe('the console session has ended; sign in again');
  });

  it("lets an operator's session read admin routes, and change things only with the CSRF token from this origin", async () => {
    const { cookie, csrf } = await signIn(ADMIN_KEY);
    const list = await inject({ method: 'GET', url: '/admin/accounts?search=customer-', headers: { cookie } });
    expect(list.statusCode).toBe(200);
    expect(list.json().data.map((account: { name: string }) => account.name)).toEqual(['customer-one', 'customer-two']);

    const grant = (headers: Record<string, string>) =>
      inject({
        method: 'POST',
        url: `/admin/accounts/${customer.id}/credits`,
        headers: { cookie, host: 'console.test', ...headers },
        payload: { amount: '1' },
      });
    const missing = await grant({});
    expect(missing.statusCode).toBe(403);
    expect(missing.json().error.message).toContain('x-tollgate-csrf');
    expect((await grant({ 'x-tollgate-csrf': `${csrf}x` })).statusCode).toBe(403);
    const crossSite = await grant({ 'x-tollgate-csrf': csrf, origin: 'https://evil.example' });
    expect(crossSite.statusCode).toBe(403);
    expect(crossSite.json().error.message).toBe('requests from https://evil.example may not use the console session');
    // Nothing of the refused attempts reached the ledger.
    expect((await gateway.gateway.ledger.getAccount(customer.id)).balance.toString()).toBe('25.5');
    const granted = await grant({ 'x-tollgate-csrf': csrf, origin: 'http://console.test' });
    expect(granted.statusCode, granted.body).toBe(200);
    expect(granted.json().account.balance).toBe('26.5');
  });

  it('keeps the Bearer key the way scripts call the admin API', async () => {
    const response = await inject({ method: 'GET', url: '/admin/accounts', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(response.statusCode).toBe(200);
    // A user key on an admin route is still refused, with or without a session cookie of its own.
    const user = await inject({ method: 'GET', url: '/admin/accounts', headers: { authorization: `Bearer ${customer.key}` } });
    expect(user.statusCode).toBe(403);
  });

  it('signs a customer in to its own account only: /account answers for it, /admin refuses it', async () => {
    const { cookie, body } = await signIn(customer.key);
    expect(body).toMatchObject({
      role: 'customer',
      account: { id: customer.id, name: 'customer-one' },
      key_prefix: customer.key.slice(0, 12),
    });
    const account = await inject({ method: 'GET', url: '/account', headers: { cookie } });
    expect(account.statusCode).toBe(200);
    expect(account.json().account).toMatchObject({ id: customer.id, name: 'customer-one' });
    expect(account.json().open_holds).toEqual({ count: 0, total: '0' });
    const admin = await inject({ method: 'GET', url: `/admin/accounts/${other.id}`, headers: { cookie } });
    expect(admin.statusCode).toBe(403);
    expect(admin.json().error.message).toBe("this route needs an admin; the console session is a customer account's");
    const entries = await inject({ method: 'GET', url: '/account/entries', headers: { cookie } });
    expect(entries.json().data.map((entry: { request_id: string }) => entry.request_id)).toContain(
      `grant:${customer.id}:initial`,
    );
    expect(JSON.stringify(entries.json())).not.toContain(other.id);
    const keys = await inject({ method: 'GET', url: '/account/keys', headers: { cookie } });
    expect(keys.json().data.map((key: { account_id: string }) => key.account_id)).toEqual([customer.id]);
  });

  it('answers /account for a Bearer user key too, and refuses an admin key or no key there', async () => {
    const bearer = await inject({ method: 'GET', url: '/account', headers: { authorization: `Bearer ${other.key}` } });
    expect(bearer.json().account.id).toBe(other.id);
    const operator = await inject({ method: 'GET', url: '/account', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(operator.statusCode).toBe(403);
    const { cookie } = await signIn(ADMIN_KEY);
    expect((await inject({ method: 'GET', url: '/account', headers: { cookie } })).statusCode).toBe(403);
    expect((await inject({ method: 'GET', url: '/account' })).statusCode).toBe(401);
  });

  it('ends every session of a key the moment the key is revoked', async () => {
    const created = await inject({
      method: 'POST',
      url: `/admin/accounts/${customer.id}/keys`,
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      payload: { name: 'short-lived' },
    });
    const { key, prefix } = created.json() as { key: string; prefix: string };
    const { cookie } = await signIn(key);
    expect((await inject({ method: 'GET', url: '/account', headers: { cookie } })).statusCode).toBe(200);
    await inject({ method: 'DELETE', url: `/admin/keys/${prefix}`, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const after = await inject({ method: 'GET', url: '/account', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.message).toBe('the key this session was signed in with has been revoked; sign in again');
  });

  it('signs out only with the CSRF token, clearing the cookie and ending the session', async () => {
    const { cookie, csrf } = await signIn(ADMIN_KEY);
    const refused = await inject({ method: 'DELETE', url: '/console/api/session', headers: { cookie } });
    expect(refused.statusCode).toBe(403);
    const out = await inject({ method: 'DELETE', url: '/console/api/session', headers: { cookie, 'x-tollgate-csrf': csrf } });
    expect(out.statusCode).toBe(200);
    expect(String(out.headers['set-cookie'])).toContain('tollgate_console=; Max-Age=0');
    expect((await inject({ method: 'GET', url: '/admin/accounts', headers: { cookie } })).statusCode).toBe(401);
  });

  it('lists catalog models a page at a time with their current prices, and the unpriced ones', async () => {
    const first = (
      await inject({
        method: 'GET',
        url: '/admin/pricing/models?search=GPT-4O&limit=1',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json();
    expect(first.data.map((model: { id: string }) => model.id)).toEqual(['gpt-4o']);
    expect(first.data[0].price).toMatchObject({ rates: { input: '0.0000025', output: '0.00001' } });
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = (
      await inject({
        method: 'GET',
        url: `/admin/pricing/models?search=gpt-4o&limit=1&cursor=${first.next_cursor}`,
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json();
    expect(second.data.map((model: { id: string }) => model.id)).toEqual(['gpt-4o-mini']);
    expect(second.next_cursor).toBeNull();
    const unpriced = (
      await inject({
        method: 'GET',
        url: '/admin/pricing/models?priced=false',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
    ).json();
    expect(unpriced.data.every((model: { price: unknown }) => model.price === null)).toBe(true);
  });

  it('documents the console and customer routes in OpenAPI', async () => {
    const document = (await inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, unknown> };
    for (const route of [
      '/console/api/session',
      '/account',
      '/account/entries',
      '/account/keys',
      '/admin/accounts/{account}/entries',
      '/admin/pricing/models',
      '/admin/pricing/sync/runs',
      '/admin/pricing/sync/held-back',
      '/admin/pricing/sync/runs/{run}/held-back/{index}/approve',
    ]) {
      expect(document.paths, route).toHaveProperty([route]);
    }
  });
});

function sessionCookie(response: LightMyRequestResponse): string {
  const header = String(response.headers['set-cookie'] ?? '');
  const match = /^(tollgate_console=[^;]+)/.exec(header);
  if (!match) throw new Error(`no session cookie in ${header}`);
  return match[1]!;
}
