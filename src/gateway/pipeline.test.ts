import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/backends.js';
import { entriesOfRequest, usageRecordOf } from '../../test/support/charges.js';
import { startTestGateway, type TestGateway } from '../../test/support/gateway-harness.js';
import { recordingLogger } from '../../test/support/recording-logger.js';
import { refusal } from '../../test/support/refusals.js';
import { Decimal } from '../money/decimal.js';
import { seedCatalog } from '../catalog/catalog-store.js';
import { parseSource } from '../catalog/importers/index.js';
import { MarkupRules } from '../catalog/markup-rules.js';
import { resolveLimitTarget, setLimits } from '../ledger/limits.js';
import type { NormalizedUsage } from '../pricing/types.js';
import { emptyUsage } from '../pricing/usage.js';
import { createProviderRegistry, type ProviderRegistry } from '../providers/registry.js';
import type { CallLimits } from './call-limits.js';
import type { GatewayError } from './errors.js';
import { CallPipeline, type CallIntent, type CallOperation, type Caller, type GatewayServices } from './pipeline.js';

/**
 * The pipeline's own rules, driven directly (prepare, then settle or fail) on a real gateway's catalog, ledger,
 * limits, recorder and metrics: what a refusal says, what a call gives back under its limits, what it records,
 * and what it survives and only logs. The upstream exchange in between is the routes' (their suites cover it).
 */
