import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { silentLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { Ledger } from './ledger.js';
import { startHoldSweeper } from './sweeper.js';

describe.each(backends())('hold sweeper on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  /** A hold placed by a process that then died: the entry exists, nothing ever settles it. */
  async function ageHold(requestId: string, seconds: number): Promise<void> {
    const hold = await database.db
      .selectFrom('ledger_entries')
      .selectAll()
      .where('request_id', '=', requestId)
      .where('kind', '=', 'hold')
      .executeTakeFirstOrThrow();
    await database.db.deleteFrom('ledger_entries').where('id', '=', hold.id).execute();
    const { id: _id, created_at: _createdAt, usage, breakdown, ...rest } = hold;
    await database.db
      .insertInto('ledger_entries')
      .values({
        ...rest,
        usage: JSON.stringify(usage),
        breakdown: JSON.stringify(breakdown),
        created_at: new Date(Date.now() - seconds * 1000),
      })
      .execute();
  }

  it('releases only stale, unsettled holds and leaves verify true', async () => {
    const { account } = await ledger.createAccount({ name: 'sweep', mode: 'consumption_usd', credits: Decimal.parse('1') });
    for (const requestId of ['dead-1', 'dead-2', 'settled', 'fresh']) {
      await ledger.hold({ accountId: account.id, requestId, amount: Decimal.parse('0.2') });
    }
    await ledger.capture({ requestId: 'settled', amount: Decimal.parse('0.1') });
    for (const requestId of ['dead-1', 'dead-2', 'settled']) await ageHold(requestId, 3600);
    expect((await ledger.getAccount(account.id)).available.toString()).toBe('0.3');

    const sweeper = startHoldSweeper({ ledger, maxAgeSeconds: 600, intervalSeconds: 3600, logger: silentLogger() });
    try {
      expect(await sweeper.sweepNow()).toBe(2);
      expect(await sweeper.sweepNow()).toBe(0);
    } finally {
      sweeper.stop();
    }
    const after = await ledger.getAccount(account.id);
    expect(after.available.toString()).toBe('0.7');
    expect(after.balance.toString()).toBe('0.9');
    expect(await ledger.openHolds(account.id)).toEqual({ count: 1, total: Decimal.parse('0.2') });
    const released = await ledger.entries(account.id, { kinds: ['release'] });
    expect(released.map((entry) => entry.requestId).sort()).toEqual(['dead-1', 'dead-2']);
    expect(released[0]!.note).toMatch(/^swept/);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
