import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progress, runLoad, type LoadResult } from './support/call-load.js';
import { admin, capturedRequests, eventually, FAULT_ADMIN_KEY, ledgerHolds } from './support/fault-checks.js';
import { startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { loadRecordings } from './support/mock-recordings.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { openScratchPostgres, type ScratchDatabase } from './support/scratch-database.js';

/**
 * `tollgate serve --workers 2` as an operator runs it, on PostgreSQL: both workers serve calls on the one
 * port, a worker killed with SIGKILL is replaced and every call a client received as 2xx is captured exactly
 * once, `/metrics` counts the calls of every worker, and SIGTERM lets a call in flight finish and be billed
 * before the processes exit. The embedded database refuses workers.
 */
const adminUrl = process.env.TEST_DATABASE_URL;

let upstream: MockUpstream;
let journals: string;

beforeAll(async () => {
  upstream = await startMockUpstream();
  journals = mkdtempSync(path.join(tmpdir(), 'tollgate-workers-journal-'));
});
afterAll(async () => {
  await upstream.close();
  rmSync(journals, { recursive: true, force: true });
});

function gatewayEnv(extra: Record<string, string>): Record<string, string> {
  return {
    TOLLGATE_ADMIN_KEY: FAULT_ADMIN_KEY,
    TOLLGATE_DEMO: 'off',
    TOLLGATE_SYNC_CRON: 'off',
    TOLLGATE_UPSTREAM_MAX_RETRIES: '0',
    TOLLGATE_JOURNAL_DIR: journals,
    OPENAI_BASE_URL: `${upstream.url}/v1`,
    OPENAI_API_KEY: 'sk-workers-test',
    ...extra,
  };
}

async function createAccount(url: string): Promise<{ id: string; key: string }> {
  const created = await admin<{ account: { id: string }; api_key: { key: string } }>(url, 'POST', '/admin/accounts', {
    name: `workers-${Math.random().toString(36).slice(2)}`,
    mode: 'consumption_usd',
    credits: '1000',
  });
  return { id: created.account.id, key: created.api_key.key };
}

/** The worker pids the banner names. */
function workerPids(gateway: GatewayProcess): number[] {
  const match = /workers: \d+ processes share the port \(pids ([\d, ]+);/.exec(gateway.output());
  if (!match) throw new Error(`no worker pids in the banner:\n${gateway.output()}`);
  return match[1]!.split(', ').map(Number);
}

/** The pids of the gateway instances that placed the account's holds (credit leases): who served its calls. */
async function servingPids(database: ScratchDatabase, accountId: string): Promise<Set<number>> {
  const rows = await database.db
    .selectFrom('ledger_entries as hold')
    .innerJoin('gateway_instances as instance', 'instance.id', 'hold.owner_id')
    .select('instance.pid')
    .where('hold.account_id', '=', accountId)
    .where('hold.kind', '=', 'hold')
    .execute();
  return new Set(rows.map((row) => row.pid));
}

async function captureEntries(database: ScratchDatabase, accountId: string): Promise<number> {
  const row = await database.db
    .selectFrom('ledger_entries')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('account_id', '=', accountId)
    .where('kind', '=', 'capture')
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

const load = (url: string, key: string, maxCalls: number) =>
  runLoad({ url, key, concurrency: 4, maxCalls, signal: new AbortController().signal });

describe.skipIf(!adminUrl)('tollgate serve --workers on PostgreSQL (needs TEST_DATABASE_URL)', () => {
  let database: ScratchDatabase;
  beforeAll(async () => {
    database = await openScratchPostgres(adminUrl!, 'tollgate_workers');
  });
  afterAll(async () => {
    await database?.close();
  });

  it('two workers serve the port; one killed with SIGKILL is replaced, and every served call is captured exactly once', async () => {
    const gateway = await startGatewayProcess(gatewayEnv({ DATABASE_URL: database.url }), ['--workers', '2']);
    try {
      const pids = workerPids(gateway);
      expect(pids).toHaveLength(2);
      const account = await createAccount(gateway.url);
      const results: LoadResult[] = [];
      // Each load opens new connections, which the primary hands to the workers in turn.
      await eventually('both workers served calls', async () => {
        results.push(await load(gateway.url, account.key, 20));
        return (await servingPids(database, account.id)).size === 2;
      });
      expect([...(await servingPids(database, account.id))].sort()).toEqual([...pids].sort());

      // /metrics on either worker counts the calls of both.
      const answered = results.reduce((total, result) => total + result.served.length, 0);
      await eventually('the metrics of both workers add up to every call', async () => {
        const text = await (await fetch(`${gateway.url}/metrics`)).text();
        const counted = [...text.matchAll(/^tollgate_requests_total\{[^}]*status="success"[^}]*\} (\d+)$/gm)].reduce(
          (total, match) => total + Number(match[1]),
          0,
        );
        return counted === answered;
      });

      // Kill one worker in the middle of a load on both; the load goes on through the survivor.
      const victim = pids[1]!;
      const controller = new AbortController();
      const watch = progress();
      const during = runLoad({
        url: gateway.url,
        key: account.key,
        concurrency: 4,
        maxCalls: 5_000,
        signal: controller.signal,
        onCall: watch.onCall,
      });
      await watch.until((result) => result.served.length >= 40);
      process.kill(victim, 'SIGKILL');
      let servedAtKill: number | undefined;
      await watch.until((result) => result.served.length >= (servedAtKill ??= result.served.length) + 40);
      controller.abort();
      results.push(await during);
      // The load's connections went to the surviving worker while the replacement started: new ones reach it.
      await eventually('a replacement worker served calls', async () => {
        results.push(await load(gateway.url, account.key, 20));
        const serving = await servingPids(database, account.id);
        return [...serving].some((pid) => !pids.includes(pid));
      });
      expect(gateway.child.exitCode).toBeNull();

      await gateway.stop();
      expect((await gateway.exited).code).toBe(0);
      const served = new Set(results.flatMap((result) => result.served));
      const captured = await capturedRequests(database.db, account.id);
      expect([...served].filter((id) => !captured.has(id))).toEqual([]);
      // Calls cut by the kill may have been charged without their answer arriving; nothing else.
      const cut = results.reduce((total, result) => total + result.networkErrors, 0);
      expect([...captured].filter((id) => !served.has(id)).length).toBeLessThanOrEqual(cut);
      // Exactly once: as many capture entries as captured request ids.
      expect(await captureEntries(database, account.id)).toBe(captured.size);
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
    } finally {
      await gateway.stop();
    }
  });

  it('SIGTERM: the workers stop taking connections, finish the call in flight, bill it, and exit 0', async () => {
    await withHeldWorkers(database, async (held, gateway) => {
      const account = await createAccount(gateway.url);
      const inFlight = fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 }),
      });
      await held.waitForRequest();
      gateway.child.kill('SIGTERM');
      // Both workers closed their listeners: the port refuses new connections while the call is still held.
      const port = Number(new URL(gateway.url).port);
      await eventually('the port refuses new connections', () => refused(port));
      expect(gateway.child.exitCode).toBeNull();
      held.release();
      const response = await inFlight;
      expect(response.status).toBe(200);
      const requestId = response.headers.get('x-tollgate-request-id');
      expect(((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(363);
      expect((await gateway.exited).code).toBe(0);
      expect(gateway.output()).toContain('SIGTERM: 2 workers finishing in-flight calls and closing');
      expect([...(await capturedRequests(database.db, account.id))]).toEqual([requestId]);
      expect(await ledgerHolds(database.db)).toEqual({ ok: true, negative: [] });
      const stopped = await database.db.selectFrom('gateway_instances').select('id').where('stopped_at', 'is', null).execute();
      expect(stopped).toEqual([]);
    });
  });

  it('rate limits without Redis hold across the workers: the primary counts for all of them', async () => {
    await withHeldWorkers(database, async (held, gateway) => {
      const account = await createAccount(gateway.url);
      await admin(gateway.url, 'PUT', `/admin/limits/${account.id}`, { concurrency: 1 });
      const first = callOnNewConnection(gateway.url, account.key);
      await held.waitForRequest();
      // The one call allowed is in flight on one worker; new connections go to both workers in turn, and
      // every one is refused: neither worker counts on its own.
      const others = await Promise.all(Array.from({ length: 6 }, () => callOnNewConnection(gateway.url, account.key)));
      for (const other of others) {
        expect(other.status).toBe(429);
        expect(JSON.parse(other.body).error.code).toBe('rate_limit_exceeded');
        expect(JSON.parse(other.body).error.message).toContain('1 concurrent calls');
      }
      expect(held.requests()).toBe(1);
      held.release();
      expect((await first).status).toBe(200);
      // Its settlement reached the primary: the slot is free again, whichever worker takes the next call.
      for (let index = 0; index < 2; index += 1) expect((await callOnNewConnection(gateway.url, account.key)).status).toBe(200);
    });
  });
});

