/**
 * Errors of @vmv/memory.
 *
 * One base class, {@link GuestMemoryError}, with a stable `name` and `code` per subclass.
 * Guards test `name` (never `instanceof`), because two copies of the package break `instanceof`.
 * Embedder misuse (a wrong argument from the host program) is a `TypeError` or `RangeError`
 * instead, never one of these.
 *
 * @module
 */

/**
 * Details attached to a guest memory error: the access that failed, when there is one.
 * @example
 * ```ts
 * if (isGuestMemoryError(e)) console.log(e.details?.badAddress);
 * ```
 */
export interface GuestMemoryErrorDetails {
  /** The first guest address of the access. */
  readonly address?: bigint;
  /** Length of the access in bytes. */
  readonly length?: number;
  /** The first guest address the access could not reach (for out-of-bounds accesses). */
  readonly badAddress?: bigint;
  /** Which operation failed, e.g. `readU32`. */
  readonly operation?: string;
  /** Index of the region concerned, when there is one. */
  readonly regionIndex?: number;
}

/**
 * Options of a {@link GuestMemoryError}.
 * @example
 * ```ts
 * new GuestMemoryError('bad', { code: 'X', cause: inner });
 * ```
 */
export interface GuestMemoryErrorOptions {
  /** Stable machine-readable code, e.g. `OUT_OF_BOUNDS`. */
  readonly code: string;
  /** What the access was. */
  readonly details?: GuestMemoryErrorDetails;
  /** The error this one wraps. */
  readonly cause?: unknown;
}

/**
 * Base class of every error @vmv/memory throws for a failed guest access or a bad layout.
 *
 * @example
 * ```ts
 * try { mem.readU32(0xdead_0000) } catch (e) { if (isGuestMemoryError(e)) console.log(e.code) }
 * ```
 */
export class GuestMemoryError extends Error {
  /** Stable machine-readable code, e.g. `OUT_OF_BOUNDS`. */
  readonly code: string;
  /** The message without the details. */
  readonly shortMessage: string;
  /** The access that failed. */
  readonly details: GuestMemoryErrorDetails | undefined;

  /**
   * @param shortMessage - one line saying what went wrong.
   * @param options - code, details and cause.
   */
  constructor(shortMessage: string, options: GuestMemoryErrorOptions) {
    super(shortMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
  override name = 'GuestMemoryError';
}

/**
 * A byte of the access is not backed by any region (including an access crossing a hole).
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.OutOfBoundsError')
 * ```
 */
export class OutOfBoundsError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the failed access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'OUT_OF_BOUNDS', details });
  }
  override name = 'GuestMemory.OutOfBoundsError' as const;
}

/**
 * The access would run past the top of the 64-bit address space (`addr + length > 2^64`).
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.AddressOverflowError')
 * ```
 */
export class AddressOverflowError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the failed access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'ADDRESS_OVERFLOW', details });
  }
  override name = 'GuestMemory.AddressOverflowError' as const;
}

/**
 * A write touches a read-only region. Nothing was written.
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.ReadOnlyError')
 * ```
 */
export class ReadOnlyError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the failed access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'READ_ONLY', details });
  }
  override name = 'GuestMemory.ReadOnlyError' as const;
}

/**
 * An atomic access is not naturally aligned (in guest or host memory).
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.MisalignedError')
 * ```
 */
export class MisalignedError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the failed access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'MISALIGNED', details });
  }
  override name = 'GuestMemory.MisalignedError' as const;
}

/**
 * A zero-copy view or an atomic access was asked for a range that is backed, but by more than
 * one region.
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.NotContiguousError')
 * ```
 */
export class NotContiguousError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the failed access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'NOT_CONTIGUOUS', details });
  }
  override name = 'GuestMemory.NotContiguousError' as const;
}

/**
 * A region list is not a valid address space: empty, unsorted, overlapping, an empty region,
 * a region ending beyond 2^64, a window outside its backing, or a backing offset that is not a
 * multiple of 8.
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.InvalidLayoutError')
 * ```
 */
export class InvalidLayoutError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the region concerned.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'INVALID_LAYOUT', details });
  }
  override name = 'GuestMemory.InvalidLayoutError' as const;
}

/**
 * A u64 read as a number does not fit in a safe integer (it is above 2^53 - 1): use the bigint
 * form instead.
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.ValueTooLargeError')
 * ```
 */
export class ValueTooLargeError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'VALUE_TOO_LARGE', details });
  }
  override name = 'GuestMemory.ValueTooLargeError' as const;
}

/**
 * The region's backing buffer was detached (for example a native mapping closed by its owner,
 * or an ArrayBuffer transferred away) and the access cannot be served. A WebAssembly.Memory
 * whose buffer was replaced by `grow()` is not detached in this sense: the region follows it.
 * @example
 * ```ts
 * isGuestMemoryError(e, 'GuestMemory.DetachedError')
 * ```
 */
export class DetachedError extends GuestMemoryError {
  /**
   * @param shortMessage - what went wrong.
   * @param details - the access.
   */
  constructor(shortMessage: string, details?: GuestMemoryErrorDetails) {
    super(shortMessage, { code: 'DETACHED', details });
  }
  override name = 'GuestMemory.DetachedError' as const;
}

/**
 * Every error name @vmv/memory can throw for a guest access or a layout.
 * @example
 * ```ts
 * const name: GuestMemoryErrorName = 'GuestMemory.OutOfBoundsError';
 * ```
 */
export type GuestMemoryErrorName =
  | 'GuestMemory.OutOfBoundsError'
  | 'GuestMemory.AddressOverflowError'
  | 'GuestMemory.ReadOnlyError'
  | 'GuestMemory.MisalignedError'
  | 'GuestMemory.NotContiguousError'
  | 'GuestMemory.InvalidLayoutError'
  | 'GuestMemory.ValueTooLargeError'
  | 'GuestMemory.DetachedError';

/**
 * The list of {@link GuestMemoryErrorName}s, e.g. for an allowlist in a property test.
 * @example
 * ```ts
 * expect(GUEST_MEMORY_ERROR_NAMES).toContain((e as Error).name);
 * ```
 */
export const GUEST_MEMORY_ERROR_NAMES: readonly GuestMemoryErrorName[] = Object.freeze([
  'GuestMemory.OutOfBoundsError',
  'GuestMemory.AddressOverflowError',
  'GuestMemory.ReadOnlyError',
  'GuestMemory.MisalignedError',
  'GuestMemory.NotContiguousError',
  'GuestMemory.InvalidLayoutError',
  'GuestMemory.ValueTooLargeError',
  'GuestMemory.DetachedError',
]);

/**
 * Tells whether `e` is an error of @vmv/memory (by its `name`, so it works across copies of
 * the package), optionally of one given name.
 *
 * @param e - anything caught.
 * @param name - a {@link GuestMemoryErrorName} to match exactly.
 * @returns true if `e` is such an error.
 * @example
 * ```ts
 * if (isGuestMemoryError(e, 'GuestMemory.OutOfBoundsError')) status = VIRTIO_BLK_S_IOERR;
 * ```
 */
export function isGuestMemoryError(e: unknown, name?: GuestMemoryErrorName): e is GuestMemoryError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  if (typeof n !== 'string') return false;
  if (name !== undefined) return n === name;
  return n === 'GuestMemoryError' || (GUEST_MEMORY_ERROR_NAMES as readonly string[]).includes(n);
}
