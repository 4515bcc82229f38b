import { describe, expect, it } from 'vitest';

describe('toThrow with an expectation (test/support/strict-throw.ts)', () => {
  it('fails when undefined or null is thrown or rejected, where Vitest alone would pass it', async () => {
    expect(() =>
      expect(() => {
        throw undefined;
      }).toThrow('the run failed'),
    ).toThrow(/expected an error matching the run failed, but undefined was thrown/);
    await expect(expect(Promise.reject(null)).rejects.toThrow(/refused/)).rejects.toThrow(
      /expected an error matching \/refused\/, but null was thrown/,
    );
  });

  it('checks a thrown error as Vitest does, calling the code once', async () => {
    let calls = 0;
    expect(() => {
      calls += 1;
      throw new TypeError('the run failed');
    }).toThrow('run failed');
    expect(calls).toBe(1);
    expect(() =>
      expect(() => {
        throw new Error('the run failed');
      }).toThrow('another error'),
    ).toThrow();
    await expect(Promise.reject(new Error('refused by the ledger'))).rejects.toThrow(/ledger/);
    expect(() => expect(() => 1).toThrow('anything')).toThrow();
    expect(() => 1).not.toThrow();
  });
});
