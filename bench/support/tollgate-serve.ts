import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { track } from './child-process.js';

/** `tollgate serve` as a user starts it: the built CLI (bin/tollgate.js), configured by its environment. */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** SIGTERM, then waits for the drain (every capture written, leases closed); resolves with the exit code. */
  stop(): Promise<number | null>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STARTUP_TIMEOUT_MS = 180_000;

/**
 * Starts `node [nodeArguments] bin/tollgate.js serve --host 127.0.0.1 --port 0 --workers <workers>` and waits for
 * its banner. Its log lines (stderr, JSON at the configured level) are read and dropped, as a log collector would.
 * @throws Error with what the process wrote when it exits or stays silent before it listens
 */
export async function startServe(
  env: Record<string, string>,
  workers: number,
  nodeArguments: string[] = [],
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [...nodeArguments, 'bin/tollgate.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--workers', String(workers)],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child);
  let output = '';
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  // Keep the last few lines only: the logs of a long run are not the benchmark's business.
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString('utf8')).slice(-4_000)));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tollgate serve did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}${errors}`));
    }, STARTUP_TIMEOUT_MS);
    const onData = () => {
      const match = /tollgate listening on (http:\/\/\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`tollgate serve exited (code ${code}, signal ${signal}) before listening:\n${output}${errors}`));
    });
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = await exited;
      return code;
    },
  };
}
