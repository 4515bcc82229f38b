import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { ledgerErrorReply } from '../http/admin-account-routes.js';
import { registerLimitAdminRoutes } from '../http/admin-limit-routes.js';
import { Decimal } from '../money/decimal.js';
import {
  accountChangesBodySchema,
  createAccountBodySchema,
  decimal,
  entriesPageOptions,
  entriesQuerySchema,
  operationBody,
  pageSchema,
  unsignedDecimal,
} from './admin-request-schemas.js';
import { Ledger } from './ledger.js';

/**
 * The admin requests' shapes: the options a page of entries is read with, the operation body and page
 * schemas the routes are built from, and what the routes' validation (Fastify's Ajv, as the gateway runs it)
 * refuses, field by field, with the exact message and the field named in `param`.
 */

describe('the options of a page of entries', () => {
  it('default to 50 rows, no cursor and every kind', () => {
    expect(entriesPageOptions({})).toStrictEqual({ limit: 50 });
  });

  it('take the limit, the cursor (even empty) and the kinds, comma separated', () => {
    expect(entriesPageOptions({ limit: 10, cursor: 'abc', kind: 'grant,capture' })).toStrictEqual({
      limit: 10,
      cursor: 'abc',
      kinds: ['grant', 'capture'],
    });
    expect(entriesPageOptions({ limit: 1, cursor: '' })).toStrictEqual({ limit: 1, cursor: '' });
    expect(entriesPageOptions({ kind: 'refund' })).toStrictEqual({ limit: 50, kinds: ['refund'] });
  });

  it('read an empty kind as every kind', () => {
    expect(entriesPageOptions({ kind: '' })).toStrictEqual({ limit: 50 });
  });
});

describe('the schemas built per route', () => {
  it('an operation body: an amount required, a note and an idempotency key, nothing else', () => {
    expect(operationBody(decimal)).toStrictEqual({
      type: 'object',
      required: ['amount'],
      additionalProperties: false,
      properties: {
        amount: decimal,
        note: { type: 'string', maxLength: 1_000 },
        idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
      },
    });
    expect(operationBody(unsignedDecimal).properties.amount).toBe(unsignedDecimal);
  });

  it('a page: its rows of the given schema and the next cursor', () => {
    const item = { type: 'object', properties: { id: { type: 'string' } } };
    expect(pageSchema(item)).toStrictEqual({
      type: 'object',
      properties: {
        data: { type: 'array', items: item },
        next_cursor: { type: ['string', 'null'], description: 'pass it as cursor for the next page; null on the last page' },
      },
    });
  });
});

