import type { Coverage, SeedReport } from '../catalog/catalog-store.js';
import type { ModelPrice, PriceRates, RateKey } from '../pricing/types.js';
import { formatTable } from './context.js';
import { ruleText } from '../catalog/match-rules.js';
import { formatTimeOfDay, priceInForce, windowLabel } from '../pricing/windows.js';

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
          [
            source.heldBack > 0 || source.suspicious.length === 0 ? 'held back (suspicious)' : 'accepted (suspicious)',
            String(source.heldBack || source.suspicious.length),
          ],
          ['errors', String(source.errors.length)],
          ['not imported (notices)', String(source.notices.length)],
        ]),
      ),
    );
    for (const match of source.variantMatches) lines.push(`    variant: ${match.from} -> ${match.to}`);
    for (const error of source.errors) lines.push(`    error: ${error.message}`);
    const verb = source.heldBack > 0 ? 'held back' : 'accepted';
    for (const suspicious of source.suspicious.slice(0, NOTICES_SHOWN))
      lines.push(`    ${verb}: ${suspicious.model}: ${suspicious.reasons.join('; ')}`);
    if (source.suspicious.length > NOTICES_SHOWN)
      lines.push(`    ... and ${source.suspicious.length - NOTICES_SHOWN} more ${verb} (see --json)`);
    for (const notice of source.notices.slice(0, NOTICES_SHOWN)) lines.push(`    notice: ${notice.model}: ${notice.message}`);
    if (source.notices.length > NOTICES_SHOWN)
      lines.push(`    ... and ${source.notices.length - NOTICES_SHOWN} more notices (see --json)`);
  }
  if (report.sources.some((source) => source.heldBack > 0))
    lines.push('suspicious prices held back: check them, then seed again with --accept-suspicious to write them anyway');
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

/** How a name resolved, as `catalog price` shows it above the version. */
export interface PriceResolution {
  requested: string;
  modelId: string;
  providerId: string;
  match: string;
  rule: string | null;
  catalog: string;
}

/**
 * Every rate of a price version as exact decimal text, with its source and version, its tiers, its declared
 * names and every time-of-day window, marking what is in force at `at`.
 */
export function formatPrice(price: ModelPrice, at: Date = new Date(), resolution?: PriceResolution): string {
  const rows: string[][] = [];
  if (resolution) {
    rows.push(['requested', resolution.requested]);
    rows.push(['match', `${resolution.match}${resolution.rule ? ` (rule ${resolution.rule})` : ''}, ${resolution.catalog}`]);
    rows.push(['provider', resolution.providerId]);
  }
  rows.push(
    ['model', price.modelId],
    ['version', String(price.version ?? '-')],
    ['source', price.source],
    ['effective from', price.effectiveFrom?.toISOString() ?? '-'],
    ['effective until', price.effectiveUntil?.toISOString() ?? '(current)'],
  );
  if (price.match) rows.push(['declared names', ruleText(price.match)]);
  const inForce = priceInForce(price, at.getTime()).window;
  if (price.windows?.length) rows.push([`in force at ${at.toISOString()}`, inForce ?? 'base rates (no window)']);
  const lines = [
    formatTable(rows),
    `rates (USD per token; per request / per image for those rates)${price.windows?.length ? ', outside every window' : ''}:`,
    indent(rateTable(price.rates)),
  ];
  // An image model's price by size and quality (what /v1/models lists as image_rates): its calls are charged these.
  if (price.imageRates?.length) {
    lines.push(
      'image rates (USD per image, by size and quality):',
      indent(formatTable(price.imageRates.map((entry) => [entry.size, entry.quality ?? '-', entry.rate.toString()]))),
    );
  }
  for (const tier of price.tiers) {
    lines.push(`above ${tier.aboveInputTokens} prompt tokens:`, indent(rateTable(tier.rates)));
  }
  for (const window of price.windows ?? []) {
    lines.push(`from ${windowLabel(window)}:`, indent(rateTable(window.rates)));
    for (const tier of window.tiers)
      lines.push(`  above ${tier.aboveInputTokens} prompt tokens:`, indent(indent(rateTable(tier.rates))));
  }
  return `${lines.join('\n')}\n`;
}

/** The JSON shape of a price: Decimals as exact strings, dates as ISO text, windows with their UTC times. */
export function priceJson(price: ModelPrice, at: Date = new Date()): unknown {
  return {
    modelId: price.modelId,
    version: price.version,
    source: price.source,
    effectiveFrom: price.effectiveFrom?.toISOString(),
    effectiveUntil: price.effectiveUntil?.toISOString() ?? null,
    rates: price.rates,
    tiers: price.tiers,
    imageRates: (price.imageRates ?? []).map((entry) => ({
      size: entry.size,
      ...(entry.quality !== undefined ? { quality: entry.quality } : {}),
      rate: entry.rate.toString(),
    })),
    declaredNames: price.match ?? null,
    windows: (price.windows ?? []).map((window) => ({
      from: formatTimeOfDay(window.startSecond),
      until: formatTimeOfDay(window.endSecond),
      rates: window.rates,
      tiers: window.tiers,
    })),
    at: at.toISOString(),
    windowInForce: priceInForce(price, at.getTime()).window ?? null,
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
