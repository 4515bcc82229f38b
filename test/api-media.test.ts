import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { cost, costLiteral, expectBilledOnce } from './support/billing-checks.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { entriesOf, expectSettled, kindsOf } from './support/ledger-checks.js';
import { loadRecordings } from './support/mock-recordings.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { toneWav } from './support/wav.js';

// Rates from fixtures/litellm/api-surface-slice.json.
const EMBEDDING_3_SMALL = '2e-8';
const GEMINI_EMBEDDING = '1.5e-7';
const INSTRUCT = { input: '0.0000015', output: '0.000002' };
const WHISPER_PER_SECOND = '0.0001';
const GPT_4O_TRANSCRIBE = { audio: '0.000006', text: '0.0000025', output: '0.00001' };
/** LiteLLM prices dall-e-3 per pixel: 6.539e-8 x 1024 x 1792 for an hd 1024x1792 image. */
const DALL_E_3_HD_1024X1792 = '0.00000006539';
const GPT_IMAGE_1_HIGH_1024X1536 = '1.58945719e-7';

type Charged = { cost: number; tollgate: { charge: string; estimated: boolean; audio_seconds?: number; images?: number } };

/**
 * The OpenAI routes for embedding, completion, audio and image models, end to end with the official `openai`
 * client against recorded real answers, each call checked in the ledger: one capture, equal to the charge
 * the response reported, at the catalog's unit for the model (tokens, seconds of audio, images by size).
 */
