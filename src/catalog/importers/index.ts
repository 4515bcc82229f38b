import { parseExactJson } from './exact-json.js';
import { genaiPricesImporter } from './genai-prices.js';
import { googleConfigImporter } from './google-config.js';
import { litellmImporter } from './litellm.js';
import { llmPricingJsonImporter } from './llm-pricing-json.js';
import { manualPricingImporter } from './manual-pricing.js';
import { openrouterImporter } from './openrouter.js';
import { portkeyImporter } from './portkey.js';
import { FORMAT_NAMES, type FormatName, type Importer, type ParsedSource } from './types.js';

/** Every importer, in the order detection tries them (the most specific shapes first). */
export const IMPORTERS: readonly Importer[] = [
  llmPricingJsonImporter,
  googleConfigImporter,
  openrouterImporter,
  genaiPricesImporter,
  portkeyImporter,
  litellmImporter,
  manualPricingImporter,
];

export function importerFor(format: FormatName): Importer {
  const importer = IMPORTERS.find((candidate) => candidate.format === format);
  if (!importer) throw new Error(`unknown format "${format}"; known formats: ${FORMAT_NAMES.join(', ')}`);
  return importer;
}

/** The format whose shape the parsed document has, or undefined when none matches. */
export function detectFormat(document: unknown): FormatName | undefined {
  return IMPORTERS.find((importer) => importer.detect(document))?.format;
}

export function isFormatName(name: string): name is FormatName {
  return (FORMAT_NAMES as readonly string[]).includes(name);
}

/**
 * Parses one price file's text with the named format, or the detected one.
 * @throws Error naming the file when the JSON is malformed or no known format matches its shape.
 */
export function parseSource(text: string, file: string, format?: FormatName): ParsedSource {
  let document: unknown;
  try {
    document = parseExactJson(text);
  } catch (error) {
    throw new Error(`${file}: malformed JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const chosen = format ?? detectFormat(document);
  if (!chosen) {
    throw new Error(`${file}: unknown price file format; name it with --format (one of ${FORMAT_NAMES.join(', ')})`);
  }
  return importerFor(chosen).parse(document, file);
}

export { FORMAT_NAMES, type FormatName, type ImportedEntry, type ParsedSource } from './types.js';
