import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { Decimal } from '../money/decimal.js';
import { registerModels } from './model-registry.js';
import { priceAt, priceHistory, writePriceVersion } from './price-history.js';

const rates = (input: string) => ({ rates: { input: Decimal.parse(input), output: Decimal.parse(input) }, tiers: [] });
const at = (iso: string) => new Date(iso);

/**
 * Which version prices a moment: a version covers [effective_from, effective_until), so at the instant of a
 * change the new version applies, and a moment in a gap between two versions (a price withdrawn, then set
 * again) has no price at all rather than the withdrawn one.
 */
describe.each(backends())('price history on $name', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await backend.open();
    await registerModels(database.db, [
      { id: 'm-changed', provider: 'openai', upstream_model: 'm-changed', active: true, modality: 'text' },
      { id: 'm-gap', provider: 'openai', upstream_model: 'm-gap', active: true, modality: 'text' },
    ]);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('a change closes the old version at the instant the new one starts; each moment has exactly one version', async () => {
    const first = await writePriceVersion(database.db, 'm-changed', rates('0.000001'), 'test', at('2025-01-01T00:00:00Z'));
    const second = await writePriceVersion(database.db, 'm-changed', rates('0.000002'), 'test', at('2025-02-01T00:00:00Z'));
    expect(second).toMatchObject({ previousVersion: first.version, changed: true });
    const inputAt = async (iso: string) => (await priceAt(database.db, 'm-changed', at(iso)))?.rates.input.toString();
    expect(await inputAt('2024-12-31T23:59:59.999Z')).toBeUndefined();
    expect(await inputAt('2025-01-01T00:00:00Z')).toBe('0.000001');
    expect(await inputAt('2025-01-31T23:59:59.999Z')).toBe('0.000001');
    expect(await inputAt('2025-02-01T00:00:00Z')).toBe('0.000002');
    expect((await priceAt(database.db, 'm-changed'))?.version).toBe(second.version);
    const history = await priceHistory(database.db, 'm-changed');
    expect(history.map((price) => [price.version, price.effectiveUntil?.toISOString()])).toEqual([
      [first.version, '2025-02-01T00:00:00.000Z'],
      [second.version, undefined],
    ]);
    // The same price again writes nothing.
    expect(await writePriceVersion(database.db, 'm-changed', rates('0.000002'), 'test', at('2025-03-01T00:00:00Z'))).toEqual({
      version: second.version,
      previousVersion: undefined,
      changed: false,
    });
    await expect(
      writePriceVersion(database.db, 'm-changed', rates('0.000003'), 'test', at('2025-02-01T00:00:00Z')),
    ).rejects.toThrow('a new price must start after the current version');
  });

  it('a moment in a gap between versions has no price: the end of a version is not part of it', async () => {
    const withdrawn = await writePriceVersion(database.db, 'm-gap', rates('0.000001'), 'test', at('2025-01-01T00:00:00Z'));
    // Withdrawn on Feb 1 (closed with no successor), priced again from Mar 1.
    await database.db
      .updateTable('model_prices')
      .set({ effective_until: at('2025-02-01T00:00:00Z') })
      .where('id', '=', withdrawn.version)
      .execute();
    const again = await writePriceVersion(database.db, 'm-gap', rates('0.000005'), 'test', at('2025-03-01T00:00:00Z'));
    expect(again.previousVersion).toBeUndefined();
    const versionAt = async (iso: string) => (await priceAt(database.db, 'm-gap', at(iso)))?.version;
    expect(await versionAt('2025-01-31T23:59:59.999Z')).toBe(withdrawn.version);
    expect(await versionAt('2025-02-01T00:00:00Z')).toBeUndefined();
    expect(await versionAt('2025-02-15T00:00:00Z')).toBeUndefined();
    expect(await versionAt('2025-03-01T00:00:00Z')).toBe(again.version);
  });
});
