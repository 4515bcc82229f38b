import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let directory: string | undefined;

/**
 * A capture journal directory for the gateways a test process starts on PostgreSQL, outside the working tree
 * (the default, `.tollgate/journal`, is the operator's). Each database gets its own subdirectory there, so
 * suites running at once never replay each other's files.
 */
export function testJournalDirectory(): string {
  directory ??= mkdtempSync(path.join(tmpdir(), 'tollgate-journal-'));
  return directory;
}
