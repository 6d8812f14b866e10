/**
 * Errors of @vmv/memory.
 *
 * One base class, {@link GuestMemoryError} (`'GuestMemory.Error'`, derived from `@vmv/errors`'s
 * `VmvError`), with a stable `name` (`'GuestMemory.<Thing>Error'`) and `code` per subclass. The
 * access that failed is in typed fields (`address`, `length`, `badAddress`, `operation`,
 * `regionIndex`). Guards test `name` (never `instanceof`), because two copies of the package break
 * `instanceof`. Embedder misuse (a wrong argument from the host program) is a `TypeError` or
 * `RangeError` instead, never one of these.
 *
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * The access a guest memory error is about, when there is one.
 * @example
 * ```ts
 * const access: GuestMemoryAccess = { operation: 'readU32', address: 0x1000n, length: 4 };
 * ```
 */
export interface GuestMemoryAccess {
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
 * Options of a {@link GuestMemoryError}: the shared details and cause, and the failed access.
 * @example
 * ```ts
 * const options: GuestMemoryErrorOptions = { access: { address: 0x1000n, length: 4 }, cause: inner };
 * ```
 */
export interface GuestMemoryErrorOptions extends VmvErrorOptions {
  /** The access that failed. */
  readonly access?: GuestMemoryAccess | undefined;
}

/**
 * Base class of every error @vmv/memory throws for a failed guest access or a bad layout.
 *
 * @example
 * ```ts
 * try { mem.readU32(0xdead_0000) } catch (e) { if (isGuestMemoryError(e)) console.log(e.code, e.badAddress) }
 * ```
 */
export class GuestMemoryError extends VmvError {
  override readonly name: string = 'GuestMemory.Error';
  /** The first guest address of the failed access. */
  readonly address: bigint | undefined;
  /** Length of the failed access in bytes. */
  readonly length: number | undefined;
  /** The first guest address the access could not reach (out-of-bounds and read-only accesses). */
  readonly badAddress: bigint | undefined;
  /** Which operation failed, e.g. `readU32`. */
  readonly operation: string | undefined;
  /** Index of the region concerned, when there is one. */
  readonly regionIndex: number | undefined;

  /**
   * @param code - stable machine-readable code, e.g. `OUT_OF_BOUNDS`.
   * @param shortMessage - one line saying what went wrong.
   * @param options - the failed access, details and cause.
   */
  constructor(code: string, shortMessage: string, options: GuestMemoryErrorOptions = {}) {
    super(code, shortMessage, options);
    const access = options.access ?? {};
    this.address = access.address;
    this.length = access.length;
    this.badAddress = access.badAddress;
    this.operation = access.operation;
    this.regionIndex = access.regionIndex;
  }
}

/**
 * A byte of the access is not backed by any region (including an access crossing a hole).
 */
export class OutOfBoundsError extends GuestMemoryError {
  override readonly name = 'GuestMemory.OutOfBoundsError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the failed access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('OUT_OF_BOUNDS', shortMessage, { access });
  }
}

/**
 * The access would run past the top of the 64-bit address space (`addr + length > 2^64`).
 */
export class AddressOverflowError extends GuestMemoryError {
  override readonly name = 'GuestMemory.AddressOverflowError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the failed access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('ADDRESS_OVERFLOW', shortMessage, { access });
  }
}

/**
 * A write touches a read-only region. Nothing was written.
 */
export class ReadOnlyError extends GuestMemoryError {
  override readonly name = 'GuestMemory.ReadOnlyError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the failed access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('READ_ONLY', shortMessage, { access });
  }
}

/**
 * An atomic access is not naturally aligned (in guest or host memory).
 */
export class MisalignedError extends GuestMemoryError {
  override readonly name = 'GuestMemory.MisalignedError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the failed access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('MISALIGNED', shortMessage, { access });
  }
}

/**
 * A zero-copy view or an atomic access was asked for a range that is backed, but by more than
 * one region.
 */
export class NotContiguousError extends GuestMemoryError {
  override readonly name = 'GuestMemory.NotContiguousError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the failed access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('NOT_CONTIGUOUS', shortMessage, { access });
  }
}

/**
 * A region list is not a valid address space: empty, unsorted, overlapping, an empty region,
 * a region ending beyond 2^64, a window outside its backing, or a backing offset that is not a
 * multiple of 8.
 */
export class InvalidLayoutError extends GuestMemoryError {
  override readonly name = 'GuestMemory.InvalidLayoutError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the region concerned.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('INVALID_LAYOUT', shortMessage, { access });
  }
}

/**
 * A u64 read as a number does not fit in a safe integer (it is above 2^53 - 1): use the bigint
 * form instead.
 */
export class ValueTooLargeError extends GuestMemoryError {
  override readonly name = 'GuestMemory.ValueTooLargeError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('VALUE_TOO_LARGE', shortMessage, { access });
  }
}

/**
 * The region's backing buffer was detached (for example a native mapping closed by its owner,
 * or an ArrayBuffer transferred away) and the access cannot be served. A WebAssembly.Memory
 * whose buffer was replaced by `grow()` is not detached in this sense: the region follows it.
 */
export class DetachedError extends GuestMemoryError {
  override readonly name = 'GuestMemory.DetachedError' as const;
  /**
   * @param shortMessage - what went wrong.
   * @param access - the access.
   */
  constructor(shortMessage: string, access?: GuestMemoryAccess) {
    super('DETACHED', shortMessage, { access });
  }
}

/**
 * Every error name @vmv/memory can produce, e.g. for an allowlist in a property test.
 * @example
 * ```ts
 * expect(GUEST_MEMORY_ERROR_NAMES).toContain((e as Error).name);
 * ```
 */
export const GUEST_MEMORY_ERROR_NAMES = [
  'GuestMemory.Error',
  'GuestMemory.OutOfBoundsError',
  'GuestMemory.AddressOverflowError',
  'GuestMemory.ReadOnlyError',
  'GuestMemory.MisalignedError',
  'GuestMemory.NotContiguousError',
  'GuestMemory.InvalidLayoutError',
  'GuestMemory.ValueTooLargeError',
  'GuestMemory.DetachedError',
] as const;

/**
 * One of {@link GUEST_MEMORY_ERROR_NAMES}.
 * @example
 * ```ts
 * const name: GuestMemoryErrorName = 'GuestMemory.OutOfBoundsError';
 * ```
 */
export type GuestMemoryErrorName = (typeof GUEST_MEMORY_ERROR_NAMES)[number];

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
export const isGuestMemoryError: ErrorGuard<GuestMemoryError, GuestMemoryErrorName> = errorGuard('GuestMemory', GUEST_MEMORY_ERROR_NAMES);
