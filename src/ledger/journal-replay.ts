import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import { isDatabaseUnavailable } from '../db/database-errors.js';
import type { Schema } from '../db/schema.js';
import type { Logger } from '../logging/logger.js';
import { captureBatch, MAX_CAPTURE_BATCH } from './capture-batch.js';
import { claimLeftJournals, removeReplayedJournal } from './capture-journal.js';
import { captureOfRecord } from './capture-writer.js';
import { declareInstancesDead, releaseHoldsOfDeadInstances } from './dead-instances.js';
import { isProcessAlive } from '../util/process-alive.js';

export interface ReplayOptions {
  db: Kysely<Schema>;
  /** The journal's directory; undefined when there is no journal (only the dead instances' holds are released). */
  directory: string | undefined;
  /** This process's instance (its own files are not left over). */
  instanceId: string;
  silenceMs: number;
  /** Writes replayed usage records (idempotently). */
  writeUsage(rows: Array<Record<string, unknown>>): Promise<void>;
  /** True on the embedded database: one process owns it, so every other instance is dead. */
  soleOwner: boolean;
  logger: Logger;
}

export interface ReplayReport {
  files: number;
  captures: number;
  usageRecords: number;
  unreadable: number;
  /** Holds and credit leases of dead instances released after their captures were written. */
  released: number;
}

/**
 * At start, before serving: writes what dead processes left in the capture journal (their served calls'
 * charges and usage records), then declares those processes dead and releases their holds and leases at
 * once, so an account's credits are not locked for the silence time after a restart. Every write is
 * idempotent (one capture per request id, one usage record per request id), so a replay cut short by
 * another crash is simply done again.
 * @throws the database's error: a gateway that cannot write what it owes must not start serving
 */
export async function replayLeftJournals(options: ReplayOptions): Promise<ReplayReport> {
  const { db, logger } = options;
  const instances = await db
    .selectFrom('gateway_instances')
    .select((eb) => [
      'id',
      'host',
      'pid',
      'stopped_at',
      sql<boolean>`heartbeat_at < now() - make_interval(secs => ${options.silenceMs / 1000})`.as('silent'),
    ])
    .execute();
  const byId = new Map(instances.map((row) => [row.id, row]));
  const host = hostname();
  const isDead = (instanceId: string, pid: number): boolean => {
    if (instanceId === options.instanceId) return false;
    if (options.soleOwner) return true;
    const row = byId.get(instanceId);
    if (!row || row.stopped_at !== null || row.silent) return true;
    return row.host === host && !isProcessAlive(pid);
  };
  const report: ReplayReport = { files: 0, captures: 0, usageRecords: 0, unreadable: 0, released: 0 };
  const owners = new Set<string>();
  const lefts = options.directory ? claimLeftJournals(options.directory, options.instanceId, isDead) : [];
  for (const left of lefts) {
    report.files += 1;
    report.unreadable += left.unreadable;
    if (left.unreadable > 0) {
      logger.warn(
        { file: left.file, unreadable: left.unreadable },
        'journal lines that could not be read (cut short by the crash) were skipped',
      );
    }
    const captures = left.records.flatMap((record) => (record.type === 'capture' ? [captureOfRecord(record)] : []));
    for (let start = 0; start < captures.length; start += MAX_CAPTURE_BATCH) {
      const results = await captureBatch(db, captures.slice(start, start + MAX_CAPTURE_BATCH));
      results.forEach((result, index) => {
        if ('value' in result) return;
        const capture = captures[start + index]!;
        // A refusal now is a refusal on every replay: logged with the capture, and the journal moves on.
        logger.error(
          { err: result.error, requestId: capture.requestId, amount: capture.amount.toString() },
          'a journaled capture could not be replayed',
        );
        if (isDatabaseUnavailable(result.error)) throw result.error;
      });
    }
    const rows = left.records.flatMap((record) => (record.type === 'usage' ? [record.row] : []));
    if (rows.length > 0) await options.writeUsage(rows);
    report.captures += captures.length;
    report.usageRecords += rows.length;
    owners.add(left.ownerInstance);
    removeReplayedJournal(left);
  }
  if (options.soleOwner) {
    owners.clear();
    for (const row of instances) if (row.id !== options.instanceId) owners.add(row.id);
  }
  await declareInstancesDead(db, [...owners]);
  report.released = await releaseHoldsOfDeadInstances(db, { exceptId: options.instanceId });
  if (report.files > 0 || report.released > 0) logger.info(report, 'replayed what stopped gateway processes left');
  return report;
}
