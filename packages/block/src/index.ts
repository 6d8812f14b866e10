/**
 * @packageDocumentation
 * virtio-blk (VIRTIO 1.2 §5.2) for @vmv: a transport-independent {@link BlockDevice} that parses
 * requests through the queue's byte cursors (any descriptor layout), validates them as the spec
 * prescribes, and runs them concurrently against a pluggable {@link BlockBackend}. Provided
 * backends: {@link MemoryBackend} (runs in browsers) and {@link readOnlyBackend}; a file backend
 * for Node is at `@vmv/block/node`.
 */
export { BlockDevice } from './device.js';
export type { BackendErrorInfo, BlockDeviceOptions, BlockDeviceSnapshot, BlockStats, SegmentCommandOptions, WriteZeroesOptions } from './device.js';
export type { BlockBackend } from './backend.js';
export { MemoryBackend } from './memory-backend.js';
export type { MemoryBackendOptions } from './memory-backend.js';
export { readOnlyBackend } from './read-only.js';
export {
  BLOCK_CONFIG_SIZE,
  BlockConfigOffset,
  BlockFeature,
  BlockStatus,
  ID_BYTES,
  LIFETIME_SIZE,
  REQUEST_HEADER_SIZE,
  RequestType,
  SECTOR_SIZE,
  SEGMENT_SIZE,
  SegmentFlags,
} from './constants.js';
export type { BlockFeature as BlockFeatureBit, BlockStatus as BlockStatusValue, RequestType as RequestTypeValue, SegmentFlags as SegmentFlagsValue } from './constants.js';
export { decodeBlockConfig, encodeBlockConfig } from './config.js';
export type { BlockConfig } from './config.js';
export { decodeId, decodeLifetime, decodeRequestHeader, decodeSegment, encodeId, encodeLifetime, encodeRequestHeader, encodeSegments, isValidLifetime } from './wire.js';
export type { BlockLifetime, RequestHeader, Segment } from './wire.js';
export { BLOCK_ERROR_NAMES, BlockError, InvalidSnapshotError, IoError, OutOfRangeError, ReadOnlyError, isBlockError } from './errors.js';
export type { BlockErrorName, BlockErrorOptions } from './errors.js';
