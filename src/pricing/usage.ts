import type { NormalizedUsage } from './types.js';
import { isRecord } from '../util/is-record.js';

/**
 * Builders from each provider's usage object to the one normalised shape. The providers disagree on
 * what includes what, and each disagreement is a double charge or a missed one when guessed wrong
 * (cache tokens counted twice: litellm#14849, litellm#9812):
 * - OpenAI `prompt_tokens` includes `cached_tokens` and audio; `completion_tokens` includes reasoning and audio.
 * - Anthropic `input_tokens` excludes cache reads and cache creation; `output_tokens` includes thinking.
 * - Gemini `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
 *   `thoughtsTokenCount`; tool-use prompt tokens are billed as input.
 */
export function emptyUsage(): NormalizedUsage {
  return {
    input: { uncached: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, audio: 0 },
    output: { text: 0, reasoning: 0, audio: 0 },
    requests: 1,
    images: 0,
    estimated: false,
  };
}

/** Every input token: uncached + cache read + cache write + audio (what OpenAI calls prompt_tokens). */
export function totalInputTokens(usage: NormalizedUsage): number {
  const input = usage.input;
  return input.uncached + input.cacheRead + input.cacheWrite + input.cacheWrite1h + input.audio;
}

/** Every output token: text + reasoning + audio (what OpenAI calls completion_tokens). */
export function totalOutputTokens(usage: NormalizedUsage): number {
  return usage.output.text + usage.output.reasoning + usage.output.audio;
}

/**
 * Every token the steps of other models read and wrote within the call (`otherModels`, Anthropic's advisor):
 * outside the two totals above, which are the call's own model's, and billed too.
 */
export function otherModelTokens(usage: NormalizedUsage): number {
  if (usage.otherModels === undefined) return 0;
  let total = 0;
  for (const other of usage.otherModels) total += totalInputTokens(other.usage) + totalOutputTokens(other.usage);
  return total;
}

/** From counts as OpenAI reports them (the `tollgate cost` flags use the same meaning). */
export function usageFromTotals(totals: {
  input: number;
  output: number;
  cached?: number;
  cacheWrite?: number;
  reasoning?: number;
}): NormalizedUsage {
  const cached = totals.cached ?? 0;
  const cacheWrite = totals.cacheWrite ?? 0;
  const reasoning = totals.reasoning ?? 0;
  if (cached + cacheWrite > totals.input) {
    throw new RangeError(`cached (${cached}) plus cache-write (${cacheWrite}) tokens exceed the input tokens (${totals.input})`);
  }
  if (reasoning > totals.output)
    throw new RangeError(`reasoning tokens (${reasoning}) exceed the output tokens (${totals.output})`);
  const usage = emptyUsage();
  usage.input.uncached = totals.input - cached - cacheWrite;
  usage.input.cacheRead = cached;
  usage.input.cacheWrite = cacheWrite;
  usage.output.text = totals.output - reasoning;
  usage.output.reasoning = reasoning;
  return usage;
}

