import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { countingHandle, openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import { CreditLeases } from './credit-leases.js';
import { createLogger } from '../logging/logger.js';
import { AccountSuspendedError, InsufficientCreditsError } from './errors.js';
import { Ledger } from './ledger.js';
import { until } from '../../test/support/wait.js';

const d = (text: string) => Decimal.parse(text);
let counter = 0;
const requestId = () => `req_lease_test_${Date.now()}_${(counter += 1)}`;

describe.each(backends())('credit leases on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  const account = async (credits: string, options: { overdraftLimit?: string } = {}) => {
    counter += 1;
    const created = await ledger.createAccount({
      name: `lease-${counter}-${Date.now()}`,
      mode: 'consumption_usd',
      credits: d(credits),
      ...(options.overdraftLimit ? { overdraftLimit: d(options.overdraftLimit) } : {}),
    });
    return created.account.id;
  };
  const entries = (accountId: string) =>
    database.db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('id').execute();

  it('settles many calls on one lease: exact captures naming it, verify holds while it is open and after it closes', async () => {
    const leases = new CreditLeases(database.db, { callsPerLease: 8 });
    const accountId = await account('10');
    const charges: Decimal[] = [];
    let creditsLeft = Decimal.ZERO;
    for (let call = 0; call < 5; call += 1) {
      const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0.01') });
      const amount = d('0.0012345').times(call + 1);
      const charge = await leases.settle(hold, { amount, priceVersion: 7 });
      expect(charge.captured.toString()).toBe(amount.toString());
      charges.push(amount);
      creditsLeft = charge.creditsLeft;
    }
    const spent = Decimal.sum(charges);
    // What the last call's response says is left: the account less what its calls were charged.
    expect(creditsLeft.toString()).toBe(d('10').sub(spent).toString());
    await leases.flush();
    // One lease of 8 × 0.01 still open: it reserves what its calls did not draw, and verify agrees.
    const open = await ledger.getAccount(accountId);
    expect(open.balance.toString()).toBe(d('10').sub(spent).toString());
    expect(open.available.toString()).toBe(d('10').sub(d('0.08')).toString());
    expect((await ledger.openHolds(accountId)).total.toString()).toBe(d('0.08').sub(spent).toString());
    expect((await ledger.verify()).ok).toBe(true);
    await leases.close();
    const rows = await entries(accountId);
    expect(rows.map((row) => row.kind)).toEqual([
      'grant',
      'hold',
      'capture',
      'capture',
      'capture',
      'capture',
      'capture',
      'release',
    ]);
    const lease = rows[1]!;
    expect(lease.request_id).toMatch(/^lease_/);
    expect(rows.filter((row) => row.kind === 'capture').every((row) => row.lease_id === lease.request_id)).toBe(true);
    // The ledger's own listing (CLI and admin API) names the lease of each capture.
    const listed = await ledger.entries(accountId, { kinds: ['capture'] });
    expect(listed.map((entry) => entry.leaseId)).toEqual(Array(5).fill(lease.request_id));
    expect(d(rows.at(-1)!.amount).toString()).toBe(d('0.08').sub(spent).toString());
    const closed = await ledger.getAccount(accountId);
    expect(closed.available.toString()).toBe(closed.balance.toString());
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a released call charges nothing and its carve serves the next call', async () => {
    const leases = new CreditLeases(database.db, { callsPerLease: 1 });
    const accountId = await account('1');
    const failed = await leases.hold({ accountId, requestId: requestId(), amount: d('0.5') });
    await leases.release(failed);
    // The lease holds exactly one call's worth: the second call fits only because the first gave its carve back.
    const next = await leases.hold({ accountId, requestId: requestId(), amount: d('0.5') });
    await leases.settle(next, { amount: d('0.2') });
    await leases.close();
    const rows = await entries(accountId);
    expect(rows.map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.8');
    await expect(leases.settle(next, { amount: d('0.2') })).rejects.toThrow(/already settled/);
  });

  it('holds exactly what the account can pay under 200 concurrent calls in one process, never more', async () => {
    const leases = new CreditLeases(database.db);
    const accountId = await account('1');
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => leases.hold({ accountId, requestId: requestId(), amount: d('0.01') })),
    );
    const held = results.filter((result) => result.status === 'fulfilled');
    const refused = results.filter((result) => result.status === 'rejected');
    expect(held).toHaveLength(100);
    expect(refused.every((result) => result.reason instanceof InsufficientCreditsError)).toBe(true);
    expect((await ledger.getAccount(accountId)).available.toString()).toBe('0');
    for (const result of held) await leases.settle(result.value, { amount: d('0.004') });
    await leases.close();
    const after = await ledger.getAccount(accountId);
    expect(after.balance.toString()).toBe('0.6');
    expect(after.available.toString()).toBe('0.6');
    expect((await ledger.verify()).ok).toBe(true);
  });

  it("calls waiting on a lease that the account cannot open are refused with the opener's refusal, without asking again", async () => {
    // Alone: what one refused call costs in statements.
    const alone = countingHandle(database.db);
    const shortAlone = await account('0.05');
    await expect(
      new CreditLeases(alone.db).hold({ accountId: shortAlone, requestId: requestId(), amount: d('0.1') }),
    ).rejects.toThrow(`insufficient credits on account ${shortAlone}: this call needs 0.1 usd, 0.05 usd available`);
    // Three calls of the same need at once: the two that waited on the first one's lease take its refusal.
    const together = countingHandle(database.db);
    const shortTogether = await account('0.05');
    const leases = new CreditLeases(together.db);
    const calls = await Promise.allSettled(
      [0, 1, 2].map(() => leases.hold({ accountId: shortTogether, requestId: requestId(), amount: d('0.1') })),
    );
    for (const call of calls) {
      expect(call.status).toBe('rejected');
      expect((call as PromiseRejectedResult).reason).toMatchObject({ needed: d('0.1'), available: d('0.05') });
    }
    expect(together.statements()).toBe(alone.statements());
  });

  it('several processes on one account never overdraw it together', async () => {
    const processes = [new CreditLeases(database.db), new CreditLeases(database.db), new CreditLeases(database.db)];
    const accountId = await account('1');
    const calls = await Promise.allSettled(
      Array.from({ length: 300 }, async (_, index) => {
        const leases = processes[index % processes.length]!;
        const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0.01') });
        await new Promise((resolve) => setTimeout(resolve, index % 7));
        return leases.settle(hold, { amount: d('0.01') });
      }),
    );
    const served = calls.filter((call) => call.status === 'fulfilled');
    for (const call of calls) if (call.status === 'rejected') expect(call.reason).toBeInstanceOf(InsufficientCreditsError);
    // Each process may strand less than one call's worth in its last lease, so the count is 100 or just under.
    expect(served.length).toBeGreaterThanOrEqual(98);
    expect(served.length).toBeLessThanOrEqual(100);
    await Promise.all(processes.map((leases) => leases.close()));
    const after = await ledger.getAccount(accountId);
    expect(after.balance.toString()).toBe(d('1').sub(d('0.01').times(served.length)).toString());
    expect(after.balance.isNegative()).toBe(false);
    expect(after.available.toString()).toBe(after.balance.toString());
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a charge past the lease is decided by the database under the overdraft policy, with the shortfall recorded', async () => {
    const leases = new CreditLeases(database.db, { callsPerLease: 2 });
    const accountId = await account('1', { overdraftLimit: '0.25' });
    const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0.5') });
    // The lease holds the whole 1 (2 × 0.5); the actual 1.5 takes 0.25 of overdraft and leaves 0.25 short.
    const charge = await leases.settle(hold, { amount: d('1.5') });
    expect(charge.captured.toString()).toBe('1.25');
    expect(charge.shortfall.toString()).toBe('0.25');
    expect(charge.creditsLeft.toString()).toBe('-0.25');
    await leases.close();
    const after = await ledger.getAccount(accountId);
    expect(after.balance.toString()).toBe('-0.25');
    expect(after.available.toString()).toBe('-0.25');
    const capture = (await entries(accountId)).find((row) => row.kind === 'capture')!;
    expect(capture.note).toMatch(/^shortfall 0.25:/);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('an idle lease closes by itself and gives back what its calls did not draw', async () => {
    const leases = new CreditLeases(database.db, { idleMs: 40, tickMs: 20 });
    const accountId = await account('2');
    const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0.05') });
    await leases.settle(hold, { amount: d('0.03') });
    // How soon is credit-lease-lifecycle.test.ts's, on a controlled clock; here, that it happens on its own.
    await until(async () => (await entries(accountId)).some((row) => row.kind === 'release'), 'the idle lease to close');
    expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
    const after = await ledger.getAccount(accountId);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['1.97', '1.97']);
    await leases.close();
  });

  it('a lease left by a process that died is released by the sweeper for its undrawn part; its written captures stand', async () => {
    const dead = new CreditLeases(database.db, { idleMs: 60_000, maxAgeMs: 60_000 });
    const accountId = await account('1');
    for (let call = 0; call < 3; call += 1) {
      const hold = await dead.hold({ accountId, requestId: requestId(), amount: d('0.01') });
      await dead.settle(hold, { amount: d('0.002') });
    }
    await dead.flush();
    // The process "dies" here: its lease is never closed.
    const released = await ledger.sweepStaleHolds(0);
    expect(released).toBeGreaterThanOrEqual(1);
    const rows = await entries(accountId);
    expect(rows.map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'capture', 'capture', 'release']);
    expect(d(rows.at(-1)!.amount).toString()).toBe(d('0.32').sub(d('0.006')).toString());
    const after = await ledger.getAccount(accountId);
    expect([after.balance.toString(), after.available.toString()]).toEqual(['0.994', '0.994']);
    expect((await ledger.verify()).ok).toBe(true);
    await dead.close();
  });

  it('a suspended account gets no new lease once its leases are retired', async () => {
    const leases = new CreditLeases(database.db);
    const accountId = await account('1');
    const first = await leases.hold({ accountId, requestId: requestId(), amount: d('0.01') });
    await leases.settle(first, { amount: d('0.01') });
    await ledger.setStatus(accountId, 'suspended');
    await leases.retireAccount(accountId);
    await expect(leases.hold({ accountId, requestId: requestId(), amount: d('0.01') })).rejects.toBeInstanceOf(
      AccountSuspendedError,
    );
    await leases.close();
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('a short account takes back its idle lease, once the captures drawn on it are written, before refusing', async () => {
    const leases = new CreditLeases(database.db);
    const accountId = await account('0.1');
    const first = await leases.hold({ accountId, requestId: requestId(), amount: d('0.05') });
    await leases.settle(first, { amount: d('0.03') }); // its capture is still lingering, unwritten
    // 0.07 is left, all of it in the idle lease: a call needing 0.08 is refused, one needing 0.07 is served.
    await expect(leases.hold({ accountId, requestId: requestId(), amount: d('0.08') })).rejects.toMatchObject({
      available: d('0.07'),
    });
    const last = await leases.hold({ accountId, requestId: requestId(), amount: d('0.07') });
    await leases.settle(last, { amount: d('0.07') });
    await leases.close();
    const rows = await entries(accountId);
    expect(rows.map((row) => [row.kind, d(row.amount).toString()])).toEqual([
      ['grant', '0.1'],
      ['hold', '0.1'],
      ['capture', '-0.03'],
      ['release', '0.07'],
      ['hold', '0.07'],
      ['capture', '-0.07'],
      ['release', '0'],
    ]);
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0');
    expect((await ledger.verify()).accounts.find((entry) => entry.id === accountId)?.ok).toBe(true);
  });

  it('a free model (zero worst case) is served from a zero lease and captured at zero', async () => {
    const leases = new CreditLeases(database.db);
    const accountId = await account('0');
    const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0') });
    const charge = await leases.settle(hold, { amount: d('0') });
    expect([charge.captured.toString(), charge.creditsLeft.toString()]).toEqual(['0', '0']);
    // A priced call on an empty account is still refused.
    await expect(leases.hold({ accountId, requestId: requestId(), amount: d('0.01') })).rejects.toBeInstanceOf(
      InsufficientCreditsError,
    );
    await leases.close();
    expect((await entries(accountId)).map((row) => [row.kind, d(row.amount).toString()])).toEqual([
      ['hold', '0'],
      ['capture', '0'],
      ['release', '0'],
    ]);
    expect((await ledger.verify()).accounts.find((entry) => entry.id === accountId)?.ok).toBe(true);
  });

  it('writing the same capture twice (a retried write) charges once', async () => {
    const leases = new CreditLeases(database.db);
    const accountId = await account('1');
    const id = requestId();
    const hold = await leases.hold({ accountId, requestId: id, amount: d('0.1') });
    await leases.settle(hold, { amount: d('0.07') });
    await leases.flush();
    const leaseId = (await entries(accountId)).find((row) => row.kind === 'hold')!.request_id;
    const replay = await ledger.capture({ requestId: id, amount: d('0.07'), leaseId });
    expect(replay.replayed).toBe(true);
    await leases.close();
    expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.93');
    expect((await entries(accountId)).filter((row) => row.kind === 'capture')).toHaveLength(1);
  });

  it('a capture the ledger refuses is not retried, is counted as lost and logged with what replays it', async () => {
    const lines: string[] = [];
    const logger = createLogger('error', { write: (line: string) => void lines.push(line) });
    const leases = new CreditLeases(database.db, { logger });
    const accountId = await account('1');
    const hold = await leases.hold({ accountId, requestId: requestId(), amount: d('0.1') });
    // Corrupt the ledger under the lease: its hold entry disappears, so the capture has nothing to draw on.
    // (The last test of the suite: verify would fail for this account from here on.)
    await database.db.deleteFrom('ledger_entries').where('account_id', '=', accountId).where('kind', '=', 'hold').execute();
    const charge = await leases.settle(hold, { amount: d('0.04'), priceVersion: 3 });
    expect(charge.captured.toString()).toBe('0.04');
    await leases.flush();
    expect(leases.stats()).toMatchObject({ writesPending: 0, writesLost: 1 });
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ requestId: hold.requestId, amount: '0.04', priceVersion: 3 });
    expect(logged[0]!.msg).toMatch(/could not be written/);
    expect(logged[0]!.err).toMatchObject({ type: 'HoldNotFoundError' });
    await leases.close();
  });
});
