/**
 * The daemon: a @vmv/block {@link BlockDevice} over a raw image, served by a @vmv/vhost-user
 * {@link VhostUserBackend} on a unix socket, one frontend (QEMU) at a time. When the frontend
 * disconnects the image is flushed and the next connection is served; {@link BlockDaemon.stop}
 * stops listening (removing the socket file), lets the requests in flight finish, flushes
 * (fdatasync) and closes the image.
 *
 * Device side: VIRTIO 1.2 §5.2 (block device) through @vmv/block; transport: vhost-user
 * (QEMU docs/interop/vhost-user.rst) through @vmv/vhost-user.
 * @module
 */

import { BlockDevice, RequestType } from '@vmv/block';
import { VhostUserBackend, isVhostUserError, requestName, type DisconnectedError, type VhostUserBackendEvent } from '@vmv/vhost-user';
import { DEFAULT_INLINE_READ_MAX, DEFAULT_QUEUE_SIZE, MAX_INLINE_READ_MAX, checkSerial, type DaemonOptions, type LogLevelName } from './args.js';
import { openImage, syncReader, type OpenImage } from './image.js';
import { SessionSafeBackend } from './session-safe-backend.js';
import { checkSocketPath, listenError } from './socket.js';

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

const MAX_LOGGED_IO_ERRORS = 20;

