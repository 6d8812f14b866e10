/**
 * Vring payloads of vhost-user.rst: the vring state description (index u32, num u32), the vring
 * address description (index, flags, desc/used/avail user addresses, log guest address) and the
 * u64 "vring file" word of SET_VRING_KICK/CALL/ERR (bits 0-7 index, bit 8 no-fd), and the ring
 * positions a vring base value carries (split and packed, as QEMU encodes them).
 *
 * Ring alignment rules are those of VIRTIO 1.2 §2.7 (split virtqueue: descriptor table 16,
 * available ring 2, used ring 4); they also hold for the packed ring areas (§2.8: 16, 4, 4).
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE, VringAddrFlags, VringFileBits } from './constants.js';
import { InvalidParamError, InvalidVringAddrError } from '../errors.js';
import { assertU16, assertU32, assertU64 } from './internal.js';

/**
 * Vring state description: SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE, VRING_KICK.
 *
 * @example
 * ```ts
 * const state: VringState = { index: 0, num: 256 }; // SET_VRING_NUM: ring 0 has 256 entries
 * writeVringState(view, 12, state);
 * ```
 */
export interface VringState {
  /** Vring index. */
  readonly index: number;
  /** Size, base index or enable flag, depending on the request. */
  readonly num: number;
}

/**
 * Reads a vring state description.
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the state
 * @throws RangeError when fewer than 8 bytes follow `offset`
 * @example
 * ```ts
 * const { index, num } = readVringState(body);
 * ```
 */
export function readVringState(view: DataView, offset = 0): VringState {
  return { index: view.getUint32(offset, LE), num: view.getUint32(offset + 4, LE) };
}

/**
 * Writes a vring state description.
 *
 * @param view - destination
 * @param offset - byte offset
 * @param state - index and num (u32 each)
 * @throws RangeError when a field is not a u32 or the view is too short
 * @example
 * ```ts
 * writeVringState(view, 12, { index: 0, num: 256 });
 * ```
 */
export function writeVringState(view: DataView, offset: number, state: VringState): void {
  assertU32('writeVringState: index', state.index);
  assertU32('writeVringState: num', state.num);
  view.setUint32(offset, state.index, LE);
  view.setUint32(offset + 4, state.num, LE);
}

/**
 * Vring address description (SET_VRING_ADDR). Addresses are frontend virtual addresses.
 *
 * @example
 * ```ts
 * const addr: VringAddr = { index: 0, flags: 0, descUserAddr: 0x7f00_0000_0000n, usedUserAddr: 0x7f00_0000_2000n, availUserAddr: 0x7f00_0000_1000n, logGuestAddr: 0n };
 * validateVringAddr(addr); // alignment and flags
 * ```
 */
export interface VringAddr {
  /** Vring index. */
  readonly index: number;
  /** `VringAddrFlags` bits. */
  readonly flags: number;
  /** Frontend address of the descriptor table (packed: descriptor ring). */
  readonly descUserAddr: bigint;
  /** Frontend address of the used ring (packed: device event suppression area). */
  readonly usedUserAddr: bigint;
  /** Frontend address of the available ring (packed: driver event suppression area). */
  readonly availUserAddr: bigint;
  /** Guest physical address used to log used-ring writes (with `VringAddrFlags.LOG`). */
  readonly logGuestAddr: bigint;
}

/**
 * Reads a vring address description (40 bytes: index u32, flags u32, desc u64, used u64,
 * avail u64, log u64: note used comes before avail on the wire).
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the description, unvalidated
 * @throws RangeError when fewer than 40 bytes follow `offset`
 * @example
 * ```ts
 * const addr = readVringAddr(body);
 * validateVringAddr(addr);
 * ```
 */
export function readVringAddr(view: DataView, offset = 0): VringAddr {
  return {
    index: view.getUint32(offset, LE),
    flags: view.getUint32(offset + 4, LE),
    descUserAddr: view.getBigUint64(offset + 8, LE),
    usedUserAddr: view.getBigUint64(offset + 16, LE),
    availUserAddr: view.getBigUint64(offset + 24, LE),
    logGuestAddr: view.getBigUint64(offset + 32, LE),
  };
}

/**
 * Writes a vring address description.
 *
 * @param view - destination
 * @param offset - byte offset
 * @param addr - the description
 * @throws RangeError when a field is out of range or the view is too short
 * @example
 * ```ts
 * writeVringAddr(view, 12, { index: 0, flags: 0, descUserAddr: 0x7f0000000000n, usedUserAddr: 0x7f0000002000n,
 *   availUserAddr: 0x7f0000001000n, logGuestAddr: 0n });
 * ```
 */
