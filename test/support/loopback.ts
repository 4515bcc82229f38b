import type { Server } from 'node:http';

/**
 * Keeps a test server's idle keep-alive connections open until the client closes them (or the test closes
 * the server). Node closes an idle connection after 5 s by default; a client that picks that connection for
 * its next request as the server closes it gets ECONNRESET. On a busy machine a test easily idles 5 s between
 * two requests, so that race, not the code under test, would fail it. Close such a server with
 * `closeAllConnections()` first.
 */
export function keepConnectionsOpen<T extends Server>(server: T): T {
  server.keepAliveTimeout = 0;
  return server;
}
