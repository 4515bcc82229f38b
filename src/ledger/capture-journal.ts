import {
  closeSync,
  fdatasync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writevSync,
} from 'node:fs';
import path from 'node:path';
import { silentLogger, type Logger } from '../logging/logger.js';

/**
 * What the journal keeps until the database has it: a settled call's capture (its charge), or its usage
 * record. Plain JSON: amounts as decimal strings, exactly as they will be written.
 */
export type JournalRecord =
  | {
      type: 'capture';
      requestId: string;
      leaseId?: string;
      amount: string;
      priceVersion?: number;
      usage?: unknown;
      breakdown?: unknown;
    }
  | { type: 'usage'; row: Record<string, unknown> };

/**
 * `write`: a record reaches the operating system (one `writev(2)` per line) before the call's answer leaves, so it
 * survives the process being killed, not the machine losing power. `fsync`: the answer waits for the
 * record's `fdatasync`, shared by every record appended meanwhile (group commit), so it survives that too.
 */
export type JournalSync = 'write' | 'fsync';

/** A record's place in the journal, to mark it written to the database. */
export interface JournalMark {
  readonly segment: Segment;
  readonly sequence: number;
}

interface Segment {
  file: string;
  descriptor: number;
  bytes: number;
  /** Records appended and not yet in the database. */
  pending: number;
  /** No more records go here; it is deleted once `pending` is 0 and its last sync is done. */
  sealed: boolean;
  closed: boolean;
}

const SEGMENT_BYTES = 4 * 1024 * 1024;
const NEWLINE = Buffer.from('\n');
/** A usage line around its row: `{"type":"usage","row":<row>}`, as `JSON.stringify` writes the record. */
const USAGE_HEAD = Buffer.from('{"type":"usage","row":');
const USAGE_TAIL = Buffer.from('}\n');
const SUFFIX = '.journal';

/**
 * The capture journal: an append-only file per gateway process in which every settled call's charge (and
 * usage record) is written before its answer leaves, and from which it is deleted once the database has it.
 * The captures themselves are still written to the database after the answer, many per commit (credit
 * leases, group commit); the journal is what makes a served call's charge survive `kill -9` between the
 * two: the next start (of this instance, or of any instance sharing the directory) replays what a dead
 * process left, and the replay is idempotent (one capture per request id; usage records likewise).
 *
 * Files are named `<instance>-<pid>-<n>.journal`; a segment is sealed at 4 MiB (or when empty and idle) and
 * deleted when everything in it is in the database.
 */
export class CaptureJournal {
  private current: Segment | undefined;
  /** Segments whose descriptor is still open (the current one, and sealed ones with records not yet written). */
  private readonly open = new Set<Segment>();
  private segmentNumber = 0;
  private sequence = 0;
  private synced = 0;
  private syncing: Promise<void> | undefined;
  /** Appends failed since the last one that succeeded. */
  private failures = 0;
  private readonly logger: Logger;

  constructor(
    private readonly directory: string,
    private readonly instanceId: string,
    private readonly options: { sync: JournalSync; logger?: Logger; segmentBytes?: number },
  ) {
    mkdirSync(directory, { recursive: true });
    this.logger = options.logger ?? silentLogger();
  }

  get sync(): JournalSync {
    return this.options.sync;
  }

  /** Whether the last append failed (a full disk): true until one succeeds again. */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** Appends `record` (one `writev(2)` of one line). @throws the file system's error (logged once per run of failures) */
  append(record: JournalRecord): JournalMark {
    return this.appendLine([Buffer.from(JSON.stringify(record)), NEWLINE]);
  }

  /**
   * `append` for a record serialised already: the UTF-8 bytes of `JSON.stringify` of a JournalRecord (the
   * capture writer's batch keeps the same bytes, so the line is encoded once).
   * @throws the file system's error
   */
  appendJson(recordJson: Buffer): JournalMark {
    return this.appendLine([recordJson, NEWLINE]);
  }

