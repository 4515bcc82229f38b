import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replaceTopLevelMember } from './json-splice.js';

describe('replaceTopLevelMember', () => {
  it('replaces the value in place and leaves every other character as written', () => {
    const text = '{\n  "id": "chatcmpl-1",\n  "usage": {"prompt_tokens": 3, "x": [1, {"y": "}"}]},\n  "model": "m"\n}\n';
    expect(replaceTopLevelMember(text, 'usage', '{"cost":1}')).toBe(
      '{\n  "id": "chatcmpl-1",\n  "usage": {"cost":1},\n  "model": "m"\n}\n',
    );
  });

  it('adds the member after the last one when the object has none, or as the only one', () => {
    expect(replaceTopLevelMember('{"a": 1, "b": [2] }', 'usage', 'null')).toBe('{"a": 1, "b": [2],"usage":null }');
    expect(replaceTopLevelMember('{ }', 'usage', '7')).toBe('{ "usage":7}');
    // A member named so deeper down is not the top level's.
    expect(replaceTopLevelMember('{"a":{"usage":1}}', 'usage', '2')).toBe('{"a":{"usage":1},"usage":2}');
  });

  it('finds a key written with escapes, and with duplicates replaces the last (the one JSON.parse keeps)', () => {
    expect(replaceTopLevelMember('{"us\\u0061ge":1}', 'usage', '2')).toBe('{"us\\u0061ge":2}');
    expect(replaceTopLevelMember('{"usage":1,"usage":2}', 'usage', '3')).toBe('{"usage":1,"usage":3}');
  });

  it('skips strings holding quotes, backslashes and brackets', () => {
    const text = JSON.stringify({ content: 'a "quoted" \\ } ] { [ \\"', usage: { n: 'x\\' }, tail: true });
    expect(JSON.parse(replaceTopLevelMember(text, 'usage', '{"n":1}')!)).toEqual({
      content: 'a "quoted" \\ } ] { [ \\"',
      usage: { n: 1 },
      tail: true,
    });
  });

  it('answers undefined for a root that is not an object, or text it cannot follow', () => {
    for (const text of ['[1]', '"usage"', '12', 'null', '', '{"a":1} x', '{"a" 1}', '{"a":1,}', '{"a":"open}']) {
      expect(replaceTopLevelMember(text, 'usage', '1')).toBeUndefined();
    }
  });

  it('gives what serialising the parsed object with the member set gives, however the JSON is laid out', () => {
    const key = fc.oneof(fc.constant('usage'), fc.string(), fc.string({ unit: 'binary' }));
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.jsonValue()),
        fc.jsonValue(),
        fc.constantFrom(undefined, 0, 1, 2, '\t', ' \r\n'),
        (object, value, indent) => {
          const text = JSON.stringify(object, null, indent);
          const spliced = replaceTopLevelMember(text, 'usage', JSON.stringify(value));
          expect(spliced).toBeDefined();
          expect(JSON.parse(spliced!)).toEqual(JSON.parse(JSON.stringify({ ...object, usage: value })));
        },
      ),
      { numRuns: 500 },
    );
  });
});
