import { describe, expect, it } from 'vitest';
import { equalsRule, matchesRule, readMatchRule, ruleBranches, ruleText, specificity } from './match-rules.js';
import { providerFamily } from './provider-ids.js';

describe('declared name rules', () => {
  it("reads genai-prices' clauses and matches as genai-prices does: case-insensitive, a regex as written", () => {
    const rule = readMatchRule({
      or: [{ equals: 'o1' }, { starts_with: 'O1-Preview' }, { and: [{ contains: 'x' }, { ends_with: '-y' }] }],
    });
    expect(matchesRule(rule, 'O1')).toBe(true);
    expect(matchesRule(rule, 'o1-preview-2024-09-12')).toBe(true);
    expect(matchesRule(rule, 'max-y')).toBe(true);
    expect(matchesRule(rule, 'o1-mini')).toBe(false);
    expect(matchesRule(readMatchRule({ regex: '^Gemini' }), 'gemini-2.5-pro')).toBe(false);
    expect(ruleBranches(rule)).toHaveLength(3);
    expect(ruleText({ equals: 'o1-preview' })).toBe('{"equals":"o1-preview"}');
    expect(equalsRule(['a', 'a', ''])).toEqual({ equals: 'a' });
    expect(equalsRule([])).toBeUndefined();
  });

  it('ranks the longer literal as more specific, a regex as least', () => {
    expect(specificity({ starts_with: 'gpt-4o-mini' })).toBeGreaterThan(specificity({ starts_with: 'gpt-4o' }));
    expect(specificity({ regex: '^gpt-4o-mini' })).toBe(0);
  });

  it('refuses a malformed rule, naming where it is wrong', () => {
    expect(() => readMatchRule({ or: [] })).toThrow('match.or must be a non-empty list');
    expect(() => readMatchRule({ equals: 'a', contains: 'b' })).toThrow('match must have exactly one key, has 2');
    expect(() => readMatchRule({ or: [{ like: 'a' }] })).toThrow('match.or[0]: unknown rule "like"');
    expect(() => readMatchRule({ regex: '(' })).toThrow('match.regex "(" is not a valid regular expression');
    expect(() => readMatchRule({ equals: '' })).toThrow('match.equals must be a non-empty string');
  });

  it('compares provider ids across sources by family', () => {
    expect(['google', 'gemini', 'vertex_ai', 'Vertex_AI'].map(providerFamily)).toEqual(['google', 'google', 'google', 'google']);
    expect(providerFamily('moonshotai')).toBe(providerFamily('moonshot'));
    expect(providerFamily('together_ai')).toBe('together');
    expect(providerFamily('aws')).toBe('bedrock');
    expect(providerFamily('groq')).toBe('groq');
  });
});