  /**
   * Appends the usage record `{ type: 'usage', row }` from its row's JSON (UTF-8 bytes), as `append` would write
   * it: the row is serialised and encoded once, for this line and for its batch insert.
   * @throws the file system's error
   */
  appendUsage(rowJson: Buffer): JournalMark {
    return this.appendLine([USAGE_HEAD, rowJson, USAGE_TAIL]);
  }

  /**
   * One line from its pieces, in one `writev(2)`. A line is in the journal whole or not at all. A write that
   * fails writes nothing; one the system cuts short (a full disk, a file size limit) is cut off again and fails
   * the append, so the next line does not run on from a torn one, which would leave both unreadable.
   */
  private appendLine(pieces: Buffer[]): JournalMark {
    let segment: Segment;
    let length = 0;
    for (const piece of pieces) length += piece.length;
    try {
      segment = this.writableSegment();
      const written = writevSync(segment.descriptor, pieces);
      if (written < length) {
        this.cutTornLine(segment);
        throw new Error(
          `the journal could write only ${written} of a line's ${length} bytes (a full disk or a file size limit); the part written is cut off`,
        );
      }
    } catch (error) {
      this.failed(error);
      throw error;
    }
    if (this.failures > 0) {
      this.logger.info({ failed: this.failures }, 'the capture journal can be written again');
      this.failures = 0;
    }
    segment.bytes += length;
    segment.pending += 1;
    this.sequence += 1;
    return { segment, sequence: this.sequence };
  }

  /**
   * Counts a failed append, and logs the first of a run of them: a full disk fails every call's append, and one
   * line says so. Its callers go on without the journal (see `CaptureWriter.submit`, `UsageRecorder.record`).
   */
  private failed(error: unknown): void {
    this.failures += 1;
    if (this.failures > 1) return;
    this.logger.error(
      { err: error, directory: this.directory },
      'cannot append to the capture journal; until it can, captures are written to the database before their calls are answered, and usage records without a journal line',
    );
  }

  /**
   * Truncates the current segment back to its last whole line after a short write. If that fails too (a file
   * that cannot be truncated), the segment is sealed: nothing more is appended after the torn part, which a
   * replay counts as one unreadable line, and the next append opens a new segment.
   */
  private cutTornLine(segment: Segment): void {
    try {
      ftruncateSync(segment.descriptor, segment.bytes);
    } catch (error) {
      this.logger.warn(
        { err: error, file: segment.file },
        'could not cut a torn journal line off; the segment is sealed and the next record goes to a new one',
      );
      segment.sealed = true;
      this.current = undefined;
      if (segment.pending === 0) this.retire(segment);
    }
  }

  /** Resolves when `mark` is as durable as the journal's mode makes it (in `fsync` mode, after a shared fdatasync). */
  durable(mark: JournalMark): Promise<void> {
    if (this.options.sync === 'write' || this.synced >= mark.sequence) return Promise.resolve();
    return this.syncThrough(mark.sequence);
  }

  /** The record is in the database: its segment can go once nothing else in it is waiting. */
  written(mark: JournalMark): void {
    const { segment } = mark;
    segment.pending -= 1;
    if (segment.pending > 0) return;
    // An empty current segment that has grown is sealed too, so the directory never keeps a long file of
    // records that are all in the database.
    if (segment === this.current && segment.bytes >= 64 * 1024) segment.sealed = true;
    if (segment.sealed) this.retire(segment);
  }

  /** Seals the current segment; deleted now if everything in it is written, else when it is. */
  close(): void {
    const segment = this.current;
    this.current = undefined;
    if (!segment) return;
    segment.sealed = true;
    if (segment.pending === 0) this.retire(segment);
    else
      this.logger.warn(
        { file: segment.file, pending: segment.pending },
        'journal left with records not yet in the database; the next start replays them',
      );
  }

  private writableSegment(): Segment {
    const limit = this.options.segmentBytes ?? SEGMENT_BYTES;
    if (this.current && this.current.bytes >= limit) {
      this.current.sealed = true;
      if (this.current.pending === 0) this.retire(this.current);
      this.current = undefined;
    }
    if (!this.current) {
      const file = path.join(this.directory, `${this.instanceId}-${process.pid}-${this.segmentNumber + 1}${SUFFIX}`);
      const descriptor = openSync(file, 'a');
      this.segmentNumber += 1;
      this.current = { file, descriptor, bytes: 0, pending: 0, sealed: false, closed: false };
      this.open.add(this.current);
    }
    return this.current;
  }

