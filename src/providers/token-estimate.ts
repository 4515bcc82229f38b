import { countTokens, decode, encode } from 'gpt-tokenizer';
import type { ChatMessage, ContentPart } from './types.js';
import { isRecord } from '../util/is-record.js';

/**
 * Local token counts with gpt-tokenizer (o200k_base, the GPT-4o encoding). Exact for OpenAI's current models,
 * an estimate for others. The gateway uses them for the worst-case quote and for streams whose provider sent
 * no usage (then the usage is marked estimated).
 */

/** User text is counted as plain text: "<|endoftext|>" typed by a client is not a special token. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * OpenAI's chat format costs 3 tokens per message and 3 priming the reply (OpenAI cookbook,
 * "How to count tokens with tiktoken", num_tokens_from_messages for gpt-4o), and 1 more for a `name`.
 */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING_TOKENS = 3;

/**
 * An image costs at most 85 + 170 per 512px tile at high detail (OpenAI vision pricing); 1105 covers a
 * 1024x1024 image. The quote is a ceiling, so a generous constant is the safe side.
 */
const TOKENS_PER_IMAGE = 1105;

export function countTextTokens(text: string): number {
  return text === '' ? 0 : countTokens(text, PLAIN_TEXT);
}

/**
 * Counts of texts seen before, least recently used evicted first, bounded by the characters kept. Prompt texts
 * repeat from call to call (a system prompt; a conversation's history, which every turn sends again) and
 * counting is linear in the text (about 13 µs per 1,000 characters) where a lookup is a hash of it. Exact: a
 * text's count never changes.
 */
export class TokenCountCache {
  private readonly counts = new Map<string, number>();
  private keptChars = 0;

  constructor(private readonly maxChars: number) {}

  count(text: string): number {
    const cached = this.counts.get(text);
    if (cached !== undefined) {
      // Re-inserted so the Map's order stays least recently used first.
      this.counts.delete(text);
      this.counts.set(text, cached);
      return cached;
    }
    const tokens = countTextTokens(text);
    if (text.length <= this.maxChars / 4) {
      this.counts.set(text, tokens);
      this.keptChars += text.length;
      for (const [oldest] of this.counts) {
        if (this.keptChars <= this.maxChars) break;
        this.counts.delete(oldest);
        this.keptChars -= oldest.length;
      }
    }
    return tokens;
  }

  get size(): number {
    return this.counts.size;
  }

  /** The characters of the texts kept. */
  get chars(): number {
    return this.keptChars;
  }
}

/** At most 4 million characters kept (8 MB at most), a text of up to a million of them. */
const promptTexts = new TokenCountCache(4_000_000);

/** The first `maxTokens` tokens of a text, cut on a token boundary (the demo provider honours max_tokens). */
export function truncateToTokens(text: string, maxTokens: number): { text: string; tokens: number } {
  const tokens = encode(text, PLAIN_TEXT);
  if (tokens.length <= maxTokens) return { text, tokens: tokens.length };
  return { text: decode(tokens.slice(0, maxTokens)), tokens: maxTokens };
}

/** The prompt tokens of a chat request as OpenAI counts them, tool calls and images included. */
export function estimatePromptTokens(messages: ChatMessage[]): number {
  let total = REPLY_PRIMING_TOKENS;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + promptTexts.count(message.role);
    total += contentTokens(message.content);
    if (message.name !== undefined) total += TOKENS_PER_NAME + promptTexts.count(message.name);
    for (const call of message.tool_calls ?? []) total += toolCallTokens(call);
    if (message.tool_call_id !== undefined) total += promptTexts.count(message.tool_call_id);
  }
  return total;
}

/**
 * A function call counts its name and arguments; a call of another shape (OpenAI's custom tool calls carry
 * `custom: {name, input}`; the request check only asks for an array) counts as its JSON, like unknown parts.
 */
function toolCallTokens(call: unknown): number {
  const fn = isRecord(call) ? call.function : undefined;
  if (isRecord(fn) && typeof fn.name === 'string' && typeof fn.arguments === 'string') {
    return promptTexts.count(fn.name) + promptTexts.count(fn.arguments);
  }
  return promptTexts.count(JSON.stringify(call) ?? '');
}

function contentTokens(content: string | ContentPart[] | null): number {
  if (content === null) return 0;
  if (typeof content === 'string') return promptTexts.count(content);
  let total = 0;
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') total += promptTexts.count(part.text);
    else if (part.type === 'image_url') total += TOKENS_PER_IMAGE;
    else total += promptTexts.count(JSON.stringify(part));
  }
  return total;
}

/** The text of a message's content, parts joined (images and other parts left out). */
export function contentText(content: string | ContentPart[] | null): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .filter((text) => text !== '')
    .join('\n');
}