export function writeVringAddr(view: DataView, offset: number, addr: VringAddr): void {
  assertU32('writeVringAddr: index', addr.index);
  assertU32('writeVringAddr: flags', addr.flags);
  assertU64('writeVringAddr: descUserAddr', addr.descUserAddr);
  assertU64('writeVringAddr: usedUserAddr', addr.usedUserAddr);
  assertU64('writeVringAddr: availUserAddr', addr.availUserAddr);
  assertU64('writeVringAddr: logGuestAddr', addr.logGuestAddr);
  view.setUint32(offset, addr.index, LE);
  view.setUint32(offset + 4, addr.flags, LE);
  view.setBigUint64(offset + 8, addr.descUserAddr, LE);
  view.setBigUint64(offset + 16, addr.usedUserAddr, LE);
  view.setBigUint64(offset + 24, addr.availUserAddr, LE);
  view.setBigUint64(offset + 32, addr.logGuestAddr, LE);
}

/**
 * Checks a vring address description (rust-vmm `VhostUserVringAddr::is_valid`): flags ⊆ {LOG},
 * descriptor table 16-byte aligned, available ring 2-byte aligned, used ring 4-byte aligned.
 *
 * @param addr - a description from the wire
 * @throws VhostUser.InvalidVringAddrError on unknown flags or misalignment
 * @example
 * ```ts
 * validateVringAddr(readVringAddr(body));
 * ```
 */
export function validateVringAddr(addr: VringAddr): void {
  if ((addr.flags & ~VringAddrFlags.LOG) !== 0) {
    throw new InvalidVringAddrError('unknown flags', { index: addr.index, flags: addr.flags });
  }
  if ((addr.descUserAddr & 0xfn) !== 0n) {
    throw new InvalidVringAddrError('descriptor table not 16-byte aligned', { index: addr.index, desc: addr.descUserAddr });
  }
  if ((addr.availUserAddr & 0x1n) !== 0n) {
    throw new InvalidVringAddrError('available ring not 2-byte aligned', { index: addr.index, avail: addr.availUserAddr });
  }
  if ((addr.usedUserAddr & 0x3n) !== 0n) {
    throw new InvalidVringAddrError('used ring not 4-byte aligned', { index: addr.index, used: addr.usedUserAddr });
  }
}

/**
 * The u64 payload of SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR.
 *
 * @example
 * ```ts
 * const file: VringFile = parseVringFile(0x101n); // { index: 1, noFd: true }: ring 1 is polled
 * ```
 */
export interface VringFile {
  /** Vring index (bits 0-7). */
  readonly index: number;
  /** Bit 8: no file descriptor attached; the backend polls (kick) or the frontend polls (call). */
  readonly noFd: boolean;
}

/**
 * Splits the SET_VRING_KICK/CALL/ERR word into index and no-fd flag. Bits 9-63 are unused by
 * every frontend and must be clear.
 *
 * @param value - the u64 payload
 * @returns index and no-fd flag
 * @throws VhostUser.InvalidParamError when bits 9-63 are set
 * @example
 * ```ts
 * parseVringFile(0x101n); // { index: 1, noFd: true }
 * ```
 */
export function parseVringFile(value: bigint): VringFile {
  if (value >> 9n !== 0n) throw new InvalidParamError('reserved bits set in vring file word', { value });
  const v = Number(value);
  return { index: v & VringFileBits.INDEX_MASK, noFd: (v & VringFileBits.NO_FD) !== 0 };
}

/**
 * Builds the SET_VRING_KICK/CALL/ERR word.
 *
 * @param file - index (0..255) and no-fd flag
 * @returns the u64 payload
 * @throws RangeError when the index is not 0..255
 * @example
 * ```ts
 * encodeVringFile({ index: 0, noFd: false }); // 0n
 * ```
 */
export function encodeVringFile(file: VringFile): bigint {
  if (!Number.isInteger(file.index) || file.index < 0 || file.index > 0xff) {
    throw new RangeError(`encodeVringFile: index must be 0..255, got ${file.index}`);
  }
  return BigInt(file.index | (file.noFd ? VringFileBits.NO_FD : 0));
}

