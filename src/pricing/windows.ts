import type { ModelPrice, PriceWindow } from './types.js';

const DAY_MS = 86_400_000;

/**
 * Seconds since midnight UTC of `HH:MM[:SS[.fff]]`, with an optional `Z` (genai-prices writes `00:30:00Z`).
 * @throws RangeError naming the text when it is not a time of day.
 */
export function parseTimeOfDay(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d(?:\.\d{1,3})?))?Z?$/.exec(text.trim());
  if (!match) throw new RangeError(`"${text}" is not a UTC time of day (HH:MM:SS)`);
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3] ?? 0);
}

/** `HH:MM:SS` (with milliseconds when it has them) for seconds since midnight UTC. */
export function formatTimeOfDay(seconds: number): string {
  const whole = Math.floor(seconds);
  const pad = (value: number) => String(value).padStart(2, '0');
  const fraction = seconds - whole;
  const text = `${pad(Math.floor(whole / 3600))}:${pad(Math.floor((whole % 3600) / 60))}:${pad(whole % 60)}`;
  return fraction > 0 ? `${text}.${String(Math.round(fraction * 1000)).padStart(3, '0')}` : text;
}

/** A window as shown to people and stored in the breakdown: `00:30:00-16:30:00 UTC`. */
export function windowLabel(window: Pick<PriceWindow, 'startSecond' | 'endSecond'>): string {
  return `${formatTimeOfDay(window.startSecond)}-${formatTimeOfDay(window.endSecond)} UTC`;
}

/**
 * True when `at` (epoch milliseconds) falls in the window: from its start, inclusive, to its end, exclusive;
 * a window whose end comes before its start runs past midnight. As genai-prices reads its constraints.
 */
export function inWindow(window: Pick<PriceWindow, 'startSecond' | 'endSecond'>, at: number): boolean {
  const second = (((at % DAY_MS) + DAY_MS) % DAY_MS) / 1000;
  const { startSecond: start, endSecond: end } = window;
  return end < start ? second >= start || second < end : second >= start && second < end;
}

// One derived price per (version, window): prices are immutable, and a lookup must not allocate.
const DERIVED = new WeakMap<PriceWindow, WeakMap<ModelPrice, ModelPrice>>();

/**
 * The price a call starting at `at` pays: the version's base rates, or those of the first of its windows in
 * force then (the returned price names the window). Windows are checked in the order the source lists them.
 */
export function priceInForce(price: ModelPrice, at: number): ModelPrice {
  const windows = price.windows;
  if (!windows || windows.length === 0) return price;
  for (const window of windows) {
    if (!inWindow(window, at)) continue;
    let byPrice = DERIVED.get(window);
    let derived = byPrice?.get(price);
    if (!derived) {
      derived = { ...price, rates: window.rates, tiers: window.tiers, window: windowLabel(window) };
      if (!byPrice) DERIVED.set(window, (byPrice = new WeakMap()));
      byPrice.set(price, derived);
    }
    return derived;
  }
  return price;
}
