import { describe, expect, it } from 'vitest';
import { planSegments, type GroupKey, type SummaryFilters } from './summary-plan.js';

function plan(from: string, to: string, groupBy: GroupKey[] = [], filters: SummaryFilters = {}) {
  return planSegments({ from: new Date(from), to: new Date(to), groupBy, filters }).map((segment) => [
    segment.source === 'rollup' ? segment.rollup.table : 'usage_records',
    segment.from.toISOString(),
    segment.to.toISOString(),
  ]);
}

describe('planSegments', () => {
  it('reads whole days from the daily rollup, the hours around them hourly, and only the edges of an hour from records', () => {
    expect(plan('2026-11-02T10:30:00Z', '2026-11-05T03:15:00Z', ['account'])).toEqual([
      ['usage_records', '2026-11-02T10:30:00.000Z', '2026-11-02T11:00:00.000Z'],
      ['usage_rollups_hourly', '2026-11-02T11:00:00.000Z', '2026-11-03T00:00:00.000Z'],
      ['usage_rollups_daily', '2026-11-03T00:00:00.000Z', '2026-11-05T00:00:00.000Z'],
      ['usage_rollups_hourly', '2026-11-05T00:00:00.000Z', '2026-11-05T03:00:00.000Z'],
      ['usage_records', '2026-11-05T03:00:00.000Z', '2026-11-05T03:15:00.000Z'],
    ]);
  });

  it('reads whole months from a monthly rollup, unless the summary groups by day or hour', () => {
    expect(plan('2026-10-30T10:30:00Z', '2026-12-02T00:00:00Z', ['model'])).toEqual([
      ['usage_records', '2026-10-30T10:30:00.000Z', '2026-10-30T11:00:00.000Z'],
      ['usage_rollups_hourly_models', '2026-10-30T11:00:00.000Z', '2026-10-31T00:00:00.000Z'],
      ['usage_rollups_daily_models', '2026-10-31T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
      ['usage_rollups_monthly_models', '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
      ['usage_rollups_daily_models', '2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z'],
    ]);
    expect(plan('2026-11-01T00:00:00Z', '2027-01-01T00:00:00Z', ['end_user', 'month'])).toEqual([
      ['usage_rollups_monthly_end_user', '2026-11-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ]);
  });

  it('a range of whole days is one read of the daily rollup', () => {
    expect(plan('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', ['account', 'day'])).toEqual([
      ['usage_rollups_daily', '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    ]);
  });

  it('reads the smallest rollup that has every dimension grouped or filtered by', () => {
    const whole = ['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z'] as const;
    expect(plan(...whole, ['model', 'day'])[0]![0]).toBe('usage_rollups_daily_models');
    expect(plan(...whole, ['provider'])[0]![0]).toBe('usage_rollups_daily_models');
    expect(plan(...whole, [])[0]![0]).toBe('usage_rollups_daily_models');
    expect(plan(...whole, ['model'], { accountId: 'acct_1' })[0]![0]).toBe('usage_rollups_daily');
    expect(plan(...whole, ['key'])[0]![0]).toBe('usage_rollups_daily');
    expect(plan(...whole, ['model'], { endUser: 'u' })[0]![0]).toBe('usage_rollups_daily_end_user');
  });

  it('grouped by hour, every whole hour comes from the hourly rollup', () => {
    expect(plan('2026-11-01T00:00:00Z', '2026-11-03T00:00:00Z', ['hour', 'key'])).toEqual([
      ['usage_rollups_hourly', '2026-11-01T00:00:00.000Z', '2026-11-03T00:00:00.000Z'],
    ]);
  });

  it('a range inside one hour is read from the records alone', () => {
    expect(plan('2026-11-01T10:05:00Z', '2026-11-01T10:55:00Z')).toEqual([
      ['usage_records', '2026-11-01T10:05:00.000Z', '2026-11-01T10:55:00.000Z'],
    ]);
    expect(plan('2026-11-01T10:05:00Z', '2026-11-01T11:55:00Z')).toEqual([
      ['usage_records', '2026-11-01T10:05:00.000Z', '2026-11-01T11:55:00.000Z'],
    ]);
  });

  it('hours that do not reach a whole day stay hourly', () => {
    expect(plan('2026-11-01T05:00:00Z', '2026-11-02T04:00:00Z')).toEqual([
      ['usage_rollups_hourly_models', '2026-11-01T05:00:00.000Z', '2026-11-02T04:00:00.000Z'],
    ]);
  });

  it('grouping or filtering by end user reads the rollups that keep it', () => {
    // No hourly rollup keeps the end user (it would hold a row per call): whole hours come from the records.
    expect(plan('2026-11-01T00:00:00Z', '2026-11-02T01:00:00Z', ['end_user'])).toEqual([
      ['usage_rollups_daily_end_user', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'],
      ['usage_records', '2026-11-02T00:00:00.000Z', '2026-11-02T01:00:00.000Z'],
    ]);
    expect(plan('2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', ['model'], { endUser: 'u-1' })).toEqual([
      ['usage_rollups_daily_end_user', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'],
    ]);
  });
});
