import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testJournalDirectory } from './support/journal-directory.js';
import { openScratchPostgres, type ScratchDatabase } from './support/scratch-database.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Bounds the wait for the process to end (it starts the whole gateway first: migrations, seed, catalog). */
const EXIT_TIMEOUT_MS = 240_000;

/** `tollgate serve --workers 1` on a port another process holds, until it exits (or the bound passes). */
async function serveOnTakenPort(env: Record<string, string>, port: number) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '1'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        TOLLGATE_LOG_LEVEL: 'warn',
        TOLLGATE_SYNC_CRON: 'off',
        // Not what is tested, and the slowest part of a first start.
        TOLLGATE_SEED_ON_START: 'false',
        TOLLGATE_JOURNAL_DIR: testJournalDirectory(),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, output };
}

/**
 * A gateway that cannot listen (its port taken) says so and exits 1, having stopped what it started: before, it
 * printed the error and stayed up, its instance heartbeating in `gateway_instances` as a live gateway.
 */
describe('tollgate serve on a port in use', () => {
  let holder: Server;
  let port: number;
  let database: ScratchDatabase | undefined;
  let dataDirectory: string | undefined;
  beforeAll(async () => {
    holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    port = (holder.address() as { port: number }).port;
  });
  afterAll(async () => {
    holder.close();
    await database?.close();
    if (dataDirectory) rmSync(dataDirectory, { recursive: true, force: true });
  });

  it('exits 1 naming the address, on the embedded database', async () => {
    dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-port-'));
    const result = await serveOnTakenPort({ TOLLGATE_DATA_DIR: dataDirectory }, port);
    expect(result, result.output).toMatchObject({ code: 1, signal: null });
    expect(result.output).toContain(
      `error: could not start: 127.0.0.1:${port} is in use by another process (choose another with --port or TOLLGATE_PORT)`,
    );
    expect(result.output).not.toContain('tollgate listening on');
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('exits 1 on PostgreSQL, its instance marked stopped', async () => {
    database = await openScratchPostgres(process.env.TEST_DATABASE_URL!, 'tollgate_test');
    const result = await serveOnTakenPort({ DATABASE_URL: database.url }, port);
    expect(result, result.output).toMatchObject({ code: 1, signal: null });
    expect(result.output).toContain(`127.0.0.1:${port} is in use by another process`);
    const instances = await database.db.selectFrom('gateway_instances').select(['stopped_at']).execute();
    expect(instances).toHaveLength(1);
    expect(instances[0]!.stopped_at).not.toBeNull();
  });
});
