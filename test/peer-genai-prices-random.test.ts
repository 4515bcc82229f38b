import { readFileSync } from 'node:fs';
import { calcPrice, updatePrices, type Provider } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { parseExactJson } from '../src/catalog/importers/exact-json.js';
import { parseGenaiPrices } from '../src/catalog/importers/genai-prices.js';
import { ruleBranches } from '../src/catalog/match-rules.js';
import { resolveIn, snapshotFromEntries } from '../src/catalog/resolver.js';
import { Decimal } from '../src/money/decimal.js';
import { priceUsage } from '../src/pricing/cost.js';
import type { MatchRule } from '../src/pricing/types.js';
import { usageFromTotals } from '../src/pricing/usage.js';

/**
 * Random cases against `@pydantic/genai-prices` `calcPrice`, both sides pricing from the same data: the
 * provider data bundled in the package (fixtures/genai-prices/package-data.json, see SOURCES.md), handed to
 * calcPrice with `updatePrices` and imported by tollgate's genai-prices importer. Names come from the data's
 * own `match` clauses (names that exist only as a clause included), provider-qualified and bare; usages cross
 * the tier boundaries; times cover the whole UTC day, so DeepSeek's windows are crossed. A case counts as
 * equal when tollgate's exact total and genai-prices' float total agree to 12 significant digits (a float sum
 * carries about 16); the differences are counted by cause and each cause is explained in the README.
 */
const dataText = readFileSync(new URL('../fixtures/genai-prices/package-data.json', import.meta.url), 'utf8');
const providers = JSON.parse(dataText) as Provider[];
updatePrices(({ setProviderData }) => setProviderData(providers));
// The data's dated prices are chosen as of this day; every case runs on it, at a random time of day.
const DAY = Date.parse('2026-11-02T00:00:00Z');
const parsed = parseGenaiPrices(parseExactJson(dataText), 'package-data.json', new Date(DAY));
const snapshot = snapshotFromEntries(parsed.entries, 'json', 'genai-prices');

function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Names a caller could send that the rule declares: each literal of an `equals`, `starts_with` or `ends_with`. */
function declaredNames(rule: MatchRule): string[] {
  return ruleBranches(rule).flatMap((branch) => {
    if ('equals' in branch) return [branch.equals];
    if ('starts_with' in branch) return [branch.starts_with];
    return [];
  });
}

interface Case {
  name: string;
  provider: string | undefined;
  input: number;
  cached: number;
  cacheWrite: number;
  output: number;
  at: number;
}