describe('validation of the admin account requests', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify();
    app.setErrorHandler((error: FastifyError, _request, reply) => ledgerErrorReply(error, reply));
    const echo = async (request: { body?: unknown; query?: unknown }) => ({
      body: request.body ?? null,
      query: request.query ?? null,
    });
    app.post('/signed', { schema: { body: operationBody(decimal) } }, echo);
    app.post('/unsigned', { schema: { body: operationBody(unsignedDecimal) } }, echo);
    app.post('/accounts', { schema: { body: createAccountBodySchema } }, echo);
    app.patch('/accounts', { schema: { body: accountChangesBodySchema } }, echo);
    app.get('/entries', { schema: { querystring: entriesQuerySchema } }, echo);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  const refused = async (method: 'POST' | 'PATCH', url: string, payload: object) => {
    const response = await app.inject({ method, url, payload });
    expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    return response.json().error as { message: string; type: string; code: string; param: string | null };
  };

  it('an operation takes an exact decimal amount, signed where the route allows it, with a note and a key', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/signed',
      payload: { amount: '-10.50', note: 'n'.repeat(1_000), idempotency_key: 'k'.repeat(255) },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().body).toStrictEqual({ amount: '-10.50', note: 'n'.repeat(1_000), idempotency_key: 'k'.repeat(255) });
    expect((await app.inject({ method: 'POST', url: '/unsigned', payload: { amount: '0' } })).statusCode).toBe(200);
  });

  it('an operation refuses each bad field, naming it', async () => {
    expect(await refused('POST', '/unsigned', { amount: '-1' })).toStrictEqual({
      message: 'invalid request: body/amount must match pattern "^[0-9]+(\\.[0-9]+)?$"',
      type: 'invalid_request_error',
      code: 'invalid_request',
      param: 'amount',
    });
    for (const amount of ['1.', '.5', '1e3', '1,5', ' 1', '']) {
      expect((await refused('POST', '/signed', { amount })).message).toBe(
        'invalid request: body/amount must match pattern "^-?[0-9]+(\\.[0-9]+)?$"',
      );
    }
    expect(await refused('POST', '/signed', {})).toMatchObject({
      message: "invalid request: body must have required property 'amount'",
      param: 'amount',
    });
    expect(await refused('POST', '/signed', { amount: '1', note: 'n'.repeat(1_001) })).toMatchObject({
      message: 'invalid request: body/note must NOT have more than 1000 characters',
      param: 'note',
    });
    expect(await refused('POST', '/signed', { amount: '1', idempotency_key: '' })).toMatchObject({
      message: 'invalid request: body/idempotency_key must NOT have fewer than 1 characters',
      param: 'idempotency_key',
    });
    expect(await refused('POST', '/signed', { amount: '1', idempotency_key: 'k'.repeat(256) })).toMatchObject({
      message: 'invalid request: body/idempotency_key must NOT have more than 255 characters',
      param: 'idempotency_key',
    });
  });

  it('a field no schema names is dropped, not refused (Fastify removes additional properties)', async () => {
    const response = await app.inject({ method: 'POST', url: '/signed', payload: { amount: '1', extra: true } });
    expect(response.statusCode).toBe(200);
    expect(response.json().body).toStrictEqual({ amount: '1' });
  });

  it('a new account needs a name of 1 to 200 characters and one of the three modes; its amounts are unsigned', async () => {
    const ok = { name: 'acme', mode: 'job_based' };
    expect((await app.inject({ method: 'POST', url: '/accounts', payload: { ...ok, markup_percent: '-5' } })).statusCode).toBe(
      200,
    );
    expect(await refused('POST', '/accounts', { mode: 'job_based' })).toMatchObject({
      message: "invalid request: body must have required property 'name'",
      param: 'name',
    });
    expect((await refused('POST', '/accounts', { name: 'acme' })).param).toBe('mode');
    expect((await refused('POST', '/accounts', { ...ok, name: '' })).message).toBe(
      'invalid request: body/name must NOT have fewer than 1 characters',
    );
    expect((await refused('POST', '/accounts', { ...ok, name: 'n'.repeat(201) })).message).toBe(
      'invalid request: body/name must NOT have more than 200 characters',
    );
    expect(await refused('POST', '/accounts', { ...ok, mode: 'prepaid' })).toMatchObject({
      message: 'invalid request: body/mode must be equal to one of the allowed values',
      param: 'mode',
    });
    for (const field of ['credits', 'job_price', 'markup_fixed_fee', 'overdraft_limit', 'low_balance_alert']) {
      expect(await refused('POST', '/accounts', { ...ok, [field]: '-1' })).toMatchObject({
        message: `invalid request: body/${field} must match pattern "^[0-9]+(\\.[0-9]+)?$"`,
        param: field,
      });
    }
    expect((await refused('POST', '/accounts', { ...ok, markup_percent: '5%' })).param).toBe('markup_percent');
    expect((await refused('POST', '/accounts', { ...ok, parent: '' })).message).toBe(
      'invalid request: body/parent must NOT have fewer than 1 characters',
    );
    expect((await refused('POST', '/accounts', { ...ok, parent: 'p'.repeat(201) })).param).toBe('parent');
  });

  it('account changes need at least one field; nullable amounts take null, the overdraft limit does not', async () => {
    expect(await refused('PATCH', '/accounts', {})).toMatchObject({
      message: 'invalid request: body must NOT have fewer than 1 properties',
    });
    const nulls = { job_price: null, markup_percent: null, markup_fixed_fee: null, low_balance_alert: null };
    const ok = await app.inject({ method: 'PATCH', url: '/accounts', payload: nulls });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().body).toStrictEqual(nulls);
    expect((await app.inject({ method: 'PATCH', url: '/accounts', payload: { markup_percent: '-2.5' } })).statusCode).toBe(200);
    expect(await refused('PATCH', '/accounts', { status: 'closed' })).toMatchObject({
      message: 'invalid request: body/status must be equal to one of the allowed values',
      param: 'status',
    });
    for (const field of ['job_price', 'markup_fixed_fee', 'low_balance_alert', 'overdraft_limit']) {
      expect((await refused('PATCH', '/accounts', { [field]: '-1' })).param).toBe(field);
    }
    expect((await refused('PATCH', '/accounts', { markup_percent: 'x' })).message).toBe(
      'invalid request: body/markup_percent must match pattern "^-?[0-9]+(\\.[0-9]+)?$"',
    );
  });

  it('a page of entries takes a limit of 1 to the page size and kinds from the ledger, comma separated', async () => {
    const ok = await app.inject({ method: 'GET', url: '/entries?kind=grant,capture,release&cursor=c' });
    expect(ok.json().query).toStrictEqual({ kind: 'grant,capture,release', cursor: 'c', limit: 50 });
    const bad = await app.inject({ method: 'GET', url: '/entries?limit=0' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ message: 'invalid request: querystring/limit must be >= 1', param: 'limit' });
    for (const kind of ['grant,', 'grants', 'grant;capture', ',grant', 'GRANT']) {
      const response = await app.inject({ method: 'GET', url: `/entries?kind=${encodeURIComponent(kind)}` });
      expect(response.statusCode, kind).toBe(400);
      expect(response.json().error.param).toBe('kind');
    }
    for (const kind of ['hold', 'refund', 'adjust']) {
      expect((await app.inject({ method: 'GET', url: `/entries?kind=${kind}` })).statusCode).toBe(200);
    }
  });
});

