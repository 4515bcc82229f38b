/**
 * Checks every request body gets before any handler sees it: how deep it nests (a body nested thousands of
 * levels deep overflowed the stack of code that walks it: a 500), and, where its strings go to the database,
 * that none holds a NUL character (PostgreSQL text cannot store one: a 500, and a usage record lost) or is
 * absurdly long.
 */
export interface InputLimits {
  maxDepth: number;
  /** Strings must not contain U+0000. */
  rejectNul?: boolean;
  /** Strings longer than this are refused. */
  maxStringLength?: number;
  /**
   * JSON numbers must be whole and below 2^53. A fractional or larger number has already been rounded to
   * binary floating point by the JSON parser, so an amount sent as one is not the amount the client wrote (and
   * the schema's type coercion would turn it into a decimal string that looks exact).
   */
  rejectInexactNumbers?: boolean;
}

export interface InputProblem {
  /** Where, as a JSON path: `messages[0].content`, `name`. */
  path: string;
  message: string;
}

/** The first problem in `value`, or undefined. Iterative, so a deep value cannot overflow the stack here. */
export function findInputProblem(value: unknown, limits: InputLimits): InputProblem | undefined {
  // A first pass without paths (the common case: nothing wrong), then a second one to name the place.
  return scan(value, limits, false) ? scan(value, limits, true) : undefined;
}

type Frame = { value: unknown; depth: number; path: string };

function scan(root: unknown, limits: InputLimits, withPaths: true): InputProblem | undefined;
function scan(root: unknown, limits: InputLimits, withPaths: false): boolean;
function scan(root: unknown, limits: InputLimits, withPaths: boolean): InputProblem | boolean | undefined {
  const stack: Frame[] = [{ value: root, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = stringProblem(value, limits);
      if (problem) return withPaths ? { path: path || '(body)', message: problem } : true;
      continue;
    }
    if (typeof value === 'number') {
      if (limits.rejectInexactNumbers && !Number.isSafeInteger(value)) {
        return withPaths
          ? {
              path: path || '(body)',
              message: `is the JSON number ${String(value)}, which is not exact: send amounts as decimal strings ("10.50")`,
            }
          : true;
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limits.maxDepth) {
      return withPaths ? { path: path || '(body)', message: `nests deeper than ${limits.maxDepth} levels` } : true;
    }
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index -= 1) {
        stack.push({ value: value[index], depth: depth + 1, path: withPaths ? `${path}[${index}]` : '' });
      }
      continue;
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const keyProblem = stringProblem(key, limits);
      if (keyProblem) return withPaths ? { path: path || '(body)', message: `has a key that ${keyProblem}` } : true;
      stack.push({ value: child, depth: depth + 1, path: withPaths ? (path ? `${path}.${key}` : key) : '' });
    }
  }
  return withPaths ? undefined : false;
}

function stringProblem(text: string, limits: InputLimits): string | undefined {
  if (limits.maxStringLength !== undefined && text.length > limits.maxStringLength) {
    return `is longer than ${limits.maxStringLength} characters (${text.length})`;
  }
  if (limits.rejectNul && text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  return undefined;
}

/** A user-controlled string as it may appear in a log line or an error message: at most `max` characters. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
