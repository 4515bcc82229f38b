import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { countingHandle, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { captureBatch, drawnOnLeases, type CaptureResult } from './capture-batch.js';
import { Ledger } from './ledger.js';
import { refuseEntriesOf, stopEntryFaults } from '../../test/support/database-faults.js';

const d = (text: string) => Decimal.parse(text);

/** A result as plain strings: the outcome's amounts, or the error's name and code. */
function shown(result: CaptureResult | undefined) {
  if (!result) return 'missing';
  if ('error' in result) {
    const error = result.error as { name?: string; code?: string };
    return { error: error.code ?? error.name };
  }
  const { captured, released, overdraft, shortfall, balance, available, replayed } = result.value;
  return [captured, released, overdraft, shortfall, balance, available].map(String).concat(String(replayed)).join(' ');
}

describe.each(backends())('capture batch rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(async () => {
    await stopEntryFaults(database.db);
  });

  const account = async (credits: string, overdraftLimit?: string) => {
    counter += 1;
    return (
      await ledger.createAccount({
        name: `batch-rules-${counter}`,
        mode: 'consumption_usd',
        credits: d(credits),
        ...(overdraftLimit ? { overdraftLimit: d(overdraftLimit) } : {}),
      })
    ).account.id;
  };
  const hold = async (accountId: string, amount: string, prefix = 'req') => {
    counter += 1;
    const requestId = `${prefix}_batch_rules_${counter}`;
    await ledger.hold({ accountId, requestId, amount: d(amount) });
    return requestId;
  };
  const captureRows = (accountId: string) =>
    database.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('kind', '=', 'capture')
      .orderBy('id')
      .execute();
  const projections = async (accountId: string) => {
    const found = await ledger.getAccount(accountId);
    return [found.balance.toString(), found.available.toString()];
  };

  it("writes a batch's entries in its order, each with what it was given: a price version or none, usage and breakdown as objects, a JSON null, or none", async () => {
    const accountId = await account('5');
    const requests = [
      await hold(accountId, '0.5'),
      await hold(accountId, '0.5'),
      await hold(accountId, '0.5'),
      await hold(accountId, '0.5'),
    ];
    const results = await captureBatch(database.db, [
      { requestId: requests[2]!, amount: d('0.3'), priceVersion: 0, usage: null, breakdown: null },
      {
        requestId: requests[0]!,
        amount: d('0.1'),
        priceVersion: 7,
        usage: { input: 5, nested: { cached: [1, 2] } },
        breakdown: { lines: ['a'] },
      },
      { requestId: requests[3]!, amount: d('0.000000000000000001') },
      { requestId: requests[1]!, amount: d('0.2'), usage: 'text', breakdown: 12 },
    ]);
    expect(results.map((result) => 'value' in result)).toEqual([true, true, true, true]);
    const rows = await captureRows(accountId);
    expect(
      rows.map((row) => [row.request_id, d(row.amount).toString(), row.price_version, row.usage, row.breakdown, row.lease_id]),
    ).toEqual([
      [requests[2], '-0.3', 0, null, null, null],
      [requests[0], '-0.1', 7, { input: 5, nested: { cached: [1, 2] } }, { lines: ['a'] }, null],
      [requests[3], '-0.000000000000000001', null, null, null, null],
      [requests[1], '-0.2', null, 'text', 12, null],
    ]);
    // A JSON null is stored as JSON (the value null), an absent one as SQL NULL.
    const { rows: stored } = await sql<{ request_id: string; usage_is_sql_null: boolean }>`
      select request_id, usage is null as usage_is_sql_null from ledger_entries
      where account_id = ${accountId} and kind = 'capture' order by id`.execute(database.db);
    expect(stored.map((row) => row.usage_is_sql_null)).toEqual([false, false, true, false]);
  });

  it('settles a capture alone within its hold: the rest is given back, and the entry keeps price version, usage and breakdown', async () => {
    const accountId = await account('1');
    const requestId = await hold(accountId, '0.5');
    const results = await captureBatch(database.db, [
      { requestId, amount: d('0.2'), priceVersion: 3, usage: { input: 5 }, breakdown: { lines: ['a'] } },
    ]);
    expect(results.map(shown)).toEqual(['0.2 0.3 0 0 0.8 0.8 false']);
    const [row] = await captureRows(accountId);
    expect([row!.amount, row!.price_version, row!.usage, row!.breakdown, row!.lease_id, row!.note].map((value) => value)).toEqual(
      ['-0.2', 3, { input: 5 }, { lines: ['a'] }, null, null],
    );
    // A replay reports the first outcome: what the hold gave back, nothing over it.
    expect((await captureBatch(database.db, [{ requestId, amount: d('0.4') }])).map(shown)).toEqual(['0.2 0.3 0 0 0.8 0.8 true']);
  });

  it('decides a shared batch in order, each capture as if alone: overdraft, lease draws, an in-batch replay and a shortfall', async () => {
    const x = await account('1');
    const y = await account('2');
    const a1 = await hold(x, '0.5');
    const x2 = await hold(x, '0.1');
    const lease = await hold(y, '1', 'lease');
    const results = await captureBatch(database.db, [
      { requestId: a1, amount: d('0.7') },
      { requestId: 'req_batch_rules_l1', leaseId: lease, amount: d('0.6') },
      { requestId: 'req_batch_rules_l2', leaseId: lease, amount: d('0.6') },
      { requestId: 'req_batch_rules_l1', leaseId: lease, amount: d('0.9') },
      { requestId: x2, amount: d('5') },
    ]);
    expect(results.map(shown)).toEqual([
      // 0.5 from the hold, 0.2 from available (0.4 after both holds).
      '0.7 0 0.2 0 0.3 0.2 false',
      // A lease keeps what a capture does not draw: nothing given back.
      '0.6 0 0 0 1.4 1 false',
      // The lease has 0.4 left: 0.2 comes from available.
      '0.6 0 0.2 0 0.8 0.8 false',
      // The same request again in the batch: its first outcome, no give-back, no overdraft.
      '0.6 0 0 0 0.8 0.8 true',
      // 0.1 from the hold, 0.2 left available, no overdraft allowed: 4.7 short.
      '0.3 0 0.2 4.7 0 0 false',
    ]);
    expect(await projections(x)).toEqual(['0', '0']);
    expect(await projections(y)).toEqual(['0.8', '0.8']);
    const xRows = await captureRows(x);
    expect(xRows.map((row) => [row.request_id, row.amount, row.note])).toEqual([
      [a1, '-0.7', null],
      [x2, '-0.3', 'shortfall 4.7: actual 5 exceeded the hold and the overdraft limit'],
    ]);
    expect((await captureRows(y)).map((row) => [row.request_id, row.amount, row.lease_id])).toEqual([
      ['req_batch_rules_l1', '-0.6', lease],
      ['req_batch_rules_l2', '-0.6', lease],
    ]);
    // Replays after the commit: an own hold reports what it paid over the hold, and the recorded shortfall.
    expect((await captureBatch(database.db, [{ requestId: x2, amount: d('5') }])).map(shown)).toEqual(['0.3 0 0.2 4.7 0 0 true']);
    expect((await captureBatch(database.db, [{ requestId: a1, amount: d('0.7') }])).map(shown)).toEqual(['0.7 0 0.2 0 0 0 true']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('draws on what earlier transactions left of a lease, and nothing of a released one', async () => {
    const accountId = await account('3');
    const lease = await hold(accountId, '1', 'lease');
    expect(await drawnOnLeases(database.db, [])).toEqual(new Map());
    expect(
      (await captureBatch(database.db, [{ requestId: 'req_batch_rules_d1', leaseId: lease, amount: d('0.7') }])).map(shown),
    ).toEqual(['0.7 0 0 0 2.3 2 false']);
    expect(await drawnOnLeases(database.db, [lease, 'lease_none'])).toEqual(new Map([[lease, d('0.7')]]));
    expect(
      (await captureBatch(database.db, [{ requestId: 'req_batch_rules_d2', leaseId: lease, amount: d('0.5') }])).map(shown),
    ).toEqual(['0.5 0 0.2 0 1.8 1.8 false']);
    const spent = await hold(accountId, '0.5', 'lease');
    await ledger.release(spent, 'closed');
    expect(
      (await captureBatch(database.db, [{ requestId: 'req_batch_rules_d3', leaseId: spent, amount: d('0.25') }])).map(shown),
    ).toEqual(['0.25 0 0.25 0 1.55 1.55 false']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a capture with no hold gets its own error, in a batch and alone', async () => {
    const accountId = await account('1');
    const fine = await hold(accountId, '0.5');
    const results = await captureBatch(database.db, [
      { requestId: 'req_batch_rules_none', amount: d('0.1') },
      { requestId: fine, amount: d('0.1') },
    ]);
    expect(results.map(shown)).toEqual([{ error: 'hold_not_found' }, '0.1 0.4 0 0 0.9 0.9 false']);
    expect((await captureBatch(database.db, [{ requestId: 'req_batch_rules_none', amount: d('0.1') }])).map(shown)).toEqual([
      { error: 'hold_not_found' },
    ]);
  });

  it('a failed shared transaction is retried one capture at a time: only the failing capture keeps the error', async () => {
    const failing = await account('1');
    const fine = await account('1');
    const bad = await hold(failing, '0.5');
    const good = await hold(fine, '0.5');
    const lease = await hold(failing, '0.5', 'lease');
    const fault = await refuseEntriesOf(database.db, failing);
    const results = await captureBatch(database.db, [
      { requestId: bad, amount: d('0.1') },
      { requestId: good, amount: d('0.2') },
    ]);
    expect(results.map(shown)).toEqual([{ error: 'P0001' }, '0.2 0.3 0 0 0.8 0.8 false']);
    // Alone: the one-statement capture's error, and a lease capture's (which takes the full path).
    expect((await captureBatch(database.db, [{ requestId: bad, amount: d('0.1') }])).map(shown)).toEqual([{ error: 'P0001' }]);
    expect(
      (await captureBatch(database.db, [{ requestId: 'req_batch_rules_on_lease', leaseId: lease, amount: d('0.1') }])).map(shown),
    ).toEqual([{ error: 'P0001' }]);
    await fault.stop();
    expect(await captureRows(failing)).toEqual([]);
    expect(await projections(fine)).toEqual(['0.8', '0.8']);
  });

  it('settles a batch over two accounts in one transaction: one insert of every entry, one update per account, each entry with its price version', async () => {
    const [first, second] = [await account('1'), await account('1')];
    const batch = async (accountIds: string[]) => {
      const inputs = [];
      for (const [index, accountId] of accountIds.entries()) {
        inputs.push({ requestId: await hold(accountId, '0.5'), amount: d('0.25'), priceVersion: 40 + index });
      }
      const counted = countingHandle(database.db);
      const results = await captureBatch(counted.db, inputs);
      return {
        results: results.map(shown),
        statements: counted.statements(),
        requestIds: inputs.map((input) => input.requestId),
      };
    };
    const sameAccount = await batch([first, first]);
    const twoAccounts = await batch([first, second]);
    expect(twoAccounts.results).toEqual(['0.25 0.25 0 0 0.25 0.25 false', '0.25 0.25 0 0 0.75 0.75 false']);
    // The same statements as a batch of one account, and one more update.
    expect(twoAccounts.statements).toBe(sameAccount.statements + 1);
    const versions = await database.db
      .selectFrom('ledger_entries')
      .select(['request_id', 'price_version'])
      .where('request_id', 'in', twoAccounts.requestIds)
      .where('kind', '=', 'capture')
      .execute();
    expect(versions.map((row) => [row.request_id, Number(row.price_version)]).sort()).toEqual(
      twoAccounts.requestIds.map((requestId, index) => [requestId, 40 + index]).sort(),
    );
  });
});
