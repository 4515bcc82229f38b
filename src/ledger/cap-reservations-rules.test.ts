import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import type { Db } from '../db/database.js';
import { Decimal } from '../money/decimal.js';
import type { Account } from './accounts.js';
import { CapExceededError, CapReservations, usedOf, type CapHold, type CapSpec } from './cap-reservations.js';
import type { Ledger } from './ledger.js';
import { resolveLimitTarget, setLimits, type LimitChanges } from './limits.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { refusal } from '../../test/support/refusals.js';

/**
 * The rules of cap reservations, each pinned exactly on an injected clock: the refusal's message, how big a
 * cap lease is (32 calls, 1/64 of the headroom far from the cap, what is left near it), when a lease is
 * shared, when it retires (idle, old, its period over: both sides of each boundary) and what it gives back,
 * the conditional write's boundaries (soft and hard, as the spec or the row says), and the all-or-none rule.
 * The lease timer is driven by faking setInterval only: every tick is one the test fires.
 */

const d = (text: string) => Decimal.parse(text);
const T0 = Date.parse('2026-11-29T12:00:00Z');
const EPOCH = new Date(0);

/** Counts the conditional writes (inserts into limit_usage) and can make the give-back (an update) fail. */
class Probe implements KyselyPlugin {
  inserts = 0;
  failUpdates = false;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'InsertQueryNode') this.inserts += 1;
    if (args.node.kind === 'UpdateQueryNode' && this.failUpdates) throw new Error('database down');
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

const lease = (hold: CapHold, index = 0) => hold.carves[index]!;

describe('the refusal of a cap', () => {
  const spec = (changes: Partial<CapSpec>): CapSpec => ({
    limitId: 'lim_1',
    level: 'account',
    name: 'acme',
    cap: d('10'),
    period: 'day',
    timezone: 'UTC',
    soft: false,
    ...changes,
  });

  it('names the level, the target, the cap per period, the need, what remains and the reset', () => {
    const cap = spec({});
    const error = new CapExceededError(cap, d('2.50'), d('1.25'), new Date('2026-11-30T15:00:00Z'));
    expect(error.message).toBe(
      'budget exceeded: the account acme has a daily cap of 10; this call needs up to 2.5 and 1.25 remain; ' +
        'it resets at 2026-11-30T15:00:00.000Z',
    );
    expect(error).toBeInstanceOf(CapExceededError);
    expect(error.name).toBe('CapExceededError');
    expect(error.code).toBe('budget_exceeded');
    expect(error.statusCode).toBe(402);
    expect(error.type).toBe('insufficient_quota');
    expect(error.param).toBeUndefined();
    expect(error.cap).toBe(cap);
    expect(error.needed.toString()).toBe('2.5');
    expect(error.remaining.toString()).toBe('1.25');
    expect(error.resetsAt?.toISOString()).toBe('2026-11-30T15:00:00.000Z');
  });

  it('says weekly, monthly and total, "end user" for an end user, and that a total cap never resets', () => {
    expect(new CapExceededError(spec({ level: 'end_user', name: 'alice', period: 'week' }), d('1'), d('0'), EPOCH).message).toBe(
      'budget exceeded: the end user alice has a weekly cap of 10; this call needs up to 1 and 0 remain; ' +
        'it resets at 1970-01-01T00:00:00.000Z',
    );
    expect(new CapExceededError(spec({ level: 'key', name: 'tg_abc', period: 'month' }), d('1'), d('0'), EPOCH).message).toBe(
      'budget exceeded: the key tg_abc has a monthly cap of 10; this call needs up to 1 and 0 remain; ' +
        'it resets at 1970-01-01T00:00:00.000Z',
    );
    expect(new CapExceededError(spec({ period: 'total', cap: d('3') }), d('0.5'), d('0.25'), undefined).message).toBe(
      'budget exceeded: the account acme has a total cap of 3; this call needs up to 0.5 and 0.25 remain; ' +
        'it never resets (period total)',
    );
  });

  it('shows a negative remainder (use past a lowered cap) as 0, and keeps it as it is', () => {
    const error = new CapExceededError(spec({}), d('1'), d('-1.5'), undefined);
    expect(error.message).toBe(
      'budget exceeded: the account acme has a daily cap of 10; this call needs up to 1 and 0 remain; ' +
        'it never resets (period total)',
    );
    expect(error.remaining.toString()).toBe('-1.5');
  });
});

