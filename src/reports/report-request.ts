import { GatewayError } from '../gateway/errors.js';
import { GROUP_KEYS, type GroupKey } from './summary-plan.js';

/**
 * The parameters a report takes, as text from a query string or the command line, checked once here for
 * both. A bad value is a GatewayError invalid_request naming the parameter (400 on HTTP, exit 2 on the CLI).
 */
export interface ReportFilterInput {
  /** Account id or name. */
  account?: string | undefined;
  /** Key id or prefix. */
  key?: string | undefined;
  model?: string | undefined;
  provider?: string | undefined;
  end_user?: string | undefined;
}

export interface SummaryInput extends ReportFilterInput {
  group_by?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/** `hour,day,model` -> the keys, in order, each once. @throws GatewayError invalid_request (param group_by) */
export function parseGroupBy(text: string | undefined): GroupKey[] {
  if (text === undefined || text.trim() === '') return [];
  const keys: GroupKey[] = [];
  for (const part of text.split(',')) {
    const key = part.trim();
    if (!(GROUP_KEYS as readonly string[]).includes(key)) {
      throw new GatewayError(
        'invalid_request',
        `group_by: unknown key ${JSON.stringify(key)}; use a comma list of ${GROUP_KEYS.join(', ')}`,
        'group_by',
      );
    }
    if (!keys.includes(key as GroupKey)) keys.push(key as GroupKey);
  }
  return keys;
}

/** An ISO 8601 time. @throws GatewayError invalid_request naming `param` */
export function parseTime(text: string, param: string): Date {
  const time = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(time.getTime())) {
    throw new GatewayError(
      'invalid_request',
      `${param} must be an ISO time such as 2026-11-01T00:00:00Z, got ${JSON.stringify(text)}`,
      param,
    );
  }
  return time;
}

/**
 * The range [from, to): `to` defaults to now, `from` to the start of the UTC month `to` falls in (the month
 * to date; the whole previous month when `to` is a month's first instant).
 * @throws GatewayError invalid_request when a time is malformed or from is not before to.
 */
export function parseRange(input: { from?: string | undefined; to?: string | undefined }, now: Date): { from: Date; to: Date } {
  const to = input.to === undefined ? now : parseTime(input.to, 'to');
  let from: Date;
  if (input.from !== undefined) from = parseTime(input.from, 'from');
  else {
    from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), 1));
    if (from.getTime() === to.getTime()) from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - 1, 1));
  }
  if (from.getTime() >= to.getTime()) {
    throw new GatewayError('invalid_request', `from (${from.toISOString()}) must be before to (${to.toISOString()})`, 'from');
  }
  return { from, to };
}
