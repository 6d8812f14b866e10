/**
 * Errors of @vmv/queue.
 *
 * One base class, {@link QueueError}, with a stable `name` (`Queue.<Thing>Error`) and `code` per
 * subclass. Guards test `name`, never `instanceof`, because two copies of the package in one
 * program break `instanceof`.
 *
 * Three families:
 * - configuration errors (a value a driver wrote to a transport register): `Queue.InvalidSizeError`,
 *   `Queue.MisalignedAreaError`, `Queue.AreaOutOfMemoryError`, `Queue.OverlappingAreasError`,
 *   `Queue.NotReadyError`;
 * - ring errors (malformed guest data found by `pop()` or a ring access): they **break** the queue;
 *   every later `pop()` throws `Queue.BrokenError` (whose `cause` is the first error) until
 *   `reset()`, so the device can set DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.1); the other operations
 *   do nothing harmful meanwhile (see `Virtqueue`: completions are dropped);
 * - request errors that do not break the queue: `Queue.BufferTooShortError` from a byte cursor
 *   (the guest supplied fewer bytes than the device needs: answer with a virtio status), and
 *   `Queue.InvalidStateError` from a restore.
 *
 * Embedder misuse (a wrong argument from the host program) is a `TypeError` or `RangeError`.
 * @module
 */

/**
 * Options of a {@link QueueError}.
 * @example
 * ```ts
 * const options: QueueErrorOptions = { details: 'head 300 >= size 256', cause: err };
 * ```
 */
export interface QueueErrorOptions {
  /** Longer explanation for logs (the values involved). */
  readonly details?: string;
  /** The error this one wraps (for example a `GuestMemory.*` error). */
  readonly cause?: unknown;
}

/**
 * Base class of every error @vmv/queue throws for guest-controlled input.
 *
 * @example
 * ```ts
 * try { chain = queue.pop(); } catch (e) { if (isQueueError(e)) ctx.needsReset(e); }
 * ```
 */
export class QueueError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_AVAIL_INDEX`. */
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
  constructor(code: string, shortMessage: string, options: QueueErrorOptions = {}) {
    super(
      options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'Queue.Error';
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration (VIRTIO 1.2 §2.7, §2.8, §4.2.2 register writes)

/**
 * The queue size is zero, not a power of two (split ring), above 32768 or above the device's
 * maximum (VIRTIO 1.2 §2.6, §2.7).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidSizeError')
 * ```
 */
export class InvalidSizeError extends QueueError {
  /** @param details - the value and the rule it breaks. */
  constructor(details: string) {
    super('INVALID_SIZE', 'Invalid queue size', { details });
    this.name = 'Queue.InvalidSizeError';
  }
}

/**
 * A ring area address is not aligned as VIRTIO 1.2 §2.7 (16/2/4) or §2.8.10 (16/4/4) requires.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.MisalignedAreaError')
 * ```
 */
export class MisalignedAreaError extends QueueError {
  /** @param details - the area, its address and the alignment required. */
  constructor(details: string) {
    super('MISALIGNED_AREA', 'Misaligned queue area', { details });
    this.name = 'Queue.MisalignedAreaError';
  }
}

/**
 * A ring area does not lie inside one region of guest memory (or the used/device area lies in
 * read-only memory).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.AreaOutOfMemoryError')
 * ```
 */
