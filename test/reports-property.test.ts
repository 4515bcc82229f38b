import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeUsageRecords, type UsageRecordRow } from '../src/gateway/usage-writer.js';
import { createApiKey } from '../src/ledger/api-keys.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { resolveFilters } from '../src/reports/report-filters.js';
import { GROUP_KEYS, type GroupKey } from '../src/reports/summary-plan.js';
import { summaryJson } from '../src/reports/summary-json.js';
import { summarizeUsage } from '../src/reports/usage-summary.js';
import { backends, type TestDatabase } from './support/backends.js';

/**
 * Summaries against the records they sum, for random data: records at random instants across two month
 * boundaries (so several partitions, hours and days), written in random batches (some written twice: a
 * retried write must not be counted twice), then random questions (any grouping, any range, aligned to an
 * hour or not, any filter). Each answer must equal the same sums computed here from the records themselves,
 * and every account's charges must equal what its capture entries took from the ledger.
 */
const START = Date.UTC(2026, 9, 30); // 2026-10-30
const END = Date.UTC(2026, 11, 3); // 2026-12-03
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Days on both sides of two month boundaries, and hours at both ends of a day: records crowd where segments meet. */
const DAYS = [Date.UTC(2026, 9, 31), Date.UTC(2026, 10, 1), Date.UTC(2026, 10, 2), Date.UTC(2026, 10, 30), Date.UTC(2026, 11, 1)];
const wholeHour = fc
  .tuple(fc.constantFrom(...DAYS), fc.constantFrom(0, 1, 2, 11, 12, 22, 23))
  .map(([day, hour]) => day + hour * HOUR);
const instant = fc.tuple(wholeHour, fc.integer({ min: 0, max: HOUR - 1 })).map(([hour, offset]) => hour + offset);
const MODELS = ['gpt-4o-mini', 'claude-sonnet-4-5', null] as const;
const PROVIDERS = ['openai', 'anthropic', null] as const;
const END_USERS = [null, 'user-a', 'user-b', 'user-ç,"quoted"'] as const;
const TOKEN_COLUMNS = [
  'input_uncached_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'input_audio_tokens',
  'output_text_tokens',
  'reasoning_tokens',
  'output_audio_tokens',
] as const;

interface Fixture {
  accounts: Array<{ id: string; keys: string[] }>;
}

const money = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 13n }), fc.integer({ min: 6, max: 18 }))
  .map(([digits, scale]) => Decimal.parse(digits.toString()).shift(-scale));

function recordArbitrary(fixture: Fixture) {
  return fc
    .record({
      account: fc.nat({ max: fixture.accounts.length - 1 }),
      key: fc.nat({ max: 2 }),
      endUser: fc.constantFrom(...END_USERS),
      model: fc.constantFrom(...MODELS),
      provider: fc.constantFrom(...PROVIDERS),
      status: fc.constantFrom('success', 'success', 'error', 'aborted'),
      time: instant,
      tokens: fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 7, maxLength: 7 }),
      providerCost: money,
      markup: money,
    })
    .map((drawn): UsageRecordRow => {
      const account = fixture.accounts[drawn.account]!;
      const failed = drawn.status === 'error';
      const providerCost = failed ? Decimal.ZERO : drawn.providerCost;
      const markup = failed ? Decimal.ZERO : drawn.markup;
      const charge = providerCost.add(markup);
      return {
        request_id: '', // given when written: a shrunk run writes new records, never the same ones again
        account_id: account.id,
        api_key_id: account.keys[drawn.key] ?? null,
        end_user: drawn.endUser,
        requested_model: drawn.model ?? 'unlisted/model-x',
        model_id: drawn.model,
        provider_id: drawn.provider,
        upstream_model: drawn.model,
        ...(Object.fromEntries(TOKEN_COLUMNS.map((column, at) => [column, failed ? 0 : drawn.tokens[at]!])) as Record<
          (typeof TOKEN_COLUMNS)[number],
          number
        >),
        usage_estimated: false,
        usage_anomaly: null,
        price_version: null,
        breakdown: null,
        provider_usage: null,
        provider_cost: providerCost.toString(),
        markup: markup.toString(),
        charge: charge.toString(),
        debit: charge.toString(),
        debit_unit: 'usd',
        pricing_source: 'database',
        pricing_match: 'exact',
        latency_ms: 10,
        status: drawn.status as UsageRecordRow['status'],
        error_code: failed ? 'upstream_error' : null,
        stream: false,
        created_at: new Date(drawn.time).toISOString(),
      };
    });
}

