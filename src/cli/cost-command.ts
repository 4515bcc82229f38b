import type { Command } from 'commander';
import type { Database } from '../db/database.js';
import type { BillingTerms } from '../ledger/accounts.js';
import type { Debit } from '../pricing/budget.js';
import type { CostBreakdown, NormalizedUsage, Resolution } from '../pricing/types.js';
import { usageFromTotals } from '../pricing/usage.js';
import { EXIT_PROBLEM, EXIT_USAGE, formatTable, printJson, readTime, withContext } from './context.js';

interface CostOptions {
  input?: string;
  output?: string;
  cached?: string;
  cacheWrite?: string;
  reasoning?: string;
  account?: string;
  at?: string;
  json?: boolean;
}

export function registerCostCommand(program: Command): void {
  program
    .command('cost')
    .description('price a usage for a model exactly, showing how the model resolved and every line of the cost')
    .argument('<model>', 'the model name as a caller would send it')
    .option('--input <tokens>', 'every input token, cached ones included (as OpenAI prompt_tokens counts them)')
    .option('--output <tokens>', 'every output token, reasoning included (as OpenAI completion_tokens counts them)')
    .option('--cached <tokens>', 'of the input, tokens read from the cache', '0')
    .option('--cache-write <tokens>', 'of the input, tokens written to the cache', '0')
    .option('--reasoning <tokens>', 'of the output, reasoning tokens', '0')
    .option('--account <account>', "apply this account's markup and budget mode (id or name)")
    .option(
      '--at <time>',
      'price a call that started at this ISO 8601 time (default: now): the price version and time-of-day window in force then',
    )
    .option('--json', 'print the result as JSON')
    .action(async (model: string, options: CostOptions, command: Command) => {
      let usage: NormalizedUsage;
      let at: Date | undefined;
      try {
        usage = usageFromOptions(options);
        at = readTime(options.at);
      } catch (error) {
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      await withContext(command, async ({ database, config, logger }) => {
        const [{ PricingCatalog }, { MarkupRules }, { debitFor }, { priceUsage }, { applyMarkup }] = await Promise.all([
          import('../catalog/snapshot.js'),
          import('../catalog/markup-rules.js'),
          import('../pricing/budget.js'),
          import('../pricing/cost.js'),
          import('../pricing/markup.js'),
        ]);
        const terms = options.account ? await termsOf(database, options.account) : undefined;
        if (options.account && !terms) {
          // Not found, as `accounts grant nosuch` is: exit 1 (the command line itself was fine).
          process.stderr.write(`error: no account with id or name ${JSON.stringify(options.account)}\n`);
          return EXIT_PROBLEM;
        }
        const catalog = await PricingCatalog.create({ database, config, logger });
        // Routed as the gateway routes a name: its prefix, its maker, else the default provider.
        const { detectProvider } = await import('../catalog/provider-detection.js');
        const resolution = catalog.resolve(model, at, { provider: detectProvider(model, () => true) ?? config.defaultProvider });
        if (!resolution) {
          process.stderr.write(
            `error: no price for ${model}, and unpriced models are rejected (TOLLGATE_UNPRICED_MODELS=reject)\n`,
          );
          return EXIT_PROBLEM;
        }
        const rules = await MarkupRules.load(database, config);
        // As the gateway bills the account: its wallet's mode, its own markup and job price, else its wallet's.
        const rule = rules.find({
          accountId: terms?.account.id ?? '',
          accountMarkup: terms?.markup,
          modelId: resolution.modelId,
          providerId: resolution.providerId,
        });
        const breakdown = applyMarkup(priceUsage(usage, resolution.price), rule);
        const debit = terms ? debitFor(terms.wallet.mode, { breakdown, usage, jobPrice: terms.jobPrice }) : undefined;
        if (options.json) printJson(report(resolution, usage, breakdown, terms, debit, at ?? new Date()));
        else process.stdout.write(`${humanReport(resolution, breakdown, terms, debit)}\n`);
        if (resolution.source === 'default') {
          // No price anywhere (catalog or fallback file): the figures are the default price's stand-in, so the
          // answer is "not found", however useful the estimate.
          process.stderr.write(
            `warning: ${model} has no price in the catalog or the fallback file; shown at the default price\n`,
          );
          return EXIT_PROBLEM;
        }
        return undefined;
      });
    });
}

/** @throws RangeError naming the flag for a negative or non-integer count, or parts larger than their whole. */
export function usageFromOptions(options: CostOptions): NormalizedUsage {
  if (options.input === undefined || options.output === undefined) {
    throw new RangeError('--input and --output are required (token counts, e.g. --input 1200 --output 300)');
  }
  const tokens = (flag: string, text: string | undefined) => {
    const value = (text ?? '0').trim();
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new RangeError(`${flag} must be a whole number of tokens, 0 or more; got ${JSON.stringify(text)}`);
    }
    return Number(value);
  };
  const input = tokens('--input', options.input);
  const output = tokens('--output', options.output);
  const cached = tokens('--cached', options.cached);
  const cacheWrite = tokens('--cache-write', options.cacheWrite);
  const reasoning = tokens('--reasoning', options.reasoning);
  if (cached + cacheWrite > input) {
    throw new RangeError(
      `--cached (${cached}) plus --cache-write (${cacheWrite}) exceed --input (${input}), which counts every input token`,
    );
  }
  if (reasoning > output) {
    throw new RangeError(`--reasoning (${reasoning}) exceeds --output (${output}), which counts every output token`);
  }
  return usageFromTotals({ input, output, cached, cacheWrite, reasoning });
}

