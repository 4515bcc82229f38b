import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { migrate, openDatabase, type Database } from '../../src/db/database.js';
import { openPGlite, PGliteDialect } from '../../src/db/pglite-dialect.js';
import { migrationsHash, openScratchPostgres } from './scratch-database.js';

/**
 * The storage backends a suite runs on: embedded PGlite always, PostgreSQL when TEST_DATABASE_URL is set
 * (CI sets it). Use with `describe.each(backends())`. Each `open()` gives a fresh, migrated database:
 * an in-memory PGlite, or a new PostgreSQL database created for the suite and dropped by `close()`.
 */
export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<TestDatabase>;
}

export interface TestDatabase extends Database {
  /** For PostgreSQL, the URL of this suite's own database (to open a second instance on it). */
  url?: string;
}

export function backends(): Backend[] {
  const list: Backend[] = [];
  // TOLLGATE_TEST_BACKENDS=postgres: PostgreSQL only (mutation testing, where a mutant's run opens every
  // database anew and a copy of a PostgreSQL template is quicker to make than a PGlite).
  if (process.env.TOLLGATE_TEST_BACKENDS !== 'postgres' || !process.env.TEST_DATABASE_URL) {
    list.push({ name: 'pglite', open: openTestPGlite });
  }
  if (process.env.TEST_DATABASE_URL) list.push({ name: 'postgres', open: openTestPostgres });
  return list;
}

export function postgresBackend(): Backend | undefined {
  return backends().find((backend) => backend.name === 'postgres');
}

async function openTestPGlite(): Promise<TestDatabase> {
  const template = await migratedTemplate();
  const pglite = idle.pop() ?? (await openPGlite(undefined, template.dump));
  const database = await openDatabase(
    { kind: 'pglite', dataDirectory: undefined },
    { lent: { pglite, giveBack: (instance) => giveBack(instance, template.signature) } },
  );
  // Already migrated: this only checks that there is nothing left to run.
  await migrate(database.db);
  return database;
}

/** PGlite instances given back clean, ready for the next suite of this process. */
const idle: PGlite[] = [];
let template: Promise<{ dump: Blob; signature: string }> | undefined;

/**
 * One migrated, empty PGlite cluster, dumped, that every PGlite a suite opens starts from, with the signature
 * of its schema. Loading it takes about half the time of creating a cluster and migrating it; reusing an
 * instance given back (see giveBack) takes a few milliseconds. The dump is kept in the temporary directory,
 * named by a hash of the migrations and PGlite's version, so that a new test process (or a mutant's run, each
 * in a new thread) reads it instead of making it again.
 */
function migratedTemplate(): Promise<{ dump: Blob; signature: string }> {
  template ??= (async () => {
    const file = templateFile();
    if (existsSync(file) && existsSync(`${file}.signature`)) {
      return { dump: new Blob([readFileSync(file)]), signature: readFileSync(`${file}.signature`, 'utf8') };
    }
    const pglite = await openPGlite(undefined);
    const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) });
    try {
      await migrate(db as never);
      const made = { dump: await pglite.dumpDataDir('none'), signature: await schemaSignature(pglite) };
      // Written aside and renamed: another process reading at the same time sees the whole file or none.
      const aside = `${file}.${process.pid}.${threadId}`;
      writeFileSync(`${aside}.signature`, made.signature);
      writeFileSync(aside, Buffer.from(await made.dump.arrayBuffer()));
      renameSync(`${aside}.signature`, `${file}.signature`);
      renameSync(aside, file);
      return made;
    } finally {
      await db.destroy();
      await pglite.close();
    }
  })();
  return template;
}

/** The template's file: named by the migrations' source and PGlite's version, so a change makes a new one. */
function templateFile(): string {
  const version: string = JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ).version;
  return path.join(tmpdir(), `tollgate-test-pglite-${migrationsHash(version)}.tar`);
}

/**
 * A suite closed its database: the instance is emptied for the next suite when its schema is still the
 * template's (no table, column, trigger, function, sequence or rule added or dropped: a suite that made one,
 * or a partition for another month, gets a fresh instance instead), else closed. Emptying it: whatever
 * transaction was left open rolled back, every table but the migrations' truncated with its sequences
 * restarted, and the session's listeners and advisory locks dropped.
 */
async function giveBack(pglite: PGlite, signature: string): Promise<void> {
  try {
    await pglite.exec('rollback');
    if ((await schemaSignature(pglite)) === signature) {
      const { rows } = await pglite.query<{ name: string }>(
        `select format('%I', relname) as name from pg_class
         where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and not relispartition
           and relname not like 'kysely_migration%'`,
      );
      await pglite.exec(`truncate ${rows.map((row) => row.name).join(', ')} restart identity cascade`);
      // Not DISCARD ALL: it also resets the search_path PGlite starts with (to pg_catalog).
      await pglite.exec('unlisten *');
      await pglite.query('select pg_advisory_unlock_all()');
      idle.push(pglite);
      return;
    }
  } catch {
    // Not reusable: closed below.
  }
  await pglite.close();
}

/** What a suite could change of the schema, as one text: relations, columns, constraints, triggers, functions, rules, roles. */
async function schemaSignature(pglite: PGlite): Promise<string> {
  const { rows } = await pglite.query<{ signature: string }>(`
    select md5(concat_ws('|',
      (select string_agg(relname || ':' || relkind::text, ',' order by relname) from pg_class where relnamespace = 'public'::regnamespace),
      (select string_agg(c.relname || '.' || a.attname || ':' || a.atttypid, ',' order by c.relname, a.attnum)
         from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relnamespace = 'public'::regnamespace and a.attnum > 0 and not a.attisdropped),
      (select string_agg(conname, ',' order by conname) from pg_constraint where connamespace = 'public'::regnamespace),
      (select string_agg(tgname || ':' || tgenabled::text, ',' order by tgname) from pg_trigger where not tgisinternal),
      (select string_agg(proname, ',' order by proname) from pg_proc where pronamespace = 'public'::regnamespace),
      (select string_agg(rulename, ',' order by rulename) from pg_rewrite r join pg_class c on c.oid = r.ev_class
         where c.relnamespace = 'public'::regnamespace and rulename <> '_RETURN'),
      (select string_agg(rolname, ',' order by rolname) from pg_roles)
    )) as signature`);
  return rows[0]!.signature;
}

function openTestPostgres(): Promise<TestDatabase> {
  return openScratchPostgres(process.env.TEST_DATABASE_URL!, 'tollgate_test');
}
