import { describe, expect, it } from 'vitest';
import { headerValue } from './call-replies.js';

describe('headerValue', () => {
  it('gives a header trimmed, its first value when repeated, and nothing for an absent or blank one', () => {
    expect(headerValue(' key-1 ')).toBe('key-1');
    expect(headerValue(['first', 'second'])).toBe('first');
    expect(headerValue(['  ', 'second'])).toBeUndefined();
    expect(headerValue('   ')).toBeUndefined();
    expect(headerValue('')).toBeUndefined();
    expect(headerValue(undefined)).toBeUndefined();
  });
});
