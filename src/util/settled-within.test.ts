import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settledWithin } from './settled-within.js';

describe('settledWithin', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is true for work that settles in time, and leaves no timer behind', async () => {
    expect(await settledWithin(Promise.resolve('done'), 1_000)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes a rejection of the work on', async () => {
    await expect(settledWithin(Promise.reject(new Error('refused')), 1_000)).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is false once the time runs out, not before', async () => {
    let answered: boolean | undefined;
    void settledWithin(new Promise(() => undefined), 1_000).then((value) => (answered = value));
    await vi.advanceTimersByTimeAsync(999);
    expect(answered).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answered).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
