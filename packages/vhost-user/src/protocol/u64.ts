/**
 * The single-u64 payload of vhost-user.rst ("A single 64-bit integer"): features, protocol
 * features, status, queue counts and REPLY_ACK results.
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE } from './constants.js';
import { assertU64 } from './internal.js';

/**
 * Reads a u64 payload.
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the value
 * @throws RangeError when fewer than 8 bytes follow `offset`
 * @example
 * ```ts
 * const features = readU64(body);
 * ```
 */
export function readU64(view: DataView, offset = 0): bigint {
  return view.getBigUint64(offset, LE);
}

/**
 * Writes a u64 payload.
 *
 * @param view - destination
 * @param offset - byte offset
 * @param value - 0..2^64-1
 * @throws RangeError when the value is not a u64 or the view is too short
 * @example
 * ```ts
 * writeU64(view, 12, 0x1_4000_0000n);
 * ```
 */
export function writeU64(view: DataView, offset: number, value: bigint): void {
  assertU64('writeU64: value', value);
  view.setBigUint64(offset, value, LE);
}