/** OpenAI chat completions `usage` (and every OpenAI-compatible gateway). Undefined when there is none. */
export function usageFromOpenAI(raw: unknown): NormalizedUsage | undefined {
  if (!isRecord(raw)) return undefined;
  if (malformed(raw, OPENAI_COUNTS)) return undefined;
  const prompt = count(raw.prompt_tokens ?? raw.input_tokens);
  const completion = count(raw.completion_tokens ?? raw.output_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  const promptDetails = objectOrEmpty(raw.prompt_tokens_details ?? raw.input_tokens_details);
  const completionDetails = objectOrEmpty(raw.completion_tokens_details ?? raw.output_tokens_details);
  const cached = cachedPromptTokens(raw, promptDetails);
  const cacheWrite = count(promptDetails.cache_write_tokens ?? promptDetails.cache_creation_tokens) ?? 0;
  const inputAudio = count(promptDetails.audio_tokens) ?? 0;
  const reasoning = count(completionDetails.reasoning_tokens) ?? 0;
  const outputAudio = count(completionDetails.audio_tokens) ?? 0;
  const usage = emptyUsage();
  usage.input.cacheRead = cached;
  usage.input.cacheWrite = cacheWrite;
  usage.input.audio = inputAudio;
  usage.input.uncached = nonNegative((prompt ?? 0) - cached - cacheWrite - inputAudio);
  usage.output.reasoning = reasoning;
  usage.output.audio = outputAudio;
  // xAI's completion_tokens exclude reasoning tokens, which only total_tokens shows (recorded xai-text.json:
  // prompt 12 + completion 2 + reasoning 320 = total 334); OpenAI's include them (o3-mini: 7 + 87 = 94).
  const total = count(raw.total_tokens);
  const reasoningOutside = reasoning > 0 && total === (prompt ?? 0) + (completion ?? 0) + reasoning;
  const inCompletion = (reasoningOutside ? 0 : reasoning) + outputAudio;
  usage.output.text = nonNegative((completion ?? 0) - inCompletion);
  const mismatch: string[] = [];
  if (prompt !== undefined && cached + cacheWrite + inputAudio > prompt) {
    mismatch.push(
      `cached (${cached}), cache-write (${cacheWrite}) and audio (${inputAudio}) tokens exceed the ${prompt} prompt tokens they are part of`,
    );
  }
  if (completion !== undefined && inCompletion > completion) {
    mismatch.push(
      `reasoning (${reasoningOutside ? 0 : reasoning}) and audio (${outputAudio}) tokens exceed the ${completion} completion tokens they are part of`,
    );
  }
  if (mismatch.length > 0) usage.mismatch = mismatch;
  usage.raw = raw;
  return usage;
}

/**
 * Prompt tokens read from a cache, counted inside prompt_tokens. OpenAI puts them in
 * `prompt_tokens_details.cached_tokens`; some OpenAI-compatible providers elsewhere. The first field present
 * wins: where a provider sends two, both count the same tokens, and adding them would charge the cache twice.
 * - DeepSeek: `prompt_cache_hit_tokens` (with `prompt_cache_miss_tokens`, the two sum to prompt_tokens); its
 *   newer responses repeat the count in prompt_tokens_details (recorded deepseek-v4-flash: 512 and 512).
 * - Mistral: `num_cached_tokens` (recorded mistral-medium-latest: 32 of 273 prompt tokens), billed at 10% of input.
 * - Together: a top-level `cached_tokens` (recorded through Hugging Face's router), the field genai-prices also
 *   reads as cache reads for Anthropic's OpenAI-compatible API.
 */
function cachedPromptTokens(raw: Record<string, unknown>, promptDetails: Record<string, unknown>): number {
  return (
    count(promptDetails.cached_tokens) ??
    count(raw.prompt_cache_hit_tokens) ??
    count(raw.num_cached_tokens) ??
    count(raw.cached_tokens) ??
    0
  );
}

/**
 * Anthropic Messages `usage` (the final one, or message_start merged with message_delta for streams). With
 * server-side compaction the top-level counts are the answer's step only; the summary step, billed too, is
 * listed in `iterations` (type `compaction`) and added here, with `steps` saying what one step read and
 * wrote. Steps of type `message` are already in the top-level counts. Steps of type `advisor_message` are
 * another model's (the advisor tool: the executor consults a stronger model server-side): they are in none of
 * the top-level counts and Anthropic bills them at that model's rates, so they are kept apart, by model, in
 * `otherModels`.
 */
export function usageFromAnthropic(raw: unknown): NormalizedUsage | undefined {
  if (!isRecord(raw) || malformed(raw, ANTHROPIC_COUNTS)) return undefined;
  const input = count(raw.input_tokens);
  const output = count(raw.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const usage = emptyUsage();
  addAnthropicStep(usage, raw);
  const answerOutput = usage.output.text;
  let largestInput = totalInputTokens(usage);
  const advisorSteps = new Map<string, Array<Record<string, unknown>>>();
  for (const step of Array.isArray(raw.iterations) ? raw.iterations : []) {
    if (!isRecord(step)) continue;
    if (step.type === 'advisor_message') {
      // Anthropic names the advisor's model on every such step; one without a name is priced as an unknown model.
      const model = typeof step.model === 'string' && step.model !== '' ? step.model : 'unknown';
      const steps = advisorSteps.get(model);
      if (steps) steps.push(step);
      else advisorSteps.set(model, [step]);
    }
    if (step.type !== 'compaction') continue;
    const before = totalInputTokens(usage);
    addAnthropicStep(usage, step);
    largestInput = Math.max(largestInput, totalInputTokens(usage) - before);
    usage.steps = { largestInput, answerOutput };
  }
  if (advisorSteps.size > 0) {
    usage.otherModels = [...advisorSteps].map(([model, steps]) => ({ model, usage: stepsUsage(steps) }));
  }
  usage.raw = raw;
  return usage;
}

/**
 * One model's steps summed. Several steps get `steps`: the largest step's input picks the context tier, as for
 * compaction (and `answerOutput` is the largest step's output).
 */
function stepsUsage(steps: Array<Record<string, unknown>>): NormalizedUsage {
  const usage = emptyUsage();
  let largestInput = 0;
  let largestOutput = 0;
  for (const step of steps) {
    const input = totalInputTokens(usage);
    const output = totalOutputTokens(usage);
    addAnthropicStep(usage, step);
    largestInput = Math.max(largestInput, totalInputTokens(usage) - input);
    largestOutput = Math.max(largestOutput, totalOutputTokens(usage) - output);
  }
  if (steps.length > 1) usage.steps = { largestInput, answerOutput: largestOutput };
  return usage;
}

/** Adds one step's counts (the top-level usage, or an entry of `iterations`). */
function addAnthropicStep(usage: NormalizedUsage, raw: Record<string, unknown>): void {
  const creation = count(raw.cache_creation_input_tokens) ?? 0;
  const oneHour = Math.min(count(objectOrEmpty(raw.cache_creation).ephemeral_1h_input_tokens) ?? 0, creation);
  usage.input.uncached += count(raw.input_tokens) ?? 0;
  usage.input.cacheRead += count(raw.cache_read_input_tokens) ?? 0;
  usage.input.cacheWrite1h += oneHour;
  usage.input.cacheWrite += creation - oneHour;
  usage.output.text += count(raw.output_tokens) ?? 0;
}

/** Gemini `usageMetadata` (generateContent, or the last chunk of streamGenerateContent). */
export function usageFromGemini(raw: unknown): NormalizedUsage | undefined {
  if (!isRecord(raw) || malformed(raw, GEMINI_COUNTS)) return undefined;
  const prompt = count(raw.promptTokenCount);
  const candidates = count(raw.candidatesTokenCount);
  if (prompt === undefined && candidates === undefined && count(raw.totalTokenCount) === undefined) return undefined;
  const cached = count(raw.cachedContentTokenCount) ?? 0;
  const thoughts = count(raw.thoughtsTokenCount) ?? 0;
  const toolUse = count(raw.toolUsePromptTokenCount) ?? 0;
  const promptAudio = modalityCount(raw.promptTokensDetails, 'AUDIO');
  const cachedAudio = modalityCount(raw.cacheTokensDetails, 'AUDIO');
  const outputAudio = modalityCount(raw.candidatesTokensDetails, 'AUDIO');
  const usage = emptyUsage();
  usage.input.cacheRead = cached;
  usage.input.audio = nonNegative(promptAudio - cachedAudio);
  usage.input.uncached = nonNegative((prompt ?? 0) + toolUse - cached - usage.input.audio);
  usage.output.reasoning = thoughts;
  usage.output.audio = outputAudio;
  usage.output.text = nonNegative((candidates ?? 0) - outputAudio);
  usage.raw = raw;
  return usage;
}

function modalityCount(details: unknown, modality: string): number {
  if (!Array.isArray(details)) return 0;
  let total = 0;
  for (const detail of details) {
    if (isRecord(detail) && detail.modality === modality) total += count(detail.tokenCount) ?? 0;
  }
  return total;
}

/**
 * Whether any of `keys` holds something other than a count: a string, a fraction, a negative number. A usage
 * object with such a count is not trusted at all (the builders answer undefined, so the call is counted locally
 * and marked estimated), rather than billed as if the count were zero. A JSON null is taken as not reported.
 * The keys are the counts a wrong zero would under-bill: the totals, and the counts billed beside them
 * (Anthropic's cache reads and writes, Gemini's thoughts and tool-use prompt). A malformed part of a total
 * (cached tokens within the prompt, reasoning within the completion) is ignored: the whole is billed at its
 * own rate, never less.
 */
function malformed(raw: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.some((key) => raw[key] !== undefined && raw[key] !== null && count(raw[key]) === undefined);
}

const OPENAI_COUNTS = ['prompt_tokens', 'input_tokens', 'completion_tokens', 'output_tokens', 'total_tokens'] as const;
const ANTHROPIC_COUNTS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;
const GEMINI_COUNTS = [
  'promptTokenCount',
  'candidatesTokenCount',
  'totalTokenCount',
  'thoughtsTokenCount',
  'toolUsePromptTokenCount',
] as const;

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function nonNegative(value: number): number {
  return value < 0 ? 0 : value;
}

function objectOrEmpty(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