describe.each(backends())('cap reservations on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => {
    ({ database, ledger } = opened);
  });
  let wallet: Account;
  let counter = 0;
  const open: CapReservations[] = [];

  beforeAll(async () => {
    ({ account: wallet } = await ledger.createAccount({ name: 'cap-rules', mode: 'consumption_usd', credits: d('100') }));
  });
  afterEach(async () => {
    for (const caps of open.splice(0)) await caps.close();
    vi.useRealTimers();
  });

  /** A new end-user cap of the wallet, as the call path knows it. */
  async function capOn(changes: LimitChanges, spec: Partial<CapSpec> = {}): Promise<CapSpec> {
    counter += 1;
    const limits = await setLimits(database.db, await resolveLimitTarget(database.db, `${wallet.id}:u${counter}`), changes);
    return {
      limitId: limits.id,
      level: 'end_user',
      name: `u${counter}`,
      cap: limits.cap!,
      period: limits.period,
      timezone: limits.timezone,
      soft: limits.soft,
      ...spec,
    };
  }
  function reservations(options: ConstructorParameters<typeof CapReservations>[1] = {}, db: Db = database.db) {
    const caps = new CapReservations(db, options);
    open.push(caps);
    return caps;
  }
  const used = async (spec: CapSpec, start = EPOCH) => (await usedOf(database.db, spec.limitId, start)).toString();

  describe('options', () => {
    it('reserve per call with at most 1 call per lease; lease 32 calls by default', () => {
      expect(reservations({ callsPerLease: 1 }).perCall).toBe(true);
      expect(reservations({ callsPerLease: 0 }).perCall).toBe(true);
      expect(reservations({ callsPerLease: 2 }).perCall).toBe(false);
      expect(reservations().perCall).toBe(false);
    });

    it('the lease timer never keeps the process alive, and close stops it', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const caps = reservations({ now: () => T0 });
      expect((caps as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
      expect(vi.getTimerCount()).toBe(1);
      await caps.close();
      expect(vi.getTimerCount()).toBe(0);
    });

    it('once closed, refuses to reserve: the gateway is shutting down', async () => {
      const spec = await capOn({ cap: d('10') });
      const caps = reservations();
      await caps.close();
      const error = await caps.reserve([spec], d('1'), T0).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error).not.toBeInstanceOf(CapExceededError);
      expect(error?.message).toBe('cap reservations are closed: the gateway is shutting down');
      expect(await used(spec)).toBe('0');
    });
  });

  describe('a cap lease', () => {
    it('holds 32 calls by default, is carved in memory, and gives back its unspent part when it closes', async () => {
      const spec = await capOn({ cap: d('100') });
      const onUsage = vi.fn();
      let now = T0;
      const caps = reservations({ now: () => now, onUsage });
      const first = await caps.reserve([spec], d('0.25'), now);
      const carved = lease(first);
      expect(carved.amount.toString()).toBe('8');
      expect(carved.periodStart.getTime()).toBe(0);
      expect(carved.cap).toBe(spec);
      expect({ ...carved, cap: undefined, periodStart: undefined, amount: carved.amount.toString() }).toStrictEqual({
        cap: undefined,
        periodStart: undefined,
        amount: '8',
        drawn: Decimal.ZERO,
        reserved: d('0.25'),
        inFlight: 1,
        openedAt: T0,
        lastUsedAt: T0,
        retiring: false,
        closing: undefined,
      });
      expect(await used(spec)).toBe('8');
      now = T0 + 5;
      const second = await caps.reserve([spec], d('0.25'), now);
      expect(lease(second)).toBe(carved);
      expect([carved.reserved.toString(), carved.inFlight, carved.openedAt, carved.lastUsedAt]).toStrictEqual([
        '0.5',
        2,
        T0,
        T0 + 5,
      ]);
      now = T0 + 7;
      await caps.settle(first, d('0.2'));
      expect([carved.reserved.toString(), carved.drawn.toString(), carved.inFlight, carved.lastUsedAt]).toStrictEqual([
        '0.25',
        '0.2',
        1,
        T0 + 7,
      ]);
      // A second settlement of the same hold changes nothing.
      now = T0 + 9;
      await caps.settle(first, d('0.2'));
      await caps.release(first);
      expect([carved.reserved.toString(), carved.drawn.toString(), carved.inFlight, carved.lastUsedAt]).toStrictEqual([
        '0.25',
        '0.2',
        1,
        T0 + 7,
      ]);
      await caps.release(second);
      expect([carved.reserved.toString(), carved.drawn.toString(), carved.inFlight]).toStrictEqual(['0', '0.2', 0]);
      expect(carved.retiring).toBe(false);
      expect(await used(spec)).toBe('8');
      expect(onUsage).not.toHaveBeenCalled();
      await caps.returnUnused();
      expect(carved.retiring).toBe(true);
      expect(await used(spec)).toBe('0.2');
      expect(onUsage).toHaveBeenCalledTimes(1);
      expect(onUsage.mock.calls[0]![0]).toBe(spec);
      expect(onUsage.mock.calls[0]![1]).toStrictEqual(EPOCH);
      expect((onUsage.mock.calls[0]![2] as Decimal).toString()).toBe('0.2');
    });

    it('is used up to its last fraction, then a new one opens', async () => {
      const spec = await capOn({ cap: d('100') });
      const caps = reservations({ callsPerLease: 4, now: () => T0 });
      const holds = [];
      for (let index = 0; index < 4; index += 1) holds.push(await caps.reserve([spec], d('0.5'), T0));
      expect(new Set(holds.map((hold) => lease(hold))).size).toBe(1);
      expect(lease(holds[0]!).amount.toString()).toBe('2');
      await caps.settle(holds[0]!, d('0.5'));
      // 0.5 drawn and 1.5 reserved of 2: a call of 0.5 does not fit, one of 0 does.
      expect(lease(await caps.reserve([spec], d('0'), T0))).toBe(lease(holds[0]!));
      const next = await caps.reserve([spec], d('0.5'), T0);
      expect(lease(next)).not.toBe(lease(holds[0]!));
      expect(lease(next).amount.toString()).toBe('2');
      expect(await used(spec)).toBe('4');
    });

    it('far from its cap is 1/64 of the headroom left after the last lease, rounded down to the call’s digits', async () => {
      const spec = await capOn({ cap: d('10000') });
      const caps = reservations({ now: () => T0 });
      const holds = [];
      for (let index = 0; index < 33; index += 1) holds.push(await caps.reserve([spec], d('1'), T0));
      expect(lease(holds[0]!).amount.toString()).toBe('32');
      expect(lease(holds[32]!)).not.toBe(lease(holds[0]!));
      // 10000 - 32 = 9968 left; 9968 / 64 = 155.75, rounded down to whole units (the call's digits).
      expect(lease(holds[32]!).amount.toString()).toBe('155');
      expect(await used(spec)).toBe('187');
      for (const hold of holds) await caps.settle(hold, d('1'));
      await caps.returnUnused();
      expect(await used(spec)).toBe('33');
      // Every lease closed: the cap is forgotten, and the next lease is 32 calls again.
      const again = await caps.reserve([spec], d('1'), T0);
      expect(lease(again).amount.toString()).toBe('32');
    });

    it('of a soft cap is always 32 calls', async () => {
      const spec = await capOn({ cap: d('10000'), soft: true });
      const caps = reservations({ now: () => T0 });
      const holds = [];
      for (let index = 0; index < 33; index += 1) holds.push(await caps.reserve([spec], d('1'), T0));
      expect(lease(holds[32]!).amount.toString()).toBe('32');
      expect(await used(spec)).toBe('64');
    });

    it('near its cap is what is left, when the call fits in it', async () => {
      const spec = await capOn({ cap: d('10') });
      const probe = new Probe();
      const caps = reservations({ now: () => T0 }, database.db.withPlugin(probe));
      const first = await caps.reserve([spec], d('1'), T0);
      expect(lease(first).amount.toString()).toBe('10');
      expect(probe.inserts).toBe(2);
      expect(await used(spec)).toBe('10');
      for (let index = 1; index < 10; index += 1) expect(lease(await caps.reserve([spec], d('1'), T0))).toBe(lease(first));
      const refused = await refusal<CapExceededError>(caps.reserve([spec], d('1'), T0));
      expect(refused).toBeInstanceOf(CapExceededError);
      expect(refused.message).toBe(
        `budget exceeded: the end user ${spec.name} has a total cap of 10; this call needs up to 1 and 0 remain; ` +
          'it never resets (period total)',
      );
      expect(refused.cap).toStrictEqual(spec);
      expect(await used(spec)).toBe('10');
    });

    it('of a call that exactly fits what is left is granted; of one that does not, refused naming what remains', async () => {
      const fits = await capOn({ cap: d('10') });
      const short = await capOn({ cap: d('10') });
      await database.db
        .insertInto('limit_usage')
        .values([
          { limit_id: fits.limitId, period_start: EPOCH, used: '9' },
          { limit_id: short.limitId, period_start: EPOCH, used: '9.5' },
        ])
        .execute();
      const caps = reservations({ now: () => T0 });
      expect(lease(await caps.reserve([fits], d('1'), T0)).amount.toString()).toBe('1');
      expect(await used(fits)).toBe('10');
      const refused = await refusal<CapExceededError>(caps.reserve([short], d('1'), T0));
      expect([refused.needed.toString(), refused.remaining.toString(), refused.resetsAt]).toStrictEqual(['1', '0.5', undefined]);
      expect(await used(short)).toBe('9.5');
    });

    it('never passes a cap lowered in the table meanwhile: a call past it is refused after one write, naming the cap now', async () => {
      const spec = await capOn({ cap: d('10') });
      await database.db.updateTable('limits').set({ cap: '0.5' }).where('id', '=', spec.limitId).execute();
      const probe = new Probe();
      const caps = reservations({ now: () => T0 }, database.db.withPlugin(probe));
      const refused = await refusal<CapExceededError>(caps.reserve([spec], d('1'), T0));
      expect(refused).toBeInstanceOf(CapExceededError);
      // The refusal names the cap as it is now, and what it leaves.
      expect(refused.message).toMatch(/ cap of 0\.5; this call needs up to 1 and 0\.5 remain;/);
      expect(probe.inserts).toBe(1);
      expect(await used(spec)).toBe('0');
    });

    it('a call that fits a cap lowered in the table meanwhile is served from what the new cap leaves', async () => {
      const spec = await capOn({ cap: d('10') });
      await database.db.updateTable('limits').set({ cap: '5' }).where('id', '=', spec.limitId).execute();
      const probe = new Probe();
      const caps = reservations({ now: () => T0 }, database.db.withPlugin(probe));
      const reserved = await caps.reserve([spec], d('1'), T0);
      expect(lease(reserved).amount.toString()).toBe('5');
      expect(probe.inserts).toBe(2);
      expect(await used(spec)).toBe('5');
    });

    it('of a call that started in a period is that period’s, whenever it is carved; its refusal says when it resets', async () => {
      const spec = await capOn({ cap: d('3'), period: 'day', timezone: 'Europe/Berlin' });
      const midnight = Date.parse('2026-11-29T23:00:00Z'); // 00:00 on the 30th in Berlin
      const caps = reservations({ now: () => midnight });
      const before = await caps.reserve([spec], d('1'), midnight - 1);
      const after = await caps.reserve([spec], d('1'), midnight);
      expect(lease(before)).not.toBe(lease(after));
      expect(lease(before).periodStart.toISOString()).toBe('2026-11-28T23:00:00.000Z');
      expect(lease(after).periodStart.toISOString()).toBe('2026-11-29T23:00:00.000Z');
      expect(await used(spec, new Date('2026-11-28T23:00:00Z'))).toBe('3');
      expect(await used(spec, new Date('2026-11-29T23:00:00Z'))).toBe('3');
      const refused = await refusal<CapExceededError>(caps.reserve([spec], d('4'), midnight - 1));
      expect(refused.message).toBe(
        `budget exceeded: the end user ${spec.name} has a daily cap of 3; this call needs up to 4 and 0 remain; ` +
          'it resets at 2026-11-29T23:00:00.000Z',
      );
    });
  });

  describe('calls that open a lease at the same time', () => {
    it('share the one lease the first opens: one conditional write', async () => {
      const spec = await capOn({ cap: d('100') });
      const probe = new Probe();
      const caps = reservations({ now: () => T0 }, database.db.withPlugin(probe));
      const [first, second] = await Promise.all([caps.reserve([spec], d('0.25'), T0), caps.reserve([spec], d('0.25'), T0)]);
      expect(lease(first)).toBe(lease(second));
      expect(lease(first).inFlight).toBe(2);
      expect(probe.inserts).toBe(1);
      expect(await used(spec)).toBe('8');
    });

    it('share its refusal when they need as much or more, each naming its own need, without another write', async () => {
      const spec = await capOn({ cap: d('1') });
      const probe = new Probe();
      const caps = reservations({ now: () => T0 }, database.db.withPlugin(probe));
      const [first, second] = await Promise.allSettled([caps.reserve([spec], d('2'), T0), caps.reserve([spec], d('3'), T0)]);
      expect(first.status).toBe('rejected');
      expect(second.status).toBe('rejected');
      const errors = [first, second].map((outcome) => (outcome as PromiseRejectedResult).reason as CapExceededError);
      expect(errors[0]).toBeInstanceOf(CapExceededError);
      expect(errors[1]).toBeInstanceOf(CapExceededError);
      expect(errors.map((error) => [error.needed.toString(), error.remaining.toString()])).toStrictEqual([
        ['2', '1'],
        ['3', '1'],
      ]);
      expect(errors[1]!.cap).toStrictEqual(spec);
      expect(errors[1]!.message).toBe(
        `budget exceeded: the end user ${spec.name} has a total cap of 1; this call needs up to 3 and 1 remain; ` +
          'it never resets (period total)',
      );
      expect(probe.inserts).toBe(1);
    });

    it('try for themselves when they need less than the refused one', async () => {
      const spec = await capOn({ cap: d('1') });
      const caps = reservations({ now: () => T0 });
      const [big, small] = await Promise.allSettled([caps.reserve([spec], d('2'), T0), caps.reserve([spec], d('0.5'), T0)]);
      expect(big.status).toBe('rejected');
      expect(small.status).toBe('fulfilled');
      expect(lease((small as PromiseFulfilledResult<CapHold>).value).amount.toString()).toBe('1');
      expect(await used(spec)).toBe('1');
    });

    it('open a new lease after one filled up (the opening is forgotten once done)', async () => {
      const spec = await capOn({ cap: d('100') });
      const caps = reservations({ callsPerLease: 1, now: () => T0 });
      const holds = [];
      for (let index = 0; index < 3; index += 1) holds.push(await caps.reserve([spec], d('1'), T0));
      expect(new Set(holds.map((hold) => lease(hold))).size).toBe(3);
      expect(await used(spec)).toBe('3');
    });
  });

  describe('per call (1 call per lease)', () => {
    it('reserves exactly the call, whatever the headroom, and writes its settlement before settle resolves', async () => {
      const spec = await capOn({ cap: d('10000') });
      const onUsage = vi.fn();
      const caps = reservations({ callsPerLease: 1, now: () => T0, onUsage });
      const first = await caps.reserve([spec], d('1'), T0);
      expect(await used(spec)).toBe('1');
      await caps.settle(first, d('0.75'));
      expect(onUsage).toHaveBeenCalledTimes(1);
      expect((onUsage.mock.calls[0]![2] as Decimal).toString()).toBe('0.75');
      const second = await caps.reserve([spec], d('1'), T0);
      expect(lease(second)).not.toBe(lease(first));
      expect(lease(second).amount.toString()).toBe('1');
      expect(await used(spec)).toBe('1.75');
      // A call that cost more than its reservation draws the difference.
      await caps.settle(second, d('1.5'));
      expect(await used(spec)).toBe('2.25');
      expect((onUsage.mock.calls[1]![2] as Decimal).toString()).toBe('2.25');
      const third = await caps.reserve([spec], d('1'), T0);
      await caps.release(third);
      expect(await used(spec)).toBe('2.25');
      // With a call in flight the cap is remembered (its headroom too): the next call still reserves only itself.
      const inFlight = await caps.reserve([spec], d('1'), T0);
      const beside = await caps.reserve([spec], d('1'), T0);
      expect(lease(beside)).not.toBe(lease(inFlight));
      expect(lease(beside).amount.toString()).toBe('1');
      expect(await used(spec)).toBe('4.25');
      await caps.release(inFlight);
      await caps.release(beside);
      expect(await used(spec)).toBe('2.25');
    });

    it('a hard cap admits a use equal to it, on a new row and on an existing one, and not a millionth more', async () => {
      const spec = await capOn({ cap: d('5') });
      const caps = reservations({ callsPerLease: 1, now: () => T0 });
      const whole = await caps.reserve([spec], d('5'), T0);
      expect(await used(spec)).toBe('5');
      await expect(caps.reserve([spec], d('0.000001'), T0)).rejects.toBeInstanceOf(CapExceededError);
      await caps.settle(whole, d('2'));
      expect(await used(spec)).toBe('2');
      await caps.reserve([spec], d('3'), T0);
      expect(await used(spec)).toBe('5');
      const refused = await refusal<CapExceededError>(caps.reserve([spec], d('0.000001'), T0));
      expect([refused.needed.toString(), refused.remaining.toString()]).toStrictEqual(['0.000001', '0']);
    });

    it('a hard spec passes when the table says soft or no cap; a soft spec never refuses', async () => {
      const caps = reservations({ callsPerLease: 1, now: () => T0 });
      const softened = await capOn({ cap: d('5') });
      await database.db.updateTable('limits').set({ soft: true }).where('id', '=', softened.limitId).execute();
      await caps.reserve([softened], d('8'), T0);
      await caps.reserve([softened], d('8'), T0);
      expect(await used(softened)).toBe('16');
      const uncapped = await capOn({ cap: d('5') });
      await database.db.updateTable('limits').set({ cap: null }).where('id', '=', uncapped.limitId).execute();
      await caps.reserve([uncapped], d('8'), T0);
      await caps.reserve([uncapped], d('8'), T0);
      expect(await used(uncapped)).toBe('16');
      const soft = await capOn({ cap: d('5') }, { soft: true });
      await caps.reserve([soft], d('8'), T0);
      await caps.reserve([soft], d('8'), T0);
      expect(await used(soft)).toBe('16');
    });
  });

  describe('a call on several caps', () => {
    it('carves one lease per cap, and a refusal by any gives back what the others took', async () => {
      const roomy = await capOn({ cap: d('100') });
      const tight = await capOn({ cap: d('1') });
      const caps = reservations({ now: () => T0 });
      const both = await caps.reserve([roomy, tight], d('0.25'), T0);
      expect(both.carves).toHaveLength(2);
      expect(lease(both, 0).cap).toBe(roomy);
      expect(lease(both, 1).cap).toBe(tight);
      const roomyLease = lease(both, 0);
      const error = await refusal<CapExceededError>(caps.reserve([roomy, tight], d('2'), T0));
      expect(error.cap).toStrictEqual(tight);
      expect([roomyLease.reserved.toString(), roomyLease.inFlight]).toStrictEqual(['0.25', 1]);
    });

    it('per call, a refusal by the second cap leaves the first as it was', async () => {
      const roomy = await capOn({ cap: d('100') });
      const tight = await capOn({ cap: d('1') });
      const caps = reservations({ callsPerLease: 1, now: () => T0 });
      await expect(caps.reserve([roomy, tight], d('2'), T0)).rejects.toBeInstanceOf(CapExceededError);
      expect(await used(roomy)).toBe('0');
      expect(await used(tight)).toBe('0');
    });
  });

  describe('closing leases', () => {
    it('a lease with calls in flight closes when its last call ends', async () => {
      const spec = await capOn({ cap: d('100') });
      const caps = reservations({ now: () => T0 });
      const hold = await caps.reserve([spec], d('0.25'), T0);
      await caps.returnUnused();
      expect(lease(hold).retiring).toBe(true);
      expect(lease(hold).closing).toBeUndefined();
      expect(await used(spec)).toBe('8');
      // A retiring lease takes no new call.
      const other = await caps.reserve([spec], d('0.25'), T0);
      expect(lease(other)).not.toBe(lease(hold));
      await caps.settle(hold, d('0.1'));
      expect(lease(hold).closing).toBeDefined();
      await lease(hold).closing;
      await caps.release(other);
      await caps.returnUnused();
      expect(await used(spec)).toBe('0.1');
    });

    it('closes once even when asked twice at once', async () => {
      const spec = await capOn({ cap: d('100') });
      const onUsage = vi.fn();
      const caps = reservations({ now: () => T0, onUsage });
      await caps.settle(await caps.reserve([spec], d('0.25'), T0), d('0.25'));
      await Promise.all([caps.returnUnused(), caps.returnUnused()]);
      expect(await used(spec)).toBe('0.25');
      expect(onUsage).toHaveBeenCalledTimes(1);
    });

    it('a lease opened after another retired is still closed when asked, after the first closed', async () => {
      const spec = await capOn({ cap: d('100') });
      const caps = reservations({ callsPerLease: 2, now: () => T0 });
      const first = await caps.reserve([spec], d('1'), T0);
      await caps.returnUnused();
      const second = await caps.reserve([spec], d('1'), T0);
      expect(lease(second)).not.toBe(lease(first));
      await caps.settle(first, d('1'));
      await lease(first).closing;
      await caps.settle(second, d('1'));
      expect(lease(second).retiring).toBe(false);
      await caps.returnUnused();
      expect(await used(spec)).toBe('2');
    });

    it('the cap is remembered while a lease is being opened, even if its last lease closes meanwhile', async () => {
      const spec = await capOn({ cap: d('10000') });
      const caps = reservations({ now: () => T0 });
      const first = await caps.reserve([spec], d('1'), T0);
      await caps.returnUnused();
      const [, second] = await Promise.all([caps.settle(first, d('1')), caps.reserve([spec], d('1'), T0)]);
      await lease(first).closing;
      expect(lease(second).amount.toString()).toBe('155');
      expect(lease(await caps.reserve([spec], d('1'), T0))).toBe(lease(second));
    });

    it('tells onUsage nothing when the cap was deleted meanwhile and the give-back found no row', async () => {
      const { logger, logged } = recordingLogger('warn');
      const onUsage = vi.fn();
      const caps = reservations({ callsPerLease: 1, now: () => T0, onUsage, logger });
      const spec = await capOn({ cap: d('10') });
      const hold = await caps.reserve([spec], d('1'), T0);
      await database.db.deleteFrom('limits').where('id', '=', spec.limitId).execute();
      await caps.settle(hold, d('0.5'));
      expect(onUsage).not.toHaveBeenCalled();
      // With nothing to give back, the period's use is read instead: none.
      const drawn = await capOn({ cap: d('10') });
      const whole = await caps.reserve([drawn], d('1'), T0);
      await database.db.deleteFrom('limits').where('id', '=', drawn.limitId).execute();
      await caps.settle(whole, d('1'));
      expect(onUsage).toHaveBeenCalledTimes(1);
      expect(onUsage.mock.calls[0]![0]).toBe(drawn);
      expect((onUsage.mock.calls[0]![2] as Decimal).toString()).toBe('0');
      expect(logged()).toStrictEqual([]);
    });

    it('closes without onUsage and without a warning when none is given', async () => {
      const { logger, logged } = recordingLogger('warn');
      const spec = await capOn({ cap: d('10') });
      const caps = reservations({ callsPerLease: 1, now: () => T0, logger });
      await caps.settle(await caps.reserve([spec], d('1'), T0), d('1'));
      await caps.close();
      expect(logged()).toStrictEqual([]);
      expect(await used(spec)).toBe('1');
    });

    it('a give-back that fails is logged and retried at the next close', async () => {
      const { logger, logged } = recordingLogger('warn');
      const spec = await capOn({ cap: d('100') });
      const probe = new Probe();
      const caps = reservations({ now: () => T0, logger }, database.db.withPlugin(probe));
      const hold = await caps.reserve([spec], d('0.25'), T0);
      await caps.settle(hold, d('0.25'));
      probe.failUpdates = true;
      await caps.returnUnused();
      expect(lease(hold).closing).toBeUndefined();
      expect(logged()).toHaveLength(1);
      expect(logged()[0]).toMatchObject({
        level: 40,
        msg: 'could not close a cap reservation; will retry',
        limitId: spec.limitId,
        err: { message: 'database down' },
      });
      expect(await used(spec)).toBe('8');
      probe.failUpdates = false;
      await caps.returnUnused();
      expect(await used(spec)).toBe('0.25');
      expect(logged()).toHaveLength(1);
    });
  });

  describe('the lease timer', () => {
    const tick = (ms: number) => vi.advanceTimersByTime(ms);

    it('retires a lease idle for idleMs, not one idle a millisecond less', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const spec = await capOn({ cap: d('100') });
      const onUsage = vi.fn();
      let now = T0;
      const caps = reservations({ now: () => now, tickMs: 1_000, idleMs: 3_000, maxAgeMs: 60_000, onUsage });
      const hold = await caps.reserve([spec], d('0.25'), now);
      await caps.settle(hold, d('0.25'));
      now = T0 + 2_999;
      tick(1_000);
      expect(lease(hold).retiring).toBe(false);
      expect(lease(hold).closing).toBeUndefined();
      now = T0 + 3_000;
      tick(1_000);
      expect(lease(hold).retiring).toBe(true);
      expect(lease(hold).closing).toBeDefined();
      await lease(hold).closing;
      expect(await used(spec)).toBe('0.25');
      expect(onUsage).toHaveBeenCalledTimes(1);
    });

    it('retires a lease maxAgeMs after it opened even while in use; a lease in flight closes when its call ends', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const spec = await capOn({ cap: d('100') });
      let now = T0;
      const caps = reservations({ now: () => now, tickMs: 1_000, idleMs: 3_000, maxAgeMs: 10_000 });
      const first = await caps.reserve([spec], d('0.25'), now);
      let last = first;
      for (now = T0 + 2_000; now <= T0 + 9_000; now += 2_000) {
        last = await caps.reserve([spec], d('0.25'), now);
        expect(lease(last)).toBe(lease(first));
      }
      now = T0 + 9_999;
      tick(1_000);
      expect(lease(first).retiring).toBe(false);
      now = T0 + 10_000;
      tick(1_000);
      expect(lease(first).retiring).toBe(true);
      // Five calls are in flight: nothing is given back yet.
      expect(lease(first).closing).toBeUndefined();
      expect(lease(first).inFlight).toBe(5);
    });

    it('retires a lease once its period is over in its zone, not a millisecond before', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const spec = await capOn({ cap: d('100'), period: 'day', timezone: 'Asia/Tokyo' });
      const midnight = Date.parse('2026-11-30T15:00:00Z'); // 00:00 on 1 December in Tokyo
      let now = midnight - 1_000;
      const caps = reservations({ now: () => now, tickMs: 1_000, idleMs: 60_000, maxAgeMs: 60_000 });
      const hold = await caps.reserve([spec], d('1'), now);
      now = midnight - 1;
      tick(1_000);
      expect(lease(hold).retiring).toBe(false);
      now = midnight;
      tick(1_000);
      expect(lease(hold).retiring).toBe(true);
    });

    it('by default ticks every 500 ms and retires a lease after 2 s idle', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const spec = await capOn({ cap: d('100') });
      let now = T0;
      const caps = reservations({ now: () => now });
      const hold = await caps.reserve([spec], d('1'), now);
      await caps.settle(hold, d('1'));
      now = T0 + 1_999;
      tick(500);
      expect(lease(hold).retiring).toBe(false);
      now = T0 + 2_000;
      tick(499);
      expect(lease(hold).retiring).toBe(false);
      tick(1);
      expect(lease(hold).retiring).toBe(true);
      await lease(hold).closing;
      expect(await used(spec)).toBe('1');
    });

    it('by default retires a lease 10 s after it opened', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const spec = await capOn({ cap: d('100') });
      let now = T0;
      const caps = reservations({ now: () => now });
      const hold = await caps.reserve([spec], d('1'), now);
      for (now = T0 + 1_500; now <= T0 + 9_000; now += 1_500) {
        expect(lease(await caps.reserve([spec], d('1'), now))).toBe(lease(hold));
      }
      now = T0 + 9_999;
      tick(500);
      expect(lease(hold).retiring).toBe(false);
      now = T0 + 10_000;
      tick(500);
      expect(lease(hold).retiring).toBe(true);
    });
  });

  describe('waiting and missing rows', () => {
    it('a call waiting on an opening that is refused takes the room a call released meanwhile', async () => {
      const spec = await capOn({ cap: d('1') });
      const caps = reservations({ now: () => T0 });
      // A block of 32 calls (16) does not fit: the lease is what is left, 1, and two calls fill it.
      const first = await caps.reserve([spec], d('0.5'), T0);
      await caps.reserve([spec], d('0.5'), T0);
      const opener = caps.reserve([spec], d('0.5'), T0); // opens a lease: refused, nothing is left
      const waiter = caps.reserve([spec], d('0.5'), T0); // waits for that opening
      void caps.release(first); // while the opening is at the database: its 0.5 is free again
      expect(await refusal(opener)).toBeInstanceOf(CapExceededError);
      expect(lease(await waiter)).toBe(lease(first));
    });

    it('a smaller call waiting on a refused opening is refused in turn, not carved from a lease with no room', async () => {
      const spec = await capOn({ cap: d('1') });
      const caps = reservations({ now: () => T0 });
      await caps.reserve([spec], d('0.5'), T0); // a lease of what is left, 1
      await caps.reserve([spec], d('0.5'), T0); // fills it
      const opener = caps.reserve([spec], d('0.6'), T0);
      const waiter = caps.reserve([spec], d('0.3'), T0); // its need is smaller: it looks again, and opens in turn
      expect(await refusal(opener)).toBeInstanceOf(CapExceededError);
      const refused = await refusal<CapExceededError>(waiter);
      expect([refused.needed.toString(), refused.remaining.toString()]).toEqual(['0.3', '0']);
    });

    it('a cap whose limit was deleted after it was read is refused as read (after the retries), not with a TypeError', async () => {
      const spec = await capOn({ cap: d('10') });
      await database.db.deleteFrom('limits').where('id', '=', spec.limitId).execute();
      const refused = await refusal<CapExceededError>(reservations({ now: () => T0 }).reserve([spec], d('1'), T0));
      expect(refused).toBeInstanceOf(CapExceededError);
      expect([refused.needed.toString(), refused.remaining.toString(), refused.cap.cap.toString()]).toEqual(['1', '10', '10']);
    });
  });
});