describe.each(backends())('the call pipeline on $name', (backend) => {
  let harness: TestGateway;
  let registry: ProviderRegistry;
  let markups: MarkupRules;
  const { logger, logged } = recordingLogger('warn');
  const creditsLeft: Array<[string, string]> = [];
  let counter = 0;
  const nextRequestId = () => `req_pipeline_${backend.name}_${(counter += 1)}`;

  beforeAll(async () => {
    // No call reaches an upstream here; the address only makes OpenAI a configured provider.
    harness = await startTestGateway(backend, { upstreamUrl: 'http://127.0.0.1:9' });
    registry = createProviderRegistry(harness.gateway.config);
    markups = await MarkupRules.load(harness.database, harness.gateway.config);
  });
  afterAll(async () => {
    await registry?.close();
    await harness?.close();
  });

  function pipeline(overrides: Partial<GatewayServices> = {}): CallPipeline {
    const { gateway } = harness;
    return new CallPipeline({
      config: gateway.config,
      catalog: gateway.catalog,
      markups,
      reservations: gateway.reservations,
      registry,
      recorder: gateway.recorder,
      metrics: gateway.metrics,
      logger,
      limits: gateway.limits,
      onCreditsLeft: (walletId, left) => creditsLeft.push([walletId, left.toString()]),
      onAnomaly: () => undefined,
      ...overrides,
    });
  }

  function usageOf(input: number, output: number): NormalizedUsage {
    const usage = emptyUsage();
    usage.input.uncached = input;
    usage.output.text = output;
    return usage;
  }

  /** A call to gpt-4o-mini (0.15 and 0.60 USD per 1M) of 10 prompt tokens, at worst `outputTokens` out. */
  const intent = (operation: CallOperation, outputTokens = 1000): CallIntent => ({
    model: 'gpt-4o-mini',
    operation,
    promptTokens: 10,
    worstCase: () => usageOf(10, outputTokens),
  });

  async function callerWith(credits: string): Promise<Caller> {
    const account = await harness.createAccount('consumption_usd', { credits });
    return { accountId: account.id, mode: 'consumption_usd', jobPrice: undefined, markup: undefined, keyId: `key_${account.id}` };
  }

  it('prices a bare name several providers list at the listing of the provider the call is sent to', async () => {
    const listings = {
      'together_ai/acme-chat': {
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
        litellm_provider: 'together_ai',
        mode: 'chat',
      },
      'deepinfra/acme-chat': {
        input_cost_per_token: 3e-6,
        output_cost_per_token: 4e-6,
        litellm_provider: 'deepinfra',
        mode: 'chat',
      },
    };
    await seedCatalog(harness.database.db, [parseSource(JSON.stringify(listings), 'acme.json')], {
      execute: true,
      registerModels: true,
    });
    await harness.gateway.catalog.reload();
    // A name that says nothing of its provider goes to the configured default provider.
    const routedTo = (defaultProvider: string) =>
      pipeline({ config: { ...harness.gateway.config, defaultProvider } }).resolveModel('acme-chat');
    expect(routedTo('deepinfra')).toMatchObject({ modelId: 'deepinfra/acme-chat', providerId: 'deepinfra' });
    expect(routedTo('deepinfra')!.price.rates.input.toString()).toBe('0.000003');
    expect(routedTo('together')).toMatchObject({ modelId: 'together_ai/acme-chat', providerId: 'together_ai' });
  });

  it("refuses a call its account cannot cover, naming the call's worst case and what is available; the output-limit advice only where the shape has one", async () => {
    const caller = await callerWith('0.0001');
    const advice = ' or lower the output limit (max_tokens)';
    const operations: CallOperation[] = [
      'chat',
      'responses',
      'messages',
      'completions',
      'embeddings',
      'transcriptions',
      'images',
    ];
    const refusals = [];
    for (const operation of operations) {
      const error = await refusal<GatewayError>(
        pipeline().prepare(intent(operation), caller, { requestId: nextRequestId(), stream: false }),
      );
      refusals.push([operation, error.code, error.status, error.message]);
    }
    // 10 × 0.00000015 + 1,000 × 0.0000006 = 0.0006015 USD
    const message = (withAdvice: boolean) =>
      'insufficient credits: this call needs up to 0.0006015 USD (its worst case for gpt-4o-mini) and 0.0001 USD are ' +
      `available; top up the account's credits${withAdvice ? advice : ''}`;
    expect(refusals).toEqual(operations.map((operation, index) => [operation, 'insufficient_credits', 402, message(index < 4)]));
    // A job-based account pays its job price whatever the output limit: no such advice.
    const job = await harness.createAccount('job_based', { credits: '0.5', jobPrice: '1' });
    const jobCaller: Caller = {
      accountId: job.id,
      mode: 'job_based',
      jobPrice: Decimal.parse('1'),
      markup: undefined,
      keyId: `key_${job.id}`,
    };
    const jobRefusal = await refusal<GatewayError>(
      pipeline().prepare(intent('chat'), jobCaller, { requestId: nextRequestId(), stream: false }),
    );
    expect(jobRefusal.message).toBe(
      "insufficient credits: this call needs up to 1 USD (its worst case for gpt-4o-mini) and 0.5 USD are available; top up the account's credits",
    );
  });

  it("gives back the call's place under its concurrency limit when its hold is refused and when it fails", async () => {
    const caller = await callerWith('0.01');
    const { db } = harness.database;
    await setLimits(db, await resolveLimitTarget(db, caller.accountId), { concurrency: 1 });
    harness.gateway.limits.invalidate();
    const calls = pipeline();
    const options = () => ({ requestId: nextRequestId(), stream: false });
    // 100,000 tokens out at worst: 0.06 USD, more than the account has.
    expect((await refusal<GatewayError>(calls.prepare(intent('chat', 100_000), caller, options()))).code).toBe(
      'insufficient_credits',
    );
    const first = await calls.prepare(intent('chat'), caller, options());
    // The one place is taken while the call runs.
    expect((await refusal<GatewayError>(calls.prepare(intent('chat'), caller, options()))).code).toBe('rate_limit_exceeded');
    const failed = await calls.fail(first, new Error('the upstream connection broke'));
    expect([failed.code, failed.requestId]).toEqual(['internal_error', first.requestId]);
    const second = await calls.prepare(intent('chat'), caller, options());
    const report = await calls.settle(second, usageOf(10, 20));
    expect(report.debit.amount.toString()).toBe('0.0000135'); // 10 × 0.00000015 + 20 × 0.0000006
    // The settled call gave its place back too.
    const third = await calls.prepare(intent('chat'), caller, options());
    await calls.settle(third, usageOf(10, 20));
  });

  it('records the call under the id it was given, streamed or not, with a latency within the time it took and the usage as the provider reported it; the capture keeps the money only', async () => {
    const caller = await callerWith('1');
    const calls = pipeline();
    const settledId = nextRequestId();
    let started = performance.now();
    const settled = await calls.prepare(intent('chat'), caller, { requestId: settledId, stream: true });
    const reported = { ...usageOf(12, 34), raw: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 } };
    await calls.settle(settled, reported);
    const settledWithin = performance.now() - started;
    const unreportedId = nextRequestId();
    await calls.settle(await calls.prepare(intent('chat'), caller, { requestId: unreportedId, stream: false }), usageOf(5, 6));
    const failedId = nextRequestId();
    started = performance.now();
    await calls.fail(
      await calls.prepare(intent('chat'), caller, { requestId: failedId, stream: false }),
      new Error('the upstream connection broke'),
    );
    const failedWithin = performance.now() - started;
    await harness.flush();

    const { db } = harness.database;
    const success = await usageRecordOf(db, settledId);
    expect(success).toMatchObject({ request_id: settledId, status: 'success', stream: true, input_uncached_tokens: 12 });
    expect(success.latency_ms).toBeGreaterThanOrEqual(0);
    expect(success.latency_ms).toBeLessThanOrEqual(Math.ceil(settledWithin));
    const failure = await usageRecordOf(db, failedId);
    expect(failure).toMatchObject({ request_id: failedId, status: 'error', stream: false, error_code: 'internal_error' });
    expect(failure.latency_ms).toBeGreaterThanOrEqual(0);
    expect(failure.latency_ms).toBeLessThanOrEqual(Math.ceil(failedWithin));

    // The provider's own report is kept with the call's record, and a usage without one has none; the capture
    // keeps the money only.
    expect(success.provider_usage).toEqual(reported.raw);
    expect((await usageRecordOf(db, unreportedId)).provider_usage).toBeNull();
    expect(failure.provider_usage).toBeNull();
    for (const requestId of [settledId, unreportedId]) {
      const capture = (await entriesOfRequest(db, requestId)).find((entry) => entry.kind === 'capture');
      expect([capture?.usage, capture?.breakdown, Number(capture?.price_version)]).toEqual([null, null, success.price_version]);
    }
    expect(await entriesOfRequest(db, failedId)).toEqual([]);
    // Each settled call told what its wallet had left.
    expect(creditsLeft.filter(([walletId]) => walletId === caller.accountId)).toHaveLength(2);
  });

  it('a call whose limits cannot be settled or released is still charged or given back, and the failure is logged with its id', async () => {
    const caller = await callerWith('1');
    const refused = (what: string) => () => Promise.reject(new Error(`the test refuses to ${what} the limits`));
    const limits: CallLimits = Object.assign(Object.create(harness.gateway.limits) as CallLimits, {
      settle: refused('settle'),
      release: refused('release'),
    });
    const calls = pipeline({ limits });
    const settled = await calls.prepare(intent('chat'), caller, { requestId: nextRequestId(), stream: false });
    expect((await calls.settle(settled, usageOf(10, 20))).debit.amount.toString()).toBe('0.0000135');
    const failed = await calls.prepare(intent('chat'), caller, { requestId: nextRequestId(), stream: false });
    expect((await calls.fail(failed, new Error('the upstream connection broke'))).code).toBe('internal_error');
    const lines = logged().filter((line) => String(line.requestId).startsWith(`req_pipeline_${backend.name}_`));
    expect(lines.map((line) => [line.level, line.msg, line.requestId, (line.err as { message: string }).message])).toEqual([
      [50, 'could not settle the call on its limits', settled.requestId, 'the test refuses to settle the limits'],
      [50, 'could not release the call on its limits', failed.requestId, 'the test refuses to release the limits'],
    ]);
  });

  it('counts a shortfall in the metrics only for a call the ledger could not collect in full', async () => {
    const shortfallLines = async () =>
      (await harness.gateway.metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('tollgate_shortfall'));
    const caller = await callerWith('0.001');
    const calls = pipeline();
    await calls.settle(
      await calls.prepare(intent('chat'), caller, { requestId: nextRequestId(), stream: false }),
      usageOf(10, 20),
    );
    expect(await shortfallLines()).toEqual([]);
    // 5,000 tokens out (within the model's limit, so no anomaly) where 1,000 were held: 0.0030015 USD, of which
    // the account has 0.001 - 0.0000135.
    const call = await calls.prepare(intent('chat'), caller, { requestId: nextRequestId(), stream: false });
    const report = await calls.settle(call, usageOf(10, 5_000));
    expect([report.debit.amount.toString(), report.shortfall.toString()]).toEqual(['0.0009865', '0.002015']);
    expect(await shortfallLines()).toEqual([
      'tollgate_shortfall_total{unit="usd"} 0.002015',
      'tollgate_shortfall_calls_total{unit="usd"} 1',
    ]);
  });
});
