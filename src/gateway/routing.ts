import { detectProvider, upstreamNameFor } from '../catalog/provider-detection.js';
import { GatewayError } from './errors.js';
import type { Resolution } from '../pricing/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ProviderAdapter, UpstreamTarget } from '../providers/types.js';

export interface Route {
  adapter: ProviderAdapter;
  target: UpstreamTarget;
  /** The provider the model belongs to (for records and metrics), even when the demo answers. */
  providerId: string;
  demo: boolean;
}

/**
 * Picks the adapter and upstream for a resolved model. The provider comes from the catalog, else from the
 * name (see provider-detection.ts), else the configured default provider. In demo mode the local demo provider answers, priced as the real model.
 * @throws GatewayError upstream_not_configured when no adapter serves the provider or its key is missing.
 */
export function routeCall(
  resolution: Resolution,
  registry: ProviderRegistry,
  options: { demo: 'auto' | 'on' | 'off'; defaultProvider: string | undefined },
): Route {
  const demoMode = options.demo;
  const providerId =
    resolution.providerId ?? intendedProvider(resolution.requested, registry, options.defaultProvider) ?? 'unknown';
  const upstreamModel = resolution.upstreamModel ?? upstreamNameFor(resolution.requested, providerId);
  if (demoMode === 'on' || (demoMode === 'auto' && !anyUpstreamConfigured(registry))) {
    const adapter = registry.adapterFor('demo');
    if (adapter) return { adapter, target: registry.targetFor('demo', upstreamModel), providerId, demo: true };
  }
  const adapter = registry.adapterFor(providerId);
  if (!adapter) {
    throw new GatewayError(
      'upstream_not_configured',
      `no upstream serves model ${JSON.stringify(resolution.requested)} (provider ${JSON.stringify(providerId)} is not one the gateway knows); ` +
        'register the model in the catalog with a known provider or use a provider prefix such as "openai/"',
      'model',
    );
  }
  if (!registry.hasCredentials(providerId)) {
    throw new GatewayError(
      'upstream_not_configured',
      `provider ${providerId} has no API key configured: set ${providerId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY`,
    );
  }
  return { adapter, target: registry.targetFor(providerId, upstreamModel), providerId, demo: false };
}

/**
 * The provider a call to `model` is sent to when the catalog does not say: the name's prefix when the registry
 * serves it, else its maker, else the configured default. The resolver takes it (ResolveContext.provider), so a
 * bare name several providers list is priced by the listing of the one that will serve it.
 */
export function intendedProvider(
  model: string,
  registry: ProviderRegistry,
  defaultProvider: string | undefined,
): string | undefined {
  return detectProvider(model, (id) => registry.adapterFor(id) !== undefined) ?? defaultProvider;
}

/** Per registry: its credentials come from the configuration, fixed for its life. */
const configured = new WeakMap<ProviderRegistry, boolean>();

/**
 * Whether any upstream has credentials: asked on every call in the default demo mode (`auto`), and answered
 * once per registry (the profile of a call found the sorted list of ids it built each time).
 */
function anyUpstreamConfigured(registry: ProviderRegistry): boolean {
  let answer = configured.get(registry);
  if (answer === undefined) {
    answer = registry.ids().some((id) => id !== 'demo' && registry.hasCredentials(id));
    configured.set(registry, answer);
  }
  return answer;
}
