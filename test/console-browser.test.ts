import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../src/money/decimal.js';
import {
  chromiumInstalled,
  CHROMIUM_PATH,
  ensureConsoleBuilt,
  launchConsoleBrowser,
  type ConsoleBrowser,
} from './support/console-browser.js';
import { startFeedServer, type FeedServer } from './support/feed-server.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { openScratchPostgres, type ScratchDatabase } from './support/scratch-database.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';

const ADMIN_KEY = 'console-test-admin-key-0123456789';
/**
 * Waits for what the page or the gateway does next (a render, a refetch, a capture written after its
 * response) by asking again until it holds; the bound only ends a test that would otherwise never finish.
 */
const eventually = <T>(read: () => T | Promise<T>) => expect.poll(read, { timeout: 60_000, interval: 100 });
/** The report API (usage summaries and the request log) the Overview and Calls pages read. */
const REPORT_API = existsSync(new URL('../src/reports/usage-summary.ts', import.meta.url));
const title = chromiumInstalled
  ? 'the console in Chromium, against tollgate serve'
  : `the console in Chromium (skipped: no Chromium at ${CHROMIUM_PATH}; apt-get install -y chromium)`;

/**
 * The console as an operator and a customer use it: Debian's Chromium driven by Playwright against
 * `tollgate serve` running as its own process (on PostgreSQL when TEST_DATABASE_URL is set, else embedded
 * PGlite), with real calls through the mock upstream. The steps run in order and build on each other;
 * every figure the console shows is checked against the ledger through the API. Screenshots of each page
 * are saved under test-artifacts/console/.
 */
