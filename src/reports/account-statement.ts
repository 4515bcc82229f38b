import { stringify } from 'csv-stringify/sync';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { parseMonth } from '../db/usage-partitions.js';
import { GatewayError } from '../gateway/errors.js';
import { accountFromRow, findAccountRow, fromNumeric, type LedgerUnit } from '../ledger/accounts.js';
import { AccountNotFoundError } from '../ledger/errors.js';
import { Decimal } from '../money/decimal.js';

export interface StatementEntry {
  id: number;
  kind: 'grant' | 'refund' | 'adjust';
  amount: Decimal;
  note: string | null;
  createdAt: Date;
}

export interface ModelCharges {
  /** The catalog model the price version belongs to; the requested name when the call had no price version. */
  model: string;
  calls: number;
  /** What the captures took, as a positive amount in the account's unit. */
  amount: Decimal;
}

export interface AccountStatement {
  account: { id: string; name: string; unit: LedgerUnit };
  month: string;
  from: Date;
  to: Date;
  openingBalance: Decimal;
  entries: StatementEntry[];
  grants: Decimal;
  refunds: Decimal;
  adjustments: Decimal;
  charges: ModelCharges[];
  chargesTotal: Decimal;
  closingBalance: Decimal;
}

/**
 * An account's statement for a UTC month, from the ledger itself (the financial record, so it equals the
 * ledger to the last digit): the balance before the month (Σ of every balance-moving entry before it), the
 * month's grants, refunds and adjustments one by one, its captures summed by model, and the closing
 * balance = opening + grants + refunds + adjustments − charges, which is Σ of every entry before the month's
 * end. A capture's model is its price version's model (ledger data, kept however old the month); a call
 * priced without a version (the JSON fallback file, the default price) is named by its usage record.
 *
 * @throws GatewayError not_found (the account), invalid_request (the month).
 */
export async function accountStatement(db: Db, account: string, month: string): Promise<AccountStatement> {
  let range: { from: Date; to: Date };
  try {
    range = parseMonth(month);
  } catch (error) {
    throw new GatewayError('invalid_request', (error as Error).message, 'month');
  }
  let found;
  try {
    found = accountFromRow(await findAccountRow(db, account));
  } catch (error) {
    if (error instanceof AccountNotFoundError) throw new GatewayError('not_found', error.message, 'account');
    throw error;
  }
  const { from, to } = range;
  const balanceKinds = ['grant', 'capture', 'refund', 'adjust'] as const;
  const opening = await db
    .selectFrom('ledger_entries')
    .select(sql<string | null>`sum(amount)`.as('total'))
    .where('account_id', '=', found.id)
    .where('kind', 'in', balanceKinds)
    .where('created_at', '<', from)
    .executeTakeFirstOrThrow();
  const entryRows = await db
    .selectFrom('ledger_entries')
    .select(['id', 'kind', 'amount', 'note', 'created_at'])
    .where('account_id', '=', found.id)
    .where('kind', 'in', ['grant', 'refund', 'adjust'])
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .orderBy('id')
    .execute();
  const chargeRows = await sql<{ model: string; calls: number; amount: string }>`
    select coalesce(price.model_id,
        (select coalesce(record.model_id, record.requested_model) from usage_records as record
          where record.request_id = capture.request_id limit 1),
        '(unknown)') as model,
      count(*) as calls, sum(capture.amount) as amount
    from ledger_entries as capture
    left join model_prices as price on price.id = capture.price_version
    where capture.account_id = ${found.id} and capture.kind = 'capture'
      and capture.created_at >= ${from.toISOString()} and capture.created_at < ${to.toISOString()}
    group by 1`.execute(db);

  const entries: StatementEntry[] = entryRows.map((row) => ({
    id: row.id,
    kind: row.kind as StatementEntry['kind'],
    amount: fromNumeric(row.amount),
    note: row.note,
    createdAt: new Date(row.created_at),
  }));
  const sumOf = (kind: StatementEntry['kind']) =>
    entries.filter((entry) => entry.kind === kind).reduce((sum, entry) => sum.add(entry.amount), Decimal.ZERO);
  // Captures are stored negative (their effect on the balance); a statement shows what they took.
  const charges = chargeRows.rows
    .map((row) => ({ model: row.model, calls: Number(row.calls), amount: fromNumeric(row.amount).neg() }))
    .sort((left, right) => right.amount.cmp(left.amount) || (left.model < right.model ? -1 : 1));
  const openingBalance = opening.total === null ? Decimal.ZERO : fromNumeric(opening.total);
  const grants = sumOf('grant');
  const refunds = sumOf('refund');
  const adjustments = sumOf('adjust');
  const chargesTotal = charges.reduce((sum, row) => sum.add(row.amount), Decimal.ZERO);
  return {
    account: { id: found.id, name: found.name, unit: found.unit },
    month,
    from,
    to,
    openingBalance,
    entries,
    grants,
    refunds,
    adjustments,
    charges,
    chargesTotal,
    closingBalance: openingBalance.add(grants).add(refunds).add(adjustments).sub(chargesTotal),
  };
}

export function statementJson(statement: AccountStatement) {
  return {
    account: statement.account,
    month: statement.month,
    from: statement.from.toISOString(),
    to: statement.to.toISOString(),
    unit: statement.account.unit,
    opening_balance: statement.openingBalance.toString(),
    grants: statement.grants.toString(),
    refunds: statement.refunds.toString(),
    adjustments: statement.adjustments.toString(),
    entries: statement.entries.map((entry) => ({
      id: entry.id,
      kind: entry.kind,
      amount: entry.amount.toString(),
      note: entry.note,
      created_at: entry.createdAt.toISOString(),
    })),
    charges: {
      total: statement.chargesTotal.toString(),
      calls: statement.charges.reduce((sum, row) => sum + row.calls, 0),
      by_model: statement.charges.map((row) => ({ model: row.model, calls: row.calls, amount: row.amount.toString() })),
    },
    closing_balance: statement.closingBalance.toString(),
  };
}

/**
 * The statement as CSV, one line per movement, in reading order: opening balance, each grant, refund and
 * adjustment, the charges of each model (negative: what they took from the balance), closing balance. The
 * amounts of every line but the last sum to the last.
 */
export function statementCsv(statement: AccountStatement): string {
  const unit = statement.account.unit;
  const rows: string[][] = [
    ['opening_balance', statement.from.toISOString(), '', '', '', statement.openingBalance.toString(), unit, ''],
    ...statement.entries.map((entry) => [
      entry.kind,
      entry.createdAt.toISOString(),
      String(entry.id),
      '',
      '',
      entry.amount.toString(),
      unit,
      entry.note ?? '',
    ]),
    ...statement.charges.map((row) => [
      'charges',
      statement.month,
      '',
      row.model,
      String(row.calls),
      row.amount.neg().toString(),
      unit,
      '',
    ]),
    ['closing_balance', statement.to.toISOString(), '', '', '', statement.closingBalance.toString(), unit, ''],
  ];
  return stringify(rows, {
    header: true,
    columns: ['line', 'time', 'ledger_entry', 'model', 'calls', 'amount', 'unit', 'note'],
    record_delimiter: 'unix',
  });
}