describe.each(backends())('embeddings, completions, audio and images on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, { upstreamUrl: mock.url, seedFiles: ['fixtures/litellm/api-surface-slice.json'] });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  async function caller(credits = '1') {
    const account = await harness.createAccount('consumption_usd', { credits });
    return { account, client: harness.client(account.key) };
  }

  it('embeddings from OpenAI: 12 input tokens as reported, the SDK reading float vectors', async () => {
    const { account, client } = await caller();
    mock.queue('text');
    const response = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['first text', 'second text'],
      encoding_format: 'float',
    });
    expect(response.data).toHaveLength(2);
    expect(mock.requests[0]).toMatchObject({
      api: 'embeddings',
      body: { model: 'text-embedding-3-small', input: ['first text', 'second text'] },
    });
    const usage = response.usage as unknown as Charged & { prompt_tokens: number };
    expect(usage.prompt_tokens).toBe(12);
    await expectBilledOnce(harness, account, '1', usage.tollgate.charge, cost([12, EMBEDDING_3_SMALL]));
  });

  it('embeddings are relayed as the provider wrote them (its vectors not re-serialised), only usage written anew', async () => {
    const { account } = await caller();
    mock.queue('text');
    const response = await fetch(`${harness.url}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: ['first text', 'second text'] }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const upstream = loadRecordings().embeddings.text!.json!.body;
    const usageAt = upstream.indexOf('"usage": {');
    expect(usageAt).toBeGreaterThan(0);
    expect(text.slice(0, usageAt)).toBe(upstream.slice(0, usageAt));
    const usage = (JSON.parse(text) as { usage: Charged }).usage;
    await expectBilledOnce(harness, account, '1', usage.tollgate.charge, cost([12, EMBEDDING_3_SMALL]));
  });

  it("embeddings the SDK's default way (base64): the recorded 128 dimensions decode, 4 tokens billed", async () => {
    const { account, client } = await caller();
    mock.queue('base64');
    const response = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello', dimensions: 128 });
    expect(response.data[0]?.embedding).toHaveLength(128);
    await expectBilledOnce(
      harness,
      account,
      '1',
      (response.usage as unknown as Charged).tollgate.charge,
      cost([4, EMBEDDING_3_SMALL]),
    );
  });

  it("embeddings from Gemini through batchEmbedContents: OpenAI's shape back, Gemini's 14 tokens billed", async () => {
    const { account, client } = await caller();
    const response = await client.embeddings.create({
      model: 'gemini/gemini-embedding-001',
      input: ['one', 'two'],
      encoding_format: 'float',
    });
    expect(mock.requests[0]).toMatchObject({
      api: 'gemini-embeddings',
      path: '/v1beta/models/gemini-embedding-001:batchEmbedContents',
    });
    expect(mock.requests[0]?.body.requests).toEqual([
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'one' }] } },
      { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'two' }] } },
    ]);
    expect(response.data.map((item) => item.embedding.length)).toEqual([5, 5]);
    await expectBilledOnce(
      harness,
      account,
      '1',
      (response.usage as unknown as Charged).tollgate.charge,
      cost([14, GEMINI_EMBEDDING]),
    );
  });

  it('legacy completions, JSON and streamed: 14 prompt and 16 completion tokens each', async () => {
    const { account, client } = await caller();
    mock.queue('text', 'text');
    const completion = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Invent a holiday',
      max_tokens: 16,
    });
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Invent a holiday',
      max_tokens: 16,
      stream: true,
    });
    let text = '';
    let streamedUsage: Charged | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) streamedUsage = chunk.usage as unknown as Charged;
    }
    expect(text).toContain('Gratitude Day'); // the recorded stream (a run of its own: its words differ from the JSON's)
    expect(mock.requests[1]?.body.stream_options).toEqual({ include_usage: true });
    const each = cost([14, INSTRUCT.input], [16, INSTRUCT.output]);
    expect((completion.usage as unknown as Charged).tollgate.charge).toBe(each.toString());
    expect(streamedUsage!.tollgate.charge).toBe(each.toString());
    await harness.flush();
    expect((await kindsOf(harness.database.db, account.id)).filter((kind) => kind === 'capture')).toHaveLength(2);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('legacy completions for a model of a chat-only provider: a 400 pointing to chat completions, nothing charged', async () => {
    const { account, client } = await caller();
    const error = await client.completions
      .create({ model: 'claude-sonnet-4-5', prompt: 'Hi' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('use /v1/chat/completions');
    expect(mock.requests).toHaveLength(0);
    await harness.flush();
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('a whisper-1 transcription of a generated WAV: the upstream reports 2 seconds, billed per second', async () => {
    const { account, client } = await caller();
    mock.queue('text');
    const file = await toFile(toneWav(1.7), 'tone.wav', { type: 'audio/wav' });
    const transcription = await client.audio.transcriptions.create({ model: 'whisper-1', file, language: 'en' });
    expect(transcription.text).toBe('Hello, world! This is a test.');
    expect(mock.requests[0]?.body).toMatchObject({
      model: 'whisper-1',
      language: 'en',
      file: { name: 'tone.wav', size: toneWav(1.7).length },
    });
    const usage = transcription.usage as unknown as Charged;
    expect(usage.tollgate.audio_seconds).toBe(2);
    await expectBilledOnce(harness, account, '1', usage.tollgate.charge, cost([2, WHISPER_PER_SECOND]));
  });

  it('a transcription asked for as text: relayed as text/plain, its 1.7 s of audio billed as 2 seconds', async () => {
    const { account, client } = await caller();
    mock.queue('plain-text');
    const file = await toFile(toneWav(1.7), 'tone.wav', { type: 'audio/wav' });
    const { data, response } = await client.audio.transcriptions
      .create({ model: 'whisper-1', file, response_format: 'text' })
      .withResponse();
    expect(data).toBe('Hello, world! This is a test.\n');
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(mock.requests[0]?.body).toMatchObject({ model: 'whisper-1', response_format: 'text' });
    await expectBilledOnce(harness, account, '1', response.headers.get('x-tollgate-cost')!, cost([2, WHISPER_PER_SECOND]));
  });

  it('verbose_json: the duration field (1.7 s) rounds up to 2 billed seconds', async () => {
    const { account, client } = await caller();
    mock.queue('verbose');
    const file = await toFile(toneWav(1.7), 'tone.wav', { type: 'audio/wav' });
    const transcription = await client.audio.transcriptions.create({ model: 'whisper-1', file, response_format: 'verbose_json' });
    expect(transcription.duration).toBeCloseTo(1.7);
    await expectBilledOnce(
      harness,
      account,
      '1',
      (transcription.usage as unknown as Charged).tollgate.charge,
      cost([2, WHISPER_PER_SECOND]),
    );
  });

  it('gpt-4o-transcribe, priced per token: 17 audio tokens, 11 output tokens as the upstream reports them', async () => {
    const { account, client } = await caller();
    mock.queue('tokens');
    const file = await toFile(toneWav(1.7), 'tone.wav', { type: 'audio/wav' });
    const transcription = await client.audio.transcriptions.create({ model: 'gpt-4o-transcribe', file });
    const expected = cost([17, GPT_4O_TRANSCRIBE.audio], [11, GPT_4O_TRANSCRIBE.output]);
    await expectBilledOnce(harness, account, '1', (transcription.usage as unknown as Charged).tollgate.charge, expected);
  });

  it('a transcription the upstream refuses (400 invalid language) is not charged', async () => {
    const { account, client } = await caller();
    mock.queue('error-400');
    const file = await toFile(toneWav(1), 'tone.wav', { type: 'audio/wav' });
    const error = await client.audio.transcriptions
      .create({ model: 'whisper-1', file, language: 'nope' })
      .catch((caught: unknown) => caught);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('Invalid language');
    await harness.flush();
    expect((await entriesOf(harness.database.db, account.id)).filter((entry) => entry.kind === 'capture')).toHaveLength(0);
    await expectSettled(harness.database.db, harness.gateway.ledger, account.id);
  });

  it('dall-e-3 hd 1024x1792: one image at the catalog rate for that size and quality', async () => {
    const { account, client } = await caller();
    mock.queue('text');
    const image = await client.images.generate({ model: 'dall-e-3', prompt: 'a lighthouse', size: '1024x1792', quality: 'hd' });
    expect(image.data?.[0]?.url).toContain('https://');
    const usage = image.usage as unknown as Charged;
    expect(usage.tollgate.images).toBe(1);
    await expectBilledOnce(harness, account, '1', usage.tollgate.charge, cost([1024 * 1792, DALL_E_3_HD_1024X1792]));
  });

  it('gpt-image-1 with quality auto: billed at the size and quality the upstream says it made (high 1024x1536)', async () => {
    const { account, client } = await caller();
    mock.queue('gpt-image-1');
    const response = await fetch(`${harness.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a lighthouse', quality: 'auto' }),
    });
    const text = await response.text();
    const body = JSON.parse(text) as { data: unknown[]; usage: Charged & { output_tokens: number } };
    expect(body.data).toHaveLength(1);
    expect(body.usage.output_tokens).toBe(6240); // the upstream's own usage stays beside the charge
    const expected = cost([1024 * 1536, GPT_IMAGE_1_HIGH_1024X1536]);
    expect(costLiteral(text)).toBe(expected.toString());
    await expectBilledOnce(harness, account, '1', body.usage.tollgate.charge, expected);
  });

  it('a size the model has no price for is a 400 naming the priced sizes, before any upstream call', async () => {
    const { client } = await caller();
    const error = await client.images
      .generate({ model: 'dall-e-3', prompt: 'x', size: '256x256' })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain('priced: 1024x1024 hd, 1024x1024 standard');
    expect(mock.requests).toHaveLength(0);
  });

  it('models.retrieve: the current price of one model, image rates by size included; an unknown one is a 404', async () => {
    const { client } = await caller();
    const model = (await client.models.retrieve('dall-e-3')) as unknown as { id: string; pricing: { image_rates: unknown[] } };
    expect(model.id).toBe('dall-e-3');
    expect(model.pricing.image_rates).toContainEqual({ size: '1024x1792', quality: 'hd', rate: '0.11999117312' });
    const whisper = (await client.models.retrieve('whisper-1')) as unknown as { pricing: { audio_second: string } };
    expect(whisper.pricing.audio_second).toBe('0.0001');
    const missing = await client.models.retrieve('no-such-model').catch((caught: unknown) => caught);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
