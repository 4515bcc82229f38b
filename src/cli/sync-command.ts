import { Option, type Command } from 'commander';
import { PRICES_CHANGED_CHANNEL } from '../db/channels.js';
import type { RateChange } from '../sync/diff.js';
import type { SyncResult, SyncSource } from '../sync/run-sync.js';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, formatTable, printJson, withContext } from './context.js';

/** The feeds `--source` takes; the sync checks the name again against its own list (src/sync/run-sync.ts). */
export const SOURCES: readonly SyncSource[] = ['openrouter', 'litellm', 'genai-prices', 'portkey'];

interface SyncOptions {
  source: SyncSource;
  url?: string;
  dryRun?: boolean;
  execute?: boolean;
  registerNewModels?: boolean;
  adoptOtherSources?: boolean;
  json?: boolean;
}

/** Lines listed per section of the human summary; --json has everything. */
const LIST_LIMIT = 20;

/**
 * `tollgate catalog sync`: the same run as the scheduler and POST /admin/pricing/sync, from the command line.
 * Dry run by default. Exit 1 when the fetch failed or changes were held back, so a cron wrapper notices.
 */
export function registerSyncCommand(program: Command): void {
  const catalog =
    program.commands.find((command) => command.name() === 'catalog') ??
    program.command('catalog').description('the price catalog');
  catalog
    .command('sync')
    .description('fetch a provider price feed, diff it with the catalog and (with --execute) write the changes as new versions')
    .addOption(new Option('--source <source>', 'the feed').choices([...SOURCES]).makeOptionMandatory())
    .option('--url <url>', "the feed's URL (default: TOLLGATE_SYNC_URL_<SOURCE>)")
    .option('--dry-run', 'report the diff and write nothing (the default)')
    .option('--execute', 'write the changes that pass the guards as new price versions effective now')
    .option('--register-new-models', 'also register the models the feed prices that the catalog lacks')
    .option('--adopt-other-sources', 'also reprice models whose current price another source set (an admin, another feed)')
    .option('--json', 'print the whole result as JSON')
    .action(async (options: SyncOptions, command: Command) => {
      if (options.dryRun && options.execute) {
        process.stderr.write('error: choose one of --dry-run and --execute\n');
        process.exitCode = EXIT_USAGE;
        return;
      }
      await withContext(command, async ({ config, database, logger }) => {
        const [{ AlertService }, { runSync }, { SYNC_LOCK_KEY }] = await Promise.all([
          import('../sync/alerts.js'),
          import('../sync/run-sync.js'),
          import('../sync/sync-service.js'),
        ]);
        const url = options.url ?? config.sync.urls[options.source];
        if (!url) {
          process.stderr.write(
            `error: no URL for the ${options.source} feed: pass --url or set ` +
              `TOLLGATE_SYNC_URL_${options.source.toUpperCase().replace('-', '_')}\n`,
          );
          return EXIT_USAGE;
        }
        // The command prints the run and its alerts itself: warning lines on stdout would break --json.
        const quiet = logger.child({ component: 'price-sync' }, { level: 'error' });
        const alerts = new AlertService({ database, logger: quiet, webhookUrl: config.sync.alertWebhookUrl });
        const result = await database.withAdvisoryLock(SYNC_LOCK_KEY, () =>
          runSync(
            {
              source: options.source,
              url,
              execute: options.execute === true,
              registerNewModels: options.registerNewModels === true,
              adoptOtherSources: options.adoptOtherSources === true,
            },
            {
              database,
              logger: quiet,
              alerts,
              maxChangeRatio: config.sync.maxChangeRatio,
              timeoutMs: config.sync.timeoutMs,
              // Running gateways on the same PostgreSQL reload their snapshot at once.
              onPricesChanged: () => database.notify(PRICES_CHANGED_CHANNEL, 'sync'),
            },
          ),
        );
        if (!result) {
          process.stderr.write('error: a price sync is already running on this database; try again when it has finished\n');
          return EXIT_PROBLEM;
        }
        if (options.json) printJson(result);
        else process.stdout.write(`${formatSyncResult(result)}\n`);
        // The alerts are stored; their webhook deliveries finish before the process exits.
        await alerts.idle();
        return result.status === 'failed' || result.heldBack.length > 0 ? EXIT_PROBLEM : EXIT_OK;
      });
    });
}

/** The human summary of a run: counts, then each section with the models it names. */
export function formatSyncResult(result: SyncResult): string {
  const mode = result.mode === 'execute' ? 'executed' : 'dry run';
  if (result.status === 'failed') return `${result.source} sync failed (${mode}, nothing changed): ${result.error}`;
  const summary = result.summary;
  const lines = [
    `${result.source} sync (${mode}) from ${result.url}`,
    `${summary.entries} entries: ${summary.changed} changed, ${summary.unchanged} unchanged, ${summary.heldBack} held back, ` +
      `${summary.newModels} new, ${summary.gone} gone, ${summary.zeroPriced} zero-priced skipped, ` +
      `${summary.otherSource} priced by another source`,
  ];
  const section = (title: string, rows: string[][]) => {
    if (rows.length === 0) return;
    lines.push('', title, indent(formatTable(rows.slice(0, LIST_LIMIT))));
    if (rows.length > LIST_LIMIT) lines.push(`  ... and ${rows.length - LIST_LIMIT} more (--json lists them all)`);
  };
  section(
    result.mode === 'execute' ? 'applied (new versions effective now):' : 'would apply:',
    result.changes.map((change) => [change.modelId, change.firstPrice ? 'first price' : describeRates(change.rates)]),
  );
  section(
    'held back (alerted; confirm by hand with PUT /admin/pricing/models/<id>/price):',
    result.heldBack.map((held) => [held.modelId, held.reasons.join('; ')]),
  );
  section(
    summary.registered > 0 ? 'new models (registered):' : 'new models (not in the catalog; --register-new-models adds them):',
    result.newModels.map((model) => [model.modelId, model.registered ? 'registered' : 'not registered']),
  );
  section(
    'gone from the feed (still priced; deactivate them if they were retired):',
    result.gone.map((id) => [id]),
  );
  section(
    'priced by another source (kept; --adopt-other-sources applies the feed):',
    result.otherSource.map((change) => [change.modelId, `${change.currentSource}: ${describeRates(change.rates)}`]),
  );
  if (result.mode === 'dry-run') lines.push('', 'dry run: nothing was written; run with --execute to apply');
  return lines.join('\n');
}

function describeRates(rates: RateChange[]): string {
  return rates
    .map((rate) => `${rate.rate} ${rate.old ?? '-'} -> ${rate.new ?? '-'}${rate.ratio ? ` (x${rate.ratio})` : ''}`)
    .join(', ');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
