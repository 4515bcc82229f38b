/**
 * Loaded with `node --import` into the processes `npm run bench:tail` measures (tollgate serve and its
 * workers, Portkey): records every garbage collection of the process's main thread and every batch a named
 * queue of tollgate's published on the `tollgate:batch` diagnostics channel, as wall-clock milliseconds, and
 * writes them to `<TOLLGATE_TAIL_PROBE_DIR>/<pid>.json` every second and at exit. Plain JavaScript: tollgate
 * serve runs compiled, without a TypeScript loader.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const directory = process.env.TOLLGATE_TAIL_PROBE_DIR;
if (isMainThread && directory) {
  const origin = performance.timeOrigin;
  /** [start, duration, kind]: kind as perf_hooks reports it (1 minor, 4 major, 8 incremental, 16 weak callbacks). */
  const gc = [];
  /** [start, end, queue name, inputs]. */
  const batches = [];
  subscribe('tollgate:batch', (event) =>
    batches.push([origin + event.startedAt, origin + event.endedAt, event.name, event.size]),
  );
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gc.push([origin + entry.startTime, entry.duration, entry.detail?.kind ?? 0]);
  }).observe({ entryTypes: ['gc'] });
  const save = () =>
    writeFileSync(path.join(directory, `${process.pid}.json`), JSON.stringify({ pid: process.pid, gc, batches }));
  setInterval(save, 1_000).unref();
  process.on('exit', save);
}
