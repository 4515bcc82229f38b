import { describe, expect, it } from 'vitest';
import type { LimitPeriod } from '../db/schema.js';
import { checkTimeZone, isTimeZone, periodBounds, PERIODS, TOTAL_PERIOD_START } from './periods.js';

/**
 * The rules of calendar periods, each pinned at its exact instants (one millisecond either side of a
 * boundary), in zones east and west of UTC, with fractional offsets, and across summer-time changes,
 * including those whose midnight is skipped (São Paulo, Beirut) or happens twice (Beirut in October).
 */

const ms = (text: string) => Date.parse(text);
const iso = (bounds: { start: Date; resetsAt: Date | undefined }) => ({
  start: bounds.start.toISOString(),
  resetsAt: bounds.resetsAt?.toISOString(),
});
const FAR_AWAY = new Date('2000-01-15T12:00:00Z');

/**
 * The bounds computed afresh: periodBounds keeps the last period per period and zone (in the module, for the
 * whole process), so the key's entry is first replaced with one that cannot contain `at`.
 */
function fresh(period: LimitPeriod, timeZone: string, at: string | number) {
  periodBounds(period, timeZone, FAR_AWAY);
  return iso(periodBounds(period, timeZone, new Date(at)));
}

describe('time zones', () => {
  it('the periods are day, week, month and total, and total starts at the epoch', () => {
    expect(PERIODS).toStrictEqual(['day', 'week', 'month', 'total']);
    expect(TOTAL_PERIOD_START.getTime()).toBe(0);
  });

  it('a zone the runtime knows passes; an unknown or empty one is a RangeError', () => {
    expect(() => checkTimeZone('Europe/Berlin')).not.toThrow();
    expect(() => checkTimeZone('UTC')).not.toThrow();
    expect(() => checkTimeZone('Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => checkTimeZone('')).toThrow(RangeError);
  });

  it('isTimeZone says true for a known zone (any letter case) and false for an unknown one, without throwing', () => {
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('america/new_york')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isTimeZone('')).toBe(false);
  });
});

describe('the total period', () => {
  it('starts at the epoch and never resets, in any zone (the zone is not even read)', () => {
    const bounds = periodBounds('total', 'Europe/Berlin', new Date('2026-11-29T23:00:00Z'));
    expect(bounds.start).toBe(TOTAL_PERIOD_START);
    expect(bounds.resetsAt).toBeUndefined();
    expect(periodBounds('total', 'Mars/Olympus_Mons', new Date(0))).toStrictEqual({
      start: TOTAL_PERIOD_START,
      resetsAt: undefined,
    });
  });
});

describe('a day', () => {
  it('in UTC runs from midnight to midnight: the last millisecond is the old day, the next the new one', () => {
    expect(fresh('day', 'UTC', '2026-03-09T23:59:59.999Z')).toStrictEqual({
      start: '2026-03-09T00:00:00.000Z',
      resetsAt: '2026-03-10T00:00:00.000Z',
    });
    expect(fresh('day', 'UTC', '2026-03-10T00:00:00.000Z')).toStrictEqual({
      start: '2026-03-10T00:00:00.000Z',
      resetsAt: '2026-03-11T00:00:00.000Z',
    });
  });

  it('at the end of a month and of a year rolls over to the 1st', () => {
    expect(fresh('day', 'UTC', '2026-02-28T12:00:00Z')).toStrictEqual({
      start: '2026-02-28T00:00:00.000Z',
      resetsAt: '2026-03-01T00:00:00.000Z',
    });
    expect(fresh('day', 'UTC', '2028-02-28T12:00:00Z')).toStrictEqual({
      start: '2028-02-28T00:00:00.000Z',
      resetsAt: '2028-02-29T00:00:00.000Z',
    });
    expect(fresh('day', 'UTC', '2026-12-31T23:59:59.999Z')).toStrictEqual({
      start: '2026-12-31T00:00:00.000Z',
      resetsAt: '2027-01-01T00:00:00.000Z',
    });
  });

  it('east of UTC is the local date: 00:00Z on the 15th is 05:30 on the 15th in Kolkata, whose day began at 18:30Z', () => {
    expect(fresh('day', 'Asia/Kolkata', '2026-06-15T00:00:00Z')).toStrictEqual({
      start: '2026-06-14T18:30:00.000Z',
      resetsAt: '2026-06-15T18:30:00.000Z',
    });
    expect(fresh('day', 'Asia/Kolkata', '2026-06-14T18:29:59.999Z')).toStrictEqual({
      start: '2026-06-13T18:30:00.000Z',
      resetsAt: '2026-06-14T18:30:00.000Z',
    });
  });

  it('west of UTC is the local date: 03:00Z on the 15th is still the 14th in Los Angeles', () => {
    expect(fresh('day', 'America/Los_Angeles', '2026-06-15T03:00:00Z')).toStrictEqual({
      start: '2026-06-14T07:00:00.000Z',
      resetsAt: '2026-06-15T07:00:00.000Z',
    });
    expect(fresh('day', 'America/Los_Angeles', '2026-06-15T07:00:00.000Z')).toStrictEqual({
      start: '2026-06-15T07:00:00.000Z',
      resetsAt: '2026-06-16T07:00:00.000Z',
    });
  });

  it('when Berlin springs forward has 23 hours, and when it falls back 25', () => {
    // 29 March 2026: 02:00 CET becomes 03:00 CEST. 25 October 2026: 03:00 CEST becomes 02:00 CET.
    expect(fresh('day', 'Europe/Berlin', '2026-03-29T12:00:00Z')).toStrictEqual({
      start: '2026-03-28T23:00:00.000Z',
      resetsAt: '2026-03-29T22:00:00.000Z',
    });
    expect(fresh('day', 'Europe/Berlin', '2026-10-25T12:00:00Z')).toStrictEqual({
      start: '2026-10-24T22:00:00.000Z',
      resetsAt: '2026-10-25T23:00:00.000Z',
    });
  });

  it('when New York springs forward starts at EST midnight and ends at EDT midnight', () => {
    expect(fresh('day', 'America/New_York', '2026-03-08T12:00:00Z')).toStrictEqual({
      start: '2026-03-08T05:00:00.000Z',
      resetsAt: '2026-03-09T04:00:00.000Z',
    });
  });

  it('whose midnight is skipped starts at its first instant (São Paulo, 00:00 became 01:00)', () => {
    expect(fresh('day', 'America/Sao_Paulo', '2018-11-04T03:00:00.000Z')).toStrictEqual({
      start: '2018-11-04T03:00:00.000Z',
      resetsAt: '2018-11-05T02:00:00.000Z',
    });
    expect(fresh('day', 'America/Sao_Paulo', '2018-11-04T02:59:59.999Z')).toStrictEqual({
      start: '2018-11-03T03:00:00.000Z',
      resetsAt: '2018-11-04T03:00:00.000Z',
    });
  });

  it('whose midnight is skipped east of UTC starts at its first instant too (Beirut, 00:00 EET became 01:00 EEST)', () => {
    // The offset guesses alternate between 21:00Z and 22:00Z around the change: the day starts at 22:00Z.
    expect(fresh('day', 'Asia/Beirut', '2026-03-29T12:00:00Z')).toStrictEqual({
      start: '2026-03-28T22:00:00.000Z',
      resetsAt: '2026-03-29T21:00:00.000Z',
    });
    expect(fresh('day', 'Asia/Beirut', '2026-03-28T21:59:59.999Z')).toStrictEqual({
      start: '2026-03-27T22:00:00.000Z',
      resetsAt: '2026-03-28T22:00:00.000Z',
    });
  });

  it('whose midnight comes twice is 25 hours long and ends at the second midnight (Beirut, October)', () => {
    // 00:00 EEST on the 25th is 21:00Z, when clocks go back to 23:00 EET on the 24th.
    expect(fresh('day', 'Asia/Beirut', '2026-10-24T21:30:00Z')).toStrictEqual({
      start: '2026-10-23T21:00:00.000Z',
      resetsAt: '2026-10-24T22:00:00.000Z',
    });
    expect(fresh('day', 'Asia/Beirut', '2026-10-24T22:00:00.000Z')).toStrictEqual({
      start: '2026-10-24T22:00:00.000Z',
      resetsAt: '2026-10-25T22:00:00.000Z',
    });
  });
});

describe('a week', () => {
  it('is Monday to Monday whichever day of it the instant falls on', () => {
    // Monday 23 to Sunday 29 November 2026.
    for (let day = 23; day <= 29; day += 1) {
      for (const time of ['00:00:00.000', '12:00:00.000', '23:59:59.999']) {
        expect(fresh('week', 'UTC', `2026-11-${day}T${time}Z`), `${day} ${time}`).toStrictEqual({
          start: '2026-11-23T00:00:00.000Z',
          resetsAt: '2026-11-30T00:00:00.000Z',
        });
      }
    }
    expect(fresh('week', 'UTC', '2026-11-22T23:59:59.999Z')).toStrictEqual({
      start: '2026-11-16T00:00:00.000Z',
      resetsAt: '2026-11-23T00:00:00.000Z',
    });
    expect(fresh('week', 'UTC', '2026-11-30T00:00:00.000Z')).toStrictEqual({
      start: '2026-11-30T00:00:00.000Z',
      resetsAt: '2026-12-07T00:00:00.000Z',
    });
  });

  it('crosses months and years', () => {
    // Thursday 31 December 2026: the week began on Monday 28 December.
    expect(fresh('week', 'UTC', '2026-12-31T12:00:00Z')).toStrictEqual({
      start: '2026-12-28T00:00:00.000Z',
      resetsAt: '2027-01-04T00:00:00.000Z',
    });
    // Sunday 1 March 2026: the week began on Monday 23 February.
    expect(fresh('week', 'UTC', '2026-03-01T12:00:00Z')).toStrictEqual({
      start: '2026-02-23T00:00:00.000Z',
      resetsAt: '2026-03-02T00:00:00.000Z',
    });
  });

  it("starts on the zone's Monday: Monday 05:00Z is still Sunday evening in Los Angeles", () => {
    expect(fresh('week', 'America/Los_Angeles', '2026-11-30T05:00:00Z')).toStrictEqual({
      start: '2026-11-23T08:00:00.000Z',
      resetsAt: '2026-11-30T08:00:00.000Z',
    });
    expect(fresh('week', 'America/Los_Angeles', '2026-11-30T08:00:00.000Z')).toStrictEqual({
      start: '2026-11-30T08:00:00.000Z',
      resetsAt: '2026-12-07T08:00:00.000Z',
    });
  });

  it('that contains a summer-time change starts and ends at local midnight on either side of it', () => {
    expect(fresh('week', 'Europe/Berlin', '2026-03-29T12:00:00Z')).toStrictEqual({
      start: '2026-03-22T23:00:00.000Z',
      resetsAt: '2026-03-29T22:00:00.000Z',
    });
  });
});

describe('a month', () => {
  it('runs from the 1st to the 1st: one millisecond either side of the boundary', () => {
    expect(fresh('month', 'UTC', '2026-06-30T23:59:59.999Z')).toStrictEqual({
      start: '2026-06-01T00:00:00.000Z',
      resetsAt: '2026-07-01T00:00:00.000Z',
    });
    expect(fresh('month', 'UTC', '2026-07-01T00:00:00.000Z')).toStrictEqual({
      start: '2026-07-01T00:00:00.000Z',
      resetsAt: '2026-08-01T00:00:00.000Z',
    });
  });

  it('of January, February in a leap year, and December (into the next year)', () => {
    expect(fresh('month', 'UTC', '2027-01-31T12:00:00Z')).toStrictEqual({
      start: '2027-01-01T00:00:00.000Z',
      resetsAt: '2027-02-01T00:00:00.000Z',
    });
    expect(fresh('month', 'UTC', '2028-02-29T12:00:00Z')).toStrictEqual({
      start: '2028-02-01T00:00:00.000Z',
      resetsAt: '2028-03-01T00:00:00.000Z',
    });
    // December in Tokyo (UTC+9): its months start at 15:00Z the day before.
    expect(fresh('month', 'Asia/Tokyo', '2026-12-31T14:59:59.999Z')).toStrictEqual({
      start: '2026-11-30T15:00:00.000Z',
      resetsAt: '2026-12-31T15:00:00.000Z',
    });
    expect(fresh('month', 'Asia/Tokyo', '2026-12-31T15:00:00.000Z')).toStrictEqual({
      start: '2026-12-31T15:00:00.000Z',
      resetsAt: '2027-01-31T15:00:00.000Z',
    });
  });

  it('that contains a summer-time change starts at CET midnight and ends at CEST midnight', () => {
    expect(fresh('month', 'Europe/Berlin', '2026-03-15T12:00:00Z')).toStrictEqual({
      start: '2026-02-28T23:00:00.000Z',
      resetsAt: '2026-03-31T22:00:00.000Z',
    });
  });
});

describe('the last period kept per period and zone', () => {
  it('is given again, the same object, for any instant within it, its first millisecond included', () => {
    periodBounds('day', 'Pacific/Auckland', FAR_AWAY);
    const first = periodBounds('day', 'Pacific/Auckland', new Date('2026-07-10T01:00:00Z'));
    expect(iso(first)).toStrictEqual({ start: '2026-07-09T12:00:00.000Z', resetsAt: '2026-07-10T12:00:00.000Z' });
    expect(periodBounds('day', 'Pacific/Auckland', new Date('2026-07-09T12:00:00.000Z'))).toBe(first);
    expect(periodBounds('day', 'Pacific/Auckland', new Date('2026-07-10T11:59:59.999Z'))).toBe(first);
  });

  it('is not given at its reset instant, nor before its start', () => {
    periodBounds('day', 'Pacific/Auckland', FAR_AWAY);
    const kept = periodBounds('day', 'Pacific/Auckland', new Date('2026-07-10T01:00:00Z'));
    const next = periodBounds('day', 'Pacific/Auckland', new Date('2026-07-10T12:00:00.000Z'));
    expect(next).not.toBe(kept);
    expect(iso(next)).toStrictEqual({ start: '2026-07-10T12:00:00.000Z', resetsAt: '2026-07-11T12:00:00.000Z' });
    // The 11th is kept now: an instant of the 10th is computed again, not answered with the 11th.
    expect(iso(periodBounds('day', 'Pacific/Auckland', new Date('2026-07-10T11:59:59.999Z')))).toStrictEqual({
      start: '2026-07-09T12:00:00.000Z',
      resetsAt: '2026-07-10T12:00:00.000Z',
    });
  });

  it('is kept apart per period and per zone', () => {
    const at = new Date('2026-07-15T12:00:00Z');
    for (const period of ['day', 'week', 'month'] as const) periodBounds(period, 'UTC', FAR_AWAY);
    periodBounds('day', 'Asia/Tokyo', FAR_AWAY);
    expect(iso(periodBounds('day', 'UTC', at))).toStrictEqual({
      start: '2026-07-15T00:00:00.000Z',
      resetsAt: '2026-07-16T00:00:00.000Z',
    });
    expect(iso(periodBounds('week', 'UTC', at))).toStrictEqual({
      start: '2026-07-13T00:00:00.000Z',
      resetsAt: '2026-07-20T00:00:00.000Z',
    });
    expect(iso(periodBounds('month', 'UTC', at))).toStrictEqual({
      start: '2026-07-01T00:00:00.000Z',
      resetsAt: '2026-08-01T00:00:00.000Z',
    });
    // 12:00Z is 21:00 in Tokyo, whose day began at 15:00Z the day before.
    expect(iso(periodBounds('day', 'Asia/Tokyo', at))).toStrictEqual({
      start: '2026-07-14T15:00:00.000Z',
      resetsAt: '2026-07-15T15:00:00.000Z',
    });
  });

  it('is forgotten, all periods at once, when a period is computed while more than 1,000 are kept', () => {
    // Keys never seen in this process's earlier runs would be needed to count from an empty map; instead every
    // call below is for an instant no earlier run asked about (a month further each run), so each computes.
    const store = globalThis as { periodsRulesRuns?: number };
    store.periodsRulesRuns = (store.periodsRulesRuns ?? 0) + 1;
    const at = new Date(Date.UTC(2040, 0, 15) + store.periodsRulesRuns * 40 * 86_400_000);
    const keys: Array<[LimitPeriod, string]> = [];
    const zones = new Set<string>();
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      for (const spelling of [zone, zone.toLowerCase(), zone.toUpperCase()]) zones.add(spelling);
    }
    for (const zone of zones) for (const period of ['day', 'week', 'month'] as const) keys.push([period, zone]);
    const probe = (): ReturnType<typeof periodBounds> => periodBounds('day', 'europe/BERLIN', at);
    let kept = probe();
    let index = 0;
    // Whatever was kept before, 1,002 more periods make the map pass 1,000 entries and be emptied.
    let emptied = false;
    for (; index < 1_002 && !emptied; index += 1) {
      periodBounds(keys[index]![0], keys[index]![1], at);
      emptied = probe() !== kept;
    }
    expect(emptied).toBe(true);
    // Emptied by the last key, then the probe computed again: 2 entries. 999 more make 1,001, all still kept.
    kept = probe();
    for (let count = 0; count < 999; count += 1, index += 1) periodBounds(keys[index]![0], keys[index]![1], at);
    expect(probe()).toBe(kept);
    // 1,001 entries: the next period computed empties the map.
    periodBounds(keys[index]![0], keys[index]![1], at);
    expect(probe()).not.toBe(kept);
  });
});
