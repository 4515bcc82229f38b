import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../src/util/process-alive.js';

let directory: string | undefined;

const PREFIX = 'tollgate-journal-';
/** A test process's directory: the prefix, its pid, mkdtemp's suffix. */
const OWNED = new RegExp(`^${PREFIX}(\\d+)-`);

/**
 * A capture journal directory for the gateways a test process starts on PostgreSQL, outside the working tree
 * (the default, `.tollgate/journal`, is the operator's). Each database gets its own subdirectory there, so
 * suites running at once never replay each other's files. Its name carries the test process's pid: the
 * directories of test processes that are gone (vitest ends its workers with a signal, so no exit hook runs)
 * are removed when the next one is made.
 */
export function testJournalDirectory(): string {
  if (directory === undefined) {
    removeDeadProcessesDirectories();
    directory = mkdtempSync(path.join(tmpdir(), `${PREFIX}${process.pid}-`));
  }
  return directory;
}

function removeDeadProcessesDirectories(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = OWNED.exec(name)?.[1];
    if (pid !== undefined && !isProcessAlive(Number(pid))) rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}
