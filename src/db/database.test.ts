import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { DataDirectoryLockedError } from './data-directory-lock.js';
import { migrate, openDatabase } from './database.js';
import { until } from '../../test/support/wait.js';

describe.each(backends())('database on $name', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database.close();
  });

  it('keeps NUMERIC exact both ways', async () => {
    await database.db.insertInto('providers').values({ id: 'p', name: 'P' }).execute();
    await database.db
      .insertInto('models')
      .values({ id: 'm', provider_id: 'p', upstream_model: 'm', active: true, modality: 'text' })
      .execute();
    await database.db
      .insertInto('model_prices')
      .values({
        model_id: 'm',
        effective_from: new Date(),
        input: '9E-7',
        output: '0.000000000000000001',
        tiers: '[]',
        source: 'test',
      })
      .execute();
    const row = await database.db.selectFrom('model_prices').select(['input', 'output', 'id']).executeTakeFirstOrThrow();
    expect(row.input).toBe('0.0000009');
    expect(row.output).toBe('0.000000000000000001');
    expect(typeof row.id).toBe('number');
  });

  it('refuses a negative rate and a second open version', async () => {
    await expect(
      database.db
        .insertInto('model_prices')
        .values({ model_id: 'm', effective_from: new Date(), input: '-1', tiers: '[]', source: 't' })
        .execute(),
    ).rejects.toThrow();
  });

  it('migrating again applies nothing', async () => {
    expect(await migrate(database.db)).toEqual([]);
  });

  it('delivers notifications to listeners', async () => {
    const received: string[] = [];
    const unsubscribe = await database.listen('tollgate_test_channel', (payload) => received.push(payload));
    await database.notify('tollgate_test_channel', 'hello');
    await until(() => received.length > 0, 'the notification');
    await unsubscribe();
    expect(received).toEqual(['hello']);
  });
});

describe('embedded data directory', () => {
  it('is owned by one opener at a time, with an error that says what to do', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'tollgate-lock-'));
    try {
      const first = await openDatabase({ kind: 'pglite', dataDirectory: directory });
      await expect(openDatabase({ kind: 'pglite', dataDirectory: directory })).rejects.toBeInstanceOf(DataDirectoryLockedError);
      await expect(openDatabase({ kind: 'pglite', dataDirectory: directory })).rejects.toThrow(/DATABASE_URL/);
      await first.close();
      const second = await openDatabase({ kind: 'pglite', dataDirectory: directory });
      await second.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
