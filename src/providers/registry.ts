import type { Dispatcher } from 'undici';
import { PROVIDER_ENVIRONMENT_PREFIXES, type Config } from '../config/config.js';
import { createAnthropicAdapter } from './anthropic/anthropic-adapter.js';
import { createCerebrasAdapter } from './cerebras/cerebras-adapter.js';
import { createDeepInfraAdapter } from './deepinfra/deepinfra-adapter.js';
import { createDeepSeekAdapter } from './deepseek/deepseek-adapter.js';
import { createDemoAdapter } from './demo/demo-adapter.js';
import { createFeatherlessAdapter } from './featherless/featherless-adapter.js';
import { createFireworksAdapter } from './fireworks/fireworks-adapter.js';
import { createGeminiAdapter } from './gemini/gemini-adapter.js';
import { createGroqAdapter } from './groq/groq-adapter.js';
import { UpstreamHttpClient } from './http-client.js';
import { createHyperbolicAdapter } from './hyperbolic/hyperbolic-adapter.js';
import { createLambdaAdapter } from './lambda/lambda-adapter.js';
import { createMistralAdapter } from './mistral/mistral-adapter.js';
import { createMoonshotAdapter } from './moonshot/moonshot-adapter.js';
import { createNosanaAdapter } from './nosana/nosana-adapter.js';
import { createNscaleAdapter } from './nscale/nscale-adapter.js';
import { createOpenAIAdapter } from './openai/openai-adapter.js';
import { createOpenRouterAdapter } from './openrouter/openrouter-adapter.js';
import { createPerplexityAdapter } from './perplexity/perplexity-adapter.js';
import { createSambaNovaAdapter } from './sambanova/sambanova-adapter.js';
import { createTogetherAdapter } from './together/together-adapter.js';
import { createXaiAdapter } from './xai/xai-adapter.js';
import { UpstreamError, type ProviderAdapter, type UpstreamTarget } from './types.js';

/** Every adapter, by the id that also keys `config.providers`. Adding a provider is one line here. */
const FACTORIES: Record<string, (http: UpstreamHttpClient) => ProviderAdapter> = {
  openai: createOpenAIAdapter,
  anthropic: createAnthropicAdapter,
  gemini: createGeminiAdapter,
  demo: createDemoAdapter,
  nosana: createNosanaAdapter,
  deepinfra: createDeepInfraAdapter,
  featherless: createFeatherlessAdapter,
  openrouter: createOpenRouterAdapter,
  together: createTogetherAdapter,
  groq: createGroqAdapter,
  fireworks: createFireworksAdapter,
  cerebras: createCerebrasAdapter,
  hyperbolic: createHyperbolicAdapter,
  sambanova: createSambaNovaAdapter,
  lambda: createLambdaAdapter,
  mistral: createMistralAdapter,
  deepseek: createDeepSeekAdapter,
  xai: createXaiAdapter,
  perplexity: createPerplexityAdapter,
  moonshot: createMoonshotAdapter,
  nscale: createNscaleAdapter,
};

/**
 * Catalog provider ids (LiteLLM's `litellm_provider`, genai-prices', OpenRouter's) that other adapters serve.
 * Vertex AI model names are the Gemini API's, so they are called through the Gemini API with its key.
 * Azure OpenAI is deliberately absent: it needs per-deployment URLs, an `api-key` header and an
 * `api-version` query, so routing its models to api.openai.com would bill a different service.
 */
const ALIASES: Record<string, string> = {
  'text-completion-openai': 'openai',
  'vertex_ai-language-models': 'gemini',
  vertex_ai: 'gemini',
  google: 'gemini',
  'google-vertex': 'gemini',
  'x-ai': 'xai',
  together_ai: 'together',
  fireworks_ai: 'fireworks',
  mistralai: 'mistral',
  moonshotai: 'moonshot',
};

export interface ProviderRegistry {
  adapterFor(providerId: string): ProviderAdapter | undefined;
  /**
   * The URL and key for a call: `config.providers[id]` first, else the adapter's public URL.
   * @throws UpstreamError not_configured for an unknown provider or one with no URL at all (nosana).
   */
  targetFor(providerId: string, upstreamModel: string): UpstreamTarget;
  /** True when a call can be made: a key is configured (or the adapter needs none) and a URL is known. */
  hasCredentials(providerId: string): boolean;
  /** Every id the registry answers to, aliases included, sorted. */
  ids(): string[];
  /** Closes the upstream connection pools. */
  close(): Promise<void>;
}

export function createProviderRegistry(config: Config, options: { dispatcher?: Dispatcher } = {}): ProviderRegistry {
  const http = new UpstreamHttpClient({ ...config.upstream, ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}) });
  const adapters = new Map<string, ProviderAdapter>();
  for (const [id, create] of Object.entries(FACTORIES)) adapters.set(id, create(http));
  const canonical = (providerId: string): string => ALIASES[providerId] ?? providerId;

  const baseUrlFor = (id: string): string | undefined => config.providers[id]?.baseUrl ?? adapters.get(id)?.defaultBaseUrl;

  return {
    adapterFor: (providerId) => adapters.get(canonical(providerId)),
    targetFor(providerId, upstreamModel) {
      const id = canonical(providerId);
      const adapter = adapters.get(id);
      if (adapter === undefined) throw new UpstreamError('not_configured', `no adapter for provider "${providerId}"`);
      const baseUrl = baseUrlFor(id);
      if (adapter.requiresApiKey && baseUrl === undefined) {
        const variable = `${PROVIDER_ENVIRONMENT_PREFIXES[id] ?? id.toUpperCase()}_BASE_URL`;
        throw new UpstreamError('not_configured', `provider "${id}" has no public URL; set ${variable}`);
      }
      return { providerId: id, upstreamModel, baseUrl: baseUrl ?? '', apiKey: config.providers[id]?.apiKey };
    },
    hasCredentials(providerId) {
      const id = canonical(providerId);
      const adapter = adapters.get(id);
      if (adapter === undefined) return false;
      if (!adapter.requiresApiKey) return true;
      return config.providers[id]?.apiKey !== undefined && baseUrlFor(id) !== undefined;
    },
    ids: () => [...adapters.keys(), ...Object.keys(ALIASES)].sort(),
    close: () => http.close(),
  };
}
