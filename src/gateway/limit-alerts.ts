import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.js';
import type { CapSpec } from '../ledger/cap-reservations.js';
import { fromNumeric } from '../ledger/accounts.js';
import type { Logger } from '../logging/logger.js';
import { Decimal } from '../money/decimal.js';
import { periodBounds } from '../ledger/periods.js';
import { ExpiringCache } from '../util/expiring-cache.js';

type Raise = (kind: 'budget_threshold' | 'low_balance', message: string, details: unknown) => Promise<unknown>;

/**
 * Cap alerts: when a cap's use in a period reaches a threshold (default 50, 80 and 100 percent), one alert,
 * through the operator's alerts and webhook. "Once" is kept by the database (`limit_alerts`, unique per cap,
 * period and threshold), so any number of instances raise it once between them.
 */
export function capAlerts(
  db: Kysely<Schema>,
  raise: Raise,
  thresholds: readonly number[],
  logger: Logger,
): (cap: CapSpec, periodStart: Date, used: Decimal) => void {
  return (cap, periodStart, used) => {
    if (cap.cap.isZero()) return;
    const reached = thresholds.filter((percent) => used.mul(Decimal.of(100)).gte(cap.cap.mul(Decimal.of(percent))));
    if (reached.length === 0) return;
    void (async () => {
      for (const threshold of reached) {
        const marked = await db
          .insertInto('limit_alerts')
          .values({ limit_id: cap.limitId, period_start: periodStart, threshold })
          .onConflict((conflict) => conflict.doNothing())
          .returning('threshold')
          .executeTakeFirst();
        if (!marked) continue;
        const resetsAt = periodBounds(cap.period, cap.timezone, periodStart).resetsAt;
        await raise(
          'budget_threshold',
          `the ${cap.level.replace('_', ' ')} ${cap.name} has used ${threshold}% of its ${cap.soft ? 'soft ' : ''}${cap.period} cap`,
          {
            limitId: cap.limitId,
            level: cap.level,
            target: cap.name,
            threshold,
            cap: cap.cap.toString(),
            used: used.toString(),
            period: cap.period,
            periodStart: periodStart.toISOString(),
            resetsAt: resetsAt?.toISOString() ?? null,
            soft: cap.soft,
          },
        );
      }
    })().catch((error: unknown) => logger.error({ err: error, limitId: cap.limitId }, 'could not raise a cap alert'));
  };
}

/**
 * Low-balance alerts: when a wallet's credits fall below its `low_balance_alert` level, one alert; another only
 * after the credits were seen above the level again (a top-up). Levels are read once a minute per wallet.
 */
export function lowBalanceAlerts(
  db: Kysely<Schema>,
  raise: Raise,
  logger: Logger,
): (walletId: string, creditsLeft: Decimal) => void {
  const levels = new ExpiringCache<Decimal | null>(10_000);
  const below = new Set<string>();
  return (walletId, creditsLeft) => {
    void (async () => {
      const now = Date.now();
      let level = levels.get(walletId, now)?.value;
      if (level === undefined) {
        const row = await db.selectFrom('accounts').select(['low_balance_alert']).where('id', '=', walletId).executeTakeFirst();
        level = row?.low_balance_alert ? fromNumeric(row.low_balance_alert) : null;
        levels.set(walletId, level, now + 60_000);
      }
      if (level === null) return;
      if (creditsLeft.gte(level)) {
        below.delete(walletId);
        return;
      }
      if (below.has(walletId)) return;
      below.add(walletId);
      await raise(
        'low_balance',
        `account ${walletId} has ${creditsLeft.toString()} credits left, below its alert level ${level.toString()}`,
        {
          accountId: walletId,
          creditsLeft: creditsLeft.toString(),
          level: level.toString(),
        },
      );
    })().catch((error: unknown) => logger.error({ err: error, accountId: walletId }, 'could not raise a low-balance alert'));
  };
}
