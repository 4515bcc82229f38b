import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * Worker processes for race tests (ledger-race-worker.ts, cap-race-worker.ts): forked under tsx with an IPC
 * channel; each takes an order, says `ready`, waits for `go`, reports `done`, and ends on `exit`.
 */
export function forkRaceWorkers(entry: URL, count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    fork(entry.pathname, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
}

/** The worker's next message of `type`; rejects if the worker exits first. */
export function workerReply(worker: ChildProcess, type: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) => reject(new Error(`a race worker exited (${code}) before '${type}'`));
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

/** Asks every worker still running to exit, and waits until they have. */
export async function stopRaceWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      if (worker.exitCode !== null || !worker.connected) return;
      const exited = once(worker, 'exit');
      worker.send({ type: 'exit' });
      await exited;
    }),
  );
}
