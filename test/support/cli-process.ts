import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface CliProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tollgate --data-dir <dataDirectory> <args>` as its own process, as an operator would in a terminal,
 * on the embedded database in that directory (DATABASE_URL emptied so the environment's server is not used).
 *
 * Asynchronous on purpose: a test that waits for a child with `spawnSync` blocks its worker's event loop for the
 * child's whole run, and on a busy machine Vitest's own calls from the worker time out behind it.
 */
export function runTollgate(dataDirectory: string, ...args: string[]): Promise<CliProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data-dir', dataDirectory, ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
