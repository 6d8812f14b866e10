/**
 * Errors of @vmv/block. Guest input never produces one of these: a malformed request gets a
 * virtio status (IOERR or UNSUPP). They come from backends called outside their contract, from
 * the host's storage, and from restoring a snapshot. Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/** Options common to every @vmv/block error. @example `new BlockError('X', 'summary', { details: 'why', cause: e })` */
export type BlockErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/block error.
 * @example
 * ```ts
 * try { await backend.write(0, [data]); } catch (e) { if (isBlockError(e)) console.log(e.code); }
 * ```
 */
export class BlockError extends VmvError {
  override readonly name: string = 'Block.Error';
}

/**
 * A write-type operation (write, discard, write zeroes, secure erase) on a read-only backend.
 */
export class ReadOnlyError extends BlockError {
  override readonly name = 'Block.ReadOnlyError' as const;
  /** @param operation - the refused operation. */
  constructor(operation: string) {
    super('READ_ONLY', 'The backend is read-only', { details: `${operation} refused` });
  }
}

/**
 * A backend operation outside the backend's size (the device never issues one; a direct caller can).
 */
export class OutOfRangeError extends BlockError {
  override readonly name = 'Block.OutOfRangeError' as const;
  /** @param details - the range and the size. */
  constructor(details: string) {
    super('OUT_OF_RANGE', 'Backend access out of range', { details });
  }
}

/**
 * The host storage failed (EIO, ENOSPC, ...). `errno` holds the system error code when known.
 * The device answers the request that hit it with IOERR.
 * @example
 * ```ts
 * if (isBlockError(e, 'Block.IoError')) console.log(e.errno); // 'ENOSPC'
 * ```
 */
export class IoError extends BlockError {
  override readonly name = 'Block.IoError' as const;
  /** The system error code (`EIO`, `ENOSPC`, ...) or undefined. */
  readonly errno: string | undefined;
  /**
   * @param operation - what was being done (`pread 4096 bytes at 8192`).
   * @param cause - the underlying error.
   */
  constructor(operation: string, cause: unknown) {
    const errno = typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'string' ? (cause as { code: string }).code : undefined;
    super('IO_ERROR', `Backend I/O failed${errno ? ` (${errno})` : ''}`, { details: operation, cause });
    this.errno = errno;
  }
}

/**
 * Saved device state that cannot be restored.
 */
export class InvalidSnapshotError extends BlockError {
  override readonly name = 'Block.InvalidSnapshotError' as const;
  /**
   * @param field - the offending field.
   * @param details - what is wrong with it.
   */
  constructor(field: string, details: string) {
    super('INVALID_SNAPSHOT', `Invalid block device snapshot: ${field}`, { details });
  }
}

/** Every error name @vmv/block can produce. @example `BLOCK_ERROR_NAMES.includes(e.name)` */
export const BLOCK_ERROR_NAMES = ['Block.Error', 'Block.ReadOnlyError', 'Block.OutOfRangeError', 'Block.IoError', 'Block.InvalidSnapshotError'] as const;
/** One of {@link BLOCK_ERROR_NAMES}. @example `const n: BlockErrorName = 'Block.IoError';` */
export type BlockErrorName = (typeof BLOCK_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/block error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isBlockError(e, 'Block.ReadOnlyError')) return;
 * ```
 */
export const isBlockError: ErrorGuard<BlockError, BlockErrorName> = errorGuard('Block', BLOCK_ERROR_NAMES);
