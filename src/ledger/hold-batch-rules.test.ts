import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { batchChannel, type BatchEvent } from '../db/group-commit.js';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { holdBatcher, type HoldInput } from './hold-batch.js';
import { Ledger } from './ledger.js';
import { refuseEntriesOf, stopEntryFaults } from '../../test/support/database-faults.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('hold batch rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(async () => {
    await stopEntryFaults(database.db);
  });

  const account = async (credits: string, mode: 'consumption_usd' | 'consumption_tokens' = 'consumption_usd') => {
    counter += 1;
    return (await ledger.createAccount({ name: `hold-rules-${counter}`, mode, credits: d(credits) })).account.id;
  };
  /** A batcher whose one-statement hold is the ledger's own, recording which requests went through it. */
  const batcher = () => {
    const alone: string[] = [];
    const queue = holdBatcher(database.db, (_db, input) => {
      alone.push(input.requestId);
      return ledger.hold(input);
    });
    return { queue, alone };
  };
  const settle = async (queue: ReturnType<typeof batcher>['queue'], inputs: HoldInput[]) => {
    const results = await Promise.allSettled(inputs.map((input) => queue.submit(input)));
    return results.map((result) =>
      result.status === 'fulfilled'
        ? result.value.available.toString()
        : `${(result.reason as Error).name}${'needed' in (result.reason as object) ? ` ${String((result.reason as { needed: Decimal }).needed)}/${String((result.reason as { available: Decimal }).available)}/${(result.reason as { unit: string }).unit}` : ''}`,
    );
  };
  const holdRows = (accountId: string) =>
    database.db
      .selectFrom('ledger_entries')
      .select(['request_id', 'amount', 'unit', 'owner_id'])
      .where('account_id', '=', accountId)
      .where('kind', '=', 'hold')
      .orderBy('id')
      .execute();

  it("names its batches 'holds' on the batch channel", async () => {
    const accountId = await account('1');
    const events: BatchEvent[] = [];
    const listener = (event: unknown) => events.push(event as BatchEvent);
    subscribe(batchChannel.name, listener);
    try {
      const { queue } = batcher();
      await settle(queue, [{ accountId, requestId: 'req_hold_rules_named', amount: d('0.1') }]);
    } finally {
      unsubscribe(batchChannel.name, listener);
    }
    // The batcher's one hold, and the ledger's own hold it makes alone (through the ledger's batcher).
    expect(events.map((event) => [event.name, event.size])).toEqual([
      ['holds', 1],
      ['holds', 1],
    ]);
  });

  it('decides queued holds together in order by the one-statement rules, without the one-statement hold', async () => {
    const lead = await account('1');
    const usd = await account('1');
    const tokens = await account('100', 'consumption_tokens');
    const frozen = await account('5');
    await ledger.hold({ accountId: frozen, requestId: 'req_hold_rules_before', amount: d('1') });
    await ledger.updateAccount(frozen, { status: 'suspended' });
    const { queue, alone } = batcher();
    const results = await settle(queue, [
      { accountId: lead, requestId: 'req_hold_rules_lead', amount: d('0.1') },
      // Queued behind the lead: one transaction.
      { accountId: usd, requestId: 'req_hold_rules_exact', amount: d('1'), ownerId: 'inst_rules' },
      { accountId: usd, requestId: 'req_hold_rules_over', amount: d('0.01') },
      { accountId: usd, requestId: 'req_hold_rules_zero', amount: d('0') },
      { accountId: tokens, requestId: 'req_hold_rules_tokens', amount: d('40') },
      { accountId: tokens, requestId: 'req_hold_rules_short', amount: d('61') },
      // Held before the suspension: a repeat is idempotent, whatever the status.
      { accountId: frozen, requestId: 'req_hold_rules_before', amount: d('9') },
      { accountId: frozen, requestId: 'req_hold_rules_frozen', amount: d('1') },
      { accountId: 'acct_nobody', requestId: 'req_hold_rules_nobody', amount: d('1') },
    ]);
    expect(results).toEqual([
      '0.9',
      '0',
      'InsufficientCreditsError 0.01/0/usd',
      '0',
      '60',
      'InsufficientCreditsError 61/60/tokens',
      '4',
      'AccountSuspendedError',
      'AccountNotFoundError',
    ]);
    expect(alone).toEqual(['req_hold_rules_lead']);
    expect(await holdRows(usd)).toEqual([
      { request_id: 'req_hold_rules_exact', amount: '1', unit: 'usd', owner_id: 'inst_rules' },
      { request_id: 'req_hold_rules_zero', amount: '0', unit: 'usd', owner_id: null },
    ]);
    expect(await holdRows(tokens)).toEqual([
      { request_id: 'req_hold_rules_tokens', amount: '40', unit: 'tokens', owner_id: null },
    ]);
    expect((await ledger.getAccount(usd)).available.toString()).toBe('0');
    expect((await ledger.getAccount(tokens)).available.toString()).toBe('60');
    expect((await ledger.getAccount(frozen)).available.toString()).toBe('4');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a batch where nothing is held changes no account', async () => {
    const usd = await account('1');
    const { queue } = batcher();
    const results = await settle(queue, [
      { accountId: usd, requestId: 'req_hold_rules_first', amount: d('0.4') },
      { accountId: usd, requestId: 'req_hold_rules_big', amount: d('5') },
      { accountId: 'acct_nobody', requestId: 'req_hold_rules_none', amount: d('1') },
    ]);
    expect(results).toEqual(['0.6', 'InsufficientCreditsError 5/0.6/usd', 'AccountNotFoundError']);
    expect((await ledger.getAccount(usd)).available.toString()).toBe('0.6');
  });

  it('a failed shared transaction is retried one hold at a time, so only the failing hold gets the error', async () => {
    const failing = await account('1');
    const fine = await account('1');
    await refuseEntriesOf(database.db, failing, { kind: 'hold' });
    const { queue, alone } = batcher();
    const results = await settle(queue, [
      { accountId: fine, requestId: 'req_hold_rules_alone', amount: d('0.1') },
      { accountId: failing, requestId: 'req_hold_rules_bad', amount: d('0.1') },
      { accountId: fine, requestId: 'req_hold_rules_good', amount: d('0.2') },
    ]);
    expect(results).toEqual(['0.9', 'error', '0.7']);
    expect(alone).toEqual(['req_hold_rules_alone', 'req_hold_rules_bad', 'req_hold_rules_good']);
    expect((await ledger.getAccount(failing)).available.toString()).toBe('1');
  });
});
