import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { entriesOf, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { HoldNotFoundError, InvalidAmountError } from './errors.js';
import type { Ledger } from './ledger.js';
import { captureHold, openHoldsByAccount, openHoldTotals, releaseHold, staleHoldRequestIds } from './settlement.js';
import { refusal } from '../../test/support/refusals.js';

const d = (text: string) => Decimal.parse(text);

const shown = (outcome: { released: boolean; amount: Decimal }) => [outcome.released, outcome.amount.toString()];

describe.each(backends())('settlement rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  it('refuses a negative capture and a release or capture of a request that holds nothing', async () => {
    const negative = await refusal(captureHold(database.db, { requestId: 'whatever', amount: d('-1') }));
    expect(negative).toBeInstanceOf(InvalidAmountError);
    expect(negative.message).toBe('invalid capture amount: must not be negative, got -1');
    const release = await refusal(releaseHold(database.db, 'nothing-held'));
    expect(release).toBeInstanceOf(HoldNotFoundError);
    expect(release.message).toBe('no hold for request "nothing-held"; hold before capturing');
  });

  it('gives the whole hold back to available, never to the balance, with the reason as the note', async () => {
    const { account } = await ledger.createAccount({ name: 'release-tokens', mode: 'consumption_tokens', credits: d('1000') });
    await ledger.hold({ accountId: account.id, requestId: 'rt-1', amount: d('250') });
    await ledger.hold({ accountId: account.id, requestId: 'rt-2', amount: d('100') });
    expect(shown(await releaseHold(database.db, 'rt-1'))).toEqual([true, '250']);
    expect(shown(await releaseHold(database.db, 'rt-2', 'upstream 500'))).toEqual([true, '100']);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['1000', '1000']);
    const releases = (await entriesOf(database.db, account.id)).filter((row) => row.kind === 'release');
    expect(releases.map((row) => [row.request_id, d(row.amount).toString(), row.unit, row.note, row.lease_id])).toEqual([
      ['rt-1', '250', 'tokens', null, null],
      ['rt-2', '100', 'tokens', 'upstream 500', null],
    ]);
  });

  it('releases nothing once the request was captured or released', async () => {
    const { account } = await ledger.createAccount({ name: 'release-once', mode: 'consumption_usd', credits: d('2') });
    await ledger.hold({ accountId: account.id, requestId: 'ro-captured', amount: d('0.5') });
    await ledger.capture({ requestId: 'ro-captured', amount: d('0.2') });
    expect(shown(await releaseHold(database.db, 'ro-captured', 'late'))).toEqual([false, '0']);
    await ledger.hold({ accountId: account.id, requestId: 'ro-released', amount: d('0.5') });
    expect(shown(await releaseHold(database.db, 'ro-released'))).toEqual([true, '0.5']);
    expect(shown(await releaseHold(database.db, 'ro-released'))).toEqual([false, '0']);
    const kinds = (await entriesOf(database.db, account.id)).map((row) => `${row.request_id}:${row.kind}`);
    expect(kinds).toEqual([
      'grant:' + account.id + ':initial:grant',
      'ro-captured:hold',
      'ro-captured:capture',
      'ro-released:hold',
      'ro-released:release',
    ]);
    const now = await ledger.getAccount(account.id);
    expect([now.balance.toString(), now.available.toString()]).toEqual(['1.8', '1.8']);
  });

  it('gives back what a credit lease has left, and nothing for a lease drawn past its amount', async () => {
    const { account } = await ledger.createAccount({ name: 'release-lease', mode: 'consumption_usd', credits: d('5') });
    await ledger.hold({ accountId: account.id, requestId: 'lease-a', amount: d('1') });
    await ledger.capture({ requestId: 'lease-a-call-1', leaseId: 'lease-a', amount: d('0.25') });
    await ledger.capture({ requestId: 'lease-a-call-2', leaseId: 'lease-a', amount: d('0.05') });
    expect(await openTotals(account.id)).toEqual([1, '0.7']);
    await ledger.hold({ accountId: account.id, requestId: 'lease-b', amount: d('0.5') });
    await ledger.capture({ requestId: 'lease-b-call-1', leaseId: 'lease-b', amount: d('0.8') });
    expect(await openTotals(account.id)).toEqual([2, '0.7']);
    expect(shown(await releaseHold(database.db, 'lease-a', 'lease closed'))).toEqual([true, '0.7']);
    expect(shown(await releaseHold(database.db, 'lease-b'))).toEqual([true, '0']);
    expect(await openTotals(account.id)).toEqual([0, '0']);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['3.9', '3.9']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('totals open holds per account, leaving out settled holds and other accounts', async () => {
    const { account: first } = await ledger.createAccount({ name: 'open-first', mode: 'consumption_usd', credits: d('10') });
    const { account: second } = await ledger.createAccount({ name: 'open-second', mode: 'consumption_tokens', credits: d('10') });
    await ledger.hold({ accountId: first.id, requestId: 'of-1', amount: d('1.5') });
    await ledger.hold({ accountId: first.id, requestId: 'of-2', amount: d('2') });
    await ledger.hold({ accountId: first.id, requestId: 'of-3', amount: d('3') });
    await ledger.hold({ accountId: first.id, requestId: 'of-4', amount: d('0.25') });
    await ledger.capture({ requestId: 'of-2', amount: d('1') });
    await releaseHold(database.db, 'of-3');
    await ledger.hold({ accountId: second.id, requestId: 'os-1', amount: d('7') });
    expect(await openTotals(first.id)).toEqual([2, '1.75']);
    expect(await openTotals(second.id)).toEqual([1, '7']);
    const all = await openHoldsByAccount(database.db);
    const mine = all
      .filter((row) => row.account_id === first.id || row.account_id === second.id)
      .map((row) => [row.account_id, Number(row.count), d(row.amount).toString()])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(mine).toEqual(
      [
        [first.id, 2, '1.75'],
        [second.id, 1, '7'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(await openHoldsByAccount(database.db, second.id)).toMatchObject([{ account_id: second.id }]);
    const { account: idle } = await ledger.createAccount({ name: 'open-idle', mode: 'consumption_usd' });
    expect(await openHoldsByAccount(database.db, idle.id)).toEqual([]);
  });

  async function openTotals(accountId: string): Promise<[number, string]> {
    const totals = await openHoldTotals(database.db, accountId);
    return [totals.count, totals.total.toString()];
  }
});

describe.each(backends())('stale holds on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(() => {
    vi.useRealTimers();
  });

  const NOW = Date.parse('2030-01-01T00:00:00.000Z');

  async function placedAt(requestId: string, at: number): Promise<void> {
    await sql`update ledger_entries set created_at = ${new Date(at)} where request_id = ${requestId} and kind = 'hold'`.execute(
      database.db,
    );
  }

  it('are the unsettled holds placed strictly before now − max age, oldest id first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    const { account } = await ledger.createAccount({ name: 'stale', mode: 'consumption_usd', credits: d('10') });
    const placed: Array<[string, number]> = [
      ['s-just-over', NOW - 60_001],
      ['s-hour', NOW - 3_600_000],
      ['s-edge', NOW - 60_000],
      ['s-young', NOW - 10_000],
      ['s-captured', NOW - 7_200_000],
      ['s-released', NOW - 7_200_000],
    ];
    for (const [requestId, at] of placed) {
      await ledger.hold({ accountId: account.id, requestId, amount: d('0.1') });
      await placedAt(requestId, at);
    }
    await ledger.capture({ requestId: 's-captured', amount: d('0.1') });
    await ledger.release('s-released');
    expect(await staleHoldRequestIds(database.db, 60, 100)).toEqual(['s-just-over', 's-hour']);
    expect(await staleHoldRequestIds(database.db, 60, 1)).toEqual(['s-just-over']);
    expect(await staleHoldRequestIds(database.db, 3600, 100)).toEqual([]);
    expect(await staleHoldRequestIds(database.db, 3599, 100)).toEqual(['s-hour']);
    expect(await staleHoldRequestIds(database.db, 0, 100)).toEqual(['s-just-over', 's-hour', 's-edge', 's-young']);
    // Swept by the same rule: each released with the reason, the others left open.
    expect(await ledger.sweepStaleHolds(60)).toBe(2);
    const releases = (await entriesOf(database.db, account.id)).filter((row) => row.kind === 'release');
    expect(releases.map((row) => [row.request_id, row.note])).toEqual([
      ['s-released', null],
      ['s-just-over', 'swept: unsettled after 60s'],
      ['s-hour', 'swept: unsettled after 60s'],
    ]);
    expect(await ledger.sweepStaleHolds(60)).toBe(0);
    const open = await ledger.openHolds(account.id);
    expect([open.count, open.total.toString()]).toEqual([2, '0.2']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('are swept 500 at a time until none is left', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    const { account } = await ledger.createAccount({ name: 'stale-many', mode: 'consumption_usd', credits: d('1') });
    // 501 holds of 0.001, written as the hold path writes them (entry, and available less the amount).
    await database.db
      .insertInto('ledger_entries')
      .values(
        Array.from({ length: 501 }, (_, index) => ({
          account_id: account.id,
          kind: 'hold' as const,
          amount: '0.001',
          unit: 'usd' as const,
          request_id: `many-${index}`,
          created_at: new Date(NOW - 120_000),
        })),
      )
      .execute();
    await database.db.updateTable('accounts').set({ available: '0.499' }).where('id', '=', account.id).execute();
    expect((await ledger.verify()).ok).toBe(true);
    expect(await ledger.sweepStaleHolds(60)).toBe(501);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['1', '1']);
    expect((await ledger.openHolds(account.id)).count).toBe(0);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
