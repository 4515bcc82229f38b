import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { liveProviders } from '../src/main.js';
import { createProviderRegistry } from '../src/providers/registry.js';
import { backends } from './support/backends.js';
import { cost, expectBilledOnce } from './support/billing-checks.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { toneWav } from './support/wav.js';

type Charged = { tollgate: { charge: string; estimated: boolean } };

/**
 * A fresh install with no upstream key: the demo provider answers every route, each call priced as the real
 * model and billed, and labelled `demo` (the response header, the usage record, the metrics). Also the
 * behaviour a client relies on: limits named in 400s, fields named in validation errors.
 */
describe.each(backends())('every route answered by the demo provider on $name', (backend) => {
  let harness: TestGateway;
  beforeAll(async () => {
    harness = await startTestGateway(backend, {
      // The shipped seed file states the stable-diffusion image model free (`per_image` 0).
      seedFiles: ['fixtures/litellm/api-surface-slice.json', 'data/catalog/manual_pricing.json'],
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('Responses, Messages, embeddings, completions, a transcription and images, each billed once and labelled demo', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '2' });
    const client = harness.client(account.key);
    const anthropic = new Anthropic({ baseURL: harness.url, apiKey: account.key, maxRetries: 0 });
    const charges: string[] = [];
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say hello', max_output_tokens: 100 });
    expect(response.output_text).toContain('tollgate demo model');
    charges.push((response.usage as unknown as Charged).tollgate.charge);
    const message = await anthropic.messages.create({
      model: 'claude-sonnet-4-5-20250929',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(message.content[0]).toMatchObject({ type: 'text' });
    charges.push((message.usage as unknown as Charged).tollgate.charge);
    const embeddings = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['same text', 'same text'],
      encoding_format: 'float',
    });
    // Deterministic: the same text, the same unit-length vector.
    expect(embeddings.data[0]?.embedding).toEqual(embeddings.data[1]?.embedding);
    expect(Math.hypot(...embeddings.data[0]!.embedding)).toBeCloseTo(1, 6);
    charges.push((embeddings.usage as unknown as Charged).tollgate.charge);
    const completion = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time' });
    expect(completion.usage?.completion_tokens).toBe(16); // OpenAI's default max_tokens for legacy completions
    charges.push((completion.usage as unknown as Charged).tollgate.charge);
    const file = await toFile(toneWav(3.2), 'tone.wav', { type: 'audio/wav' });
    const transcription = await client.audio.transcriptions.create({ model: 'whisper-1', file });
    expect(transcription.text).toContain('3.20 seconds of audio');
    // 3.2 s read from the file, billed as 4 whole seconds at $0.0001.
    expect((transcription.usage as unknown as Charged).tollgate.charge).toBe(cost([4, '0.0001']).toString());
    charges.push((transcription.usage as unknown as Charged).tollgate.charge);
    const image = await client.images.generate({
      model: 'dall-e-3',
      prompt: 'a lighthouse',
      size: '1024x1024',
      quality: 'standard',
    });
    expect(Buffer.from(image.data![0]!.b64_json!, 'base64').subarray(1, 4).toString()).toBe('PNG');
    charges.push((image.usage as unknown as Charged).tollgate.charge);
    await harness.flush();
    const records = await harness.database.db
      .selectFrom('usage_records')
      .selectAll()
      .where('account_id', '=', account.id)
      .execute();
    expect(records.map((record) => record.provider_id)).toEqual(Array(6).fill('demo'));
    expect(records.map((record) => record.status)).toEqual(Array(6).fill('success'));
    const total = charges.reduce((sum, charge) => sum.add(cost([1, charge])), cost());
    await harness.flush();
    const balance = (await harness.gateway.ledger.getAccount(account.id)).balance;
    expect(balance.toString()).toBe(cost([1, '2']).sub(total).toString());
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(/tollgate_requests_total\{model="dall-e-3",provider="demo",status="success",stream="false"\} 1/);
  });

  it("the seed's stable-diffusion model is served and charged zero, visibly", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const response = await fetch(`${harness.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nosana/stabilityai/stable-diffusion-xl-base-1.0', prompt: 'a lighthouse', n: 2 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-tollgate-provider')).toBe('demo');
    expect(response.headers.get('x-tollgate-cost')).toBe('0');
    expect(response.headers.get('x-tollgate-pricing-source')).toBe('database');
    const body = (await response.json()) as { data: unknown[]; usage: Charged & { cost: number; tollgate: { images: number } } };
    expect(body.data).toHaveLength(2);
    expect(body.usage.cost).toBe(0);
    expect(body.usage.tollgate.images).toBe(2);
    await expectBilledOnce(harness, account, '1', body.usage.tollgate.charge, cost());
    const record = await harness.database.db
      .selectFrom('usage_records')
      .select(['breakdown', 'charge'])
      .where('account_id', '=', account.id)
      .executeTakeFirstOrThrow();
    // The breakdown shows the two images at a rate of zero: a free model, not a missing price.
    expect(record.breakdown).toMatchObject({ lines: [{ component: 'image', units: 2, rate: '0', amount: '0' }] });
  });

  it('max_tokens above the model output limit is a 400 naming the limit, not a 402', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '0.001' });
    const error = await harness
      .client(account.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 100_000 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.param).toBe('max_tokens');
    expect(apiError.message).toContain('max_tokens is 100000, but gpt-4o-mini writes at most 16384 output tokens');
    const responses = await harness
      .client(account.key)
      .responses.create({ model: 'gpt-4o-mini', input: 'Hi', max_output_tokens: 20_000 })
      .catch((caught: unknown) => caught);
    expect((responses as InstanceType<typeof OpenAI.APIError>).param).toBe('max_output_tokens');
  });

  it("validation errors keep OpenAI's shape and name the field in param, the route schema's and the parsers' alike", async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const send = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${harness.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    // The route's schema: an Idempotency-Key longer than 255 characters.
    const tooLong = await send({ model: 'gpt-4o-mini', input: 'Hi' }, { 'idempotency-key': 'k'.repeat(300) });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'invalid_request', param: 'idempotency-key' },
    });
    // The parser: an object where the model's name goes (never coerced to a string).
    const wrongType = await send({ model: { name: 'gpt-4o-mini' }, input: 'Hi' });
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'invalid_request', param: 'model' },
    });
  });

  it('says which providers are live: the demo standing in with no key, the configured ones otherwise', () => {
    const none = loadConfig({ TOLLGATE_LOG_LEVEL: 'silent' });
    expect(liveProviders(createProviderRegistry(none), none)).toEqual({ live: [], demo: 'standing-in' });
    const openai = loadConfig({ TOLLGATE_LOG_LEVEL: 'silent', OPENAI_API_KEY: 'sk-test', ANTHROPIC_API_KEY: 'sk-ant-test' });
    expect(liveProviders(createProviderRegistry(openai), openai)).toEqual({ live: ['anthropic', 'openai'], demo: 'off' });
  });
});
