/**
 * The virtio device config space payload of GET_CONFIG / SET_CONFIG (vhost-user.rst "Virtio
 * device config space"): offset u32, size u32, flags u32, then `size` bytes. QEMU 7.2 sends
 * `12 + size` bytes with size ≤ 256; the backend's GET_CONFIG reply has the same size, or size 0
 * to signal an error. Rules: checklist §2.10 item 54.
 *
 * @module
 */

import {
  ConfigFlags,
  NATIVE_LITTLE_ENDIAN as LE,
  VHOST_USER_CONFIG_HEADER_SIZE,
  VHOST_USER_CONFIG_SPACE_LIMIT,
} from './constants.js';
import { InvalidConfigError } from '../errors.js';
import { assertU32 } from './internal.js';

/**
 * A config space access.
 *
 * @example
 * ```ts
 * const access: ConfigAccess = { offset: 0, size: 8, flags: ConfigFlags.WRITABLE, data: new Uint8Array(8) };
 * writeConfigAccess(view, 12, access); // 20 bytes
 * ```
 */
export interface ConfigAccess {
  /** Byte offset in the device's config space. */
  readonly offset: number;
  /** Number of bytes. */
  readonly size: number;
  /** `ConfigFlags` value. */
  readonly flags: number;
  /** The bytes (written by SET_CONFIG; zeros in a GET_CONFIG request). A copy, never a view of the socket buffer. */
  readonly data: Uint8Array;
}

/**
 * Reads and validates a config payload of exactly `byteLength` bytes: size ≥ 1,
 * `byteLength === 12 + size`, `offset + size ≤ 0x1000`, flags ∈ {WRITABLE, LIVE_MIGRATION}.
 *
 * @param view - payload bytes
 * @param offset - byte offset of the payload
 * @param byteLength - payload length from the header
 * @returns the access, with a copy of the data
 * @throws VhostUser.InvalidConfigError on any violation
 * @example
 * ```ts
 * const access = readConfigAccess(body, 0, header.size);
 * ```
 */
export function readConfigAccess(view: DataView, offset: number, byteLength: number): ConfigAccess {
  if (byteLength < VHOST_USER_CONFIG_HEADER_SIZE) {
    throw new InvalidConfigError('payload shorter than the config header', { payloadSize: byteLength });
  }
  const cfgOffset = view.getUint32(offset, LE);
  const size = view.getUint32(offset + 4, LE);
  const flags = view.getUint32(offset + 8, LE);
  if (size === 0) throw new InvalidConfigError('zero size', { offset: cfgOffset });
  if (byteLength !== VHOST_USER_CONFIG_HEADER_SIZE + size) {
    throw new InvalidConfigError('payload length does not match size', { size, payloadSize: byteLength });
  }
  if (cfgOffset + size > VHOST_USER_CONFIG_SPACE_LIMIT) {
    throw new InvalidConfigError('access beyond the config space limit', { offset: cfgOffset, size, limit: VHOST_USER_CONFIG_SPACE_LIMIT });
  }
  if (flags !== ConfigFlags.WRITABLE && flags !== ConfigFlags.LIVE_MIGRATION) {
    throw new InvalidConfigError('unknown flags', { flags });
  }
  const start = view.byteOffset + offset + VHOST_USER_CONFIG_HEADER_SIZE;
  const data = new Uint8Array(view.buffer, start, size).slice();
  return { offset: cfgOffset, size, flags, data };
}

/**
 * Writes a config payload (header then `access.data`, which must be `access.size` bytes long).
 *
 * @param view - destination
 * @param offset - byte offset
 * @param access - the access
 * @returns the number of bytes written (12 + size)
 * @throws RangeError when a field is out of range, the data length differs from size, or the view is too short
 * @example
 * ```ts
 * writeConfigAccess(view, 12, { offset: 0, size: 4, flags: 0, data: new Uint8Array(4) });
 * ```
 */
export function writeConfigAccess(view: DataView, offset: number, access: ConfigAccess): number {
  assertU32('writeConfigAccess: offset', access.offset);
  assertU32('writeConfigAccess: size', access.size);
  assertU32('writeConfigAccess: flags', access.flags);
  if (access.data.byteLength !== access.size) {
    throw new RangeError(`writeConfigAccess: data length ${access.data.byteLength} differs from size ${access.size}`);
  }
  view.setUint32(offset, access.offset, LE);
  view.setUint32(offset + 4, access.size, LE);
  view.setUint32(offset + 8, access.flags, LE);
  new Uint8Array(view.buffer, view.byteOffset + offset + VHOST_USER_CONFIG_HEADER_SIZE, access.size).set(access.data);
  return VHOST_USER_CONFIG_HEADER_SIZE + access.size;
}
