/**
 * One served virtio-blk device over a raw image: what the daemon kit's `createDevice` returns
 * for vmv-vhost-user-blk. It opens the image, builds the @vmv/block {@link BlockDevice} and
 * provides the kit's hooks: flush the image when a frontend leaves, drain and flush at stop,
 * close the image, and {@link BlockService.resize} (SIGUSR1) after the image grew or shrank.
 *
 * Device side: VIRTIO 1.2 §5.2 (block device) through @vmv/block.
 * @module
 */

import { join } from 'node:path';
import { BlockDevice, RequestType } from '@vmv/block';
import type { QueueWorkerOptions, VhostUserBackendEvent } from '@vmv/vhost-user';
import type { DaemonLog, ServedDevice } from '@vmv/vhost-user/daemon';
import { DEFAULT_INLINE_READ_MAX, DEFAULT_QUEUE_SIZE, MAX_INLINE_READ_MAX, checkSerial, type DaemonOptions } from './args.js';
import { openImage, syncReader, type OpenImage } from './image.js';
import { SessionSafeBackend } from './session-safe-backend.js';

const MAX_LOGGED_IO_ERRORS = 20;

/** One log line: a @vmv error's short message with its details in parentheses, else the first line of the message. */
function describe(error: unknown): string {
  const { shortMessage, details } = (typeof error === 'object' && error !== null ? error : {}) as { shortMessage?: unknown; details?: unknown };
  if (typeof shortMessage === 'string') return typeof details === 'string' ? `${shortMessage} (${details.replace(/\s*\n\s*/g, ' ')})` : shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

function requestTypeName(type: number): string {
  for (const [name, value] of Object.entries(RequestType)) if (value === type) return name;
  return `type ${type}`;
}

/**
 * What a block device is built from, in the main thread and in a queue worker alike (plain data:
 * it is handed to the workers).
 * @internal
 */
export interface BlockDeviceSpec {
  readonly image: string;
  readonly readonly: boolean;
  readonly direct: boolean;
  readonly queues: number;
  readonly queueSize: number;
  readonly maxInflight: number;
  readonly inlineReadMax: number;
  readonly serial: string | undefined;
}

/**
 * The virtio-blk device over an open image, as the daemon serves it.
 * @internal
 */
export function blockDevice(image: OpenImage, spec: BlockDeviceSpec, onIoError?: (error: unknown, type: number, sector: number) => void): BlockDevice {
  return new BlockDevice({
    // Buffered I/O is zero-copy into guest memory, which a disconnect unmaps at once: keep the
    // requests of a dead session off it. O_DIRECT already goes through private bounce buffers.
    // Small reads are served inline (synchronously) while the page cache serves them fast.
    backend: image.direct
      ? image.backend
      : new SessionSafeBackend(image.backend, spec.inlineReadMax > 0 ? { inlineRead: syncReader(image.file.fd), inlineMaxBytes: spec.inlineReadMax } : {}),
    // Both backends keep a late read off guest memory already: no second copy in the device.
    directReads: true,
    readOnly: spec.readonly,
    numQueues: spec.queues,
    queueSize: spec.queueSize,
    maxInflight: spec.maxInflight,
    ...(spec.serial === undefined ? {} : { serial: spec.serial }),
    ...(onIoError === undefined ? {} : { onBackendError: (error, info) => onIoError(error, info.type, info.sector) }),
  });
}

/** The queue worker script next to this module (the package's build), or null where there is no `__dirname` (an ES module build). */
function defaultWorkerScript(): string | null {
  return typeof __dirname === 'string' ? join(__dirname, 'queue-worker.js') : null;
}

function int(value: unknown, min: number, max: number, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`BlockService.open: ${label} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * A virtio-blk device over an open image, with the daemon kit's hooks.
 * @example
 * ```ts
 * const svc = await BlockService.open({ socket: 's.sock', image: 'disk.img' }, log);
 * new VhostUserBackend(svc.device, { ...svc.backendOptions, onEvent: (e) => svc.onEvent(e) });
 * ```
 */
export class BlockService implements ServedDevice {
  /** The open image. */
  readonly image: OpenImage;
  /** The virtio-blk device served. */
  readonly device: BlockDevice;
  /** Interrupt coalescing and polling for the backend. */
  readonly backendOptions: {
    /** The `--coalesce` settings, `false` for off, or `true` for the backend's defaults. */
    readonly interruptCoalescing: NonNullable<DaemonOptions['coalesce']> | true;
    /** The `--poll` settings, `false` for off, or `true` for the backend's defaults. */
    readonly kickPolling: NonNullable<DaemonOptions['poll']> | true;
    /** The `--workers` threads, each with its own device over the image; absent with `--workers 0`. */
    readonly queueWorkers?: QueueWorkerOptions;
  };
  /** Frontends served so far. */
  connections = 0;
  private readonly log: DaemonLog;
  private ioErrors = 0;
  private flushing: Promise<void> = Promise.resolve();

  private constructor(image: OpenImage, device: BlockDevice, options: DaemonOptions, log: DaemonLog, workers: QueueWorkerOptions | null) {
    this.image = image;
    this.device = device;
    this.log = log;
    this.backendOptions = { interruptCoalescing: options.coalesce ?? true, kickPolling: options.poll ?? true, ...(workers === null ? {} : { queueWorkers: workers }) };
  }

  /**
   * Opens the image and builds the device (the socket fields of `options` are not used).
   * @param options - see {@link DaemonOptions}.
   * @param log - the daemon's log.
   * @returns the service.
   * @throws VhostUserBlk.ImageError when the image cannot be served.
   * @throws VhostUser.UsageError for a serial that is not printable ASCII of at most 20 bytes.
   * @throws TypeError / RangeError for options of the wrong type or out of range.
   * @example
   * ```ts
   * const svc = await BlockService.open({ socket: '', image: 'disk.img', queues: 2 }, log);
   * ```
   */
  static async open(options: DaemonOptions, log: DaemonLog): Promise<BlockService> {
    if (typeof options !== 'object' || options === null) throw new TypeError('BlockService.open: options must be an object');
    const imagePath = options.image;
    if (typeof imagePath !== 'string' || imagePath.length === 0) throw new TypeError('BlockService.open: image must be a non-empty path');
    const queues = int(options.queues ?? 1, 1, 256, 'queues');
    const queueSize = int(options.queueSize ?? DEFAULT_QUEUE_SIZE, 2, 32768, 'queueSize');
    if ((queueSize & (queueSize - 1)) !== 0) throw new RangeError(`BlockService.open: queueSize must be a power of two, got ${queueSize}`);
    const maxInflight = int(options.maxInflight ?? Math.min(64, queueSize), 1, queueSize, 'maxInflight');
    const inlineReadMax = int(options.inlineReadMax ?? DEFAULT_INLINE_READ_MAX, 0, MAX_INLINE_READ_MAX, 'inlineReadMax');
    const serial = options.serial === undefined ? undefined : checkSerial(options.serial);
    const readonly = options.readonly === true;
    const workerCount = int(options.workers ?? 0, 0, 64, 'workers');
    let workers: QueueWorkerOptions | null = null;
    const spec: BlockDeviceSpec = { image: imagePath, readonly, direct: options.direct === true, queues, queueSize, maxInflight, inlineReadMax, serial };
    if (workerCount > 0) {
      const script = options.workerScript ?? defaultWorkerScript();
      if (script === null) throw new TypeError('BlockService.open: workers need workerScript in an ES module build (the path of the package\'s dist/cjs/queue-worker.js)');
      // more workers than queues would have nothing to serve
      workers = { count: Math.min(workerCount, queues), script, data: spec };
    }

    const image = await openImage({ image: imagePath, readonly, direct: options.direct === true });
    let svc: BlockService;
    try {
      const device = blockDevice(image, spec, (error, type, sector) => svc.onIoError(error, type, sector));
      svc = new BlockService(image, device, options, log, workers);
    } catch (e) {
      await image.close().catch(() => undefined);
      throw e;
    }
    const mib = image.size / (1 << 20);
    const { coalesce, poll } = options;
    log.info(
      `serving ${imagePath} (${image.kind}, ${Number.isInteger(mib) ? mib : mib.toFixed(2)} MiB, ${readonly ? 'read-only' : 'read-write'}` +
        `${image.direct ? ', O_DIRECT' : ''}) with ${queues} queue${queues === 1 ? '' : 's'} of up to ${queueSize} entries` +
        `${serial === undefined ? '' : `, serial ${JSON.stringify(serial)}`}` +
        `, interrupt coalescing ${coalesce === false ? 'off' : 'on'}, polling ${poll === false ? 'off' : 'on'}` +
        `${workers === null ? '' : `, queues served by ${workers.count} worker thread${workers.count === 1 ? '' : 's'}`}`,
    );
    return svc;
  }

  /**
   * Counts connections and flushes the image when a frontend leaves.
   * @param event - a backend event.
   * @example
   * ```ts
   * backend = new VhostUserBackend(svc.device, { onEvent: (e) => svc.onEvent(e) });
   * ```
   */
  onEvent(event: VhostUserBackendEvent): void {
    if (event.type === 'connected') this.connections++;
    if (event.type === 'disconnected') this.flushImage('disconnect');
  }

  /**
   * Re-reads the image's size and, when it changed, resizes the device (the guest is told by a
   * configuration change). A block device's size cannot be re-read this way; it is left alone.
   * @returns the capacity in sectors afterwards.
   * @example
   * ```ts
   * process.on('SIGUSR1', () => void svc.resize());
   * ```
   */
  async resize(): Promise<number> {
    const before = this.device.capacity;
    try {
      if (this.image.kind !== 'file') {
        this.log.warn('resize: the size of a block device is not re-read; nothing changed');
        return before;
      }
      const bytes = await this.image.file.refreshSize();
      this.device.resize(Math.floor(bytes / 512));
    } catch (e) {
      this.log.error(`resize failed: ${describe(e)}`);
      return before;
    }
    const after = this.device.capacity;
    if (after === before) this.log.info(`resize: size unchanged (${after} sectors)`);
    else this.log.info(`resized: ${before} -> ${after} sectors`, { sectors: after });
    return after;
  }

  /**
   * Waits for the requests handed to the image, then flushes it (fdatasync).
   * @returns a promise.
   * @throws Block.IoError (as a rejection) when the flush fails.
   * @example
   * ```ts
   * await svc.drain();
   * ```
   */
  async drain(): Promise<void> {
    await this.device.drain();
    await this.flushing;
    if (!this.image.readonly) await this.image.file.flush();
  }

  /**
   * Closes the image and logs the counters.
   * @returns a promise.
   * @example
   * ```ts
   * await svc.drain(); await svc.close();
   * ```
   */
  async close(): Promise<void> {
    await this.device.drain();
    await this.image.close();
    const s = this.device.stats;
    const safe = this.device.backend;
    if (safe instanceof SessionSafeBackend) {
      const b = safe.stats;
      this.log.debug(`reads served inline: ${b.inline}; through private buffers: ${b.deferred} reads and writes; slow inline reads: ${b.slow} (${b.pauses} pauses)`);
    }
    this.log.info(`stopped: ${this.connections} connection${this.connections === 1 ? '' : 's'}, ${s.ok + s.ioerr + s.unsupp} requests (${s.ok} ok, ${s.ioerr} I/O errors, ${s.unsupp} unsupported); image flushed`);
  }

  private flushImage(reason: string): void {
    if (this.image.readonly) return;
    this.flushing = this.flushing
      .then(() => this.device.drain())
      .then(() => this.image.file.flush())
      .then(
        () => this.log.debug(`image flushed (${reason})`),
        (e: unknown) => this.log.warn(`flush after ${reason} failed: ${describe(e)}`),
      );
  }

  private onIoError(error: unknown, type: number, sector: number): void {
    this.ioErrors++;
    if (this.ioErrors <= MAX_LOGGED_IO_ERRORS) {
      this.log.warn(`I/O error on ${requestTypeName(type)} at sector ${sector}: ${describe(error)}`);
      if (this.ioErrors === MAX_LOGGED_IO_ERRORS) this.log.warn('further I/O errors are counted but not logged');
    }
  }
}
