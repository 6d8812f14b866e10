/**
 * The virtio-blk request wire structures (VIRTIO 1.2 §5.2.6), as plain functions over bytes:
 * the request header `struct virtio_blk_req` (type, reserved, sector), the discard / write-zeroes /
 * secure-erase segment `struct virtio_blk_discard_write_zeroes`, the GET_ID string and
 * `struct virtio_blk_lifetime`. All little-endian.
 *
 * The device parses requests through the queue's byte cursors; these helpers are for drivers,
 * tests and tools that build or inspect requests as bytes.
 * @module
 */
import { ID_BYTES, LIFETIME_SIZE, REQUEST_HEADER_SIZE, SEGMENT_SIZE } from './constants.js';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * The request header, `struct virtio_blk_req` up to `data`.
 * @example
 * ```ts
 * const h: RequestHeader = { type: RequestType.IN, reserved: 0, sector: 8n };
 * ```
 */
export interface RequestHeader {
  /** Request type (see {@link RequestType}); any u32. */
  type: number;
  /** The `reserved` field (formerly `ioprio`); any u32, ignored by the device. */
  reserved: number;
  /** First 512-byte sector. */
  sector: bigint;
}

/**
 * One discard / write-zeroes / secure-erase segment.
 * @example
 * ```ts
 * const s: Segment = { sector: 0n, numSectors: 8, flags: SegmentFlags.UNMAP };
 * ```
 */
export interface Segment {
  /** First 512-byte sector of the range. */
  sector: bigint;
  /** Number of sectors (u32). */
  numSectors: number;
  /** Flags: bit 0 UNMAP, bits 1-31 reserved (u32). */
  flags: number;
}

/**
 * `struct virtio_blk_lifetime`, the GET_LIFETIME answer (VIRTIO 1.2 §5.2.6). Values follow
 * JESD84-B50: `preEolInfo` 0 undefined, 1 normal, 2 warning (80% of reserved blocks consumed),
 * 3 urgent (90%); the estimates 0 undefined, 1..10 for up to 10%..100% of the lifetime used,
 * 11 exceeded. Other values are reserved and never sent.
 * @example
 * ```ts
 * const l: BlockLifetime = { preEolInfo: 1, deviceLifetimeEstTypA: 2, deviceLifetimeEstTypB: 1 };
 * ```
 */
export interface BlockLifetime {
  /** Consumed reserved blocks: 0..3. */
  preEolInfo: number;
  /** SLC wear estimate: 0..11. */
  deviceLifetimeEstTypA: number;
  /** MLC wear estimate: 0..11. */
  deviceLifetimeEstTypB: number;
}

function u32(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`${label}: must be a u32, got ${String(value)}`);
  return value;
}

function u64(value: unknown, label: string): bigint {
  const v = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (v < 0n || v > U64_MAX) throw new RangeError(`${label}: must be a u64 (bigint or safe integer), got ${String(value)}`);
  return v;
}

function room(bytes: Uint8Array, offset: number, size: number, label: string): DataView {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${label}: bytes must be a Uint8Array`);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.length) throw new RangeError(`${label}: ${size} bytes at offset ${offset} do not fit in ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset + offset, size);
}

/**
 * Encodes a request header (16 bytes).
 * @param header - type, sector, and optionally reserved (default 0).
 * @returns the 16 bytes.
 * @throws RangeError when a field is out of range.
 * @example
 * ```ts
 * encodeRequestHeader({ type: RequestType.OUT, sector: 2048n }); // 01 00 00 00 00 00 00 00 00 08 00 ...
 * ```
 */
export function encodeRequestHeader(header: { type: number; sector: bigint | number; reserved?: number }): Uint8Array {
  const out = new Uint8Array(REQUEST_HEADER_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, u32(header.type, 'encodeRequestHeader: type'), true);
  dv.setUint32(4, u32(header.reserved ?? 0, 'encodeRequestHeader: reserved'), true);
  dv.setBigUint64(8, u64(header.sector, 'encodeRequestHeader: sector'), true);
  return out;
}

/**
 * Decodes a request header.
 * @param bytes - at least 16 bytes from `offset`.
 * @param offset - where the header starts (default 0).
 * @returns the header.
 * @throws RangeError when fewer than 16 bytes are available.
 * @example
 * ```ts
 * decodeRequestHeader(encodeRequestHeader({ type: 0, sector: 1n })).sector; // 1n
 * ```
 */
export function decodeRequestHeader(bytes: Uint8Array, offset = 0): RequestHeader {
  const dv = room(bytes, offset, REQUEST_HEADER_SIZE, 'decodeRequestHeader');
  return { type: dv.getUint32(0, true), reserved: dv.getUint32(4, true), sector: dv.getBigUint64(8, true) };
}

/**
 * Encodes segments back to back (16 bytes each), the data of a DISCARD, WRITE_ZEROES or
 * SECURE_ERASE request.
 * @param segments - the segments.
 * @returns `16 * segments.length` bytes.
 * @throws RangeError when a field is out of range.
 * @example
 * ```ts
 * encodeSegments([{ sector: 0n, numSectors: 8, flags: 0 }]).length; // 16
 * ```
 */