describe('tollgate serve --workers on the embedded database', () => {
  it('refuses more than one worker, naming PostgreSQL, with the usage exit code', async () => {
    const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-workers-pglite-'));
    try {
      const started = startGatewayProcess(gatewayEnv({ TOLLGATE_DATA_DIR: dataDirectory }), ['--workers', '2']);
      await expect(started).rejects.toThrow(/--workers 2 needs PostgreSQL/);
    } finally {
      rmSync(dataDirectory, { recursive: true, force: true });
    }
  });
});

/** Resolves true once a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** An OpenAI upstream that holds every chat completion until `release()`, then answers the recorded one. */
async function startHeldUpstream(): Promise<{
  url: string;
  /** How many requests reached the upstream so far. */
  requests(): number;
  waitForRequest(): Promise<void>;
  release(): void;
  close(): Promise<void>;
}> {
  const recorded = loadRecordings().openai.text!.json!;
  const waiting: ServerResponse[] = [];
  let received = 0;
  let released = false;
  let arrived: (() => void) | undefined;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const answer = (response: ServerResponse) =>
    response.writeHead(recorded.status, { 'content-type': 'application/json' }).end(recorded.body);
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      if (released) answer(response);
      else waiting.push(response);
      arrived?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => received,
    waitForRequest: () => arrival,
    release() {
      released = true;
      for (const response of waiting.splice(0)) answer(response);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A chat call on a connection of its own (the primary hands each new connection to the next worker). */
function callOnNewConnection(url: string, key: string): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 });
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

type HeldUpstream = Awaited<ReturnType<typeof startHeldUpstream>>;

/** `serve --workers 2` on `database` in front of an upstream that holds every answer until released. */
async function withHeldWorkers(
  database: ScratchDatabase,
  test: (held: HeldUpstream, gateway: GatewayProcess) => Promise<void>,
): Promise<void> {
  const held = await startHeldUpstream();
  const gateway = await startGatewayProcess(
    gatewayEnv({ DATABASE_URL: database.url, TOLLGATE_SEED_ON_START: 'false', OPENAI_BASE_URL: `${held.url}/v1` }),
    ['--workers', '2'],
  );
  try {
    await test(held, gateway);
  } finally {
    held.release();
    await gateway.stop();
    await held.close();
  }
}
