import type { Command } from 'commander';
import { EXIT_PROBLEM, formatTable, printJson, usageError, withContext } from './context.js';

interface UsageOptions {
  by?: string;
  from?: string;
  to?: string;
  account?: string;
  key?: string;
  model?: string;
  provider?: string;
  endUser?: string;
  csv?: boolean;
  json?: boolean;
}

/** The counters the human table shows (every one is in --json and --csv). */
const SHOWN = [
  ['calls', 'calls'],
  ['errors', 'errors'],
  ['input', 'input_uncached_tokens'],
  ['cache read', 'cache_read_tokens'],
  ['cache write', 'cache_write_tokens'],
  ['output', 'output_text_tokens'],
  ['reasoning', 'reasoning_tokens'],
  ['provider cost', 'provider_cost'],
  ['markup', 'markup'],
  ['charge', 'charge'],
] as const;

/**
 * `tollgate usage`: the same summaries as GET /admin/usage/summary, from the rollups; and the monthly
 * partitions of the raw records (`usage partitions`, `usage detach`, `usage drop`).
 */
export function registerUsageCommand(program: Command): void {
  const usage = program
    .command('usage')
    .description('usage summed by time, account, key, end user, model or provider (from the rollups); partitions of the records')
    .option('--by <keys>', 'comma list of hour, day, month, account, key, end_user, model, provider')
    .option('--from <time>', 'ISO time, inclusive (default: the start of the month of --to)')
    .option('--to <time>', 'ISO time, exclusive (default: now)')
    .option('--account <account>', 'only this account (id or name)')
    .option('--key <key>', 'only this API key (id or prefix)')
    .option('--model <model>', 'only this model')
    .option('--provider <provider>', 'only this provider')
    .option('--end-user <user>', "only this end user (the requests' OpenAI user field)")
    .option('--csv', 'print CSV with a header row')
    .option('--json', 'print the result as JSON')
    .action(async (options: UsageOptions, command: Command) => {
      if (options.csv && options.json) return usageError('choose one of --csv and --json');
      const { parseGroupBy, parseRange } = await import('../reports/report-request.js');
      let request;
      try {
        request = { groupBy: parseGroupBy(options.by), ...parseRange(options, new Date()) };
      } catch (error) {
        return usageError(`${(error as Error).message.replace(/^group_by/, '--by').replace(/^(from|to) /, '--$1 ')}`);
      }
      await withContext(command, async ({ database }) => {
        const [{ resolveFilters }, { summarizeUsage }, { summaryCsv, summaryJson, summaryColumns }] = await Promise.all([
          import('../reports/report-filters.js'),
          import('../reports/usage-summary.js'),
          import('../reports/summary-json.js'),
        ]);
        const filters = await resolveFilters(database.db, {
          account: options.account,
          key: options.key,
          model: options.model,
          provider: options.provider,
          end_user: options.endUser,
        });
        const json = await summaryJson(database.db, await summarizeUsage(database.db, { ...request, filters }));
        if (options.csv) return void process.stdout.write(summaryCsv(json));
        if (options.json) return printJson(json);
        const keys = summaryColumns(json.group_by).filter((column) => !SHOWN.some(([, counter]) => counter === column));
        const groupColumns = keys.filter((column) => !['input_audio_tokens', 'output_audio_tokens'].includes(column));
        const header = [...groupColumns, ...SHOWN.map(([label]) => label)];
        const cell = (value: unknown) => (value === null || value === undefined ? '-' : String(value));
        const rows = json.rows.map((row) => [
          ...groupColumns.map((column) => cell(row[column])),
          ...SHOWN.map(([, counter]) => cell(row[counter])),
        ]);
        const totals = [
          ...groupColumns.map((_column, index) => (index === 0 ? 'total' : '')),
          ...SHOWN.map(([, counter]) => cell(json.totals[counter])),
        ];
        process.stdout.write(
          `usage from ${json.from} to ${json.to}${json.group_by.length > 0 ? ` by ${json.group_by.join(', ')}` : ''} (USD)\n\n` +
            `${formatTable([header, ...rows, ...(groupColumns.length > 0 ? [totals] : [])])}\n`,
        );
      });
    });

  usage
    .command('partitions')
    .description('the monthly partitions of the usage records, with their record counts')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { listUsagePartitions } = await import('../db/usage-partitions.js');
        const partitions = await listUsagePartitions(database.db);
        if (options.json) return printJson(partitions);
        process.stdout.write(
          `${formatTable([['month', 'table', 'records'], ...partitions.map((partition) => [partition.month, partition.table, String(partition.records)])])}\n`,
        );
      });
    });

  for (const [name, drop, description] of [
    ['detach', false, "detach a past month's records: they become a table of their own (archive it with pg_dump, then drop it)"],
    [
      'drop',
      true,
      "delete a past month's records for good (the rollups keep counting them: summaries and statements do not change)",
    ],
  ] as const) {
    usage
      .command(`${name} <month>`)
      .description(description)
      .option('--json', 'print the result as JSON')
      .action(async (month: string, options: { json?: boolean }, command: Command) => {
        const { parseMonth, removeUsagePartition, PartitionRefusedError } = await import('../db/usage-partitions.js');
        try {
          parseMonth(month);
        } catch (error) {
          return usageError((error as Error).message);
        }
        await withContext(command, async ({ database }) => {
          try {
            const removed = await removeUsagePartition(database.db, month, { drop });
            if (options.json) return printJson({ month, ...removed, dropped: drop });
            process.stdout.write(
              drop
                ? `${month}: ${removed.records} records dropped\n`
                : `${month}: ${removed.records} records detached into table ${removed.table}\n`,
            );
          } catch (error) {
            if (!(error instanceof PartitionRefusedError)) throw error;
            process.stderr.write(`error: ${error.message}\n`);
            return EXIT_PROBLEM;
          }
        });
      });
  }
}
