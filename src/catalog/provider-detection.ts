/**
 * Which upstream serves a model: the catalog's `provider_id` when the model is registered; otherwise the
 * name's gateway prefix (`groq/llama-3.3-70b`), then the well-known naming patterns of the big providers.
 * The seed's validation asked that "provider detection works correctly"; an unknown model priced at the
 * default price still has to reach the right upstream.
 */
const NAME_PATTERNS: Array<[RegExp, string]> = [
  [/^(gpt-|chatgpt-|o[1-9](-|$)|text-embedding-|dall-e-|whisper-|tts-|gpt-image-|davinci|babbage|ft:gpt-|codex-)/i, 'openai'],
  [/^claude-/i, 'anthropic'],
  [/^(gemini-|gemma-|learnlm-)/i, 'gemini'],
  [/^grok-/i, 'xai'],
  [/^(mistral-|codestral-|mixtral-|open-mistral|ministral-|pixtral-|magistral-|devstral-)/i, 'mistral'],
  [/^deepseek-/i, 'deepseek'],
  [/^sonar(-|$)/i, 'perplexity'],
  [/^(kimi-|moonshot-)/i, 'moonshot'],
];

/**
 * @param modelName the name a caller sent.
 * @param isKnownProvider true for provider ids the gateway can route to (the registry's ids).
 * @returns the provider id, or undefined when nothing identifies one.
 */
export function detectProvider(modelName: string, isKnownProvider: (id: string) => boolean): string | undefined {
  const slash = modelName.indexOf('/');
  if (slash > 0) {
    const prefix = modelName.slice(0, slash).toLowerCase();
    if (isKnownProvider(prefix)) return prefix;
  }
  const bare = slash > 0 ? modelName.slice(modelName.lastIndexOf('/') + 1) : modelName;
  for (const [pattern, provider] of NAME_PATTERNS) if (pattern.test(bare)) return provider;
  return undefined;
}

/** The name to send upstream for an unregistered model: the caller's name without a known gateway prefix. */
export function upstreamNameFor(modelName: string, providerId: string): string {
  return modelName.toLowerCase().startsWith(`${providerId.toLowerCase()}/`) ? modelName.slice(providerId.length + 1) : modelName;
}
