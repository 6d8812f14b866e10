/**
 * Memory payloads of vhost-user.rst: the memory regions description of SET_MEM_TABLE
 * (num_regions u32, padding u32, then num_regions × {guest address, size, user address,
 * mmap offset}, all u64) and the single memory region description of ADD_MEM_REG/REM_MEM_REG
 * (padding u64 then one region). Rules: checklist §2.10 item 48 (rust-vmm
 * `VhostUserMemory::is_valid`, `VhostUserMemoryRegion::is_valid`, `GuestMemoryMmap::from_regions`).
 *
 * @module
 */

import {
  NATIVE_LITTLE_ENDIAN as LE,
  PayloadSize,
  VHOST_USER_MAX_MEM_TABLE_REGIONS,
} from './constants.js';
import { InvalidMemoryRegionError } from '../errors.js';
import { ADDRESS_SPACE_END, assertU64 } from './internal.js';

/**
 * One memory region as the frontend describes it.
 *
 * @example
 * ```ts
 * const ram: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 0x4000_0000n, userAddr: 0x7f12_0000_0000n, mmapOffset: 0n };
 * validateMemoryRegion(ram);
 * ```
 */
export interface MemoryRegionDescription {
  /** Guest physical address of the first byte. */
  readonly guestPhysAddr: bigint;
  /** Length in bytes. */
  readonly memorySize: bigint;
  /** Frontend (QEMU) virtual address of the first byte. */
  readonly userAddr: bigint;
  /** Offset of the first byte in the region's file descriptor. */
  readonly mmapOffset: bigint;
}

/**
 * Reads one 32-byte memory region.
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the region, unvalidated
 * @throws RangeError when fewer than 32 bytes follow `offset`
 * @example
 * ```ts
 * const region = readMemoryRegion(body, 8);
 * ```
 */
export function readMemoryRegion(view: DataView, offset = 0): MemoryRegionDescription {
  return {
    guestPhysAddr: view.getBigUint64(offset, LE),
    memorySize: view.getBigUint64(offset + 8, LE),
    userAddr: view.getBigUint64(offset + 16, LE),
    mmapOffset: view.getBigUint64(offset + 24, LE),
  };
}

/**
 * Writes one 32-byte memory region.
 *
 * @param view - destination
 * @param offset - byte offset
 * @param region - the region
 * @throws RangeError when a field is not a u64 or the view is too short
 * @example
 * ```ts
 * writeMemoryRegion(view, 20, { guestPhysAddr: 0n, memorySize: 0x1000_0000n, userAddr: 0x7f00_0000_0000n, mmapOffset: 0n });
 * ```
 */
export function writeMemoryRegion(view: DataView, offset: number, region: MemoryRegionDescription): void {
  assertU64('writeMemoryRegion: guestPhysAddr', region.guestPhysAddr);
  assertU64('writeMemoryRegion: memorySize', region.memorySize);
  assertU64('writeMemoryRegion: userAddr', region.userAddr);
  assertU64('writeMemoryRegion: mmapOffset', region.mmapOffset);
  view.setBigUint64(offset, region.guestPhysAddr, LE);
  view.setBigUint64(offset + 8, region.memorySize, LE);
  view.setBigUint64(offset + 16, region.userAddr, LE);
  view.setBigUint64(offset + 24, region.mmapOffset, LE);
}

/**
 * Checks one region: a nonzero size, and no wrap past 2^64 of the guest range, the user range
 * and (unless `checkMmapOffset` is false, as for REM_MEM_REG where it is ignored) the file range.
 *
 * @param region - a region from the wire
 * @param checkMmapOffset - also check `mmapOffset + memorySize` (default true)
 * @throws VhostUser.InvalidMemoryRegionError on a violation
 * @example
 * ```ts
 * validateMemoryRegion(readMemoryRegion(body, 8));
 * ```
 */
export function validateMemoryRegion(region: MemoryRegionDescription, checkMmapOffset = true): void {
  if (region.memorySize === 0n) throw new InvalidMemoryRegionError('zero size', { gpa: region.guestPhysAddr });
  if (region.guestPhysAddr + region.memorySize > ADDRESS_SPACE_END) {
    throw new InvalidMemoryRegionError('guest range wraps past 2^64', { gpa: region.guestPhysAddr, size: region.memorySize });
  }
  if (region.userAddr + region.memorySize > ADDRESS_SPACE_END) {
    throw new InvalidMemoryRegionError('user range wraps past 2^64', { uaddr: region.userAddr, size: region.memorySize });
  }
  if (checkMmapOffset && region.mmapOffset + region.memorySize > ADDRESS_SPACE_END) {
    throw new InvalidMemoryRegionError('file range wraps past 2^64', { mmapOffset: region.mmapOffset, size: region.memorySize });
  }
}

