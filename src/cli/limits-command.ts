import type { Command } from 'commander';
import type { LimitChanges, LimitsReport } from '../ledger/limits.js';
import type { LimitPeriod } from '../db/schema.js';
import { parseAmountOption } from './accounts-command.js';
import { formatTable, printJson, usageError, withContext } from './context.js';

const PERIODS = ['day', 'week', 'month', 'total'];

/**
 * `tollgate limits set|show <target>`: the caps and rate limits of an account (id or name), a key (its prefix)
 * or an end user of an account (`account:end-user`). The same calls as PUT/GET /admin/limits/:target; a
 * running gateway applies a change at its next call (the change is announced to every instance).
 */
export function registerLimitsCommand(program: Command): void {
  const limits = program.command('limits').description('set and show caps and rate limits of accounts, keys and end users');

  limits
    .command('set <target>')
    .description(
      'set limits of an account (id or name), a key (prefix tg_...) or an end user (account:end-user); "none" clears one',
    )
    .option('--cap <amount>', 'spend cap per period, in the wallet unit (USD, or tokens)')
    .option('--period <period>', `the cap's period: ${PERIODS.join(', ')} (calendar-aligned in --timezone)`)
    .option('--timezone <zone>', 'IANA time zone of the period boundaries (default UTC)')
    .option('--soft', 'the cap only raises alerts, never refuses')
    .option('--hard', 'the cap refuses the call that could pass it (the default)')
    .option('--rpm <count>', 'requests per minute')
    .option('--tpm <count>', 'tokens per minute (estimated at the hold, corrected at settlement)')
    .option('--concurrency <count>', 'calls in flight at once')
    .option('--json', 'print the result as JSON')
    .action(async (target: string, options: SetOptions, command: Command) => {
      const changes = parseChanges(options);
      if (!changes) return;
      if (Object.keys(changes).length === 0) {
        return usageError(
          'name at least one limit to set: --cap, --period, --timezone, --soft/--hard, --rpm, --tpm or --concurrency',
        );
      }
      await withContext(command, async ({ database }) => {
        const { resolveLimitTarget, setLimits, limitsReport } = await import('../ledger/limits.js');
        const resolved = await resolveLimitTarget(database.db, target);
        await setLimits(database.db, resolved, changes);
        await announce(database);
        const report = await limitsReport(database.db, resolved, new Date());
        if (options.json) return printJson(report);
        printReport(target, report);
      });
    });

  limits
    .command('show <target>')
    .description("a target's limits, its cap's use in the current period and when it resets")
    .option('--json', 'print the result as JSON')
    .action(async (target: string, options: { json?: boolean }, command: Command) => {
      await withContext(command, async ({ database }) => {
        const { resolveLimitTarget, limitsReport } = await import('../ledger/limits.js');
        const report = await limitsReport(database.db, await resolveLimitTarget(database.db, target), new Date());
        if (options.json) return printJson(report);
        printReport(target, report);
      });
    });
}

interface SetOptions {
  cap?: string;
  period?: string;
  timezone?: string;
  soft?: boolean;
  hard?: boolean;
  rpm?: string;
  tpm?: string;
  concurrency?: string;
  json?: boolean;
}

/** The changes the flags ask for; null (after a usage error) when one is malformed. */
function parseChanges(options: SetOptions): LimitChanges | null {
  const changes: LimitChanges = {};
  if (options.soft && options.hard) {
    usageError('--soft and --hard contradict each other: give one');
    return null;
  }
  if (options.cap !== undefined) {
    if (options.cap === 'none') changes.cap = null;
    else {
      const cap = parseAmountOption('--cap', options.cap);
      if (!cap) return null;
      changes.cap = cap;
    }
  }
  if (options.period !== undefined) {
    if (!PERIODS.includes(options.period)) {
      usageError(`--period must be one of ${PERIODS.join(', ')}, got ${JSON.stringify(options.period)}`);
      return null;
    }
    changes.period = options.period as LimitPeriod;
  }
  if (options.timezone !== undefined) changes.timezone = options.timezone;
  if (options.soft) changes.soft = true;
  if (options.hard) changes.soft = false;
  for (const flag of ['rpm', 'tpm', 'concurrency'] as const) {
    const text = options[flag];
    if (text === undefined) continue;
    if (text === 'none') {
      changes[flag] = null;
      continue;
    }
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
      usageError(`--${flag} must be a whole number of at least 1 (or none to clear it), got ${JSON.stringify(text)}`);
      return null;
    }
    changes[flag] = value;
  }
  return changes;
}

/** Tells running gateways (every instance) to reload limits and key controls at their next call. */
export async function announce(database: { notify(channel: string, payload: string): Promise<void> }): Promise<void> {
  const { ACCOUNTS_CHANGED_CHANNEL } = await import('../db/channels.js');
  // Without a listener (no gateway running) or over a connection that cannot notify, the caches expire within seconds.
  await database.notify(ACCOUNTS_CHANGED_CHANNEL, 'changed').catch(() => undefined);
}

function printReport(name: string, report: LimitsReport): void {
  const cap = report.cap
    ? `${report.cap} ${report.usage?.unit ?? ''} per ${report.period === 'total' ? 'all time (total)' : report.period}${report.soft ? ' (soft: alerts only)' : ''}`
    : 'none';
  const rows = [
    ['target', `${report.target.kind} ${name}`],
    ['cap', cap],
    ['timezone', report.timezone ?? '-'],
    ['rpm', String(report.rpm ?? 'none')],
    ['tpm', String(report.tpm ?? 'none')],
    ['concurrency', String(report.concurrency ?? 'none')],
  ];
  if (report.usage) {
    rows.push(['used', `${report.usage.used} (${report.usage.remaining} remaining) since ${report.usage.period_start}`]);
    rows.push(['resets', report.usage.resets_at ?? 'never (total)']);
  }
  process.stdout.write(`${formatTable(rows)}\n`);
}
