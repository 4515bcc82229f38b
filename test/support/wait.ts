/**
 * Waiting for something to happen, never for a time to pass. The limit is a guard against a hang (the test
 * fails, naming what never happened), set far beyond what a busy machine needs: how soon the thing happens is
 * never what a test asserts (benchmarks measure speed). Conditions are checked again every few milliseconds.
 */
export const WAIT_LIMIT_MS = 120_000;

/** Resolves once `condition` returns true. @throws Error naming `what` after `limitMs` */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  limitMs: number = WAIT_LIMIT_MS,
): Promise<void> {
  // performance.now(), not Date.now(): a test may fake Date (vitest fake timers) while it waits.
  const deadline = performance.now() + limitMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`waited ${limitMs} ms for ${what}, in vain`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
