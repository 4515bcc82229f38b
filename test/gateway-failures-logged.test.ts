import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { usageRecordsOfAccount } from './support/charges.js';
import { refuseEntriesOf } from './support/database-faults.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { recordingLogger } from './support/recording-logger.js';
import { kindsOf } from './support/ledger-checks.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

/**
 * What the call path survives and only logs: a failed call whose hold cannot be given back (durable holds per
 * call, so the release is a database write). The caller still gets the upstream's error, the hold is left for
 * the sweeper, and the operator reads why, with the request's id.
 */
describe.each(backends())('failures the call path logs and survives, on $name', (backend) => {
  let mock: MockUpstream;
  let harness: TestGateway;
  const { logger, logged } = recordingLogger('warn');
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(backend, {
      upstreamUrl: mock.url,
      env: { TOLLGATE_HOLDS: 'per_call' },
      logger,
    });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });
  beforeEach(() => mock.reset());

  it('a hold that cannot be released is logged for the sweeper; the caller gets the upstream error', async () => {
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const fault = await refuseEntriesOf(harness.database.db, account.id, { kind: 'release' });
    let error: unknown;
    try {
      mock.queue('error-500');
      error = await harness
        .client(account.key)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 100 })
        .catch((caught: unknown) => caught);
      expect(await fault.attempts()).toBe(1);
    } finally {
      await fault.stop();
    }
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    const released = logged().filter((line) => line.msg === 'could not release hold; the sweeper will');
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ level: 50, err: expect.objectContaining({ message: 'the test refuses this release' }) });
    // The request id the usage record of the failed call carries.
    await harness.flush();
    const records = await usageRecordsOfAccount(harness.database.db, account.id);
    expect(records.map((record) => [record.status, record.error_code])).toEqual([['error', 'upstream_error']]);
    expect(released[0]!.requestId).toBe(records[0]!.request_id);
    // The caller's error names the same call.
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-tollgate-request-id')).toBe(records[0]!.request_id);
    // Left open for the sweeper: nothing was charged, and the hold still reserves its amount.
    expect(await kindsOf(harness.database.db, account.id)).toEqual(['grant', 'hold']);
  });
});
