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
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Options of a {@link QueueError}.
 * @example
 * ```ts
 * const options: QueueErrorOptions = { details: 'head 300 >= size 256', cause: err };
 * ```
 */
export type QueueErrorOptions = VmvErrorOptions;

/**
 * Base class of every error @vmv/queue throws for guest-controlled input.
 *
 * @example
 * ```ts
 * try { chain = queue.pop(); } catch (e) { if (isQueueError(e)) ctx.needsReset(e); }
 * ```
 */
export class QueueError extends VmvError {
  override readonly name: string = 'Queue.Error';
}

// ---------------------------------------------------------------------------------------------
// Configuration (VIRTIO 1.2 §2.7, §2.8, §4.2.2 register writes)

/**
 * The queue size is zero, not a power of two (split ring), above 32768 or above the device's
 * maximum (VIRTIO 1.2 §2.6, §2.7).
 */
export class InvalidSizeError extends QueueError {
  override readonly name = 'Queue.InvalidSizeError' as const;
  /** @param details - the value and the rule it breaks. */
  constructor(details: string) {
    super('INVALID_SIZE', 'Invalid queue size', { details });
  }
}

/**
 * A ring area address is not aligned as VIRTIO 1.2 §2.7 (16/2/4) or §2.8.10 (16/4/4) requires.
 */
export class MisalignedAreaError extends QueueError {
  override readonly name = 'Queue.MisalignedAreaError' as const;
  /** @param details - the area, its address and the alignment required. */
  constructor(details: string) {
    super('MISALIGNED_AREA', 'Misaligned queue area', { details });
  }
}

/**
 * A ring area does not lie inside one region of guest memory (or the used/device area lies in
 * read-only memory).
 */
