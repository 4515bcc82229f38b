/**
 * `npm run bench:import`: the full LiteLLM map (1,528 priced entries) imported with register-models and
 * execute, on an empty catalog, then the same import again (everything unchanged, nothing written). On
 * in-memory PGlite always, and on PostgreSQL when TEST_DATABASE_URL or DATABASE_URL is set (a scratch
 * database is created and dropped). Options: ROUNDS (3): each backend is measured ROUNDS times on a fresh
 * database and the median is printed.
 */
import { readFileSync } from 'node:fs';
import { seedCatalog } from '../src/catalog/catalog-store.js';
import { parseSource } from '../src/catalog/importers/index.js';
import { migrate, openDatabase, type Database } from '../src/db/database.js';
import { openScratchPostgres } from '../test/support/scratch-database.js';

const rounds = Number(process.env.ROUNDS ?? 3);
const file = new URL('../data/catalog/model_prices_and_context_window.json', import.meta.url);
const text = readFileSync(file, 'utf8');

interface Measure {
  parse: number;
  first: number;
  second: number;
  models: number;
  versions: number;
}

async function measureOnce(open: () => Promise<{ database: Database; close: () => Promise<void> }>): Promise<Measure> {
  const { database, close } = await open();
  try {
    let started = performance.now();
    const source = parseSource(text, 'model_prices_and_context_window.json', 'litellm');
    const parse = performance.now() - started;
    started = performance.now();
    const first = await seedCatalog(database.db, [source], { execute: true, registerModels: true });
    const firstTime = performance.now() - started;
    started = performance.now();
    const second = await seedCatalog(database.db, [source], { execute: true, registerModels: true });
    const secondTime = performance.now() - started;
    if (second.written.versions !== 0 || second.written.models !== 0) throw new Error('the second run wrote something');
    return { parse, first: firstTime, second: secondTime, models: first.written.models, versions: first.written.versions };
  } finally {
    await close();
  }
}

async function measure(open: () => Promise<{ database: Database; close: () => Promise<void> }>): Promise<Measure> {
  const results: Measure[] = [];
  for (let round = 0; round < rounds; round++) results.push(await measureOnce(open));
  const median = (pick: (measure: Measure) => number) => results.map(pick).sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  return {
    parse: median((m) => m.parse),
    first: median((m) => m.first),
    second: median((m) => m.second),
    models: results[0]!.models,
    versions: results[0]!.versions,
  };
}

async function openPGlite() {
  const database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
  await migrate(database.db);
  return { database, close: () => database.close() };
}

function postgresOpener(adminUrl: string) {
  return async () => {
    const database = await openScratchPostgres(adminUrl, 'tollgate_bench');
    return { database, close: () => database.close() };
  };
}

const rows: string[][] = [
  ['backend', 'parse ms', 'first run ms (register + price)', 'second run ms (unchanged)', 'models', 'versions'],
];
const add = (name: string, result: Measure) =>
  rows.push([
    name,
    result.parse.toFixed(0),
    result.first.toFixed(0),
    result.second.toFixed(0),
    String(result.models),
    String(result.versions),
  ]);

add('pglite (in memory)', await measure(openPGlite));
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
if (postgresUrl) add('postgresql', await measure(postgresOpener(postgresUrl)));

const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
console.log(`LiteLLM map import (median of ${rounds} rounds, each on a fresh database)`);
for (const row of rows)
  console.log(
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
if (!postgresUrl) console.log('PostgreSQL: not configured (set TEST_DATABASE_URL or DATABASE_URL to measure it)');
