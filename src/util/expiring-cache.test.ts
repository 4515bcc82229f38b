import { describe, expect, it } from 'vitest';
import { ExpiringCache } from './expiring-cache.js';

describe('ExpiringCache', () => {
  it('drops the least recently used entry when full, never everything at once', () => {
    const cache = new ExpiringCache<number>(3);
    cache.set('a', 1, 100);
    cache.set('b', 2, 100);
    cache.set('c', 3, 100);
    expect(cache.get('a', 0)).toEqual({ value: 1, expiresAt: 100 }); // a is now the most recent
    cache.set('d', 4, 100); // b goes
    expect(cache.get('b', 0)).toBeUndefined();
    expect([cache.get('a', 0)?.value, cache.get('c', 0)?.value, cache.get('d', 0)?.value]).toEqual([1, 3, 4]);
    for (let index = 0; index < 1_000; index += 1) cache.set(`flood-${index}`, index, 100);
    expect(cache.get('flood-999', 0)?.value).toBe(999);
    expect(cache.get('a', 0)).toBeUndefined();
  });

  it('forgets an entry once it expires', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('key', 'value', 50);
    expect(cache.get('key', 49)?.value).toBe('value');
    expect(cache.get('key', 50)).toBeUndefined();
    expect(cache.get('key', 0)).toBeUndefined();
  });
});
