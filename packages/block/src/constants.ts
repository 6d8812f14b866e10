/**
 * virtio-blk constants (VIRTIO 1.2 §5.2): feature bits (§5.2.3), request types and status values
 * (§5.2.6), segment flags, and the sizes of the wire structures. `as const` objects with union
 * types, so values are plain numbers at run time.
 * @module
 */

/**
 * Device-specific feature bit numbers of the block device (VIRTIO 1.2 §5.2.3). Legacy-only bits
 * (BARRIER 0, SCSI 7) are not listed: @vmv offers no legacy interface.
 * @example
 * ```ts
 * import { BlockFeature } from '@vmv/block';
 * import { hasFeature } from '@vmv/device-trait';
 * hasFeature(device.deviceFeatures, BlockFeature.FLUSH); // true
 * ```
 */
export const BlockFeature = {
  /** Maximum size of any single segment is in `size_max`. */
  SIZE_MAX: 1,
  /** Maximum number of segments in a request is in `seg_max`. */
  SEG_MAX: 2,
  /** Disk-style geometry in `geometry`. */
  GEOMETRY: 4,
  /** The device is read-only. */
  RO: 5,
  /** Block size of the disk is in `blk_size`. */
  BLK_SIZE: 6,
  /** Cache flush command support. */
  FLUSH: 9,
  /** Optimal I/O alignment information in `topology`. */
  TOPOLOGY: 10,
  /** The driver can toggle the cache between writeback and writethrough (`writeback`). */
  CONFIG_WCE: 11,
  /** Multiqueue: `num_queues` request queues. */
  MQ: 12,
  /** DISCARD command, limits in `max_discard_sectors` / `max_discard_seg`. */
  DISCARD: 13,
  /** WRITE_ZEROES command, limits in `max_write_zeroes_sectors` / `max_write_zeroes_seg`. */
  WRITE_ZEROES: 14,
  /** GET_LIFETIME command. */
  LIFETIME: 15,
  /** SECURE_ERASE command, limits in `max_secure_erase_*`. */
  SECURE_ERASE: 16,
  /** Zoned block device (not offered by this package). */
  ZONED: 17,
} as const;
/** A block feature bit number. @example `const bit: BlockFeature = BlockFeature.RO;` */
export type BlockFeature = (typeof BlockFeature)[keyof typeof BlockFeature];

/**
 * Request types, the `type` field of `struct virtio_blk_req` (VIRTIO 1.2 §5.2.6). Any other value
 * (the legacy SCSI and FLUSH_OUT types, zoned commands, the legacy BARRIER bit) is answered with
 * UNSUPP.
 * @example
 * ```ts
 * import { RequestType } from '@vmv/block';
 * encodeRequestHeader({ type: RequestType.IN, sector: 0n });
 * ```
 */
export const RequestType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;
/** A request type value. @example `const t: RequestType = RequestType.OUT;` */
export type RequestType = (typeof RequestType)[keyof typeof RequestType];

/**
 * Request status values, the last byte of every request (VIRTIO 1.2 §5.2.6).
 * @example
 * ```ts
 * import { BlockStatus } from '@vmv/block';
 * if (status === BlockStatus.UNSUPP) console.log('not supported');
 * ```
 */
export const BlockStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
} as const;
/** A status value. @example `const s: BlockStatus = BlockStatus.OK;` */
export type BlockStatus = (typeof BlockStatus)[keyof typeof BlockStatus];

/**
 * Flags of a discard / write-zeroes / secure-erase segment (`struct virtio_blk_discard_write_zeroes`).
 * @example
 * ```ts
 * encodeSegment({ sector: 8n, numSectors: 8, flags: SegmentFlags.UNMAP });
 * ```
 */
export const SegmentFlags = {
  /** WRITE_ZEROES only: the device may deallocate the range (reads still return zeroes). */
  UNMAP: 1,
} as const;
/** A segment flag. @example `const f: SegmentFlags = SegmentFlags.UNMAP;` */
export type SegmentFlags = (typeof SegmentFlags)[keyof typeof SegmentFlags];

/** Bytes per sector: the unit of `capacity`, `sector` and segment lengths, whatever `blk_size` says. @example `offset = sector * SECTOR_SIZE` */
export const SECTOR_SIZE = 512;
/** Size of the request header `{ le32 type; le32 reserved; le64 sector; }`. @example `reader.remaining >= REQUEST_HEADER_SIZE` */
export const REQUEST_HEADER_SIZE = 16;
/** Size of one discard / write-zeroes / secure-erase segment. @example `count = bytes / SEGMENT_SIZE` */
export const SEGMENT_SIZE = 16;
/** Length of the GET_ID answer: a NUL-padded ASCII string of at most 20 bytes. @example `new Uint8Array(ID_BYTES)` */
export const ID_BYTES = 20;
/** Size of `struct virtio_blk_lifetime` (three le16), the GET_LIFETIME answer. @example `dataLength === LIFETIME_SIZE` */
export const LIFETIME_SIZE = 6;
/** Size of the configuration space this package exposes (`struct virtio_blk_config`, zoned characteristics included). @example `device.configSize === BLOCK_CONFIG_SIZE` */
export const BLOCK_CONFIG_SIZE = 96;

/**
 * Byte offsets of the fields of `struct virtio_blk_config` (VIRTIO 1.2 §5.2.4), little-endian.
 * @example
 * ```ts
 * const cap = new DataView(cfg.buffer).getBigUint64(BlockConfigOffset.capacity, true);
 * ```
 */
export const BlockConfigOffset = {
  capacity: 0,
  sizeMax: 8,
  segMax: 12,
  geometryCylinders: 16,
  geometryHeads: 18,
  geometrySectors: 19,
  blkSize: 20,
  physicalBlockExp: 24,
  alignmentOffset: 25,
  minIoSize: 26,
  optIoSize: 28,
  writeback: 32,
  unused0: 33,
  numQueues: 34,
  maxDiscardSectors: 36,
  maxDiscardSeg: 40,
  discardSectorAlignment: 44,
  maxWriteZeroesSectors: 48,
  maxWriteZeroesSeg: 52,
  writeZeroesMayUnmap: 56,
  unused1: 57,
  maxSecureEraseSectors: 60,
  maxSecureEraseSeg: 64,
  secureEraseSectorAlignment: 68,
  zoneSectors: 72,
  maxOpenZones: 76,
  maxActiveZones: 80,
  maxAppendSectors: 84,
  writeGranularity: 88,
  zonedModel: 92,
} as const;