/**
 * Reads and validates the memory regions description of SET_MEM_TABLE from a payload of exactly
 * `byteLength` bytes: padding 0, 1 ≤ num_regions ≤ 32, `byteLength === 8 + 32 × num_regions`,
 * each region valid, regions sorted by guest address and not overlapping.
 *
 * @param view - payload bytes
 * @param offset - byte offset of the payload
 * @param byteLength - payload length from the header
 * @returns the regions in wire order
 * @throws VhostUser.InvalidMemoryRegionError on any violation (including a length mismatch)
 * @example
 * ```ts
 * const regions = readMemoryTable(body, 0, header.size);
 * ```
 */
export function readMemoryTable(view: DataView, offset: number, byteLength: number): MemoryRegionDescription[] {
  if (byteLength < PayloadSize.MEM_TABLE_HEADER) {
    throw new InvalidMemoryRegionError('memory table shorter than its header', { size: byteLength });
  }
  const count = view.getUint32(offset, LE);
  const padding = view.getUint32(offset + 4, LE);
  if (padding !== 0) throw new InvalidMemoryRegionError('nonzero padding', { padding });
  if (count < 1 || count > VHOST_USER_MAX_MEM_TABLE_REGIONS) {
    throw new InvalidMemoryRegionError('region count out of range', { count, max: VHOST_USER_MAX_MEM_TABLE_REGIONS });
  }
  const expected = PayloadSize.MEM_TABLE_HEADER + count * PayloadSize.MEMORY_REGION;
  if (byteLength !== expected) {
    throw new InvalidMemoryRegionError('payload size does not match region count', { size: byteLength, expected, count });
  }
  const regions: MemoryRegionDescription[] = [];
  for (let i = 0; i < count; i++) {
    const region = readMemoryRegion(view, offset + PayloadSize.MEM_TABLE_HEADER + i * PayloadSize.MEMORY_REGION);
    validateMemoryRegion(region);
    regions.push(region);
  }
  validateRegionLayout(regions);
  return regions;
}

/**
 * Writes a memory regions description (header and regions).
 *
 * @param view - destination (at least 8 + 32 × regions.length bytes from `offset`)
 * @param offset - byte offset
 * @param regions - the regions
 * @returns the number of bytes written
 * @throws RangeError when a field is out of range or the view is too short
 * @example
 * ```ts
 * const size = writeMemoryTable(view, 12, regions);
 * ```
 */
export function writeMemoryTable(view: DataView, offset: number, regions: readonly MemoryRegionDescription[]): number {
  view.setUint32(offset, regions.length, LE);
  view.setUint32(offset + 4, 0, LE);
  regions.forEach((r, i) => writeMemoryRegion(view, offset + PayloadSize.MEM_TABLE_HEADER + i * PayloadSize.MEMORY_REGION, r));
  return PayloadSize.MEM_TABLE_HEADER + regions.length * PayloadSize.MEMORY_REGION;
}

/**
 * Checks that regions are sorted by guest physical address and do not overlap (rust-vmm
 * `GuestRegionCollection::from_regions`: UnsortedMemoryRegions, MemoryRegionOverlap).
 *
 * @param regions - validated regions
 * @throws VhostUser.InvalidMemoryRegionError when unsorted or overlapping
 * @example
 * ```ts
 * validateRegionLayout([...current, added].sort((a, b) => (a.guestPhysAddr < b.guestPhysAddr ? -1 : 1)));
 * ```
 */
export function validateRegionLayout(regions: readonly MemoryRegionDescription[]): void {
  for (let i = 1; i < regions.length; i++) {
    const prev = regions[i - 1]!;
    const next = regions[i]!;
    if (next.guestPhysAddr < prev.guestPhysAddr) {
      throw new InvalidMemoryRegionError('regions not sorted by guest address', { index: i });
    }
    if (prev.guestPhysAddr + prev.memorySize > next.guestPhysAddr) {
      throw new InvalidMemoryRegionError('regions overlap', { index: i, gpa: next.guestPhysAddr });
    }
  }
}

/**
 * Reads the single memory region description of ADD_MEM_REG / REM_MEM_REG (40 bytes: padding
 * u64 then a region). The padding is not checked: the specification does not require it zero.
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the region, unvalidated
 * @throws RangeError when fewer than 40 bytes follow `offset`
 * @example
 * ```ts
 * const region = readSingleMemoryRegion(body);
 * ```
 */
export function readSingleMemoryRegion(view: DataView, offset = 0): MemoryRegionDescription {
  return readMemoryRegion(view, offset + 8);
}

/**
 * Writes a single memory region description (zero padding, then the region).
 *
 * @param view - destination
 * @param offset - byte offset
 * @param region - the region
 * @throws RangeError when a field is out of range or the view is too short
 * @example
 * ```ts
 * writeSingleMemoryRegion(view, 12, region);
 * ```
 */
export function writeSingleMemoryRegion(view: DataView, offset: number, region: MemoryRegionDescription): void {
  view.setBigUint64(offset, 0n, LE);
  writeMemoryRegion(view, offset + 8, region);
}