/** One log line: a @vmv error's short message with its details in parentheses, else the first line of the message. */
function describe(error: unknown): string {
  const { shortMessage, details } = (typeof error === 'object' && error !== null ? error : {}) as { shortMessage?: unknown; details?: unknown };
  if (typeof shortMessage === 'string') return typeof details === 'string' ? `${shortMessage} (${details.replace(/\s*\n\s*/g, ' ')})` : shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/** A frontend that closed its end between messages (QEMU quitting) is not an error. */
function isCleanDisconnect(error: unknown): boolean {
  if (error === undefined) return true;
  return isVhostUserError(error, 'VhostUser.DisconnectedError') && (error as DisconnectedError).midMessage !== true;
}

function requestTypeName(type: number): string {
  for (const [name, value] of Object.entries(RequestType)) if (value === type) return name;
  return `type ${type}`;
}

function int(value: unknown, min: number, max: number, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`BlockDaemon.start: ${label} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * A running vmv-vhost-user-blk daemon.
 *
 * @example
 * ```ts
 * import { BlockDaemon } from '@vmv/vhost-user-blk';
 * const daemon = await BlockDaemon.start({ socket: '/tmp/vub.sock', image: 'disk.img', queues: 2 });
 * // qemu-system-x86_64 ... -chardev socket,id=c0,path=/tmp/vub.sock -device vhost-user-blk-pci,chardev=c0,num-queues=2
 * process.once('SIGTERM', () => void daemon.stop());
 * await daemon.stopped;
 * ```
 */
export class BlockDaemon {
  /** The socket path listened on. */
  readonly socket: string;
  /** The open image. */
  readonly image: OpenImage;
  /** The virtio-blk device served. */
  readonly device: BlockDevice;
  /** The vhost-user backend serving it. */
  readonly backend: VhostUserBackend;
  /** Resolves once {@link BlockDaemon.stop} has finished. */
  readonly stopped: Promise<void>;
  private readonly log: DaemonLogger;
  private connectionCount = 0;
  private ioErrors = 0;
  private stopping: Promise<void> | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private markStopped!: () => void;

  private constructor(socket: string, image: OpenImage, device: BlockDevice, backend: VhostUserBackend, log: DaemonLogger) {
    this.socket = socket;
    this.image = image;
    this.device = device;
    this.backend = backend;
    this.log = log;
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
  }

  /**
   * Opens the image, builds the device and listens on the socket.
   * @param options - see {@link DaemonOptions}.
   * @param log - receives log lines (default: none).
   * @returns the running daemon.
   * @throws VhostUserBlk.ImageError when the image cannot be served.
   * @throws VhostUserBlk.SocketError when the socket path cannot be listened on.
   * @throws VhostUserBlk.UsageError for a serial that is not printable ASCII of at most 20 bytes.
   * @throws TypeError / RangeError for options of the wrong type or out of range.
   * @example
   * ```ts
   * const d = await BlockDaemon.start({ socket: 's.sock', image: 'disk.img' }, (lvl, msg) => console.error(lvl, msg));
   * ```
   */
  static async start(options: DaemonOptions, log: DaemonLogger = () => undefined): Promise<BlockDaemon> {
    if (typeof options !== 'object' || options === null) throw new TypeError('BlockDaemon.start: options must be an object');
    const { socket, image: imagePath } = options;
    if (typeof socket !== 'string' || socket.length === 0) throw new TypeError('BlockDaemon.start: socket must be a non-empty path');
    if (typeof imagePath !== 'string' || imagePath.length === 0) throw new TypeError('BlockDaemon.start: image must be a non-empty path');
    const queues = int(options.queues ?? 1, 1, 256, 'queues');
    const queueSize = int(options.queueSize ?? DEFAULT_QUEUE_SIZE, 2, 32768, 'queueSize');
    if ((queueSize & (queueSize - 1)) !== 0) throw new RangeError(`BlockDaemon.start: queueSize must be a power of two, got ${queueSize}`);
    const maxInflight = int(options.maxInflight ?? Math.min(64, queueSize), 1, queueSize, 'maxInflight');
    const inlineReadMax = int(options.inlineReadMax ?? DEFAULT_INLINE_READ_MAX, 0, MAX_INLINE_READ_MAX, 'inlineReadMax');
    const serial = options.serial === undefined ? undefined : checkSerial(options.serial);
    const readonly = options.readonly === true;

    checkSocketPath(socket);
    const image = await openImage({ image: imagePath, readonly, direct: options.direct === true });
    let daemon: BlockDaemon;
    try {
      const device = new BlockDevice({
        // Buffered I/O is zero-copy into guest memory, which a disconnect unmaps at once: keep the
        // requests of a dead session off it. O_DIRECT already goes through private bounce buffers.
        // Small reads are served inline (synchronously) while the page cache serves them fast.
        backend: image.direct
          ? image.backend
          : new SessionSafeBackend(image.backend, inlineReadMax > 0 ? { inlineRead: syncReader(image.file.fd), inlineMaxBytes: inlineReadMax } : {}),
        readOnly: readonly,
        numQueues: queues,
        queueSize,
        maxInflight,
        ...(serial === undefined ? {} : { serial }),
        onBackendError: (error, info) => daemon.onIoError(error, info.type, info.sector),
      });
      let onEvent: (event: VhostUserBackendEvent) => void = () => undefined;
      const backend = new VhostUserBackend(device, { onEvent: (event) => onEvent(event), interruptCoalescing: options.coalesce ?? true, kickPolling: options.poll ?? true });
      const coalesce = backend.interruptCoalescing;
      const poll = backend.kickPolling;
      daemon = new BlockDaemon(socket, image, device, backend, log);
      onEvent = (event) => daemon.onEvent(event);
      const mib = image.size / (1 << 20);
      log(
        'info',
        `serving ${imagePath} (${image.kind}, ${Number.isInteger(mib) ? mib : mib.toFixed(2)} MiB, ${readonly ? 'read-only' : 'read-write'}` +
          `${image.direct ? ', O_DIRECT' : ''}) with ${queues} queue${queues === 1 ? '' : 's'} of up to ${queueSize} entries` +
          `${serial === undefined ? '' : `, serial ${JSON.stringify(serial)}`}` +
          `, interrupt coalescing ${coalesce === null ? 'off' : `${coalesce.quietUs}/${coalesce.maxDelayUs} µs`}` +
          `, polling ${poll === null ? 'off' : `${poll.spinUs} µs windows for gaps up to ${poll.maxGapUs} µs`}`,
      );
      try {
        backend.listen(socket, { removeStale: true });
      } catch (e) {
        throw listenError(socket, e);
      }
    } catch (e) {
      await image.close().catch(() => undefined);
      throw e;
    }
    return daemon;
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
    return { connections: this.connectionCount, requests: s.ok + s.ioerr + s.unsupp, ok: s.ok, ioerr: s.ioerr, unsupp: s.unsupp };
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
        await this.device.drain();
        await this.flushing;
        await this.image.close();
        const s = this.stats;
        const safe = this.device.backend;
        if (safe instanceof SessionSafeBackend) {
          const b = safe.stats;
          this.log('debug', `reads served inline: ${b.inline}; through private buffers: ${b.deferred} reads and writes; slow inline reads: ${b.slow} (${b.pauses} pauses)`);
        }
        const c = this.backend.callStats;
        this.log('debug', `interrupts: ${c.sent} sent for ${c.requested} asked for by the device`);
        const p = this.backend.pollStats;
        if (p.windows + p.early > 0) {
          this.log('debug', `polling: ${p.hits} requests found in ${p.windows} windows (${p.late} empty), ${p.early} kicks before a window, ${Math.round(p.spinUs / 1000)} ms spent looking`);
        }
        this.log('info', `stopped: ${s.connections} connection${s.connections === 1 ? '' : 's'}, ${s.requests} requests (${s.ok} ok, ${s.ioerr} I/O errors, ${s.unsupp} unsupported); image flushed`);
      } finally {
        this.markStopped();
      }
    })();
    return this.stopping;
  }

  private flushImage(reason: string): void {
    if (this.image.readonly) return;
    this.flushing = this.flushing
      .then(() => this.device.drain())
      .then(() => this.image.file.flush())
      .then(
        () => this.log('debug', `image flushed (${reason})`),
        (e: unknown) => this.log('warn', `flush after ${reason} failed: ${describe(e)}`),
      );
  }

  private onIoError(error: unknown, type: number, sector: number): void {
    this.ioErrors++;
    if (this.ioErrors <= MAX_LOGGED_IO_ERRORS) {
      this.log('warn', `I/O error on ${requestTypeName(type)} at sector ${sector}: ${describe(error)}`);
      if (this.ioErrors === MAX_LOGGED_IO_ERRORS) this.log('warn', 'further I/O errors are counted but not logged');
    }
  }

  private onEvent(event: VhostUserBackendEvent): void {
    switch (event.type) {
      case 'listening':
        this.log('info', `listening on ${event.path}`);
        return;
      case 'connected':
        this.connectionCount++;
        this.log('info', `frontend connected (connection ${this.connectionCount})`);
        return;
      case 'disconnected': {
        const why = isCleanDisconnect(event.error) ? '' : ` (${describe(event.error)})`;
        this.log('info', `frontend disconnected${why}${this.stopping === null ? '; waiting for the next one' : ''}`);
        this.flushImage('disconnect');
        return;
      }
      case 'rejected':
        this.log('warn', `connection refused: ${event.reason}`);
        return;
      case 'activated':
        this.log('info', 'guest driver ready (DRIVER_OK): serving requests');
        return;
      case 'device-reset':
        this.log('debug', 'device reset');
        return;
      case 'request-failed':
        this.log('warn', `vhost-user request ${requestName(event.request) ?? event.request} refused: ${describe(event.error)}`);
        return;
      case 'needs-reset':
        this.log('error', `device needs reset: ${describe(event.reason)}`);
        return;
      case 'ring-error':
        this.log('error', `queue ${event.index} stopped: ${describe(event.error)}`);
        return;
    }
  }
}
