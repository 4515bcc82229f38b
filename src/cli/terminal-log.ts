import pino from 'pino';
import { createLogger, type Logger } from '../logging/logger.js';

const LABELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
/** Fields every line carries that say nothing to a person at a terminal. */
const QUIET_FIELDS = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname']);

/**
 * A logger whose lines a person reads: `warning: could not ... (requestId=req_1, error=timeout)` instead of
 * pino's JSON. The same logger (levels, redaction of keys) as the server's, with a destination that
 * rewrites each JSON line; for the CLI's commands, and for `serve` when its stderr is a terminal (a server
 * writing to a pipe or a file keeps JSON lines, for the log collector).
 */
export function createTerminalLogger(level: string, output: NodeJS.WritableStream = process.stderr): Logger {
  return createLogger(level, {
    write(line: string) {
      output.write(`${readableLine(line)}\n`);
    },
  } satisfies pino.DestinationStream);
}

export function readableLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const details = Object.entries(entry)
    .filter(([key]) => !QUIET_FIELDS.has(key))
    .map(([key, value]) => `${key}=${describe(value)}`);
  const label = LABELS[Number(entry.level)] ?? 'log';
  return `${label}: ${String(entry.msg ?? '')}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

function describe(value: unknown): string {
  if (value !== null && typeof value === 'object' && 'message' in value) return String((value as { message: unknown }).message);
  return typeof value === 'string' ? value : JSON.stringify(value);
}