const questionArbitrary = fc.record({
  groupBy: fc.subarray([...GROUP_KEYS], { minLength: 0, maxLength: 3 }),
  // Whole hours, whole days and arbitrary instants, so every kind of segment is exercised, near the records.
  from: fc.oneof(
    instant,
    wholeHour,
    wholeHour.map((time) => time - (time % DAY)),
  ),
  span: fc.oneof(
    fc.integer({ min: 1, max: 3 * DAY }),
    fc.integer({ min: 1, max: 72 }).map((hours) => hours * HOUR),
    fc.integer({ min: 1, max: 35 }).map((days) => days * DAY),
  ),
  filter: fc.constantFrom('none', 'account', 'key', 'model', 'provider', 'end_user'),
  pick: fc.nat(),
});

describe.each(backends())('usage summaries equal the records and the ledger on $name', (backend) => {
  let database: TestDatabase;
  const fixture: Fixture = { accounts: [] };
  const written: UsageRecordRow[] = [];

  beforeAll(async () => {
    database = await backend.open();
    const ledger = new Ledger(database.db);
    for (const name of ['prop-one', 'prop-two', 'prop-three']) {
      const { account } = await ledger.createAccount({ name, mode: 'consumption_usd', credits: Decimal.parse('1000000000000') });
      const keys = [];
      for (let index = 0; index < 2; index += 1)
        keys.push((await createApiKey(database.db, { accountId: account.id, scope: 'user' })).id);
      fixture.accounts.push({ id: account.id, keys });
    }
  });
  afterAll(async () => {
    await database.close();
  });

  it('for random records and random questions', async () => {
    let writtenCount = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArbitrary(fixture), { minLength: 1, maxLength: 30 }),
        fc.array(questionArbitrary, { minLength: 4, maxLength: 10 }),
        fc.integer({ min: 1, max: 30 }),
        async (records, questions, batchSize) => {
          const fresh = records.map((record) => ({ ...record, request_id: `prop-${(writtenCount += 1)}` }));
          for (let at = 0; at < fresh.length; at += batchSize) {
            const batch = fresh.slice(at, at + batchSize);
            expect(await writeUsageRecords(database.db, batch)).toBe(batch.length);
            // A retried write of the same records changes nothing.
            expect(await writeUsageRecords(database.db, batch)).toBe(0);
          }
          await chargeToLedger(database, fresh);
          written.push(...fresh);
          for (const question of questions) await checkQuestion(database, fixture, written, question);
          await checkLedger(database, fixture, written);
        },
      ),
      { numRuns: 30 },
    );
  }, 240_000);
});

/** Each successful call's charge captured on the ledger, as the gateway does (hold, then capture). */
async function chargeToLedger(database: TestDatabase, records: UsageRecordRow[]): Promise<void> {
  const ledger = new Ledger(database.db);
  for (const record of records) {
    const amount = Decimal.parse(record.charge);
    if (record.status === 'error' || amount.isZero()) continue;
    await ledger.hold({ accountId: record.account_id, requestId: record.request_id, amount });
    await ledger.capture({ requestId: record.request_id, amount });
  }
}

