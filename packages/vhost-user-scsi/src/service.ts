/**
 * One served virtio-scsi device (VIRTIO 1.2 §5.6, through @vmv/scsi) over raw images: what the
 * daemon kit's `createDevice` returns for vmv-vhost-user-scsi. Each image is opened as
 * vmv-vhost-user-blk opens one (its `openImage`: regular files and block devices, qcow2 refused)
 * and becomes the next LUN of target 0; buffered images go through its `SessionSafeBackend`, so a
 * request still running when the frontend leaves never touches unmapped guest memory.
 * @module
 */
import type { BlockBackend } from '@vmv/block';
import { ScsiDevice } from '@vmv/scsi';
import type { VhostUserBackendEvent } from '@vmv/vhost-user';
import type { DaemonLog, ServedDevice } from '@vmv/vhost-user/daemon';
import { SessionSafeBackend, openImage, type OpenImage } from '@vmv/vhost-user-blk';
import { PROGRAM, type ScsiOptions } from './args.js';

/**
 * The virtio-scsi device over the open images, with the kit's hooks.
 * @example
 * ```ts
 * const svc = await ScsiService.open({ images: ['a.img'], readOnly: false, readOnlyLuns: new Set(), solidState: false, direct: false, numQueues: 1 }, log);
 * ```
 */
export class ScsiService implements ServedDevice {
  /** The device served. */
  readonly device: ScsiDevice;
  /** The open images, LUN 0 upwards. */
  readonly images: readonly OpenImage[];
  /** Frontends served so far. */
  connections = 0;
  private readonly log: DaemonLog;

  private constructor(device: ScsiDevice, images: readonly OpenImage[], log: DaemonLog) {
    this.device = device;
    this.images = images;
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
    const images: OpenImage[] = [];
    try {
      const readOnly = (lun: number) => options.readOnly || options.readOnlyLuns.has(lun);
      for (const [lun, path] of options.images.entries()) images.push(await openImage({ image: path, readonly: readOnly(lun), direct: options.direct, program: { name: PROGRAM, readOnlyFlag: '--read-only' } }));
      const device = new ScsiDevice({ numQueues: options.numQueues });
      images.forEach((image, lun) => {
        const backend: BlockBackend = image.direct ? image.backend : new SessionSafeBackend(image.backend);
        device.bus.add(0, lun, { backend, readOnly: readOnly(lun), solidState: options.solidState });
        const mib = image.size / (1 << 20);
        log.info(
          `LUN ${lun}: ${options.images[lun]!} (${image.kind}, ${Number.isInteger(mib) ? mib : mib.toFixed(2)} MiB, ` +
            `${readOnly(lun) ? 'read-only' : 'read-write'}${image.direct ? ', O_DIRECT' : ''})`,
        );
      });
      log.info(`target 0 with ${images.length} LUN${images.length === 1 ? '' : 's'}, ${options.numQueues} request queue${options.numQueues === 1 ? '' : 's'}`);
      return new ScsiService(device, images, log);
    } catch (e) {
      await Promise.all(images.map((i) => i.close().catch(() => undefined)));
      throw e;
    }
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
    await Promise.all(this.images.filter((i) => !i.readonly).map((i) => i.file.flush()));
  }

  /**
   * Closes every image (flushing the writable ones).
   * @returns a promise.
   */
  async close(): Promise<void> {
    await Promise.all(this.images.map((i) => i.close()));
    this.log.info(`stopped: ${this.connections} connection${this.connections === 1 ? '' : 's'}; images flushed and closed`);
  }
}
