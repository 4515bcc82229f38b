import { describe, expect, it } from 'vitest';
import { Decimal } from '../money/decimal.js';
import type { ModelPrice } from './types.js';
import { formatTimeOfDay, inWindow, parseTimeOfDay, priceInForce, windowLabel } from './windows.js';

const at = (time: string) => Date.parse(`2026-11-02T${time}Z`);

describe('time-of-day windows', () => {
  it('reads and writes UTC times of day', () => {
    expect(parseTimeOfDay('00:30:00Z')).toBe(1_800);
    expect(parseTimeOfDay('16:30')).toBe(59_400);
    expect(formatTimeOfDay(59_400)).toBe('16:30:00');
    expect(windowLabel({ startSecond: 1_800, endSecond: 59_400 })).toBe('00:30:00-16:30:00 UTC');
    expect(() => parseTimeOfDay('25:00:00')).toThrow('"25:00:00" is not a UTC time of day (HH:MM:SS)');
  });

  it('reads seconds with milliseconds, surrounding spaces and an optional Z, and refuses anything else', () => {
    expect(parseTimeOfDay(' 16:30:15.5Z ')).toBe(59_415.5);
    expect(parseTimeOfDay('23:59:59.999')).toBe(86_399.999);
    expect(parseTimeOfDay('07:05')).toBe(25_500);
    expect(formatTimeOfDay(59_415.5)).toBe('16:30:15.500');
    expect(formatTimeOfDay(59_415.05)).toBe('16:30:15.050');
    expect(windowLabel({ startSecond: 59_415.25, endSecond: 1_800 })).toBe('16:30:15.250-00:30:00 UTC');
    for (const bad of ['24:00', '7:05', '07:60', '07:05:60', '07:05:00.1234', 'x07:05', '07:05:00ZZ', '07:05:00.'])
      expect(() => parseTimeOfDay(bad)).toThrow(`"${bad}" is not a UTC time of day (HH:MM:SS)`);
  });

  it('a window past midnight holds from its start exactly', () => {
    const night = { startSecond: 59_400, endSecond: 1_800 };
    expect([at('16:29:59.999'), at('16:30:00'), at('00:29:59.999'), at('00:30:00')].map((time) => inWindow(night, time))).toEqual(
      [false, true, true, false],
    );
  });

  it('holds from the start, inclusive, to the end, exclusive, and wraps past midnight', () => {
    const day = { startSecond: 1_800, endSecond: 59_400 };
    expect([at('00:29:59.999'), at('00:30:00'), at('16:29:59.999'), at('16:30:00')].map((time) => inWindow(day, time))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    const night = { startSecond: 79_200, endSecond: 7_200 }; // 22:00 to 02:00
    expect([at('23:00:00'), at('01:59:59'), at('02:00:00'), at('12:00:00')].map((time) => inWindow(night, time))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it("gives the window's rates while it holds, the same object every time, and the base rates otherwise", () => {
    const price: ModelPrice = {
      version: 1,
      modelId: 'deepseek/deepseek-chat',
      rates: { input: Decimal.parse('0.000000135'), output: Decimal.parse('0.00000055') },
      tiers: [],
      effectiveFrom: undefined,
      effectiveUntil: undefined,
      source: 'test',
      windows: [
        {
          startSecond: 1_800,
          endSecond: 59_400,
          rates: { input: Decimal.parse('0.00000027'), output: Decimal.parse('0.0000011') },
          tiers: [],
        },
      ],
    };
    const standard = priceInForce(price, at('10:00:00'));
    expect(standard.rates.input.toString()).toBe('0.00000027');
    expect(standard.window).toBe('00:30:00-16:30:00 UTC');
    expect(priceInForce(price, at('11:00:00'))).toBe(standard);
    expect(priceInForce(price, at('20:00:00'))).toBe(price);
    // A version without windows, or with none listed, is its own price at any time.
    const { windows: _windows, ...plain } = price;
    expect(priceInForce(plain, at('10:00:00'))).toBe(plain);
    const none = { ...price, windows: [] };
    expect(priceInForce(none, at('10:00:00'))).toBe(none);
  });

  it('a window that ends where it starts holds at no time (not the whole day)', () => {
    const empty = { startSecond: 3_600, endSecond: 3_600 };
    expect([at('00:59:59.999'), at('01:00:00'), at('13:00:00')].map((time) => inWindow(empty, time))).toEqual([
      false,
      false,
      false,
    ]);
  });
});
