import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServeProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Everything the process wrote so far, for a failing test's message. */
  output(): string;
  close(): Promise<void>;
}

/**
 * `tollgate serve` as a separate process, the way an operator runs it, from this checkout's sources (so a
 * test exercises the code beside it, not an older build): it listens on a free loopback port and is stopped
 * with SIGTERM. `env` is its whole configuration; nothing of this process's TOLLGATE_ or DATABASE_URL leaks in.
 * Resolves once the banner names the address; rejects with the output if the process exits first.
 */
export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('TOLLGATE_') && name !== 'DATABASE_URL' && !/_API_KEY$|_BASE_URL$/.test(name),
    ),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0'],
    {
      cwd: ROOT,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /tollgate listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`tollgate serve exited (${code ?? signal}) before listening:\n${output}`)),
    );
  });
  return {
    url,
    output: () => output,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
