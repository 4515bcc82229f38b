import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { testJournalDirectory } from './journal-directory.js';

/** `tollgate serve` in a process of its own, as an operator runs it (the CLI from source, under tsx). */
export interface GatewayProcess {
  /** http://127.0.0.1:<port>, from the startup banner. */
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for a failing test's message). */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `kill -9`: the process dies at once, with whatever it held in memory. */
  crash(): Promise<void>;
  /** SIGTERM, then waits for the graceful shutdown (captures written, leases closed). */
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STARTUP_TIMEOUT_MS = 180_000;

/**
 * Starts `tollgate serve --port 0` with `env` over the current environment and waits for its banner.
 * @throws Error with the process's output when it exits or stays silent before it listens
 */
export async function startGatewayProcess(env: Record<string, string>, args: string[] = []): Promise<GatewayProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0', ...args],
    {
      cwd: ROOT,
      // One process unless a test asks for workers (TOLLGATE_WORKERS or --workers): a test's crash() then
      // kills the process that served the calls. The capture journal goes outside the working tree unless the
      // test names a place (a data directory keeps its own): the default, .tollgate/journal, is the operator's.
      env: {
        ...process.env,
        TOLLGATE_LOG_LEVEL: 'warn',
        TOLLGATE_WORKERS: '1',
        ...(env.TOLLGATE_DATA_DIR ? {} : { TOLLGATE_JOURNAL_DIR: testJournalDirectory() }),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tollgate serve did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`));
    }, STARTUP_TIMEOUT_MS);
    const onData = () => {
      const match = /tollgate listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`tollgate serve exited (code ${code}, signal ${signal}) before listening:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    exited,
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
