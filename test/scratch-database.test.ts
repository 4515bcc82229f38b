import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  openScratchPostgres,
  SCRATCH_STALE_MS,
  staleTemplate,
  sweepStaleScratch,
  TEMPLATE_STALE_MS,
} from './support/scratch-database.js';

const adminUrl = process.env.TEST_DATABASE_URL;

describe('staleTemplate', () => {
  it('is stale from TEMPLATE_STALE_MS after its stamp, and when it has no readable stamp', () => {
    const now = 1_800_000_000_000;
    expect(staleTemplate(String(now - TEMPLATE_STALE_MS + 1), now)).toBe(false);
    expect(staleTemplate(String(now - TEMPLATE_STALE_MS), now)).toBe(true);
    expect(staleTemplate(null, now)).toBe(true);
    expect(staleTemplate('made by hand', now)).toBe(true);
  });
});

/**
 * The scratch databases a killed process leaves (its `close()` never ran) are swept by the next process that
 * makes a scratch database on the server, once a day old by their stamp; nothing else is touched.
 */
describe.skipIf(!adminUrl)('sweeping stale scratch databases, on PostgreSQL', () => {
  const admin = new pg.Client({ connectionString: adminUrl });
  const made: string[] = [];
  afterAll(async () => {
    for (const name of made) await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await admin.end();
  });

  async function stampOf(name: string): Promise<string | null | undefined> {
    const { rows } = await admin.query<{ stamp: string | null }>(
      `select shobj_description(oid, 'pg_database') as stamp from pg_database where datname = $1`,
      [name],
    );
    return rows[0]?.stamp;
  }

  it('drops those stamped a day before, and leaves the newer, the unstamped and the one in use', async () => {
    await admin.connect();
    const before = Date.now();
    const fresh = await openScratchPostgres(adminUrl!, 'tollgate_sweep');
    const old = await openScratchPostgres(adminUrl!, 'tollgate_sweep');
    const inUse = await openScratchPostgres(adminUrl!, 'tollgate_sweep');
    made.push(...[fresh, old, inUse].map((database) => new URL(database.url).pathname.slice(1)));
    const [freshName, oldName, inUseName] = made as [string, string, string];
    const stamp = Number(/^tollgate scratch (\d+)$/.exec((await stampOf(freshName)) ?? '')?.[1]);
    expect(stamp).toBeGreaterThanOrEqual(before);
    expect(stamp).toBeLessThanOrEqual(Date.now());
    // As a killed process leaves them: never closed (`old`'s connections ended, `inUse` with one still open).
    await fresh.close();
    made.shift();
    await old.db.destroy();
    await inUse.db.destroy();
    const session = new pg.Client({ connectionString: inUse.url });
    await session.connect();
    const unstamped = `tollgate_sweep_unstamped_${process.pid}`;
    await admin.query(`create database ${unstamped}`);
    made.push(unstamped);
    const now = stamp + SCRATCH_STALE_MS;
    await admin.query(`comment on database ${oldName} is 'tollgate scratch ${now - SCRATCH_STALE_MS}'`);
    await admin.query(`comment on database ${inUseName} is 'tollgate scratch ${now - SCRATCH_STALE_MS - 1}'`);
    await admin.query(`comment on database ${unstamped} is '${now - 10 * SCRATCH_STALE_MS}'`);
    // One millisecond younger than stale: kept.
    const younger = await openScratchPostgres(adminUrl!, 'tollgate_sweep');
    const youngerName = new URL(younger.url).pathname.slice(1);
    made.push(youngerName);
    await younger.db.destroy();
    await admin.query(`comment on database ${youngerName} is 'tollgate scratch ${now - SCRATCH_STALE_MS + 1}'`);

    const dropped = await sweepStaleScratch(adminUrl!, now);
    expect(dropped.filter((name) => made.includes(name))).toEqual([oldName]);
    const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where datname = any($1)', [made]);
    expect(rows.map((row) => row.datname).sort()).toEqual([inUseName, unstamped, youngerName].sort());
    await session.end();
  });
});
