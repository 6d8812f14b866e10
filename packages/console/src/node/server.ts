/**
 * {@link servePort}: a TCP or unix-socket listener for one console port, one client at a time
 * (rust-vmm vhost-device-console's `network` backend, and our unix-socket one). A second client
 * while one is connected is refused (closed at once), so two clients never interleave.
 * @module
 */
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { ConsolePort } from '../port.js';
import { connectStream } from './stream.js';

/**
 * Where a port listens: a TCP port (and host, default 127.0.0.1) or a unix socket path.
 * @example `const a: PortAddress = { tcp: 12345 };`
 */
export type PortAddress =
  | {
      /** TCP port (0: any free one). */
      readonly tcp: number;
      /** Address to bind (default 127.0.0.1). */
      readonly host?: string;
    }
  | {
      /** Unix socket path. */
      readonly unix: string;
    };

/**
 * A listening port; `close()` stops listening and disconnects the client.
 * @example `const l = await servePort(device.port(0), { tcp: 12345 }); l.close();`
 */
export interface PortListener {
  /** Where it listens: the unix socket path, or the TCP address and port (`{ tcp: 0 }` picks a free port). */
  readonly address:
    | {
        /** Unix socket path. */
        readonly unix: string;
      }
    | {
        /** TCP port. */
        readonly tcp: number;
        /** Bound address. */
        readonly host: string;
      };
  /** Whether a client is connected. */
  readonly connected: boolean;
  /** Stops listening, closes the client (a unix socket file is removed). */
  close(): void;
}

/**
 * Listens for clients of `port` at `address`.
 * @param port - the port's host end.
 * @param address - a TCP port or a unix socket path (a stale socket file is replaced).
 * @param onClient - told when a client connects (true) or leaves (false).
 * @returns once listening.
 * @throws the listen error (EADDRINUSE, EACCES...).
 * @example
 * ```ts
 * await servePort(device.port(0), { unix: '/run/console0.sock' });
 * ```
 */
export function servePort(port: ConsolePort, address: PortAddress, onClient?: (connected: boolean) => void): Promise<PortListener> {
  let client: Socket | null = null;
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    if (client !== null) return void socket.destroy();
    client = socket;
    socket.setNoDelay?.(true);
    const stop = connectStream(port, socket);
    onClient?.(true);
    socket.on('close', () => {
      stop();
      client = null;
      onClient?.(false);
    });
    socket.on('error', () => socket.destroy());
  });
  const unix = 'unix' in address ? address.unix : null;
  if (unix !== null) rmSync(unix, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      const bound = server.address();
      resolve({
        address: unix !== null ? { unix } : { tcp: typeof bound === 'object' && bound !== null ? bound.port : 0, host: (address as { host?: string }).host ?? '127.0.0.1' },
        get connected() {
          return client !== null;
        },
        close() {
          server.close();
          client?.destroy();
          if (unix !== null) rmSync(unix, { force: true });
        },
      });
    };
    if (unix !== null) server.listen(unix, listening);
    else server.listen((address as { tcp: number }).tcp, (address as { host?: string }).host ?? '127.0.0.1', listening);
  });
}
