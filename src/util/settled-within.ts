/**
 * Waits for `work`, but at most `ms`: true when it resolved in time, false when the time ran out first (it goes
 * on in the background); a rejection of `work` in time is passed on. The timer never keeps the process alive and
 * is cleared as soon as `work` settles.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