export class AreaOutOfMemoryError extends QueueError {
  override readonly name = 'Queue.AreaOutOfMemoryError' as const;
  /**
   * @param details - the area and its range.
   * @param cause - the memory error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('AREA_OUT_OF_MEMORY', 'Queue area outside guest memory', { details, cause });
  }
}

/**
 * Two of the descriptor, driver and device areas overlap.
 */
export class OverlappingAreasError extends QueueError {
  override readonly name = 'Queue.OverlappingAreasError' as const;
  /** @param details - the two areas and their ranges. */
  constructor(details: string) {
    super('OVERLAPPING_AREAS', 'Queue areas overlap', { details });
  }
}

/**
 * A virtqueue was requested from a configuration whose `ready` is false.
 */
export class NotReadyError extends QueueError {
  override readonly name = 'Queue.NotReadyError' as const;
  constructor() {
    super('NOT_READY', 'Queue is not ready');
  }
}

// ---------------------------------------------------------------------------------------------
// Ring errors: malformed guest data (VIRTIO 1.2 §2.7.5-2.7.8, §2.8); they break the queue.

/**
 * `avail.idx` is more than the queue size ahead of the device's next available index
 * (VIRTIO 1.2 §2.7.6; rust-vmm's "DoS hang fix").
 */
export class InvalidAvailIndexError extends QueueError {
  override readonly name = 'Queue.InvalidAvailIndexError' as const;
  /** @param details - the index read and the device's next available index. */
  constructor(details: string) {
    super('INVALID_AVAIL_INDEX', 'Invalid available ring index', { details });
  }
}

/**
 * A head index in the available ring, or a `next` field, is not below the queue size (or the
 * indirect table's entry count).
 */
export class InvalidDescriptorIndexError extends QueueError {
  override readonly name = 'Queue.InvalidDescriptorIndexError' as const;
  /** @param details - the index and the bound. */
  constructor(details: string) {
    super('INVALID_DESCRIPTOR_INDEX', 'Descriptor index out of range', { details });
  }
}

/**
 * A chain has more descriptors than the queue size (or the indirect table's entry count): a
 * loop, or a chain no conforming driver builds (VIRTIO 1.2 §2.7.5.3.1, §2.8.7).
 */
export class ChainTooLongError extends QueueError {
  override readonly name = 'Queue.ChainTooLongError' as const;
  /** @param details - the bound that was reached. */
  constructor(details: string) {
    super('CHAIN_TOO_LONG', 'Descriptor chain too long (loop?)', { details });
  }
}

/**
 * The total length of a chain's buffers exceeds 2^32 bytes (VIRTIO 1.2 §2.7.5.2).
 */
export class ChainLengthOverflowError extends QueueError {
  override readonly name = 'Queue.ChainLengthOverflowError' as const;
  /** @param details - the total reached. */
  constructor(details: string) {
    super('CHAIN_LENGTH_OVERFLOW', 'Descriptor chain longer than 2^32 bytes', { details });
  }
}

/**
 * An indirect descriptor the rules forbid: VIRTIO_F_INDIRECT_DESC not negotiated, an indirect
 * descriptor inside an indirect table, or an indirect descriptor that also has NEXT
 * (VIRTIO 1.2 §2.7.5.3, §2.8.19).
 */
export class InvalidIndirectDescriptorError extends QueueError {
  override readonly name = 'Queue.InvalidIndirectDescriptorError' as const;
  /** @param details - which rule. */
  constructor(details: string) {
    super('INVALID_INDIRECT_DESCRIPTOR', 'Invalid indirect descriptor', { details });
  }
}

/**
 * An indirect table whose length is zero, not a multiple of 16, or more than 65536 entries
 * (VIRTIO 1.2 §2.7.5.3.1).
 */
export class InvalidIndirectTableError extends QueueError {
  override readonly name = 'Queue.InvalidIndirectTableError' as const;
  /** @param details - the table's length. */
  constructor(details: string) {
    super('INVALID_INDIRECT_TABLE', 'Invalid indirect descriptor table', { details });
  }
}

/**
 * A device-readable descriptor follows a device-writable one (VIRTIO 1.2 §2.7.4.2: "the driver
 * MUST place any device-writable descriptor elements after any device-readable ones").
 */
export class ReadableAfterWritableError extends QueueError {
  override readonly name = 'Queue.ReadableAfterWritableError' as const;
  /** @param details - the position in the chain. */
  constructor(details: string) {
    super('READABLE_AFTER_WRITABLE', 'Device-readable descriptor after a device-writable one', { details });
  }
}

/**
 * A descriptor's buffer (or an indirect table) is not inside guest memory, or a device-writable
 * buffer lies in read-only memory.
 */
export class BufferOutOfMemoryError extends QueueError {
  override readonly name = 'Queue.BufferOutOfMemoryError' as const;
  /**
   * @param details - the buffer's address and length.
   * @param cause - the memory error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('BUFFER_OUT_OF_MEMORY', 'Descriptor buffer outside guest memory', { details, cause });
  }
}

/**
 * A packed-ring buffer ID that is already in flight (made available again before the device
 * used it; VIRTIO 1.2 §2.8.4).
 */
export class DuplicateBufferIdError extends QueueError {
  override readonly name = 'Queue.DuplicateBufferIdError' as const;
  /** @param details - the buffer ID. */
  constructor(details: string) {
    super('DUPLICATE_BUFFER_ID', 'Buffer ID already in flight', { details });
  }
}

/**
 * A packed-ring descriptor after the first of a list is not marked available for the wrap
 * counter of its position: the driver made the first descriptor available before the rest of
 * the list, or the list runs into descriptors it does not own (VIRTIO 1.2 §2.8.17 "A driver MUST
 * NOT make the first descriptor in the list available before all subsequent descriptors
 * comprising the list are made available"; §2.8.15 "A device MUST NOT use a descriptor unless it
 * observes the VIRTQ_DESC_F_AVAIL bit in its flags being changed").
 */
export class DescriptorNotAvailableError extends QueueError {
  override readonly name = 'Queue.DescriptorNotAvailableError' as const;
  /** @param details - the ring position and the flags found there. */
  constructor(details: string) {
    super('DESCRIPTOR_NOT_AVAILABLE', 'Descriptor of a list not available', { details });
  }
}

/**
 * Popping one more chain would leave more buffers in flight than the queue size: the driver made
 * buffers available whose descriptors the device still holds (split: more than `size` chains
 * popped and not used; packed: more ring slots in flight than `size`, VIRTIO 1.2 §2.8.17 "A
 * driver MUST make sure there's enough space in the ring for the whole list"). QEMU refuses the
 * same ("Virtqueue size exceeded").
 */
export class QueueSizeExceededError extends QueueError {
  override readonly name = 'Queue.QueueSizeExceededError' as const;
  /** @param details - the counts involved. */
  constructor(details: string) {
    super('QUEUE_SIZE_EXCEEDED', 'More buffers in flight than the queue size', { details });
  }
}

/**
 * A ring area can no longer be accessed (the guest memory it lived in went away or changed).
 */
export class RingAccessError extends QueueError {
  override readonly name = 'Queue.RingAccessError' as const;
  /**
   * @param details - which area.
   * @param cause - the memory error.
   */
  constructor(details: string, cause?: unknown) {
    super('RING_ACCESS', 'Ring area not accessible', { details, cause });
  }
}

/**
 * The queue hit a ring error earlier and stays unusable until `reset()`; `cause` is the first
 * error. Thrown by `pop()`; the device should set DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.1).
 */
export class BrokenError extends QueueError {
  override readonly name = 'Queue.BrokenError' as const;
  /** @param cause - the error that broke the queue. */
  constructor(cause: QueueError) {
    super('BROKEN', 'Queue is broken until reset', { details: cause.message, cause });
  }
}

/**
 * A driver-side error: the device wrote a used element that a conforming device never writes
 * (an ID not in flight, a length beyond the buffers). Thrown by `@vmv/queue/driver` only.
 */
export class BadUsedElementError extends QueueError {
  override readonly name = 'Queue.BadUsedElementError' as const;
  /** @param details - the element. */
  constructor(details: string) {
    super('BAD_USED_ELEMENT', 'Device wrote an invalid used element', { details });
  }
}

// ---------------------------------------------------------------------------------------------
// Request and state errors: they do not break the queue.

/**
 * A byte cursor ran past the end of the chain's readable (or writable) buffers: the guest
 * supplied fewer bytes than the request needs. Answer with a virtio status.
 */
export class BufferTooShortError extends QueueError {
  override readonly name = 'Queue.BufferTooShortError' as const;
  /** @param details - what was asked and what remained. */
  constructor(details: string) {
    super('BUFFER_TOO_SHORT', 'Descriptor chain buffers too short', { details });
  }
}

/**
 * Saved queue state that cannot be restored (wrong shape, values out of range, indices that do
 * not agree with the ring in guest memory).
 */
export class InvalidStateError extends QueueError {
  override readonly name = 'Queue.InvalidStateError' as const;
  /**
   * @param details - the field and the rule it breaks.
   * @param cause - an underlying error, when there is one.
   */
  constructor(details: string, cause?: unknown) {
    super('INVALID_STATE', 'Invalid queue state', { details, cause });
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
export const isQueueError: ErrorGuard<QueueError, QueueErrorName> = errorGuard('Queue', QUEUE_ERROR_NAMES);
