import { readFileSync } from 'node:fs';

/**
 * The recorded real responses the mock upstream replays (fixtures/provider-responses, see SOURCES.md there),
 * per API and scenario. A stream is a list of SSE event blocks, each ending in a blank line.
 */
export type MockApi =
  | 'openai'
  | 'anthropic'
  | 'gemini'
  | 'responses'
  | 'embeddings'
  | 'completions'
  | 'transcriptions'
  | 'images'
  | 'gemini-embeddings';

export interface Recording {
  /** The non-streaming body and its HTTP status. */
  json?: { status: number; body: string };
  /** The streaming body as SSE blocks. */
  stream?: string[];
}

const directory = new URL('../../fixtures/provider-responses/', import.meta.url);

function read(path: string): string {
  return readFileSync(new URL(path, directory), 'utf8');
}

/** `.sse` files are raw event streams (Gemini's end lines in CRLF): split into blocks to replay one event at a time. */
function sseFile(path: string): string[] {
  return read(path)
    .split(/(?<=\r?\n\r?\n)/)
    .filter((block) => block.trim() !== '');
}

/** `.chunks.txt` files hold one data payload per line (SOURCES.md, "File formats"). */
function chunksFile(path: string, api: 'openai' | 'anthropic' | 'gemini'): string[] {
  const lines = read(path)
    .split('\n')
    .filter((line) => line.trim() !== '');
  const blocks = lines.map((line) => {
    if (api === 'anthropic') return `event: ${(JSON.parse(line) as { type: string }).type}\ndata: ${line}\n\n`;
    return `data: ${line}\n\n`;
  });
  if (api === 'openai') blocks.push('data: [DONE]\n\n');
  return blocks;
}

const ok = (path: string) => ({ status: 200, body: read(path) });

/** Recorded scenarios by API. Scenarios an API has no recording for fall back to its `text`. */
export function loadRecordings(): Record<MockApi, Record<string, Recording>> {
  return {
    openai: {
      text: { json: ok('openai/openai-chat-text.json'), stream: chunksFile('openai/openai-chat-text.chunks.txt', 'openai') },
      reasoning: {
        json: ok('openai/openai-chat-reasoning.json'),
        stream: chunksFile('openai/azure-model-router.chunks.txt', 'openai'),
      },
      'cache-hit': {
        json: ok('openai/openai-chat-prompt-cache-hit.json'),
        stream: chunksFile('openai/xai-text.chunks.txt', 'openai'),
      },
      'cache-write': { json: ok('openai/openai-chat-prompt-cache-write.json') },
      'tool-call': { json: ok('openai/openai-chat-tool-call.json'), stream: sseFile('openai/openai-chat-tool-call.sse') },
      xai: { json: ok('openai/xai-text.json'), stream: chunksFile('openai/xai-text.chunks.txt', 'openai') },
      'error-400': { json: { status: 400, body: read('openai/reasoning-model-legacy-parameter-error.json') } },
    },
    anthropic: {
      text: { json: ok('anthropic/anthropic-text.json'), stream: sseFile('anthropic/anthropic-text.sse') },
      reasoning: {
        json: ok('anthropic/anthropic-thinking.json'),
        stream: chunksFile('anthropic/anthropic-thinking.chunks.txt', 'anthropic'),
      },
      'cache-hit': {
        json: ok('anthropic/anthropic-cache-read-write.json'),
        stream: chunksFile('anthropic/anthropic-prompt-cache.chunks.txt', 'anthropic'),
      },
      'tool-call': {
        json: ok('anthropic/anthropic-tool-no-args.json'),
        stream: chunksFile('anthropic/anthropic-tool-call.chunks.txt', 'anthropic'),
      },
      'cache-write': { json: ok('anthropic/anthropic-cache-write-legacy.json') },
      'cache-read': { stream: sseFile('anthropic/anthropic-stream-cache-read.sse') },
      'error-400': { json: { status: 400, body: read('anthropic/anthropic-error-400.json') } },
      advisor: advisorRecording(),
      overloaded: { json: { status: 529, body: read('anthropic/anthropic-error-529-overloaded.json') } },
    },
    responses: {
      text: { json: ok('openai/openai-responses-basic.json'), stream: sseFile('openai/openai-responses-stream.sse') },
      reasoning: {
        json: ok('openai/openai-responses-reasoning-cached.json'),
        stream: sseFile('openai/openai-responses-tool-call.sse'),
      },
      'cache-hit': { json: ok('openai/openai-responses-cache-hit.json') },
      'tool-call': {
        json: ok('openai/openai-responses-function-call.json'),
        stream: sseFile('openai/openai-responses-tool-call.sse'),
      },
    },
    embeddings: {
      text: { json: ok('openai/openai-embeddings.json') },
      base64: { json: ok('openai/openai-embeddings-base64.json') },
    },
    completions: {
      text: { json: ok('openai/openai-completions.json'), stream: chunksFile('openai/openai-completions.chunks.txt', 'openai') },
    },
    transcriptions: {
      text: { json: ok('openai/openai-transcription-json.json') },
      verbose: { json: ok('openai/openai-transcription-verbose.json') },
      tokens: { json: ok('openai/openai-transcription-tokens.json') },
      'error-400': { json: { status: 400, body: read('openai/openai-transcription-error-400.json') } },
    },
    images: {
      text: { json: ok('openai/openai-images-dall-e-3.json') },
      'gpt-image-1': { json: ok('openai/openai-images-gpt-image-1.json') },
    },
    'gemini-embeddings': {
      text: { json: ok('google/gemini-batch-embed-contents.json') },
    },
    gemini: {
      text: { json: ok('google/google-text.json'), stream: sseFile('google/gemini-text.sse') },
      reasoning: { json: ok('google/google-reasoning.json'), stream: sseFile('google/gemini-thinking.sse') },
      'cache-hit': { json: ok('google/gemini-explicit-cache.json') },
      'cache-write': { json: ok('google/gemini-implicit-cache.json') },
      'tool-call': {
        json: ok('google/google-tool-call.json'),
        stream: chunksFile('google/google-tool-call.chunks.txt', 'gemini'),
      },
      'error-404': { json: { status: 404, body: read('google/gemini-error-404.json') } },
      'rate-limited': { json: { status: 429, body: read('google/google-429-retry-info.json') } },
    },
  };
}

