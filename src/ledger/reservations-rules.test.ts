import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { entriesOf, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { InsufficientCreditsError } from './errors.js';
import type { Ledger } from './ledger.js';
import { perCallReservations } from './reservations.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('per-call reservations on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  it('holds durably under the owner given, and settles with what the capture charged and left', async () => {
    const { account } = await ledger.createAccount({ name: 'per-call', mode: 'consumption_usd', credits: d('1') });
    const reservations = perCallReservations(ledger, { ownerId: 'gw-7' });
    const hold = await reservations.hold({ accountId: account.id, requestId: 'pc-1', amount: d('0.4') });
    expect([hold.requestId, hold.accountId, hold.amount.toString()]).toEqual(['pc-1', account.id, '0.4']);
    expect((await ledger.getAccount(account.id)).available.toString()).toBe('0.6');
    const charge = await reservations.settle(hold, { amount: d('0.15'), priceVersion: 3, usage: { input: 5 } });
    expect([charge.captured.toString(), charge.shortfall.toString(), charge.creditsLeft.toString()]).toEqual([
      '0.15',
      '0',
      '0.85',
    ]);
    const rows = await entriesOf(database.db, account.id);
    expect(
      rows.filter((row) => row.kind !== 'grant').map((row) => [row.kind, row.request_id, row.owner_id, row.price_version]),
    ).toEqual([
      ['hold', 'pc-1', 'gw-7', null],
      ['capture', 'pc-1', null, 3],
    ]);
  });

  it('names no owner when given none, reports a shortfall, and releases with the reason', async () => {
    const { account } = await ledger.createAccount({ name: 'per-call-2', mode: 'consumption_usd', credits: d('0.5') });
    const reservations = perCallReservations(ledger);
    const short = await reservations.hold({ accountId: account.id, requestId: 'pc2-short', amount: d('0.1') });
    const charge = await reservations.settle(short, { amount: d('0.7') });
    expect([charge.captured.toString(), charge.shortfall.toString(), charge.creditsLeft.toString()]).toEqual(['0.5', '0.2', '0']);
    await ledger.grant(account.id, d('1'));
    const failed = await reservations.hold({ accountId: account.id, requestId: 'pc2-failed', amount: d('0.3') });
    await reservations.release(failed, 'upstream timed out');
    const rows = await entriesOf(database.db, account.id);
    expect(rows.filter((row) => row.kind === 'hold').map((row) => row.owner_id)).toEqual([null, null]);
    expect(
      rows.filter((row) => row.kind === 'release').map((row) => [row.request_id, row.note, Decimal.parse(row.amount).toString()]),
    ).toEqual([['pc2-failed', 'upstream timed out', '0.3']]);
    expect((await ledger.getAccount(account.id)).available.toString()).toBe('1');
    await expect(reservations.hold({ accountId: account.id, requestId: 'pc2-big', amount: d('2') })).rejects.toBeInstanceOf(
      InsufficientCreditsError,
    );
    // Nothing is kept aside in this process: these have nothing to do.
    expect(await reservations.flush()).toBeUndefined();
    expect(await reservations.returnUnused()).toBeUndefined();
    expect(await reservations.retireAccount(account.id)).toBeUndefined();
    expect(await reservations.close()).toBeUndefined();
    expect((await ledger.verify()).ok).toBe(true);
  });
});
