import type { Logger } from '../logging/logger.js';
import { declareSilentInstancesDead, forgetStoppedInstances, releaseHoldsOfDeadInstances } from './dead-instances.js';
import type { GatewayInstance } from './gateway-instance.js';
import type { Ledger } from './ledger.js';

export interface SweeperOptions {
  ledger: Ledger;
  /** Holds with no owner (made outside a gateway process) are released after this age. */
  maxAgeSeconds: number;
  intervalSeconds: number;
  /** This process: it declares silent instances dead (once its own heartbeat has been steady for a silence). */
  instance?: GatewayInstance;
  logger: Logger;
}

/** How long a stopped instance's row is kept after it holds nothing (for the operator's inspection). */
const FORGET_AFTER_HOURS = 24;

/**
 * Periodically gives back what dead processes held (a crash between hold and settle would otherwise keep
 * those credits unavailable, litellm#27639): the holds and credit leases of instances that stopped, or went
 * silent for longer than the silence time (their captures stand; only the undrawn part returns), and, as a
 * backstop, any hold older than `maxAgeSeconds`. An instance declares others dead only after its own
 * heartbeat has been steady for a whole silence time: after a database outage every instance is silent, and
 * none may be declared dead before it has had its chance to beat again. The timer is unref'd so it never
 * keeps the process alive, and a sweep never overlaps the previous one.
 */
export function startHoldSweeper(options: SweeperOptions): { stop(): void; sweepNow(): Promise<number> } {
  const { ledger, maxAgeSeconds, intervalSeconds, instance, logger } = options;
  let running: Promise<number> | undefined;
  let stopped = false;

  const sweep = async (): Promise<number> => {
    let released = await ledger.sweepStaleHolds(maxAgeSeconds);
    if (instance) {
      if (instance.steadyForMs >= instance.silenceMs) {
        const dead = await declareSilentInstancesDead(ledger.db, instance.silenceMs);
        if (dead.length > 0) logger.warn({ instances: dead }, 'gateway instances silent for too long were declared dead');
      }
      released += await releaseHoldsOfDeadInstances(ledger.db, { exceptId: instance.id });
      await forgetStoppedInstances(ledger.db, FORGET_AFTER_HOURS);
    }
    return released;
  };

  const sweepNow = (): Promise<number> => {
    if (running) return running;
    running = sweep()
      .then((released) => {
        if (released > 0) logger.info({ released }, 'released the holds of stopped or silent instances, and stale holds');
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
