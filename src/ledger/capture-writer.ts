import type { Kysely } from 'kysely';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import { GroupCommitQueue } from '../db/group-commit.js';
import { writeWithRetries } from '../db/write-retries.js';
import type { Schema } from '../db/schema.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { captureBatch, MAX_CAPTURE_BATCH, type CaptureResult } from './capture-batch.js';
import type { CaptureJournal, JournalMark, JournalRecord } from './capture-journal.js';
import type { CaptureInput, CaptureOutcome } from './settlement.js';
import { Decimal } from '../money/decimal.js';

export interface CaptureWriterOptions {
  /** How long a settled call's capture waits for others to share its transaction. */
  lingerMs: number;
  /** Where a capture is written before its call is answered (replayed at the next start if the process dies). */
  journal?: CaptureJournal;
  logger?: Logger;
  /** Waits between retries of a write that failed for want of the database: 25 ms doubling to this. */
  maxRetryDelayMs?: number;
  /**
   * Writes a batch of captures, given as their journal lines, answering for each (default: `captureBatch` on
   * this writer's database, in this thread; `tollgate serve` on PostgreSQL passes its write thread's).
   */
  write?: (records: string[]) => Promise<CaptureResult[]>;
  /** Whether the database is reachable as the process last saw it (`DatabaseHealth.isReachable`). */
  databaseReachable?: () => boolean;
}

/** What happened to the captures written so far (metrics). */
export interface CaptureWriterStats {
  /** Refused by the ledger or failed for good: logged with everything needed to replay them by hand. */
  lost: number;
  /** Written, but the ledger took less than the call was told (its lease was released meanwhile). */
  discrepancies: number;
}

/**
 * Writes settled captures to the ledger after their calls were answered, group-committed, one batch at a
 * time in settlement order (credit leases' draws assume it). A capture is journaled first (when there is a
 * journal), so from the moment its call is answered it is either in the database or in the journal.
 *
 * A write that fails because the database is unreachable (a restart, a terminated connection, a network
 * cut) is retried with growing waits, for as long as the process lives: during an outage the captures queue
 * here and in the journal, and go in as soon as the database is back. A ledger refusal or any other error is
 * not retried; it is logged with the capture's content.
 */
