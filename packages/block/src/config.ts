/**
 * `struct virtio_blk_config` (VIRTIO 1.2 §5.2.4) as plain functions over bytes: every field at
 * its explicit offset ({@link BlockConfigOffset}), little-endian, padding zero. The zoned
 * characteristics (offsets 72..95) are always zero: this package does not offer
 * VIRTIO_BLK_F_ZONED.
 * @module
 */
import { BLOCK_CONFIG_SIZE, BlockConfigOffset as O } from './constants.js';

/**
 * The decoded fields of the block configuration space. Which ones the driver may read depends on
 * the negotiated features (SIZE_MAX, SEG_MAX, GEOMETRY, BLK_SIZE, TOPOLOGY, CONFIG_WCE, MQ,
 * DISCARD, WRITE_ZEROES, SECURE_ERASE); `capacity` is always valid.
 * @example
 * ```ts
 * const cfg: BlockConfig = decodeBlockConfig(bytes);
 * cfg.capacity; // 2048n sectors = 1 MiB
 * ```
 */
export interface BlockConfig {
  /** Size of the disk in 512-byte sectors. */
  capacity: bigint;
  /** Maximum bytes in any single data segment. */
  sizeMax: number;
  /** Maximum number of data segments in a request. */
  segMax: number;
  /** Disk-style geometry. */
  geometry: {
    /** Cylinders (le16). */
    cylinders: number;
    /** Heads per cylinder (u8). */
    heads: number;
    /** Sectors per track (u8). */
    sectors: number;
  };
  /** Optimal (logical) block size in bytes. */
  blkSize: number;
  /** I/O topology hints, in logical blocks. */
  topology: {
    /** log2 of the number of logical blocks per physical block. */
    physicalBlockExp: number;
    /** Offset of the first aligned logical block. */
    alignmentOffset: number;
    /** Suggested minimum I/O size, in logical blocks. */
    minIoSize: number;
    /** Optimal (suggested maximum) I/O size, in logical blocks. */
    optIoSize: number;
  };
  /** Cache mode: 1 writeback, 0 writethrough. */
  writeback: number;
  /** Number of request queues. */
  numQueues: number;
  /** Largest DISCARD segment, in sectors. */
  maxDiscardSectors: number;
  /** Most segments in a DISCARD request. */
  maxDiscardSeg: number;
  /** DISCARD segments start on a multiple of this many sectors. */
  discardSectorAlignment: number;
  /** Largest WRITE_ZEROES segment, in sectors. */
  maxWriteZeroesSectors: number;
  /** Most segments in a WRITE_ZEROES request. */
  maxWriteZeroesSeg: number;
  /** 1 when a WRITE_ZEROES with UNMAP may deallocate sectors. */
  writeZeroesMayUnmap: number;
  /** Largest SECURE_ERASE segment, in sectors. */
  maxSecureEraseSectors: number;
  /** Most segments in a SECURE_ERASE request. */
  maxSecureEraseSeg: number;
  /** SECURE_ERASE segments start on a multiple of this many sectors. */
  secureEraseSectorAlignment: number;
}

function check(value: unknown, max: number, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`encodeBlockConfig: ${label} must be an integer in 0..${max}, got ${String(value)}`);
  return value;
}

/**
 * Encodes the configuration space (96 bytes: the fields through `secure_erase_sector_alignment`,
 * then a zero `zoned` structure).
 * @param c - the fields.
 * @returns the bytes.
 * @throws RangeError when a field does not fit its width.
 * @example
 * ```ts
 * const bytes = encodeBlockConfig({ ...decodeBlockConfig(new Uint8Array(96)), capacity: 2048n });
 * ```
 */
