import type { Db } from '../db/database.js';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import { GroupCommitQueue, type Settled } from '../db/group-commit.js';
import { writeWithRetries } from '../db/write-retries.js';
import type { CaptureJournal, JournalMark } from '../ledger/capture-journal.js';
import type { Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { answeredBy, type PreparedCall } from './pipeline.js';
import type { ChargeReport } from './usage-payload.js';
import { jsonColumn, writeSerializedUsageRecords, type SerializedUsageRecord, type UsageRecordRow } from './usage-writer.js';
import { settledWithin } from '../util/settled-within.js';

/** A record as queued and journaled: every column the writer sets. */
export type RecordRow = UsageRecordRow;

/** The longest end user (the request's OpenAI `user` field) kept; rollups are keyed by it. */
const MAX_END_USER_LENGTH = 256;

export interface CallOutcome {
  status: 'success' | 'error' | 'aborted';
  report?: ChargeReport;
  errorCode?: string;
  latencyMs: number;
}

/** At most this many records go in one insert; the rest wait for the next one. */
const MAX_BATCH = 500;
/** How long the first record of a batch waits for others before it is written. */
const DEFAULT_LINGER_MS = 100;

export interface UsageRecorderOptions {
  /** How long a record waits for others to share its insert (0: at once). */
  lingerMs?: number;
  /** Where a billed call's record is written before its answer leaves (replayed at the next start). */
  journal?: CaptureJournal;
  /** Waits between retries of an insert that failed for want of the database: 25 ms doubling to this. */
  maxRetryDelayMs?: number;
  /**
   * Writes a batch of records, answering how many were new (default: `writeSerializedUsageRecords` on the
   * recorder's database, in this thread; `tollgate serve` on PostgreSQL passes its write thread's).
   */
  writeRecords?: (records: SerializedUsageRecord[]) => Promise<number>;
}

/**
 * A record waiting for its batch: its row serialised once, kept as UTF-8 bytes outside the JavaScript heap
 * (as objects, or even as one string, the records of a batch's linger were what the young generation's
 * collections copied: README, "What a collection copies").
 */
interface QueuedRecord {
  requestId: string;
  /** The row's created_at (ISO), which picks its month's partition. */
  createdAt: string;
  row: Buffer;
}

/**
 * Writes one usage record per call (who, what, which price version, the breakdown, the charge) after the
 * response has gone out: bookkeeping stays off the hot path (STYLE habit 12). The ledger entry written at
 * capture is the financial record; this is the analytical one. Records go to the database in batches, one
 * commit for many calls (TensorZero batches its writes the same way): a record waits up to `lingerMs` for
 * others, or less once `MAX_BATCH` are queued, and records that arrive while an insert is in flight go in the
 * next one, which also waits until its first record has waited `lingerMs`. An insert per call cost a commit per call, on the same database and event loop as the calls (at
 * sequential calls, more than a third of the gateway's own time per call was these inserts). A record is in the
 * database within `lingerMs` plus one insert; `flush()` writes what is queued at once and waits for it
 * (shutdown, tests).
 */
export class UsageRecorder {
  private readonly queue: GroupCommitQueue<QueuedRecord, void>;
  private stopping = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly options: UsageRecorderOptions = {},
  ) {
    this.queue = new GroupCommitQueue((rows) => this.writeRetrying(rows), {
      maxBatch: MAX_BATCH,
      lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
      name: 'usage-records',
    });
  }

  record(call: PreparedCall, outcome: CallOutcome): void {
    const row = usageRow(call, outcome);
    const bytes = Buffer.from(JSON.stringify(row));
    // A billed call's record is journaled with its capture, so reports never lose a call the ledger charged.
    const mark = outcome.report ? this.journal(bytes) : undefined;
    // A record that cannot be written is logged by `write`; nobody waits for it.
    void this.queue.submit({ requestId: row.request_id, createdAt: row.created_at, row: bytes }).then(
      () => mark && this.options.journal!.written(mark),
      () => this.forget(mark),
    );
  }

  /**
   * Journals a billed call's record. The call is charged already (its capture is written), so a journal that
   * cannot take the line (a full disk; the journal logs that) must not turn it into a failed call: the record
   * still goes to the database, and only a crash before it is written would lose it.
   */
  private journal(bytes: Buffer): JournalMark | undefined {
    try {
      return this.options.journal?.appendUsage(bytes);
    } catch {
      return undefined;
    }
  }

  /** Writes rows replayed from a journal (idempotent: a record already there is skipped). */
  async replay(rows: RecordRow[]): Promise<void> {
    const records = rows.map((row) => ({
      requestId: row.request_id,
      createdAt: row.created_at,
      row: Buffer.from(JSON.stringify(row)),
    }));
    for (let start = 0; start < records.length; start += MAX_BATCH) {
      const results = await this.writeRetrying(records.slice(start, start + MAX_BATCH));
      const failed = results.find((result) => 'error' in result);
      if (failed && 'error' in failed) throw failed.error;
    }
  }

  /** Writes what is queued at once and waits for every record submitted so far. */
  flush(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * Writes what is queued; with the database unreachable, waits `timeoutMs` at most, then leaves what is
   * journaled to the next start.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    if (!(await settledWithin(this.flush(), timeoutMs))) {
      this.stopping = true;
      this.logger.warn(
        'closing with usage records not yet written (database unreachable); the journal keeps them for the next start',
      );
    }
  }

  private forget(mark: JournalMark | undefined): void {
    // Left in the journal only when the database was unreachable at shutdown; a refused row is logged and dropped.
    if (mark && !this.stopping) this.options.journal!.written(mark);
  }

  /** `write`, again for the rows that failed for want of the database, until it is back (or shutdown). */
  private writeRetrying(rows: QueuedRecord[]): Promise<Array<Settled<void>>> {
    return writeWithRetries(rows, (batch) => this.write(batch), {
      retryable: isDatabaseUnavailable,
      stopped: () => this.stopping,
      maxDelayMs: this.options.maxRetryDelayMs,
      waiting: (err, records) =>
        this.logger.warn({ err, records }, 'usage records could not be written yet; retrying until the database is back'),
    });
  }

  /** One insert for the batch; if it fails, one bad row must not lose the others: one by one, logging the failures. */
  private async write(rows: QueuedRecord[]): Promise<Array<Settled<void>>> {
    try {
      await this.insert(rows);
      return rows.map(() => ({ value: undefined }));
    } catch (batchError) {
      if (isDatabaseUnavailable(batchError)) return rows.map(() => ({ error: batchError }));
      if (rows.length === 1) {
        this.logger.error({ err: batchError, requestId: rows[0]!.requestId }, 'could not write usage record');
        return [{ error: batchError }];
      }
      const results: Array<Settled<void>> = [];
      for (const row of rows) {
        results.push(
          await this.insert([row]).then(
            () => ({ value: undefined }),
            (error: unknown) => {
              // The database gone meanwhile is no refusal: `writeRetrying` tries the record again.
              if (!isDatabaseUnavailable(error))
                this.logger.error({ err: error, requestId: row.requestId }, 'could not write usage record');
              return { error };
            },
          ),
        );
      }
      return results;
    }
  }

  private async insert(rows: QueuedRecord[]): Promise<void> {
    // The records and their hourly and daily rollups, in one statement (see usage-writer.ts).
    const records = rows.map((queued) => ({ json: queued.row.toString(), createdAt: queued.createdAt }));
    await (this.options.writeRecords ?? ((batch) => writeSerializedUsageRecords(this.db, batch)))(records);
  }
}

