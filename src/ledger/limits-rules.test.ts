import { beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { Decimal } from '../money/decimal.js';
import type { Account } from './accounts.js';
import { createApiKey, revokeApiKey, type CreatedApiKey } from './api-keys.js';
import { InvalidAmountError } from './errors.js';
import type { Ledger } from './ledger.js';
import {
  accountChain,
  capStanding,
  getLimits,
  InvalidLimitError,
  limitChangesOf,
  limitsFromRow,
  limitsReport,
  LimitTargetNotFoundError,
  resolveLimitTarget,
  setLimits,
  storedTarget,
  walletOf,
  type LimitChanges,
  type Limits,
  type LimitTarget,
} from './limits.js';
import { refusal } from '../../test/support/refusals.js';

/**
 * The rules of limits, each pinned exactly: how a target's text is read (key prefix, account:end-user,
 * account id or name), what setting limits checks (with the exact refusals) and keeps, a cap's standing in its
 * period (used, remaining, unit, start and reset), the report the admin API and the CLI give, and the chain of
 * a team up to its wallet.
 */

const notFound = (text: string) =>
  `no account, key or end user ${JSON.stringify(text)}: name an account (id or name), a key (its prefix, tg_...), ` +
  'or an end user as account:end-user';

describe('the errors of limits', () => {
  it('an invalid limit is a 400 invalid_limit naming its field', () => {
    const error = new InvalidLimitError('rpm', 'must be positive');
    expect(error).toBeInstanceOf(InvalidLimitError);
    expect(error.message).toBe('invalid rpm: must be positive');
    expect(error.name).toBe('InvalidLimitError');
    expect(error.code).toBe('invalid_limit');
    expect(error.statusCode).toBe(400);
    expect(error.type).toBe('invalid_request_error');
    expect(error.field).toBe('rpm');
    expect(error.param).toBe('rpm');
  });

  it('an unknown target is a 404 limit_target_not_found that says how to name one', () => {
    const error = new LimitTargetNotFoundError(' who ');
    expect(error.message).toBe(notFound(' who '));
    expect(error.name).toBe('LimitTargetNotFoundError');
    expect(error.code).toBe('limit_target_not_found');
    expect(error.statusCode).toBe(404);
    expect(error.target).toBe(' who ');
    expect(error.param).toBeUndefined();
  });
});

describe('the changes an admin body asks for', () => {
  it('are exactly the fields given: a cap parsed exactly, null kept as null, absent fields absent', () => {
    expect(limitChangesOf({})).toStrictEqual({});
    expect(
      limitChangesOf({ cap: '2.50', period: 'week', timezone: 'Asia/Tokyo', soft: false, rpm: 1, tpm: 2, concurrency: 3 }),
    ).toStrictEqual({
      cap: Decimal.parse('2.5'),
      period: 'week',
      timezone: 'Asia/Tokyo',
      soft: false,
      rpm: 1,
      tpm: 2,
      concurrency: 3,
    });
    expect(limitChangesOf({ cap: null, rpm: null, tpm: null, concurrency: null })).toStrictEqual({
      cap: null,
      rpm: null,
      tpm: null,
      concurrency: null,
    });
    expect(limitChangesOf({ cap: '0.000000000000000001' }).cap?.toString()).toBe('0.000000000000000001');
    expect(limitChangesOf({ soft: true })).toStrictEqual({ soft: true });
  });
});

describe.each(backends())('limits on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => {
    ({ database, ledger } = opened);
  });

  let usd: Account;
  let usdKey: CreatedApiKey;
  let tokens: Account;
  let tokensChild: Account;
  let tokensGrandchild: Account;

  beforeAll(async () => {
    ({ account: usd, apiKey: usdKey } = await ledger.createAccount({
      name: 'rules-usd',
      mode: 'consumption_usd',
      credits: Decimal.parse('100'),
    }));
    ({ account: tokens } = await ledger.createAccount({
      name: 'rules-tokens',
      mode: 'consumption_tokens',
      credits: Decimal.parse('1000'),
    }));
    ({ account: tokensChild } = await ledger.createAccount({
      name: 'rules-tokens-child',
      mode: 'consumption_tokens',
      parent: tokens.id,
    }));
    ({ account: tokensGrandchild } = await ledger.createAccount({
      name: 'rules-tokens-grandchild',
      mode: 'consumption_tokens',
      parent: tokensChild.id,
    }));
  });

  const db = () => database.db;

  describe('reading a target', () => {
    it('a key prefix (tg_ and 9 more characters) names the key, surrounding spaces ignored', async () => {
      const expected: LimitTarget = {
        kind: 'key',
        accountId: usd.id,
        keyId: usdKey.id,
        keyPrefix: usdKey.prefix,
        endUser: null,
        target: `key:${usdKey.id}`,
      };
      expect(usdKey.prefix).toHaveLength(12);
      expect(await resolveLimitTarget(db(), usdKey.prefix)).toStrictEqual(expected);
      expect(await resolveLimitTarget(db(), `  ${usdKey.prefix}\t`)).toStrictEqual(expected);
    });

    it('a revoked key, an unknown prefix and a key of no account are not found, named as typed', async () => {
      const { apiKey } = await ledger.createAccount({ name: 'rules-revoked', mode: 'consumption_usd' });
      expect((await resolveLimitTarget(db(), apiKey.prefix)).kind).toBe('key');
      await revokeApiKey(db(), apiKey.prefix);
      const revoked = await refusal(resolveLimitTarget(db(), apiKey.prefix));
      expect(revoked).toBeInstanceOf(LimitTargetNotFoundError);
      expect(revoked.message).toBe(notFound(apiKey.prefix));
      const unknown = await refusal(resolveLimitTarget(db(), ' tg_000000000 '));
      expect(unknown).toBeInstanceOf(LimitTargetNotFoundError);
      expect(unknown.message).toBe(notFound(' tg_000000000 '));
      const admin = await createApiKey(db(), { accountId: null, scope: 'admin' });
      const adminRefusal = await refusal(resolveLimitTarget(db(), admin.prefix));
      expect(adminRefusal).toBeInstanceOf(LimitTargetNotFoundError);
      expect((adminRefusal as LimitTargetNotFoundError).target).toBe(admin.prefix);
    });

    it('a text of 12 characters is a key prefix only when it starts with tg_; any other length is an account', async () => {
      const { account: twelve } = await ledger.createAccount({ name: 'twelve-chars', mode: 'consumption_usd' });
      const { account: thirteen } = await ledger.createAccount({ name: 'tg_thirteen13', mode: 'consumption_usd' });
      await ledger.createAccount({ name: 'tg_notakey12', mode: 'consumption_usd' });
      expect(await resolveLimitTarget(db(), 'twelve-chars')).toStrictEqual({
        kind: 'account',
        accountId: twelve.id,
        keyId: null,
        keyPrefix: null,
        endUser: null,
        target: `account:${twelve.id}`,
      });
      expect((await resolveLimitTarget(db(), 'tg_thirteen13')).target).toBe(`account:${thirteen.id}`);
      // Read as a key prefix, which no key has.
      await expect(resolveLimitTarget(db(), 'tg_notakey12')).rejects.toThrow(notFound('tg_notakey12'));
    });

    it('an account is named by its id or its name, surrounding spaces ignored', async () => {
      const expected: LimitTarget = {
        kind: 'account',
        accountId: usd.id,
        keyId: null,
        keyPrefix: null,
        endUser: null,
        target: `account:${usd.id}`,
      };
      expect(await resolveLimitTarget(db(), usd.id)).toStrictEqual(expected);
      expect(await resolveLimitTarget(db(), ' rules-usd ')).toStrictEqual(expected);
      const missing = await refusal(resolveLimitTarget(db(), ' nobody '));
      expect(missing).toBeInstanceOf(LimitTargetNotFoundError);
      expect(missing.message).toBe(notFound(' nobody '));
    });

    it('account:end-user names an end user of the account; the first colon separates them', async () => {
      expect(await resolveLimitTarget(db(), `${usd.id}:alice`)).toStrictEqual({
        kind: 'end_user',
        accountId: usd.id,
        keyId: null,
        keyPrefix: null,
        endUser: 'alice',
        target: `end_user:${usd.id}:alice`,
      });
      expect(await resolveLimitTarget(db(), ' rules-usd:team:bob ')).toStrictEqual({
        kind: 'end_user',
        accountId: usd.id,
        keyId: null,
        keyPrefix: null,
        endUser: 'team:bob',
        target: `end_user:${usd.id}:team:bob`,
      });
    });

    it('a colon that names no account with an end user falls back to an account named with the colon', async () => {
      const { account: colon } = await ledger.createAccount({ name: 'nobody:here', mode: 'consumption_usd' });
      expect((await resolveLimitTarget(db(), 'nobody:here')).target).toBe(`account:${colon.id}`);
      await expect(resolveLimitTarget(db(), 'rules-usd:')).rejects.toThrow(notFound('rules-usd:'));
      await expect(resolveLimitTarget(db(), 'nobody:alice')).rejects.toThrow(notFound('nobody:alice'));
      await expect(resolveLimitTarget(db(), ':alice')).rejects.toBeInstanceOf(LimitTargetNotFoundError);
    });

    it('a name without a colon is the account, even when its name less the last character names another', async () => {
      const { account: short } = await ledger.createAccount({ name: 'rules-tea', mode: 'consumption_usd' });
      const { account: long } = await ledger.createAccount({ name: 'rules-team', mode: 'consumption_usd' });
      expect((await resolveLimitTarget(db(), 'rules-team')).target).toBe(`account:${long.id}`);
      expect((await resolveLimitTarget(db(), 'rules-tea')).target).toBe(`account:${short.id}`);
    });
  });

  describe('setting limits', () => {
    it('a first setting stores the fields given and the defaults: no cap, total, UTC, hard, no rate limits', async () => {
      const { account } = await ledger.createAccount({ name: 'rules-defaults', mode: 'consumption_usd' });
      const target = await resolveLimitTarget(db(), account.id);
      expect(await getLimits(db(), target)).toBeUndefined();
      const set = await setLimits(db(), target, { rpm: 7 });
      expect(set.id).toMatch(/^lim_[0-9a-f]{32}$/);
      expect(set).toStrictEqual({
        id: set.id,
        target,
        cap: null,
        period: 'total',
        timezone: 'UTC',
        soft: false,
        rpm: 7,
        tpm: null,
        concurrency: null,
      });
      expect(await getLimits(db(), target)).toStrictEqual(set);
      const row = await db().selectFrom('limits').selectAll().where('id', '=', set.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        target_kind: 'account',
        account_id: account.id,
        key_id: null,
        end_user: null,
        target: `account:${account.id}`,
      });
    });

    it('stores a key target with its key and an end-user target with its end user', async () => {
      const keyTarget = await resolveLimitTarget(db(), usdKey.prefix);
      const keyLimits = await setLimits(db(), keyTarget, { cap: Decimal.parse('1') });
      const endUserTarget = await resolveLimitTarget(db(), `${usd.id}:carol`);
      const endUserLimits = await setLimits(db(), endUserTarget, { tpm: 100 });
      const rows = await db()
        .selectFrom('limits')
        .select(['id', 'target_kind', 'account_id', 'key_id', 'end_user', 'target', 'cap'])
        .where('id', 'in', [keyLimits.id, endUserLimits.id])
        .orderBy('target_kind')
        .execute();
      expect(rows.map((row) => ({ ...row, cap: row.cap === null ? null : Decimal.parse(row.cap).toString() }))).toStrictEqual([
        {
          id: endUserLimits.id,
          target_kind: 'end_user',
          account_id: usd.id,
          key_id: null,
          end_user: 'carol',
          target: `end_user:${usd.id}:carol`,
          cap: null,
        },
        {
          id: keyLimits.id,
          target_kind: 'key',
          account_id: usd.id,
          key_id: usdKey.id,
          end_user: null,
          target: `key:${usdKey.id}`,
          cap: '1',
        },
      ]);
      expect(await getLimits(db(), keyTarget)).toStrictEqual(keyLimits);
    });

    it('each later setting changes the fields given and keeps the others (null clears one)', async () => {
      const { account } = await ledger.createAccount({ name: 'rules-changes', mode: 'consumption_usd' });
      const target = await resolveLimitTarget(db(), account.id);
      const first = await setLimits(db(), target, { cap: Decimal.parse('10.50') });
      const expected: Limits = {
        id: first.id,
        target,
        cap: Decimal.parse('10.5'),
        period: 'total',
        timezone: 'UTC',
        soft: false,
        rpm: null,
        tpm: null,
        concurrency: null,
      };
      expect(first).toStrictEqual(expected);
      const steps: Array<[LimitChanges, Partial<Limits>]> = [
        [{ period: 'week' }, { period: 'week' }],
        [{ timezone: 'Asia/Tokyo' }, { timezone: 'Asia/Tokyo' }],
        [{ soft: true }, { soft: true }],
        [{ rpm: 1 }, { rpm: 1 }],
        [{ tpm: 2 }, { tpm: 2 }],
        [{ concurrency: 3 }, { concurrency: 3 }],
        [{ cap: Decimal.parse('0') }, { cap: Decimal.ZERO }],
        [
          { soft: false, rpm: null },
          { soft: false, rpm: null },
        ],
        [
          { tpm: null, concurrency: null },
          { tpm: null, concurrency: null },
        ],
        [
          { cap: null, period: 'day' },
          { cap: null, period: 'day' },
        ],
        [{}, {}],
      ];
      for (const [changes, effect] of steps) {
        Object.assign(expected, effect);
        const after = await setLimits(db(), target, changes);
        expect(after, JSON.stringify(changes)).toStrictEqual(expected);
        expect(await getLimits(db(), target)).toStrictEqual(expected);
      }
      expect(await db().selectFrom('limits').select('id').where('account_id', '=', account.id).execute()).toHaveLength(1);
    });

    it('refuses a negative cap, a fractional cap on a token wallet, and a cap too long, naming the field cap', async () => {
      const target = await resolveLimitTarget(db(), tokensGrandchild.id);
      const negative = await refusal(setLimits(db(), target, { cap: Decimal.parse('-1') }));
      expect(negative).toBeInstanceOf(InvalidAmountError);
      expect(negative.message).toBe('invalid cap: must not be negative, got -1');
      expect((negative as InvalidAmountError).param).toBe('cap');
      // The grandchild's own mode is tokens too, but the unit is its wallet's (the root of its chain).
      const fractional = await refusal(setLimits(db(), target, { cap: Decimal.parse('1.5') }));
      expect(fractional).toBeInstanceOf(InvalidAmountError);
      expect(fractional.message).toBe('invalid cap: token amounts are whole numbers, got 1.5');
      const long = await refusal(setLimits(db(), target, { cap: Decimal.parse('1234567890123456') }));
      expect(long.message).toBe('invalid cap: must have at most 15 digits before the decimal point and 18 after, got 16 and 0');
      expect(await getLimits(db(), target)).toBeUndefined();
      const usdTarget = await resolveLimitTarget(db(), `${usd.id}:fractional`);
      expect((await setLimits(db(), usdTarget, { cap: Decimal.parse('1.5') })).cap?.toString()).toBe('1.5');
    });

    it('refuses a period that is not day, week, month or total', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:periods`);
      const error = await refusal(setLimits(db(), target, { period: 'year' as never }));
      expect(error).toBeInstanceOf(InvalidLimitError);
      expect(error.message).toBe('invalid period: must be one of day, week, month, total, got "year"');
      expect((error as InvalidLimitError).field).toBe('period');
      expect(await getLimits(db(), target)).toBeUndefined();
      for (const period of ['day', 'week', 'month', 'total'] as const) {
        expect((await setLimits(db(), target, { period })).period).toBe(period);
      }
    });

    it('refuses a time zone the runtime does not know', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:zones`);
      const error = await refusal(setLimits(db(), target, { timezone: 'Mars/Olympus_Mons' }));
      expect(error).toBeInstanceOf(InvalidLimitError);
      expect(error.message).toBe('invalid timezone: "Mars/Olympus_Mons" is not an IANA time zone (e.g. Europe/Berlin)');
      expect((error as InvalidLimitError).field).toBe('timezone');
      expect(await getLimits(db(), target)).toBeUndefined();
    });

    it.each(['rpm', 'tpm', 'concurrency'] as const)(
      'refuses %s below 1, fractional or past a PostgreSQL integer; 1, 2^31 - 1 and null are accepted',
      async (field) => {
        const target = await resolveLimitTarget(db(), `${usd.id}:${field}`);
        for (const [value, shown] of [
          [0, '0'],
          [-1, '-1'],
          [1.5, '1.5'],
          [0.5, '0.5'],
          [2 ** 53, '9007199254740992'],
          [2 ** 31, '2147483648'],
          [Number.NaN, 'NaN'],
        ] as const) {
          const error = await refusal(setLimits(db(), target, { [field]: value }));
          expect(error, `${field} ${shown}`).toBeInstanceOf(InvalidLimitError);
          expect(error.message).toBe(`invalid ${field}: must be a whole number from 1 to 2147483647, got ${shown}`);
          expect((error as InvalidLimitError).param).toBe(field);
        }
        expect(await getLimits(db(), target)).toBeUndefined();
        expect((await setLimits(db(), target, { [field]: 1 }))[field]).toBe(1);
        // The column is a PostgreSQL integer: its largest value is stored as is.
        expect((await setLimits(db(), target, { [field]: 2 ** 31 - 1 }))[field]).toBe(2 ** 31 - 1);
        expect((await setLimits(db(), target, { [field]: null }))[field]).toBeNull();
      },
    );

    it('checks the cap first, then the period, the zone and the rate limits', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:order`);
      const all = { cap: Decimal.parse('-1'), period: 'year' as never, timezone: 'Nowhere', rpm: 0 };
      expect((await refusal(setLimits(db(), target, all))).message).toMatch(/^invalid cap: /);
      expect((await refusal(setLimits(db(), target, { ...all, cap: null }))).message).toMatch(/^invalid period: /);
      expect((await refusal(setLimits(db(), target, { ...all, cap: null, period: 'day' }))).message).toMatch(
        /^invalid timezone: /,
      );
      expect((await refusal(setLimits(db(), target, { cap: null, tpm: 0, rpm: 0 }))).message).toMatch(/^invalid rpm: /);
      expect((await refusal(setLimits(db(), target, { concurrency: 0, tpm: 0 }))).message).toMatch(/^invalid tpm: /);
    });
  });

  describe("a cap's standing", () => {
    const at = new Date('2026-11-29T22:00:30Z'); // 07:00:30 on Monday 30 November in Tokyo

    it('is undefined without a cap', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:uncapped`);
      const limits = await setLimits(db(), target, { rpm: 3 });
      expect(await capStanding(db(), limits, at)).toBeUndefined();
    });

    it('counts only its own row of the current period: used, what remains, the period and its reset', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:standing`);
      const limits = await setLimits(db(), target, { cap: Decimal.parse('10'), period: 'day', timezone: 'Asia/Tokyo' });
      const today = new Date('2026-11-29T15:00:00Z');
      expect(await capStanding(db(), limits, at)).toStrictEqual({
        periodStart: today,
        resetsAt: new Date('2026-11-30T15:00:00Z'),
        used: Decimal.ZERO,
        remaining: Decimal.parse('10'),
        unit: 'usd',
      });
      const other = await setLimits(db(), await resolveLimitTarget(db(), `${usd.id}:other`), { cap: Decimal.parse('10') });
      await db()
        .insertInto('limit_usage')
        .values([
          { limit_id: limits.id, period_start: today, used: '3.25' },
          { limit_id: limits.id, period_start: new Date('2026-11-28T15:00:00Z'), used: '9' },
          { limit_id: other.id, period_start: today, used: '5' },
        ])
        .execute();
      const standing = await capStanding(db(), limits, at);
      expect(standing?.used.toString()).toBe('3.25');
      expect(standing?.remaining.toString()).toBe('6.75');
      // One millisecond before Tokyo's midnight is the previous day, with its own row.
      const yesterday = await capStanding(db(), limits, new Date('2026-11-29T14:59:59.999Z'));
      expect(yesterday?.periodStart.toISOString()).toBe('2026-11-28T15:00:00.000Z');
      expect(yesterday?.resetsAt?.toISOString()).toBe('2026-11-29T15:00:00.000Z');
      expect(yesterday?.used.toString()).toBe('9');
      expect(yesterday?.remaining.toString()).toBe('1');
    });

    it('has nothing remaining, not a negative amount, once use passed the cap (a soft cap)', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:over`);
      const limits = await setLimits(db(), target, { cap: Decimal.parse('10'), soft: true });
      await db()
        .insertInto('limit_usage')
        .values({ limit_id: limits.id, period_start: new Date(0), used: '12.5' })
        .execute();
      const standing = await capStanding(db(), limits, at);
      expect(standing?.used.toString()).toBe('12.5');
      expect(standing?.remaining.toString()).toBe('0');
      expect(standing?.periodStart.getTime()).toBe(0);
      expect(standing?.resetsAt).toBeUndefined();
    });

    it("is in its wallet's unit, for a cap of a team's account", async () => {
      const limits = await setLimits(db(), await resolveLimitTarget(db(), tokensGrandchild.id), {
        cap: Decimal.parse('500'),
        period: 'month',
        timezone: 'America/New_York',
      });
      expect(await capStanding(db(), limits, at)).toStrictEqual({
        periodStart: new Date('2026-11-01T04:00:00Z'),
        resetsAt: new Date('2026-12-01T05:00:00Z'),
        used: Decimal.ZERO,
        remaining: Decimal.parse('500'),
        unit: 'tokens',
      });
    });
  });

  describe('the report of a target', () => {
    const at = new Date('2026-11-29T22:00:30Z'); // Sunday 17:00:30 in New York

    it('without limits: every field null, soft false, the key named by its prefix', async () => {
      const { account, apiKey } = await ledger.createAccount({ name: 'rules-report-none', mode: 'consumption_usd' });
      expect(await limitsReport(db(), await resolveLimitTarget(db(), apiKey.prefix), at)).toStrictEqual({
        target: { kind: 'key', account_id: account.id, key_prefix: apiKey.prefix, end_user: null },
        cap: null,
        period: null,
        timezone: null,
        soft: false,
        rpm: null,
        tpm: null,
        concurrency: null,
        usage: null,
      });
    });

    it('with rate limits only: no cap and no usage', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:report-rates`);
      await setLimits(db(), target, { rpm: 1, tpm: 2, concurrency: 3 });
      expect(await limitsReport(db(), target, at)).toStrictEqual({
        target: { kind: 'end_user', account_id: usd.id, key_prefix: null, end_user: 'report-rates' },
        cap: null,
        period: 'total',
        timezone: 'UTC',
        soft: false,
        rpm: 1,
        tpm: 2,
        concurrency: 3,
        usage: null,
      });
    });

    it('with a soft weekly cap: its use in the week and the next Monday at local midnight', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:report-week`);
      const limits = await setLimits(db(), target, {
        cap: Decimal.parse('2.50'),
        period: 'week',
        timezone: 'America/New_York',
        soft: true,
      });
      await db()
        .insertInto('limit_usage')
        .values({ limit_id: limits.id, period_start: new Date('2026-11-23T05:00:00Z'), used: '0.75' })
        .execute();
      expect(await limitsReport(db(), target, at)).toStrictEqual({
        target: { kind: 'end_user', account_id: usd.id, key_prefix: null, end_user: 'report-week' },
        cap: '2.5',
        period: 'week',
        timezone: 'America/New_York',
        soft: true,
        rpm: null,
        tpm: null,
        concurrency: null,
        usage: {
          period_start: '2026-11-23T05:00:00.000Z',
          resets_at: '2026-11-30T05:00:00.000Z',
          used: '0.75',
          remaining: '1.75',
          unit: 'usd',
        },
      });
    });

    it('with a total cap: resets_at is null', async () => {
      const target = await resolveLimitTarget(db(), tokens.id);
      await setLimits(db(), target, { cap: Decimal.parse('300') });
      expect((await limitsReport(db(), target, at)).usage).toStrictEqual({
        period_start: '1970-01-01T00:00:00.000Z',
        resets_at: null,
        used: '0',
        remaining: '300',
        unit: 'tokens',
      });
    });
  });

  describe("a team's chain", () => {
    it('runs from the account up to its wallet; the wallet is the root, in its unit', async () => {
      expect(await accountChain(db(), tokensGrandchild.id)).toStrictEqual([tokensGrandchild.id, tokensChild.id, tokens.id]);
      expect(await accountChain(db(), tokens.id)).toStrictEqual([tokens.id]);
      expect(await walletOf(db(), tokensGrandchild.id)).toStrictEqual({ id: tokens.id, unit: 'tokens', jobPrice: null });
      expect(await walletOf(db(), tokensChild.id)).toStrictEqual({ id: tokens.id, unit: 'tokens', jobPrice: null });
      expect(await walletOf(db(), usd.id)).toStrictEqual({ id: usd.id, unit: 'usd', jobPrice: null });
    });

    it('of an unknown account is the account alone', async () => {
      expect(await accountChain(db(), 'acct_unknown')).toStrictEqual(['acct_unknown']);
    });

    it('stops at a cycle instead of looping (parents written around the ledger)', async () => {
      const { account: a } = await ledger.createAccount({ name: 'rules-cycle-a', mode: 'consumption_usd' });
      const { account: b } = await ledger.createAccount({ name: 'rules-cycle-b', mode: 'consumption_usd', parent: a.id });
      await db().updateTable('accounts').set({ parent_id: b.id }).where('id', '=', a.id).execute();
      expect(await accountChain(db(), a.id)).toStrictEqual([a.id, b.id]);
      expect(await accountChain(db(), b.id)).toStrictEqual([b.id, a.id]);
      await db().updateTable('accounts').set({ parent_id: null }).where('id', '=', a.id).execute();
    });
  });

  describe('rows and stored targets', () => {
    it('a row reads as limits, a null cap as null and a cap exactly', async () => {
      const target = await resolveLimitTarget(db(), `${usd.id}:rows`);
      const limits = await setLimits(db(), target, { cap: Decimal.parse('0.10'), concurrency: 4 });
      const row = await db().selectFrom('limits').selectAll().where('id', '=', limits.id).executeTakeFirstOrThrow();
      expect(limitsFromRow(row, target)).toStrictEqual({
        id: limits.id,
        target,
        cap: Decimal.parse('0.1'),
        period: 'total',
        timezone: 'UTC',
        soft: false,
        rpm: null,
        tpm: null,
        concurrency: 4,
      });
      expect(limitsFromRow({ ...row, cap: null }, target).cap).toBeNull();
      expect(storedTarget(row)).toStrictEqual({
        kind: 'end_user',
        accountId: usd.id,
        keyId: null,
        keyPrefix: null,
        endUser: 'rows',
        target: `end_user:${usd.id}:rows`,
      });
    });
  });
});
