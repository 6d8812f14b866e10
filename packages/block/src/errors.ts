/**
 * Errors of @vmv/block. Guest input never produces one of these: a malformed request gets a
 * virtio status (IOERR or UNSUPP). They come from backends called outside their contract, from
 * the host's storage, and from restoring a snapshot. Guards test `name`, never `instanceof`.
 * @module
 */

/** Options common to every @vmv/block error. @example `new BlockError('X', 'summary', { details: 'why', cause: e })` */
export interface BlockErrorOptions {
  /** Longer explanation for logs. */
  details?: string;
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * Base class of every @vmv/block error.
 * @example
 * ```ts
 * try { await backend.write(0, [data]); } catch (e) { if (isBlockError(e)) console.log(e.code); }
 * ```
 */
export class BlockError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** One-line summary, without details. */
  readonly shortMessage: string;
  /** Longer explanation, when there is one. */
  readonly details: string | undefined;

  /**
   * @param code - stable machine-readable code.
   * @param shortMessage - one line saying what went wrong.
   * @param options - details and cause.
   */
  constructor(code: string, shortMessage: string, options: BlockErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'Block.Error';
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/**
 * A write-type operation (write, discard, write zeroes, secure erase) on a read-only backend.
 * @example
 * ```ts
 * isBlockError(e, 'Block.ReadOnlyError')
 * ```
 */
export class ReadOnlyError extends BlockError {
  /** @param operation - the refused operation. */
  constructor(operation: string) {
    super('READ_ONLY', 'The backend is read-only', { details: `${operation} refused` });
    this.name = 'Block.ReadOnlyError';
  }
}

/**
 * A backend operation outside the backend's size (the device never issues one; a direct caller can).
 * @example
 * ```ts
 * isBlockError(e, 'Block.OutOfRangeError')
 * ```
 */
export class OutOfRangeError extends BlockError {
  /** @param details - the range and the size. */
  constructor(details: string) {
    super('OUT_OF_RANGE', 'Backend access out of range', { details });
    this.name = 'Block.OutOfRangeError';
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
  /** The system error code (`EIO`, `ENOSPC`, ...) or undefined. */
  readonly errno: string | undefined;
  /**
   * @param operation - what was being done (`pread 4096 bytes at 8192`).
   * @param cause - the underlying error.
   */
  constructor(operation: string, cause: unknown) {
    const errno = typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'string' ? (cause as { code: string }).code : undefined;
    super('IO_ERROR', `Backend I/O failed${errno ? ` (${errno})` : ''}`, { details: operation, cause });
    this.name = 'Block.IoError';
    this.errno = errno;
  }
}

/**
 * Saved device state that cannot be restored.
 * @example
 * ```ts
 * isBlockError(e, 'Block.InvalidSnapshotError')
 * ```
 */
export class InvalidSnapshotError extends BlockError {
  /**
   * @param field - the offending field.
   * @param details - what is wrong with it.
   */
  constructor(field: string, details: string) {
    super('INVALID_SNAPSHOT', `Invalid block device snapshot: ${field}`, { details });
    this.name = 'Block.InvalidSnapshotError';
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
export function isBlockError(e: unknown, name?: BlockErrorName): e is BlockError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  if (typeof n !== 'string' || !n.startsWith('Block.')) return false;
  return name === undefined || n === name;
}
