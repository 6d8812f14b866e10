/**
 * One served virtio-scsi device (VIRTIO 1.2 §5.6, through @vmv/scsi) over raw images: what the
 * daemon kit's `createDevice` returns for vmv-vhost-user-scsi. Each image is opened as
 * vmv-vhost-user-blk opens one (its `openImage`: regular files and block devices, qcow2 refused)
 * and becomes a LUN; buffered images go through its `SessionSafeBackend`, so a request still
 * running when the frontend leaves never touches unmapped guest memory. The I/O path is
 * vmv-vhost-user-blk's: small reads served inline from the page cache, reads straight into guest
 * buffers (`directReads`), interrupt coalescing and predictive kick polling on. LUNs are added, removed
 * and resized while the guest runs ({@link ScsiService.addLun}, {@link ScsiService.removeLun},
 * {@link ScsiService.resizeLun}): the device tells the guest with TRANSPORT_RESET and
 * PARAM_CHANGE events and unit attentions.
 * @module
 */
import { resolve } from 'node:path';
import type { BlockBackend } from '@vmv/block';
import { MAX_LUN, ScsiDevice } from '@vmv/scsi';
import type { VhostUserBackendEvent, VhostUserBackendOptions } from '@vmv/vhost-user';
import { ControlError, type DaemonLog } from '@vmv/vhost-user/daemon';
import type { ServedDevice } from '@vmv/vhost-user/daemon';
import { DEFAULT_INLINE_READ_MAX, SessionSafeBackend, openImage, syncReader, type OpenImage } from '@vmv/vhost-user-blk';
import { PROGRAM, type ScsiOptions } from './args.js';

/**
 * A LUN served, as `lun-list` reports it.
 * @example `svc.luns()[0] // { target: 0, lun: 0, image: '/srv/a.img', blocks: 2048, readOnly: false, direct: false }`
 */
export interface LunInfo {
  /** Its target. */
  readonly target: number;
  /** Its LUN. */
  readonly lun: number;
  /** The image's absolute path. */
  readonly image: string;
  /** Capacity in 512-byte blocks. */
  readonly blocks: number;
  /** Served read-only. */
  readonly readOnly: boolean;
  /** Opened with O_DIRECT. */
  readonly direct: boolean;
}

/**
 * What {@link ScsiService.addLun} takes.
 * @example `await svc.addLun({ image: 'c.img', lun: 2, readOnly: true })`
 */
export interface AddLunOptions {
  /** The raw image. */
  readonly image: string;
  /** Its target (default 0). */
  readonly target?: number;
  /** Its LUN (default: the lowest free on the target). */
  readonly lun?: number;
  /** Serve it read-only (default: the daemon's `--read-only`). */
  readonly readOnly?: boolean;
  /** O_DIRECT (default: the daemon's `--direct`). */
  readonly direct?: boolean;
}

interface ServedLun {
  readonly path: string;
  readonly image: OpenImage;
}

const key = (target: number, lun: number) => target * (MAX_LUN + 1) + lun;

/**
 * The virtio-scsi device over the open images, with the kit's hooks.
 * @example
 * ```ts
 * const svc = await ScsiService.open({ images: ['a.img'], readOnly: false, readOnlyLuns: new Set(), solidState: false, direct: false, numQueues: 1, queueSize: 1024 }, log);
 * ```
 */
export class ScsiService implements ServedDevice {
  /** The device served. */
  readonly device: ScsiDevice;
  /** Interrupt coalescing and kick polling with the backend's defaults, as vmv-vhost-user-blk's. */
  readonly backendOptions: Omit<VhostUserBackendOptions, 'onEvent'> = { interruptCoalescing: true, kickPolling: true };
  /** Frontends served so far. */
  connections = 0;
  private readonly served = new Map<number, ServedLun>();
  private readonly options: ScsiOptions;
  private readonly log: DaemonLog;

  private constructor(options: ScsiOptions, log: DaemonLog) {
    // SessionSafeBackend keeps a late read off guest memory, so reads may go straight into it
    this.device = new ScsiDevice({ numQueues: options.numQueues, queueSize: options.queueSize, directReads: true });
    this.options = options;
    this.log = log;
  }

  /**
   * Opens every image and builds the device: image `i` is LUN `i` of target 0.
   * @param options - see {@link ScsiOptions}.
   * @param log - the daemon's log.
   * @returns the service.
   * @throws VhostUserBlk.ImageError when an image cannot be served (the ones opened are closed).
   * @example
   * ```ts
   * const svc = await ScsiService.open(scsiOptions(values), log);
   * ```
   */
  static async open(options: ScsiOptions, log: DaemonLog): Promise<ScsiService> {
    const svc = new ScsiService(options, log);
    try {
      for (const [lun, image] of options.images.entries()) await svc.attach(image, 0, lun, options.readOnly || options.readOnlyLuns.has(lun), options.direct);
    } catch (e) {
      await svc.close();
      throw e;
    }
    const n = options.images.length;
    log.info(`target 0 with ${n} LUN${n === 1 ? '' : 's'}, ${options.numQueues} request queue${options.numQueues === 1 ? '' : 's'}`);
    return svc;
  }

  /**
   * The LUNs served, by target then LUN.
   * @returns one entry per LUN.
   * @example `svc.luns().map((l) => l.lun)`
   */
  luns(): LunInfo[] {
    return this.device.bus.addresses().map(([target, lun]) => this.info(target, lun));
  }

