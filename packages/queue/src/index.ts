/**
 * @packageDocumentation
 * Virtqueues, device side (VIRTIO 1.2 §2.6-2.8): split and packed rings behind one
 * {@link Virtqueue} interface, validated descriptor chains with byte cursors, notification
 * suppression (EVENT_IDX), state save/restore. The driver side is under `@vmv/queue/driver`.
 */
export type { Descriptor, DescriptorChain, GuestAddress, QueueState, Reader, RingFormat, Virtqueue, Writer } from './types.js';
export { QueueConfig } from './config.js';
export type { QueueArea } from './config.js';
export { createVirtqueue, restoreVirtqueue } from './create.js';
export { SplitQueue } from './split-queue.js';
export { PackedQueue } from './packed-queue.js';
export {
  DESCRIPTOR_SIZE,
  DescFlags,
  EventFlags,
  Feature,
  MAX_QUEUE_SIZE,
  RingFlags,
  packedRingSizes,
  splitRingSizes,
  vringNeedEvent,
} from './constants.js';
export {
  AreaOutOfMemoryError,
  BadUsedElementError,
  BrokenError,
  BufferOutOfMemoryError,
  BufferTooShortError,
  ChainLengthOverflowError,
  ChainTooLongError,
  DescriptorNotAvailableError,
  DuplicateBufferIdError,
  InvalidAvailIndexError,
  InvalidDescriptorIndexError,
  InvalidIndirectDescriptorError,
  InvalidIndirectTableError,
  InvalidSizeError,
  InvalidStateError,
  MisalignedAreaError,
  NotReadyError,
  OverlappingAreasError,
  QUEUE_ERROR_NAMES,
  QueueError,
  QueueSizeExceededError,
  ReadableAfterWritableError,
  RingAccessError,
  isQueueError,
} from './errors.js';
export type { QueueErrorName, QueueErrorOptions } from './errors.js';
