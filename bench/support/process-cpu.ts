import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system, seconds) of processes on this machine, read from /proc: where a benchmark's cores
 * went. Linux only; elsewhere every reading is undefined and the benchmark prints no CPU figures.
 */

interface ProcessStat {
  pid: number;
  parent: number;
  name: string;
  /** utime + stime + cutime + cstime, in clock ticks: its own time and that of the children it reaped. */
  ticks: number;
}

// Clock ticks per second: 100 on Linux (USER_HZ, fixed by the kernel ABI).
const TICKS_PER_SECOND = 100;

function processes(): ProcessStat[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  const stats: ProcessStat[] = [];
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: the name may hold spaces, so fields are counted after its closing parenthesis.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // After the name: state (0), ppid (1), ..., utime (11), stime (12), cutime (13), cstime (14).
    stats.push({
      pid: Number(pid),
      parent: Number(fields[1]),
      name: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
    });
  }
  return stats;
}

/**
 * The CPU seconds of `rootPid` and every live descendant (a cluster's workers), with the children each has
 * reaped (a worker that exited): undefined when /proc cannot be read or the process is gone.
 */
export function processTreeCpuSeconds(rootPid: number): number | undefined {
  const all = processes();
  if (!all || !all.some((entry) => entry.pid === rootPid)) return undefined;
  const children = new Map<number, ProcessStat[]>();
  for (const entry of all) children.set(entry.parent, [...(children.get(entry.parent) ?? []), entry]);
  let ticks = 0;
  const pending = all.filter((entry) => entry.pid === rootPid);
  while (pending.length > 0) {
    const entry = pending.pop()!;
    ticks += entry.ticks;
    pending.push(...(children.get(entry.pid) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * The CPU seconds every `postgres` process of this machine has used so far, with what their reaped children
 * used: what the database server spent, when it runs here (undefined elsewhere). The postmaster's reaped
 * children hold the backends of connections closed since (each connection has a backend process of its own);
 * the background processes (WAL writer, checkpointer) are counted too, as they work for the same commits.
 */
export function postgresCpuSeconds(): number | undefined {
  const all = processes();
  const postgres = all?.filter((entry) => entry.name === 'postgres') ?? [];
  if (postgres.length === 0) return undefined;
  return postgres.reduce((total, entry) => total + entry.ticks, 0) / TICKS_PER_SECOND;
}

/** This process's own CPU seconds (user + system), from Node's finer counter. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1_000_000;
}