// Each step may wait on a busy machine for what it checks: more time than the suite-wide default.
describe.skipIf(!chromiumInstalled)(title, { timeout: 180_000 }, () => {
  let upstream: MockUpstream;
  let feeds: FeedServer;
  let database: ScratchDatabase | undefined;
  let dataDirectory: string | undefined;
  let serve: GatewayProcess;
  let browser: ConsoleBrowser;
  let page: Page;
  const account = { name: `acme-${Date.now()}`, id: '', key: '' };

  const admin = async <T>(route: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const response = await fetch(`${serve.url}${route}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${route}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
  /** Σ of the account's capture entries, exactly: what the calls took from the ledger. */
  const capturedFromLedger = async (accountId: string) => {
    let total = Decimal.ZERO;
    const entries: Array<{ id: number; amount: string; request_id: string }> = [];
    let cursor: string | null = null;
    do {
      const page: { data: Array<{ id: number; amount: string; request_id: string }>; next_cursor: string | null } = await admin(
        `/admin/accounts/${accountId}/entries?kind=capture&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const entry of page.data) {
        total = total.add(Decimal.parse(entry.amount).neg());
        entries.push(entry);
      }
      cursor = page.next_cursor;
    } while (cursor);
    return { total, entries };
  };
  const open = async (route: string) => {
    await page.goto(`${serve.url}/console${route}`);
  };

  beforeAll(async () => {
    await ensureConsoleBuilt();
    upstream = await startMockUpstream();
    feeds = await startFeedServer();
    const storage: Record<string, string> = {};
    if (process.env.TEST_DATABASE_URL) {
      database = await openScratchPostgres(process.env.TEST_DATABASE_URL, 'tollgate_console');
      storage.DATABASE_URL = database.url;
    } else {
      dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-console-'));
      storage.TOLLGATE_DATA_DIR = dataDirectory;
    }
    serve = await startGatewayProcess({
      ...storage,
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_LOG_LEVEL: 'warn',
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_DEMO: 'off',
      TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
      OPENAI_BASE_URL: `${upstream.url}/v1`,
      OPENAI_API_KEY: 'sk-test-openai',
    });
    browser = await launchConsoleBrowser('console');
    page = browser.page;
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    await database?.close();
    if (dataDirectory) rmSync(dataDirectory, { recursive: true, force: true });
    await feeds?.close();
    await upstream?.close();
  });

  it('signs an operator in with the admin key, which the browser never keeps', async () => {
    await open('/');
    await browser.screenshot('01-sign-in');
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.getByTestId('signed-in-as').textContent()).toBe('operator');
    const cookies = await browser.context.cookies();
    expect(cookies.map((cookie) => [cookie.name, cookie.httpOnly, cookie.sameSite])).toEqual([
      ['tollgate_console', true, 'Strict'],
    ]);
    expect(cookies[0]!.value).not.toContain(ADMIN_KEY);
    // What the page's scripts can reach: no storage and no cookie (the session cookie is HttpOnly).
    const stored = await page.evaluate(
      'JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })',
    );
    expect(stored).toBe('{"local":{},"session":{},"cookie":""}');
  });

  it('creates an account, shows its key once, and grants it credits', async () => {
    await open('/accounts');
    const form = page.getByRole('form', { name: 'new account' });
    await form.getByLabel('Name').fill(account.name);
    await form.getByLabel(/Initial credits/).fill('5');
    await form.getByRole('button', { name: 'Create account' }).click();
    account.key = (await page.getByTestId('new-api-key').textContent())!;
    expect(account.key).toMatch(/^tg_/);
    await browser.screenshot('02-accounts');
    await page.getByRole('status').getByRole('link', { name: account.name }).click();
    await eventually(() => page.getByTestId('account-balance').textContent()).toContain('$5.00');
    account.id = decodeURIComponent(page.url().split('/accounts/')[1]!);

    const credits = page.getByRole('form', { name: 'credits' });
    await credits.getByLabel(/Amount/).fill('1e3');
    await credits.getByRole('button', { name: 'Grant credits' }).click();
    await eventually(() => page.getByText('a number such as 10 or 0.50').isVisible()).toBe(true);
    await credits.getByLabel(/Amount/).fill('20.125');
    await credits.getByLabel('Note').fill('console test');
    await credits.getByRole('button', { name: 'Grant credits' }).click();
    await eventually(() => page.getByTestId('account-balance').textContent()).toContain('$25.125');
    const detail = await admin<{ account: { balance: string } }>(`/admin/accounts/${account.id}`);
    expect(detail.account.balance).toBe('25.125');
  });

  it('creates a key and revokes it, after which it calls nothing', async () => {
    const keys = page.getByRole('form', { name: 'new key' });
    await keys.getByLabel('Key name').fill('temporary');
    await keys.getByRole('button', { name: 'Create key' }).click();
    const temporary = (await page.getByTestId('new-api-key').textContent())!;
    const prefix = temporary.slice(0, 12);
    const row = page.getByRole('table', { name: 'api keys' }).getByRole('row').filter({ hasText: 'temporary' });
    await row.getByRole('button', { name: `revoke ${prefix}` }).click();
    await eventually(() => row.textContent()).toContain('revoked');
    await browser.screenshot('03-account');
    const refused = await fetch(`${serve.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${temporary}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(401);
  });

  it("sets the account's monthly cap and rate limit, and shows the cap's use and its reset", async () => {
    const limits = page.getByRole('form', { name: 'limits' });
    await eventually(() => page.getByTestId('limits-cap').textContent()).toContain('none');
    await limits.getByLabel(/Spend cap/).fill('20.5');
    await limits.getByLabel('Time zone (the calendar the period follows)').fill('Europe/Berlin');
    await limits.getByLabel('Requests per minute').fill('x');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await eventually(() => page.getByText('requests per minute: a whole number above 0').isVisible()).toBe(true);
    await limits.getByLabel('Requests per minute').fill('1000');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await eventually(() => page.getByTestId('limits-cap').textContent()).toContain('$20.50 per month');
    expect(await page.getByTestId('limits-rates').textContent()).toContain('1000 req/min');
    expect(await page.getByTestId('limits-used').textContent()).toContain('left');
    const saved = await admin<{ cap: string; period: string; timezone: string; rpm: number; usage: { resets_at: string } }>(
      `/admin/limits/${account.id}`,
    );
    expect(saved).toMatchObject({ cap: '20.5', period: 'month', timezone: 'Europe/Berlin', rpm: 1000 });
    // The next reset is the first of next month at midnight in Berlin.
    expect(new Date(saved.usage.resets_at).toLocaleString('en-GB', { timeZone: 'Europe/Berlin' })).toMatch(
      /^01\/\d\d\/\d{4}, 00:00:00$/,
    );
    await browser.screenshot('03b-limits');
  });

  it('shows a price change in the model history chart', async () => {
    await open('/catalog');
    await page.getByLabel('search models').fill('gpt-4o-mini');
    await page.getByRole('table', { name: 'models' }).getByRole('link', { name: 'gpt-4o-mini', exact: true }).click();
    const chart = page.locator('figure[data-versions]');
    await eventually(() => chart.getAttribute('data-versions')).toBe('1');
    const form = page.getByRole('form', { name: 'set price' });
    await form.getByLabel('Input / 1M').fill('0.30');
    await form.getByRole('button', { name: 'Save price' }).click();
    await eventually(() => chart.getAttribute('data-versions')).toBe('2');
    expect(await chart.getAttribute('aria-label')).toContain('input $0.30');
    expect(await chart.getAttribute('data-current')).toContain('input=0.0000003;output=0.0000006');
    await browser.screenshot('04-model');
    const model = await admin<{ current: { rates: { input: string; output: string; cacheRead?: string } } }>(
      '/admin/pricing/models/gpt-4o-mini',
    );
    // Only the edited rate changed: the others went back exactly as they were.
    expect(model.current.rates).toMatchObject({ input: '0.0000003', output: '0.0000006', cacheRead: '0.000000075' });
  });

  it('asks to confirm a rate above $1000 per 1M before the price form saves it', async () => {
    const chart = page.locator('figure[data-versions]');
    await eventually(() => chart.getAttribute('data-versions')).toBe('2');
    const form = page.getByRole('form', { name: 'set price' });
    await form.getByLabel('Output / 1M').fill('1500');
    const confirm = form.getByLabel('These rates above $1000 per 1M tokens are right');
    await eventually(() => confirm.count()).toBe(1);
    await form.getByRole('button', { name: 'Save price' }).click();
    await eventually(() => page.locator('.notice.error').first().textContent()).toContain('output $1500 per 1M');
    // Nothing was sent: the history still has two versions.
    const unsaved = await admin<{ history: unknown[] }>('/admin/pricing/models/gpt-4o-mini');
    expect(unsaved.history).toHaveLength(2);
    await confirm.check();
    await form.getByRole('button', { name: 'Save price' }).click();
    await eventually(() => chart.getAttribute('data-versions')).toBe('3');
    const model = await admin<{ current: { rates: { input: string; output: string } } }>('/admin/pricing/models/gpt-4o-mini');
    expect(model.current.rates).toMatchObject({ input: '0.0000003', output: '0.0015' });
    // Back to a believable price, which needs no confirmation.
    await form.getByLabel('Output / 1M').fill('0.60');
    await eventually(() => confirm.count()).toBe(0);
    await form.getByRole('button', { name: 'Save price' }).click();
    await eventually(() => chart.getAttribute('data-versions')).toBe('4');
  });

  it('approves a held-back sync change, which becomes the price', async () => {
    // The scheduler's runs, started through the API: the first registers the feed's models at their prices,
    // the second states gpt-4o-mini's 1000x too high.
    const sync = (file: string, extra: Record<string, unknown> = {}) =>
      admin<{ runId: number; heldBack: Array<{ modelId: string }> }>('/admin/pricing/sync', {
        method: 'POST',
        body: { source: 'openrouter', url: feeds.url(file), execute: true, ...extra },
      });
    await sync('openrouter-models.json', { register_new_models: true });
    const run = await sync('openrouter-unit-mistake.json');
    expect(run.heldBack.map((change) => change.modelId)).toEqual(['openrouter/openai/gpt-4o-mini']);
    await open('/sync');
    const table = page.getByRole('table', { name: 'held-back changes' });
    const row = table.getByRole('row').filter({ hasText: 'openrouter/openai/gpt-4o-mini' });
    await eventually(() => row.textContent()).toContain('1000.0000x');
    await browser.screenshot('05-sync');
    await row.getByRole('button', { name: 'approve openrouter/openai/gpt-4o-mini' }).click();
    await eventually(() => page.getByRole('status').textContent()).toMatch(/Approved: price version \d+ is in force/);
    await eventually(() => table.getByRole('row').filter({ hasText: 'openrouter/openai/gpt-4o-mini' }).count()).toBe(0);
    const model = await admin<{ current: { rates: { input: string }; source: string } }>(
      '/admin/pricing/models/openrouter/openai/gpt-4o-mini',
    );
    expect(model.current).toMatchObject({ rates: { input: '0.00015' }, source: 'sync:openrouter' });
    await page
      .getByRole('link', { name: `#${run.runId}` })
      .first()
      .click();
    await eventually(() => page.getByRole('table', { name: 'run held-back changes' }).textContent()).toContain('approved');
    await browser.screenshot('06-sync-run');
  });

  it.skipIf(!REPORT_API)("reads the overview, whose totals equal the ledger's to the last digit", async () => {
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: account.key, maxRetries: 0 });
    upstream.queue('text', 'cache-hit', 'text', 'error-500');
    for (let call = 0; call < 4; call++) {
      await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${call}` }], max_tokens: 1000 })
        .catch((error: unknown) => {
          if (!(error instanceof OpenAI.APIError) || error.status !== 502) throw error;
        });
    }
    // The captures and usage records are written just after the responses: wait until all four are in.
    await expect
      .poll(async () => (await admin<{ totals: { calls: number } }>(`/admin/usage/summary?account=${account.id}`)).totals.calls, {
        timeout: 30_000,
      })
      .toBe(4);
    await eventually(async () => (await capturedFromLedger(account.id)).entries.length).toBe(3);
    const { total } = await capturedFromLedger(account.id);
    expect(total.isPositive()).toBe(true);
    await open('/');
    const spent = `$${total.toString().replace(/^(\d+)\.?(\d*)$/, (_all, whole: string, fraction: string) => `${whole}.${fraction.padEnd(2, '0')}`)}`;
    await eventually(() => page.getByTestId('spend-month').locator('.stat-value').textContent()).toBe(spent);
    expect(await page.getByTestId('spend-today').locator('.stat-value').textContent()).toBe(spent);
    expect(await page.getByTestId('calls-month').locator('.stat-value').textContent()).toBe('4');
    expect(await page.getByTestId('error-rate').locator('.stat-value').textContent()).toBe('25.00%');
    await eventually(() => page.getByRole('table', { name: 'top accounts' }).textContent()).toContain(account.name);
    expect(await page.locator('figure[data-buckets]').getAttribute('data-series')).toBe('1');
    await browser.screenshot('07-overview');
  });

  it.skipIf(!REPORT_API)('opens a call and shows its breakdown, price version and the ledger entry it produced', async () => {
    const { entries } = await capturedFromLedger(account.id);
    await open('/calls');
    const calls = page.getByRole('table', { name: 'calls' });
    await eventually(() => calls.getByRole('row').count()).toBe(5);
    // The newest successful call: the third text call made above.
    await calls.getByRole('row').filter({ hasText: 'success' }).first().click();
    const detail = page.getByTestId('call-detail');
    const entryId = Number(await detail.getByTestId('call-ledger-entry').textContent());
    const entry = entries.find((candidate) => candidate.id === entryId);
    expect(entry, `ledger entry ${entryId}`).toBeDefined();
    const charge = Decimal.parse(entry!.amount).neg().toString();
    expect((await detail.getByTestId('call-charge').textContent())?.replace(/[$,]/g, '')).toBe(
      charge.includes('.') ? charge.padEnd(charge.indexOf('.') + 3, '0') : `${charge}.00`,
    );
    // The components add up to the charge, exactly (no markup is configured, and nothing was capped).
    const lines = detail.getByRole('table', { name: 'cost breakdown' }).locator('tbody tr');
    const components: string[] = [];
    let sum = Decimal.ZERO;
    for (const row of await lines.all()) {
      const cells = await row.locator('td').allTextContents();
      if (cells.length !== 4) break;
      components.push(cells[0]!);
      sum = sum.add(Decimal.parse(cells[3]!.replace(/[$,]/g, '')));
    }
    expect(components).toEqual(['input', 'output']);
    expect(sum.toString()).toBe(charge);
    expect(await detail.getByTestId('call-capped').count()).toBe(0);
    expect(await detail.getByTestId('call-pricing').textContent()).toContain('match exact');
    expect(Number(await detail.getByTestId('call-price-version').textContent())).toBeGreaterThan(0);
    // The provider's own usage, as it reported it: the record's, shown once the operator opens it.
    const records = await admin<{ data: Array<{ ledger_entry_id: number | null; provider_usage: unknown }> }>(
      `/admin/usage/records?account=${account.id}`,
    );
    const reported = records.data.find((record) => record.ledger_entry_id === entryId)!.provider_usage;
    expect(reported).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    await detail.getByText('Usage as the provider reported it').click();
    expect(JSON.parse((await detail.getByTestId('call-provider-usage').textContent())!)).toEqual(reported);
    await browser.screenshot('08-calls');
  });

  it('shows a customer its own account only', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').fill(account.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.getByTestId('signed-in-as').textContent()).toContain(account.name);
    const detail = await admin<{ account: { balance: string } }>(`/admin/accounts/${account.id}`);
    const balance = detail.account.balance;
    await expect
      .poll(() => page.getByTestId('account-balance').textContent())
      .toContain(`$${balance.includes('.') ? balance.padEnd(balance.indexOf('.') + 3, '0') : `${balance}.00`}`);
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).not.toContain('demo');
    // The operator's pages are not there, and the admin API refuses this session.
    await open('/accounts');
    await eventually(() => new URL(page.url()).pathname).toBe('/console/');
    const status = await page.evaluate(async () => (await fetch('/admin/accounts')).status);
    expect(status).toBe(403);
    await browser.screenshot('09-customer');
    expect(browser.problems).toEqual([]);
  });
});
