/**
 * Vring payloads of vhost-user.rst: the vring state description (index u32, num u32), the vring
 * address description (index, flags, desc/used/avail user addresses, log guest address) and the
 * u64 "vring file" word of SET_VRING_KICK/CALL/ERR (bits 0-7 index, bit 8 no-fd).
 *
 * Ring alignment rules are those of VIRTIO 1.2 §2.7 (split virtqueue: descriptor table 16,
 * available ring 2, used ring 4); they also hold for the packed ring areas (§2.8: 16, 4, 4).
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE, VringAddrFlags, VringFileBits } from './constants.js';
import { InvalidParamError, InvalidVringAddrError } from '../errors.js';
import { assertU32, assertU64 } from './internal.js';

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
