import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('reserves credits through leases by default, with the lease settings', () => {
    const config = loadConfig({});
    expect(config.ledger.holds).toBe('lease');
    expect(config.ledger.lease).toEqual({ callsPerLease: 32, maxCallsPerLease: 2_048, maxAgeMs: 10_000, idleMs: 2_000 });
  });

  it('takes TOLLGATE_HOLDS=per_call and the lease settings from the environment', () => {
    const config = loadConfig({ TOLLGATE_HOLDS: 'per_call', TOLLGATE_LEASE_CALLS: '8', TOLLGATE_LEASE_IDLE_MS: '500' });
    expect(config.ledger.holds).toBe('per_call');
    expect(config.ledger.lease.callsPerLease).toBe(8);
    expect(config.ledger.lease.idleMs).toBe(500);
  });

  it('lets a busy account grow its leases to TOLLGATE_LEASE_MAX_CALLS, never below where they start', () => {
    expect(loadConfig({ TOLLGATE_LEASE_MAX_CALLS: '64' }).ledger.lease.maxCallsPerLease).toBe(64);
    // Unset: 2,048, or the starting size when that is larger.
    expect(loadConfig({ TOLLGATE_LEASE_CALLS: '4096' }).ledger.lease.maxCallsPerLease).toBe(4_096);
    expect(() => loadConfig({ TOLLGATE_LEASE_CALLS: '64', TOLLGATE_LEASE_MAX_CALLS: '32' })).toThrow(
      /TOLLGATE_LEASE_MAX_CALLS: must be at least TOLLGATE_LEASE_CALLS \(64\)/,
    );
  });

  it('lets a capture and a usage record wait 250 ms for company by default, 0 to 2,000 when set', () => {
    expect(loadConfig({}).ledger.writeLingerMs).toBe(250);
    expect(loadConfig({ TOLLGATE_WRITE_LINGER_MS: '0' }).ledger.writeLingerMs).toBe(0);
    expect(loadConfig({ TOLLGATE_WRITE_LINGER_MS: '2000' }).ledger.writeLingerMs).toBe(2_000);
    expect(() => loadConfig({ TOLLGATE_WRITE_LINGER_MS: '2001' })).toThrow(/TOLLGATE_WRITE_LINGER_MS must be at most 2000/);
    expect(() => loadConfig({ TOLLGATE_WRITE_LINGER_MS: '0.5' })).toThrow(/TOLLGATE_WRITE_LINGER_MS must be a whole number/);
  });

  it('names the variable when TOLLGATE_HOLDS is neither mode', () => {
    expect(() => loadConfig({ TOLLGATE_HOLDS: 'sometimes' })).toThrow(/TOLLGATE_HOLDS must be "lease" or "per_call"/);
  });

  it('refuses a sweeper age that would release leases still in use', () => {
    const attempt = () => loadConfig({ TOLLGATE_HOLD_MAX_AGE_SECONDS: '60', TOLLGATE_UPSTREAM_TIMEOUT_MS: '120000' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/TOLLGATE_HOLD_MAX_AGE_SECONDS: must exceed .* \(130000 ms\)/);
    // With a durable hold per call there is no lease to protect.
    expect(loadConfig({ TOLLGATE_HOLDS: 'per_call', TOLLGATE_HOLD_MAX_AGE_SECONDS: '60' }).ledger.holdMaxAgeSeconds).toBe(60);
  });
});
