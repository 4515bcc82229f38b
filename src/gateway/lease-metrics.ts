import { Counter, Gauge, type Registry } from 'prom-client';
import type { CreditLeases } from '../ledger/credit-leases.js';

/**
 * Credit lease health on the gateway's registry, read at each scrape: captures are written after the
 * responses, so a growing backlog (the database is slow or down) or any lost capture must be visible.
 */
export function registerLeaseMetrics(registry: Registry, leases: CreditLeases): void {
  let lostReported = 0;
  let discrepanciesReported = 0;
  new Gauge({
    name: 'tollgate_credit_leases_open',
    help: 'Credit leases this process holds',
    registers: [registry],
    collect() {
      this.set(leases.stats().openLeases);
    },
  });
  new Gauge({
    name: 'tollgate_capture_writes_pending',
    help: 'Settled calls whose capture is not yet written to the ledger',
    registers: [registry],
    collect() {
      this.set(leases.stats().writesPending);
    },
  });
  new Counter({
    name: 'tollgate_capture_writes_lost_total',
    help: 'Captures that could not be written after retrying (each is logged with what is needed to replay it)',
    registers: [registry],
    collect() {
      // A counter only goes up: add what was lost since the last scrape.
      const lost = leases.stats().writesLost;
      if (lost > lostReported) this.inc(lost - lostReported);
      lostReported = lost;
    },
  });
  new Counter({
    name: 'tollgate_capture_discrepancies_total',
    help: 'Captures the ledger settled for less than their call reported (their credit lease was released after a silence)',
    registers: [registry],
    collect() {
      const discrepancies = leases.stats().discrepancies;
      if (discrepancies > discrepanciesReported) this.inc(discrepancies - discrepanciesReported);
      discrepanciesReported = discrepancies;
    },
  });
}
