import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { Decimal } from '../money/decimal.js';
import type { Resolution } from '../pricing/types.js';
import { createProviderRegistry } from '../providers/registry.js';
import { GatewayError } from './errors.js';
import { intendedProvider, routeCall } from './routing.js';

/** A resolution as the catalog gives it; only the routing fields matter here. */
function resolution(requested: string, fromCatalog: { providerId?: string; upstreamModel?: string } = {}): Resolution {
  return {
    requested,
    modelId: fromCatalog.providerId ? requested : undefined,
    providerId: fromCatalog.providerId,
    upstreamModel: fromCatalog.upstreamModel,
    source: 'default',
    match: 'default',
    price: {
      version: undefined,
      modelId: requested,
      rates: { input: Decimal.ZERO, output: Decimal.ZERO },
      tiers: [],
      effectiveFrom: undefined,
      effectiveUntil: undefined,
    },
    maxOutputTokens: undefined,
    contextWindow: undefined,
  } as unknown as Resolution;
}

/** Real registries from configuration: OpenAI and Anthropic have keys, the others none. */
const keyed = createProviderRegistry(
  loadConfig({ OPENAI_API_KEY: 'sk-test', ANTHROPIC_API_KEY: 'sk-ant-test', TOLLGATE_DEMO: 'off' }),
);
const keyless = createProviderRegistry(loadConfig({}));

afterAll(async () => {
  await keyed.close();
  await keyless.close();
});

const off = { demo: 'off' as const, defaultProvider: 'openai' };

describe('routeCall', () => {
  it("routes to the catalog's provider and upstream name", () => {
    const route = routeCall(resolution('claude-x', { providerId: 'anthropic', upstreamModel: 'claude-x-20250101' }), keyed, off);
    expect([route.providerId, route.adapter.id, route.target.upstreamModel, route.demo]).toEqual([
      'anthropic',
      'anthropic',
      'claude-x-20250101',
      false,
    ]);
  });

  it('sends a model the catalog lists under vertex_ai or google to the Gemini API (the registry aliases them)', () => {
    const gemini = createProviderRegistry(loadConfig({ GEMINI_API_KEY: 'g-test', TOLLGATE_DEMO: 'off' }));
    try {
      for (const providerId of ['vertex_ai', 'google']) {
        const route = routeCall(
          resolution('gemini-2.0-flash-001', { providerId, upstreamModel: 'gemini-2.0-flash-001' }),
          gemini,
          off,
        );
        expect([route.adapter.id, route.target.providerId, route.target.upstreamModel]).toEqual([
          'gemini',
          'gemini',
          'gemini-2.0-flash-001',
        ]);
      }
    } finally {
      void gemini.close();
    }
  });

  it('names the provider a call is intended for before resolution: a served prefix, the maker, then the default', () => {
    expect(intendedProvider('groq/llama-3.3-70b', keyed, 'openai')).toBe('groq');
    expect(intendedProvider('gemini-2.0-flash-001', keyed, 'openai')).toBe('gemini');
    expect(intendedProvider('llama-3.3-70b', keyed, 'together')).toBe('together');
    expect(intendedProvider('llama-3.3-70b', keyed, undefined)).toBeUndefined();
    // A prefix no adapter serves is part of the name, not a provider.
    expect(intendedProvider('acme/gpt-4o', keyed, 'together')).toBe('openai');
    expect(intendedProvider('acme/model-x', keyed, 'together')).toBe('together');
  });

  it('without a catalog provider, detects it from the name and strips the provider prefix for the upstream', () => {
    const route = routeCall(resolution('anthropic/claude-y'), keyed, off);
    expect([route.providerId, route.target.upstreamModel]).toEqual(['anthropic', 'claude-y']);
  });

  it('falls back to the default provider for a name that says nothing', () => {
    const route = routeCall(resolution('acme-model'), keyed, off);
    expect([route.providerId, route.adapter.id, route.target.upstreamModel]).toEqual(['openai', 'openai', 'acme-model']);
  });

  it('refuses a provider the gateway does not know, naming the model (400-class: the request is wrong)', () => {
    const error = (() => {
      try {
        routeCall(resolution('acme-model'), keyed, { demo: 'off', defaultProvider: undefined });
      } catch (caught) {
        return caught as GatewayError;
      }
      throw new Error('routed');
    })();
    expect(error).toBeInstanceOf(GatewayError);
    expect([error.code, error.param]).toEqual(['upstream_not_configured', 'model']);
    expect(error.message).toBe(
      'no upstream serves model "acme-model" (provider "unknown" is not one the gateway knows); ' +
        'register the model in the catalog with a known provider or use a provider prefix such as "openai/"',
    );
  });

  it('refuses a known provider without a key, naming the variable to set', () => {
    expect(() => routeCall(resolution('m', { providerId: 'mistral' }), keyed, off)).toThrow(
      'provider mistral has no API key configured: set MISTRAL_API_KEY',
    );
    expect(() => routeCall(resolution('m', { providerId: 'fireworks_ai' }), keyed, off)).toThrow('set FIREWORKS_AI_API_KEY');
  });

  it('demo on: the demo provider answers, priced and recorded as the real provider', () => {
    const route = routeCall(resolution('gpt-4o-mini', { providerId: 'openai' }), keyed, {
      demo: 'on',
      defaultProvider: 'openai',
    });
    expect([route.adapter.id, route.providerId, route.demo, route.target.upstreamModel]).toEqual([
      'demo',
      'openai',
      true,
      'gpt-4o-mini',
    ]);
  });

  it('demo auto: the demo answers only while no upstream has a key', () => {
    const auto = { demo: 'auto' as const, defaultProvider: 'openai' };
    expect(routeCall(resolution('gpt-4o-mini', { providerId: 'openai' }), keyless, auto).demo).toBe(true);
    expect(routeCall(resolution('gpt-4o-mini', { providerId: 'openai' }), keyed, auto).demo).toBe(false);
  });

  it('demo off: no demo stands in, even with no upstream key; the call is refused naming the key to set', () => {
    expect(() => routeCall(resolution('gpt-4o-mini', { providerId: 'openai' }), keyless, off)).toThrow(
      'provider openai has no API key configured: set OPENAI_API_KEY',
    );
  });
});