/**
 * The usage of a real call with Anthropic's advisor tool: genai-prices' usages.json (fixtures/genai-prices, see
 * SOURCES.md there), recorded in pydantic-ai's `test_anthropic_advisor_tool.yaml` for claude-sonnet-5. Its
 * `iterations` list the executor's two `message` steps (1,128 + 1,262 read, 110 + 11 written: the top-level
 * 2,390 and 121) and claude-opus-4-8's `advisor_message` step (2,518 read, 22 written), outside the top level.
 */
export function advisorUsage(): Record<string, unknown> {
  const cases = JSON.parse(
    readFileSync(new URL('../../fixtures/genai-prices/usages-priced.json', import.meta.url), 'utf8'),
  ) as Array<{ body: { file: string; usage?: Record<string, unknown> } }>;
  const found = cases.find((entry) => entry.body.file.endsWith('test_anthropic/test_anthropic_advisor_tool.yaml'));
  if (!found?.body.usage) throw new Error('no test_anthropic_advisor_tool body in usages-priced.json');
  return found.body.usage;
}

/**
 * Not a recording as a whole: no whole answer of an advisor call was recorded, only its usage. The recorded text
 * answer (JSON and stream) with that usage in place of its own: the JSON's `usage`, and the stream's
 * `message_delta` usage, which since 2025 carries the final counts and, as the recorded compaction stream shows,
 * the `iterations`.
 */
function advisorRecording(): Recording {
  const usage = advisorUsage();
  const json = JSON.parse(read('anthropic/anthropic-text.json')) as Record<string, unknown>;
  const stream = sseFile('anthropic/anthropic-text.sse').map((block) => {
    if (!block.startsWith('event: message_delta')) return block;
    const data = /^data: ?(.*)$/m.exec(block)![1]!;
    const payload = JSON.parse(data) as Record<string, unknown>;
    return `event: message_delta\ndata: ${JSON.stringify({ ...payload, usage })}\n\n`;
  });
  return { json: { status: 200, body: JSON.stringify({ ...json, usage }) }, stream };
}

/**
 * An error body in the API's own shape, for statuses with no recording (SOURCES.md "Gaps": no OpenAI or
 * Anthropic 429 or 5xx body was recorded). Not a recording: the shapes follow each API's error docs.
 */
export function errorBody(api: MockApi, status: number, message: string): string {
  if (api === 'anthropic') {
    const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
    return JSON.stringify({ type: 'error', error: { type, message } });
  }
  if (api === 'gemini' || api === 'gemini-embeddings') {
    const state = status === 429 ? 'RESOURCE_EXHAUSTED' : status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
    return JSON.stringify({ error: { code: status, message, status: state } });
  }
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return JSON.stringify({ error: { message, type, param: null, code: null } });
}

/** The same stream with every usage removed: the provider that reports none (the gateway must estimate). */
export function withoutUsage(blocks: string[]): string[] {
  const result: string[] = [];
  for (const block of blocks) {
    const match = /^data: ?(.*)$/m.exec(block);
    if (!match || match[1]?.trim() === '[DONE]') {
      result.push(block);
      continue;
    }
    const payload = JSON.parse(match[1] ?? '') as Record<string, unknown>;
    delete payload.usage;
    delete payload.usageMetadata;
    const message = payload.message as Record<string, unknown> | undefined;
    if (message) delete message.usage;
    // OpenAI's usage-only final chunk has no choices left: drop it as a provider without usage would.
    if (Array.isArray(payload.choices) && payload.choices.length === 0) continue;
    result.push(block.replace(match[0], () => `data: ${JSON.stringify(payload)}`));
  }
  return result;
}
