import type { Logger } from '../logging/logger.js';
import type { Ledger } from './ledger.js';

/**
 * Periodically releases holds whose request died with its process (a crash between hold and settle would
 * otherwise keep those credits unavailable forever, litellm#27639). The timer is unref'd so it never keeps
 * the process alive, and a sweep never overlaps the previous one.
 */
export function startHoldSweeper(options: { ledger: Ledger; maxAgeSeconds: number; intervalSeconds: number; logger: Logger }): {
  stop(): void;
  sweepNow(): Promise<number>;
} {
  const { ledger, maxAgeSeconds, intervalSeconds, logger } = options;
  let running: Promise<number> | undefined;
  let stopped = false;

  const sweepNow = (): Promise<number> => {
    if (running) return running;
    running = ledger
      .sweepStaleHolds(maxAgeSeconds)
      .then((released) => {
        if (released > 0) logger.info({ released, maxAgeSeconds }, 'released stale holds');
        return released;
      })
      .catch((error: unknown) => {
        if (!stopped) logger.error({ err: error }, 'hold sweep failed; will retry at the next interval');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  const timer = setInterval(() => void sweepNow(), intervalSeconds * 1000);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    sweepNow,
  };
}
