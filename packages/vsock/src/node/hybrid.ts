/**
 * {@link serveHybrid}: the hybrid unix-socket backend of Firecracker and rust-vmm's
 * vhost-device-vsock, over a {@link VsockDevice} (VIRTIO 1.2 §5.10.6). A host program connects to
 * the unix socket `udsPath`, writes `CONNECT <port>\n`, gets `OK <host port>\n` once the guest
 * accepted, then bytes both ways; a guest that connects to host port P reaches the program
 * listening on the unix socket `<udsPath>_<P>` (refused with RST when nobody listens there).
 * Stream connections; back-pressure both ways through {@link VsockStream}.
 * @module
 */
import { createServer, connect as connectUnix } from 'node:net';
import type { Server, Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import type { VsockConnection } from '../connection.js';
import type { VsockDevice } from '../device.js';
import { VsockStream } from './stream.js';

/**
 * Options of {@link serveHybrid}.
 * @example `serveHybrid(device, { udsPath: '/tmp/vm3.vsock', log: console.warn })`
 */
export interface HybridOptions {
  /** The unix socket host programs connect to; guest connections go to `<udsPath>_<port>`. */
  readonly udsPath: string;
  /** One line per refused client or failed connection (default: none). */
  readonly log?: (line: string) => void;
}

/**
 * A running hybrid backend.
 * @example `const h = await serveHybrid(device, { udsPath }); await h.close();`
 */
export interface HybridBackend {
  /** The unix socket path. */
  readonly udsPath: string;
  /** Stops listening (the socket file is removed) and closes every connection it made. */
  close(): Promise<void>;
}

/** `CONNECT <port>\n` is short; a client that sends more without a newline is refused. */
const MAX_LINE = 64;

/**
 * Serves `device`'s host side on the hybrid unix socket protocol.
 * @param device - the device (its guest listeners and connections are made here).
 * @param options - the socket path, a log.
 * @returns the backend, once it listens.
 * @throws TypeError for a bad path; the listen error (EADDRINUSE while another process listens there...) as the
 *   promise's rejection. A socket file nobody listens on (a killed backend's) is replaced.
 * @example
 * ```ts
 * const backend = await serveHybrid(new VsockDevice({ guestCid: 3 }), { udsPath: '/tmp/vm3.vsock' });
 * ```
 */
export async function serveHybrid(device: VsockDevice, options: HybridOptions): Promise<HybridBackend> {
  const udsPath = options?.udsPath;
  if (typeof udsPath !== 'string' || udsPath.length === 0) throw new TypeError('serveHybrid: udsPath must be a non-empty string');
  const log = options.log ?? (() => {});
  const streams = new Set<VsockStream>();
  const sockets = new Set<Socket>();
  const track = (stream: VsockStream, socket: Socket) => {
    streams.add(stream);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    stream.on('close', () => streams.delete(stream));
    join(stream, socket);
  };

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let line = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      const nl = text.indexOf('\n');
      line += nl < 0 ? text : text.slice(0, nl);
      if (nl < 0 && line.length <= MAX_LINE) return;
      socket.off('data', onData);
      socket.pause();
      const m = /^CONNECT ([0-9]{1,10})$/.exec(line);
      const port = m ? Number(m[1]) : NaN;
      if (nl < 0 || !(port <= 0xffff_ffff)) {
        log(`vsock ${udsPath}: refused a client: bad CONNECT line ${JSON.stringify(line.slice(0, MAX_LINE))}`);
        return void socket.destroy();
      }
      const rest = chunk.subarray(Buffer.byteLength(text.slice(0, nl + 1), 'latin1'));
      let conn: VsockConnection;
      try {
        conn = device.connect(port);
      } catch (error) {
        log(`vsock ${udsPath}: CONNECT ${port}: ${(error as Error).message}`);
        return void socket.destroy();
      }
      const stream = new VsockStream(conn);
      if (rest.length > 0) stream.write(rest);
      stream.once('error', (error) => log(`vsock ${udsPath}: CONNECT ${port}: ${error.message}`));
      stream.once('close', () => socket.destroy()); // refused, or closed before the guest answered
      if (conn.state === 'open') opened();
      else stream.once('connect', opened);
      function opened(): void {
        socket.write(`OK ${conn.localPort}\n`);
        track(stream, socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  });

  const listener = device.listen(
    'any',
    (conn) => {
      if (conn.type !== 'stream') return conn.reset();
      const path = `${udsPath}_${conn.localPort}`;
      const socket = connectUnix({ path, allowHalfOpen: true });
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        conn.accept();
        track(new VsockStream(conn), socket);
      });
      socket.once('error', (error) => {
        log(`vsock ${udsPath}: guest port ${conn.peerPort} → ${path}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        conn.reset();
      });
    },
    { manualAccept: true },
  );

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(udsPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen().catch(async (error: NodeJS.ErrnoException) => {
      // A socket file a killed backend left behind (nobody listens on it) is replaced; a live one is not.
      if (error.code !== 'EADDRINUSE' || !(await stale(udsPath))) throw error;
      unlinkSync(udsPath);
      await listen();
    });
  } catch (error) {
    listener.close();
    throw error;
  }

  return {
    udsPath,
    close: () =>
      new Promise<void>((resolve) => {
        listener.close();
        for (const s of streams) s.destroy();
        for (const s of sockets) s.destroy();
        server.close(() => {
          try {
            unlinkSync(udsPath);
          } catch {
            // already gone
          }
          resolve();
        });
      }),
  };
}

/** True when `path` is a unix socket file nobody listens on (a connection to it is refused). */
function stale(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connectUnix({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/**
 * Bytes both ways with back-pressure; either side's end half-closes the other. An error or an
 * abnormal close destroys both; a clean end lets each finish writing what it holds first.
 */
function join(stream: VsockStream, socket: Socket): void {
  socket.pipe(stream);
  stream.pipe(socket);
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
  socket.on('close', () => stream.destroy());
  stream.on('close', () => {
    if (!stream.readableEnded) socket.destroy(); // ended cleanly: the pipe ends the socket after its last bytes
  });
}
