/**
 * Replacing one member of a JSON object in its text, leaving every other byte as it was written: an upstream's
 * answer passes through as the provider wrote it, with only the gateway's `usage` written anew, instead of being
 * serialised again whole (its generated text escaped a second time) for one member.
 *
 * The text must be JSON that parsed (the caller has parsed it to read it); anything unexpected, a root that
 * is not an object included, answers `undefined` and the caller serialises instead.
 */
export function replaceTopLevelMember(text: string, key: string, valueJson: string): string | undefined {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== OPEN_BRACE) return undefined;
  at = skipSpace(text, at + 1);
  // Where the last member with this key has its value (JSON.parse keeps the last of duplicate keys).
  let found: { start: number; end: number } | undefined;
  let lastValueEnd = -1;
  if (text.charCodeAt(at) !== CLOSE_BRACE) {
    for (;;) {
      if (text.charCodeAt(at) !== QUOTE) return undefined;
      const keyEnd = stringEnd(text, at);
      if (keyEnd < 0) return undefined;
      const raw = text.slice(at + 1, keyEnd);
      const name = raw.includes('\\') ? (JSON.parse(text.slice(at, keyEnd + 1)) as string) : raw;
      at = skipSpace(text, keyEnd + 1);
      if (text.charCodeAt(at) !== COLON) return undefined;
      const start = skipSpace(text, at + 1);
      const end = valueEnd(text, start);
      if (end < 0) return undefined;
      if (name === key) found = { start, end };
      lastValueEnd = end;
      at = skipSpace(text, end);
      const next = text.charCodeAt(at);
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) return undefined;
      at = skipSpace(text, at + 1);
    }
  }
  const close = at;
  if (skipSpace(text, close + 1) !== text.length) return undefined;
  if (found) return text.slice(0, found.start) + valueJson + text.slice(found.end);
  const member = `${JSON.stringify(key)}:${valueJson}`;
  return lastValueEnd < 0
    ? `${text.slice(0, close)}${member}${text.slice(close)}`
    : `${text.slice(0, lastValueEnd)},${member}${text.slice(lastValueEnd)}`;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/** The first index at or after `at` that is not JSON whitespace (space, tab, line feed, carriage return). */
function skipSpace(text: string, at: number): number {
  for (;;) {
    const code = text.charCodeAt(at);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) return at;
    at += 1;
  }
}

/** The index of the quote that closes the string opening at `at`, or -1. */
function stringEnd(text: string, at: number): number {
  let from = at + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** The index just past the value starting at `at` (a string, an object, an array or a literal), or -1. */
function valueEnd(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) {
    const end = stringEnd(text, at);
    return end < 0 ? -1 : end + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let index = at; index < text.length; index += 1) {
      const code = text.charCodeAt(index);
      if (code === QUOTE) {
        index = stringEnd(text, index);
        if (index < 0) return -1;
      } else if (code === OPEN_BRACE || code === OPEN_BRACKET) depth += 1;
      else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
        depth -= 1;
        if (depth === 0) return index + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next separator or whitespace.
  let index = at;
  for (; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (
      code === COMMA ||
      code === CLOSE_BRACE ||
      code === CLOSE_BRACKET ||
      code === 0x20 ||
      code === 0x0a ||
      code === 0x0d ||
      code === 0x09
    )
      break;
  }
  return index === at ? -1 : index;
}