async function checkQuestion(
  database: TestDatabase,
  fixture: Fixture,
  written: UsageRecordRow[],
  question: { groupBy: GroupKey[]; from: number; span: number; filter: string; pick: number },
): Promise<void> {
  const from = new Date(question.from);
  const to = new Date(question.from + question.span);
  const pool = written[question.pick % written.length]!;
  const input: Record<string, string> = {};
  if (question.filter === 'account') input.account = pool.account_id;
  if (question.filter === 'key' && pool.api_key_id) input.key = pool.api_key_id;
  if (question.filter === 'model') input.model = pool.model_id ?? pool.requested_model;
  if (question.filter === 'provider' && pool.provider_id) input.provider = pool.provider_id;
  if (question.filter === 'end_user' && pool.end_user) input.end_user = pool.end_user;
  const filters = await resolveFilters(database.db, input);
  const summary = await summarizeUsage(database.db, { groupBy: question.groupBy, from, to, filters });
  const json = await summaryJson(database.db, summary);

  const matching = written.filter((record) => {
    const time = Date.parse(record.created_at);
    if (time < from.getTime() || time >= to.getTime()) return false;
    if (input.account && record.account_id !== input.account) return false;
    if (input.key && record.api_key_id !== input.key) return false;
    if (input.model && (record.model_id ?? record.requested_model) !== input.model) return false;
    if (input.provider && record.provider_id !== input.provider) return false;
    if (input.end_user && record.end_user !== input.end_user) return false;
    return true;
  });
  const expected = new Map<string, Totals>();
  for (const record of matching) {
    const key = JSON.stringify(question.groupBy.map((group) => groupValue(group, record)));
    expected.set(key, add(expected.get(key) ?? empty(), record));
  }
  const actual = new Map<string, Totals>();
  for (const row of json.rows) {
    const key = JSON.stringify(question.groupBy.map((group) => row[group] ?? null));
    actual.set(key, fromJson(row));
  }
  expect(normalise(actual)).toEqual(normalise(expected));
  expect(fromJson(json.totals)).toEqual(matching.reduce(add, empty()));
  // The rows are in order: by time keys first.
  const timeKey = question.groupBy.find((group) => group === 'hour' || group === 'day' || group === 'month');
  if (timeKey) {
    const times = json.rows.map((row) => String(row[timeKey]));
    expect(times).toEqual([...times].sort());
  }
  void fixture;
}

/** Every account's charges in the summary equal −Σ of its capture entries. */
async function checkLedger(database: TestDatabase, fixture: Fixture, written: UsageRecordRow[]): Promise<void> {
  const summary = await summarizeUsage(database.db, {
    groupBy: ['account'],
    from: new Date(START),
    to: new Date(END),
    filters: {},
  });
  const captured = await database.db
    .selectFrom('ledger_entries')
    .select(['account_id', sql<string>`sum(amount)`.as('total')])
    .where('kind', '=', 'capture')
    .groupBy('account_id')
    .execute();
  for (const account of fixture.accounts) {
    const row = summary.rows.find((candidate) => candidate.keys.account === account.id);
    const ledgerTotal = Decimal.parse(captured.find((entry) => entry.account_id === account.id)?.total ?? '0').neg();
    expect(row?.counters.money.charge.toString() ?? '0').toBe(ledgerTotal.toString());
    const fromRecords = written
      .filter((record) => record.account_id === account.id)
      .reduce((sum, record) => sum.add(Decimal.parse(record.charge)), Decimal.ZERO);
    expect(ledgerTotal.toString()).toBe(fromRecords.toString());
  }
}

interface Totals {
  calls: bigint;
  errors: bigint;
  tokens: bigint[];
  money: string[];
}

function empty(): Totals {
  return { calls: 0n, errors: 0n, tokens: TOKEN_COLUMNS.map(() => 0n), money: ['0', '0', '0'] };
}

function add(totals: Totals, record: UsageRecordRow): Totals {
  return {
    calls: totals.calls + 1n,
    errors: totals.errors + (record.status === 'error' ? 1n : 0n),
    tokens: TOKEN_COLUMNS.map((column, at) => totals.tokens[at]! + BigInt(record[column] as number)),
    money: (['provider_cost', 'markup', 'charge'] as const).map((column, at) =>
      Decimal.parse(totals.money[at]!)
        .add(Decimal.parse(record[column] as string))
        .toString(),
    ),
  };
}

function fromJson(row: Record<string, unknown>): Totals {
  return {
    calls: BigInt(row.calls as number),
    errors: BigInt(row.errors as number),
    tokens: TOKEN_COLUMNS.map((column) => BigInt(row[column] as number | string)),
    money: (['provider_cost', 'markup', 'charge'] as const).map((column) => Decimal.parse(row[column] as string).toString()),
  };
}

function normalise(map: Map<string, Totals>) {
  return [...map.entries()].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
}

function groupValue(group: GroupKey, record: UsageRecordRow): string | null {
  const iso = record.created_at;
  switch (group) {
    case 'hour':
      return `${iso.slice(0, 13)}:00:00Z`;
    case 'day':
      return iso.slice(0, 10);
    case 'month':
      return iso.slice(0, 7);
    case 'account':
      return record.account_id;
    case 'key':
      return record.api_key_id ?? null;
    case 'end_user':
      return record.end_user ?? null;
    case 'model':
      return record.model_id ?? record.requested_model;
    case 'provider':
      return record.provider_id ?? null;
  }
}
