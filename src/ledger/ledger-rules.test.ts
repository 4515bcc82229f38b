import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import type { BudgetMode } from '../db/schema.js';
import { createLogger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import type { Account, LedgerEntry } from './accounts.js';
import { listApiKeys } from './api-keys.js';
import {
  AccountNameTakenError,
  AccountNotFoundError,
  InsufficientCreditsError,
  InvalidAccountFieldError,
  InvalidAmountError,
} from './errors.js';
import { Ledger } from './ledger.js';
import { refusal } from '../../test/support/refusals.js';

const d = (text: string) => Decimal.parse(text);

/** An account's fields as plain text, to compare whole (Decimals as their exact text). */
function plain(account: Account) {
  return {
    ...account,
    balance: account.balance.toString(),
    available: account.available.toString(),
    jobPrice: account.jobPrice?.toString() ?? null,
    markupPercent: account.markupPercent?.toString() ?? null,
    markupFixedFee: account.markupFixedFee?.toString() ?? null,
    overdraftLimit: account.overdraftLimit.toString(),
    lowBalanceAlert: account.lowBalanceAlert?.toString() ?? null,
    createdAt: account.createdAt instanceof Date && !Number.isNaN(account.createdAt.getTime()),
  };
}

function plainEntry(entry: LedgerEntry) {
  return {
    ...entry,
    amount: entry.amount.toString(),
    id: typeof entry.id,
    createdAt: entry.createdAt instanceof Date && !Number.isNaN(entry.createdAt.getTime()),
  };
}

describe.each(backends())('ledger rules on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  describe('createAccount', () => {
    it('trims the name and keeps every term given, with no entry when no credits are granted', async () => {
      const { account } = await ledger.createAccount({
        name: '  terms  ',
        mode: 'consumption_usd',
        jobPrice: d('0.020'),
        markupPercent: d('-12.5'),
        markupFixedFee: d('0.001'),
        overdraftLimit: d('3'),
        lowBalanceAlert: d('0.5'),
      });
      expect(account.id).toMatch(/^acct_[0-9A-Za-z]{16}$/);
      expect(plain(account)).toEqual({
        id: account.id,
        name: 'terms',
        mode: 'consumption_usd',
        unit: 'usd',
        balance: '0',
        available: '0',
        jobPrice: '0.02',
        markupPercent: '-12.5',
        markupFixedFee: '0.001',
        status: 'active',
        overdraftLimit: '3',
        parentId: null,
        lowBalanceAlert: '0.5',
        createdAt: true,
      });
      expect(plain(await ledger.getAccount('terms'))).toEqual(plain(account));
      expect(await ledger.entries('terms')).toEqual([]);
    });

    it('leaves unset terms null, the overdraft limit zero, and records the initial grant as one entry', async () => {
      const { account } = await ledger.createAccount({ name: 'granted', mode: 'consumption_tokens', credits: d('1500') });
      expect(plain(account)).toEqual({
        id: account.id,
        name: 'granted',
        mode: 'consumption_tokens',
        unit: 'tokens',
        balance: '1500',
        available: '1500',
        jobPrice: null,
        markupPercent: null,
        markupFixedFee: null,
        status: 'active',
        overdraftLimit: '0',
        parentId: null,
        lowBalanceAlert: null,
        createdAt: true,
      });
      expect((await ledger.entries('granted')).map(plainEntry)).toEqual([
        {
          id: 'number',
          accountId: account.id,
          kind: 'grant',
          amount: '1500',
          unit: 'tokens',
          requestId: `grant:${account.id}:initial`,
          leaseId: null,
          idempotencyKey: null,
          priceVersion: null,
          note: 'initial credits',
          createdAt: true,
        },
      ]);
    });

    it('gives the account one user key named "first key"', async () => {
      const { account, apiKey } = await ledger.createAccount({ name: 'keyed', mode: 'consumption_usd' });
      const keys = await listApiKeys(database.db, account.id);
      expect(keys.map((key) => [key.id, key.prefix, key.scope, key.name, key.accountId, key.revokedAt])).toEqual([
        [apiKey.id, apiKey.prefix, 'user', 'first key', account.id, null],
      ]);
    });

    it('creates a job_based account with its job price, in USD', async () => {
      const { account } = await ledger.createAccount({
        name: 'jobs-priced',
        mode: 'job_based',
        jobPrice: d('0.05'),
        credits: d('2'),
      });
      expect([account.mode, account.unit, account.jobPrice?.toString(), account.balance.toString()]).toEqual([
        'job_based',
        'usd',
        '0.05',
        '2',
      ]);
    });

    it('accepts a whole low-balance alert on a token account and a fractional one on a USD account', async () => {
      const tokens = await ledger.createAccount({ name: 'alert-tokens', mode: 'consumption_tokens', lowBalanceAlert: d('100') });
      expect(tokens.account.lowBalanceAlert?.toString()).toBe('100');
      const usd = await ledger.createAccount({ name: 'alert-usd', mode: 'consumption_usd', lowBalanceAlert: d('0.25') });
      expect(usd.account.lowBalanceAlert?.toString()).toBe('0.25');
    });

    it('refuses each bad field, naming it, and creates nothing', async () => {
      const cases: Array<[Parameters<Ledger['createAccount']>[0], new (...args: never[]) => Error, string]> = [
        [{ name: '   ', mode: 'consumption_usd' }, InvalidAccountFieldError, 'invalid name: must not be empty'],
        [
          { name: 'bad-mode', mode: 'bogus' as BudgetMode },
          InvalidAccountFieldError,
          'invalid mode: must be one of consumption_usd, consumption_tokens, job_based, got "bogus"',
        ],
        [
          { name: 'bad-job', mode: 'job_based' },
          InvalidAccountFieldError,
          'invalid job price: a job_based account needs a job price (USD per successful call)',
        ],
        [
          { name: 'bad-credits', mode: 'consumption_tokens', credits: d('1.5') },
          InvalidAmountError,
          'invalid credits: token amounts are whole numbers, got 1.5',
        ],
        [
          { name: 'bad-credits', mode: 'consumption_usd', credits: d('-1') },
          InvalidAmountError,
          'invalid credits: must not be negative, got -1',
        ],
        [
          { name: 'bad-credits', mode: 'consumption_usd', credits: d('1000000000000000') },
          InvalidAmountError,
          'invalid credits: must have at most 15 digits before the decimal point and 18 after, got 16 and 0',
        ],
        [
          { name: 'bad-price', mode: 'consumption_usd', jobPrice: d('-1') },
          InvalidAmountError,
          'invalid job price: must not be negative, got -1',
        ],
        [
          { name: 'bad-fee', mode: 'consumption_usd', markupFixedFee: d('-0.5') },
          InvalidAmountError,
          'invalid markup fixed fee: must not be negative, got -0.5',
        ],
        [
          { name: 'bad-overdraft', mode: 'consumption_usd', overdraftLimit: d('-2') },
          InvalidAmountError,
          'invalid overdraft limit: must not be negative, got -2',
        ],
        [
          { name: 'bad-markup', mode: 'consumption_usd', markupPercent: d('-0.0000000000000000001') },
          InvalidAmountError,
          'invalid markup percent: must have at most 15 digits before the decimal point and 18 after, got 0 and 19',
        ],
        [
          { name: 'bad-alert', mode: 'consumption_tokens', lowBalanceAlert: d('0.5') },
          InvalidAmountError,
          'invalid low balance alert: token amounts are whole numbers, got 0.5',
        ],
        [
          { name: 'bad-alert', mode: 'consumption_usd', lowBalanceAlert: d('-1') },
          InvalidAmountError,
          'invalid low balance alert: must not be negative, got -1',
        ],
        [
          { name: 'orphan', mode: 'consumption_usd', parent: 'ghost' },
          AccountNotFoundError,
          'no account with id or name "ghost"',
        ],
      ];
      for (const [input, type, message] of cases) {
        const error = await refusal(ledger.createAccount(input));
        expect(error, message).toBeInstanceOf(type);
        expect(error.message).toBe(message);
      }
      const names = (await ledger.listAccounts()).map((account) => account.name);
      for (const name of [
        '',
        'bad-mode',
        'bad-job',
        'bad-credits',
        'bad-price',
        'bad-fee',
        'bad-overdraft',
        'bad-markup',
        'bad-alert',
        'orphan',
      ]) {
        expect(names).not.toContain(name);
      }
    });

    it('refuses a taken name, compared after trimming, naming it', async () => {
      await ledger.createAccount({ name: 'taken', mode: 'consumption_usd' });
      const error = await refusal(ledger.createAccount({ name: ' taken ', mode: 'consumption_tokens', credits: d('5') }));
      expect(error).toBeInstanceOf(AccountNameTakenError);
      expect(error.message).toBe('an account named "taken" already exists; names are unique');
      expect((await ledger.getAccount('taken')).mode).toBe('consumption_usd');
    });

    it('logs the creation, and an error inside the transaction is passed on as it is, creating nothing', async () => {
      const lines: string[] = [];
      const logged = new Ledger(database.db, {
        logger: createLogger('info', { write: (line: string) => void lines.push(line) }),
      });
      const { account, apiKey } = await logged.createAccount({ name: 'logged', mode: 'consumption_tokens' });
      expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toMatchObject([
        { accountId: account.id, mode: 'consumption_tokens', keyPrefix: apiKey.prefix, msg: 'account created' },
      ]);

      const failing = new Ledger(database.db, {
        logger: createLogger('info', {
          write: () => {
            throw new Error('log disk full');
          },
        }),
      });
      const error = await refusal(failing.createAccount({ name: 'unlogged', mode: 'consumption_usd', credits: d('1') }));
      expect(error.constructor).toBe(Error);
      expect(error.message).toBe('log disk full');
      await expect(ledger.getAccount('unlogged')).rejects.toBeInstanceOf(AccountNotFoundError);
    });
  });

  describe('team accounts', () => {
    it('draw on a parent named by id or name, in its mode, with its job price, and no credits of their own', async () => {
      const { account: wallet } = await ledger.createAccount({
        name: 'wallet-jobs',
        mode: 'job_based',
        jobPrice: d('0.1'),
        credits: d('4'),
      });
      const { account: byName } = await ledger.createAccount({ name: 'team-by-name', mode: 'job_based', parent: 'wallet-jobs' });
      const { account: byId } = await ledger.createAccount({
        name: 'team-by-id',
        mode: 'job_based',
        parent: wallet.id,
        credits: d('0'),
      });
      expect([byName.parentId, byId.parentId]).toEqual([wallet.id, wallet.id]);
      expect([byName.balance.toString(), byName.jobPrice]).toEqual(['0', null]);
      expect(await ledger.entries(byId.id)).toEqual([]);
    });

    it("a team's team of a priced job_based wallet is charged the wallet's price: it needs none of its own, and may drop its own", async () => {
      await ledger.createAccount({ name: 'wallet-deep', mode: 'job_based', jobPrice: d('0.1') });
      await ledger.createAccount({ name: 'team-deep', mode: 'job_based', parent: 'wallet-deep' });
      const { account: sub } = await ledger.createAccount({ name: 'sub-team-deep', mode: 'job_based', parent: 'team-deep' });
      expect(sub.jobPrice).toBeNull();
      const priced = await ledger.updateAccount(sub.id, { jobPrice: d('0.25') });
      expect(priced.jobPrice?.toString()).toBe('0.25');
      expect((await ledger.updateAccount(sub.id, { jobPrice: null })).jobPrice).toBeNull();
      // Under a wallet without a price, a team has nothing to fall back on.
      await ledger.createAccount({ name: 'wallet-unpriced-team', mode: 'job_based', jobPrice: d('0.1') });
      await ledger.updateAccount('wallet-unpriced-team', { markupPercent: d('1') });
      const { account: team } = await ledger.createAccount({
        name: 'team-own-price',
        mode: 'job_based',
        parent: 'wallet-unpriced-team',
        jobPrice: d('0.3'),
      });
      await ledger.db.updateTable('accounts').set({ job_price: null }).where('name', '=', 'wallet-unpriced-team').execute();
      const refused = await refusal(ledger.updateAccount(team.id, { jobPrice: null }));
      expect(refused.message).toBe('invalid job price: a job_based account needs a job price');
      const orphan = await refusal(
        ledger.createAccount({ name: 'team-no-price', mode: 'job_based', parent: 'wallet-unpriced-team' }),
      );
      expect(orphan.message).toBe('invalid job price: a job_based account needs a job price (USD per successful call)');
    });

    it('an update that changes nothing returns the account as it is', async () => {
      const { account } = await ledger.createAccount({ name: 'update-nothing', mode: 'consumption_usd', credits: d('2') });
      expect(await ledger.updateAccount('update-nothing', {})).toEqual(account);
    });

    it('refuse another mode than the parent, and credits of their own', async () => {
      await ledger.createAccount({ name: 'wallet-usd', mode: 'consumption_usd', credits: d('1') });
      const mode = await refusal(ledger.createAccount({ name: 'team-mode', mode: 'consumption_tokens', parent: 'wallet-usd' }));
      expect(mode).toBeInstanceOf(InvalidAccountFieldError);
      expect(mode.message).toBe(
        "invalid mode: a team account draws on its parent's balance, so it has its parent's mode consumption_usd, not consumption_tokens",
      );
      const credits = await refusal(
        ledger.createAccount({ name: 'team-credits', mode: 'consumption_usd', parent: 'wallet-usd', credits: d('0.01') }),
      );
      expect(credits).toBeInstanceOf(InvalidAccountFieldError);
      expect(credits.message).toBe(
        'invalid credits: a team account has no credits of its own: grant them to its parent wallet-usd',
      );
    });

    it('refuse grants, adjustments and refunds, naming the wallet at the root of the chain', async () => {
      const { account: wallet } = await ledger.createAccount({ name: 'root-wallet', mode: 'consumption_usd', credits: d('2') });
      await ledger.createAccount({ name: 'mid-team', mode: 'consumption_usd', parent: 'root-wallet' });
      await ledger.createAccount({ name: 'leaf-team', mode: 'consumption_usd', parent: 'mid-team' });
      for (const operation of ['grant', 'adjust', 'refund'] as const) {
        const error = await refusal(ledger[operation]('leaf-team', d('1')));
        expect(error, operation).toBeInstanceOf(InvalidAccountFieldError);
        expect(error.message).toBe(
          'invalid account: leaf-team is a team account and draws on the balance of root-wallet: credit operations go to root-wallet',
        );
      }
      const direct = await refusal(ledger.grant('mid-team', d('1')));
      expect(direct.message).toBe(
        'invalid account: mid-team is a team account and draws on the balance of root-wallet: credit operations go to root-wallet',
      );
      // The wallet itself takes them.
      expect((await ledger.grant(wallet.id, d('1'))).account.balance.toString()).toBe('3');
      expect((await ledger.adjust('root-wallet', d('-0.5'))).entry.kind).toBe('adjust');
      expect((await ledger.entries('leaf-team')).length).toBe(0);
    });
  });

  describe('updateAccount', () => {
    it('sets each term alone, leaving the others as they were', async () => {
      const { account } = await ledger.createAccount({
        name: 'terms-update',
        mode: 'consumption_usd',
        credits: d('1'),
        jobPrice: d('1'),
        markupPercent: d('2'),
        markupFixedFee: d('3'),
        overdraftLimit: d('4'),
        lowBalanceAlert: d('5'),
      });
      const base = plain(account);
      expect(plain(await ledger.updateAccount('terms-update', { jobPrice: d('0.10') }))).toEqual({ ...base, jobPrice: '0.1' });
      expect(plain(await ledger.updateAccount('terms-update', { markupPercent: d('-7') }))).toEqual({
        ...base,
        jobPrice: '0.1',
        markupPercent: '-7',
      });
      expect(plain(await ledger.updateAccount(account.id, { markupFixedFee: d('0.3') }))).toMatchObject({
        jobPrice: '0.1',
        markupPercent: '-7',
        markupFixedFee: '0.3',
        overdraftLimit: '4',
      });
      expect(plain(await ledger.updateAccount(account.id, { overdraftLimit: d('0.4') }))).toMatchObject({
        markupFixedFee: '0.3',
        overdraftLimit: '0.4',
        lowBalanceAlert: '5',
      });
      expect(plain(await ledger.updateAccount(account.id, { lowBalanceAlert: d('0.5') }))).toEqual({
        ...base,
        jobPrice: '0.1',
        markupPercent: '-7',
        markupFixedFee: '0.3',
        overdraftLimit: '0.4',
        lowBalanceAlert: '0.5',
      });
      expect(plain(await ledger.updateAccount(account.id, { status: 'suspended' }))).toMatchObject({
        status: 'suspended',
        lowBalanceAlert: '0.5',
      });
      expect(plain(await ledger.getAccount(account.id))).toMatchObject({ status: 'suspended', jobPrice: '0.1' });
    });

    it('clears the nullable terms with null, and never touches the balances', async () => {
      const { account } = await ledger.createAccount({
        name: 'terms-clear',
        mode: 'consumption_usd',
        credits: d('2'),
        jobPrice: d('1'),
        markupPercent: d('2'),
        markupFixedFee: d('3'),
        lowBalanceAlert: d('5'),
      });
      const cleared = await ledger.updateAccount(account.id, {
        jobPrice: null,
        markupPercent: null,
        markupFixedFee: null,
        lowBalanceAlert: null,
        overdraftLimit: d('0'),
        status: 'active',
      });
      expect(plain(cleared)).toEqual({
        ...plain(account),
        jobPrice: null,
        markupPercent: null,
        markupFixedFee: null,
        lowBalanceAlert: null,
      });
      expect([cleared.balance.toString(), cleared.available.toString()]).toEqual(['2', '2']);
    });

    it('setStatus suspends and reactivates', async () => {
      await ledger.createAccount({ name: 'status-flip', mode: 'consumption_usd' });
      expect((await ledger.setStatus('status-flip', 'suspended')).status).toBe('suspended');
      expect((await ledger.getAccount('status-flip')).status).toBe('suspended');
      expect((await ledger.setStatus('status-flip', 'active')).status).toBe('active');
      expect((await ledger.getAccount('status-flip')).status).toBe('active');
    });

    it('keeps a job_based account priced, but lets it change its other terms', async () => {
      await ledger.createAccount({ name: 'jobs-update', mode: 'job_based', jobPrice: d('0.2') });
      const error = await refusal(ledger.updateAccount('jobs-update', { jobPrice: null }));
      expect(error).toBeInstanceOf(InvalidAccountFieldError);
      expect(error.message).toBe('invalid job price: a job_based account needs a job price');
      expect((await ledger.getAccount('jobs-update')).jobPrice?.toString()).toBe('0.2');
      const changed = await ledger.updateAccount('jobs-update', { status: 'suspended', markupPercent: d('5') });
      expect([changed.status, changed.jobPrice?.toString(), changed.markupPercent?.toString()]).toEqual([
        'suspended',
        '0.2',
        '5',
      ]);
      expect((await ledger.updateAccount('jobs-update', { jobPrice: d('0.3') })).jobPrice?.toString()).toBe('0.3');
    });

    it('refuses a bad status or amount, naming the field, and changes nothing', async () => {
      const { account } = await ledger.createAccount({ name: 'update-refusals', mode: 'consumption_tokens', jobPrice: d('1') });
      const cases: Array<[Parameters<Ledger['updateAccount']>[1], new (...args: never[]) => Error, string]> = [
        [
          { status: 'closed' as 'active' },
          InvalidAccountFieldError,
          'invalid status: must be "active" or "suspended", got "closed"',
        ],
        [{ jobPrice: d('-1') }, InvalidAmountError, 'invalid job price: must not be negative, got -1'],
        [{ markupFixedFee: d('-0.1') }, InvalidAmountError, 'invalid markup fixed fee: must not be negative, got -0.1'],
        [{ overdraftLimit: d('-3') }, InvalidAmountError, 'invalid overdraft limit: must not be negative, got -3'],
        [
          { markupPercent: d('1000000000000000') },
          InvalidAmountError,
          'invalid markup percent: must have at most 15 digits before the decimal point and 18 after, got 16 and 0',
        ],
        // In the account's unit: tokens are whole.
        [
          { lowBalanceAlert: d('2.5') },
          InvalidAmountError,
          'invalid low balance alert: token amounts are whole numbers, got 2.5',
        ],
        [{ lowBalanceAlert: d('-1') }, InvalidAmountError, 'invalid low balance alert: must not be negative, got -1'],
      ];
      for (const [changes, type, message] of cases) {
        const error = await refusal(ledger.updateAccount(account.id, changes));
        expect(error, message).toBeInstanceOf(type);
        expect(error.message).toBe(message);
      }
      expect(plain(await ledger.getAccount(account.id))).toEqual(plain(account));
      // A signed markup is fine.
      expect((await ledger.updateAccount(account.id, { markupPercent: d('-3') })).markupPercent?.toString()).toBe('-3');
      const missing = await refusal(ledger.updateAccount('nobody-here', { status: 'active' }));
      expect(missing).toBeInstanceOf(AccountNotFoundError);
      expect(missing.message).toBe('no account with id or name "nobody-here"');
    });

    it('takes a fractional low-balance alert on a USD account', async () => {
      await ledger.createAccount({ name: 'alert-update-usd', mode: 'consumption_usd' });
      expect((await ledger.updateAccount('alert-update-usd', { lowBalanceAlert: d('0.75') })).lowBalanceAlert?.toString()).toBe(
        '0.75',
      );
    });
  });

  describe('listing and reading', () => {
    it('lists every account by name', async () => {
      for (const name of ['order-b', 'order-c', 'order-a']) await ledger.createAccount({ name, mode: 'consumption_usd' });
      const names = (await ledger.listAccounts()).map((account) => account.name);
      expect(names.filter((name) => name.startsWith('order-'))).toEqual(['order-a', 'order-b', 'order-c']);
    });

    it('gives an account its entries newest first, twenty unless asked, of the kinds asked (none: every kind)', async () => {
      const { account } = await ledger.createAccount({ name: 'many-entries', mode: 'consumption_usd', credits: d('100') });
      for (let index = 1; index <= 20; index += 1) await ledger.grant(account.id, d(String(index)));
      await ledger.hold({ accountId: account.id, requestId: 'many-entries-hold', amount: d('1') });
      // 22 entries: the initial grant, 20 grants, a hold.
      const newest = await ledger.entries('many-entries');
      expect(newest.length).toBe(20);
      expect(newest.map((entry) => entry.amount.toString())).toEqual([
        '1',
        ...Array.from({ length: 19 }, (_, index) => String(20 - index)),
      ]);
      expect(newest[0]!.kind).toBe('hold');
      const ids = newest.map((entry) => entry.id);
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      expect((await ledger.entries('many-entries', { limit: 22 })).length).toBe(22);
      expect((await ledger.entries('many-entries', { limit: 22, kinds: [] })).length).toBe(22);
      expect((await ledger.entries('many-entries', { limit: 2 })).map((entry) => entry.kind)).toEqual(['hold', 'grant']);
      expect((await ledger.entries('many-entries', { kinds: ['hold'] })).map((entry) => entry.requestId)).toEqual([
        'many-entries-hold',
      ]);
      const grants = await ledger.entries('many-entries', { kinds: ['grant', 'capture'], limit: 100 });
      expect(grants.length).toBe(21);
      expect(grants[20]!.note).toBe('initial credits');
      await expect(ledger.entries('no-such-account')).rejects.toBeInstanceOf(AccountNotFoundError);
    });

    it('counts and totals open holds, none at first', async () => {
      const { account } = await ledger.createAccount({ name: 'open-holds', mode: 'consumption_usd', credits: d('5') });
      const none = await ledger.openHolds('open-holds');
      expect([none.count, none.total.toString()]).toEqual([0, '0']);
      await ledger.hold({ accountId: account.id, requestId: 'oh-1', amount: d('0.25') });
      await ledger.hold({ accountId: account.id, requestId: 'oh-2', amount: d('1.5') });
      const two = await ledger.openHolds(account.id);
      expect([two.count, two.total.toString()]).toEqual([2, '1.75']);
      await expect(ledger.openHolds('no-such-account')).rejects.toBeInstanceOf(AccountNotFoundError);
    });

    it('makes fresh request ids', () => {
      const first = Ledger.newRequestId();
      expect(first).toMatch(/^req_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(Ledger.newRequestId()).not.toBe(first);
    });
  });

  describe('settling through the ledger', () => {
    it('releases with the reason as the note, and refuses an adjustment past the overdraft limit', async () => {
      const { account } = await ledger.createAccount({ name: 'ledger-release', mode: 'consumption_usd', credits: d('1') });
      await ledger.hold({ accountId: account.id, requestId: 'lr-1', amount: d('0.4') });
      const released = await ledger.release('lr-1', 'client went away');
      expect([released.released, released.amount.toString()]).toEqual([true, '0.4']);
      const [release] = await ledger.entries(account.id, { kinds: ['release'] });
      expect([release!.note, release!.amount.toString()]).toEqual(['client went away', '0.4']);
      const error = await refusal(ledger.adjust(account.id, d('-1.01')));
      expect(error).toBeInstanceOf(InsufficientCreditsError);
      expect(error.message).toBe(`insufficient credits on account ${account.id}: this call needs 1.01 usd, 1 usd available`);
    });
  });
});
