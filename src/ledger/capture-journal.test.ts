import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaptureJournal, claimLeftJournals, removeReplayedJournal, type JournalRecord } from './capture-journal.js';

const capture = (requestId: string, amount = '0.01'): JournalRecord => ({
  type: 'capture',
  requestId,
  amount,
  leaseId: 'lease_1',
});

describe('capture journal', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tollgate-journal-test-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  const files = () => readdirSync(directory).sort();
  const lines = (file: string) => readFileSync(path.join(directory, file), 'utf8').split('\n').filter(Boolean);

  it('holds a record on disk from append until written, then the file goes', () => {
    const journal = new CaptureJournal(directory, 'inst_aa', { sync: 'write' });
    const first = journal.append(capture('req_1'));
    const second = journal.append({ type: 'usage', row: { request_id: 'req_1', charge: '0.01' } });
    expect(files()).toEqual([`inst_aa-${process.pid}-1.journal`]);
    expect(lines(files()[0]!).map((line) => JSON.parse(line))).toEqual([
      capture('req_1'),
      { type: 'usage', row: { request_id: 'req_1', charge: '0.01' } },
    ]);
    journal.written(first);
    journal.written(second);
    // Still the current segment, small: kept open for the next records.
    expect(files()).toHaveLength(1);
    journal.close();
    expect(files()).toEqual([]);
  });

  it('seals a full segment and deletes it once everything in it is written; close keeps what is not', () => {
    const journal = new CaptureJournal(directory, 'inst_bb', { sync: 'write', segmentBytes: 200 });
    const marks = Array.from({ length: 6 }, (_, index) => journal.append(capture(`req_${index}`)));
    expect(files().length).toBeGreaterThan(1);
    for (const mark of marks.slice(0, 5)) journal.written(mark);
    journal.close();
    // Only the segment holding req_5 is left, for the next start.
    expect(files()).toHaveLength(1);
    expect(lines(files()[0]!).map((line) => (JSON.parse(line) as { requestId: string }).requestId)).toContain('req_5');
  });

  it('in fsync mode, durable() resolves after a sync that covers the record', async () => {
    const journal = new CaptureJournal(directory, 'inst_cc', { sync: 'fsync' });
    const marks = [journal.append(capture('req_a')), journal.append(capture('req_b'))];
    await Promise.all(marks.map((mark) => journal.durable(mark)));
    const later = journal.append(capture('req_c'));
    await journal.durable(later);
    for (const mark of [...marks, later]) journal.written(mark);
    journal.close();
    expect(files()).toEqual([]);
  });

  it('claims only the files of dead owners, renames them so no one else replays them, and skips a torn last line', () => {
    const journal = new CaptureJournal(directory, 'inst_live', { sync: 'write' });
    journal.append(capture('req_live'));
    const deadFile = path.join(directory, 'inst_dead-4242-1.journal');
    writeFileSync(deadFile, `${JSON.stringify(capture('req_dead_1'))}\n${JSON.stringify(capture('req_dead_2'))}\n`);
    appendFileSync(deadFile, '{"type":"capture","requestId":"req_cut'); // the process died mid-line
    writeFileSync(path.join(directory, 'inst_other-4343-1.journal'), `${JSON.stringify(capture('req_other'))}\n`);

    const dead = new Set(['inst_dead']);
    const claimed = claimLeftJournals(directory, 'inst_live', (instance) => dead.has(instance));
    expect(claimed).toHaveLength(1);
    expect(claimed[0]).toMatchObject({ ownerInstance: 'inst_dead', ownerPid: 4242, unreadable: 1 });
    expect(claimed[0]!.records.map((record) => (record as { requestId: string }).requestId)).toEqual([
      'req_dead_1',
      'req_dead_2',
    ]);
    expect(files()).toContain(`inst_dead-4242-1.journal.replaying.inst_live-${process.pid}`);
    // A second claimer finds nothing left of it.
    expect(claimLeftJournals(directory, 'inst_third', (instance) => dead.has(instance))).toEqual([]);
    removeReplayedJournal(claimed[0]!);
    expect(files()).toEqual([`inst_live-${process.pid}-1.journal`, 'inst_other-4343-1.journal']);
  });

  it('a replay cut short by its own process dying is claimed again once that process is dead', () => {
    writeFileSync(
      path.join(directory, 'inst_dead-1-1.journal.replaying.inst_replayer-2'),
      `${JSON.stringify(capture('req_x'))}\n`,
    );
    expect(claimLeftJournals(directory, 'inst_me', () => false)).toEqual([]);
    const claimed = claimLeftJournals(directory, 'inst_me', (instance) => instance === 'inst_replayer');
    expect(claimed.map((left) => left.ownerInstance)).toEqual(['inst_dead']);
    expect(files()).toEqual([`inst_dead-1-1.journal.replaying.inst_me-${process.pid}`]);
  });
});