export class AreaOutOfMemoryError extends QueueError {
  /**
   * @param details - the area and its range.
   * @param cause - the memory error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('AREA_OUT_OF_MEMORY', 'Queue area outside guest memory', { details, cause });
    this.name = 'Queue.AreaOutOfMemoryError';
  }
}

/**
 * Two of the descriptor, driver and device areas overlap.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.OverlappingAreasError')
 * ```
 */
export class OverlappingAreasError extends QueueError {
  /** @param details - the two areas and their ranges. */
  constructor(details: string) {
    super('OVERLAPPING_AREAS', 'Queue areas overlap', { details });
    this.name = 'Queue.OverlappingAreasError';
  }
}

/**
 * A virtqueue was requested from a configuration whose `ready` is false.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.NotReadyError')
 * ```
 */
export class NotReadyError extends QueueError {
  constructor() {
    super('NOT_READY', 'Queue is not ready');
    this.name = 'Queue.NotReadyError';
  }
}

// ---------------------------------------------------------------------------------------------
// Ring errors: malformed guest data (VIRTIO 1.2 §2.7.5-2.7.8, §2.8); they break the queue.

/**
 * `avail.idx` is more than the queue size ahead of the device's next available index
 * (VIRTIO 1.2 §2.7.6; rust-vmm's "DoS hang fix").
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidAvailIndexError')
 * ```
 */
export class InvalidAvailIndexError extends QueueError {
  /** @param details - the index read and the device's next available index. */
  constructor(details: string) {
    super('INVALID_AVAIL_INDEX', 'Invalid available ring index', { details });
    this.name = 'Queue.InvalidAvailIndexError';
  }
}

/**
 * A head index in the available ring, or a `next` field, is not below the queue size (or the
 * indirect table's entry count).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidDescriptorIndexError')
 * ```
 */
export class InvalidDescriptorIndexError extends QueueError {
  /** @param details - the index and the bound. */
  constructor(details: string) {
    super('INVALID_DESCRIPTOR_INDEX', 'Descriptor index out of range', { details });
    this.name = 'Queue.InvalidDescriptorIndexError';
  }
}

/**
 * A chain has more descriptors than the queue size (or the indirect table's entry count): a
 * loop, or a chain no conforming driver builds (VIRTIO 1.2 §2.7.5.3.1, §2.8.7).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.ChainTooLongError')
 * ```
 */
export class ChainTooLongError extends QueueError {
  /** @param details - the bound that was reached. */
  constructor(details: string) {
    super('CHAIN_TOO_LONG', 'Descriptor chain too long (loop?)', { details });
    this.name = 'Queue.ChainTooLongError';
  }
}

/**
 * The total length of a chain's buffers exceeds 2^32 bytes (VIRTIO 1.2 §2.7.5.2).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.ChainLengthOverflowError')
 * ```
 */
export class ChainLengthOverflowError extends QueueError {
  /** @param details - the total reached. */
  constructor(details: string) {
    super('CHAIN_LENGTH_OVERFLOW', 'Descriptor chain longer than 2^32 bytes', { details });
    this.name = 'Queue.ChainLengthOverflowError';
  }
}

/**
 * An indirect descriptor the rules forbid: VIRTIO_F_INDIRECT_DESC not negotiated, an indirect
 * descriptor inside an indirect table, or an indirect descriptor that also has NEXT
 * (VIRTIO 1.2 §2.7.5.3, §2.8.19).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidIndirectDescriptorError')
 * ```
 */
export class InvalidIndirectDescriptorError extends QueueError {
  /** @param details - which rule. */
  constructor(details: string) {
    super('INVALID_INDIRECT_DESCRIPTOR', 'Invalid indirect descriptor', { details });
    this.name = 'Queue.InvalidIndirectDescriptorError';
  }
}

/**
 * An indirect table whose length is zero, not a multiple of 16, or more than 65536 entries
 * (VIRTIO 1.2 §2.7.5.3.1).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidIndirectTableError')
 * ```
 */
export class InvalidIndirectTableError extends QueueError {
  /** @param details - the table's length. */
  constructor(details: string) {
    super('INVALID_INDIRECT_TABLE', 'Invalid indirect descriptor table', { details });
    this.name = 'Queue.InvalidIndirectTableError';
  }
}

/**
 * A device-readable descriptor follows a device-writable one (VIRTIO 1.2 §2.7.4.2: "the driver
 * MUST place any device-writable descriptor elements after any device-readable ones").
 * @example
 * ```ts
 * isQueueError(e, 'Queue.ReadableAfterWritableError')
 * ```
 */
export class ReadableAfterWritableError extends QueueError {
  /** @param details - the position in the chain. */
  constructor(details: string) {
    super('READABLE_AFTER_WRITABLE', 'Device-readable descriptor after a device-writable one', { details });
    this.name = 'Queue.ReadableAfterWritableError';
  }
}

/**
 * A descriptor's buffer (or an indirect table) is not inside guest memory, or a device-writable
 * buffer lies in read-only memory.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.BufferOutOfMemoryError')
 * ```
 */
export class BufferOutOfMemoryError extends QueueError {
  /**
   * @param details - the buffer's address and length.
   * @param cause - the memory error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('BUFFER_OUT_OF_MEMORY', 'Descriptor buffer outside guest memory', { details, cause });
    this.name = 'Queue.BufferOutOfMemoryError';
  }
}

/**
 * A packed-ring buffer ID that is already in flight (made available again before the device
 * used it; VIRTIO 1.2 §2.8.4).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.DuplicateBufferIdError')
 * ```
 */
export class DuplicateBufferIdError extends QueueError {
  /** @param details - the buffer ID. */
  constructor(details: string) {
    super('DUPLICATE_BUFFER_ID', 'Buffer ID already in flight', { details });
    this.name = 'Queue.DuplicateBufferIdError';
  }
}

/**
 * A packed-ring descriptor after the first of a list is not marked available for the wrap
 * counter of its position: the driver made the first descriptor available before the rest of
 * the list, or the list runs into descriptors it does not own (VIRTIO 1.2 §2.8.17 "A driver MUST
 * NOT make the first descriptor in the list available before all subsequent descriptors
 * comprising the list are made available"; §2.8.15 "A device MUST NOT use a descriptor unless it
 * observes the VIRTQ_DESC_F_AVAIL bit in its flags being changed").
 * @example
 * ```ts
 * isQueueError(e, 'Queue.DescriptorNotAvailableError')
 * ```
 */
export class DescriptorNotAvailableError extends QueueError {
  /** @param details - the ring position and the flags found there. */
  constructor(details: string) {
    super('DESCRIPTOR_NOT_AVAILABLE', 'Descriptor of a list not available', { details });
    this.name = 'Queue.DescriptorNotAvailableError';
  }
}

/**
 * Popping one more chain would leave more buffers in flight than the queue size: the driver made
 * buffers available whose descriptors the device still holds (split: more than `size` chains
 * popped and not used; packed: more ring slots in flight than `size`, VIRTIO 1.2 §2.8.17 "A
 * driver MUST make sure there's enough space in the ring for the whole list"). QEMU refuses the
 * same ("Virtqueue size exceeded").
 * @example
 * ```ts
 * isQueueError(e, 'Queue.QueueSizeExceededError')
 * ```
 */
export class QueueSizeExceededError extends QueueError {
  /** @param details - the counts involved. */
  constructor(details: string) {
    super('QUEUE_SIZE_EXCEEDED', 'More buffers in flight than the queue size', { details });
    this.name = 'Queue.QueueSizeExceededError';
  }
}

/**
 * A ring area can no longer be accessed (the guest memory it lived in went away or changed).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.RingAccessError')
 * ```
 */
export class RingAccessError extends QueueError {
  /**
   * @param details - which area.
   * @param cause - the memory error.
   */
  constructor(details: string, cause?: unknown) {
    super('RING_ACCESS', 'Ring area not accessible', { details, cause });
    this.name = 'Queue.RingAccessError';
  }
}

/**
 * The queue hit a ring error earlier and stays unusable until `reset()`; `cause` is the first
 * error. Thrown by `pop()`; the device should set DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.1).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.BrokenError')
 * ```
 */
export class BrokenError extends QueueError {
  /** @param cause - the error that broke the queue. */
  constructor(cause: QueueError) {
    super('BROKEN', 'Queue is broken until reset', { details: cause.message, cause });
    this.name = 'Queue.BrokenError';
  }
}

/**
 * A driver-side error: the device wrote a used element that a conforming device never writes
 * (an ID not in flight, a length beyond the buffers). Thrown by `@vmv/queue/driver` only.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.BadUsedElementError')
 * ```
 */
export class BadUsedElementError extends QueueError {
  /** @param details - the element. */
  constructor(details: string) {
    super('BAD_USED_ELEMENT', 'Device wrote an invalid used element', { details });
    this.name = 'Queue.BadUsedElementError';
  }
}

// ---------------------------------------------------------------------------------------------
// Request and state errors: they do not break the queue.

/**
 * A byte cursor ran past the end of the chain's readable (or writable) buffers: the guest
 * supplied fewer bytes than the request needs. Answer with a virtio status.
 * @example
 * ```ts
 * isQueueError(e, 'Queue.BufferTooShortError')
 * ```
 */
export class BufferTooShortError extends QueueError {
  /** @param details - what was asked and what remained. */
  constructor(details: string) {
    super('BUFFER_TOO_SHORT', 'Descriptor chain buffers too short', { details });
    this.name = 'Queue.BufferTooShortError';
  }
}

/**
 * Saved queue state that cannot be restored (wrong shape, values out of range, indices that do
 * not agree with the ring in guest memory).
 * @example
 * ```ts
 * isQueueError(e, 'Queue.InvalidStateError')
 * ```
 */
export class InvalidStateError extends QueueError {
  /**
   * @param details - the field and the rule it breaks.
   * @param cause - an underlying error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('INVALID_STATE', 'Invalid queue state', { details, cause });
    this.name = 'Queue.InvalidStateError';
  }
}

/**
 * Every error name @vmv/queue can produce.
 * @example
 * ```ts
 * QUEUE_ERROR_NAMES.includes(e.name)
 * ```
 */
export const QUEUE_ERROR_NAMES = [
  'Queue.Error',
  'Queue.InvalidSizeError',
  'Queue.MisalignedAreaError',
  'Queue.AreaOutOfMemoryError',
  'Queue.OverlappingAreasError',
  'Queue.NotReadyError',
  'Queue.InvalidAvailIndexError',
  'Queue.InvalidDescriptorIndexError',
  'Queue.ChainTooLongError',
  'Queue.ChainLengthOverflowError',
  'Queue.InvalidIndirectDescriptorError',
  'Queue.InvalidIndirectTableError',
  'Queue.ReadableAfterWritableError',
  'Queue.BufferOutOfMemoryError',
  'Queue.DuplicateBufferIdError',
  'Queue.RingAccessError',
  'Queue.BrokenError',
  'Queue.BadUsedElementError',
  'Queue.BufferTooShortError',
  'Queue.InvalidStateError',
  'Queue.DescriptorNotAvailableError',
  'Queue.QueueSizeExceededError',
] as const;

/** A name from {@link QUEUE_ERROR_NAMES}. @example `const n: QueueErrorName = 'Queue.BrokenError';` */
export type QueueErrorName = (typeof QUEUE_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/queue error, optionally of one name. Tests `name`, never `instanceof`.
 * @param e - anything caught.
 * @param name - a specific error name to match, such as `'Queue.InvalidAvailIndexError'`.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isQueueError(e, 'Queue.BufferTooShortError')) status = VIRTIO_BLK_S_IOERR;
 * ```
 */
export function isQueueError(e: unknown, name?: QueueErrorName): e is QueueError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  if (typeof n !== 'string') return false;
  if (name !== undefined) return n === name;
  return (QUEUE_ERROR_NAMES as readonly string[]).includes(n);
}
