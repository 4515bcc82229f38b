/**
 * `npm run bench:reports`: usage summaries at a million recorded calls, answered from the rollups (what the
 * report API and `tollgate usage` do) beside the same question answered by a scan of the raw records, in the
 * same run, with the ratio. The goal: every summary under 100 ms at p95.
 *
 * Fills a scratch PostgreSQL database (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres; dropped at the end) with RECORDS calls (1,000,000) spread over
 * one month: 50 accounts, 150 keys, 2,000 end users (60% of calls name one), 24 models of 6 providers, 2% failed
 * calls; written through the gateway's own writer (src/gateway/usage-writer.ts: records and rollups in one
 * statement, 500 a batch), so the fill rate is the writer's too. BENCH_DATABASE=pglite runs it on an
 * in-memory PGlite instead (use RECORDS=100000 there). Each answer from the rollups is checked equal to the
 * scan's. Options: RUNS (30, per summary from the rollups), SCAN_RUNS (5).
 */
import { sql } from 'kysely';
import { migrate, openDatabase, type Database } from '../src/db/database.js';
import { writeUsageRecords, type UsageRecordRow } from '../src/gateway/usage-writer.js';
import { createApiKey } from '../src/ledger/api-keys.js';
import { Ledger } from '../src/ledger/ledger.js';
import { Decimal } from '../src/money/decimal.js';
import { ROLLUP_TABLES } from '../src/reports/rollup-tables.js';
import type { GroupKey, SummaryFilters } from '../src/reports/summary-plan.js';
import { listUsageRecords } from '../src/reports/usage-records.js';
import { summarizeUsage, type Summary } from '../src/reports/usage-summary.js';
import { openScratchPostgres } from '../test/support/scratch-database.js';

const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const onPGlite = process.env.BENCH_DATABASE === 'pglite';
const RECORDS = Number(process.env.RECORDS ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 30);
const SCAN_RUNS = Number(process.env.SCAN_RUNS ?? 5);
const BATCH = 500;
const MONTH_START = Date.UTC(2026, 10, 1);
const MONTH_END = Date.UTC(2026, 11, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A seeded generator (mulberry32), so every run writes the same calls. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

const PROVIDERS = ['openai', 'anthropic', 'google', 'deepinfra', 'groq', 'mistral'];
/** 24 models, 4 a provider, each with exact per-token input and output rates. */
const MODELS = Array.from({ length: 24 }, (_, index) => ({
  id: `${PROVIDERS[index % 6]}/bench-model-${index}`,
  provider: PROVIDERS[index % 6]!,
  input: Decimal.parse(`0.000000${(index % 9) + 1}5`),
  output: Decimal.parse(`0.00000${(index % 7) + 1}2`),
  cacheRead: Decimal.parse(`0.0000000${(index % 5) + 1}`),
}));

interface Fixture {
  accounts: string[];
  /** Per key: its id, account and the models it calls. */
  keys: Array<{ id: string; account: string; models: number[]; markup: Decimal }>;
}

async function createFixture(database: Database): Promise<Fixture> {
  const ledger = new Ledger(database.db);
  const fixture: Fixture = { accounts: [], keys: [] };
  const next = random(7);
  for (let account = 0; account < 50; account += 1) {
    const created = await ledger.createAccount({ name: `bench-account-${account}`, mode: 'consumption_usd' });
    fixture.accounts.push(created.account.id);
    const markup = account % 3 === 0 ? Decimal.parse('0.1') : Decimal.ZERO;
    for (let key = 0; key < 3; key += 1) {
      const { id } = await createApiKey(database.db, { accountId: created.account.id, scope: 'user' });
      const models = Array.from({ length: 5 }, () => Math.floor(next() * MODELS.length));
      fixture.keys.push({ id, account: created.account.id, models, markup });
    }
  }
  return fixture;
}

function makeRecord(index: number, fixture: Fixture, next: () => number): UsageRecordRow {
  // Busier keys call more: the square skews the choice towards the low indexes.
  const key = fixture.keys[Math.floor(next() * next() * fixture.keys.length)]!;
  const model = MODELS[key.models[Math.floor(next() * key.models.length)]!]!;
  const time = MONTH_START + Math.floor(next() * (MONTH_END - MONTH_START));
  const roll = next();
  const status = roll < 0.02 ? 'error' : roll < 0.025 ? 'aborted' : 'success';
  const failed = status === 'error';
  const input = failed ? 0 : 50 + Math.floor(next() * 8000);
  const cacheRead = failed || next() < 0.6 ? 0 : Math.floor(input * next());
  const output = failed ? 0 : 10 + Math.floor(next() * 1500);
  const reasoning = failed || next() < 0.8 ? 0 : Math.floor(output * next());
  const providerCost = model.input
    .times(input - cacheRead)
    .add(model.cacheRead.times(cacheRead))
    .add(model.output.times(output));
  const markup = providerCost.mul(key.markup);
  const charge = providerCost.add(markup);
  const keyIndex = fixture.keys.indexOf(key);
  const endUser = next() < 0.6 ? `user-${keyIndex + fixture.keys.length * Math.floor(next() * 13)}` : null;
  return {
    request_id: `bench-${index}`,
    account_id: key.account,
    api_key_id: key.id,
    end_user: endUser,
    requested_model: model.id,
    model_id: model.id,
    provider_id: model.provider,
    upstream_model: model.id,
    input_uncached_tokens: input - cacheRead,
    cache_read_tokens: cacheRead,
    cache_write_tokens: 0,
    input_audio_tokens: 0,
    output_text_tokens: output - reasoning,
    reasoning_tokens: reasoning,
    output_audio_tokens: 0,
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
    latency_ms: 200 + Math.floor(next() * 3000),
    status,
    error_code: failed ? 'upstream_error' : null,
    stream: next() < 0.5,
    created_at: new Date(time).toISOString(),
  };
}

async function fill(database: Database, fixture: Fixture): Promise<number> {
  const next = random(42);
  const started = performance.now();
  for (let at = 0; at < RECORDS; at += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, RECORDS - at) }, (_, offset) => makeRecord(at + offset, fixture, next));
    await writeUsageRecords(database.db, batch);
    if ((at + BATCH) % 100_000 === 0) process.stderr.write(`  ${(at + BATCH).toLocaleString('en')} calls written\n`);
  }
  return RECORDS / ((performance.now() - started) / 1000);
}

