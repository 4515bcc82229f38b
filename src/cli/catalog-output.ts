import type { Coverage, SeedReport } from '../catalog/catalog-store.js';
import type { ModelPrice, PriceRates, RateKey } from '../pricing/types.js';
import { formatTable } from './context.js';

/** How many notices a human report lists before pointing to --json. */
const NOTICES_SHOWN = 10;

/** The seed report as the seed script printed it: per-source stats, then coverage. */
export function formatSeedReport(report: SeedReport): string {
  const lines: string[] = [];
  for (const source of report.sources) {
    lines.push(`${source.file} (${source.format})`);
    lines.push(
      indent(
        formatTable([
          ['total', String(source.total)],
          ['inserted', String(source.inserted)],
          ['updated', String(source.updated)],
          ['unchanged', String(source.unchanged)],
          ['models registered', String(source.registered)],
          ['skipped (not in catalog)', String(source.skippedNotInCatalog)],
          ['skipped (zero price)', String(source.skippedZeroPrice)],
          ['superseded by a later file', String(source.superseded)],
          ['matched through a variant', String(source.variantMatches.length)],
          ['errors', String(source.errors.length)],
          ['not imported (notices)', String(source.notices.length)],
        ]),
      ),
    );
    for (const match of source.variantMatches) lines.push(`    variant: ${match.from} -> ${match.to}`);
    for (const error of source.errors) lines.push(`    error: ${error.message}`);
    for (const notice of source.notices.slice(0, NOTICES_SHOWN)) lines.push(`    notice: ${notice.model}: ${notice.message}`);
    if (source.notices.length > NOTICES_SHOWN)
      lines.push(`    ... and ${source.notices.length - NOTICES_SHOWN} more notices (see --json)`);
  }
  lines.push(formatCoverage(report.coverage, report.mode === 'dry-run' ? 'coverage after this run would be' : 'coverage'));
  lines.push(
    report.mode === 'dry-run'
      ? 'dry run: nothing written; add --execute to write'
      : `written: ${report.written.models} models, ${report.written.versions} price versions (${report.written.closed} closed)`,
  );
  return `${lines.join('\n')}\n`;
}

export function formatCoverage(coverage: Coverage, label = 'coverage'): string {
  const lines = [`${label}: ${coverage.priced} of ${coverage.active} active models priced (${coverage.percent}%)`];
  for (const id of coverage.unpriced.slice(0, 50)) lines.push(`  unpriced: ${id}`);
  if (coverage.unpriced.length > 50) lines.push(`  ... and ${coverage.unpriced.length - 50} more (see --json)`);
  return lines.join('\n');
}

/** Every rate of a price version as exact decimal text, with its source and version. */
export function formatPrice(price: ModelPrice): string {
  const rows: string[][] = [
    ['model', price.modelId],
    ['version', String(price.version ?? '-')],
    ['source', price.source],
    ['effective from', price.effectiveFrom?.toISOString() ?? '-'],
    ['effective until', price.effectiveUntil?.toISOString() ?? '(current)'],
  ];
  const lines = [
    formatTable(rows),
    'rates (USD per token; per request / per image for those rates):',
    indent(rateTable(price.rates)),
  ];
  for (const tier of price.tiers) {
    lines.push(`above ${tier.aboveInputTokens} prompt tokens:`, indent(rateTable(tier.rates)));
  }
  return `${lines.join('\n')}\n`;
}

/** The JSON shape of a price: Decimals as exact strings, dates as ISO text. */
export function priceJson(price: ModelPrice): unknown {
  return {
    modelId: price.modelId,
    version: price.version,
    source: price.source,
    effectiveFrom: price.effectiveFrom?.toISOString(),
    effectiveUntil: price.effectiveUntil?.toISOString() ?? null,
    rates: price.rates,
    tiers: price.tiers,
  };
}

function rateTable(rates: Partial<PriceRates>): string {
  const rows = (Object.keys(rates) as RateKey[])
    .filter((key) => rates[key] !== undefined)
    .map((key) => [key, rates[key]!.toString()]);
  return formatTable(rows);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
