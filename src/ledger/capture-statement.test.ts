import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, postgresBackend, type TestDatabase } from '../../test/support/backends.js';
import { countingHandle, openLedgerFor } from '../../test/support/ledger-checks.js';
import type { Schema } from '../db/schema.js';
import { Decimal } from '../money/decimal.js';
import { captureAlone } from './capture-statement.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('one-statement capture on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  async function entryCount(accountId: string): Promise<number> {
    const rows = await database.db.selectFrom('ledger_entries').select('id').where('account_id', '=', accountId).execute();
    return rows.length;
  }

  it('settles a lone capture below the hold in one statement, to the exact balances', async () => {
    const { account } = await ledger.createAccount({ name: 'lone', mode: 'consumption_usd', credits: d('1') });
    await ledger.hold({ accountId: account.id, requestId: 'lone-1', amount: d('0.3') });
    const counted = countingHandle(database.db);
    const outcome = await new Ledger(counted.db).capture({
      requestId: 'lone-1',
      amount: d('0.1234567'),
      priceVersion: 7,
      usage: { input: 10, output: 3 },
      breakdown: { total: '0.1234567' },
    });
    expect(counted.statements()).toBe(1);
    expect([outcome.captured, outcome.released, outcome.overdraft, outcome.shortfall].map(String)).toEqual([
      '0.1234567',
      '0.1765433',
      '0',
      '0',
    ]);
    expect([outcome.balance.toString(), outcome.available.toString(), outcome.replayed]).toEqual([
      '0.8765433',
      '0.8765433',
      false,
    ]);
    const after = await ledger.getAccount(account.id);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['0.8765433', '0.8765433']);
    const [capture] = await ledger.entries(account.id, { kinds: ['capture'] });
    expect([capture?.amount.toString(), capture?.unit, capture?.requestId, capture?.priceVersion, capture?.note]).toEqual([
      '-0.1234567',
      'usd',
      'lone-1',
      7,
      null,
    ]);
    const stored = await database.db
      .selectFrom('ledger_entries')
      .select(['usage', 'breakdown'])
      .where('request_id', '=', 'lone-1')
      .where('kind', '=', 'capture')
      .executeTakeFirstOrThrow();
    expect([stored.usage, stored.breakdown]).toEqual([{ input: 10, output: 3 }, { total: '0.1234567' }]);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('captures the whole hold in one statement, and a token account in tokens', async () => {
    const { account } = await ledger.createAccount({ name: 'tokens', mode: 'consumption_tokens', credits: d('1000') });
    await ledger.hold({ accountId: account.id, requestId: 'tok-1', amount: d('250') });
    await ledger.hold({ accountId: account.id, requestId: 'tok-2', amount: d('100') });
    const counted = countingHandle(database.db);
    const outcome = await new Ledger(counted.db).capture({ requestId: 'tok-1', amount: d('250') });
    expect(counted.statements()).toBe(1);
    // tok-2 still holds 100: balance 1000 − 250, available 750 − 100.
    expect([outcome.captured, outcome.released, outcome.balance, outcome.available].map(String)).toEqual([
      '250',
      '0',
      '750',
      '650',
    ]);
    const [capture] = await ledger.entries(account.id, { kinds: ['capture'] });
    expect([capture?.amount.toString(), capture?.unit]).toEqual(['-250', 'tokens']);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('replays a fast capture on a second capture of the request and writes nothing', async () => {
    const { account } = await ledger.createAccount({ name: 'replay', mode: 'consumption_usd', credits: d('2') });
    await ledger.hold({ accountId: account.id, requestId: 'rp-1', amount: d('0.5') });
    const first = await ledger.capture({ requestId: 'rp-1', amount: d('0.2') });
    const written = await entryCount(account.id);
    expect(await captureAlone(database.db, { requestId: 'rp-1', amount: d('0.1') })).toBeUndefined();
    const counted = countingHandle(database.db);
    const again = await new Ledger(counted.db).capture({ requestId: 'rp-1', amount: d('0.4') });
    // The statement declines (1), then the full path reads the hold and the settlements and writes nothing (2).
    expect(counted.statements()).toBe(3);
    expect([again.captured, again.released, again.balance, again.available].map(String)).toEqual(['0.2', '0.3', '1.8', '1.8']);
    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(await entryCount(account.id)).toBe(written);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('sends a capture above the hold down the full path: overdraft, then shortfall in the note', async () => {
    const { account } = await ledger.createAccount({
      name: 'excess',
      mode: 'consumption_usd',
      credits: d('1'),
      overdraftLimit: d('0.5'),
    });
    await ledger.hold({ accountId: account.id, requestId: 'ex-1', amount: d('0.2') });
    await ledger.hold({ accountId: account.id, requestId: 'ex-2', amount: d('0.1') });
    expect(await captureAlone(database.db, { requestId: 'ex-1', amount: d('0.3') })).toBeUndefined();
    expect(await entryCount(account.id)).toBe(3);
    const counted = countingHandle(database.db);
    const over = await new Ledger(counted.db).capture({ requestId: 'ex-1', amount: d('0.3') });
    // Declined (1), then the full path: hold and lock, settlements, the insert with the update (3).
    expect(counted.statements()).toBe(4);
    expect([over.captured, over.released, over.overdraft, over.shortfall, over.balance, over.available].map(String)).toEqual([
      '0.3',
      '0',
      '0.1',
      '0',
      '0.7',
      '0.6',
    ]);
    // Available 0.6 plus the 0.5 overdraft plus the 0.1 hold allow 1.2 of the 2 asked.
    const short = await ledger.capture({ requestId: 'ex-2', amount: d('2') });
    expect([short.captured, short.overdraft, short.shortfall, short.balance, short.available].map(String)).toEqual([
      '1.2',
      '1.1',
      '0.8',
      '-0.5',
      '-0.5',
    ]);
    const [entry] = await ledger.entries(account.id, { kinds: ['capture'], limit: 1 });
    expect(entry?.note).toBe('shortfall 0.8: actual 2 exceeded the hold and the overdraft limit');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('declines a missing hold and a capture after a release, which the full path settles as before', async () => {
    const { account } = await ledger.createAccount({ name: 'released', mode: 'consumption_usd', credits: d('1') });
    await ledger.hold({ accountId: account.id, requestId: 'rl-1', amount: d('0.4') });
    await ledger.release('rl-1', 'upstream error');
    expect(await captureAlone(database.db, { requestId: 'rl-1', amount: d('0.1') })).toBeUndefined();
    expect(await captureAlone(database.db, { requestId: 'rl-none', amount: d('0.1') })).toBeUndefined();
    expect(await entryCount(account.id)).toBe(3);
    const late = await ledger.capture({ requestId: 'rl-1', amount: d('0.1') });
    expect([late.captured, late.released, late.overdraft, late.balance, late.available].map(String)).toEqual([
      '0.1',
      '0',
      '0.1',
      '0.9',
      '0.9',
    ]);
    expect((await ledger.verify()).ok).toBe(true);
  });
});

const postgres = postgresBackend();

describe.skipIf(!postgres)('one-statement captures racing on postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await postgres!.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('keeps one account exact under concurrent lone captures, repeated captures and releases', async () => {
    const ledger = new Ledger(database.db);
    const { account } = await ledger.createAccount({ name: 'race', mode: 'consumption_usd', credits: d('10') });
    const requests = Array.from({ length: 40 }, (_, index) => `race-${index}`);
    for (const requestId of requests) await ledger.hold({ accountId: account.id, requestId, amount: d('0.2') });
    // One handle per capture, as separate gateway instances: each capture is alone in its batcher, so they all
    // race as one-statement captures on the account's row. Every request is captured twice (0.001 × (i + 1),
    // then 0.5), and every fifth is also released at the same time.
    const settle = (requestId: string, index: number) => [
      new Ledger(countingHandle(database.db).db).capture({ requestId, amount: d('0.001').times(index + 1) }),
      new Ledger(countingHandle(database.db).db).capture({ requestId, amount: d('0.5') }),
      ...(index % 5 === 0 ? [new Ledger(countingHandle(database.db).db).release(requestId, 'racing release')] : []),
    ];
    const results = await Promise.all(requests.flatMap((requestId, index) => settle(requestId, index)));
    expect(results).toHaveLength(88);

    const captures = await database.db
      .selectFrom('ledger_entries')
      .select(['request_id', 'amount'])
      .where('account_id', '=', account.id)
      .where('kind', '=', 'capture')
      .execute();
    expect(captures).toHaveLength(40);
    const captured = captures.reduce((total, row) => total.add(d(row.amount)), Decimal.ZERO).neg();
    const after = await ledger.getAccount(account.id);
    // Whichever capture or release wins each race, the balance falls by exactly what the entries captured.
    expect(after.balance.toString()).toBe(d('10').sub(captured).toString());
    expect(after.available.toString()).toBe(after.balance.toString());
    expect((await ledger.openHolds(account.id)).count).toBe(0);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
