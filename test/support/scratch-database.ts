import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';

export interface ScratchDatabase extends Database {
  /** The URL of the scratch database (to open a second instance on it). */
  url: string;
}

/**
 * A fresh, migrated PostgreSQL database of its own on the server `adminUrl` points at, named `<prefix>_<12 hex
 * digits>`; `close()` closes it and drops it (with force: a connection left open does not keep it). For the
 * suites (test/support/backends.ts) and the benchmarks, so many can run at once on one server.
 *
 * It is a copy of a migrated template database (`CREATE DATABASE ... TEMPLATE`), made once per set of
 * migrations and kept on the server: a copy takes a fraction of the time of running the migrations, which
 * every suite on PostgreSQL (and every mutant's run) used to pay.
 */
export async function openScratchPostgres(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix)) throw new Error(`scratch database prefix ${JSON.stringify(prefix)}: use [a-z0-9_]`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  // Database names cannot be bound parameters; both are checked prefixes and hex digits only.
  const copy = async () => {
    const template = await migratedTemplate(adminUrl);
    await withAdmin(adminUrl, (admin) => admin.query(`create database ${name} template ${template}`));
  };
  await copy().catch(async (error: unknown) => {
    // 3D000: the template is gone (a process with other migrations replaced it on this server): make it again.
    if ((error as { code?: string }).code !== '3D000') throw error;
    templates.delete(adminUrl);
    await copy();
  });
  await withAdmin(adminUrl, (admin) => stampScratch(admin, name));
  const url = databaseUrl(adminUrl, name);
  const database = await openDatabase({ kind: 'postgres', url });
  // Already migrated: this only checks that there is nothing left to run.
  await migrate(database.db);
  return {
    ...database,
    url,
    async close() {
      await database.close();
      await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}

const templates = new Map<string, Promise<string>>();

/**
 * The name of the server's migrated template for the current migrations (`tollgate_template_<hash>`), made
 * if missing: built under a name of its own, then renamed, so a concurrent process sees it whole or not at all
 * (the loser of a race drops its copy). Templates of other migrations are dropped when a new one is made, once
 * they are `TEMPLATE_STALE_MS` old: two processes with different migrations on one server (a branch beside main,
 * a mutation run's sandbox beside a suite) would otherwise drop each other's template mid-run, turn by turn.
 */
function migratedTemplate(adminUrl: string): Promise<string> {
  let made = templates.get(adminUrl);
  if (!made) {
    made = (async () => {
      // Once per process and server: what killed processes left behind goes (a sweep that fails is no failure).
      await sweepStaleScratch(adminUrl).catch(() => undefined);
      const name = `tollgate_template_${migrationsHash()}`;
      const exists = await withAdmin(adminUrl, (admin) => admin.query('select 1 from pg_database where datname = $1', [name]));
      if (exists.rowCount) return name;
      const building = `tollgate_building_${randomBytes(6).toString('hex')}`;
      await withAdmin(adminUrl, async (admin) => {
        await admin.query(`create database ${building}`);
        // Swept like a scratch database if this process dies before the rename.
        await stampScratch(admin, building);
      });
      const database = await openDatabase({ kind: 'postgres', url: databaseUrl(adminUrl, building) });
      try {
        await migrate(database.db);
      } finally {
        await database.close();
      }
      await withAdmin(adminUrl, async (admin) => {
        try {
          await admin.query(`alter database ${building} rename to ${name}`);
        } catch (error) {
          // Another process made it first (42P04: duplicate database): use theirs.
          await admin.query(`drop database if exists ${building} with (force)`);
          if ((error as { code?: string }).code !== '42P04') throw error;
        }
        // Stamped with when it was made, so that another process's template is dropped only once stale (a COMMENT
        // takes no bound parameters; the stamp is a number).
        await admin.query(`comment on database ${name} is '${Date.now()}'`);
        const { rows } = await admin.query<{ datname: string; made: string | null }>(
          `select datname, shobj_description(oid, 'pg_database') as made from pg_database
            where datname like 'tollgate\\_template\\_%' and datname <> $1`,
          [name],
        );
        for (const row of rows) {
          if (!staleTemplate(row.made)) continue;
          await admin.query(`drop database if exists ${row.datname}`).catch(() => undefined);
        }
      });
      return name;
    })();
    made.catch(() => templates.delete(adminUrl));
    templates.set(adminUrl, made);
  }
  return made;
}

/** How old another set of migrations' template must be to be dropped: longer than any run that may use it. */
export const TEMPLATE_STALE_MS = 6 * 60 * 60 * 1000;

/** Whether a template stamped `made` (epoch milliseconds as text; none from versions before the stamp) is stale. */
export function staleTemplate(made: string | null, now = Date.now()): boolean {
  const at = made === null ? NaN : Number(made);
  return !Number.isFinite(at) || now - at >= TEMPLATE_STALE_MS;
}

/**
 * How old a scratch database must be to be swept: one whose process died before `close()` (a mutation run's
 * killed test runner, an interrupted suite or benchmark), and so was never dropped. Longer than any run.
 */
export const SCRATCH_STALE_MS = 24 * 60 * 60 * 1000;

/** A scratch database's comment: when it was made (epoch milliseconds). A template's stamp is the bare number. */
const SCRATCH_STAMP = /^tollgate scratch (\d+)$/;

/** Stamps a scratch database with when it was made (a COMMENT takes no bound parameters; the stamp is a number). */
async function stampScratch(admin: pg.Client, name: string): Promise<void> {
  await admin.query(`comment on database ${admin.escapeIdentifier(name)} is 'tollgate scratch ${Date.now()}'`);
}

/**
 * Drops the scratch databases made at least `SCRATCH_STALE_MS` before `now` (by their stamp: a database without
 * one, or with a template's, is never touched). One still in use is left (the drop is not forced). Returns the
 * names dropped.
 */
export async function sweepStaleScratch(adminUrl: string, now = Date.now()): Promise<string[]> {
  return withAdmin(adminUrl, async (admin) => {
    const { rows } = await admin.query<{ datname: string; stamp: string | null }>(
      `select datname, shobj_description(oid, 'pg_database') as stamp from pg_database where not datistemplate`,
    );
    const dropped: string[] = [];
    for (const row of rows) {
      const made = SCRATCH_STAMP.exec(row.stamp ?? '')?.[1];
      if (made === undefined || now - Number(made) < SCRATCH_STALE_MS) continue;
      try {
        await admin.query(`drop database if exists ${admin.escapeIdentifier(row.datname)}`);
        dropped.push(row.datname);
      } catch {
        // In use (55006), or gone meanwhile: left for a later sweep.
      }
    }
    return dropped;
  });
}

/** 16 hex digits of a hash of the migrations' file names and source (and of `extra`). */
export function migrationsHash(extra = ''): string {
  const hash = createHash('sha256');
  const migrations = new URL('../../src/db/migrations/', import.meta.url);
  for (const name of readdirSync(migrations).sort()) hash.update(name).update(readFileSync(new URL(name, migrations)));
  return hash.update(extra).digest('hex').slice(0, 16);
}

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
