import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceHistory } from '../src/catalog/catalog-store.js';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

/**
 * PUT /admin/pricing/models/<id>/price: the unit of per-token rates must be stated (a per-1M price sent without
 * it was written as that many dollars per token), and a per-token rate above the limit `catalog seed` and the
 * price sync hold back ($0.001 per token, $1000 per 1M) is refused unless the body confirms it. A refused PUT
 * writes nothing: the model's price history is as it was.
 */
describe.each(backends())('PUT /admin/pricing/models/<id>/price on $name', (backend) => {
  let harness: TestGateway;
  beforeAll(async () => {
    harness = await startTestGateway(backend);
  });
  afterAll(async () => {
    await harness?.close();
  });

  const put = async (model: string, body: unknown) => {
    const response = await harness.gateway.app.inject({
      method: 'PUT',
      url: `/admin/pricing/models/${model}/price`,
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      payload: body as Record<string, unknown>,
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test assertions walk arbitrary JSON
    return { status: response.statusCode, body: response.json() as any };
  };
  const versions = async (model: string) => (await priceHistory(harness.database.db, model)).length;

  it('refuses per-token rates without a unit, naming unit and its values, and writes nothing', async () => {
    const before = await versions('gpt-4o-mini');
    const refused = await put('gpt-4o-mini', { input: '0.15', output: '0.60' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_request', param: 'unit' });
    for (const word of ['"token"', '"1k"', '"1m"']) expect(refused.body.error.message).toContain(word);
    // In a tier too.
    const tier = await put('gpt-4o-mini', {
      per_image: '0.04',
      tiers: [{ above_input_tokens: 1000, input: '0.000001' }],
    });
    expect(tier.status).toBe(400);
    expect(tier.body.error).toMatchObject({ param: 'unit' });
    expect(tier.body.error.message).toContain('tiers[0].input');
    const unknown = await put('gpt-4o-mini', { unit: 'per-million', input: '0.15', output: '0.60' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ param: 'unit' });
    expect(unknown.body.error.message).toContain('"1m"');
    expect(await versions('gpt-4o-mini')).toBe(before);
  });

  it('refuses a per-token rate above $0.001 unless confirmed, naming the field, the rate and its per-1M figure', async () => {
    const before = await versions('gpt-4o-mini');
    const perToken = await put('gpt-4o-mini', { unit: 'token', input: '0.15', output: '0.0000006' });
    expect(perToken.status).toBe(400);
    expect(perToken.body.error).toMatchObject({
      code: 'invalid_request',
      param: 'input',
      unusual_rates: [{ field: 'input', usd_per_token: '0.15', usd_per_1m: '150000' }],
      confirm_with: 'confirm_unusual_rate',
    });
    expect(perToken.body.error.message).toContain('input "0.15" with unit "token" is 0.15 USD per token ($150000 per 1M tokens)');
    expect(perToken.body.error.message).toContain('"confirm_unusual_rate": true');
    expect(perToken.body.error.message).toContain('0.001 USD per token ($1000 per 1M)');

    const both = await put('gpt-4o-mini', { unit: 'token', input: '2', output: '8' });
    expect(both.status).toBe(400);
    expect(both.body.error.param).toBe('input');
    expect(both.body.error.unusual_rates.map((rate: { field: string }) => rate.field)).toEqual(['input', 'output']);

    // Per 1K: 1.5 per 1K tokens is $1500 per 1M, above the limit as well; a tier's rate is checked too.
    const perThousand = await put('gpt-4o-mini', {
      unit: '1k',
      input: '0.00015',
      output: '0.0006',
      tiers: [{ above_input_tokens: 1000, output: '1.5' }],
    });
    expect(perThousand.status).toBe(400);
    expect(perThousand.body.error).toMatchObject({
      param: 'tiers[0].output',
      unusual_rates: [{ field: 'tiers[0].output', usd_per_token: '0.0015', usd_per_1m: '1500' }],
    });

    const notBoolean = await put('gpt-4o-mini', { unit: 'token', input: '2', output: '8', confirm_unusual_rate: 'yes' });
    expect(notBoolean.status).toBe(400);
    expect(notBoolean.body.error.param).toBe('confirm_unusual_rate');
    expect(await versions('gpt-4o-mini')).toBe(before);
  });

  it('writes an unusual rate the body confirms, and exactly the limit without confirmation', async () => {
    const before = await versions('gpt-4o');
    const confirmed = await put('gpt-4o', { unit: 'token', input: '0.002', output: '0.008', confirm_unusual_rate: true });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.price.rates).toMatchObject({ input: '0.002', output: '0.008' });
    const atLimit = await put('gpt-4o', { unit: '1m', input: '1000', output: '1000' });
    expect(atLimit.status).toBe(200);
    expect(atLimit.body.price.rates).toMatchObject({ input: '0.001', output: '0.001' });
    expect(await versions('gpt-4o')).toBe(before + 2);
  });

  it('writes per-1M and per-token prices at their unit, and per-thing rates without one', async () => {
    const perMillion = await put('gpt-4o-mini', { unit: '1m', input: '0.15', output: '0.60' });
    expect(perMillion.status).toBe(200);
    expect(perMillion.body.price.rates).toMatchObject({ input: '0.00000015', output: '0.0000006' });
    const perToken = await put('gpt-4o-mini', { unit: 'token', input: '0.0000002', output: '0.0000008' });
    expect(perToken.status).toBe(200);
    expect(perToken.body.price.rates).toMatchObject({ input: '0.0000002', output: '0.0000008' });
    // An image model priced per image: no per-token rate, so no unit to state.
    const image = await put('gpt-4o-mini', { image_rates: [{ size: '1024x1024', quality: 'hd', rate: '0.08' }] });
    expect(image.status).toBe(200);
    expect(image.body.price.imageRates).toEqual([{ size: '1024x1024', quality: 'hd', rate: '0.08' }]);
  });
});
