/**
 * {@link BlockDaemon}: vmv-vhost-user-blk as a library, for programs that run the daemon inside
 * their own process: a {@link BlockService} served by a @vmv/vhost-user {@link VhostUserBackend}
 * on one unix socket, one frontend (QEMU) at a time. The command-line program is the daemon
 * kit's `runDaemon` over the same {@link BlockService} (see program.ts).
 * @module
 */

import { VhostUserBackend } from '@vmv/vhost-user';
import { checkSocketPath, listenError, logBackendEvent, type DaemonLog } from '@vmv/vhost-user/daemon';
import type { DaemonOptions, LogLevelName } from './args.js';
import type { OpenImage } from './image.js';
import { BlockService } from './service.js';
import type { BlockDevice } from '@vmv/block';

/** Where the daemon's log lines go. @example `const log: DaemonLogger = (level, msg) => console.error(level, msg);` */
export type DaemonLogger = (level: LogLevelName, message: string) => void;

/**
 * Counters of a running daemon.
 * @example
 * ```ts
 * const s: DaemonStats = daemon.stats; console.log(s.connections, s.requests);
 * ```
 */
export interface DaemonStats {
  /** Frontends served so far (including the current one). */
  readonly connections: number;
  /** Requests completed, over all connections. */
  readonly requests: number;
  /** Requests answered VIRTIO_BLK_S_OK. */
  readonly ok: number;
  /** Requests answered VIRTIO_BLK_S_IOERR. */
  readonly ioerr: number;
  /** Requests answered VIRTIO_BLK_S_UNSUPP. */
  readonly unsupp: number;
}

/**
 * A running vmv-vhost-user-blk daemon.
 *
 * @example
 * ```ts
 * import { BlockDaemon } from '@vmv/vhost-user-blk';
 * const daemon = await BlockDaemon.start({ socket: '/tmp/vub.sock', image: 'disk.img', queues: 2 });
 * process.once('SIGTERM', () => void daemon.stop());
 * await daemon.stopped;
 * ```
 */
export class BlockDaemon {
  /** The socket path listened on. */
  readonly socket: string;
  /** The device, its image and hooks. */
  readonly service: BlockService;
  /** The vhost-user backend serving it. */
  readonly backend: VhostUserBackend;
  /** Resolves once {@link BlockDaemon.stop} has finished. */
  readonly stopped: Promise<void>;
  private stopping: Promise<void> | null = null;
  private markStopped!: () => void;

  private constructor(socket: string, service: BlockService, log: DaemonLog) {
    this.socket = socket;
    this.service = service;
    this.backend = new VhostUserBackend(service.device, {
      ...service.backendOptions,
      onEvent: (event) => {
        service.onEvent(event);
        logBackendEvent(log, socket, event, service.connections);
      },
    });
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
  }

  /**
   * Opens the image, builds the device and listens on the socket.
   * @param options - see {@link DaemonOptions}.
   * @param logger - receives log lines (default: none).
   * @returns the running daemon.
   * @throws VhostUserBlk.ImageError when the image cannot be served.
   * @throws VhostUser.SocketError when the socket path cannot be listened on.
   * @throws VhostUser.UsageError for a serial that is not printable ASCII of at most 20 bytes.
   * @throws TypeError / RangeError for options of the wrong type or out of range.
   * @example
   * ```ts
   * const d = await BlockDaemon.start({ socket: 's.sock', image: 'disk.img' }, (lvl, msg) => console.error(lvl, msg));
   * ```
   */
  static async start(options: DaemonOptions, logger: DaemonLogger = () => undefined): Promise<BlockDaemon> {
    if (typeof options !== 'object' || options === null) throw new TypeError('BlockDaemon.start: options must be an object');
    const { socket } = options;
    if (typeof socket !== 'string' || socket.length === 0) throw new TypeError('BlockDaemon.start: socket must be a non-empty path');
    const log: DaemonLog = { error: (m) => logger('error', m), warn: (m) => logger('warn', m), info: (m) => logger('info', m), debug: (m) => logger('debug', m) };
    const service = await BlockService.open(options, log);
    let daemon: BlockDaemon;
    try {
      daemon = new BlockDaemon(socket, service, log);
    } catch (e) {
      await service.close().catch(() => undefined);
      throw e;
    }
    try {
      checkSocketPath(socket);
      try {
        daemon.backend.listen(socket, { removeStale: true });
      } catch (e) {
        throw listenError(socket, e);
      }
    } catch (e) {
      await service.close().catch(() => undefined);
      throw e;
    }
    return daemon;
  }

  /** The open image. @returns it. @example `daemon.image.size` */
  get image(): OpenImage {
    return this.service.image;
  }

  /** The virtio-blk device served. @returns it. @example `daemon.device.capacity` */
  get device(): BlockDevice {
    return this.service.device;
  }

  /**
   * Counters: connections served and requests completed.
   * @returns a snapshot of the counters.
   * @example
   * ```ts
   * console.log(daemon.stats.requests);
   * ```
   */
  get stats(): DaemonStats {
    const s = this.device.stats;
    return { connections: this.service.connections, requests: s.ok + s.ioerr + s.unsupp, ok: s.ok, ioerr: s.ioerr, unsupp: s.unsupp };
  }

  /**
   * Whether a frontend is connected now.
   * @returns true while one is served.
   * @example
   * ```ts
   * if (!daemon.connected) console.log('waiting for QEMU');
   * ```
   */
  get connected(): boolean {
    return this.backend.connected;
  }

  /**
   * Stops: closes the listening socket (removing the socket file) and the connection, waits for
   * the requests already handed to the image to finish, flushes (fdatasync) and closes the
   * image. Idempotent; every call returns the same promise.
   * @returns a promise that resolves when the image is flushed and closed.
   * @throws Block.IoError (as a rejection) when the final flush fails.
   * @example
   * ```ts
   * process.once('SIGTERM', () => daemon.stop().then(() => process.exit(0)));
   * ```
   */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      try {
        this.backend.close();
        await this.backend.stopped;
        await this.service.drain();
        await this.service.close();
      } finally {
        this.markStopped();
      }
    })();
    return this.stopping;
  }
}