describe.each(backends())('the admin limit routes on $name', (backend) => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let accountId: string;
  const now = Date.parse('2026-11-29T22:00:30Z'); // Sunday 17:00:30 in New York

  beforeAll(async () => {
    database = await backend.open();
    ({
      account: { id: accountId },
    } = await new Ledger(database.db).createAccount({ name: 'routes', mode: 'consumption_usd', credits: Decimal.parse('10') }));
    app = Fastify();
    registerLimitAdminRoutes(app, { db: database.db, now: () => now });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await database?.close();
  });

  const put = (target: string, payload: object) =>
    app.inject({ method: 'PUT', url: `/admin/limits/${encodeURIComponent(target)}`, payload });

  it('sets limits and answers the report at the injected time', async () => {
    const response = await put('routes', { cap: '2.50', period: 'week', timezone: 'America/New_York', rpm: 100 });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toStrictEqual({
      target: { kind: 'account', account_id: accountId, key_prefix: null, end_user: null },
      cap: '2.5',
      period: 'week',
      timezone: 'America/New_York',
      soft: false,
      rpm: 100,
      tpm: null,
      concurrency: null,
      usage: {
        period_start: '2026-11-23T05:00:00.000Z',
        resets_at: '2026-11-30T05:00:00.000Z',
        used: '0',
        remaining: '2.5',
        unit: 'usd',
      },
    });
    const cleared = await put('routes', { cap: null, rpm: null });
    expect(cleared.json()).toMatchObject({ cap: null, rpm: null, period: 'week', usage: null });
    const shown = await app.inject({ method: 'GET', url: '/admin/limits/routes' });
    expect(shown.json()).toStrictEqual(cleared.json());
  });

  it('refuses each bad field of the body with its message and param, and changes nothing', async () => {
    const cases: Array<[object, string, string | null]> = [
      [{}, 'body must NOT have fewer than 1 properties', null],
      [{ cap: '-1' }, 'body/cap must match pattern "^[0-9]+(\\.[0-9]+)?$"', 'cap'],
      [{ cap: '1e3' }, 'body/cap must match pattern "^[0-9]+(\\.[0-9]+)?$"', 'cap'],
      [{ period: 'year' }, 'body/period must be equal to one of the allowed values', 'period'],
      [{ timezone: 'x'.repeat(101) }, 'body/timezone must NOT have more than 100 characters', 'timezone'],
      [{ soft: 'maybe' }, 'body/soft must be boolean', 'soft'],
      [{ rpm: 0 }, 'body/rpm must be >= 1', 'rpm'],
      [{ tpm: 1.5 }, 'body/tpm must be integer,null', 'tpm'],
      [{ concurrency: -3 }, 'body/concurrency must be >= 1', 'concurrency'],
    ];
    for (const [index, [payload, message, param]] of cases.entries()) {
      const response = await put(`routes:case-${index}`, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error).toStrictEqual({
        message: `invalid request: ${message}`,
        type: 'invalid_request_error',
        code: 'invalid_request',
        param,
      });
    }
    expect(await database.db.selectFrom('limits').select('id').where('end_user', 'like', 'case-%').execute()).toStrictEqual([]);
  });

  it('passes the ledger’s own refusals through: an unknown zone, an unknown target', async () => {
    const zone = await put('routes', { timezone: 'Mars/Olympus_Mons' });
    expect(zone.statusCode).toBe(400);
    expect(zone.json().error).toStrictEqual({
      message: 'invalid timezone: "Mars/Olympus_Mons" is not an IANA time zone (e.g. Europe/Berlin)',
      type: 'invalid_request_error',
      code: 'invalid_limit',
      param: 'timezone',
    });
    const missing = await app.inject({ method: 'GET', url: '/admin/limits/nobody' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'limit_target_not_found', param: null });
  });
});
