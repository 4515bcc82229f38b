import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { socketPath } from '../src/db/pglite-socket-server.js';
import { silentLogger } from '../src/logging/logger.js';
import { startGateway, type Gateway } from '../src/main.js';
import { Decimal } from '../src/money/decimal.js';
import { runTollgate as tollgate } from './support/cli-process.js';


/**
 * `tollgate serve` on the embedded database lends it to CLI commands through a socket in the data
 * directory. Commands in other processes work while it serves calls, and a connection's transaction never
 * interleaves with the server's own queries on PGlite's one session.
 */
describe('the CLI beside a running serve on PGlite', () => {
  const dataDirectory = mkdtempSync(path.join(tmpdir(), 'tollgate-beside-'));
  let gateway: Gateway;
  let url: string;
  let demoKey: string;

  beforeAll(async () => {
    const config = loadConfig({
      TOLLGATE_DATA_DIR: dataDirectory,
      TOLLGATE_SYNC_CRON: 'off',
      TOLLGATE_LOG_LEVEL: 'silent',
      TOLLGATE_DEMO: 'on',
      TOLLGATE_ADMIN_KEY: 'beside-admin-key-0123456789',
      TOLLGATE_SEED_ON_START: 'false',
    });
    gateway = await startGateway(config, silentLogger());
    url = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    demoKey = gateway.firstStart.demoAccount!.key;
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    rmSync(dataDirectory, { recursive: true, force: true });
  });

  const call = (user: string) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demoKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, user }),
    });

  it('runs account, usage and ledger commands in other processes while calls are served', async () => {
    const calls = Promise.all(Array.from({ length: 12 }, (_, index) => call(`user-${index % 2}`)));
    const [created, granted] = await Promise.all([
      tollgate(
        dataDirectory,
        'accounts',
        'create',
        '--name',
        'second-terminal',
        '--mode',
        'consumption_usd',
        '--credits',
        '2',
        '--json',
      ),
      tollgate(dataDirectory, 'accounts', 'grant', 'demo', '--credits', '0.25'),
    ]);
    expect((await calls).map((response) => response.status)).toEqual(Array(12).fill(200));
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).account).toMatchObject({ name: 'second-terminal', balance: '2' });
    expect(granted).toMatchObject({ code: 0 });
    // The server sees what the command wrote at once: same database, no restart.
    expect((await gateway.ledger.getAccount('second-terminal')).balance.toString()).toBe('2');
    await gateway.reservations.returnUnused();
    await gateway.recorder.flush();
    const usage = await tollgate(dataDirectory, 'usage', '--by', 'end_user', '--account', 'demo', '--json');
    expect(usage.code).toBe(0);
    const rows = JSON.parse(usage.stdout).rows;
    expect(rows.map((row: { end_user: string; calls: number }) => [row.end_user, row.calls]).sort()).toEqual([
      ['user-0', 6],
      ['user-1', 6],
    ]);
    const verified = await tollgate(dataDirectory, 'ledger', 'verify');
    expect(verified).toMatchObject({ code: 0, stdout: 'ledger verified: 2 accounts match their entries\n' });
  }, 120_000);

  /** A raw connection to the server's socket, as the CLI's driver makes one. */
  const connect = async () => {
    const client = new pg.Client({
      host: path.dirname(socketPath(dataDirectory)),
      port: 5432,
      user: 'postgres',
      database: 'postgres',
    });
    await client.connect();
    return client;
  };
  const countGrants = (database: Database | Gateway['database'], note: string) =>
    database.db.selectFrom('ledger_entries').select('id').where('note', '=', note).execute();

  it("holds the server's queries back until a connection's transaction ends, so none runs inside it", async () => {
    const client = await connect();
    const account = await gateway.ledger.getAccount('demo');
    await client.query('begin');
    await client.query(
      "insert into ledger_entries (account_id, kind, amount, unit, request_id, note) values ($1, 'grant', 1, 'usd', 'socket-rolled-back', 'rolled back')",
      [account.id],
    );
    // Issued while the connection's transaction is open: it must wait for the rollback, not run inside it.
    const seenByServer = countGrants(gateway.database, 'rolled back');
    await client.query('rollback');
    expect(await seenByServer).toEqual([]);
    await client.end();
  });

  it("rolls back the transaction of a connection that goes away, and the server's queries go on", async () => {
    const client = await connect();
    const account = await gateway.ledger.getAccount('demo');
    await client.query('begin');
    await client.query(
      "insert into ledger_entries (account_id, kind, amount, unit, request_id, note) values ($1, 'grant', 1, 'usd', 'socket-abandoned', 'abandoned')",
      [account.id],
    );
    const seenByServer = countGrants(gateway.database, 'abandoned');
    await client.end(); // no commit
    expect(await seenByServer).toEqual([]);
    expect((await call('after')).status).toBe(200);
  });

  it('a second serve on the same directory is refused; a command that cannot reach the server says why', async () => {
    await expect(openDatabase({ kind: 'pglite', dataDirectory })).rejects.toThrow(/in use by another tollgate process/);
    const balance = (await gateway.ledger.getAccount('demo')).balance;
    expect(balance.gt(Decimal.ZERO)).toBe(true);
  });
});
