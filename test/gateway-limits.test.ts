import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { createApiKey } from '../src/ledger/api-keys.js';
import { resolveLimitTarget, setLimits, type LimitChanges } from '../src/ledger/limits.js';
import { Decimal } from '../src/money/decimal.js';
import { backends, type TestDatabase } from './support/backends.js';
import { postChat } from './support/charges.js';
import { ADMIN_KEY, seedTestCatalog, startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { testJournalDirectory } from './support/journal-directory.js';

/**
 * Limits over HTTP, through the demo provider: a key's spend cap refuses with `budget_exceeded` naming its
 * level and reset, a team's key draws on its parent's wallet within both caps, requests and tokens per minute
 * refuse the call past them with OpenAI's headers, an expired key and a model outside the allow-list are
 * refused. The clock is controlled: every call of a test falls in the same minute, and then in the next.
 */
const JOB = '0.25';
const HELLO = [{ role: 'user', content: 'Hello' }];

describe.each(backends())('limits on the call path, on $name', (backend) => {
  let harness: TestGateway;
  let now = Date.parse('2026-11-29T22:00:30Z');

  beforeAll(async () => {
    harness = await startTestGateway(backend, { clock: () => now, env: { TOLLGATE_END_USER_HEADER: 'X-End-User' } });
  });
  afterAll(async () => {
    await harness?.close();
  });

  const limit = async (target: string, changes: LimitChanges) => {
    const resolved = await resolveLimitTarget(harness.database.db, target);
    await setLimits(harness.database.db, resolved, changes);
    harness.gateway.limits.invalidate();
  };
  const prefixOf = (key: string) => key.slice(0, 12);
  const chat = (key: string, extra: Record<string, unknown> = {}) =>
    postChat(harness.url, key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 50, ...extra });

  it('a key capped at 5 calls a day serves exactly 5 of 20 concurrent calls; the refusal names the key, the cap and its reset', async () => {
    const account = await harness.createAccount('job_based', { jobPrice: JOB, credits: '100' });
    await limit(prefixOf(account.key), { cap: Decimal.parse(JOB).times(5), period: 'day', timezone: 'Asia/Tokyo' });
    const responses = await Promise.all(Array.from({ length: 20 }, () => chat(account.key)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.filter((status) => status === 402)).toHaveLength(15);
    const refused = responses.find((response) => response.status === 402)!;
    const body = (await refused.json()) as { error: Record<string, unknown> };
    // 22:00:30Z is 07:00:30 on the 30th in Tokyo: the day resets at Tokyo's midnight, 15:00Z.
    expect(body.error).toMatchObject({
      code: 'budget_exceeded',
      type: 'insufficient_quota',
      level: 'key',
      period: 'day',
      cap: '1.25',
      resets_at: '2026-11-30T15:00:00.000Z',
    });
    expect(body.error.message).toMatch(/key tg_\w+ has a daily cap of 1\.25/);
    expect(refused.headers.get('retry-after')).toBe(String((Date.parse('2026-11-30T15:00:00Z') - now) / 1000));
    await harness.flush();
    const wallet = await harness.gateway.ledger.getAccount(account.id);
    expect(wallet.balance.toString()).toBe('98.75');
    expect((await harness.gateway.ledger.verify()).ok).toBe(true);
  });

  it("a team's key draws on the parent's wallet, within the child's cap and the parent's", async () => {
    const parent = await harness.createAccount('job_based', { jobPrice: JOB, credits: '10' });
    const { account: child } = await harness.gateway.ledger.createAccount({
      name: `child-${parent.id}`,
      mode: 'job_based',
      parent: parent.id,
    });
    const childKey = await createApiKey(harness.database.db, { accountId: child.id, scope: 'user' });
    await limit(child.id, { cap: Decimal.parse(JOB).times(3), period: 'month' });
    await limit(parent.id, { cap: Decimal.parse(JOB).times(10), period: 'month' });
    const statuses = (await Promise.all(Array.from({ length: 6 }, () => chat(childKey.key)))).map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    const refused = await chat(childKey.key);
    expect(((await refused.json()) as { error: { level: string } }).error.level).toBe('account');
    await harness.flush();
    expect((await harness.gateway.ledger.getAccount(parent.id)).balance.toString()).toBe('9.25');
    expect((await harness.gateway.ledger.getAccount(child.id)).balance.isZero()).toBe(true);
    // Credits are the wallet's: granting to the child is refused, naming the wallet.
    await expect(harness.gateway.ledger.grant(child.id, Decimal.parse('1'))).rejects.toThrow(/draws on the balance of/);
  });

  it('requests per minute: the (N+1)th call of the window gets 429 with the rate headers and Retry-After; the next minute serves again', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '10' });
    await limit(prefixOf(account.key), { rpm: 3 });
    const served = [];
    for (let index = 0; index < 3; index += 1) served.push(await chat(account.key));
    expect(served.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(served.map((response) => response.headers.get('x-ratelimit-remaining-requests'))).toEqual(['2', '1', '0']);
    expect(served[0]!.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(served[0]!.headers.get('x-ratelimit-reset-requests')).toBe('30s');
    const refused = await chat(account.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toBe('30s');
    const body = (await refused.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error', level: 'key', limit: 'requests' });
    now += 30_000;
    expect((await chat(account.key)).status).toBe(200);
  });

  it('tokens per minute: estimated at the hold, corrected at settlement; the call past the limit gets 429 with the token headers', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '10' });
    // Each call is held at 8 prompt tokens + 50 output tokens = 58, and uses fewer.
    await limit(account.id, { tpm: 120 });
    const first = await chat(account.key);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('120');
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('62');
    const used = ((await first.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    expect(used).toBeLessThan(58);
    // After the correction, 120 - used remain: a second call of 58 fits, a third does not.
    const second = await chat(account.key);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe(String(120 - used - 58));
    const third = await chat(account.key, { max_tokens: 120 });
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { limit: string } }).error.limit).toBe('tokens');
    expect(third.headers.get('x-ratelimit-limit-tokens')).toBe('120');
  });

  it('the admin API sets and shows limits (usage and next reset), creates teams and updates key controls; the OpenAPI document has them', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}` };
    const parent = await harness.createAccount('consumption_usd', { credits: '50' });
    const created = await harness.gateway.app.inject({
      method: 'POST',
      url: '/admin/accounts',
      headers: admin,
      payload: { name: `admin-team-${parent.id}`, mode: 'consumption_usd', parent: parent.id, low_balance_alert: '5' },
    });
    expect(created.statusCode).toBe(201);
    const child = created.json() as {
      account: { id: string; parent_id: string; low_balance_alert: string };
      api_key: { key: string; prefix: string };
    };
    expect(child.account).toMatchObject({ parent_id: parent.id, low_balance_alert: '5' });
    const put = await harness.gateway.app.inject({
      method: 'PUT',
      url: `/admin/limits/${child.account.id}`,
      headers: admin,
      payload: { cap: '2.50', period: 'week', timezone: 'America/New_York', rpm: 100 },
    });
    expect(put.statusCode).toBe(200);
    // 2026-11-29T22:00:30Z is Sunday 17:00 in New York: the week resets on Monday at local midnight, 05:00Z.
    expect(put.json()).toMatchObject({
      target: { kind: 'account', account_id: child.account.id },
      cap: '2.5',
      period: 'week',
      rpm: 100,
      usage: { used: '0', remaining: '2.5', unit: 'usd', resets_at: '2026-11-30T05:00:00.000Z' },
    });
    expect((await chat(child.api_key.key)).status).toBe(200);
    await harness.flush();
    const shown = await harness.gateway.app.inject({ method: 'GET', url: `/admin/limits/${child.account.id}`, headers: admin });
    const usage = (shown.json() as { usage: { used: string; remaining: string } }).usage;
    expect(Decimal.parse(usage.used).isPositive()).toBe(true);
    expect(Decimal.parse(usage.used).add(Decimal.parse(usage.remaining)).toString()).toBe('2.5');
    const endUser = await harness.gateway.app.inject({
      method: 'PUT',
      url: `/admin/limits/${encodeURIComponent(`${child.account.id}:user-42`)}`,
      headers: admin,
      payload: { cap: '1', period: 'day' },
    });
    expect(endUser.json()).toMatchObject({ target: { kind: 'end_user', end_user: 'user-42' } });
    const bad = await harness.gateway.app.inject({
      method: 'PUT',
      url: `/admin/limits/${child.account.id}`,
      headers: admin,
      payload: { period: 'year' },
    });
    expect(bad.statusCode).toBe(400);
    const patched = await harness.gateway.app.inject({
      method: 'PATCH',
      url: `/admin/keys/${child.api_key.prefix}`,
      headers: admin,
      payload: { models: ['gpt-4o'], expires_at: '2030-01-01T00:00:00Z', name: 'ci' },
    });
    expect(patched.json()).toMatchObject({ allowed_models: ['gpt-4o'], expires_at: '2030-01-01T00:00:00.000Z', name: 'ci' });
    expect((await chat(child.api_key.key)).status).toBe(403);
    const document = (await harness.gateway.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, object>;
    };
    expect(Object.keys(document.paths['/admin/limits/{target}']!)).toEqual(expect.arrayContaining(['get', 'put']));
    expect(Object.keys(document.paths['/admin/keys/{prefix}']!)).toEqual(expect.arrayContaining(['patch', 'delete']));
  });

  it('an end user of an account has its own cap (the OpenAI user field, or the configured header)', async () => {
    const account = await harness.createAccount('job_based', { jobPrice: JOB, credits: '100' });
    await limit(`${account.id}:alice`, { cap: Decimal.parse(JOB).times(2), period: 'day' });
    const statuses = [];
    for (let index = 0; index < 3; index += 1) statuses.push((await chat(account.key, { user: 'alice' })).status);
    expect(statuses).toEqual([200, 200, 402]);
    expect((await chat(account.key, { user: 'bob' })).status).toBe(200);
    expect((await chat(account.key)).status).toBe(200);
    // A call whose body names no user is counted for the user its configured header names.
    const headed = () =>
      postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 50 }, { 'x-end-user': 'alice' });
    expect((await headed()).status).toBe(402);
    await limit(`${account.id}:carol`, { cap: Decimal.parse(JOB), period: 'day' });
    const carol = () =>
      postChat(harness.url, account.key, { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 50 }, { 'x-end-user': 'carol' });
    expect([(await carol()).status, (await carol()).status]).toEqual([200, 402]);
  });

  it('an expired key gets 401 key_expired; a model outside the allow-list gets 403 model_not_allowed', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '10' });
    const expired = await createApiKey(harness.database.db, {
      accountId: account.id,
      scope: 'user',
      expiresAt: new Date(Date.now() - 1_000),
    });
    const refused = await chat(expired.key);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('key_expired');
    const narrow = await createApiKey(harness.database.db, {
      accountId: account.id,
      scope: 'user',
      allowedModels: ['claude-*', 'gpt-4o'],
    });
    const outside = await chat(narrow.key);
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { error: { code: string; level: string } }).error).toMatchObject({
      code: 'model_not_allowed',
      level: 'key',
    });
    expect((await chat(narrow.key, { model: 'gpt-4o' })).status).toBe(200);
  });
});

const postgres = backends().find((backend) => backend.name === 'postgres');

/** Two instances on one PostgreSQL and one Redis: a key's requests per minute hold across both. */
describe.skipIf(!postgres)('a rate limit shared by two instances through Redis (needs TEST_DATABASE_URL)', () => {
  let database: TestDatabase;
  const instances: Gateway[] = [];
  const now = Date.parse('2026-11-29T22:00:10Z');

  beforeAll(async () => {
    database = await postgres!.open();
    await seedTestCatalog(database.db);
    const config = loadConfig({
      TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
      DATABASE_URL: database.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      TOLLGATE_SEED_ON_START: 'false',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_DEMO: 'on',
    });
    for (let index = 0; index < 2; index += 1) instances.push(await startGateway(config, silentLogger(), { clock: () => now }));
  });
  afterAll(async () => {
    for (const instance of instances) await instance.close();
    await database?.close();
  });

  it('10 requests per minute: 30 concurrent calls spread over both instances, exactly 10 served', async () => {
    const { account, apiKey } = await instances[0]!.ledger.createAccount({
      name: `redis-${Date.now()}`,
      mode: 'consumption_usd',
      credits: Decimal.parse('10'),
    });
    await setLimits(database.db, await resolveLimitTarget(database.db, account.id), { rpm: 10 });
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        instances[index % 2]!.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          headers: { authorization: `Bearer ${apiKey.key}` },
          payload: { model: 'gpt-4o-mini', messages: HELLO, max_tokens: 20 },
        }),
      ),
    );
    const statuses = responses.map((response) => response.statusCode);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    const refused = responses.find((response) => response.statusCode === 429)!;
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(refused.headers['retry-after']).toBe('50');
  });
});
