import { recordingLogger } from '../../test/support/recording-logger.js';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CaptureJournal,
  claimLeftJournals,
  removeReplayedJournal,
  type JournalMark,
  type JournalRecord,
} from './capture-journal.js';

const capture = (requestId: string, amount = '0.01'): JournalRecord => ({ type: 'capture', requestId, amount });
const JOURNAL_FAILING =
  'cannot append to the capture journal; until it can, captures are written to the database before their calls are answered, and usage records without a journal line';

/** A usage record whose journal line (JSON and newline) is exactly `bytes` long. */
function sized(bytes: number): JournalRecord {
  const overhead = Buffer.byteLength(`${JSON.stringify({ type: 'usage', row: { pad: '' } })}\n`);
  return { type: 'usage', row: { pad: 'x'.repeat(bytes - overhead) } };
}

/** The descriptor a mark's segment writes to (internal; used to inject a file system fault). */
const segmentOf = (mark: JournalMark) => mark.segment as unknown as { descriptor: number; file: string };

/** Lets promise callbacks queued behind a settled promise run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('capture journal rules', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-journal-rules-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  const files = () => readdirSync(directory).sort();
  const text = (file: string) => readFileSync(path.join(directory, file), 'utf8');
  const segment = (instance: string, n: number) => `${instance}-${process.pid}-${n}.journal`;

  describe('appending', () => {
    it('writes each record as one JSON line in append order, and numbers the marks from 1', () => {
      const journal = new CaptureJournal(directory, 'inst_lines', { sync: 'write' });
      expect(journal.sync).toBe('write');
      const marks = [
        journal.append({ type: 'capture', requestId: 'req_a', leaseId: 'lease_x', amount: '0.0001234', priceVersion: 4 }),
        journal.append({ type: 'usage', row: { request_id: 'req_a', charge: '0.0001234' } }),
        journal.append(capture('req_b', '7')),
      ];
      expect(marks.map((mark) => mark.sequence)).toEqual([1, 2, 3]);
      expect(files()).toEqual([segment('inst_lines', 1)]);
      expect(text(segment('inst_lines', 1))).toBe(
        '{"type":"capture","requestId":"req_a","leaseId":"lease_x","amount":"0.0001234","priceVersion":4}\n' +
          '{"type":"usage","row":{"request_id":"req_a","charge":"0.0001234"}}\n' +
          '{"type":"capture","requestId":"req_b","amount":"7"}\n',
      );
    });

    it("writes a usage record from its row's JSON as append writes the record, counted like any other", () => {
      const journal = new CaptureJournal(directory, 'inst_usage', { sync: 'write' });
      const row = { request_id: 'req_u', charge: '0.5', end_user: 'a "quoted" \\ user' };
      const marks = [journal.append({ type: 'usage', row }), journal.appendUsage(Buffer.from(JSON.stringify(row)))];
      expect(marks.map((mark) => mark.sequence)).toEqual([1, 2]);
      const [first, second, rest] = text(segment('inst_usage', 1)).split('\n');
      expect(second).toBe(first);
      expect(rest).toBe('');
      expect(JSON.parse(second!)).toEqual({ type: 'usage', row });
    });

    it('reports its sync mode', () => {
      expect(new CaptureJournal(directory, 'inst_mode', { sync: 'fsync' }).sync).toBe('fsync');
    });

    it('creates its directory, however deep, when it is missing', () => {
      const nested = path.join(directory, 'a', 'b');
      const journal = new CaptureJournal(nested, 'inst_deep', { sync: 'write' });
      expect(existsSync(nested)).toBe(true);
      journal.append(capture('req_1'));
      expect(readdirSync(nested)).toEqual([segment('inst_deep', 1)]);
    });

    it('appends to a segment file that already exists instead of truncating it', () => {
      writeFileSync(path.join(directory, segment('inst_append', 1)), '{"kept":true}\n');
      const journal = new CaptureJournal(directory, 'inst_append', { sync: 'write' });
      journal.append(capture('req_1'));
      expect(text(segment('inst_append', 1))).toBe('{"kept":true}\n{"type":"capture","requestId":"req_1","amount":"0.01"}\n');
    });
  });

  describe('a write that fails part way', () => {
    const shortWrite = (written: number | string, length: number) =>
      `the journal could write only ${written} of a line's ${length} bytes (a full disk or a file size limit); the part written is cut off`;

    it('leaves no torn line: each append that returned is whole, the one cut short left nothing, and the next is read', () => {
      // Under a file size limit of 8 KiB the system writes only 2,192 bytes of the third 3,000-byte line: the
      // journal must cut that part off again and fail the append.
      const worker = fileURLToPath(new URL('../../test/support/journal-append-worker.ts', import.meta.url));
      // Under mutation testing, the child runs the mutant this test is judging.
      const mutant = (globalThis as { __stryker__?: { activeMutant?: string } }).__stryker__?.activeMutant;
      const output = execFileSync(
        'bash',
        ['-c', 'ulimit -f 8; exec "$0" "$@"', process.execPath, '--import', 'tsx', worker, directory, 'inst_limit', '3000'],
        { encoding: 'utf8', env: { ...process.env, ...(mutant === undefined ? {} : { __STRYKER_ACTIVE_MUTANT__: mutant }) } },
      );
      expect(JSON.parse(output)).toEqual({
        appended: ['line-01', 'line-02', 'after'],
        failed: { requestId: 'line-03', message: shortWrite(2_192, 3_000) },
      });
      expect(files()).toEqual([expect.stringMatching(/^inst_limit-\d+-1\.journal$/)]);
      const lines = text(files()[0]!).split('\n');
      expect(lines.pop()).toBe('');
      const records = lines.map((line) => JSON.parse(line) as JournalRecord);
      expect(records.map((record) => (record.type === 'usage' ? record.row.request_id : record.requestId))).toEqual([
        'line-01',
        'line-02',
        'after',
      ]);
      expect(statSync(path.join(directory, files()[0]!)).size).toBe(2 * 3_000 + Buffer.byteLength(lines[2]!) + 1);
    });

    it('logs the first of a run of failed appends, and once the run is over how many failed', () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_run', { sync: 'write', logger });
      const kept = journal.append(capture('req_kept'));
      const target = segmentOf(kept);
      const file = target.descriptor;
      const full = openSync('/dev/full', 'a');
      target.descriptor = full;
      for (const requestId of ['req_a', 'req_b', 'req_c'])
        expect(() => journal.append(capture(requestId))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      target.descriptor = file;
      closeSync(full);
      expect(logged()).toEqual([
        { level: 50, err: expect.objectContaining({ code: 'ENOSPC' }), directory, msg: JOURNAL_FAILING },
      ]);
      journal.append(capture('req_back'));
      journal.append(capture('req_more'));
      expect(logged().slice(1)).toEqual([{ level: 30, failed: 3, msg: 'the capture journal can be written again' }]);
      // A second run is logged again, counted from one.
      target.descriptor = openSync('/dev/full', 'a');
      expect(() => journal.append(capture('req_d'))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      closeSync(target.descriptor);
      target.descriptor = file;
      journal.append(capture('req_again'));
      expect(logged().slice(2)).toEqual([
        { level: 50, err: expect.objectContaining({ code: 'ENOSPC' }), directory, msg: JOURNAL_FAILING },
        { level: 30, failed: 1, msg: 'the capture journal can be written again' },
      ]);
    });

    it('a segment that cannot be opened fails the append like a failed write, logged', () => {
      const { logger, logged } = recordingLogger();
      const gone = path.join(directory, 'gone');
      const journal = new CaptureJournal(gone, 'inst_gone', { sync: 'write', logger });
      rmSync(gone, { recursive: true });
      expect(() => journal.append(capture('req_lost'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(logged()).toEqual([
        { level: 50, err: expect.objectContaining({ code: 'ENOENT' }), directory: gone, msg: JOURNAL_FAILING },
      ]);
      mkdirSync(gone);
      expect(journal.append(capture('req_next')).sequence).toBe(1);
      expect(readdirSync(gone)).toEqual([segment('inst_gone', 1)]);
    });

    describe('on a file that cannot be truncated (a pipe)', () => {
      let fifo: string;
      let descriptor: number;
      beforeEach(() => {
        fifo = path.join(directory, 'pipe');
        execFileSync('mkfifo', [fifo]);
        // Non-blocking, so that a write larger than the pipe's free space is written in part, not waited on.
        descriptor = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
        writeSync(descriptor, Buffer.alloc(60_000, 0x20));
      });
      afterEach(() => {
        try {
          closeSync(descriptor);
        } catch {
          // closed by the journal with its segment
        }
      });

      it('seals the segment, so the next line starts a new one; the sealed one goes once its records are written', () => {
        const { logger, logged } = recordingLogger();
        const journal = new CaptureJournal(directory, 'inst_pipe', { sync: 'write', logger });
        const kept = journal.append(capture('req_kept'));
        const target = segmentOf(kept);
        const file = target.descriptor;
        target.descriptor = descriptor;
        expect(() => journal.append(sized(10_000))).toThrow(
          new RegExp(`^${shortWrite('\\d+', 10_000).replace(/[()]/g, '\\$&')}$`),
        );
        target.descriptor = file;
        closeSync(descriptor);
        const next = journal.append(capture('req_next'));
        expect(logged()).toEqual([
          {
            level: 40,
            err: expect.objectContaining({ code: 'EINVAL' }),
            file: path.join(directory, segment('inst_pipe', 1)),
            msg: 'could not cut a torn journal line off; the segment is sealed and the next record goes to a new one',
          },
          {
            level: 50,
            err: expect.objectContaining({
              message: expect.stringMatching(/^the journal could write only \d+ of a line's 10000 bytes/),
            }),
            directory,
            msg: JOURNAL_FAILING,
          },
          { level: 30, failed: 1, msg: 'the capture journal can be written again' },
        ]);
        expect(next.sequence).toBe(2);
        expect(segmentOf(next).file).toBe(path.join(directory, segment('inst_pipe', 2)));
        expect(text(segment('inst_pipe', 1))).toBe('{"type":"capture","requestId":"req_kept","amount":"0.01"}\n');
        expect(text(segment('inst_pipe', 2))).toBe('{"type":"capture","requestId":"req_next","amount":"0.01"}\n');
        journal.written(kept);
        expect(files()).toEqual([segment('inst_pipe', 2), 'pipe']);
        journal.written(next);
        journal.close();
        expect(files()).toEqual(['pipe']);
      });

      it('a sealed segment with nothing waiting in it is closed and deleted at once', () => {
        const { logger } = recordingLogger();
        const journal = new CaptureJournal(directory, 'inst_pipe_empty', { sync: 'write', logger });
        const first = journal.append(capture('req_first'));
        journal.written(first);
        const target = segmentOf(first);
        const file = target.descriptor;
        target.descriptor = descriptor;
        expect(() => journal.append(sized(10_000))).toThrow(/^the journal could write only \d+ of a line's 10000 bytes/);
        // Deleted with the descriptor it held (the pipe's): closing it again fails.
        expect(() => closeSync(descriptor)).toThrow(expect.objectContaining({ code: 'EBADF' }));
        closeSync(file);
        expect(files()).toEqual(['pipe']);
        const next = journal.append(capture('req_next'));
        expect(segmentOf(next).file).toBe(path.join(directory, segment('inst_pipe_empty', 2)));
      });
    });

    it('a write that fails writes nothing, so the segment goes on: the next line follows the last whole one', () => {
      const journal = new CaptureJournal(directory, 'inst_full', { sync: 'write' });
      const kept = journal.append(capture('req_kept'));
      const target = segmentOf(kept);
      const file = target.descriptor;
      // /dev/full fails every write with ENOSPC, as a full disk does, writing nothing.
      const full = openSync('/dev/full', 'a');
      target.descriptor = full;
      expect(() => journal.append(capture('req_lost'))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      target.descriptor = file;
      closeSync(full);
      const next = journal.append(capture('req_next'));
      expect(next.sequence).toBe(2);
      expect(files()).toEqual([segment('inst_full', 1)]);
      expect(text(segment('inst_full', 1))).toBe(
        '{"type":"capture","requestId":"req_kept","amount":"0.01"}\n{"type":"capture","requestId":"req_next","amount":"0.01"}\n',
      );
    });
  });

  describe('segments', () => {
    it('starts a new segment at the append after the current one reaches segmentBytes exactly, not one byte before', () => {
      const journal = new CaptureJournal(directory, 'inst_edge', { sync: 'write', segmentBytes: 100 });
      journal.append(sized(99));
      journal.append(capture('req_same')); // 99 bytes < 100: still the first segment
      expect(files()).toEqual([segment('inst_edge', 1)]);

      const exact = new CaptureJournal(directory, 'inst_full', { sync: 'write', segmentBytes: 100 });
      exact.append(sized(100));
      const next = exact.append(capture('req_next'));
      expect(files()).toEqual([segment('inst_edge', 1), segment('inst_full', 1), segment('inst_full', 2)]);
      expect(segmentOf(next).file).toBe(path.join(directory, segment('inst_full', 2)));
      expect(text(segment('inst_full', 2))).toBe('{"type":"capture","requestId":"req_next","amount":"0.01"}\n');
    });

    it('without segmentBytes, seals a segment at 4 MiB exactly', () => {
      const below = new CaptureJournal(directory, 'inst_below', { sync: 'write' });
      below.append(sized(4 * 1024 * 1024 - 1));
      below.append(capture('req_same'));
      const full = new CaptureJournal(directory, 'inst_full', { sync: 'write' });
      full.append(sized(4 * 1024 * 1024));
      full.append(capture('req_next'));
      expect(files()).toEqual([segment('inst_below', 1), segment('inst_full', 1), segment('inst_full', 2)]);
    });

    it('deletes a full segment whose records are all written when the next append seals it', () => {
      const journal = new CaptureJournal(directory, 'inst_roll', { sync: 'write', segmentBytes: 100 });
      journal.written(journal.append(sized(120)));
      // Written, but the current segment is small (< 64 KiB) and not sealed: it stays until it is full and sealed.
      expect(files()).toEqual([segment('inst_roll', 1)]);
      journal.append(capture('req_next'));
      expect(files()).toEqual([segment('inst_roll', 2)]);
    });

    it('keeps a sealed segment until its last record is written, then deletes it', () => {
      const journal = new CaptureJournal(directory, 'inst_wait', { sync: 'write', segmentBytes: 100 });
      const first = journal.append(sized(60));
      const second = journal.append(sized(60));
      const third = journal.append(capture('req_third')); // 120 bytes ≥ 100: a second segment
      expect(files()).toEqual([segment('inst_wait', 1), segment('inst_wait', 2)]);
      journal.written(first);
      expect(files()).toEqual([segment('inst_wait', 1), segment('inst_wait', 2)]);
      journal.written(second);
      expect(files()).toEqual([segment('inst_wait', 2)]);
      journal.written(third);
      expect(files()).toEqual([segment('inst_wait', 2)]);
    });

    it('deletes the current segment as soon as everything in it is written once it has grown to 64 KiB, not before', () => {
      const small = new CaptureJournal(directory, 'inst_small', { sync: 'write' });
      small.written(small.append(sized(64 * 1024 - 1)));
      expect(files()).toEqual([segment('inst_small', 1)]);

      const grown = new CaptureJournal(directory, 'inst_grown', { sync: 'write' });
      grown.written(grown.append(sized(64 * 1024)));
      expect(files()).toEqual([segment('inst_small', 1)]);
      // The next record goes to a new segment (the deleted one is no longer written to).
      const next = grown.append(capture('req_after'));
      expect(files()).toEqual([segment('inst_grown', 2), segment('inst_small', 1)]);
      expect(text(segment('inst_grown', 2))).toBe('{"type":"capture","requestId":"req_after","amount":"0.01"}\n');
      grown.written(next);
      grown.close();
      expect(files()).toEqual([segment('inst_small', 1)]);
    });

    it('keeps a grown current segment while one of its records is still waiting for the database', () => {
      const journal = new CaptureJournal(directory, 'inst_busy', { sync: 'write' });
      const big = journal.append(sized(64 * 1024));
      const other = journal.append(capture('req_other'));
      journal.written(big);
      expect(files()).toEqual([segment('inst_busy', 1)]);
      journal.written(other);
      expect(files()).toEqual([]);
    });
  });

  describe('closing', () => {
    it('deletes the current segment at close when everything in it is written, silently', () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_close', { sync: 'write', logger });
      journal.written(journal.append(capture('req_1')));
      expect(files()).toEqual([segment('inst_close', 1)]);
      journal.close();
      expect(files()).toEqual([]);
      journal.close(); // a second close has nothing left to do
      expect(logged()).toEqual([]);
    });

    it('closes without a segment (nothing appended) and logs nothing', () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_empty', { sync: 'write', logger });
      journal.close();
      expect(files()).toEqual([]);
      expect(logged()).toEqual([]);
    });

    it('at close warns of the records not yet in the database, keeps them, and deletes the file once they are written', () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_left', { sync: 'write', logger });
      const marks = [journal.append(capture('req_1')), journal.append(capture('req_2')), journal.append(capture('req_3'))];
      journal.written(marks[0]!);
      journal.close();
      expect(files()).toEqual([segment('inst_left', 1)]);
      expect(logged()).toEqual([
        expect.objectContaining({
          level: 40,
          file: path.join(directory, segment('inst_left', 1)),
          pending: 2,
          msg: 'journal left with records not yet in the database; the next start replays them',
        }),
      ]);
      journal.written(marks[1]!);
      expect(files()).toEqual([segment('inst_left', 1)]);
      journal.written(marks[2]!);
      expect(files()).toEqual([]);
      expect(logged()).toHaveLength(1);
    });

    it('a new append after close opens the next segment', () => {
      const journal = new CaptureJournal(directory, 'inst_again', { sync: 'write' });
      journal.written(journal.append(capture('req_1')));
      journal.close();
      journal.append(capture('req_2'));
      expect(files()).toEqual([segment('inst_again', 2)]);
    });

    it('warns, naming the file, when a written segment cannot be deleted', () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_gone', { sync: 'write', logger });
      const mark = journal.append(capture('req_1'));
      const file = path.join(directory, segment('inst_gone', 1));
      unlinkSync(file); // someone removed it behind the journal's back
      journal.close();
      journal.written(mark);
      const entries = logged();
      expect(entries).toHaveLength(2);
      expect(entries[1]).toMatchObject({
        level: 40,
        file,
        err: { code: 'ENOENT' },
        msg: 'could not delete a written journal segment; its replay would be harmless',
      });
    });
  });

  describe('durability', () => {
    it("in write mode, durable() resolves at once without a sync, so nothing holds back a segment's deletion", async () => {
      const journal = new CaptureJournal(directory, 'inst_write', { sync: 'write' });
      const mark = journal.append(capture('req_1'));
      const durable = journal.durable(mark);
      journal.written(mark);
      journal.close();
      expect(files()).toEqual([]);
      await durable;
    });

    it('in fsync mode, a segment written during a sync is deleted only once the sync is done', async () => {
      const journal = new CaptureJournal(directory, 'inst_fsync', { sync: 'fsync' });
      const mark = journal.append(capture('req_1'));
      const durable = journal.durable(mark);
      journal.written(mark);
      journal.close();
      expect(files()).toEqual([segment('inst_fsync', 1)]);
      await durable;
      await settle();
      expect(files()).toEqual([]);
    });

    it('a sync covers every record appended before it started; a covered mark is durable at once', async () => {
      const journal = new CaptureJournal(directory, 'inst_group', { sync: 'fsync' });
      const first = journal.append(capture('req_1'));
      const second = journal.append(capture('req_2'));
      await journal.durable(first);
      // Covered by that sync (which took both records): no new sync, so the deletion below is immediate.
      const again = journal.durable(second);
      const repeat = journal.durable(first);
      journal.written(first);
      journal.written(second);
      journal.close();
      expect(files()).toEqual([]);
      await Promise.all([again, repeat]);
    });

    it('a record appended during a sync waits for the next sync', async () => {
      const journal = new CaptureJournal(directory, 'inst_next', { sync: 'fsync' });
      const first = journal.append(capture('req_1'));
      const firstDurable = journal.durable(first);
      const second = journal.append(capture('req_2'));
      const secondDurable = journal.durable(second);
      await firstDurable;
      await secondDurable;
      // Both covered now: a further durable() starts no sync.
      const covered = journal.durable(second);
      journal.written(first);
      journal.written(second);
      journal.close();
      expect(files()).toEqual([]);
      await covered;
    });

    it('a failed sync rejects durable() with the file system error; a later durable() syncs again', async () => {
      const journal = new CaptureJournal(directory, 'inst_fail', { sync: 'fsync' });
      const mark = journal.append(capture('req_1'));
      const target = segmentOf(mark);
      const descriptor = target.descriptor;
      // A descriptor no file is open on: fdatasync fails with EBADF, as a failing disk would fail it.
      target.descriptor = 1_000_000;
      const failed = journal.durable(mark);
      target.descriptor = descriptor;
      await expect(failed).rejects.toMatchObject({ code: 'EBADF' });
      await journal.durable(mark);
      journal.written(mark);
      journal.close();
      expect(files()).toEqual([]);
    });

    it('a segment deleted while a sync fails is still deleted once the sync is over', async () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_failclose', { sync: 'fsync', logger });
      const mark = journal.append(capture('req_1'));
      const target = segmentOf(mark);
      const descriptor = target.descriptor;
      target.descriptor = 1_000_000;
      const failed = journal.durable(mark);
      target.descriptor = descriptor;
      journal.written(mark);
      journal.close();
      expect(files()).toEqual([segment('inst_failclose', 1)]);
      await expect(failed).rejects.toMatchObject({ code: 'EBADF' });
      await settle();
      expect(files()).toEqual([]);
      expect(logged()).toEqual([
        {
          level: 50,
          err: expect.objectContaining({ code: 'EBADF' }),
          directory,
          msg: 'could not sync the capture journal to disk; captures that waited on it are answered once the database has them',
        },
      ]);
    });

    it('a segment asked to be deleted twice during one sync is closed and deleted once', async () => {
      const { logger, logged } = recordingLogger();
      const journal = new CaptureJournal(directory, 'inst_twice', { sync: 'fsync', logger });
      const mark = journal.append(sized(64 * 1024));
      const durable = journal.durable(mark);
      journal.written(mark); // grown and written: to be deleted after the sync
      journal.close(); // the same segment, still current: asked again
      await durable;
      await settle();
      expect(files()).toEqual([]);
      expect(logged()).toEqual([]);
    });

    it('a deleted segment is no longer synced: a later sync of the next segment succeeds', async () => {
      const journal = new CaptureJournal(directory, 'inst_forget', { sync: 'fsync', segmentBytes: 100 });
      const old = journal.append(sized(100));
      const next = journal.append(capture('req_next')); // the second segment is open before the first goes
      journal.written(old);
      expect(files()).toEqual([segment('inst_forget', 2)]);
      await journal.durable(next);
      journal.written(next);
      journal.close();
      expect(files()).toEqual([]);
    });

    it('a sync covers records in a segment sealed since they were appended', async () => {
      const journal = new CaptureJournal(directory, 'inst_sealed', { sync: 'fsync', segmentBytes: 100 });
      const old = journal.append(sized(100));
      const next = journal.append(capture('req_next'));
      await journal.durable(old);
      // The sync took the sealed segment too; a covered mark then needs no sync.
      const covered = journal.durable(next);
      journal.written(old);
      journal.written(next);
      journal.close();
      expect(files()).toEqual([]);
      await covered;
    });
  });
});

describe('claiming left journals', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-claim-rules-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  const files = () => readdirSync(directory).sort();
  const put = (name: string, content = `${JSON.stringify(capture(`req_${name}`))}\n`) =>
    writeFileSync(path.join(directory, name), content);
  const claimed = (name: string) => `${name}.replaying.inst_me-${process.pid}`;

  it('creates a missing directory and finds nothing in it', () => {
    const nested = path.join(directory, 'x', 'y');
    expect(claimLeftJournals(nested, 'inst_me', () => true)).toEqual([]);
    expect(existsSync(nested)).toBe(true);
  });

  it('claims only names of the journal pattern, with any letters and digits in the instance and any length of numbers', () => {
    const valid = ['inst_A9z-12345-678.journal', 'inst_b-1-1.journal', 'inst_c-22-3.journal.replaying.inst_Rx7-4567'];
    const invalid = [
      'inst_-1-1.journal',
      'inst_a.b-1-1.journal',
      'inst_a-x-1.journal',
      'inst_a--1.journal',
      'inst_a-1-.journal',
      'inst_a-1-y.journal',
      'inst_a-1-1.journalx',
      'inst_a-1-1.journal.bak',
      'inst_a-1-1xjournal',
      'xinst_a-1-1.journal',
      'other_a-1-1.journal',
      'inst_a-1-1.journal.replaying.inst_b',
      'inst_a-1-1.journal.replaying.inst_b-',
      'inst_a-1-1.journal.replaying.other-1',
      'inst_a-1-1.journal.replaying.inst_b-2x',
      'inst_a-1-1.journal.replaying.inst_-2',
      'inst_a-1-1.journal.replayingxinst_b-2',
    ];
    for (const name of [...valid, ...invalid]) put(name);
    const asked: Array<[string, number]> = [];
    const lefts = claimLeftJournals(directory, 'inst_me', (instance, pid) => {
      asked.push([instance, pid]);
      return true;
    });
    expect(lefts.map((left) => [path.basename(left.file), left.ownerInstance, left.ownerPid])).toEqual([
      [claimed('inst_A9z-12345-678.journal'), 'inst_A9z', 12345],
      [claimed('inst_b-1-1.journal'), 'inst_b', 1],
      [claimed('inst_c-22-3.journal'), 'inst_c', 22],
    ]);
    // A file being replayed is judged by its replayer's life, not its owner's.
    expect(asked).toEqual([
      ['inst_A9z', 12345],
      ['inst_b', 1],
      ['inst_Rx7', 4567],
    ]);
    expect(files()).toEqual(
      [...invalid, claimed('inst_A9z-12345-678.journal'), claimed('inst_b-1-1.journal'), claimed('inst_c-22-3.journal')].sort(),
    );
  });

  it("never claims this instance's own files, even when told every instance is dead", () => {
    put('inst_me-1-1.journal');
    put('inst_other-1-1.journal');
    const lefts = claimLeftJournals(directory, 'inst_me', () => true);
    expect(lefts.map((left) => left.ownerInstance)).toEqual(['inst_other']);
    expect(files()).toEqual(['inst_me-1-1.journal', claimed('inst_other-1-1.journal')]);
  });

  it('leaves the files of living owners, and of living replayers, where they are', () => {
    put('inst_alive-1-1.journal');
    put('inst_dead-1-1.journal.replaying.inst_busy-9');
    put('inst_dead-2-1.journal.replaying.inst_gone-9');
    const living = new Set(['inst_alive', 'inst_busy']);
    const lefts = claimLeftJournals(directory, 'inst_me', (instance) => !living.has(instance));
    expect(lefts.map((left) => path.basename(left.file))).toEqual([claimed('inst_dead-2-1.journal')]);
    expect(files()).toEqual([
      'inst_alive-1-1.journal',
      'inst_dead-1-1.journal.replaying.inst_busy-9',
      claimed('inst_dead-2-1.journal'),
    ]);
  });

  it('reads every record, counting torn, blank-free unknown and non-record lines as unreadable and skipping blank lines', () => {
    put(
      'inst_dead-7-1.journal',
      [
        '{"type":"capture","requestId":"req_1","amount":"0.5","leaseId":"lease_a"}',
        '',
        '{"type":"usage","row":{"request_id":"req_1"}}',
        '',
        '{"type":"other","requestId":"req_x"}',
        'null',
        '42',
        '"capture"',
        '{"requestId":"req_no_type"}',
        '{"type":"capture","requestId":"req_2","amount":"0.25"}',
        '{"type":"capture","requestId":"req_c', // torn by the crash
      ].join('\n'),
    );
    const lefts = claimLeftJournals(directory, 'inst_me', () => true);
    expect(lefts).toEqual([
      {
        file: path.join(directory, claimed('inst_dead-7-1.journal')),
        ownerInstance: 'inst_dead',
        ownerPid: 7,
        records: [
          { type: 'capture', requestId: 'req_1', amount: '0.5', leaseId: 'lease_a' },
          { type: 'usage', row: { request_id: 'req_1' } },
          { type: 'capture', requestId: 'req_2', amount: '0.25' },
        ],
        unreadable: 6,
      },
    ]);
  });

  it('an empty file is claimed with no records and nothing unreadable', () => {
    put('inst_dead-7-2.journal', '');
    expect(claimLeftJournals(directory, 'inst_me', () => true)).toEqual([
      {
        file: path.join(directory, claimed('inst_dead-7-2.journal')),
        ownerInstance: 'inst_dead',
        ownerPid: 7,
        records: [],
        unreadable: 0,
      },
    ]);
  });

  it('skips a file another process claimed first (gone when renamed) and claims the rest', () => {
    put('inst_a-1-1.journal');
    put('inst_b-1-1.journal');
    const lefts = claimLeftJournals(directory, 'inst_me', (instance) => {
      // Another process renames inst_a's file between this one's listing and its rename.
      if (instance === 'inst_a') rmSync(path.join(directory, 'inst_a-1-1.journal'));
      return true;
    });
    expect(lefts.map((left) => left.ownerInstance)).toEqual(['inst_b']);
  });

  it('throws any other error of the rename', () => {
    put('inst_a-1-1.journal');
    // The target name is taken by a non-empty directory: the rename fails with something other than ENOENT.
    mkdirSync(path.join(directory, claimed('inst_a-1-1.journal')));
    writeFileSync(path.join(directory, claimed('inst_a-1-1.journal'), 'inside'), '');
    let thrown: unknown;
    try {
      claimLeftJournals(directory, 'inst_me', () => true);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as NodeJS.ErrnoException).code).not.toBe('ENOENT');
    expect((thrown as NodeJS.ErrnoException).syscall).toBe('rename');
  });

  it('removes a replayed file once, and a second removal is harmless', () => {
    put('inst_a-1-1.journal');
    const [left] = claimLeftJournals(directory, 'inst_me', () => true);
    removeReplayedJournal(left!);
    expect(files()).toEqual([]);
    expect(() => removeReplayedJournal(left!)).not.toThrow();
  });

  it('a removal that fails for another reason than a missing file throws', () => {
    const stuck = path.join(directory, 'a-directory');
    mkdirSync(stuck);
    expect(() =>
      removeReplayedJournal({ file: stuck, ownerInstance: 'inst_a', ownerPid: 1, records: [], unreadable: 0 }),
    ).toThrow(expect.objectContaining({ syscall: 'unlink' }) as unknown as Error);
    expect(existsSync(stuck)).toBe(true);
  });
});
