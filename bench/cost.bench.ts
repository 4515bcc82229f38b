/**
 * `npm run bench:cost`: resolve + price over a mix of 10,000 (model, usage) pairs, beside `@pydantic/genai-prices`
 * `calcPrice` on the same pairs in the same run. Both sides price from genai-prices' data: ours from its
 * data.json seeded into an in-memory PGlite catalog and loaded by PricingCatalog (the gateway's own lookup
 * path), the peer from the data bundled in its package. Ours is exact (bigint decimals); the peer uses floats.
 *
 * Options: PAIRS (10000), ROUNDS (20).
 */
import { readFileSync } from 'node:fs';
import { calcPrice } from '@pydantic/genai-prices';
import { seedCatalog } from '../src/catalog/catalog-store.js';
import { parseExactJson } from '../src/catalog/importers/exact-json.js';
import { parseGenaiPrices } from '../src/catalog/importers/genai-prices.js';
import { PricingCatalog } from '../src/catalog/snapshot.js';
import { loadConfig } from '../src/config/config.js';
import { migrate, openDatabase } from '../src/db/database.js';
import { silentLogger } from '../src/logging/logger.js';
import { priceUsage } from '../src/pricing/cost.js';
import type { NormalizedUsage } from '../src/pricing/types.js';
import { usageFromTotals } from '../src/pricing/usage.js';

const pairs = Number(process.env.PAIRS ?? 10_000);
const rounds = Number(process.env.ROUNDS ?? 20);

// Models both sides know, with the names callers send (dated snapshots included).
const MODELS: Array<{ provider: string; name: string }> = [
  { provider: 'openai', name: 'gpt-4o' },
  { provider: 'openai', name: 'gpt-4o-mini' },
  { provider: 'openai', name: 'gpt-4o-2024-11-20' },
  { provider: 'openai', name: 'gpt-4.1' },
  { provider: 'openai', name: 'o3-mini' },
  { provider: 'anthropic', name: 'claude-sonnet-4-5' },
  { provider: 'anthropic', name: 'claude-3-5-haiku-20241022' },
  { provider: 'anthropic', name: 'claude-opus-4-1' },
  { provider: 'google', name: 'gemini-2.5-flash' },
  { provider: 'google', name: 'gemini-2.5-pro' },
];

interface Pair {
  provider: string;
  name: string;
  qualified: string;
  usage: NormalizedUsage;
  peerUsage: { input_tokens: number; cache_read_tokens: number; output_tokens: number };
}

/** A small deterministic generator, so every run prices the same mix. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function makePairs(count: number): Pair[] {
  const random = generator(42);
  const list: Pair[] = [];
  for (let index = 0; index < count; index += 1) {
    const model = MODELS[Math.floor(random() * MODELS.length)]!;
    // Mostly chat-sized prompts, one in ten long enough to cross a 200k tier.
    const input = random() < 0.1 ? 200_000 + Math.floor(random() * 100_000) : 50 + Math.floor(random() * 20_000);
    const cached = random() < 0.4 ? Math.floor(input * random()) : 0;
    const output = 1 + Math.floor(random() * 4_000);
    list.push({
      provider: model.provider,
      name: model.name,
      qualified: `${model.provider}/${model.name}`,
      usage: usageFromTotals({ input, output, cached }),
      peerUsage: { input_tokens: input, cache_read_tokens: cached, output_tokens: output },
    });
  }
  return list;
}

const data = readFileSync(new URL('../fixtures/genai-prices/data.json', import.meta.url), 'utf8');
const database = await openDatabase({ kind: 'pglite', dataDirectory: undefined });
await migrate(database.db);
const parsed = parseGenaiPrices(parseExactJson(data), 'data.json', new Date());
await seedCatalog(database.db, [parsed], { execute: true, registerModels: true, now: new Date(Date.now() - 60_000) });
const catalog = await PricingCatalog.create({
  database,
  config: loadConfig({ TOLLGATE_FALLBACK_PRICING_FILE: '/nonexistent/no-fallback.json' }),
  logger: silentLogger(),
});
await database.close();
const workload = makePairs(pairs);

function runOurs(): number {
  let priced = 0;
  for (const pair of workload) {
    const resolution = catalog.resolve(pair.qualified);
    if (resolution && resolution.source === 'database' && !priceUsage(pair.usage, resolution.price).providerCost.isNegative()) {
      priced += 1;
    }
  }
  return priced;
}

function runPeer(): number {
  let priced = 0;
  for (const pair of workload) {
    const result = calcPrice(pair.peerUsage, pair.name, { providerId: pair.provider });
    if (result && result.total_price >= 0) priced += 1;
  }
  return priced;
}

function measure(name: string, run: () => number): { rate: number; priced: number } {
  let priced = run(); // warm up: JIT, memo, the peer's lazy data load
  const started = process.hrtime.bigint();
  for (let round = 0; round < rounds; round += 1) priced = run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rate = (pairs * rounds) / seconds;
  console.log(`${name.padEnd(34)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} pairs/s  (${priced}/${pairs} priced)`);
  return { rate, priced };
}

/** How often the two agree on the total, ours exact and theirs a float (relative difference under 1e-9). */
function agreement(): number {
  let same = 0;
  for (const pair of workload) {
    const ours = catalog.resolve(pair.qualified);
    const theirs = calcPrice(pair.peerUsage, pair.name, { providerId: pair.provider });
    if (!ours || !theirs) continue;
    const exact = priceUsage(pair.usage, ours.price).providerCost.toNumberForDisplay();
    if (Math.abs(exact - theirs.total_price) <= 1e-9 * Math.max(exact, 1e-12)) same += 1;
  }
  return same;
}

console.log(`catalog: ${catalog.modelCount} models from genai-prices data.json`);
console.log(`cost benchmark: ${pairs.toLocaleString('en-US')} (model, usage) pairs x ${rounds} rounds, Node ${process.version}`);
const ours = measure('tollgate resolve + priceUsage', runOurs);
const peer = measure('@pydantic/genai-prices calcPrice', runPeer);
console.log(`ratio: ${(ours.rate / peer.rate).toFixed(1)}x the peer's rate`);
console.log(`totals agreeing within 1e-9 relative: ${agreement()}/${pairs}`);
