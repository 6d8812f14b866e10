/**
 * Errors of the vmv-vhost-user-blk daemon: one base class with a stable `code` and `name`, and a
 * subclass per way a start can fail that is its own (a bad image; a bad command line or socket is
 * the daemon kit's VhostUser.UsageError or SocketError). Each
 * message says what is wrong and how to fix it, because the CLI prints it as is.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/** Options common to every daemon error. @example `new ImageError('disk.img', 'bad', { details: 'a hint' })` */
export type VhostUserBlkErrorOptions = VmvErrorOptions;

/**
 * Base class of the daemon's errors. Test the `name` with {@link isVhostUserBlkError}, never
 * `instanceof` (two copies of the package break instanceof).
 * @example
 * ```ts
 * try { await BlockDaemon.start(options); } catch (e) { if (isVhostUserBlkError(e)) console.error(e.message); }
 * ```
 */
export class VhostUserBlkError extends VmvError {
  override readonly name: string = 'VhostUserBlk.Error';
}

/**
 * The disk image cannot be served: missing, a directory, unreadable or unwritable, a size that is
 * not a whole number of sectors, a qcow2 file.
 * @example
 * ```ts
 * await openImage({ image: '/nonexistent', readonly: false, direct: false }); // throws VhostUserBlk.ImageError
 * ```
 */
export class ImageError extends VhostUserBlkError {
  override readonly name = 'VhostUserBlk.ImageError' as const;
  /** The image path. */
  readonly path: string;
  /**
   * @param path - the image path.
   * @param shortMessage - what is wrong.
   * @param options - details (a hint) and cause.
   */
  constructor(path: string, shortMessage: string, options: VhostUserBlkErrorOptions = {}) {
    super('IMAGE', shortMessage, options);
    this.path = path;
  }
}

/** Every error name this package produces. @example `VHOST_USER_BLK_ERROR_NAMES.includes(e.name)` */
export const VHOST_USER_BLK_ERROR_NAMES = ['VhostUserBlk.Error', 'VhostUserBlk.ImageError'] as const;
/** One of {@link VHOST_USER_BLK_ERROR_NAMES}. @example `const n: VhostUserBlkErrorName = 'VhostUserBlk.ImageError';` */
export type VhostUserBlkErrorName = (typeof VHOST_USER_BLK_ERROR_NAMES)[number];

/**
 * Whether `e` is an error of this package (optionally of one name). Tests the name, so it works
 * across copies of the package.
 * @param e - anything caught.
 * @param name - a specific error name.
 * @returns true if `e` is such an error.
 * @example
 * ```ts
 * if (isVhostUserBlkError(e, 'VhostUserBlk.ImageError')) process.exitCode = 1;
 * ```
 */
export const isVhostUserBlkError: ErrorGuard<VhostUserBlkError, VhostUserBlkErrorName> = errorGuard('VhostUserBlk', VHOST_USER_BLK_ERROR_NAMES);
