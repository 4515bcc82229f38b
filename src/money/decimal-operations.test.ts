import { describe, expect, it } from 'vitest';
import { Decimal, DecimalParseError } from './decimal.js';

const d = Decimal.parse;

/**
 * Every operation of Decimal at its edges: what the property tests (decimal.test.ts) sample rarely or never,
 * stated case by case (each case here was a mutant of decimal.ts that no test noticed).
 */
describe('Decimal.parse edges', () => {
  it('reads a number with no digit before the point, or none after it', () => {
    expect(d('.5').toString()).toBe('0.5');
    expect(d('-.25').toString()).toBe('-0.25');
    expect(d('7.').toString()).toBe('7');
  });

  it('ignores surrounding whitespace', () => {
    expect(d(' 0.5 ').toString()).toBe('0.5');
    expect(d('\t9E-7\n').toString()).toBe('0.0000009');
  });

  it('takes exponents up to 400 either way, and refuses beyond', () => {
    expect(d('1e400').toString()).toBe(`1${'0'.repeat(400)}`);
    expect(d('1e-400').toString()).toBe(`0.${'0'.repeat(399)}1`);
    expect(() => d('1e401')).toThrow(DecimalParseError);
    expect(() => d('1e-401')).toThrow(DecimalParseError);
    expect(() => d('1e99999999999999999999')).toThrow(DecimalParseError);
  });

  it('refuses text with no digits, and says what it got', () => {
    for (const text of ['', '.', '-', 'e5', '1_000', 'abc']) expect(() => d(text)).toThrow(DecimalParseError);
    const error = (() => {
      try {
        d('12abc');
      } catch (caught) {
        return caught as DecimalParseError;
      }
      throw new Error('no error');
    })();
    expect(error.name).toBe('DecimalParseError');
    expect(error.message).toBe('not a finite decimal number: "12abc"');
    expect(error.text).toBe('12abc');
  });
});

describe('Decimal construction and conversion', () => {
  it('of() takes safe integers and bigints, and refuses fractions and unsafe integers', () => {
    expect(Decimal.of(42).toString()).toBe('42');
    expect(Decimal.of(-7n).toString()).toBe('-7');
    expect(() => Decimal.of(1.5)).toThrow('Decimal.of takes integers only, got 1.5; parse decimal text instead');
    expect(() => Decimal.of(2 ** 53)).toThrow(RangeError);
  });

  it('isDecimal() tells a Decimal from anything else', () => {
    expect(Decimal.isDecimal(d('1'))).toBe(true);
    expect(Decimal.isDecimal('1')).toBe(false);
    expect(Decimal.isDecimal({ coefficient: 1n, scale: 0 })).toBe(false);
  });

  it('toFixed() pads or rounds half-even to the places asked', () => {
    expect(d('0.000001').toFixed(6)).toBe('0.000001');
    expect(d('1.5').toFixed(3)).toBe('1.500');
    expect(d('2').toFixed(2)).toBe('2.00');
    expect(d('0.125').toFixed(2)).toBe('0.12');
    expect(d('2.5').toFixed(0)).toBe('2');
    expect(d('3.5').toFixed(0)).toBe('4');
  });

  it('serialises to JSON as its exact text, and to a number only for display', () => {
    expect(JSON.stringify({ amount: d('0.0000009') })).toBe('{"amount":"0.0000009"}');
    expect(d('0.25').toNumberForDisplay()).toBe(0.25);
    expect(d('-3').toNumberForDisplay()).toBe(-3);
  });

  it('toBigInt() gives an integer value and refuses a fraction', () => {
    expect(d('1000').toBigInt()).toBe(1000n);
    expect(d('-5').toBigInt()).toBe(-5n);
    expect(() => d('1.5').toBigInt()).toThrow('1.5 is not an integer');
  });
});

describe('Decimal comparisons', () => {
  const cases: Array<[string, string, -1 | 0 | 1]> = [
    ['1', '2', -1],
    ['2', '1', 1],
    ['0.10', '0.1', 0],
    ['-0.5', '0.25', -1],
    ['0.0000001', '0', 1],
  ];

  it.each(cases)('cmp(%s, %s) = %i, and every comparison agrees with it', (left, right, order) => {
    const [a, b] = [d(left), d(right)];
    expect(a.cmp(b)).toBe(order);
    expect([a.eq(b), a.lt(b), a.lte(b), a.gt(b), a.gte(b)]).toEqual([order === 0, order < 0, order <= 0, order > 0, order >= 0]);
    expect(Decimal.max(a, b).toString()).toBe((order >= 0 ? a : b).toString());
    expect(Decimal.min(a, b).toString()).toBe((order <= 0 ? a : b).toString());
  });

  it('knows zero, sign and integers', () => {
    const facts = (text: string) => {
      const value = d(text);
      return [value.isZero(), value.isNegative(), value.isPositive(), value.isInteger()];
    };
    expect(facts('0')).toEqual([true, false, false, true]);
    expect(facts('0.000')).toEqual([true, false, false, true]);
    expect(facts('-0.5')).toEqual([false, true, false, false]);
    expect(facts('3')).toEqual([false, false, true, true]);
    expect(facts('3.10')).toEqual([false, false, true, false]);
  });

  it('abs() and neg() flip the sign only', () => {
    expect(d('-2.5').abs().toString()).toBe('2.5');
    expect(d('2.5').abs().toString()).toBe('2.5');
    expect(d('2.5').neg().toString()).toBe('-2.5');
    expect(Decimal.ZERO.abs().toString()).toBe('0');
  });
});

describe('Decimal.round modes', () => {
  it.each<[string, number, 'half-even' | 'half-up' | 'up' | 'down', string]>([
    ['1.21', 1, 'half-up', '1.2'],
    ['1.25', 1, 'half-up', '1.3'],
    ['-1.25', 1, 'half-up', '-1.3'],
    ['1.21', 1, 'up', '1.3'],
    ['-1.21', 1, 'up', '-1.3'],
    ['1.29', 1, 'down', '1.2'],
    ['-1.29', 1, 'down', '-1.2'],
    ['1.25', 1, 'half-even', '1.2'],
    ['1.35', 1, 'half-even', '1.4'],
    ['1.251', 1, 'half-even', '1.3'],
    ['1.2', 1, 'up', '1.2'],
    ['1.2', 3, 'up', '1.2'],
  ])('%s to %i places, %s: %s', (value, places, mode, expected) => {
    expect(d(value).round(places, mode).toString()).toBe(expected);
  });

  it('rounds half-even when no mode is named', () => {
    expect(d('0.25').round(1).toString()).toBe('0.2');
    expect(d('0.35').round(1).toString()).toBe('0.4');
  });
});
