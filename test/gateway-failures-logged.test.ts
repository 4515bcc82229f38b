import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends, postgresBackend } from './support/backends.js';
import { d, usageRecordsOfAccount } from './support/charges.js';
import { refuseEntriesOf } from './support/database-faults.js';
import { startTestGateway, type TestGateway } from './support/gateway-harness.js';
import { recordingLogger } from './support/recording-logger.js';
import { capturedTotal, kindsOf } from './support/ledger-checks.js';
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

/**
 * A full disk under the capture journal (its segment is /dev/full, which fails every write with ENOSPC): calls
 * are still served and billed exactly once, each capture in the database before its answer leaves, since no
 * journal line would survive the process dying meanwhile. On PostgreSQL: an in-memory PGlite has no journal.
 */
const postgres = postgresBackend();
describe.skipIf(!postgres)('a full disk under the capture journal, on postgres', () => {
  let mock: MockUpstream;
  let harness: TestGateway;
  const { logger, logged } = recordingLogger('warn');
  beforeAll(async () => {
    mock = await startMockUpstream();
    harness = await startTestGateway(postgres!, { upstreamUrl: mock.url, logger });
  });
  afterAll(async () => {
    await harness?.close();
    await mock?.close();
  });

  it('serves every call, each capture written before its answer, and says once that the journal cannot be written', async () => {
    const { gateway, database } = harness;
    const [instance] = await database.db.selectFrom('gateway_instances').select('id').where('stopped_at', 'is', null).execute();
    const directory = path.join(gateway.config.ledger.journalDirectory, database.identity!);
    const segment = path.join(directory, `${instance!.id}-${process.pid}-1.journal`);
    expect(existsSync(segment)).toBe(false);
    symlinkSync('/dev/full', segment);
    const account = await harness.createAccount('consumption_usd', { credits: '1' });
    const client = harness.client(account.key);
    const charges: string[] = [];
    for (let call = 0; call < 3; call += 1) {
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1000 })
        .withResponse();
      expect(data.choices[0]!.message.content).toBeTruthy();
      // `x-tollgate-debit`: what the ledger captured, and its unit.
      const [amount, unit] = response.headers.get('x-tollgate-debit')!.split(' ');
      expect(unit).toBe('usd');
      charges.push(amount!);
      // Answered: its capture is in the ledger already, with no flush (in-lease captures otherwise linger 250 ms).
      expect(await kindsOf(database.db, account.id)).toEqual(['grant', 'hold', ...Array(call + 1).fill('capture')]);
    }
    const total = charges.reduce((sum, charge) => sum.add(d(charge)), d('0'));
    expect(total.isPositive()).toBe(true);
    expect((await capturedTotal(database.db, account.id)).toString()).toBe(total.toString());
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 50,
        err: expect.objectContaining({ code: 'ENOSPC' }),
        msg: expect.stringMatching(/^cannot append to the capture journal/),
      }),
    ]);
    await harness.flush();
    expect((await gateway.ledger.verify()).ok).toBe(true);
    expect((await usageRecordsOfAccount(database.db, account.id)).map((record) => record.status)).toEqual([
      'success',
      'success',
      'success',
    ]);
  });
});
