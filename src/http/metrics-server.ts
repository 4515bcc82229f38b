import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayMetrics } from '../gateway/metrics.js';

/**
 * `/metrics` on an address of its own (TOLLGATE_METRICS_ADDRESS, e.g. 127.0.0.1:9464), so Prometheus can
 * scrape it on a private interface while the API listens on a public one; the API's port then has no
 * `/metrics` at all. Anything but `GET /metrics` is a 404.
 */
export async function startMetricsServer(
  metrics: Pick<GatewayMetrics, 'render'>,
  address: { host: string; port: number },
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('not found: this address serves GET /metrics only\n');
      return;
    }
    metrics.render().then(
      (rendered) => response.writeHead(200, { 'content-type': rendered.contentType }).end(rendered.body),
      (error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  server.listen(address.port, address.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`,
    async close() {
      server.close();
      server.closeAllConnections();
      await once(server, 'close').catch(() => undefined);
    },
  };
}
