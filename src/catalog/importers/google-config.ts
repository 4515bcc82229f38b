import { isRecord, readInteger } from './exact-json.js';
import { SourceBuilder } from './importer-support.js';
import type { Importer } from './types.js';

/**
 * The seed's Google models config (`google_models_config.json`): `{"models": [{"id", "name", "providers":
 * [{"name", "model_id", "cost_per_1k_input", "cost_per_1k_output", "priority"}]}]}`, USD per 1K tokens as
 * decimal strings. One entry per model, priced by its first-priority provider; the seed's script tried the ids
 * `google-vertex/<id>`, `google/<id>` and the bare id, so the bare id is the catalog id and the prefixed ones
 * are its variants. A provider listing another price is reported as a notice (the catalog keeps one price).
 */
export const googleConfigImporter: Importer = {
  format: 'google-config',

  detect(document) {
    if (!isRecord(document) || !Array.isArray(document.models)) return false;
    const first: unknown = document.models[0];
    return isRecord(first) && Array.isArray(first.providers);
  },

  parse(document, file) {
    const source = new SourceBuilder('google-config', file);
    if (!isRecord(document) || !Array.isArray(document.models)) {
      source.error('-', 'no "models" list');
      return source.result();
    }
    document.models.forEach((model: unknown, index: number) => {
      const id = isRecord(model) && typeof model.id === 'string' ? model.id : undefined;
      if (!isRecord(model) || !id) {
        source.error(`models[${index}]`, 'model has no string "id"');
        return;
      }
      const providers = Array.isArray(model.providers) ? model.providers.filter(isRecord) : [];
      if (providers.length === 0) {
        source.error(id, 'model has no providers', 'providers');
        return;
      }
      const ordered = [...providers].sort((a, b) => (readInteger(a.priority) ?? 1e9) - (readInteger(b.priority) ?? 1e9));
      source.entry(id, () => {
        const priced = ordered.map((provider) => {
          const label = `${id} (${String(provider.name)})`;
          const input = source.required(provider, 'cost_per_1k_input', 'usd-per-1k', label);
          const output = source.required(provider, 'cost_per_1k_output', 'usd-per-1k', label);
          return { name: String(provider.name), input, output };
        });
        const chosen = priced[0]!;
        for (const other of priced.slice(1)) {
          if (!other.input.eq(chosen.input) || !other.output.eq(chosen.output)) {
            source.notice(id, `provider ${other.name} lists another price than ${chosen.name}; ${chosen.name}'s is used`);
          }
        }
        return {
          modelId: id,
          variants: [`google-vertex/${id}`, `google/${id}`],
          providerId: chosen.name,
          upstreamModel: id,
          modality: 'text',
          rates: { input: chosen.input, output: chosen.output },
          tiers: [],
        };
      });
    });
    return source.result();
  },
};
