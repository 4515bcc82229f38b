import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import { parseSource } from './importers/index.js';
import type { FormatName, ParsedSource } from './importers/types.js';
import { seedCatalog, type SeedReport } from './seed.js';

/**
 * The price files shipped in `data/catalog/`. This module is `src/catalog/` under tsx and `dist/catalog/`
 * after the build; both sit two levels below the package root, so the same relative URL finds the data.
 */
export const SHIPPED_CATALOG_DIRECTORY = fileURLToPath(new URL('../../data/catalog/', import.meta.url));

/**
 * In seeding order: the last source wins for a model several of them price, so LiteLLM's map (with cache,
 * audio and long-context rates) comes last and the seed's files add the gateway models it does not have.
 */
export const SHIPPED_FILES: { file: string; format: FormatName }[] = [
  { file: 'manual_pricing.json', format: 'manual-pricing' },
  { file: 'google_models_config.json', format: 'google-config' },
  { file: 'llm_pricing_current.json', format: 'llm-pricing-json' },
  { file: 'model_prices_and_context_window.json', format: 'litellm' },
];

/**
 * The upstream a model is served by, as the gateway's provider registry names it. LiteLLM files Google's
 * Gemini models under `gemini` (`gemini/...`, the Gemini API's prices) and `vertex_ai-language-models` (bare
 * ids such as `gemini-2.0-flash-001`, Vertex AI's prices, which differ: 0.15/0.60 per 1M there, 0.10/0.40 on
 * the Gemini API). The Vertex listings keep their own provider, `vertex_ai`, so a bare name resolves to the
 * Gemini API's listing the gateway calls (resolver: the routed provider's listing first); the seed's files
 * say `google` and `google-vertex` for the Gemini API.
 */
const UPSTREAM_PROVIDERS: Record<string, string> = {
  'vertex_ai-language-models': 'vertex_ai',
  gemini: 'gemini',
  google: 'gemini',
  'google-vertex': 'gemini',
};

/** Parses the shipped files, with every entry's provider set to the upstream that serves it. */
export function shippedSources(directory: string = SHIPPED_CATALOG_DIRECTORY): ParsedSource[] {
  return SHIPPED_FILES.map(({ file, format }) => {
    const location = `${directory.replace(/\/?$/, '/')}${file}`;
    const source = parseSource(readFileSync(location, 'utf8'), location, format);
    for (const entry of source.entries) entry.providerId = UPSTREAM_PROVIDERS[entry.providerId] ?? entry.providerId;
    return source;
  });
}

/**
 * What `tollgate serve` runs on an empty catalog: registers and prices every model the shipped files price
 * (over 1,500, including gpt-4o, claude-sonnet-4-5, gemini-2.5-flash and the nosana gateway models), in one
 * transaction. Running it again writes nothing.
 * @throws Error when a shipped file cannot be read or parsed.
 */
export async function seedShippedCatalog(
  db: Kysely<Schema>,
  options: { onProgress?: (done: number, total: number) => void } = {},
): Promise<SeedReport> {
  return seedCatalog(db, shippedSources(), {
    execute: true,
    registerModels: true,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