interface Question {
  name: string;
  groupBy: GroupKey[];
  from: number;
  to: number;
  filters?: SummaryFilters;
}

function questions(fixture: Fixture): Question[] {
  const busiest = fixture.keys[0]!.account;
  const lastWeek = MONTH_END - 7 * DAY;
  // An instant that is not on an hour: the range's edges come from the records.
  const now = MONTH_START + 20 * DAY + 13 * HOUR + 1_234_567;
  return [
    { name: 'month by model', groupBy: ['model'], from: MONTH_START, to: MONTH_END },
    { name: 'month by day', groupBy: ['day'], from: MONTH_START, to: MONTH_END },
    { name: 'month by model, day', groupBy: ['model', 'day'], from: MONTH_START, to: MONTH_END },
    { name: 'month by account', groupBy: ['account'], from: MONTH_START, to: MONTH_END },
    { name: 'month by provider', groupBy: ['provider'], from: MONTH_START, to: MONTH_END },
    { name: 'month to date (unaligned) by model', groupBy: ['model'], from: MONTH_START, to: now },
    { name: 'last 7 days by hour', groupBy: ['hour'], from: lastWeek, to: MONTH_END },
    { name: 'one day by hour, model', groupBy: ['hour', 'model'], from: MONTH_START + 14 * DAY, to: MONTH_START + 15 * DAY },
    { name: 'one account, month by key', groupBy: ['key'], from: MONTH_START, to: MONTH_END, filters: { accountId: busiest } },
    {
      name: 'one account, month by end user',
      groupBy: ['end_user'],
      from: MONTH_START,
      to: MONTH_END,
      filters: { accountId: busiest },
    },
    { name: 'month by end user (all)', groupBy: ['end_user'], from: MONTH_START, to: MONTH_END },
  ];
}

async function time(runs: number, work: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples.sort((left, right) => left - right);
}

function percentile(samples: number[], fraction: number): number {
  return samples[Math.min(samples.length - 1, Math.ceil(fraction * samples.length) - 1)]!;
}