function usageRow(call: PreparedCall, outcome: CallOutcome): RecordRow {
  const report = outcome.report;
  const usage = report?.usage;
  const unit = report?.debit.unit ?? (call.caller.mode === 'consumption_tokens' ? 'tokens' : 'usd');
  return {
    request_id: call.requestId,
    account_id: call.caller.accountId,
    api_key_id: call.caller.keyId,
    end_user: endUserOf(call.intent.endUser) ?? endUserOf(call.caller.endUser),
    requested_model: call.intent.model,
    model_id: call.resolution.modelId ?? null,
    // `demo` when the demo provider stood in for the model's provider: the record says who really answered.
    provider_id: answeredBy(call),
    upstream_model: call.route.target.upstreamModel,
    input_uncached_tokens: usage?.input.uncached ?? 0,
    cache_read_tokens: usage?.input.cacheRead ?? 0,
    cache_write_tokens: (usage?.input.cacheWrite ?? 0) + (usage?.input.cacheWrite1h ?? 0),
    input_audio_tokens: usage?.input.audio ?? 0,
    output_text_tokens: usage?.output.text ?? 0,
    reasoning_tokens: usage?.output.reasoning ?? 0,
    output_audio_tokens: usage?.output.audio ?? 0,
    usage_estimated: usage?.estimated ?? false,
    usage_anomaly: jsonColumn(report?.anomaly),
    price_version: call.resolution.price.version ?? null,
    breakdown: jsonColumn(report?.breakdown),
    // What the provider reported, as it reported it (the capture keeps only the amount): null when it reported none.
    provider_usage: jsonColumn(usage?.raw),
    provider_cost: (report?.breakdown.providerCost ?? Decimal.ZERO).toString(),
    markup: (report?.breakdown.markup?.amount ?? Decimal.ZERO).toString(),
    charge: (report?.breakdown.charge ?? Decimal.ZERO).toString(),
    debit: (report?.debit.amount ?? Decimal.ZERO).toString(),
    debit_unit: unit,
    pricing_source: call.resolution.source,
    pricing_match: call.resolution.match,
    latency_ms: Math.round(outcome.latencyMs),
    status: outcome.status,
    error_code: outcome.errorCode ?? null,
    stream: call.stream,
    // Set here, not by the database: the partition key, and what makes a retried write of this record a no-op.
    created_at: new Date().toISOString(),
  };
}

/** OpenAI's `user` field: a string naming the caller's end user; anything else is not one. */
export function endUserOf(user: unknown): string | null {
  if (typeof user !== 'string' || user === '') return null;
  return user.length > MAX_END_USER_LENGTH ? user.slice(0, MAX_END_USER_LENGTH) : user;
}
