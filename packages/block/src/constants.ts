/**
 * virtio-blk constants (VIRTIO 1.2 §5.2): feature bits (§5.2.3), request types and status values
 * (§5.2.6), segment flags, and the sizes of the wire structures. `as const` objects with union
 * types, so values are plain numbers at run time.
 * @module
 */

/**
 * Device-specific feature bit numbers of the block device (VIRTIO 1.2 §5.2.3). Legacy-only bits
 * (BARRIER 0, SCSI 7) are not listed: `@vmv` offers no legacy interface.
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
  /** Read: data from the disk into the device-writable buffers. */
  IN: 0,
  /** Write: the device-readable buffers onto the disk. */
  OUT: 1,
  /** Make every completed write durable (VIRTIO_BLK_F_FLUSH). */
  FLUSH: 4,
  /** Answer the device ID string, at most {@link ID_BYTES} bytes. */
  GET_ID: 8,
  /** Answer `struct virtio_blk_lifetime` (VIRTIO_BLK_F_LIFETIME). */
  GET_LIFETIME: 10,
  /** Deallocate the listed segments (VIRTIO_BLK_F_DISCARD). */
  DISCARD: 11,
  /** Zero the listed segments (VIRTIO_BLK_F_WRITE_ZEROES). */
  WRITE_ZEROES: 13,
  /** Erase the listed segments beyond recovery (VIRTIO_BLK_F_SECURE_ERASE). */
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
  /** The request completed. */
  OK: 0,
  /** The request failed: a backend error, a malformed request, a read-only disk, a range past the end. */
  IOERR: 1,
  /** The request type or a segment flag is not supported, or its feature was not offered. */
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
  /** le64 `capacity`: size of the disk in 512-byte sectors. */
  capacity: 0,
  /** le32 `size_max`: largest segment in bytes (VIRTIO_BLK_F_SIZE_MAX). */
  sizeMax: 8,
  /** le32 `seg_max`: most data segments in one request (VIRTIO_BLK_F_SEG_MAX). */
  segMax: 12,
  /** le16 `geometry.cylinders` (VIRTIO_BLK_F_GEOMETRY). */
  geometryCylinders: 16,
  /** u8 `geometry.heads`. */
  geometryHeads: 18,
  /** u8 `geometry.sectors` (per track). */
  geometrySectors: 19,
  /** le32 `blk_size`: logical block size in bytes (VIRTIO_BLK_F_BLK_SIZE). */
  blkSize: 20,
  /** u8 `topology.physical_block_exp`: log2 of logical blocks per physical block. */
  physicalBlockExp: 24,
  /** u8 `topology.alignment_offset`: offset of the first aligned logical block. */
  alignmentOffset: 25,
  /** le16 `topology.min_io_size`: suggested minimum I/O size in logical blocks. */
  minIoSize: 26,
  /** le32 `topology.opt_io_size`: optimal (suggested maximum) I/O size in logical blocks. */
  optIoSize: 28,
  /** u8 `writeback`: 1 for writeback cache mode, 0 for writethrough (VIRTIO_BLK_F_CONFIG_WCE). */
  writeback: 32,
  /** u8 padding. */
  unused0: 33,
  /** le16 `num_queues`: number of request queues (VIRTIO_BLK_F_MQ). */
  numQueues: 34,
  /** le32 `max_discard_sectors`: most sectors in one discard segment. */
  maxDiscardSectors: 36,
  /** le32 `max_discard_seg`: most segments in one DISCARD request. */
  maxDiscardSeg: 40,
  /** le32 `discard_sector_alignment`: sector alignment a discard segment should have. */
  discardSectorAlignment: 44,
  /** le32 `max_write_zeroes_sectors`: most sectors in one write-zeroes segment. */
  maxWriteZeroesSectors: 48,
  /** le32 `max_write_zeroes_seg`: most segments in one WRITE_ZEROES request. */
  maxWriteZeroesSeg: 52,
  /** u8 `write_zeroes_may_unmap`: 1 if WRITE_ZEROES with the UNMAP flag may deallocate. */
  writeZeroesMayUnmap: 56,
  /** u8[3] padding. */
  unused1: 57,
  /** le32 `max_secure_erase_sectors`: most sectors in one secure-erase segment. */
  maxSecureEraseSectors: 60,
  /** le32 `max_secure_erase_seg`: most segments in one SECURE_ERASE request. */
  maxSecureEraseSeg: 64,
  /** le32 `secure_erase_sector_alignment`. */
  secureEraseSectorAlignment: 68,
  /** le32 `zoned.zone_sectors` (zoned devices only; this package leaves it 0). */
  zoneSectors: 72,
  /** le32 `zoned.max_open_zones`. */
  maxOpenZones: 76,
  /** le32 `zoned.max_active_zones`. */
  maxActiveZones: 80,
  /** le32 `zoned.max_append_sectors`. */
  maxAppendSectors: 84,
  /** le32 `zoned.write_granularity`. */
  writeGranularity: 88,
  /** u8 `zoned.model`: 0 for a non-zoned device. */
  zonedModel: 92,
} as const;
