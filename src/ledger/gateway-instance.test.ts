import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { silentLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { CreditLeases } from './credit-leases.js';
import { declareSilentInstancesDead, releaseHoldsOfDeadInstances } from './dead-instances.js';
import { GatewayInstance } from './gateway-instance.js';
import { replayLeftJournals } from './journal-replay.js';
import { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

describe('gateway instance fence (controlled clock)', () => {
  it('fences itself a third of the silence before others may declare it dead, and lifts the fence on a heartbeat', async () => {
    const database = await backends()[0]!.open();
    try {
      let clock = 1_000;
      const instance = await GatewayInstance.register(database.db, { silenceMs: 30_000, now: () => clock });
      expect(instance.heartbeatMs).toBe(5_000);
      clock += 19_999;
      expect(instance.fenced).toBe(false);
      clock += 2;
      expect(instance.fenced).toBe(true);
      expect(instance.steadyForMs).toBe(0);
      await instance.beat();
      expect(instance.fenced).toBe(false);
      clock += 10_000;
      expect(instance.steadyForMs).toBe(10_000);
      await instance.stop();
    } finally {
      await database.close();
    }
  });
});

describe.each(backends())('dead gateway instances on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  beforeAll(async () => {
    database = await backend.open();
    ledger = new Ledger(database.db);
  });
  afterAll(async () => {
    await database.close();
  });

  async function account(credits: string): Promise<string> {
    return (await ledger.createAccount({ name: `dead-${Math.random()}`, mode: 'consumption_usd', credits: d(credits) })).account
      .id;
  }

  it("a silent instance is declared dead by the database's clock; its lease gives back what its calls did not draw", async () => {
    const accountId = await account('10');
    const owner = await GatewayInstance.register(database.db, { silenceMs: 30_000 });
    const leases = new CreditLeases(database.db, { instance: owner, callsPerLease: 10 });
    const hold = await leases.hold({ accountId, requestId: 'req_dead_1', amount: d('0.5') });
    await leases.settle(hold, { amount: d('0.2') });
    await leases.flush();
    expect((await ledger.getAccount(accountId)).available.toString()).toBe('5'); // 10 - a lease of 5

    // Fresh heartbeat: nothing to declare. Silent by the database's clock: declared dead once.
    expect(await declareSilentInstancesDead(database.db, 30_000)).not.toContain(owner.id);
    await database.db
      .updateTable('gateway_instances')
      .set({ heartbeat_at: new Date(Date.now() - 60_000) })
      .where('id', '=', owner.id)
      .execute();
    expect(await declareSilentInstancesDead(database.db, 30_000)).toContain(owner.id);
    expect(await declareSilentInstancesDead(database.db, 30_000)).not.toContain(owner.id);
    expect(await releaseHoldsOfDeadInstances(database.db)).toBeGreaterThanOrEqual(1);
    const account_ = await ledger.getAccount(accountId);
    expect([account_.balance.toString(), account_.available.toString()]).toEqual(['9.8', '9.8']);
    expect((await ledger.verify()).ok).toBe(true);

    // The instance finds out at its next heartbeat and drops its leases: its next call opens a new one.
    let declared = false;
    owner.onDeclaredDead(() => (declared = true));
    await owner.beat();
    expect(declared).toBe(true);
    const next = await leases.hold({ accountId, requestId: 'req_dead_2', amount: d('0.5') });
    await leases.settle(next, { amount: d('0.1') });
    await leases.close();
    await owner.stop();
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('9.7');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a restart replays what a killed process journaled and releases its leases before serving', async () => {
    const accountId = await account('10');
    const directory = mkdtempSync(path.join(tmpdir(), 'tollgate-replay-test-'));
    try {
      const dead = await GatewayInstance.register(database.db, { silenceMs: 30_000 });
      const leases = new CreditLeases(database.db, { instance: dead, callsPerLease: 10 });
      const hold = await leases.hold({ accountId, requestId: 'req_journaled', amount: d('0.5') });
      const leaseId = (
        await database.db
          .selectFrom('ledger_entries')
          .select('request_id')
          .where('account_id', '=', accountId)
          .where('kind', '=', 'hold')
          .executeTakeFirstOrThrow()
      ).request_id;
      // What the killed process had written to its journal and not yet to the database.
      writeFileSync(
        path.join(directory, `${dead.id}-999999999-1.journal`),
        `${JSON.stringify({ type: 'capture', requestId: hold.requestId, leaseId, amount: '0.3', priceVersion: 1 })}\n` +
          `${JSON.stringify({ type: 'usage', row: usageRow(hold.requestId, accountId) })}\n`,
      );
      const usage: unknown[] = [];
      const survivor = await GatewayInstance.register(database.db, { silenceMs: 30_000 });
      const report = await replayLeftJournals({
        db: database.db,
        directory,
        instanceId: survivor.id,
        silenceMs: 30_000,
        writeUsage: async (rows) => void usage.push(...rows),
        soleOwner: false,
        logger: silentLogger(),
      });
      expect(report).toMatchObject({ files: 1, captures: 1, usageRecords: 1, unreadable: 0 });
      expect(report.released).toBeGreaterThanOrEqual(1);
      expect(usage).toHaveLength(1);
      expect(readdirSync(directory)).toEqual([]);
      const account_ = await ledger.getAccount(accountId);
      expect([account_.balance.toString(), account_.available.toString()]).toEqual(['9.7', '9.7']);
      expect((await ledger.verify()).ok).toBe(true);
      // Replaying the same capture again changes nothing (one capture per request id).
      writeFileSync(
        path.join(directory, `${dead.id}-999999999-2.journal`),
        `${JSON.stringify({ type: 'capture', requestId: hold.requestId, leaseId, amount: '0.3' })}\n`,
      );
      await replayLeftJournals({
        db: database.db,
        directory,
        instanceId: survivor.id,
        silenceMs: 30_000,
        writeUsage: async () => undefined,
        soleOwner: false,
        logger: silentLogger(),
      });
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('9.7');
      await survivor.stop();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

function usageRow(requestId: string, accountId: string): Record<string, unknown> {
  return { request_id: requestId, account_id: accountId, charge: '0.3' };
}
