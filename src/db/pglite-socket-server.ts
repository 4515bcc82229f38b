import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { SessionLock } from './pglite-dialect.js';

/**
 * Shares a running `serve`'s embedded database with the CLI: a Unix socket inside the data directory that
 * speaks the PostgreSQL wire protocol, so a `tollgate` command run beside the server connects to it with the
 * ordinary `pg` driver (as to PostgreSQL) instead of failing on the data directory's lock. The socket is
 * named as PostgreSQL names its own (`.s.PGSQL.5432`), so `pg` and psql find it from the directory alone,
 * and only the data directory's owner can connect (mode 0600: the same people who can read the files).
 *
 * Why not @electric-sql/pglite-socket's server: its queue orders the messages of its own sockets, but this
 * process runs queries on the same PGlite session too; a CLI's transaction and the gateway's would
 * interleave on PGlite's one session. Here a connection takes the session lock the gateway's queries take
 * (src/db/pglite-dialect.ts) with its first message and keeps it until PGlite says the session is idle again
 * (ReadyForQuery with status I): a CLI transaction, or an extended-protocol exchange, runs alone.
 *
 * A connection that holds the session and then says nothing for `idleTimeoutMs` (a hung or stopped command)
 * is rolled back and closed, so it cannot stall the gateway.
 */
export const SOCKET_FILE = '.s.PGSQL.5432';

/** Where `serve` listens for a data directory; a Unix socket path is limited to about 107 bytes. */
export function socketPath(dataDirectory: string): string {
  return path.join(path.resolve(dataDirectory), SOCKET_FILE);
}

export interface PGliteSocketServer {
  readonly path: string;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

export async function startPGliteSocketServer(
  pglite: PGlite,
  lock: SessionLock,
  dataDirectory: string,
  options: { idleTimeoutMs?: number } = {},
): Promise<PGliteSocketServer> {
  const file = socketPath(dataDirectory);
  // A socket file left by a process that died: this process holds the data directory's lock, so it is stale.
  rmSync(file, { force: true });
  const connections = new Set<Connection>();
  const server = net.createServer((socket) => {
    const connection = new Connection(socket, pglite, lock, options.idleTimeoutMs ?? 30_000);
    connections.add(connection);
    socket.on('close', () => connections.delete(connection));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(file, 0o600);
  return {
    path: file,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((connection) => connection.end()));
      await closed;
      rmSync(file, { force: true });
    },
  };
}

class Connection {
  private buffer = Buffer.alloc(0);
  private started = false;
  /** Set while this connection holds the session. */
  private release: (() => void) | undefined;
  private work: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly pglite: PGlite,
    private readonly lock: SessionLock,
    private readonly idleTimeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.work = this.work.then(() => this.drain()).catch(() => this.end());
    });
    socket.on('error', () => void this.end());
    socket.on('close', () => void this.end());
  }

  /** Gives the session back in a clean state (any half-sent exchange synced, any open transaction rolled back). */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.idleTimer);
    this.socket.destroy();
    await this.work.catch(() => undefined);
    const release = this.release;
    if (!release) return;
    this.release = undefined;
    try {
      await this.pglite.execProtocolRaw(SYNC);
      if (this.pglite.isInTransaction()) await this.pglite.exec('rollback');
    } finally {
      release();
    }
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.ended) return;
      const message = this.nextMessage();
      if (!message) return;
      if (message === 'ignored') continue;
      if (!this.release) this.release = await this.lock.acquire();
      clearTimeout(this.idleTimer);
      const answer = await this.pglite.execProtocolRaw(message);
      if (answer.length > 0) this.socket.write(answer);
      if (endsIdle(answer)) {
        const release = this.release;
        this.release = undefined;
        release();
      } else {
        // Holding the session between messages: a client that goes quiet here must not hold it for ever.
        this.idleTimer = setTimeout(() => void this.end(), this.idleTimeoutMs);
      }
    }
  }

  /** The next whole message, 'ignored' for one answered here, or undefined until more bytes arrive. */
  private nextMessage(): Uint8Array | 'ignored' | undefined {
    if (!this.started) {
      // The startup packet has no type byte: length, then the protocol version or a request code.
      if (this.buffer.length < 8) return undefined;
      const length = this.buffer.readInt32BE(0);
      if (this.buffer.length < length) return undefined;
      const code = this.buffer.readInt32BE(4);
      const packet = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (code === SSL_REQUEST || code === GSS_REQUEST) {
        this.socket.write('N'); // no encryption on a local socket; the client goes on in the clear
        return 'ignored';
      }
      if (code === CANCEL_REQUEST) {
        void this.end();
        return 'ignored';
      }
      this.started = true;
      return new Uint8Array(packet);
    }
    if (this.buffer.length < 5) return undefined;
    const length = 1 + this.buffer.readInt32BE(1);
    if (this.buffer.length < length) return undefined;
    const message = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    if (message[0] === 0x58) {
      // Terminate: the client is done.
      void this.end();
      return 'ignored';
    }
    return new Uint8Array(message);
  }
}

/** Whether PGlite's answer ends with ReadyForQuery saying the session is idle (not in a transaction). */
function endsIdle(answer: Uint8Array): boolean {
  let status: number | undefined;
  let at = 0;
  while (at + 5 <= answer.length) {
    const type = answer[at]!;
    const length = ((answer[at + 1]! << 24) | (answer[at + 2]! << 16) | (answer[at + 3]! << 8) | answer[at + 4]!) >>> 0;
    if (type === 0x5a && length === 5) status = answer[at + 5];
    at += 1 + length;
  }
  return status === 0x49; // 'I'
}
