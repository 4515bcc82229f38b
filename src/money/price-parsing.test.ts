import { LosslessNumber } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { InvalidPriceError, MAX_BELIEVABLE_TOKEN_RATE, parsePrice } from './units.js';

const location = { file: 'prices.json', model: 'gpt-4o', field: 'input' };

/** What the error says it got, and why (each case was a mutant of units.ts that no test noticed). */
function refusal(value: unknown): { reason: string; message: string; name: string } {
  try {
    parsePrice(value, location);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidPriceError);
    return { reason: (error as InvalidPriceError).reason, message: (error as Error).message, name: (error as Error).name };
  }
  throw new Error(`${String(value)} was accepted`);
}

describe('parsePrice: what a price file may hold', () => {
  it('reads the exact text of a lossless-json number, a bigint and a safe integer', () => {
    expect(parsePrice(new LosslessNumber('9E-7'), location).toString()).toBe('0.0000009');
    expect(parsePrice(12n, location).toString()).toBe('12');
    expect(parsePrice(0, location).toString()).toBe('0');
  });

  it.each(['NaN', 'nan', '-Infinity', '+inf', 'inf', ' Infinity ', 'INF'])('refuses %j as not finite', (text) => {
    expect(refusal(text).reason).toBe('not a finite number');
  });

  it.each(['infx', 'xinf', 'nanny', 'infinit'])(
    'refuses %j as not a decimal number (only whole words are NaN or infinity)',
    (text) => {
      expect(refusal(text).reason).toBe('not a decimal number');
    },
  );

  it('refuses a float that lost its text, infinities as numbers, and says what it got', () => {
    expect(refusal(1.5)).toMatchObject({ reason: 'not a number', name: 'InvalidPriceError' });
    expect(refusal(Number.POSITIVE_INFINITY).reason).toBe('not a finite number');
    expect(refusal(Number.NaN).reason).toBe('not a finite number');
    expect(refusal(-5n).message).toBe('prices.json: model gpt-4o, field input: negative price (got -5)');
    expect(refusal(new LosslessNumber('-1e-6')).message).toBe(
      'prices.json: model gpt-4o, field input: negative price (got -1e-6)',
    );
    expect(refusal('abc').message).toBe('prices.json: model gpt-4o, field input: not a decimal number (got "abc")');
    expect(refusal({ usd: 1 }).message).toBe('prices.json: model gpt-4o, field input: not a number (got {"usd":1})');
    expect(refusal(undefined).message).toBe('prices.json: model gpt-4o, field input: not a number (got undefined)');
  });

  it('holds the believable ceiling of a per-token rate at $1,000 per 1M', () => {
    expect(MAX_BELIEVABLE_TOKEN_RATE.toString()).toBe('0.001');
  });
});
