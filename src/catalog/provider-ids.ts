/**
 * Provider ids as different sources spell the same company or service. genai-prices says `google`,
 * `moonshotai`, `aws`, `x-ai`, `together`; LiteLLM `gemini`, `vertex_ai`, `bedrock`, `together_ai`; the gateway's
 * registry `gemini`, `moonshot`, `xai`. Resolution compares providers by family; the first id of each family
 * is its name.
 */
const FAMILIES: readonly string[][] = [
  [
    'google',
    'gemini',
    'vertex_ai',
    'vertex_ai-language-models',
    'vertex',
    'google-vertex',
    'google-ai-studio',
    'google_ai_studio',
  ],
  ['moonshot', 'moonshotai', 'moonshot_ai'],
  ['bedrock', 'amazon', 'aws', 'bedrock_converse', 'amazon-bedrock', 'amazon_bedrock'],
  ['together', 'together_ai', 'together-ai', 'togetherai'],
  ['xai', 'x-ai', 'x_ai'],
  ['mistral', 'mistralai', 'mistral_ai'],
  ['fireworks', 'fireworks_ai', 'fireworks-ai', 'fireworksai'],
  ['azure', 'azure_ai', 'azure-openai', 'azure_openai'],
  ['openai', 'text-completion-openai'],
  ['anthropic'],
  ['meta', 'meta-llama', 'meta_llama'],
  ['zhipuai', 'zai', 'z-ai', 'zhipu'],
  ['cohere', 'cohere_chat'],
  ['perplexity', 'perplexityai', 'perplexity-ai'],
  ['deepinfra', 'deep-infra'],
  ['huggingface', 'hugging-face', 'hf'],
];

const FAMILY_OF = new Map<string, string>();
for (const family of FAMILIES) for (const id of family) FAMILY_OF.set(id, family[0]!);

/** The family a provider id belongs to (`vertex_ai` -> `google`); an id no family lists is its own. */
export function providerFamily(id: string): string {
  const lower = id.toLowerCase();
  return FAMILY_OF.get(lower) ?? lower;
}

/** Makers the gateway has no upstream for, by the names of their models (pricing only; routing never reads these). */
const MAKER_PATTERNS: Array<[RegExp, string]> = [
  [/^command(-|$)/i, 'cohere'],
  [/^minimax/i, 'minimax'],
  [/^glm-/i, 'zhipuai'],
  [/^voyage-/i, 'voyageai'],
];

/**
 * The provider of the company that makes a model, as the gateway's registry names it, from its bare name
 * (`gpt-*` -> openai, `gemini-*` -> gemini, `kimi-*` -> moonshot, `command-*` -> cohere); undefined when the
 * name does not say. Compare it by family (`providerFamily`): genai-prices calls them google and moonshotai.
 */
export function makerOf(name: string, detect: (name: string) => string | undefined): string | undefined {
  const bare = name.slice(name.lastIndexOf('/') + 1);
  const detected = detect(bare);
  if (detected) return detected;
  for (const [pattern, maker] of MAKER_PATTERNS) if (pattern.test(bare)) return maker;
  return undefined;
}