function makeCases(): Case[] {
  const random = generator(11);
  const cases: Case[] = [];
  for (const provider of providers) {
    for (const model of provider.models) {
      const prices = JSON.stringify(model.prices);
      const starts = [...prices.matchAll(/"start":(\d+)/g)].map((match) => Number(match[1]));
      const windowed = prices.includes('start_time');
      for (const name of new Set([model.id, ...declaredNames(model.match as MatchRule)])) {
        const usage = () => {
          const boundary = starts.length ? starts[Math.floor(random() * starts.length)]! : 200_000;
          const roll = random();
          const input =
            roll < 0.2
              ? boundary + Math.floor(random() * 3) - 1
              : roll < 0.4
                ? boundary + Math.floor(random() * 100_000)
                : Math.floor(random() * 50_000);
          const cached = random() < 0.4 ? Math.floor(input * random() * 0.5) : 0;
          const cacheWrite = random() < 0.2 ? Math.floor((input - cached) * random() * 0.5) : 0;
          return { input, cached, cacheWrite, output: Math.floor(random() * 8_000) };
        };
        for (const bare of [false, false, false, true, true, true]) {
          cases.push({ name, provider: bare ? undefined : provider.id, ...usage(), at: DAY + Math.floor(random() * 86_400_000) });
        }
        if (!windowed) continue;
        // Every half hour of the day, and a millisecond either side of each window's edges.
        const edges = [...prices.matchAll(/"(?:start|end)_time":"(\d\d):(\d\d):(\d\d)Z"/g)].map(
          (match) => (Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000,
        );
        const times = [
          ...Array.from({ length: 48 }, (_, half) => half * 1_800_000),
          ...edges.flatMap((edge) => [edge - 1, edge, edge + 1]),
        ];
        for (const time of times) {
          const bare = random() < 0.5;
          cases.push({
            name,
            provider: bare ? undefined : provider.id,
            ...usage(),
            at: DAY + ((time + 86_400_000) % 86_400_000),
          });
        }
      }
    }
  }
  return cases;
}

function sameTo12Digits(ours: Decimal, theirs: number): boolean {
  return Number(ours.toString()).toPrecision(12) === theirs.toPrecision(12);
}

describe('peer check: random cases against @pydantic/genai-prices calcPrice', () => {
  it('prices names, tiers, windows and bare names as genai-prices does, to the last digit', () => {
    const cases = makeCases();
    const counts: Record<string, number> = {};
    const count = (kind: string) => (counts[kind] = (counts[kind] ?? 0) + 1);
    const differences: string[] = [];
    let compared = 0;
    let equal = 0;
    const models = new Set<string>();
    for (const testCase of cases) {
      const timestamp = new Date(testCase.at);
      const peerUsage = {
        input_tokens: testCase.input,
        cache_read_tokens: testCase.cached,
        cache_write_tokens: testCase.cacheWrite,
        output_tokens: testCase.output,
      };
      const theirs = calcPrice(peerUsage, testCase.name, {
        ...(testCase.provider ? { providerId: testCase.provider } : {}),
        timestamp,
      });
      if (!theirs) {
        count('not priced by genai-prices (no provider matches the bare name)');
        continue;
      }
      const theirId = `${theirs.provider.id}/${theirs.model.id}`;
      const name = testCase.provider ? `${testCase.provider}/${testCase.name}` : testCase.name;
      const ours = resolveIn(snapshot, name, testCase.at);
      compared += 1;
      models.add(theirId);
      if (!ours) {
        count('not resolved by tollgate');
        differences.push(`${name}: unresolved, genai-prices ${theirId}`);
        continue;
      }
      const usage = usageFromTotals({
        input: testCase.input,
        output: testCase.output,
        cached: testCase.cached,
        cacheWrite: testCase.cacheWrite,
      });
      const total = priceUsage(usage, ours.price).providerCost;
      if (ours.price.window) count('of the compared: priced in a time-of-day window');
      if (priceUsage(usage, ours.price).tier !== undefined) count('of the compared: above a tier threshold');
      if (!testCase.provider) count('of the compared: bare names');
      if (ours.match === 'alias') count('of the compared: through a declared rule');
      if (sameTo12Digits(total, theirs.total_price)) {
        equal += 1;
        count(ours.modelId === theirId ? 'equal' : 'equal, through another model with the same rates');
        continue;
      }
      const reason = ours.modelId === theirId ? 'same model, different total' : 'another model chosen';
      count(reason);
      differences.push(
        `${name} @${timestamp.toISOString()}: ${ours.modelId} (${ours.match}) ${total} vs ${theirId} ${theirs.total_price}`,
      );
    }
    const share = equal / compared;
    console.log(
      JSON.stringify(
        { cases: cases.length, compared, equal, share, models: models.size, counts, differences: differences.slice(0, 30) },
        null,
        2,
      ),
    );
    expect(share).toBeGreaterThanOrEqual(0.999);
    // The figures the README quotes (the cases are deterministic).
    expect({ cases: cases.length, compared, models: models.size }).toEqual({ cases: 16_152, compared: 10_683, models: 1_693 });
    expect(counts).toEqual({
      equal: 10_683,
      'of the compared: bare names': 2_780,
      'of the compared: through a declared rule': 3_738,
      'of the compared: above a tier threshold': 133,
      'of the compared: priced in a time-of-day window': 282,
      'not priced by genai-prices (no provider matches the bare name)': 5_469,
    });
  });
});