/**
 * Ring positions carried by the `num` of SET_VRING_BASE and the GET_VRING_BASE reply. Split:
 * the next available index (the used index is read from the ring itself). Packed (as QEMU
 * encodes it): the next available and used positions with their wrap counters.
 *
 * @example
 * ```ts
 * const base: VringBase = { format: 'packed', nextAvail: 5, availWrapCounter: 1, nextUsed: 3, usedWrapCounter: 0 };
 * encodeVringBase(base); // 0x0003_8005
 * ```
 */
export type VringBase =
  | {
      /** A split ring. */
      readonly format: 'split';
      /** Index of the next available ring entry the device reads (mod 2^16, as `last_avail_idx`). */
      readonly nextAvail: number;
    }
  | {
      /** A packed ring. */
      readonly format: 'packed';
      /** Descriptor ring slot the device reads next (0..size-1). */
      readonly nextAvail: number;
      /** The device's wrap counter for reading available descriptors. */
      readonly availWrapCounter: 0 | 1;
      /** Descriptor ring slot the device writes its next used descriptor to (0..size-1). */
      readonly nextUsed: number;
      /** The device's wrap counter for writing used descriptors. */
      readonly usedWrapCounter: 0 | 1;
    };

/**
 * Decodes a vring base value. Split: bits 0-15 are the next available index. Packed: bits 0-14
 * the next available position, bit 15 its wrap counter and, when any of bits 16-31 is set,
 * bits 16-30 / 31 the used position and wrap counter; otherwise the used side equals the
 * available one (nothing in flight). Positions are taken modulo the ring size.
 *
 * @param num - the u32 from the wire
 * @param format - the ring format negotiated (VIRTIO_F_RING_PACKED)
 * @param size - the ring size (1..32768)
 * @returns the positions
 * @throws RangeError when `num` is not a u32 or `size` is not 1..32768
 * @example
 * ```ts
 * decodeVringBase(0x0003_8005, 'packed', 256); // { format: 'packed', nextAvail: 5, availWrapCounter: 1, nextUsed: 3, usedWrapCounter: 0 }
 * decodeVringBase(0x1_0005, 'split', 256); // { format: 'split', nextAvail: 5 }
 * ```
 */
export function decodeVringBase(num: number, format: 'split' | 'packed', size: number): VringBase {
  assertU32('decodeVringBase: num', num);
  if (!Number.isInteger(size) || size < 1 || size > 32768) throw new RangeError(`decodeVringBase: size must be 1..32768, got ${String(size)}`);
  if (format === 'split') return { format, nextAvail: num & 0xffff };
  const avail = num & 0x7fff;
  const availWrap = ((num >>> 15) & 1) as 0 | 1;
  const high = num >>> 16;
  return {
    format,
    nextAvail: avail % size,
    availWrapCounter: availWrap,
    nextUsed: high === 0 ? avail % size : (high & 0x7fff) % size,
    usedWrapCounter: high === 0 ? availWrap : (((num >>> 31) & 1) as 0 | 1),
  };
}

/**
 * Encodes ring positions as a vring base value (the GET_VRING_BASE answer); the inverse of
 * {@link decodeVringBase} for positions inside the ring.
 *
 * @param base - split: the next available index (u16); packed: positions below 32768 and wrap counters 0/1
 * @returns the u32 for the wire
 * @throws RangeError when a position or wrap counter is out of range
 * @example
 * ```ts
 * encodeVringBase({ format: 'split', nextAvail: 0xfffe }); // 0xfffe
 * encodeVringBase({ format: 'packed', nextAvail: 0, availWrapCounter: 1, nextUsed: 0, usedWrapCounter: 1 }); // 0x8000_8000
 * ```
 */
export function encodeVringBase(base: VringBase): number {
  if (base.format === 'split') {
    assertU16('encodeVringBase: nextAvail', base.nextAvail);
    return base.nextAvail;
  }
  assertPosition('encodeVringBase: nextAvail', base.nextAvail);
  assertPosition('encodeVringBase: nextUsed', base.nextUsed);
  assertWrap('encodeVringBase: availWrapCounter', base.availWrapCounter);
  assertWrap('encodeVringBase: usedWrapCounter', base.usedWrapCounter);
  return ((base.nextAvail | (base.availWrapCounter << 15) | (base.nextUsed << 16)) + base.usedWrapCounter * 0x8000_0000) >>> 0;
}

function assertPosition(label: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fff) throw new RangeError(`${label} must be a packed ring position 0..32767, got ${String(value)}`);
}

function assertWrap(label: string, value: number): void {
  if (value !== 0 && value !== 1) throw new RangeError(`${label} must be 0 or 1, got ${String(value)}`);
}
