import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../test/support/backends.js';
import { usageRecordRow } from '../../test/support/usage-records.js';
import { jsonColumn, writeUsageRecords, type JsonColumn, type UsageRecordRow } from './usage-writer.js';

/**
 * A call is recorded once, whatever batch its record comes in: the (request id, created_at) key makes a retried
 * write a no-op, and a record of a request already recorded within a day of it (another created_at) is refused.
 * A batch's records may be far apart (a journal replayed days later beside new calls): the batch's span, which
 * lets PostgreSQL leave out the month partitions no probe reaches, must never leave out one a probe needs.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function record(requestId: string, createdAt: number): UsageRecordRow {
  return usageRecordRow(requestId, 'acct_usage_writer', new Date(createdAt).toISOString());
}

describe.each(backends())('usage writer on $name', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await backend.open();
    await sql`insert into accounts (id, name, budget_mode) values ('acct_usage_writer', 'usage writer', 'consumption_usd')`.execute(
      database.db,
    );
  });
  afterAll(async () => {
    await database.close();
  });

  const recorded = async (requestId: string) =>
    (await database.db.selectFrom('usage_records').select('created_at').where('request_id', '=', requestId).execute()).map(
      (row) => new Date(row.created_at).getTime(),
    );

  it('refuses a second record of a request within a day, in a batch that spans months, and keeps the rest', async () => {
    // Near the end of a month, so the batch below spans three month partitions.
    const now = Date.UTC(2026, 6, 31, 20);
    expect(await writeUsageRecords(database.db, [record('req_w_1', now), record('req_w_0', now - HOUR)])).toBe(2);
    const batch = [
      record('req_w_1', now + 20 * HOUR), // the same call again, another created_at (next month): refused
      record('req_w_old', now - 35 * DAY), // a journal replayed a month late: recorded in its own month
      record('req_w_2', now + 2 * HOUR), // next month
      record('req_w_0', now - HOUR), // a retried write of the same record: a no-op
    ];
    expect(await writeUsageRecords(database.db, batch)).toBe(2);
    expect(await recorded('req_w_1')).toEqual([now]);
    expect(await recorded('req_w_old')).toEqual([now - 35 * DAY]);
    expect(await recorded('req_w_2')).toEqual([now + 2 * HOUR]);
    expect(await recorded('req_w_0')).toEqual([now - HOUR]);
    // Written again whole, the batch records nothing more.
    expect(await writeUsageRecords(database.db, batch)).toBe(0);
  });

  it('writes nothing for no records', async () => {
    expect(await writeUsageRecords(database.db, [])).toBe(0);
  });

  it('records a request again when its other record is more than a day away (the window the probe reads)', async () => {
    const now = Date.UTC(2026, 7, 15, 12);
    const first = [record('req_w_far', now), record('req_w_near', now), record('req_w_early', now)];
    expect(await writeUsageRecords(database.db, first)).toBe(3);
    // Later and earlier than the records already there: the batch's span must reach both ways.
    const again = [record('req_w_far', now + DAY + HOUR), record('req_w_near', now + 23 * HOUR)];
    expect(await writeUsageRecords(database.db, again)).toBe(1);
    expect(
      await writeUsageRecords(database.db, [record('req_w_early', now - 23 * HOUR), record('req_w_x', now - 23 * HOUR)]),
    ).toBe(1);
    expect(await recorded('req_w_far')).toEqual([now, now + DAY + HOUR]);
    expect(await recorded('req_w_near')).toEqual([now]);
    expect(await recorded('req_w_early')).toEqual([now]);
  });
  it('writes a JSON column the same whichever form its row carries it in, alone and in a batch', async () => {
    // [what the row carries, the column's text as stored (null: SQL NULL)] for the provider's usage (json, kept as
    // written) and the breakdown and anomaly (jsonb).
    const forms: Array<[label: string, value: JsonColumn, asJson: string | null, asJsonb: string | null]> = [
      ['a document', jsonColumn({ b: 1, a: [2, 'x'] }), '{"b":1,"a":[2,"x"]}', '{"a": [2, "x"], "b": 1}'],
      ['its text, as earlier versions journaled it', '{"b":1,"a":[2,"x"]}', '{"b":1,"a":[2,"x"]}', '{"a": [2, "x"], "b": 1}'],
      ['a JSON null', jsonColumn(null), 'null', 'null'],
      ['a JSON string', jsonColumn('text "quoted"'), '"text \\"quoted\\""', '"text \\"quoted\\""'],
      // Bound alone as its text: a JavaScript array would otherwise go to PostgreSQL as an array literal.
      ['an array', jsonColumn([1, { a: 2 }]), '[1,{"a":2}]', '[1, {"a": 2}]'],
      ['a number', jsonColumn(7), '7', '7'],
      ['none', jsonColumn(undefined), null, null],
    ];
    // None is null, not a missing key: a row (its journal line, the batch's JSON) names every column.
    expect(jsonColumn(undefined)).toBeNull();
    const at = Date.UTC(2026, 8, 10, 12);
    const rowOf = (id: string, value: JsonColumn) => ({
      ...record(id, at),
      provider_usage: value,
      breakdown: value,
      usage_anomaly: value,
    });
    for (const [index, [, value]] of forms.entries()) {
      expect(await writeUsageRecords(database.db, [rowOf(`req_w_json_alone_${index}`, value)])).toBe(1);
    }
    expect(
      await writeUsageRecords(
        database.db,
        forms.map(([, value], index) => rowOf(`req_w_json_batch_${index}`, value)),
      ),
    ).toBe(forms.length);
    const stored = await database.db
      .selectFrom('usage_records')
      .select([
        'request_id',
        sql<string | null>`provider_usage::text`.as('provider_usage'),
        sql<string | null>`breakdown::text`.as('breakdown'),
        sql<string | null>`usage_anomaly::text`.as('usage_anomaly'),
      ])
      .where('request_id', 'like', 'req_w_json_%')
      .execute();
    const byId = new Map(stored.map((row) => [row.request_id, row]));
    for (const [index, [label, , asJson, asJsonb]] of forms.entries()) {
      for (const id of [`req_w_json_alone_${index}`, `req_w_json_batch_${index}`]) {
        expect({ label, id, ...byId.get(id) }).toEqual({
          label,
          id,
          request_id: id,
          provider_usage: asJson,
          breakdown: asJsonb,
          usage_anomaly: asJsonb,
        });
      }
    }
  });
});
