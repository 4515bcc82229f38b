import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { ADMIN_KEY, startTestGateway, type TestGateway } from './support/gateway-harness.js';

const METRICS_KEY = 'metrics-key-0123456789abcdef';

/** The operator's endpoints: liveness, readiness, and metrics that can be kept private. */
describe.each(backends())('operations endpoints on $name', (backend) => {
  let keyed: TestGateway;
  let separate: TestGateway;
  beforeAll(async () => {
    keyed = await startTestGateway(backend, { env: { TOLLGATE_METRICS_KEY: METRICS_KEY } });
    separate = await startTestGateway(backend, { env: { TOLLGATE_METRICS_ADDRESS: '127.0.0.1:0' } });
  });
  afterAll(async () => {
    await keyed?.close();
    await separate?.close();
  });

  it('/healthz says the process lives; /readyz that calls can be billed, with each check', async () => {
    expect((await fetch(`${keyed.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${keyed.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { database: { ok: true }, notifications: { ok: true }, catalog: { ok: true } },
    });
  });

  it('with a metrics key, /metrics needs it (not an API key, not the admin key)', async () => {
    const account = await keyed.createAccount('consumption_usd');
    for (const authorization of [undefined, `Bearer ${account.key}`, `Bearer ${ADMIN_KEY}`, 'Bearer wrong-key-0123456789']) {
      const response = await fetch(`${keyed.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    }
    const scraped = await fetch(`${keyed.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_KEY}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('tollgate_requests_total');
  });

  it('with a metrics address, /metrics leaves the API port for an address of its own', async () => {
    expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
    const url = separate.gateway.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const scraped = await fetch(`${url}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('tollgate_requests_total');
    expect((await fetch(`${url}/v1/models`)).status).toBe(404);
  });
});