  /**
   * Opens an image and adds it as a LUN while the guest runs: the guest hears of it through a
   * TRANSPORT_RESET event (RESCAN), and the target's other LUNs report REPORTED LUNS DATA HAS
   * CHANGED.
   * @param options - the image and where to put it.
   * @returns the LUN added.
   * @throws VhostUser.ControlError for an address out of range or taken, or an image served already.
   * @throws VhostUserBlk.ImageError when the image cannot be served.
   * @example `await svc.addLun({ image: '/srv/c.img' })`
   */
  async addLun(options: AddLunOptions): Promise<LunInfo> {
    const target = options.target ?? 0;
    const lun = options.lun ?? this.freeLun(target);
    if (this.served.has(key(target, lun))) throw new ControlError(`target ${target} LUN ${lun} is served already (${this.served.get(key(target, lun))!.path})`);
    const path = resolve(options.image);
    for (const s of this.served.values()) if (s.path === path) throw new ControlError(`image ${path} is served already (two LUNs writing one image would corrupt it)`);
    await this.attach(options.image, target, lun, options.readOnly ?? this.options.readOnly, options.direct ?? this.options.direct);
    return this.info(target, lun);
  }

  /**
   * Removes a LUN while the guest runs: the guest hears of it through a TRANSPORT_RESET event
   * (REMOVED); commands already running on it finish, then its image is flushed and closed.
   * @param target - the target.
   * @param lun - the LUN.
   * @returns the LUN removed.
   * @throws VhostUser.ControlError when there is no such LUN.
   * @example `await svc.removeLun(0, 1)`
   */
  async removeLun(target: number, lun: number): Promise<LunInfo> {
    const info = this.info(target, lun);
    const served = this.served.get(key(target, lun))!;
    this.device.bus.remove(target, lun);
    this.served.delete(key(target, lun));
    await this.device.drain(target, lun);
    await served.image.close();
    this.log.info(`LUN ${target}:${lun} removed (${served.path} flushed and closed)`);
    return info;
  }

  /**
   * Re-reads a LUN's image size (after the file grew or shrank) and, when it changed, resizes the
   * LUN: the guest hears of it through a PARAM_CHANGE event (CAPACITY DATA HAS CHANGED) and a
   * unit attention. A block device's size is not re-read.
   * @param target - the target.
   * @param lun - the LUN.
   * @returns the LUN afterwards.
   * @throws VhostUser.ControlError when there is no such LUN or it is a block device.
   * @throws Block.IoError when the size cannot be read.
   * @example `truncateSync('a.img', 2 << 30); await svc.resizeLun(0, 0)`
   */
  async resizeLun(target: number, lun: number): Promise<LunInfo> {
    const before = this.info(target, lun);
    const { image, path } = this.served.get(key(target, lun))!;
    if (image.kind !== 'file') throw new ControlError(`${path} is a block device: its size is not re-read`);
    const bytes = await image.file.refreshSize();
    if (this.device.bus.resize(target, lun, Math.floor(bytes / 512))) this.log.info(`LUN ${target}:${lun} resized: ${before.blocks} -> ${Math.floor(bytes / 512)} blocks`);
    return this.info(target, lun);
  }

  /**
   * Counts connections; when a frontend leaves, flushes the images.
   * @param event - a backend event.
   */
  onEvent(event: VhostUserBackendEvent): void {
    if (event.type === 'connected') this.connections++;
    if (event.type === 'disconnected') {
      this.drain().then(
        () => this.log.debug('images flushed (disconnect)'),
        (e: unknown) => this.log.warn(`flush after disconnect failed: ${(e as Error).message}`),
      );
    }
  }

  /**
   * Waits for the commands in flight, then flushes (fdatasync) every writable image.
   * @returns a promise.
   * @throws Block.IoError (as a rejection) when a flush fails.
   */
  async drain(): Promise<void> {
    await this.device.drain();
    await Promise.all([...this.served.values()].filter((s) => !s.image.readonly).map((s) => s.image.file.flush()));
  }

  /**
   * Closes every image (flushing the writable ones).
   * @returns a promise.
   */
  async close(): Promise<void> {
    await Promise.all([...this.served.values()].map((s) => s.image.close()));
    this.log.info(`stopped: ${this.connections} connection${this.connections === 1 ? '' : 's'}; images flushed and closed`);
  }

  private async attach(path: string, target: number, lun: number, readOnly: boolean, direct: boolean): Promise<void> {
    const image = await openImage({ image: path, readonly: readOnly, direct, program: { name: PROGRAM, readOnlyFlag: '--read-only' } });
    const backend: BlockBackend = image.direct ? image.backend : new SessionSafeBackend(image.backend, { inlineRead: syncReader(image.file.fd), inlineMaxBytes: DEFAULT_INLINE_READ_MAX });
    try {
      this.device.bus.add(target, lun, { backend, readOnly, solidState: this.options.solidState });
    } catch (e) {
      await image.close();
      throw e;
    }
    this.served.set(key(target, lun), { path: resolve(path), image });
    const mib = image.size / (1 << 20);
    this.log.info(
      `LUN ${target === 0 ? '' : `${target}:`}${lun}: ${path} (${image.kind}, ${Number.isInteger(mib) ? mib : mib.toFixed(2)} MiB, ` +
        `${readOnly ? 'read-only' : 'read-write'}${image.direct ? ', O_DIRECT' : ''})`,
    );
  }

  private info(target: number, lun: number): LunInfo {
    const served = this.served.get(key(target, lun));
    const unit = this.device.bus.unit(target, lun);
    if (served === undefined || unit === undefined) throw new ControlError(`no LUN ${lun} on target ${target}`);
    return { target, lun, image: served.path, blocks: unit.capacity, readOnly: served.image.readonly, direct: served.image.direct };
  }

  private freeLun(target: number): number {
    const taken = new Set(this.device.bus.luns(target));
    for (let lun = 0; lun <= MAX_LUN; lun++) if (!taken.has(lun)) return lun;
    throw new ControlError(`target ${target} has ${MAX_LUN + 1} LUNs: none free`);
  }
}
