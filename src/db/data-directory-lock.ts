import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '../util/process-alive.js';

/**
 * PGlite belongs to one process: two processes opening the same data directory corrupt it. A lock file
 * holding the owner's pid makes a second opener fail at once with an error that says what to do, and a
 * lock left by a dead process is taken over.
 */
export interface DataDirectoryLock {
  release(): void;
}

export class DataDirectoryLockedError extends Error {
  constructor(
    readonly dataDirectory: string,
    readonly ownerPid: number,
    readonly ownerCommand: string,
  ) {
    super(
      `the embedded database in ${dataDirectory} is in use by another tollgate process (pid ${ownerPid}: ${ownerCommand}). ` +
        'PGlite allows one process per data directory: a running `tollgate serve` lends it to commands through a ' +
        'socket in the directory, but this holder does not (another command, or a second serve); wait for it to ' +
        'finish, or run tollgate on PostgreSQL (DATABASE_URL) so several processes can share the database.',
    );
    this.name = 'DataDirectoryLockedError';
  }
}

const LOCK_FILE = 'tollgate.lock';

/** @throws DataDirectoryLockedError when a live process holds the directory. */
export function acquireDataDirectoryLock(dataDirectory: string): DataDirectoryLock {
  const lockPath = path.join(dataDirectory, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const descriptor = openSync(lockPath, 'wx');
      writeSync(descriptor, JSON.stringify({ pid: process.pid, command: describeCommand() }));
      closeSync(descriptor);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
      process.on('exit', release);
      return { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(lockPath);
      if (owner && owner.pid !== process.pid && isProcessAlive(owner.pid)) {
        throw new DataDirectoryLockedError(dataDirectory, owner.pid, owner.command);
      }
      if (owner && owner.pid === process.pid) {
        throw new DataDirectoryLockedError(dataDirectory, owner.pid, 'this process already has it open');
      }
      // The owner died without cleaning up: take the lock over.
      try {
        unlinkSync(lockPath);
      } catch {
        // Someone else removed it first; try again.
      }
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

function readOwner(lockPath: string): { pid: number; command: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lockPath, 'utf8')) as { pid?: unknown; command?: unknown };
    if (typeof parsed.pid === 'number') return { pid: parsed.pid, command: String(parsed.command ?? 'tollgate') };
  } catch {
    // Unreadable or half-written lock: treat as stale.
  }
  return undefined;
}

function describeCommand(): string {
  return ['tollgate', ...process.argv.slice(2)].join(' ').slice(0, 200);
}
