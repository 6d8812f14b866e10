/**
 * The virtio-scsi structures (VIRTIO 1.2 §5.6.6): the 8-byte LUN as §5.6.6.1 defines it and
 * Linux's virtio_scsi writes it in requests (lun[0] = 1, lun[1] = target, lun[2..3] = 0x4000 |
 * LUN, four zero bytes) and reads it in events (the REPORT LUNS encoding), `virtio_scsi_cmd_resp`
 * and `virtio_scsi_event`.
 * Plain functions over bytes, little-endian as the spec says; decoders are total over any bytes.
 * @module
 */
import { CMD_RESP_HEADER_SIZE, EVENT_SIZE, MAX_LUN } from './constants.js';

/**
 * A decoded LUN address.
 * @example `const a: LunAddress = { target: 0, lun: 1 };`
 */
export interface LunAddress {
  /** 0..255. */
  readonly target: number;
  /** 0..16383. */
  readonly lun: number;
}

/**
 * Decodes `lun[8]`: first byte 1, target, a single-level LUN in peripheral (bus 0) or flat space
 * addressing, then zeroes (§5.6.6.1: "the only supported format").
 * @param b - the bytes.
 * @param at - where the 8 bytes start.
 * @returns the address, or null for any other format (the device answers BAD_TARGET).
 * @example `decodeLun(Uint8Array.of(1, 0, 0x40, 1, 0, 0, 0, 0)) // { target: 0, lun: 1 }`
 */
export function decodeLun(b: Uint8Array, at = 0): LunAddress | null {
  if (b.length < at + 8 || b[at] !== 1) return null;
  if (b[at + 4] !== 0 || b[at + 5] !== 0 || b[at + 6] !== 0 || b[at + 7] !== 0) return null;
  const method = b[at + 2]! >> 6;
  if (method === 0 && b[at + 2] === 0) return { target: b[at + 1]!, lun: b[at + 3]! };
  if (method === 1) return { target: b[at + 1]!, lun: ((b[at + 2]! << 8) | b[at + 3]!) & MAX_LUN };
  return null;
}

/**
 * Encodes a LUN address as Linux's virtio_scsi does (flat space addressing).
 * @param target - 0..255.
 * @param lun - 0..16383.
 * @returns 8 bytes.
 * @example `encodeLun(0, 1) // 01 00 40 01 00 00 00 00`
 */
export function encodeLun(target: number, lun: number): Uint8Array {
  return Uint8Array.of(1, target & 0xff, 0x40 | ((lun >> 8) & 0x3f), lun & 0xff, 0, 0, 0, 0);
}

/**
 * Encodes a LUN address as events carry it: the REPORT LUNS encoding (peripheral addressing
 * below 256, flat space above), because Linux's virtscsi_handle_event takes `lun[2] << 8 | lun[3]`
 * as the LUN, unmasked, and its LUN numbers are REPORT LUNS's (scsilun_to_int). QEMU does the same.
 * @param target - 0..255.
 * @param lun - 0..16383.
 * @returns 8 bytes.
 * @example `encodeEventLun(0, 1) // 01 00 00 01 00 00 00 00`
 */
export function encodeEventLun(target: number, lun: number): Uint8Array {
  return Uint8Array.of(1, target & 0xff, lun < 256 ? 0 : 0x40 | ((lun >> 8) & 0x3f), lun & 0xff, 0, 0, 0, 0);
}

/**
 * The fields of `virtio_scsi_cmd_resp` before the sense bytes.
 * @example `{ senseLength: 18, residual: 0, statusQualifier: 0, status: 2, response: 0 }`
 */
export interface CommandResponse {
  /** `sense_len`: sense bytes written. */
  readonly senseLength: number;
  /** `residual`: data length minus bytes transferred. */
  readonly residual: number;
  /** `status_qualifier`. */
  readonly statusQualifier: number;
  /** `status`: the SAM status. */
  readonly status: number;
  /** `response`: a VirtioScsiResponse. */
  readonly response: number;
}

/**
 * Encodes `virtio_scsi_cmd_resp` with room for `senseSize` sense bytes (sense cut to it).
 * @param r - the fields (`senseLength` is taken from `sense`).
 * @param sense - sense data, or null.
 * @param senseSize - the config's `sense_size`.
 * @returns 12 + senseSize bytes.
 * @example `encodeCommandResponse({ residual: 0, statusQualifier: 0, status: 0, response: 0 }, null, 96)`
 */
export function encodeCommandResponse(r: Omit<CommandResponse, 'senseLength'>, sense: Uint8Array | null, senseSize: number): Uint8Array {
  const b = new Uint8Array(CMD_RESP_HEADER_SIZE + senseSize);
  const v = new DataView(b.buffer);
  const n = sense === null ? 0 : Math.min(sense.length, senseSize);
  v.setUint32(0, n, true);
  v.setUint32(4, r.residual, true);
  v.setUint16(8, r.statusQualifier, true);
  b[10] = r.status;
  b[11] = r.response;
  if (n > 0) b.set(sense!.subarray(0, n), CMD_RESP_HEADER_SIZE);
  return b;
}

/**
 * Decodes `virtio_scsi_cmd_resp`'s header.
 * @param b - at least 12 bytes.
 * @returns the fields.
 * @throws RangeError for fewer than 12 bytes.
 * @example `decodeCommandResponse(bytes).response`
 */
export function decodeCommandResponse(b: Uint8Array): CommandResponse {
  if (b.length < CMD_RESP_HEADER_SIZE) throw new RangeError(`decodeCommandResponse: need ${CMD_RESP_HEADER_SIZE} bytes, got ${b.length}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { senseLength: v.getUint32(0, true), residual: v.getUint32(4, true), statusQualifier: v.getUint16(8, true), status: b[10]!, response: b[11]! };
}

/**
 * Encodes `virtio_scsi_event`.
 * @param event - the event, with EVENTS_MISSED or'ed in when events were lost.
 * @param address - the LUN it is about (encoded as {@link encodeEventLun}), or null (all zero).
 * @param reason - the event's reason.
 * @returns 16 bytes.
 * @example `encodeEvent(ScsiEvent.TRANSPORT_RESET, { target: 0, lun: 1 }, TransportResetReason.RESCAN)`
 */
export function encodeEvent(event: number, address: LunAddress | null, reason: number): Uint8Array {
  const b = new Uint8Array(EVENT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, event >>> 0, true);
  if (address !== null) b.set(encodeEventLun(address.target, address.lun), 4);
  v.setUint32(12, reason >>> 0, true);
  return b;
}

/**
 * A decoded `virtio_scsi_event`.
 * @example `decodeEvent(bytes).event`
 */
export interface ScsiEventRecord {
  /** `event`, EVENTS_MISSED included. */
  readonly event: number;
  /** `lun[8]`. */
  readonly lun: Uint8Array;
  /** `reason`. */
  readonly reason: number;
}

/**
 * Decodes `virtio_scsi_event`.
 * @param b - at least 16 bytes.
 * @returns the fields.
 * @throws RangeError for fewer than 16 bytes.
 * @example `decodeEvent(bytes).reason`
 */
export function decodeEvent(b: Uint8Array): ScsiEventRecord {
  if (b.length < EVENT_SIZE) throw new RangeError(`decodeEvent: need ${EVENT_SIZE} bytes, got ${b.length}`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { event: v.getUint32(0, true), lun: b.slice(4, 12), reason: v.getUint32(12, true) };
}
