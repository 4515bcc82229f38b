import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from './decimal.js';
import { fromPerUnit, InvalidPriceError, parsePrice, parsePriceIn, toPerUnit, type PriceUnit } from './units.js';

const location = { file: 'prices.json', model: 'gpt-4o', field: 'input' };
/** Non-negative prices as a file would write them: up to 12 integer digits and 18 decimals. */
const priceText = fc
  .tuple(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: 0, max: 18 }))
  .map(([coefficient, places]) => {
    const digits = coefficient.toString().padStart(places + 1, '0');
    return places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`;
  });

describe('price units', () => {
  it("holds the seed's examples exactly", () => {
    expect(parsePriceIn('2.50', 'usd-per-1m', location).toString()).toBe('0.0000025');
    expect(parsePriceIn('0.00125', 'usd-per-1k', location).toString()).toBe('0.00000125');
    expect(parsePriceIn('0.90', 'usd-per-1m', location).eq(Decimal.parse('9E-7'))).toBe(true);
    // Portkey: 0.00025 US cents per token = $0.0000025 per token.
    expect(parsePriceIn('0.00025', 'cents-per-unit', location).toString()).toBe('0.0000025');
  });

  it.each<PriceUnit>(['usd-per-1m', 'usd-per-1k', 'cents-per-unit', 'usd-per-unit'])(
    '%s -> per token -> %s round-trips exactly (property)',
    (unit) => {
      fc.assert(
        fc.property(priceText, (text) => {
          const quoted = Decimal.parse(text);
          const perToken = toPerUnit(quoted, unit);
          expect(fromPerUnit(perToken, unit).eq(quoted)).toBe(true);
        }),
      );
    },
  );

  it('per-1M and per-1K quotes of the same price agree exactly (property)', () => {
    fc.assert(
      fc.property(priceText, (text) => {
        const perMillion = Decimal.parse(text);
        const perThousand = perMillion.shift(-3);
        expect(toPerUnit(perMillion, 'usd-per-1m').eq(toPerUnit(perThousand, 'usd-per-1k'))).toBe(true);
        expect(toPerUnit(perMillion, 'usd-per-1m').times(1_000_000).eq(perMillion)).toBe(true);
      }),
    );
  });

  it.each([
    ['-0.5', 'negative price'],
    ['NaN', 'not a finite number'],
    ['Infinity', 'not a finite number'],
    ['abc', 'not a decimal number'],
    ['', 'not a decimal number'],
  ])('refuses %j naming file, model and field', (value, reason) => {
    expect(() => parsePrice(value, location)).toThrow(InvalidPriceError);
    expect(() => parsePrice(value, location)).toThrow(`prices.json: model gpt-4o, field input: ${reason}`);
  });

  it('refuses a float that lost its text and other non-numbers', () => {
    expect(() => parsePrice(0.1, location)).toThrow('not a number');
    expect(() => parsePrice(null, location)).toThrow('not a number');
    expect(() => parsePrice({}, location)).toThrow('not a number');
    expect(parsePrice(3, location).toString()).toBe('3');
  });
});
