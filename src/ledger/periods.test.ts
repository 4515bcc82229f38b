import { describe, expect, it } from 'vitest';
import { periodBounds, TOTAL_PERIOD_START } from './periods.js';

const at = (text: string) => new Date(text);
const iso = (bounds: { start: Date; resetsAt: Date | undefined }) => ({
  start: bounds.start.toISOString(),
  resetsAt: bounds.resetsAt?.toISOString(),
});

describe('calendar periods in a time zone', () => {
  it('a day starts at local midnight: 23:59:59 in Berlin is still the old day, 00:00:00 the new one', () => {
    // Berlin is UTC+1 in November: local midnight of the 30th is 23:00Z on the 29th.
    expect(iso(periodBounds('day', 'Europe/Berlin', at('2026-11-29T22:59:59.999Z')))).toEqual({
      start: '2026-11-28T23:00:00.000Z',
      resetsAt: '2026-11-29T23:00:00.000Z',
    });
    expect(iso(periodBounds('day', 'Europe/Berlin', at('2026-11-29T23:00:00.000Z')))).toEqual({
      start: '2026-11-29T23:00:00.000Z',
      resetsAt: '2026-11-30T23:00:00.000Z',
    });
  });

  it('a month is the calendar month, not 30 days (litellm#9098), across a summer-time change', () => {
    // October in New York: starts at EDT (UTC-4), ends at EST (UTC-5) after 1 November.
    expect(iso(periodBounds('month', 'America/New_York', at('2026-10-15T12:00:00Z')))).toEqual({
      start: '2026-10-01T04:00:00.000Z',
      resetsAt: '2026-11-01T04:00:00.000Z',
    });
    expect(iso(periodBounds('month', 'America/New_York', at('2026-11-01T04:00:00Z')))).toEqual({
      start: '2026-11-01T04:00:00.000Z',
      resetsAt: '2026-12-01T05:00:00.000Z',
    });
    expect(iso(periodBounds('month', 'UTC', at('2026-12-31T23:59:59Z')))).toEqual({
      start: '2026-12-01T00:00:00.000Z',
      resetsAt: '2027-01-01T00:00:00.000Z',
    });
  });

  it('a week starts on Monday at local midnight', () => {
    // Sunday 29 November 23:00Z is Monday 30 November 08:00 in Tokyo.
    expect(iso(periodBounds('week', 'Asia/Tokyo', at('2026-11-29T23:00:00Z')))).toEqual({
      start: '2026-11-29T15:00:00.000Z',
      resetsAt: '2026-12-06T15:00:00.000Z',
    });
    expect(iso(periodBounds('week', 'UTC', at('2026-11-29T23:00:00Z')))).toEqual({
      start: '2026-11-23T00:00:00.000Z',
      resetsAt: '2026-11-30T00:00:00.000Z',
    });
  });

  it('a day whose midnight does not exist (summer time at 00:00) starts at its first instant', () => {
    // São Paulo moved from 00:00 to 01:00 on 4 November 2018.
    expect(iso(periodBounds('day', 'America/Sao_Paulo', at('2018-11-04T12:00:00Z')))).toEqual({
      start: '2018-11-04T03:00:00.000Z',
      resetsAt: '2018-11-05T02:00:00.000Z',
    });
  });

  it('total never resets', () => {
    expect(periodBounds('total', 'Europe/Berlin', at('2026-11-29T23:00:00Z'))).toEqual({
      start: TOTAL_PERIOD_START,
      resetsAt: undefined,
    });
  });
});