export function encodeSegments(segments: readonly Segment[]): Uint8Array {
  const out = new Uint8Array(SEGMENT_SIZE * segments.length);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const o = SEGMENT_SIZE * i;
    dv.setBigUint64(o, u64(s.sector, 'encodeSegments: sector'), true);
    dv.setUint32(o + 8, u32(s.numSectors, 'encodeSegments: numSectors'), true);
    dv.setUint32(o + 12, u32(s.flags, 'encodeSegments: flags'), true);
  }
  return out;
}

/**
 * Decodes one segment.
 * @param bytes - at least 16 bytes from `offset`.
 * @param offset - where the segment starts (default 0).
 * @returns the segment.
 * @throws RangeError when fewer than 16 bytes are available.
 * @example
 * ```ts
 * decodeSegment(encodeSegments([{ sector: 5n, numSectors: 1, flags: 1 }])).flags; // 1
 * ```
 */
export function decodeSegment(bytes: Uint8Array, offset = 0): Segment {
  const dv = room(bytes, offset, SEGMENT_SIZE, 'decodeSegment');
  return { sector: dv.getBigUint64(0, true), numSectors: dv.getUint32(8, true), flags: dv.getUint32(12, true) };
}

/**
 * Encodes a device serial as the 20-byte GET_ID answer: the ASCII string, NUL-padded; a
 * 20-byte serial has no terminator (VIRTIO 1.2 §5.2.6).
 * @param serial - printable ASCII (0x20..0x7e), at most 20 characters; or raw bytes (at most 20).
 * @returns 20 bytes.
 * @throws TypeError when `serial` is neither a string nor a Uint8Array.
 * @throws RangeError when it is longer than 20 bytes or a string has a non-printable or non-ASCII character.
 * @example
 * ```ts
 * encodeId('vmv-disk-0'); // 'vmv-disk-0' then 10 NUL bytes
 * ```
 */
export function encodeId(serial: string | Uint8Array): Uint8Array {
  const out = new Uint8Array(ID_BYTES);
  if (serial instanceof Uint8Array) {
    if (serial.length > ID_BYTES) throw new RangeError(`encodeId: serial must be at most ${ID_BYTES} bytes, got ${serial.length}`);
    out.set(serial);
    return out;
  }
  if (typeof serial !== 'string') throw new TypeError('encodeId: serial must be a string or a Uint8Array');
  if (serial.length > ID_BYTES) throw new RangeError(`encodeId: serial must be at most ${ID_BYTES} characters, got ${serial.length}`);
  for (let i = 0; i < serial.length; i++) {
    const c = serial.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new RangeError(`encodeId: serial must be printable ASCII, found code ${c} at ${i}`);
    out[i] = c;
  }
  return out;
}

/**
 * Decodes a GET_ID answer: the bytes up to the first NUL (all 20 when there is none), as Latin-1.
 * @param bytes - the answer (20 bytes; fewer are accepted).
 * @returns the serial string.
 * @example
 * ```ts
 * decodeId(encodeId('disk')); // 'disk'
 * ```
 */
export function decodeId(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length && i < ID_BYTES && bytes[i] !== 0; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/**
 * Whether a lifetime report holds only defined values (the spec forbids sending reserved ones).
 * @param l - the report.
 * @returns true when `preEolInfo` is 0..3 and both estimates are 0..11.
 * @example
 * ```ts
 * isValidLifetime({ preEolInfo: 4, deviceLifetimeEstTypA: 0, deviceLifetimeEstTypB: 0 }); // false
 * ```
 */
export function isValidLifetime(l: BlockLifetime): boolean {
  const ok = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  return typeof l === 'object' && l !== null && ok(l.preEolInfo, 3) && ok(l.deviceLifetimeEstTypA, 11) && ok(l.deviceLifetimeEstTypB, 11);
}

/**
 * Encodes `struct virtio_blk_lifetime` (6 bytes).
 * @param l - the report.
 * @returns 6 bytes.
 * @throws RangeError when a value is reserved (see {@link isValidLifetime}).
 * @example
 * ```ts
 * encodeLifetime({ preEolInfo: 1, deviceLifetimeEstTypA: 3, deviceLifetimeEstTypB: 2 }); // 01 00 03 00 02 00
 * ```
 */
export function encodeLifetime(l: BlockLifetime): Uint8Array {
  if (!isValidLifetime(l)) throw new RangeError('encodeLifetime: preEolInfo must be 0..3 and the estimates 0..11');
  const out = new Uint8Array(LIFETIME_SIZE);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, l.preEolInfo, true);
  dv.setUint16(2, l.deviceLifetimeEstTypA, true);
  dv.setUint16(4, l.deviceLifetimeEstTypB, true);
  return out;
}

/**
 * Decodes `struct virtio_blk_lifetime`.
 * @param bytes - at least 6 bytes from `offset`.
 * @param offset - where it starts (default 0).
 * @returns the report (values as read, reserved ones included).
 * @throws RangeError when fewer than 6 bytes are available.
 * @example
 * ```ts
 * decodeLifetime(new Uint8Array([1, 0, 3, 0, 2, 0])).deviceLifetimeEstTypA; // 3
 * ```
 */
export function decodeLifetime(bytes: Uint8Array, offset = 0): BlockLifetime {
  const dv = room(bytes, offset, LIFETIME_SIZE, 'decodeLifetime');
  return { preEolInfo: dv.getUint16(0, true), deviceLifetimeEstTypA: dv.getUint16(2, true), deviceLifetimeEstTypB: dv.getUint16(4, true) };
}
