import { describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { openLedgerFor } from '../../test/support/ledger-checks.js';
import { encodeCursor, InvalidCursorError } from '../db/keyset-pages.js';
import { Decimal } from '../money/decimal.js';
import { pageAccounts, pageEntries } from './account-pages.js';
import { AccountNotFoundError } from './errors.js';
import type { Ledger } from './ledger.js';

const d = (text: string) => Decimal.parse(text);

describe.each(backends())('account pages on $name', (backend) => {
  let database: TestDatabase;
  let ledger: Ledger;
  openLedgerFor(backend, (opened) => ({ database, ledger } = opened));

  const names = (page: { data: Array<{ name: string }> }) => page.data.map((account) => account.name);

  it('pages accounts by name: full pages carry a cursor, the last page none, even when exactly full', async () => {
    for (const name of ['p-d', 'p-b', 'p-e', 'p-a', 'p-c']) await ledger.createAccount({ name, mode: 'consumption_usd' });
    const first = await pageAccounts(database.db, { limit: 2 });
    expect(names(first)).toEqual(['p-a', 'p-b']);
    expect(first.nextCursor).toBe(encodeCursor('p-b'));
    const second = await pageAccounts(database.db, { limit: 2, cursor: first.nextCursor! });
    expect(names(second)).toEqual(['p-c', 'p-d']);
    expect(second.nextCursor).toBe(encodeCursor('p-d'));
    const last = await pageAccounts(database.db, { limit: 2, cursor: second.nextCursor! });
    expect(names(last)).toEqual(['p-e']);
    expect(last.nextCursor).toBeNull();
    const exact = await pageAccounts(database.db, { limit: 5 });
    expect([names(exact), exact.nextCursor]).toEqual([['p-a', 'p-b', 'p-c', 'p-d', 'p-e'], null]);
    const short = await pageAccounts(database.db, { limit: 4 });
    expect([names(short), short.nextCursor]).toEqual([['p-a', 'p-b', 'p-c', 'p-d'], encodeCursor('p-d')]);
    // A page holds at least one account.
    expect(names(await pageAccounts(database.db, { limit: 0 }))).toEqual(['p-a']);
    expect(names(await pageAccounts(database.db, { limit: 1, cursor: encodeCursor('p-e') }))).toEqual([]);
    expect(first.data[0]!.balance.toString()).toBe('0');
  });

  it('finds accounts whose name contains the search in any case, or whose id it is, of one status', async () => {
    const { account: shop } = await ledger.createAccount({ name: 'Shop-North', mode: 'consumption_usd', credits: d('3') });
    await ledger.createAccount({ name: 'shop-south', mode: 'consumption_usd' });
    await ledger.createAccount({ name: 'sale_100%', mode: 'consumption_usd' });
    await ledger.createAccount({ name: 'sale-1000', mode: 'consumption_usd' });
    expect(names(await pageAccounts(database.db, { limit: 10, search: 'HOP-' })).sort()).toEqual(['Shop-North', 'shop-south']);
    expect(names(await pageAccounts(database.db, { limit: 10, search: shop.id }))).toEqual(['Shop-North']);
    expect(names(await pageAccounts(database.db, { limit: 10, search: '100%' }))).toEqual(['sale_100%']);
    expect(names(await pageAccounts(database.db, { limit: 10, search: 'nothing-like-it' }))).toEqual([]);
    await ledger.setStatus('shop-south', 'suspended');
    expect(names(await pageAccounts(database.db, { limit: 10, search: 'shop', status: 'suspended' }))).toEqual(['shop-south']);
    expect(names(await pageAccounts(database.db, { limit: 10, search: 'shop', status: 'active' }))).toEqual(['Shop-North']);
    const suspended = await pageAccounts(database.db, { limit: 10, status: 'suspended' });
    expect(names(suspended)).toEqual(['shop-south']);
    // No search (or an empty one) and no status: every account.
    const every = await pageAccounts(database.db, { limit: 100 });
    expect(every.data.length).toBe(9);
    expect((await pageAccounts(database.db, { limit: 100, search: '' })).data.length).toBe(9);
  });

  it('refuses a cursor no page handed out', async () => {
    const error = await pageAccounts(database.db, { limit: 2, cursor: 'not a cursor!' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidCursorError);
    await expect(pageEntries(database.db, 'p-a', { limit: 2, cursor: encodeCursor('p-a') })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
  });

  it("pages an account's entries newest first, of the kinds asked", async () => {
    const { account } = await ledger.createAccount({ name: 'paged-entries', mode: 'consumption_usd', credits: d('10') });
    await ledger.grant(account.id, d('1'));
    await ledger.hold({ accountId: account.id, requestId: 'pe-1', amount: d('2') });
    await ledger.capture({ requestId: 'pe-1', amount: d('0.5') });
    await ledger.grant(account.id, d('3'));
    const amounts = (page: { data: Array<{ kind: string; amount: Decimal }> }) =>
      page.data.map((entry) => `${entry.kind} ${entry.amount.toString()}`);
    const first = await pageEntries(database.db, 'paged-entries', { limit: 2 });
    expect(amounts(first)).toEqual(['grant 3', 'capture -0.5']);
    expect(first.nextCursor).toBe(encodeCursor(first.data[1]!.id));
    const second = await pageEntries(database.db, account.id, { limit: 2, cursor: first.nextCursor! });
    expect(amounts(second)).toEqual(['hold 2', 'grant 1']);
    const last = await pageEntries(database.db, account.id, { limit: 2, cursor: second.nextCursor! });
    expect([amounts(last), last.nextCursor]).toEqual([['grant 10'], null]);
    const exact = await pageEntries(database.db, account.id, { limit: 5 });
    expect([exact.data.length, exact.nextCursor]).toEqual([5, null]);
    expect(amounts(await pageEntries(database.db, account.id, { limit: 10, kinds: ['grant'] }))).toEqual([
      'grant 3',
      'grant 1',
      'grant 10',
    ]);
    expect(amounts(await pageEntries(database.db, account.id, { limit: 10, kinds: ['hold', 'capture'] }))).toEqual([
      'capture -0.5',
      'hold 2',
    ]);
    expect((await pageEntries(database.db, account.id, { limit: 10, kinds: [] })).data.length).toBe(5);
    const grants = await pageEntries(database.db, account.id, { limit: 1, kinds: ['grant'] });
    expect(
      amounts(await pageEntries(database.db, account.id, { limit: 10, kinds: ['grant'], cursor: grants.nextCursor! })),
    ).toEqual(['grant 1', 'grant 10']);
    const missing = await pageEntries(database.db, 'no-such-account', { limit: 2 }).catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(AccountNotFoundError);
  });
});
