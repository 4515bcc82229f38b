import { countTokens } from 'gpt-tokenizer';
import type { Db } from '../../src/db/database.js';
import { Decimal } from '../../src/money/decimal.js';

/**
 * What a test needs to state a charge exactly, computed independently of the gateway's own code: rates from
 * the fixture, OpenAI's documented token counting, and readers for what the gateway wrote.
 */

/** Rates of fixtures/seed-formats/llm_pricing_current.json (USD per token), as the tests quote them. */
export const RATES = {
  'gpt-4o-mini': { input: '1.5e-7', cached: '7.5e-8', output: '6e-7' },
  'gemini-2.5-flash': { input: '3e-7', cached: '3e-8', output: '2.5e-6' },
} as const;

export const d = (text: string) => Decimal.parse(text);

/** Σ tokens × rate, exactly. */
export const cost = (...lines: Array<[number, string]>) => Decimal.sum(lines.map(([tokens, rate]) => d(rate).times(tokens)));

/** Text tokens as OpenAI's o200k encoding counts them, a special token typed as text counting as text. */
export function textTokens(text: string): number {
  return text === '' ? 0 : countTokens(text, { disallowedSpecial: new Set() });
}

/**
 * The prompt tokens of plain-text messages as the OpenAI cookbook counts them for gpt-4o ("How to count tokens
 * with tiktoken", num_tokens_from_messages): 3 per message, its role and content, and 3 priming the reply.
 */
export function promptTokens(messages: Array<{ role: string; content: string }>): number {
  return 3 + messages.reduce((total, message) => total + 3 + textTokens(message.role) + textTokens(message.content), 0);
}

/** The usage record of one call (by the request id the gateway answered with). */
export async function usageRecordOf(db: Db, requestId: string) {
  return db.selectFrom('usage_records').selectAll().where('request_id', '=', requestId).executeTakeFirstOrThrow();
}

/** The usage records of one account, oldest first (an error response carries no request id). */
export async function usageRecordsOfAccount(db: Db, accountId: string) {
  return db.selectFrom('usage_records').selectAll().where('account_id', '=', accountId).orderBy('id').execute();
}

/** The ledger entries written for one request id (a per-call hold, its capture or release). */
export async function entriesOfRequest(db: Db, requestId: string) {
  return db.selectFrom('ledger_entries').selectAll().where('request_id', '=', requestId).orderBy('id').execute();
}

/** POSTs a chat request as a client would, without the SDK (to read raw frames and headers). */
export function postChat(
  url: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** An event stream read to its end: the data payloads parsed (`[DONE]` noted), and the raw text. */
export async function readEvents(
  response: Response,
): Promise<{ events: Array<Record<string, unknown>>; done: boolean; raw: string }> {
  const raw = await response.text();
  return { events: eventsIn(raw), done: raw.includes('data: [DONE]\n\n'), raw };
}

/** The JSON data payloads of the complete events in `text` (`[DONE]` and a trailing partial event left out). */
export function eventsIn(text: string): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
  for (const block of complete.split(/\r?\n\r?\n/)) {
    const data = /^data: ?(.*)$/m.exec(block)?.[1];
    if (data === undefined || data.trim() === '[DONE]') continue;
    events.push(JSON.parse(data) as Record<string, unknown>);
  }
  return events;
}

/** The text of the content deltas of chat.completion.chunk events. */
export function streamedText(events: Array<Record<string, unknown>>): string {
  let text = '';
  for (const event of events) {
    const choices = (event.choices ?? []) as Array<{ delta?: { content?: unknown } }>;
    for (const choice of choices) if (typeof choice.delta?.content === 'string') text += choice.delta.content;
  }
  return text;
}