/** The account's billing terms (src/ledger/accounts.ts), or undefined when there is no such account. */
async function termsOf(database: Database, idOrName: string): Promise<BillingTerms | undefined> {
  const [{ billingTerms }, { AccountNotFoundError }] = await Promise.all([
    import('../ledger/accounts.js'),
    import('../ledger/errors.js'),
  ]);
  try {
    return await billingTerms(database.db, idOrName);
  } catch (error) {
    if (error instanceof AccountNotFoundError) return undefined;
    throw error;
  }
}

function report(
  resolution: Resolution,
  usage: NormalizedUsage,
  breakdown: CostBreakdown,
  terms: BillingTerms | undefined,
  debit: Debit | undefined,
  at: Date,
) {
  const { raw: _raw, ...counts } = usage;
  return {
    requested: resolution.requested,
    at: at.toISOString(),
    resolution: {
      modelId: resolution.modelId ?? null,
      providerId: resolution.providerId ?? null,
      source: resolution.source,
      match: resolution.match,
      rule: resolution.rule ?? null,
      priceVersion: resolution.price.version ?? null,
      priceSource: resolution.price.source,
    },
    usage: counts,
    breakdown,
    // A team account's calls are paid by its wallet, in the wallet's mode: `debit.account` names it.
    account: terms
      ? {
          id: terms.account.id,
          name: terms.account.name,
          budgetMode: terms.wallet.mode,
          wallet: { id: terms.wallet.id, name: terms.wallet.name },
          markupFrom: terms.markupFrom ? { id: terms.markupFrom.id, name: terms.markupFrom.name } : null,
        }
      : null,
    debit: debit && terms ? { ...debit, account: { id: terms.wallet.id, name: terms.wallet.name } } : null,
  };
}

function humanReport(
  resolution: Resolution,
  breakdown: CostBreakdown,
  terms: BillingTerms | undefined,
  debit: Debit | undefined,
) {
  const version = resolution.price.version === undefined ? resolution.price.source : `price version ${resolution.price.version}`;
  const lines = [
    `model     ${resolution.requested} -> ${resolution.modelId ?? '(default price)'} (match ${resolution.match}${resolution.rule ? ` by rule ${resolution.rule}` : ''}, source ${resolution.source}, ${version})`,
    `provider  ${resolution.providerId ?? 'unknown'}`,
    `tier      ${breakdown.tier === undefined ? 'base rates' : `above ${breakdown.tier} prompt tokens`}`,
    ...(breakdown.window ? [`window    ${breakdown.window}`] : []),
    '',
    formatTable([
      ['component', 'units', 'USD per unit', 'USD', 'note'],
      ...breakdown.lines.map((line) => [
        line.component,
        String(line.units),
        line.rate.toString(),
        line.amount.toString(),
        line.fellBackTo ? `no own rate: priced at ${line.fellBackTo}` : '',
      ]),
    ]),
    '',
    `provider cost  ${breakdown.providerCost.toString()}`,
  ];
  const markup = breakdown.markup;
  if (markup) {
    const inherited =
      terms && terms.markupFrom && terms.markupFrom.id !== terms.account.id ? `, ${terms.markupFrom.name}'s (its wallet)` : '';
    lines.push(
      `markup         ${markup.amount.toString()} (${markup.percent.toString()}% + ${markup.fixedFee.toString()} per call, ${markup.rule}${inherited})`,
    );
  }
  lines.push(`charge         ${breakdown.charge.toString()} USD`);
  if (terms && debit) {
    const { account, wallet } = terms;
    lines.push(
      `debit          ${debit.amount.toString()} ${debit.unit} from ${wallet.name} (${wallet.mode}${wallet.id === account.id ? '' : `, the wallet of team account ${account.name}`})`,
    );
  }
  return lines.join('\n');
}
