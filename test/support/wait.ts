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

/** One turn of the event loop: `setImmediate`, which no test fakes. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `until` for a test that fakes `setTimeout` (whose 5 ms poll would then never come back): checked again after
 * every turn of the event loop. For short waits on work already under way (a promise, a socket), not for long ones.
 * @throws Error naming `what` after `limitMs`
 */
export async function untilNextTurns(condition: () => boolean, what: string, limitMs: number = WAIT_LIMIT_MS): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`waited ${limitMs} ms for ${what}, in vain`);
    await nextTurn();
  }
}