export class CaptureWriter {
  private readonly queue: GroupCommitQueue<Pending, CaptureOutcome>;
  private readonly logger: Logger;
  private readonly counters: CaptureWriterStats = { lost: 0, discrepancies: 0 };
  private readonly write: (records: string[]) => Promise<CaptureResult[]>;
  private stopping = false;

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly options: CaptureWriterOptions,
  ) {
    this.logger = options.logger ?? silentLogger();
    this.write = options.write ?? ((records) => captureBatch(db, records.map(captureFromRecord)));
    this.queue = new GroupCommitQueue((inputs) => this.writeBatch(inputs), {
      maxBatch: MAX_CAPTURE_BATCH,
      lingerMs: options.lingerMs,
      name: 'captures',
    });
  }

  get stats(): CaptureWriterStats {
    return { ...this.counters };
  }

  /**
   * Journals `capture` (synchronously, before this returns a promise) and queues its write. The promise
   * resolves with the ledger's outcome; `durable` when the journal has it as its mode requires. When the
   * journal cannot take it (a full disk; the journal logs that), the capture is written at once instead, and
   * `durable` waits for the database to have it: the call is still answered as billed, only later. So does
   * `durable` when the journal's sync fails (fsync mode). It rejects only if the ledger refuses the capture.
   */
  submit(
    capture: CaptureInput,
    options: {
      urgent?: boolean;
      /**
       * The caller waits for the ledger's outcome and reports it to the call (a charge past its lease): a
       * shortfall is then what the call was told, not a discrepancy.
       */
      reported?: boolean;
    } = {},
  ): { written: Promise<CaptureOutcome>; durable: Promise<void> } {
    // Serialised and encoded once, for the journal and the batch. It waits for its batch as UTF-8 bytes, outside
    // the JavaScript heap: queued as objects, or even as a string, the captures of a batch's linger were what
    // the young generation's collections copied (README, "What a collection copies").
    const record = Buffer.from(JSON.stringify(journalRecord(capture)));
    let mark: JournalMark | undefined;
    let unjournaled = false;
    try {
      mark = this.options.journal?.appendJson(record);
    } catch {
      unjournaled = true;
    }
    const queued: Pending = {
      record,
      requestId: capture.requestId,
      ...(capture.leaseId ? { leaseId: capture.leaseId } : {}),
      ...(options.reported ? { reported: true } : {}),
      mark,
    };
    // Not journaled, nothing else keeps it if the process dies: it goes at once, and the call waits for it.
    const written = this.queue.submit(queued, unjournaled || options.urgent ? { urgent: true } : {});
    // A failed sync (fsync mode; the journal logs it) leaves the line's durability unknown: the answer then waits
    // for the database too. In write mode the line is durable once appended: nothing to wait for or catch.
    const journal = this.options.journal;
    let durable: Promise<void> = Promise.resolve();
    if (unjournaled) durable = written.then(() => undefined);
    else if (mark && journal!.sync === 'fsync') durable = journal!.durable(mark).catch(() => written.then(() => undefined));
    return { written, durable };
  }

  /**
   * Why a capture submitted now could be kept neither in the journal nor in the database (the journal's last
   * append failed and the database is unreachable), or undefined when it can be. A call must not be made
   * then: its answer would wait for the database, and its capture would live only in this process's memory.
   */
  cannotKeep(): string | undefined {
    const { journal, databaseReachable } = this.options;
    if (!journal?.failing || !databaseReachable || databaseReachable()) return undefined;
    return "the capture journal cannot be written either (see the log), so a call's capture could be kept nowhere";
  }

  /** Resolves when everything submitted so far is written (or given up). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops retrying: a capture still failing is left in the journal for the next start. */
  stopRetrying(): void {
    this.stopping = true;
  }

  private async writeBatch(pending: Pending[]): Promise<CaptureResult[]> {
    const records = pending.map((entry) => entry.record.toString());
    // A batch that failed as a whole (its thread lost) fails each of its captures.
    const write = (batch: string[]) => this.write(batch).catch((error: unknown): CaptureResult[] => batch.map(() => ({ error })));
    const results = await writeWithRetries(records, write, {
      retryable: isTransient,
      stopped: () => this.stopping,
      maxDelayMs: this.options.maxRetryDelayMs,
      waiting: (err, captures) =>
        this.logger.warn({ err, captures }, 'captures could not be written yet; retrying until the database is back'),
    });
    results.forEach((result, index) => this.finish(pending[index]!, result));
    return results;
  }

  private finish(entry: Pending, result: CaptureResult): void {
    const { requestId, leaseId, mark } = entry;
    if ('value' in result) {
      if (mark) this.options.journal!.written(mark);
      if (result.value.shortfall.isPositive() && leaseId && !entry.reported) {
        // The call was told its lease paid in full; the lease was gone (released after a silence) and the
        // account could not cover it. Counted and logged so the operator can see every such case.
        this.counters.discrepancies += 1;
        this.logger.error(
          {
            requestId,
            leaseId,
            amount: recordOf(entry).amount,
            shortfall: result.value.shortfall.toString(),
          },
          'a capture settled after its credit lease was released: the ledger took less than the call reported',
        );
      }
      return;
    }
    if (isTransient(result.error) && mark) {
      // Only when stopping: the journal keeps it and the next start writes it.
      this.logger.warn({ requestId }, 'capture left in the journal for the next start');
      return;
    }
    this.counters.lost += 1;
    if (mark) this.options.journal!.written(mark);
    const capture = recordOf(entry);
    this.logger.error(
      {
        err: result.error,
        requestId,
        leaseId,
        amount: capture.amount,
        priceVersion: capture.priceVersion,
        capture,
      },
      'a capture could not be written to the ledger; the call was served and is not charged',
    );
  }
}

interface Pending {
  /** The capture's journal line (JSON of its `journalRecord`), as UTF-8 bytes. */
  record: Buffer;
  requestId: string;
  leaseId?: string;
  /** The call waits for this capture's outcome and reports it (`submit`'s `reported`). */
  reported?: true;
  mark: JournalMark | undefined;
}

type CaptureRecord = Extract<JournalRecord, { type: 'capture' }>;

function recordOf(entry: Pending): CaptureRecord {
  return JSON.parse(entry.record.toString()) as CaptureRecord;
}

/** Worth retrying: the database was unreachable, or the transaction lost a race it may win next time. */
function isTransient(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '40001' || code === '40P01'; // serialization_failure, deadlock_detected
}

export function journalRecord(capture: CaptureInput): JournalRecord {
  return {
    type: 'capture',
    requestId: capture.requestId,
    ...(capture.leaseId ? { leaseId: capture.leaseId } : {}),
    amount: capture.amount.toString(),
    ...(capture.priceVersion !== undefined ? { priceVersion: capture.priceVersion } : {}),
    ...(capture.usage !== undefined ? { usage: capture.usage } : {}),
    ...(capture.breakdown !== undefined ? { breakdown: capture.breakdown } : {}),
  };
}

/** The capture a journal record holds (the inverse of `journalRecord`). */
export function captureOfRecord(record: CaptureRecord): CaptureInput {
  return {
    requestId: record.requestId,
    amount: Decimal.parse(record.amount),
    ...(record.leaseId ? { leaseId: record.leaseId } : {}),
    ...(record.priceVersion !== undefined ? { priceVersion: record.priceVersion } : {}),
    ...(record.usage !== undefined ? { usage: record.usage } : {}),
    ...(record.breakdown !== undefined ? { breakdown: record.breakdown } : {}),
  };
}

/** The capture of a journal line (`JSON.stringify(journalRecord(capture))`). */
export function captureFromRecord(line: string): CaptureInput {
  return captureOfRecord(JSON.parse(line) as CaptureRecord);
}
