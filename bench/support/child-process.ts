import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** A server the benchmark started in its own process; `stop()` ends exactly that process. */
export interface ServerProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 120_000;

/**
 * Every child still running when the benchmark ends, however it ends (an error, Ctrl-C, a closed pipe):
 * a spawned server such as Portkey would otherwise outlive its parent. `exit` handlers must be synchronous,
 * hence SIGKILL there.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  // A forked child sees its IPC channel close and cleans up itself (tollgate drops its scratch database).
  for (const child of running) if (!child.channel) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => process.exit(130));

/**
 * Forks a TypeScript entry under tsx with an IPC channel and waits for its first `{ type: 'ready' }` message.
 * @throws Error when the child exits or stays silent before it is ready
 */
export async function forkTypeScript<Ready extends { type: 'ready' }>(
  entry: URL,
  env: Record<string, string> = {},
  nodeArguments: string[] = [],
): Promise<{ server: ServerProcess; ready: Ready }> {
  const child = fork(entry.pathname, [], {
    execArgv: ['--import', 'tsx', ...nodeArguments],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const server = serverProcess(child);
  const ready = await waitFor<Ready>(child, (message): message is Ready => isMessage(message, 'ready'), entry.pathname);
  return { server, ready };
}

/** Sends `message` to a forked child and waits for its reply of type `replyType`. */
export async function ask<Reply extends { type: string }>(
  child: ChildProcess,
  message: object,
  replyType: string,
): Promise<Reply> {
  const reply = waitFor<Reply>(child, (candidate): candidate is Reply => isMessage(candidate, replyType), 'child');
  child.send(message);
  return reply;
}

/**
 * Spawns a plain command and waits until `probe` succeeds (polled every 100 ms).
 * @throws Error when the command exits or the probe never succeeds in time
 */
export async function spawnUntil(command: string, args: string[], probe: () => Promise<boolean>): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  const server = serverProcess(child);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await probe().catch(() => false))) {
    if (exited) throw new Error(`${command} ${args.join(' ')} exited before it answered`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} ${args.join(' ')} did not answer within ${STARTUP_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return server;
}

/** Ends `child` with the benchmark, however the benchmark ends. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

function serverProcess(child: ChildProcess): ServerProcess {
  track(child);
  return {
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      if (child.connected) child.disconnect();
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function waitFor<Message>(
  child: ChildProcess,
  accept: (message: unknown) => message is Message,
  label: string,
): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`${label}: no answer within ${STARTUP_TIMEOUT_MS / 1000} s`)),
      STARTUP_TIMEOUT_MS,
    );
    const onMessage = (message: unknown) => {
      if (isMessage(message, 'error')) finish(new Error(`${label}: ${(message as { message?: string }).message}`));
      else if (accept(message)) finish(undefined, message);
    };
    const onExit = (code: number | null) => finish(new Error(`${label} exited (code ${code}) before answering`));
    function finish(error: Error | undefined, message?: Message) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function isMessage(message: unknown, type: string): boolean {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}