function fingerprint(summary: Summary): string {
  return JSON.stringify({
    rows: summary.rows.map((row) => [
      Object.values(row.keys).map((value) => (value instanceof Date ? value.toISOString() : value)),
      row.counters.calls.toString(),
      row.counters.money.charge.toString(),
      Object.values(row.counters.tokens).map(String),
    ]),
    charge: summary.totals.money.charge.toString(),
  });
}

async function main(): Promise<void> {
  const database: Database = onPGlite
    ? await openDatabase({ kind: 'pglite', dataDirectory: undefined })
    : await openScratchPostgres(adminUrl, 'tollgate_bench_reports');
  try {
    if (onPGlite) await migrate(database.db);
    const fixture = await createFixture(database);
    process.stderr.write(`filling ${RECORDS.toLocaleString('en')} calls on ${onPGlite ? 'PGlite' : 'PostgreSQL'}...\n`);
    const rate = await fill(database, fixture);
    if (!onPGlite) await sql`analyze`.execute(database.db);
    const sizes: Record<string, number> = {};
    for (const table of ['usage_records', ...ROLLUP_TABLES.map((rollup) => rollup.table)]) {
      sizes[table] = Number(
        (await sql<{ rows: number }>`select count(*) as rows from ${sql.table(table)}`.execute(database.db)).rows[0]!.rows,
      );
    }
    console.log(
      `\nbench:reports on ${onPGlite ? 'PGlite (in memory)' : 'PostgreSQL'}: ${RECORDS.toLocaleString('en')} calls over one month`,
    );
    console.log(
      `fill through the gateway's writer (records + ${ROLLUP_TABLES.length} rollups, one statement per ${BATCH}): ${Math.round(rate).toLocaleString('en')} calls/s`,
    );
    console.log(
      `rows: ${Object.entries(sizes)
        .map(([table, rows]) => `${table} ${rows.toLocaleString('en')}`)
        .join(', ')}\n`,
    );
    console.log('summary                                 groups   rollups p50 / p95     scan p50 / p95          p95 ratio');
    let worst = 0;
    for (const question of questions(fixture)) {
      const query = {
        groupBy: question.groupBy,
        from: new Date(question.from),
        to: new Date(question.to),
        filters: question.filters ?? {},
      };
      const fromRollups = await summarizeUsage(database.db, query);
      const fromScan = await summarizeUsage(database.db, query, { source: 'records' });
      if (fingerprint(fromRollups) !== fingerprint(fromScan))
        throw new Error(`${question.name}: the rollups and the scan disagree`);
      const rollups = await time(RUNS, () => summarizeUsage(database.db, query));
      const scan = await time(SCAN_RUNS, () => summarizeUsage(database.db, query, { source: 'records' }));
      const p95 = percentile(rollups, 0.95);
      worst = Math.max(worst, p95);
      console.log(
        `${question.name.padEnd(40)}${String(fromRollups.rows.length).padStart(6)}   ` +
          `${ms(percentile(rollups, 0.5))} / ${ms(p95)}   ${ms(percentile(scan, 0.5))} / ${ms(percentile(scan, 0.95))}   ` +
          `${(percentile(scan, 0.95) / p95).toFixed(0).padStart(6)}x`,
      );
    }
    console.log(
      `\nworst summary p95 from the rollups: ${worst.toFixed(1)} ms (goal: under 100 ms); every answer equal to the scan's`,
    );

    const account = fixture.keys[0]!.account;
    const page = await time(RUNS, () => listUsageRecords(database.db, { filters: { accountId: account }, limit: 50 }));
    let cursor: string | undefined;
    for (let pageNumber = 0; pageNumber < 100; pageNumber += 1) {
      cursor = (await listUsageRecords(database.db, { filters: {}, limit: 50, cursor })).next_cursor ?? undefined;
    }
    const deep = await time(RUNS, () => listUsageRecords(database.db, { filters: {}, limit: 50, cursor }));
    console.log(
      `request log page of 50: first page of one account p95 ${percentile(page, 0.95).toFixed(1)} ms; ` +
        `the 101st page of all p95 ${percentile(deep, 0.95).toFixed(1)} ms (keyset: as cheap as the first)`,
    );
  } finally {
    await database.close();
  }
}

function ms(value: number): string {
  return `${value.toFixed(1).padStart(7)} ms`;
}

await main();