  private retire(segment: Segment): void {
    if (segment.closed) return;
    // A sync in flight uses the descriptor; the file goes once it is done.
    if (this.syncing) {
      const again = () => this.retire(segment);
      void this.syncing.then(again, again);
      return;
    }
    segment.closed = true;
    this.open.delete(segment);
    if (segment === this.current) this.current = undefined;
    try {
      closeSync(segment.descriptor);
      unlinkSync(segment.file);
    } catch (error) {
      this.logger.warn(
        { err: error, file: segment.file },
        'could not delete a written journal segment; its replay would be harmless',
      );
    }
  }

  private async syncThrough(sequence: number): Promise<void> {
    while (this.synced < sequence) {
      if (!this.syncing) {
        const target = this.sequence;
        // Every open segment: a record may sit in one sealed since it was appended.
        const segments = [...this.open];
        this.syncing = Promise.all(
          segments.map(
            (segment) =>
              new Promise<void>((resolve, reject) => {
                fdatasync(segment.descriptor, (error) => (error ? reject(error) : resolve()));
              }),
          ),
        )
          .then(
            () => {
              this.synced = Math.max(this.synced, target);
            },
            (error: unknown) => {
              // Once per failed sync, however many records waited on it: each of them rejects with the error.
              this.logger.error(
                { err: error, directory: this.directory },
                'could not sync the capture journal to disk; captures that waited on it are answered once the database has them',
              );
              throw error;
            },
          )
          .finally(() => {
            this.syncing = undefined;
          });
      }
      await this.syncing;
    }
  }
}

/** A journal file another process left, claimed for replay by this one. */
export interface LeftJournal {
  file: string;
  ownerInstance: string;
  ownerPid: number;
  records: JournalRecord[];
  /** Lines that could not be read (a line cut short by the crash): reported, never guessed at. */
  unreadable: number;
}

/**
 * The journal files of processes that are gone, each claimed (renamed) so that no two processes replay the
 * same one at once. `isDead(instance, pid)` decides whose files are left over; a file being replayed by a
 * process that died meanwhile is claimed again.
 */
export function claimLeftJournals(
  directory: string,
  ownInstance: string,
  isDead: (instanceId: string, pid: number) => boolean,
): LeftJournal[] {
  mkdirSync(directory, { recursive: true });
  const claimed: LeftJournal[] = [];
  for (const name of readdirSync(directory).sort()) {
    const parsed = /^(inst_[A-Za-z0-9]+)-(\d+)-\d+\.journal(?:\.replaying\.(inst_[A-Za-z0-9]+)-(\d+))?$/.exec(name);
    if (!parsed) continue;
    const [, ownerInstance, ownerPid, replayer, replayerPid] = parsed;
    if (ownerInstance === ownInstance) continue;
    if (replayer ? !isDead(replayer, Number(replayerPid)) : !isDead(ownerInstance!, Number(ownerPid))) continue;
    const base = name.replace(/\.replaying\..*$/, '');
    const target = path.join(directory, `${base}.replaying.${ownInstance}-${process.pid}`);
    try {
      renameSync(path.join(directory, name), target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process claimed it first
      throw error;
    }
    const { records, unreadable } = readRecords(target);
    claimed.push({ file: target, ownerInstance: ownerInstance!, ownerPid: Number(ownerPid), records, unreadable });
  }
  return claimed;
}

/** Deletes a replayed journal file. */
export function removeReplayedJournal(left: LeftJournal): void {
  try {
    unlinkSync(left.file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function readRecords(file: string): { records: JournalRecord[]; unreadable: number } {
  const records: JournalRecord[] = [];
  let unreadable = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      const record = JSON.parse(line) as JournalRecord;
      if (record && (record.type === 'capture' || record.type === 'usage')) records.push(record);
      else unreadable += 1;
    } catch {
      unreadable += 1;
    }
  }
  return { records, unreadable };
}
