import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server (PostgreSQL in the fault tests): `cut()` drops every connection
 * and refuses new ones, as a database restart or a network cut looks from the gateway; `restore()` listens on
 * the same port again. Nothing happens to the real server, which other suites share.
 */
export interface TcpProxy {
  port: number;
  /** Connections accepted so far (each a client of the proxied server). */
  readonly accepted: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;
  let port = 0;

  const listen = async () => {
    server = createServer((client) => {
      accepted += 1;
      const upstream = connect(target.port, target.host);
      sockets.add(client);
      sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };

  await listen();
  const proxy: TcpProxy = {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    async cut() {
      const closing = server;
      server = undefined;
      if (closing) {
        const closed = once(closing, 'close');
        closing.close();
        for (const socket of sockets) socket.destroy();
        sockets.clear();
        await closed;
      }
    },
    async restore() {
      if (!server) await listen();
    },
    close() {
      return proxy.cut();
    },
  };
  return proxy;
}
