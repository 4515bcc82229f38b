import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FORMAT_NAMES, type FormatName } from '../catalog/importers/types.js';
import { PRICES_CHANGED_CHANNEL } from '../db/channels.js';
import type { Database } from '../db/database.js';
import { EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, printJson, readTime, withContext } from './context.js';
import { formatCoverage, formatPrice, formatSeedReport, priceJson } from './catalog-output.js';

/** The catalog's code (importers, store, validation), loaded when a catalog command runs, not to print help. */
async function catalogModules() {
  const [exactJson, importers, store, validate] = await Promise.all([
    import('../catalog/importers/exact-json.js'),
    import('../catalog/importers/index.js'),
    import('../catalog/catalog-store.js'),
    import('../catalog/validate.js'),
  ]);
  return { ...exactJson, ...importers, ...store, ...validate };
}

/** A problem with the command line or its files, reported on one line with exit code 2. */
class UsageError extends Error {}

interface SeedFlags {
  format?: string;
  dryRun?: boolean;
  execute?: boolean;
  registerModels?: boolean;
  acceptSuspicious?: boolean;
  json?: boolean;
}

/** `tollgate catalog ...`: register models, seed and validate price files, coverage, prices. */
export function registerCatalogCommands(program: Command): void {
  const catalog = program.command('catalog').description('the price catalog: models, prices, seeding, validation, coverage');

  catalog
    .command('models')
    .description('register catalog models')
    .command('import <file>')
    .description(
      'register the models of a catalog_models.json file ({"models": [{id, provider, upstream_model, active, modality}]})',
    )
    .option('--json', 'print the result as JSON')
    .action(async (file: string, options: { json?: boolean }, command: Command) => {
      const { readRegisterModels, parseExactJson, registerModels } = await catalogModules();
      const models = guard(() => readRegisterModels(parseExactJson(readText(file)), file));
      if (!models) return;
      await withContext(command, async ({ database }) => {
        const result = await registerModels(database.db, models);
        if (result.inserted > 0) await announcePriceChange(database, 'models-import');
        if (options.json) printJson({ file, ...result });
        else process.stdout.write(`${file}: ${result.inserted} models registered, ${result.unchanged} already in the catalog\n`);
      });
    });

  catalog
    .command('seed <files...>')
    .description('price catalog models from price files (the last file wins for a model several price); dry run unless --execute')
    .option('--format <format>', `the files' format (default: detected): ${FORMAT_NAMES.join(', ')}`)
    .option('--dry-run', 'compare and report, write nothing (the default)')
    .option('--execute', 'write every valid change in one transaction')
    .option('--register-models', 'create the models that are not yet in the catalog')
    .option(
      '--accept-suspicious',
      'write prices that fail validation (a token rate above the believable limit) instead of holding them back',
    )
    .option('--json', 'print the report as JSON (no progress bar)')
    .action(async (files: string[], options: SeedFlags, command: Command) => {
      const { parseSource, seedCatalog } = await catalogModules();
      const sources = guard(() => {
        if (options.dryRun && options.execute) throw new UsageError('--dry-run and --execute exclude each other');
        const format = readFormat(options.format);
        return files.map((file) => parseSource(readText(file), file, format));
      });
      if (!sources) return;
      await withContext(command, async ({ database }) => {
        const bar = await progressBar(Boolean(options.json));
        try {
          const report = await seedCatalog(database.db, sources, {
            execute: Boolean(options.execute),
            registerModels: Boolean(options.registerModels),
            acceptSuspicious: Boolean(options.acceptSuspicious),
            ...(bar ? { onProgress: bar.update } : {}),
          });
          bar?.stop();
          if (report.written.models > 0 || report.written.versions > 0) await announcePriceChange(database, 'seed');
          if (options.json) printJson(report);
          else process.stdout.write(formatSeedReport(report));
          return report.sources.some((source) => source.errors.length > 0 || source.heldBack > 0) ? EXIT_PROBLEM : EXIT_OK;
        } finally {
          bar?.stop();
        }
      });
    });

  catalog
    .command('validate <files...>')
    .description('check price files without writing: valid prices, critical models present, suspicious values')
    .option('--critical <models>', 'comma-separated models that must be priced (default: the widely used ones, e.g. gpt-4o)')
    .option('--format <format>', `the files' format (default: detected): ${FORMAT_NAMES.join(', ')}`)
    .option('--json', 'print the result as JSON')
    .action(async (files: string[], options: { critical?: string; format?: string; json?: boolean }) => {
      const { DEFAULT_CRITICAL_MODELS, formatProblem, validateSources } = await catalogModules();
      const inputs = guard(() => {
        readFormat(options.format);
        return files.map((file) => ({ file, text: readText(file) }));
      });
      if (!inputs) return;
      const critical = (options.critical ?? DEFAULT_CRITICAL_MODELS.join(','))
        .split(',')
        .map((model) => model.trim())
        .filter(Boolean);
      const format = options.format as FormatName | undefined;
      const result = validateSources(inputs, { critical, ...(format ? { format } : {}) });
      if (options.json) printJson(result);
      else {
        for (const problem of result.problems) process.stdout.write(`${formatProblem(problem)}\n`);
        const entries = result.sources.reduce((sum, source) => sum + source.entries, 0);
        process.stdout.write(
          `${result.valid ? 'valid' : 'invalid'}: ${files.length} file(s), ${entries} priced models, ${result.problems.length} problem(s)\n`,
        );
      }
      process.exitCode = result.valid ? EXIT_OK : EXIT_PROBLEM;
    });

  catalog
    .command('coverage')
    .description('active models, how many have a current price, and which do not (exit 1 when any is unpriced)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { coverage } = await catalogModules();
        const result = await coverage(database.db);
        if (options.json) printJson(result);
        else process.stdout.write(`${formatCoverage(result)}\n`);
        return result.unpriced.length > 0 ? EXIT_PROBLEM : EXIT_OK;
      });
    });

  catalog
    .command('price <model>')
    .description("a model's current price, or the one in force at --at, with every rate as an exact decimal")
    .option('--at <time>', 'an ISO 8601 time, e.g. 2026-01-26T12:00:00Z')
    .option('--json', 'print the price as JSON')
    .action(async (model: string, options: { at?: string; json?: boolean }, command: Command) => {
      const at = guard(() => readTime(options.at));
      if (at === null) return;
      await withContext(command, async ({ database, config, logger }) => {
        const [{ priceAt }, { PricingCatalog }, resolver] = await Promise.all([
          catalogModules(),
          import('../catalog/snapshot.js'),
          import('../catalog/resolver.js'),
        ]);
        // The name resolves as a call's would (alias, declared rule, prefix, snapshot), through the same resolver.
        const catalog = await PricingCatalog.create({ database, config, logger });
        // Routed as the gateway routes a name: its prefix, its maker, else the default provider.
        const { detectProvider } = await import('../catalog/provider-detection.js');
        const found = catalog.lookup(model, { provider: detectProvider(model, () => true) ?? config.defaultProvider });
        const price = !found
          ? undefined
          : found.source === 'database'
            ? await priceAt(database.db, found.model.id, at)
            : resolver.priceAt(found.model, (at ?? new Date()).getTime());
        if (!found || !price) {
          const when = at ? ` at ${at.toISOString()}` : '';
          if (options.json) printJson({ requested: model, modelId: found?.model.id ?? null, price: null });
          process.stderr.write(`error: no price for ${model}${when}\n`);
          return EXIT_PROBLEM;
        }
        const resolution = {
          requested: model,
          modelId: found.model.id,
          providerId: found.model.providerId,
          match: found.match,
          rule: found.rule ?? null,
          catalog: found.source,
        };
        const time = at ?? new Date();
        if (options.json) printJson({ ...resolution, ...(priceJson(price, time) as object) });
        else process.stdout.write(formatPrice(price, time, resolution));
        return EXIT_OK;
      });
    });
}

