import type { LimitPeriod } from '../db/schema.js';

/**
 * Calendar periods of a cap, aligned in the cap's IANA time zone (litellm#9098: a "monthly" budget that is 30
 * days; #8364: resets at odd hours). A day starts at local midnight, a week on Monday at local midnight, a
 * month on its 1st at local midnight, whatever the zone's offset that day (summer time included). `total`
 * is one period that never ends. A call belongs to the period in which it started (its reservation).
 */
export const PERIODS: readonly LimitPeriod[] = ['day', 'week', 'month', 'total'];

/** The start of `total`, the one period that never resets. */
export const TOTAL_PERIOD_START = new Date(0);

export interface PeriodBounds {
  start: Date;
  /** When the next period starts (the cap resets); undefined for `total`. */
  resetsAt: Date | undefined;
}

/** @throws RangeError for a zone the runtime does not know */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone }).format(0);
}

export function isTimeZone(timeZone: string): boolean {
  try {
    checkTimeZone(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The last period computed per period and zone: every call of a period finds it here (no calendar work on the call path). */
const lastBounds = new Map<string, { start: number; end: number; bounds: PeriodBounds }>();

/** The period of `period` in `timeZone` that contains the instant `at`. */
export function periodBounds(period: LimitPeriod, timeZone: string, at: Date): PeriodBounds {
  if (period === 'total') return { start: TOTAL_PERIOD_START, resetsAt: undefined };
  const key = `${period} ${timeZone}`;
  const time = at.getTime();
  const cached = lastBounds.get(key);
  if (cached && time >= cached.start && time < cached.end) return cached.bounds;
  const bounds = computeBounds(period, timeZone, at);
  if (lastBounds.size > 1_000) lastBounds.clear();
  lastBounds.set(key, { start: bounds.start.getTime(), end: bounds.resetsAt!.getTime(), bounds });
  return bounds;
}

function computeBounds(period: Exclude<LimitPeriod, 'total'>, timeZone: string, at: Date): PeriodBounds {
  const local = wallClock(at, timeZone);
  let start: LocalDate;
  let next: LocalDate;
  if (period === 'day') {
    start = local;
    next = addDays(local, 1);
  } else if (period === 'week') {
    // ISO weeks start on Monday: getUTCDay() of the local date, 0 = Sunday.
    const weekday = new Date(Date.UTC(local.year, local.month - 1, local.day)).getUTCDay();
    start = addDays(local, -((weekday + 6) % 7));
    next = addDays(start, 7);
  } else {
    start = { year: local.year, month: local.month, day: 1 };
    next = local.month === 12 ? { year: local.year + 1, month: 1, day: 1 } : { year: local.year, month: local.month + 1, day: 1 };
  }
  return { start: localMidnight(start, timeZone), resetsAt: localMidnight(next, timeZone) };
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** The zone's wall-clock date and time at `at`, as the UTC instant with the same fields. */
function wallFields(at: Date, timeZone: string): { date: LocalDate; asUtc: number } {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(at)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const date = { year: parts.year!, month: parts.month!, day: parts.day! };
  return { date, asUtc: Date.UTC(date.year, date.month - 1, date.day, parts.hour!, parts.minute!, parts.second!) };
}

function wallClock(at: Date, timeZone: string): LocalDate {
  return wallFields(at, timeZone).date;
}

function addDays(date: LocalDate, days: number): LocalDate {
  const moved = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate() };
}

/**
 * The first instant of the local date in the zone. The zone's offset is found by comparing the wall clock at
 * a guess with the guess, twice (the offset at midnight may differ from the offset at the first guess); a
 * midnight skipped by a summer-time change starts the day at the first instant that exists.
 */
function localMidnight(date: LocalDate, timeZone: string): Date {
  const target = Date.UTC(date.year, date.month - 1, date.day);
  let guess = target;
  for (let step = 0; step < 3; step += 1) {
    const offset = wallFields(new Date(guess), timeZone).asUtc - guess;
    const next = target - offset;
    if (next === guess) break;
    guess = next;
  }
  // A skipped midnight lands the guess on the previous day's last hour: step forward to the day's first instant.
  while (wallClock(new Date(guess), timeZone).day !== date.day) guess += 60 * 60 * 1000;
  return new Date(guess);
}