export function encodeBlockConfig(c: BlockConfig): Uint8Array {
  const out = new Uint8Array(BLOCK_CONFIG_SIZE);
  const dv = new DataView(out.buffer);
  if (typeof c.capacity !== 'bigint' || c.capacity < 0n || c.capacity > 0xffff_ffff_ffff_ffffn) throw new RangeError('encodeBlockConfig: capacity must be a u64 bigint');
  const U32 = 0xffff_ffff;
  dv.setBigUint64(O.capacity, c.capacity, true);
  dv.setUint32(O.sizeMax, check(c.sizeMax, U32, 'sizeMax'), true);
  dv.setUint32(O.segMax, check(c.segMax, U32, 'segMax'), true);
  dv.setUint16(O.geometryCylinders, check(c.geometry.cylinders, 0xffff, 'geometry.cylinders'), true);
  dv.setUint8(O.geometryHeads, check(c.geometry.heads, 0xff, 'geometry.heads'));
  dv.setUint8(O.geometrySectors, check(c.geometry.sectors, 0xff, 'geometry.sectors'));
  dv.setUint32(O.blkSize, check(c.blkSize, U32, 'blkSize'), true);
  dv.setUint8(O.physicalBlockExp, check(c.topology.physicalBlockExp, 0xff, 'topology.physicalBlockExp'));
  dv.setUint8(O.alignmentOffset, check(c.topology.alignmentOffset, 0xff, 'topology.alignmentOffset'));
  dv.setUint16(O.minIoSize, check(c.topology.minIoSize, 0xffff, 'topology.minIoSize'), true);
  dv.setUint32(O.optIoSize, check(c.topology.optIoSize, U32, 'topology.optIoSize'), true);
  dv.setUint8(O.writeback, check(c.writeback, 1, 'writeback'));
  dv.setUint16(O.numQueues, check(c.numQueues, 0xffff, 'numQueues'), true);
  dv.setUint32(O.maxDiscardSectors, check(c.maxDiscardSectors, U32, 'maxDiscardSectors'), true);
  dv.setUint32(O.maxDiscardSeg, check(c.maxDiscardSeg, U32, 'maxDiscardSeg'), true);
  dv.setUint32(O.discardSectorAlignment, check(c.discardSectorAlignment, U32, 'discardSectorAlignment'), true);
  dv.setUint32(O.maxWriteZeroesSectors, check(c.maxWriteZeroesSectors, U32, 'maxWriteZeroesSectors'), true);
  dv.setUint32(O.maxWriteZeroesSeg, check(c.maxWriteZeroesSeg, U32, 'maxWriteZeroesSeg'), true);
  dv.setUint8(O.writeZeroesMayUnmap, check(c.writeZeroesMayUnmap, 1, 'writeZeroesMayUnmap'));
  dv.setUint32(O.maxSecureEraseSectors, check(c.maxSecureEraseSectors, U32, 'maxSecureEraseSectors'), true);
  dv.setUint32(O.maxSecureEraseSeg, check(c.maxSecureEraseSeg, U32, 'maxSecureEraseSeg'), true);
  dv.setUint32(O.secureEraseSectorAlignment, check(c.secureEraseSectorAlignment, U32, 'secureEraseSectorAlignment'), true);
  return out;
}

/**
 * Decodes the configuration space (the zoned structure is not decoded).
 * @param bytes - at least 72 bytes (through `secure_erase_sector_alignment`).
 * @returns the fields.
 * @throws RangeError when fewer than 72 bytes are given.
 * @example
 * ```ts
 * const cfg = new Uint8Array(96);
 * device.readConfig(0, cfg);
 * decodeBlockConfig(cfg).numQueues;
 * ```
 */
export function decodeBlockConfig(bytes: Uint8Array): BlockConfig {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeBlockConfig: bytes must be a Uint8Array');
  if (bytes.length < O.zoneSectors) throw new RangeError(`decodeBlockConfig: need at least ${O.zoneSectors} bytes, got ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    capacity: dv.getBigUint64(O.capacity, true),
    sizeMax: dv.getUint32(O.sizeMax, true),
    segMax: dv.getUint32(O.segMax, true),
    geometry: { cylinders: dv.getUint16(O.geometryCylinders, true), heads: dv.getUint8(O.geometryHeads), sectors: dv.getUint8(O.geometrySectors) },
    blkSize: dv.getUint32(O.blkSize, true),
    topology: {
      physicalBlockExp: dv.getUint8(O.physicalBlockExp),
      alignmentOffset: dv.getUint8(O.alignmentOffset),
      minIoSize: dv.getUint16(O.minIoSize, true),
      optIoSize: dv.getUint32(O.optIoSize, true),
    },
    writeback: dv.getUint8(O.writeback),
    numQueues: dv.getUint16(O.numQueues, true),
    maxDiscardSectors: dv.getUint32(O.maxDiscardSectors, true),
    maxDiscardSeg: dv.getUint32(O.maxDiscardSeg, true),
    discardSectorAlignment: dv.getUint32(O.discardSectorAlignment, true),
    maxWriteZeroesSectors: dv.getUint32(O.maxWriteZeroesSectors, true),
    maxWriteZeroesSeg: dv.getUint32(O.maxWriteZeroesSeg, true),
    writeZeroesMayUnmap: dv.getUint8(O.writeZeroesMayUnmap),
    maxSecureEraseSectors: dv.getUint32(O.maxSecureEraseSectors, true),
    maxSecureEraseSeg: dv.getUint32(O.maxSecureEraseSeg, true),
    secureEraseSectorAlignment: dv.getUint32(O.secureEraseSectorAlignment, true),
  };
}