/**
 * Tells every running gateway on the database that the catalog changed, on the channel the admin routes and the
 * sync announce on: each reloads its snapshot at once instead of charging the replaced version until its TTL.
 * On PostgreSQL the NOTIFY reaches every listener; on PGlite beside a `serve`, this command's connection is the
 * server's socket and the NOTIFY reaches the server's own listener. The change is committed before this runs:
 * when the NOTIFY fails the command still succeeds, and says how the gateways will learn of it.
 */
async function announcePriceChange(database: Database, what: string): Promise<void> {
  try {
    await database.notify(PRICES_CHANGED_CHANNEL, what);
  } catch (error) {
    process.stderr.write(
      `warning: the catalog change is written, but running gateways could not be told (${error instanceof Error ? error.message : String(error)}); ` +
        'they load it within TOLLGATE_PRICING_TTL_SECONDS, or at once with POST /admin/pricing/reload\n',
    );
  }
}

/** Runs `read`; a UsageError or a file/format problem prints one line and sets exit code 2. */
function guard<T>(read: () => T): T | null {
  try {
    return read();
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT_USAGE;
    return null;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

function readFormat(format: string | undefined): FormatName | undefined {
  if (format === undefined) return undefined;
  if (!(FORMAT_NAMES as readonly string[]).includes(format))
    throw new UsageError(`unknown format "${format}"; known formats: ${FORMAT_NAMES.join(', ')}`);
  return format as FormatName;
}

/** A progress bar on a terminal only: none when piped or with --json, so output stays parseable. */
async function progressBar(
  json: boolean,
): Promise<{ update: (done: number, total: number) => void; stop: () => void } | undefined> {
  if (json || !process.stdout.isTTY) return undefined;
  const { SingleBar } = await import('cli-progress');
  const bar = new SingleBar({ format: 'seeding [{bar}] {value}/{total}', clearOnComplete: true, hideCursor: true });
  let started = false;
  let stopped = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
