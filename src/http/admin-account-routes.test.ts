import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { authenticateKey } from '../ledger/api-keys.js';
import { Ledger } from '../ledger/ledger.js';
import { Decimal } from '../money/decimal.js';
import { registerAccountAdminRoutes } from './admin-account-routes.js';
import { DatabaseHealth } from '../db/database-health.js';
import { nextTurn, untilNextTurns } from '../../test/support/wait.js';

describe.each(backends())('admin account routes on $name', (backend) => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let ledger: Ledger;
  beforeAll(async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
    app = Fastify();
    await app.register(swagger, { openapi: { info: { title: 'tollgate', version: 'test' } } });
    registerAccountAdminRoutes(app, { ledger, db: database.db });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  it('creates an account and returns its key once, with amounts as strings', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/admin/accounts',
      payload: { name: 'acme', mode: 'consumption_usd', credits: '12.50' },
    });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body.account).toMatchObject({
      name: 'acme',
      mode: 'consumption_usd',
      unit: 'usd',
      balance: '12.5',
      available: '12.5',
    });
    expect(body.api_key.key).toMatch(/^tg_/);
    expect((await authenticateKey(database.db, body.api_key.key))?.accountId).toBe(body.account.id);
    const list = await app.inject({ method: 'GET', url: '/admin/accounts' });
    expect(list.json().data.map((account: { name: string }) => account.name)).toEqual(['acme']);
  });

  it('answers 400 naming the field, 404 for an unknown account and 409 for a taken name', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/admin/accounts',
      payload: { name: 'x', mode: 'consumption_usd', credits: '1e3' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('credits');
    expect(bad.json().error.code).toBe('invalid_request');
    const noJobPrice = await app.inject({ method: 'POST', url: '/admin/accounts', payload: { name: 'j', mode: 'job_based' } });
    expect(noJobPrice.statusCode).toBe(400);
    expect(noJobPrice.json().error).toMatchObject({ code: 'invalid_account_field' });
    const missing = await app.inject({ method: 'GET', url: '/admin/accounts/nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('account_not_found');
    const taken = await app.inject({
      method: 'POST',
      url: '/admin/accounts',
      payload: { name: 'acme', mode: 'consumption_usd' },
    });
    expect(taken.statusCode).toBe(409);
  });

  it('grants with an idempotency key once, adjusts, refunds, and shows the entries', async () => {
    const grant = () =>
      app.inject({
        method: 'POST',
        url: '/admin/accounts/acme/credits',
        payload: { amount: '2.25', idempotency_key: 'invoice-7' },
      });
    expect((await grant()).json()).toMatchObject({
      replayed: false,
      account: { balance: '14.75' },
      entry: { kind: 'grant', amount: '2.25' },
    });
    expect((await grant()).json()).toMatchObject({ replayed: true, account: { balance: '14.75' } });
    const conflict = await app.inject({
      method: 'POST',
      url: '/admin/accounts/acme/credits',
      payload: { amount: '3', idempotency_key: 'invoice-7' },
    });
    expect(conflict.statusCode).toBe(409);
    const negativeGrant = await app.inject({ method: 'POST', url: '/admin/accounts/acme/credits', payload: { amount: '-1' } });
    expect(negativeGrant.statusCode).toBe(400);
    const adjust = await app.inject({ method: 'POST', url: '/admin/accounts/acme/adjustments', payload: { amount: '-0.75' } });
    expect(adjust.json().account.balance).toBe('14');
    const overdraw = await app.inject({ method: 'POST', url: '/admin/accounts/acme/adjustments', payload: { amount: '-100' } });
    expect(overdraw.statusCode).toBe(402);
    // A refund gives back what a call was charged: charge one first (balance 14 - 1 = 13).
    const { id: accountId } = await ledger.getAccount('acme');
    await ledger.hold({ accountId, requestId: 'req_refunded', amount: Decimal.parse('1') });
    await ledger.capture({ requestId: 'req_refunded', amount: Decimal.parse('1') });
    const tooMuch = await app.inject({ method: 'POST', url: '/admin/accounts/acme/refunds', payload: { amount: '1.01' } });
    expect(tooMuch.statusCode).toBe(400);
    expect(tooMuch.json().error).toMatchObject({ code: 'invalid_amount', param: 'amount' });
    const refund = await app.inject({
      method: 'POST',
      url: '/admin/accounts/acme/refunds',
      payload: { amount: '1', note: 'bad answer' },
    });
    expect(refund.json().account.available).toBe('14');
    const show = await app.inject({ method: 'GET', url: '/admin/accounts/acme?limit=2' });
    expect(show.json().open_holds).toEqual({ count: 0, total: '0' });
    expect(show.json().entries.map((entry: { kind: string; amount: string }) => [entry.kind, entry.amount])).toEqual([
      ['refund', '1'],
      ['capture', '-1'],
    ]);
  });

  it('patches status and markup, and manages keys', async () => {
    const patched = await app.inject({
      method: 'PATCH',
      url: '/admin/accounts/acme',
      payload: { status: 'suspended', markup_percent: '15', markup_fixed_fee: null },
    });
    expect(patched.json().account).toMatchObject({ status: 'suspended', markup_percent: '15', markup_fixed_fee: null });
    expect((await app.inject({ method: 'PATCH', url: '/admin/accounts/acme', payload: {} })).statusCode).toBe(400);
    const created = await app.inject({
      method: 'POST',
      url: '/admin/accounts/acme/keys',
      payload: { scope: 'admin', name: 'ops' },
    });
    expect(created.statusCode).toBe(201);
    const { key, prefix } = created.json();
    expect((await authenticateKey(database.db, key))?.scope).toBe('admin');
    const keys = await app.inject({ method: 'GET', url: '/admin/accounts/acme/keys' });
    expect(keys.json().data).toHaveLength(2);
    expect(JSON.stringify(keys.json())).not.toContain(key);
    expect((await app.inject({ method: 'DELETE', url: `/admin/keys/${prefix}` })).json()).toEqual({ prefix, revoked: true });
    expect(await authenticateKey(database.db, key)).toBeUndefined();
    expect((await app.inject({ method: 'DELETE', url: `/admin/keys/${prefix}` })).statusCode).toBe(404);
  });

  it('verifies the ledger', async () => {
    const response = await app.inject({ method: 'GET', url: '/admin/ledger/verify' });
    expect(response.json()).toMatchObject({
      ok: true,
      accounts: [{ name: 'acme', balance: '14', expected_balance: '14', ok: true }],
    });
  });

  it('pages through accounts by name with a cursor, filtered by search and status', async () => {
    for (const name of ['page-c', 'page-a', 'page-e', 'page-b', 'page-d']) {
      await app.inject({ method: 'POST', url: '/admin/accounts', payload: { name, mode: 'consumption_usd', credits: '1' } });
    }
    await app.inject({ method: 'PATCH', url: '/admin/accounts/page-d', payload: { status: 'suspended' } });
    const names: string[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/admin/accounts?search=PAGE-&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const body = (await app.inject({ method: 'GET', url: query })).json() as {
        data: Array<{ name: string }>;
        next_cursor: string | null;
      };
      names.push(body.data.map((account) => account.name));
      cursor = body.next_cursor;
    } while (cursor);
    expect(names).toEqual([['page-a', 'page-b'], ['page-c', 'page-d'], ['page-e']]);
    const suspended = (await app.inject({ method: 'GET', url: '/admin/accounts?search=page&status=suspended' })).json();
    expect(suspended.data.map((account: { name: string }) => account.name)).toEqual(['page-d']);
    // `_` is a character, not LIKE's any-one-character wildcard.
    expect((await app.inject({ method: 'GET', url: '/admin/accounts?search=page_' })).json().data).toEqual([]);
    const bad = await app.inject({ method: 'GET', url: '/admin/accounts?cursor=not%20a%20cursor' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('cursor');
  });

  it("pages through an account's ledger entries, newest first, of the kinds asked for", async () => {
    await app.inject({
      method: 'POST',
      url: '/admin/accounts',
      payload: { name: 'entries', mode: 'consumption_usd', credits: '1' },
    });
    for (const amount of ['2', '3', '4']) {
      await app.inject({ method: 'POST', url: '/admin/accounts/entries/credits', payload: { amount } });
    }
    await app.inject({ method: 'POST', url: '/admin/accounts/entries/adjustments', payload: { amount: '-0.5' } });
    const first = (await app.inject({ method: 'GET', url: '/admin/accounts/entries/entries?limit=3' })).json();
    expect(first.data.map((entry: { kind: string; amount: string }) => `${entry.kind} ${entry.amount}`)).toEqual([
      'adjust -0.5',
      'grant 4',
      'grant 3',
    ]);
    const second = (
      await app.inject({ method: 'GET', url: `/admin/accounts/entries/entries?limit=3&cursor=${first.next_cursor}` })
    ).json();
    expect(second.data.map((entry: { amount: string }) => entry.amount)).toEqual(['2', '1']);
    expect(second.next_cursor).toBeNull();
    const adjustments = (await app.inject({ method: 'GET', url: '/admin/accounts/entries/entries?kind=adjust' })).json();
    expect(adjustments.data).toHaveLength(1);
    expect((await app.inject({ method: 'GET', url: '/admin/accounts/entries/entries?kind=bogus' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/admin/accounts/nobody/entries' })).statusCode).toBe(404);
  });

  it('documents every route with its schemas in OpenAPI', () => {
    const document = app.swagger() as {
      paths: Record<string, Record<string, { requestBody?: unknown; parameters?: unknown[] }>>;
    };
    expect(Object.keys(document.paths).sort()).toEqual([
      '/admin/accounts',
      '/admin/accounts/{account}',
      '/admin/accounts/{account}/adjustments',
      '/admin/accounts/{account}/credits',
      '/admin/accounts/{account}/entries',
      '/admin/accounts/{account}/keys',
      '/admin/accounts/{account}/refunds',
      '/admin/keys/{prefix}',
      '/admin/ledger/verify',
    ]);
    expect(document.paths['/admin/accounts']!.post!.requestBody).toBeDefined();
    expect(document.paths['/admin/accounts/{account}']!.patch!.parameters).toHaveLength(1);
  });

  it('waits for the lingering captures however long they take while the database answers, and not once it is seen gone', async () => {
    const health = new DatabaseHealth(async () => {
      throw new Error('still down');
    });
    let release: () => void = () => undefined;
    let flushes = 0;
    const waiting = Fastify();
    registerAccountAdminRoutes(waiting, {
      ledger,
      db: database.db,
      databaseHealth: health,
      settledCaptures: {
        flush: () => {
          flushes += 1;
          // The first flush ends when the test says so; the second never (an outage's retries).
          return flushes === 1 ? new Promise<void>((resolve) => (release = resolve)) : new Promise<void>(() => undefined);
        },
      },
    });
    await waiting.ready();
    try {
      const { account } = await ledger.createAccount({
        name: `waiting-${Date.now()}`,
        mode: 'consumption_usd',
        credits: Decimal.parse('1'),
      });
      const grant = (amount: string) =>
        waiting.inject({ method: 'POST', url: `/admin/accounts/${account.id}/credits`, payload: { amount } });
      let answered = false;
      // The clock of the wait's bound is the test's: 29 s pass and the grant still waits for the captures.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const first = grant('2').then((reply) => ((answered = true), reply));
      await untilNextTurns(() => flushes === 1, 'the first flush');
      vi.advanceTimersByTime(29_000);
      for (let turn = 0; turn < 20; turn += 1) await nextTurn();
      expect(answered).toBe(false);
      vi.useRealTimers();
      release();
      expect((await first).json().account.balance).toBe('3');
      // The database is lost while the second waits: it goes on without the captures' retries.
      const second = grant('1');
      await untilNextTurns(() => flushes === 2, 'the second flush');
      health.markUnreachable('connection lost');
      expect((await second).json().account.balance).toBe('4');
      // Already unreachable: it does not wait at all (the third flush never ends either).
      expect((await grant('1')).json().account.balance).toBe('5');
      expect(flushes).toBe(3);
    } finally {
      vi.useRealTimers();
      health.close();
      await waiting.close();
    }
  });

  it('writes the lingering captures before a credit operation, and does not wait past its bound for them', async () => {
    const order: string[] = [];
    const stuck = Fastify();
    registerAccountAdminRoutes(stuck, {
      ledger,
      db: database.db,
      // A database that refuses the captures: they are retried until it is back, and flush waits for that.
      settledCaptures: { flush: () => (order.push('flush'), new Promise<void>(() => undefined)) },
      settledCapturesWaitMs: 50,
    });
    await stuck.ready();
    try {
      const { account } = await ledger.createAccount({
        name: `lingering-${Date.now()}`,
        mode: 'consumption_usd',
        credits: Decimal.parse('1'),
      });
      const grant = await stuck.inject({
        method: 'POST',
        url: `/admin/accounts/${account.id}/credits`,
        payload: { amount: '2' },
      });
      order.push('granted');
      expect(grant.statusCode).toBe(200);
      expect(grant.json().account.balance).toBe('3');
      expect(order).toEqual(['flush', 'granted']);
    } finally {
      await stuck.close();
    }
  });
});
