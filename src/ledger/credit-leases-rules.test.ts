import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { countingHandle, openLedgerFor } from '../../test/support/ledger-checks.js';
import { until } from '../../test/support/wait.js';
import { DatabaseUnavailableError } from '../db/database-errors.js';
import { Decimal } from '../money/decimal.js';
import { CaptureJournal } from './capture-journal.js';
import { CreditLeases } from './credit-leases.js';
import { releaseHoldsOfDeadInstances } from './dead-instances.js';
import { AccountNotFoundError, AccountSuspendedError, InsufficientCreditsError, InvalidAmountError } from './errors.js';
import { GatewayInstance } from './gateway-instance.js';
import { placeHold } from './hold.js';
import { Ledger } from './ledger.js';
import { refuseEntriesOf, stopEntryFaults } from '../../test/support/database-faults.js';

const d = (text: string) => Decimal.parse(text);

/** Long enough that no lease closes on its own during a test, unless the test moves the clock. */
const HOUR = 3_600_000;

describe.each(backends())('credit lease rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  let counter = 0;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));
  afterEach(async () => {
    vi.useRealTimers();
    await stopEntryFaults(database.db);
  });

  const account = async (credits: string) => {
    counter += 1;
    return (await ledger.createAccount({ name: `lease-rules-${counter}`, mode: 'consumption_usd', credits: d(credits) })).account
      .id;
  };
  const requestId = () => `req_lease_rules_${(counter += 1)}`;
  const entries = (accountId: string) =>
    database.db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
  const holds = async (accountId: string) => (await entries(accountId)).filter((row) => row.kind === 'hold');
  const kinds = async (accountId: string) =>
    (await entries(accountId)).map((row) => [row.kind, d(row.amount).toString(), row.lease_id ?? undefined]);
  const leases = (options: ConstructorParameters<typeof CreditLeases>[1] = {}) =>
    new CreditLeases(database.db, { idleMs: HOUR, maxAgeMs: HOUR, tickMs: HOUR, ...options });
  /** A real database error (raise_exception, not retried) on every entry of `kind` of the account, until stopped. */
  const failEntries = async (accountId: string, kind: 'capture' | 'release', sqlstate = 'P0001') =>
    (await refuseEntriesOf(database.db, accountId, { kind, sqlstate })).stop;

  describe('refusals', () => {
    it('refuses a negative hold before reserving anything, naming the hold amount', async () => {
      const accountId = await account('1');
      const credit = leases();
      const refused = credit.hold({ accountId, requestId: requestId(), amount: d('-0.01') });
      await expect(refused).rejects.toBeInstanceOf(InvalidAmountError);
      await expect(refused).rejects.toThrow('invalid hold amount: must not be negative, got -0.01');
      expect(await holds(accountId)).toEqual([]);
      await credit.close();
    });

    it('refuses a second hold for a request that already holds, and every hold once closed', async () => {
      const accountId = await account('1');
      const credit = leases();
      const id = requestId();
      await credit.hold({ accountId, requestId: id, amount: d('0.1') });
      await expect(credit.hold({ accountId, requestId: id, amount: d('0.1') })).rejects.toThrow(
        `request ${id} already holds credits`,
      );
      await credit.close();
      await expect(credit.hold({ accountId, requestId: requestId(), amount: d('0.1') })).rejects.toThrow(
        'credit leases are closed: the gateway is shutting down',
      );
    });

    it('refuses a negative charge and keeps the hold; an unknown or settled hold cannot be settled', async () => {
      const accountId = await account('1');
      const credit = leases();
      const hold = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      await expect(credit.settle(hold, { amount: d('-1') })).rejects.toThrow(
        'invalid capture amount: must not be negative, got -1',
      );
      expect((await credit.settle(hold, { amount: d('0.05') })).captured.toString()).toBe('0.05');
      await expect(credit.settle(hold, { amount: d('0.05') })).rejects.toThrow(
        `request ${hold.requestId} holds no credits here, or was already settled`,
      );
      await expect(credit.settle({ requestId: 'req_nowhere', accountId, amount: d('1') }, { amount: d('1') })).rejects.toThrow(
        'request req_nowhere holds no credits here, or was already settled',
      );
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.95');
    });

    it("refuses a call the account cannot cover, naming the call's need and what is available", async () => {
      const accountId = await account('0.05');
      const credit = leases();
      const refused = credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      await expect(refused).rejects.toBeInstanceOf(InsufficientCreditsError);
      await expect(refused).rejects.toMatchObject({ needed: d('0.1'), available: d('0.05'), unit: 'usd' });
      await expect(refused).rejects.toThrow(
        `insufficient credits on account ${accountId}: this call needs 0.1 usd, 0.05 usd available`,
      );
      await expect(credit.hold({ accountId: 'acct_nobody', requestId: requestId(), amount: d('0.1') })).rejects.toBeInstanceOf(
        AccountNotFoundError,
      );
      await credit.close();
      expect(await holds(accountId)).toEqual([]);
    });
  });

  describe('lease sizes', () => {
    it('opens a lease of callsPerLease times the call, named lease_ and 32 hex digits, owned by no instance', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 4 });
      await credit.hold({ accountId, requestId: requestId(), amount: d('0.25') });
      const [lease] = await holds(accountId);
      expect(lease!.request_id).toMatch(/^lease_[0-9a-f]{32}$/);
      expect([d(lease!.amount).toString(), lease!.owner_id]).toEqual(['1', null]);
      await credit.close();
    });

    it('opens a lease of what the account has when that is less than a block but covers the call', async () => {
      const accountId = await account('0.3');
      const credit = leases();
      await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      expect((await holds(accountId)).map((row) => d(row.amount).toString())).toEqual(['0.3']);
      expect((await ledger.getAccount(accountId)).available.toString()).toBe('0');
      await credit.close();
    });

    it('serves calls from one lease while they fit exactly, then opens the next lease', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 2 });
      const first = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      const second = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      expect(await holds(accountId)).toHaveLength(1);
      const third = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      expect(await holds(accountId)).toHaveLength(2);
      // A released carve makes room again in the first lease.
      await credit.release(first);
      const fourth = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      expect(await holds(accountId)).toHaveLength(2);
      for (const hold of [second, third, fourth]) await credit.settle(hold, { amount: d('0.1') });
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('9.7');
    });

    it('names its instance as the owner of every lease it opens', async () => {
      const accountId = await account('1');
      const instance = await GatewayInstance.register(database.db, { silenceMs: HOUR });
      const credit = leases({ instance });
      await credit.hold({ accountId, requestId: requestId(), amount: d('0.01') });
      expect((await holds(accountId)).map((row) => row.owner_id)).toEqual([instance.id]);
      await credit.close();
      await instance.stop();
    });
  });

  describe('settling', () => {
    it("settles a charge of exactly the lease's room in memory (written later), and one past it before answering", async () => {
      const inside = await account('10');
      const past = await account('10');
      const credit = leases({ callsPerLease: 2, writeLingerMs: HOUR });
      const a = await credit.hold({ accountId: inside, requestId: requestId(), amount: d('0.5') });
      const charge = await credit.settle(a, { amount: d('1') });
      expect([charge.captured, charge.shortfall, charge.creditsLeft].map(String)).toEqual(['1', '0', '9']);
      // Lingering: not in the database yet, and counted as pending.
      expect((await entries(inside)).filter((row) => row.kind === 'capture')).toEqual([]);
      expect(credit.stats()).toMatchObject({ openLeases: 1, writesPending: 1 });

      const b = await credit.hold({ accountId: past, requestId: requestId(), amount: d('0.5') });
      const over = await credit.settle(b, { amount: d('1.0000001') });
      expect([over.captured, over.shortfall, over.creditsLeft].map(String)).toEqual(['1.0000001', '0', '8.9999999']);
      expect((await entries(past)).filter((row) => row.kind === 'capture').map((row) => d(row.amount).toString())).toEqual([
        '-1.0000001',
      ]);
      await credit.flush();
      expect(credit.stats()).toMatchObject({ openLeases: 2, writesPending: 0, writesLost: 0, discrepancies: 0 });
      await credit.close();
      expect(credit.stats()).toMatchObject({ openLeases: 0, writesPending: 0 });
      expect((await ledger.getAccount(inside)).balance.toString()).toBe('9');
      expect((await ledger.getAccount(past)).balance.toString()).toBe('8.9999999');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('after a charge past its lease, the lease has no room left: the next call opens a new lease', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 2 });
      const a = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') }); // lease of 1
      expect((await credit.settle(a, { amount: d('0.8') })).creditsLeft.toString()).toBe('9.2');
      const b = await credit.hold({ accountId, requestId: requestId(), amount: d('0.2') }); // the 0.2 left, exactly
      expect((await holds(accountId)).length).toBe(1);
      // 0.2 from the lease, 0.3 from available: the lease is spent.
      expect((await credit.settle(b, { amount: d('0.5') })).creditsLeft.toString()).toBe('8.7');
      const c = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      expect((await credit.settle(c, { amount: d('0.1') })).creditsLeft.toString()).toBe('8.6');
      await credit.close();
      const [first, second] = (await holds(accountId)).map((row) => row.request_id);
      const written = await kinds(accountId);
      expect(written.slice(0, 5)).toEqual([
        ['grant', '10', undefined],
        ['hold', '1', undefined],
        ['capture', '-0.8', first],
        ['capture', '-0.5', first],
        ['hold', '0.2', undefined],
      ]);
      // The spent first lease is retired when the second opens, and closes (giving back nothing) while c's
      // capture lingers; the second closes at the end with its 0.1. The two writers race, so no order here.
      expect(
        written
          .slice(5)
          .map((entry) => entry.join(' '))
          .sort(),
      ).toEqual([`capture -0.1 ${second}`, 'release 0 ', 'release 0.1 '].sort());
      const releases = (await entries(accountId)).filter((row) => row.kind === 'release');
      expect(releases.map((row) => [row.request_id, d(row.amount).toString()]).sort()).toEqual(
        [
          [first, '0'],
          [second, '0.1'],
        ].sort(),
      );
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('8.6');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('never counts a lease past its end in the credits left (its room counts as zero, not negative)', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 2 });
      const a = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      const b = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') });
      // The whole lease (1) and 0.2 of available; b's 0.5 is still reserved in the spent lease.
      const first = await credit.settle(a, { amount: d('1.2') });
      expect([first.captured, first.creditsLeft].map(String)).toEqual(['1.2', '8.8']);
      const second = await credit.settle(b, { amount: d('0.3') });
      expect([second.captured, second.creditsLeft].map(String)).toEqual(['0.3', '8.5']);
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('8.5');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it("a closed lease's unspent part counts in the credits left of the account's next answers", async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 1 });
      const a = await credit.hold({ accountId, requestId: requestId(), amount: d('1') });
      const b = await credit.hold({ accountId, requestId: requestId(), amount: d('1') }); // a second lease
      await credit.settle(a, { amount: d('0.4') });
      await credit.flush();
      // Retires both; the first closes now (0.6 back), the second once b settles.
      await credit.retireAccount(accountId);
      const charge = await credit.settle(b, { amount: d('0.3') });
      expect(charge.creditsLeft.toString()).toBe('9.3');
      await credit.close();
      expect((await ledger.getAccount(accountId)).available.toString()).toBe('9.3');
    });

    it('ignores the release of an unknown or already settled hold', async () => {
      const accountId = await account('1');
      const credit = leases();
      const hold = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      await credit.settle(hold, { amount: d('0.1') });
      await expect(credit.release(hold)).resolves.toBeUndefined();
      await expect(credit.release({ requestId: 'req_never', accountId, amount: d('1') })).resolves.toBeUndefined();
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.9');
    });
  });

  describe('a journal that cannot be written', () => {
    /** A journal whose first segment is /dev/full: every append fails with ENOSPC. */
    const fullJournal = () => {
      const directory = mkdtempSync(path.join(tmpdir(), 'tollgate-lease-full-'));
      symlinkSync('/dev/full', path.join(directory, `inst_full-${process.pid}-1.journal`));
      return { journal: new CaptureJournal(directory, 'inst_full', { sync: 'write' }), directory };
    };

    it('refuses a call before it is made while the database is unreachable too, and serves it again once it is back', async () => {
      const accountId = await account('1');
      const { journal, directory } = fullJournal();
      let reachable = true;
      const credit = leases({ journal, databaseReachable: () => reachable });
      try {
        // The journal cannot take the capture, the database can: it is written before the call is answered.
        const first = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
        await credit.settle(first, { amount: d('0.1') });
        expect(journal.failing).toBe(true);
        expect((await entries(accountId)).filter((row) => row.kind === 'capture')).toHaveLength(1);

        reachable = false;
        const refused = credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
        await expect(refused).rejects.toBeInstanceOf(DatabaseUnavailableError);
        await expect(refused).rejects.toThrow(
          "the database is unreachable: the capture journal cannot be written either (see the log), so a call's capture could be kept nowhere",
        );
        // Nothing was carved out of the lease for it: the next call fits the same lease.
        reachable = true;
        const next = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
        expect(credit.stats().openLeases).toBe(1);
        await credit.settle(next, { amount: d('0.2') });
        await credit.close();
        expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0.7');
        expect((await ledger.verify()).ok).toBe(true);
      } finally {
        journal.close();
        rmSync(directory, { recursive: true, force: true });
      }
    });

    it('serves from a lease while the database is unreachable when the journal can take the captures, or no health was given', async () => {
      const accountId = await account('10');
      const directory = mkdtempSync(path.join(tmpdir(), 'tollgate-lease-journal-'));
      const journal = new CaptureJournal(directory, 'inst_ok', { sync: 'write' });
      const full = fullJournal();
      const journaled = leases({ journal, databaseReachable: () => false });
      const unwatched = leases({ journal: full.journal });
      try {
        for (const credit of [journaled, unwatched]) {
          // The lease opens on the first hold (the database is there); the journal's failure is known after a settle.
          await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') }), { amount: d('0.1') });
          await expect(credit.hold({ accountId, requestId: requestId(), amount: d('0.1') })).resolves.toMatchObject({
            accountId,
          });
          await credit.close();
        }
        expect(journal.failing).toBe(false);
        expect(full.journal.failing).toBe(true);
      } finally {
        journal.close();
        full.journal.close();
        rmSync(directory, { recursive: true, force: true });
        rmSync(full.directory, { recursive: true, force: true });
      }
    });
  });

  describe('closing leases', () => {
    it("retires one account's leases, or every account's without an id; an unknown account is no error", async () => {
      const one = await account('1');
      const two = await account('1');
      const credit = leases();
      for (const accountId of [one, two]) {
        await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.01') }), { amount: d('0.01') });
      }
      await credit.flush();
      expect(credit.stats().openLeases).toBe(2);
      await credit.retireAccount(one);
      expect(credit.stats().openLeases).toBe(1);
      expect((await entries(one)).map((row) => row.kind)).toContain('release');
      expect((await entries(two)).map((row) => row.kind)).not.toContain('release');
      await credit.retireAccount('acct_unknown');
      await credit.retireAccount();
      expect(credit.stats().openLeases).toBe(0);
      expect((await entries(two)).map((row) => row.kind)).toContain('release');
      await credit.close();
    });

    it('a lease without room for a call is retired when the next lease opens: it closes once its calls settle, and the new lease serves', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 2 });
      const a = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') }); // lease of 1
      const b = await credit.hold({ accountId, requestId: requestId(), amount: d('0.4') }); // 0.1 left in it
      const c = await credit.hold({ accountId, requestId: requestId(), amount: d('0.3') }); // a new lease of 0.6
      expect(credit.stats().openLeases).toBe(2);
      // Spent leases used to stay open until they aged out (10 s by default), each scanned by every call.
      await credit.settle(a, { amount: d('0.2') });
      await credit.settle(b, { amount: d('0.2') });
      await until(() => credit.stats().openLeases === 1, 'the spent lease to close');
      const [first, second] = (await holds(accountId)).map((row) => row.request_id);
      // Its calls drew 0.4 of 1: 0.6 goes back, although calls as small as 0.6 would have fitted again.
      const released = (await entries(accountId)).filter((row) => row.kind === 'release');
      expect(released.map((row) => [row.request_id, d(row.amount).toString()])).toEqual([[first, '0.6']]);
      // The lease that stays serves a call its room (0.6, 0.3 of it reserved by c) takes.
      const e = await credit.hold({ accountId, requestId: requestId(), amount: d('0.3') });
      await credit.settle(c, { amount: d('0.1') });
      await credit.settle(e, { amount: d('0.1') });
      await credit.flush();
      expect((await entries(accountId)).filter((row) => row.lease_id === second).length).toBe(2);
      expect(credit.stats().openLeases).toBe(1);
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('9.4');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it("a busy account's leases double while each runs out within half the target time, up to the maximum, and halve once one lasts", async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        const accountId = await account('1000');
        const credit = leases({ callsPerLease: 2, maxCallsPerLease: 16, leaseTargetMs: 1_000 });
        const calls: Array<Awaited<ReturnType<CreditLeases['hold']>>> = [];
        const hold = async (count = 1) => {
          for (let call = 0; call < count; call += 1)
            calls.push(await credit.hold({ accountId, requestId: requestId(), amount: d('1') }));
        };
        const sizes = async () => (await holds(accountId)).map((row) => Number(row.amount));
        await hold(2 + 4 + 8); // three leases, each filled at once: each twice the last
        vi.setSystemTime(Date.now() + 500); // the third lasted exactly half the target: the fourth is as large
        await hold(8);
        vi.setSystemTime(Date.now() + 2_000); // exactly twice the target: not slow enough to shrink
        await hold(8);
        vi.setSystemTime(Date.now() + 2_001); // past twice the target: half as large
        await hold(4);
        await hold(8 + 16); // then it grows again, up to the maximum
        await hold();
        expect(await sizes()).toEqual([2, 4, 8, 8, 8, 4, 8, 16, 16]);
        for (const held of calls) await credit.settle(held, { amount: d('0.5') });
        await credit.close();
        expect((await ledger.getAccount(accountId)).balance.toString()).toBe(
          d('1000').sub(d('0.5').times(calls.length)).toString(),
        );
        expect((await ledger.verify()).ok).toBe(true);
      } finally {
        vi.useRealTimers();
      }
    });

    it('a grown lease takes at most a quarter of what the account has left, and never less than the starting size', async () => {
      const accountId = await account('40');
      const credit = leases({ callsPerLease: 2, maxCallsPerLease: 64 });
      const calls: Array<Awaited<ReturnType<CreditLeases['hold']>>> = [];
      // 2, 4 and 8 fit; 16 is past a quarter of the 26 left (6.5), and so on, until a quarter of what is left
      // (1.54...) is below the starting size, which the last lease keeps.
      for (let call = 0; call < 2 + 4 + 8 + 6 + 4 + 3 + 2 + 2 + 1; call += 1) {
        calls.push(await credit.hold({ accountId, requestId: requestId(), amount: d('1') }));
      }
      expect((await holds(accountId)).map((row) => d(row.amount).toString())).toEqual([
        '2',
        '4',
        '8',
        '6.5',
        '4.875',
        '3.65625',
        '2.7421875',
        '2.056640625',
        '2',
      ]);
      for (const held of calls) await credit.settle(held, { amount: d('1') });
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('8');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('leases keep the size they start with unless a maximum above it is given', async () => {
      const accountId = await account('100');
      const credit = leases({ callsPerLease: 2 });
      const calls: Array<Awaited<ReturnType<CreditLeases['hold']>>> = [];
      for (let call = 0; call < 6; call += 1)
        calls.push(await credit.hold({ accountId, requestId: requestId(), amount: d('1') }));
      expect((await holds(accountId)).map((row) => d(row.amount).toString())).toEqual(['2', '2', '2']);
      for (const held of calls) await credit.settle(held, { amount: d('1') });
      await credit.close();
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('a lease that has room again by the time the next lease opened is not retired', async () => {
      const accountId = await account('10');
      const credit = leases({ callsPerLease: 2 });
      const big = await credit.hold({ accountId, requestId: requestId(), amount: d('0.5') }); // lease of 1
      const small = await credit.hold({ accountId, requestId: requestId(), amount: d('0.4') }); // 0.1 left
      // No room for 0.2: a lease opens. While it does, big settles for 0.1 and the first lease has room for 0.2 again.
      const opening = credit.hold({ accountId, requestId: requestId(), amount: d('0.2') });
      await credit.settle(big, { amount: d('0.1') });
      const wider = await opening;
      expect(credit.stats().openLeases).toBe(2);
      // Still serving: the next 0.2 call is carved from the first lease (its 0.5 of room), the second's 0.2 stays.
      const next = await credit.hold({ accountId, requestId: requestId(), amount: d('0.2') });
      for (const hold of [small, wider, next]) await credit.settle(hold, { amount: d('0.1') });
      await credit.flush();
      const [first] = (await holds(accountId)).map((row) => row.request_id);
      const captures = (await entries(accountId)).filter((row) => row.kind === 'capture');
      expect(captures.filter((row) => row.lease_id === first).length).toBe(3);
      expect(credit.stats().openLeases).toBe(2);
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('9.6');
      expect((await ledger.verify()).ok).toBe(true);
    });

    it('a retired lease with a call in flight closes once that call is settled and written', async () => {
      const accountId = await account('1');
      const credit = leases();
      const hold = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      await credit.retireAccount(accountId);
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold']);
      await credit.settle(hold, { amount: d('0.04') });
      await credit.flush();
      await credit.retireAccount(accountId); // waits for the close already under way
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
      expect(credit.stats().openLeases).toBe(0);
      await credit.close();
    });

    it('a lease whose release fails stays open, is warned about, and closes at the next try', async () => {
      const accountId = await account('1');
      const { logger, logged } = recordingLogger();
      const credit = leases({ logger });
      await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.01') }), { amount: d('0.01') });
      await credit.flush();
      const leaseId = (await holds(accountId))[0]!.request_id;
      const stop = await failEntries(accountId, 'release');
      await credit.retireAccount(accountId);
      await stop();
      expect(logged()).toEqual([
        {
          level: 40,
          err: expect.objectContaining({ code: 'P0001' }),
          leaseId,
          msg: 'could not close a credit lease; will retry',
        },
      ]);
      expect(credit.stats().openLeases).toBe(1);
      await credit.retireAccount(accountId);
      expect(credit.stats().openLeases).toBe(0);
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
      await credit.close();
    });

    it('a short account takes back only idle leases: a lease carrying a call keeps serving', async () => {
      const accountId = await account('0.1');
      const credit = leases();
      const busy = await credit.hold({ accountId, requestId: requestId(), amount: d('0.05') }); // a lease of 0.1
      await expect(credit.hold({ accountId, requestId: requestId(), amount: d('0.08') })).rejects.toMatchObject({
        needed: d('0.08'),
        available: d('0'),
      });
      // The lease was not retired for that refusal: the 0.05 it has left still serves.
      const next = await credit.hold({ accountId, requestId: requestId(), amount: d('0.05') });
      expect(await holds(accountId)).toHaveLength(1);
      await credit.settle(busy, { amount: d('0.05') });
      await credit.settle(next, { amount: d('0.05') });
      await credit.close();
      expect((await ledger.getAccount(accountId)).balance.toString()).toBe('0');
    });

    it('close writes what is settled, closes every lease and stops the tick, silently', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const accountId = await account('1');
      const { logger, logged } = recordingLogger();
      const credit = leases({ logger, tickMs: 1_000 });
      expect(vi.getTimerCount()).toBe(1);
      await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.01') }), { amount: d('0.01') });
      await credit.close();
      expect(vi.getTimerCount()).toBe(0);
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
      expect(logged()).toEqual([]);
    });

    it('close waits closeTimeoutMs at most for captures the database keeps failing, then stops retrying and warns', async () => {
      const accountId = await account('1');
      const hold = { accountId, requestId: requestId(), amount: d('0.01') };
      const { logger, logged } = recordingLogger();
      const credit = leases({ logger, writeLingerMs: 0, closeTimeoutMs: 7_000 });
      const held = await credit.hold(hold);
      await failEntries(accountId, 'capture', '40001');
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      await credit.settle(held, { amount: d('0.01') });
      let closed = false;
      const closing = credit.close().then(() => (closed = true));
      await vi.advanceTimersByTimeAsync(6_999);
      expect(closed).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await closing;
      expect(logged()).toContainEqual({
        level: 40,
        msg: 'closing with captures not yet written (database unreachable); the journal keeps them for the next start',
      });
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold']);
    });
  });

  describe('the owning instance', () => {
    it('a fenced instance retires its leases at the next hold and serves it from a new lease', async () => {
      let clock = 0;
      const instance = await GatewayInstance.register(database.db, { silenceMs: HOUR, now: () => clock });
      const accountId = await account('10');
      const credit = leases({ instance, callsPerLease: 10 });
      await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') }), { amount: d('0.1') });
      clock += (HOUR * 2) / 3; // exactly the fence: not yet fenced
      const same = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      expect(await holds(accountId)).toHaveLength(1);
      await credit.settle(same, { amount: d('0.1') });
      clock += 1;
      const fenced = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      await credit.settle(fenced, { amount: d('0.1') });
      await credit.close();
      const [first, second] = (await holds(accountId)).map((row) => row.request_id);
      expect(second).toBeDefined();
      expect((await entries(accountId)).filter((row) => row.kind === 'capture').map((row) => row.lease_id)).toEqual([
        first,
        first,
        second,
      ]);
      await instance.stop();
    });

    it("a fenced instance's tick retires every lease, however young and busy", async () => {
      let clock = 0;
      const instance = await GatewayInstance.register(database.db, { silenceMs: HOUR, now: () => clock });
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const accountId = await account('10');
      const credit = leases({ instance, tickMs: 1_000 });
      await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') }), { amount: d('0.1') });
      await credit.flush();
      vi.advanceTimersByTime(1_000);
      expect(credit.stats().openLeases).toBe(1); // not fenced: the tick leaves it
      clock += (HOUR * 2) / 3 + 1;
      vi.advanceTimersByTime(1_000);
      await until(() => credit.stats().openLeases === 0, 'the fenced lease to close');
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
      await credit.close();
      await instance.stop();
    });

    it('an instance declared dead drops every lease: the next call opens a new one', async () => {
      const instance = await GatewayInstance.register(database.db, { silenceMs: HOUR });
      const accountId = await account('10');
      const credit = leases({ instance, callsPerLease: 10 });
      await credit.settle(await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') }), { amount: d('0.1') });
      await credit.flush();
      // Another instance declares this one dead and releases its lease.
      await database.db
        .updateTable('gateway_instances')
        .set({ stopped_at: sql<Date>`now()` })
        .where('id', '=', instance.id)
        .execute();
      await releaseHoldsOfDeadInstances(database.db);
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold', 'capture', 'release']);
      await instance.beat(); // finds out
      const next = await credit.hold({ accountId, requestId: requestId(), amount: d('0.1') });
      const charge = await credit.settle(next, { amount: d('0.1') });
      expect(charge.captured.toString()).toBe('0.1');
      await credit.close();
      expect(await holds(accountId)).toHaveLength(2);
      expect(credit.stats().discrepancies).toBe(0);
      const after = await ledger.getAccount(accountId);
      expect([after.balance.toString(), after.available.toString()]).toEqual(['9.8', '9.8']);
      await instance.stop();
    });
  });

  describe('opening, waiting and closing', () => {
    const hold = (credit: CreditLeases, accountId: string, amount: string) =>
      credit.hold({ accountId, requestId: requestId(), amount: d(amount) });
    const leaseAmounts = async (accountId: string) => (await holds(accountId)).map((row) => d(row.amount).toString());

    it('a call waiting on an opening that is refused takes the room a call released meanwhile', async () => {
      const accountId = await account('0.1');
      const credit = leases();
      // A block of 32 calls (1.6) is refused; the lease is what the account has, 0.1, and two calls fill it.
      const first = await hold(credit, accountId, '0.05');
      await hold(credit, accountId, '0.05');
      const opener = hold(credit, accountId, '0.05'); // opens a lease: refused at the database, nothing is left
      const waiter = hold(credit, accountId, '0.05'); // waits for that opening
      await credit.release(first); // while the opening is at the database: its 0.05 is free again
      await expect(opener).rejects.toBeInstanceOf(InsufficientCreditsError);
      expect((await waiter).amount.toString()).toBe('0.05');
      expect(await leaseAmounts(accountId)).toEqual(['0.1']);
      await credit.close();
    });

    it('sizes a lease by what the account was last seen to have: one attempt, not a refused block first', async () => {
      const accountId = await account('1');
      const counted = countingHandle(database.db);
      const credit = new CreditLeases(counted.db, { idleMs: HOUR, maxAgeMs: HOUR, tickMs: HOUR });
      let before = counted.statements();
      await hold(credit, accountId, '0.01'); // a block of 0.32 fits: one attempt
      const oneAttempt = counted.statements() - before;
      await hold(credit, accountId, '0.31'); // carved from that lease
      before = counted.statements();
      // A block (3.2) is more than the 0.68 the first opening saw left: the lease is those 0.68, asked at once.
      await hold(credit, accountId, '0.1');
      expect(counted.statements() - before).toBe(oneAttempt);
      expect(await leaseAmounts(accountId)).toEqual(['0.32', '0.68']);
      await credit.close();
    });

    it('a refused opening with no idle lease of its own to close is refused after one attempt', async () => {
      const accountId = await account('0.1');
      const other = await account('0.1');
      const counted = countingHandle(database.db);
      const credit = new CreditLeases(counted.db, { idleMs: HOUR, maxAgeMs: HOUR, tickMs: HOUR });
      let before = counted.statements();
      await expect(placeHold(counted.db, { accountId: other, requestId: requestId(), amount: d('5') })).rejects.toBeInstanceOf(
        InsufficientCreditsError,
      );
      const refusedOnce = counted.statements() - before;
      await hold(credit, accountId, '0.1'); // the whole account, in flight
      before = counted.statements();
      await expect(hold(credit, accountId, '0.05')).rejects.toBeInstanceOf(InsufficientCreditsError);
      expect(counted.statements() - before).toBe(refusedOnce);
      await credit.close();
    });

    it('a short account closes its own idle lease once its captures are written, and leases what that gave back', async () => {
      const accountId = await account('1');
      const credit = leases();
      const first = await hold(credit, accountId, '0.03'); // a block of 0.96
      await credit.settle(first, { amount: d('0.5') }); // in memory; written in the background
      // 0.46 left in the lease and 0.04 in the account: the lease is closed (after its capture is written) and a
      // lease of the 0.5 that makes is opened.
      expect((await hold(credit, accountId, '0.5')).amount.toString()).toBe('0.5');
      expect(await kinds(accountId)).toEqual([
        ['grant', '1', undefined],
        ['hold', '0.96', undefined],
        ['capture', '-0.5', expect.stringMatching(/^lease_/)],
        ['release', '0.46', undefined],
        ['hold', '0.5', undefined],
      ]);
      const notes = (await entries(accountId)).filter((row) => row.kind === 'release').map((row) => row.note);
      expect(notes).toEqual(['credit lease closed']);
      await credit.close();
    });

    it('a short account closes an idle lease whose captures were written long before', async () => {
      const accountId = await account('1');
      const credit = leases();
      await credit.settle(await hold(credit, accountId, '0.03'), { amount: d('0.5') });
      await credit.flush(); // nothing of the lease is pending any more: only the opener can close it now
      expect((await hold(credit, accountId, '0.5')).amount.toString()).toBe('0.5');
      expect(await leaseAmounts(accountId)).toEqual(['0.96', '0.5']);
      await credit.close();
    });

    it('a refusal other than a short account (a suspension) leaves the idle leases as they are', async () => {
      const accountId = await account('1');
      const credit = leases();
      await credit.release(await hold(credit, accountId, '0.01')); // an idle lease of 0.32
      await ledger.setStatus(accountId, 'suspended');
      await expect(hold(credit, accountId, '0.5')).rejects.toBeInstanceOf(AccountSuspendedError);
      expect((await entries(accountId)).map((row) => row.kind)).toEqual(['grant', 'hold']);
      await ledger.setStatus(accountId, 'active');
      await credit.close();
    });

    it('an account whose leases all closed starts afresh: a top-up since then is leased in full blocks', async () => {
      const accountId = await account('0.5');
      const credit = leases();
      await credit.release(await hold(credit, accountId, '0.01')); // a block of 0.32, 0.18 left in the account
      await credit.returnUnused(); // closes it: this process knew the account to have 0.5
      await ledger.grant(accountId, d('10'));
      await hold(credit, accountId, '0.1');
      expect(await leaseAmounts(accountId)).toEqual(['0.32', '3.2']);
      await credit.close();
    });

    it('writes every settled capture to the journal it was given before the call is answered', async () => {
      const directory = mkdtempSync(path.join(tmpdir(), 'tollgate-lease-journal-'));
      const journal = new CaptureJournal(directory, 'inst_rules', { sync: 'write' });
      try {
        const accountId = await account('1');
        const credit = leases({ journal });
        const held = await hold(credit, accountId, '0.1');
        await credit.settle(held, { amount: d('0.05') });
        const records = readdirSync(directory).flatMap((file) =>
          readFileSync(path.join(directory, file), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as Record<string, unknown>),
        );
        expect(records).toContainEqual(expect.objectContaining({ type: 'capture', requestId: held.requestId, amount: '0.05' }));
        await credit.close();
      } finally {
        journal.close();
        rmSync(directory, { recursive: true, force: true });
      }
    });

    it('flush waits for a charge past its lease that queued behind an opening of the same account', async () => {
      const accountId = await account('1');
      const credit = leases();
      const first = await hold(credit, accountId, '0.01'); // a block of 0.32
      await hold(credit, accountId, '0.31'); // fills it
      const opening = hold(credit, accountId, '0.5'); // a new lease, at the database
      const settled = credit.settle(first, { amount: d('0.4') }); // past the lease: after the opening, in order
      await credit.flush();
      // Written: the lease's 0.32 (the opening took the account's other 0.68 first, so 0.08 is a shortfall).
      const captures = (await entries(accountId)).filter((row) => row.kind === 'capture');
      expect(captures.map((row) => [row.request_id, d(row.amount).toString()])).toEqual([[first.requestId, '-0.32']]);
      expect((await opening).amount.toString()).toBe('0.5');
      const charge = await settled;
      expect([charge.captured.toString(), charge.shortfall.toString()]).toEqual(['0.32', '0.08']);
      await credit.close();
    });
  });
});
