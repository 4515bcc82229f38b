import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, DecimalParseError } from './decimal.js';

/** Decimal text built from an integer and a number of places: `-12345`, 3 -> `-12.345`. */
export const decimalText = fc
  .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 24 }))
  .map(([coefficient, places]) => {
    const negative = coefficient < 0n;
    const digits = (negative ? -coefficient : coefficient).toString().padStart(places + 1, '0');
    const text = places === 0 ? digits : `${digits.slice(0, -places)}.${digits.slice(-places)}`;
    return (negative ? '-' : '') + text;
  });
const decimal = decimalText.map((text) => Decimal.parse(text));

describe('Decimal', () => {
  it('parses the notations price files use, exactly', () => {
    expect(Decimal.parse('9E-7').toString()).toBe('0.0000009');
    expect(Decimal.parse('2.5e-06').toString()).toBe('0.0000025');
    expect(Decimal.parse('0.90').eq(Decimal.parse('0.9'))).toBe(true);
    expect(Decimal.parse('0.90').shift(-6).toString()).toBe('0.0000009');
    expect(Decimal.parse('1e3').toString()).toBe('1000');
    expect(Decimal.parse('-0.000').isZero()).toBe(true);
    for (const bad of ['', 'abc', '1_000', 'NaN', 'Infinity', '1.2.3', 'e5']) {
      expect(() => Decimal.parse(bad)).toThrow(DecimalParseError);
    }
  });

  it('rounds with the named mode', () => {
    expect(Decimal.parse('0.125').round(2, 'half-even').toString()).toBe('0.12');
    expect(Decimal.parse('0.135').round(2, 'half-even').toString()).toBe('0.14');
    expect(Decimal.parse('0.125').round(2, 'half-up').toString()).toBe('0.13');
    expect(Decimal.parse('0.121').round(2, 'up').toString()).toBe('0.13');
    expect(Decimal.parse('0.129').round(2, 'down').toString()).toBe('0.12');
    expect(Decimal.parse('-0.125').round(2, 'half-up').toString()).toBe('-0.13');
  });

  it('adds 0.1 ten times to exactly 1, where binary floats drift', () => {
    const tenth = Decimal.parse('0.1');
    expect(Decimal.sum(Array.from({ length: 10 }, () => tenth)).toString()).toBe('1');
    expect(Decimal.parse('0.0000009').times(1_000_000).toString()).toBe('0.9');
  });

  it('toString then parse gives the same value (property)', () => {
    fc.assert(
      fc.property(
        decimal,
        (value) => Decimal.parse(value.toString()).eq(value) && Decimal.parse(value.toString()).toString() === value.toString(),
      ),
    );
  });

  it('parses its own text back to the same digits (property)', () => {
    fc.assert(fc.property(decimalText, (text) => Decimal.parse(text).eq(Decimal.parse(Decimal.parse(text).toString()))));
  });

  it('add and sub are inverse, add is commutative and associative (property)', () => {
    fc.assert(
      fc.property(decimal, decimal, decimal, (a, b, c) => {
        expect(a.add(b).sub(b).eq(a)).toBe(true);
        expect(a.add(b).eq(b.add(a))).toBe(true);
        expect(
          a
            .add(b)
            .add(c)
            .eq(a.add(b.add(c))),
        ).toBe(true);
      }),
    );
  });

  it('mul distributes over add and times(n) equals n additions (property)', () => {
    fc.assert(
      fc.property(decimal, decimal, decimal, fc.integer({ min: 0, max: 50 }), (a, b, c, n) => {
        expect(a.mul(b.add(c)).eq(a.mul(b).add(a.mul(c)))).toBe(true);
        expect(a.times(n).eq(Decimal.sum(Array.from({ length: n }, () => a)))).toBe(true);
      }),
    );
  });

  it('times(n) equals the product of the digits, on both sides of 2^53 (property)', () => {
    // Coefficients and counts around the largest safe integer, where times() leaves number arithmetic for bigints.
    const near = (limit: bigint) => fc.bigInt({ min: -limit, max: limit });
    const edge = fc.oneof(near(2n ** 20n), near(2n ** 40n), near(2n ** 53n + 1000n), near(10n ** 30n));
    fc.assert(
      fc.property(
        edge,
        fc.integer({ min: 0, max: 30 }),
        fc.oneof(fc.nat(), fc.integer({ min: 2 ** 52, max: Number.MAX_SAFE_INTEGER })),
        (coefficient, places, count) => {
          const rate = Decimal.scaled(coefficient, places);
          const product = rate.times(count);
          expect(product.eq(Decimal.scaled(coefficient * BigInt(count), places))).toBe(true);
          expect(product.eq(rate.times(BigInt(count)))).toBe(true);
          // One representation per value: no trailing zeros after the point.
          expect(product.toString()).toBe(Decimal.parse(product.toString()).toString());
          if (product.scale > 0) expect(product.coefficient % 10n).not.toBe(0n);
        },
      ),
      { numRuns: 2000 },
    );
    expect(Decimal.parse('0.00000015').times(9_007_199_254_740_991).toString()).toBe('1351079888.21114865');
    expect(Decimal.parse('-2.5').times(4).toString()).toBe('-10');
    expect(() => Decimal.scaled(1n, -1)).toThrow(RangeError);
  });

  it('knows the sign of a value past 2^53, and refuses what fromSafeInteger and scaled cannot hold exactly', () => {
    for (const [text, sign] of [
      ['1e30', 1],
      ['-1e30', -1],
      ['9007199254740993', 1],
      ['-0.9007199254740993', -1],
    ] as const) {
      const value = Decimal.parse(text);
      expect(value.safeCoefficient).toBeNaN(); // held as a bigint
      expect([value.isPositive(), value.isNegative(), value.isZero()]).toEqual([sign > 0, sign < 0, false]);
    }
    expect(Decimal.fromSafeInteger(-1500, 3).toString()).toBe('-1.5');
    expect(Decimal.fromSafeInteger(0, 7)).toBe(Decimal.ZERO);
    // Scale 0 is a scale: a whole number of units.
    expect(Decimal.fromSafeInteger(42, 0).toString()).toBe('42');
    expect(() => Decimal.fromSafeInteger(2 ** 53, 0)).toThrow('not a safe integer: 9007199254740992');
    expect(() => Decimal.fromSafeInteger(1.5, 0)).toThrow('not a safe integer: 1.5');
    expect(() => Decimal.fromSafeInteger(1, -1)).toThrow('a scale is a whole number of places, got -1');
    expect(() => Decimal.fromSafeInteger(1, 0.5)).toThrow('a scale is a whole number of places, got 0.5');
    expect(() => Decimal.scaled(1n, 0.5)).toThrow('a scale is a whole number of places, got 0.5');
  });

  it('add, sub and cmp equal bigint arithmetic on both sides of 2^53 (property)', () => {
    const near = (limit: bigint) => fc.bigInt({ min: -limit, max: limit });
    const edge = fc
      .tuple(
        fc.oneof(near(2n ** 20n), near(2n ** 52n), near(2n ** 53n + 5000n), near(10n ** 30n)),
        fc.integer({ min: 0, max: 20 }),
      )
      .map(([coefficient, places]) => ({ coefficient, places, value: Decimal.scaled(coefficient, places) }));
    /** The reference: both at the larger scale, as bigints. */
    const atScale = (coefficient: bigint, places: number, scale: number) => coefficient * 10n ** BigInt(scale - places);
    fc.assert(
      fc.property(edge, edge, (x, y) => {
        const scale = Math.max(x.places, y.places);
        const a = atScale(x.coefficient, x.places, scale);
        const b = atScale(y.coefficient, y.places, scale);
        expect(x.value.add(y.value).toString()).toBe(Decimal.scaled(a + b, scale).toString());
        expect(x.value.sub(y.value).toString()).toBe(Decimal.scaled(a - b, scale).toString());
        expect(x.value.cmp(y.value)).toBe(a < b ? -1 : a > b ? 1 : 0);
        expect(Decimal.sum([x.value, y.value, x.value]).toString()).toBe(Decimal.scaled(a + b + a, scale).toString());
        // One form per value, whichever path built it: equal values are equal objects.
        expect(x.value.add(y.value)).toEqual(Decimal.parse(x.value.add(y.value).toString()));
      }),
      { numRuns: 3000 },
    );
  });

  it('round stays within half a unit of the last place and is idempotent (property)', () => {
    fc.assert(
      fc.property(decimal, fc.integer({ min: 0, max: 12 }), (value, places) => {
        const rounded = value.round(places, 'half-even');
        const half = Decimal.parse(`0.5e-${places}`);
        expect(rounded.sub(value).abs().lte(half)).toBe(true);
        expect(rounded.round(places, 'half-even').eq(rounded)).toBe(true);
        expect(value.round(places, 'down').abs().lte(value.abs())).toBe(true);
        expect(value.round(places, 'up').abs().gte(value.abs())).toBe(true);
      }),
    );
  });
});

describe('Decimal.parse normalises', () => {
  it('drops trailing zeros so equal values print the same', () => {
    expect(Decimal.parse('0.90').toString()).toBe('0.9');
    expect(Decimal.parse('1.500e2').toString()).toBe('150');
    expect(Decimal.parse('0.000').toString()).toBe('0');
    expect(Decimal.parse('0.90').coefficient).toBe(Decimal.parse('0.9').coefficient);
  });
});
