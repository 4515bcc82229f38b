import { describe, expect, it } from 'vitest';
import {
  amountProblem,
  compareAmounts,
  formatAmount,
  formatCount,
  formatPerMillion,
  formatShare,
  groupDigits,
  sumAmounts,
} from './amounts.ts';

describe('console amount formatting', () => {
  it('keeps every digit of an amount and groups the whole part', () => {
    expect(formatAmount('0.00002175')).toBe('$0.00002175');
    expect(formatAmount('12345.5')).toBe('$12,345.50');
    expect(formatAmount('1234567.123456789012')).toBe('$1,234,567.123456789012');
    expect(formatAmount('-0.5')).toBe('-$0.50');
    expect(formatAmount('10')).toBe('$10.00');
    expect(formatAmount('0.00035370')).toBe('$0.0003537');
    expect(formatAmount('100000', 'tokens')).toBe('100,000 tokens');
    expect(groupDigits('999')).toBe('999');
    expect(groupDigits('1000')).toBe('1,000');
  });

  it('turns per-token rates into per-1M prices exactly', () => {
    expect(formatPerMillion('0.0000025')).toBe('$2.50');
    expect(formatPerMillion('9E-7')).toBe('$0.90');
    expect(formatPerMillion('0.00000015')).toBe('$0.15');
    expect(formatPerMillion('0.000000075')).toBe('$0.075');
  });

  it('adds and compares as decimals, where floats would not', () => {
    // 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
    expect(sumAmounts(['0.1', '0.2'])).toBe('0.3');
    expect(compareAmounts('0.30000000000000001', '0.3')).toBe(1);
    expect(formatCount(1234567)).toBe('1,234,567');
  });

  it('computes shares on integers', () => {
    expect(formatShare(1, 3)).toBe('33.33%');
    expect(formatShare(2, 3)).toBe('66.67%');
    expect(formatShare(0, 5)).toBe('0.00%');
    expect(formatShare(5, 5)).toBe('100.00%');
    expect(formatShare(1, 0)).toBe('–');
  });

  it('says what is wrong with an amount typed into a form', () => {
    expect(amountProblem('10.50')).toBeNull();
    expect(amountProblem('1e3')).toBe('a number such as 10 or 0.50');
    expect(amountProblem('-2')).toBe('a number such as 10 or 0.50');
    expect(amountProblem('-2', { signed: true })).toBeNull();
    expect(amountProblem(' ')).toBe('enter an amount');
  });
});
