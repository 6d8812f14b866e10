/**
 * Internal helpers of GuestMemory: byte copies between regions and host buffers, and argument
 * checks. Not exported from the package.
 *
 * @module
 * @internal
 */

/**
 * Copies n bytes of a region (its DataView and Uint8Array) at `off` to dst[d..]. Up to 16 bytes
 * go through locals (every load before any store, so the copy is correct even if dst aliases
 * guest memory, and it allocates nothing); longer copies use subarray()+set(), a memmove.
 */
export function copyOut(dv: DataView, src: Uint8Array, off: number, dst: Uint8Array, d: number, n: number): void {
  if (n === 16) copyOut16(dv, off, dst, d);
  else if (n < 16) copyOutSmall(src, off, dst, d, n);
  else dst.set(src.subarray(off, off + n), d);
}

/** 16 bytes (a descriptor, a virtio-blk header): four u32 loads, then the stores. */
export function copyOut16(dv: DataView, off: number, dst: Uint8Array, d: number): void {
  const v0 = dv.getUint32(off, true);
  const v1 = dv.getUint32(off + 4, true);
  const v2 = dv.getUint32(off + 8, true);
  const v3 = dv.getUint32(off + 12, true);
  dst[d] = v0;
  dst[d + 1] = v0 >>> 8;
  dst[d + 2] = v0 >>> 16;
  dst[d + 3] = v0 >>> 24;
  dst[d + 4] = v1;
  dst[d + 5] = v1 >>> 8;
  dst[d + 6] = v1 >>> 16;
  dst[d + 7] = v1 >>> 24;
  dst[d + 8] = v2;
  dst[d + 9] = v2 >>> 8;
  dst[d + 10] = v2 >>> 16;
  dst[d + 11] = v2 >>> 24;
  dst[d + 12] = v3;
  dst[d + 13] = v3 >>> 8;
  dst[d + 14] = v3 >>> 16;
  dst[d + 15] = v3 >>> 24;
}

/** 16 bytes between two DataViews (guest memory at `off`, a host buffer at 0): four u32 loads, then the stores. */
export function copyOut16Dv(dv: DataView, off: number, dst: DataView): void {
  const v0 = dv.getInt32(off, true);
  const v1 = dv.getInt32(off + 4, true);
  const v2 = dv.getInt32(off + 8, true);
  const v3 = dv.getInt32(off + 12, true);
  dst.setInt32(0, v0, true);
  dst.setInt32(4, v1, true);
  dst.setInt32(8, v2, true);
  dst.setInt32(12, v3, true);
}

/** Fewer than 16 bytes: gathered into four 32-bit locals, then stored. */
export function copyOutSmall(src: Uint8Array, off: number, dst: Uint8Array, d: number, n: number): void {
  let lo = 0;
  let mid = 0;
  let hi = 0;
  let top = 0;
  for (let k = 0; k < n; k++) {
    const b = src[off + k]! << ((k & 3) << 3);
    if (k < 4) lo |= b;
    else if (k < 8) mid |= b;
    else if (k < 12) hi |= b;
    else top |= b;
  }
  for (let k = 0; k < n; k++) {
    const w = k < 4 ? lo : k < 8 ? mid : k < 12 ? hi : top;
    dst[d + k] = w >>> ((k & 3) << 3);
  }
}

/**
 * Copies n bytes of src (from srcOff) into a region (its DataView and Uint8Array) at `off`. Up
 * to 16 bytes go through locals (all loads before any store: correct if src aliases guest
 * memory, no allocation, and much faster than set() for a few bytes); longer copies use set(),
 * a memmove.
 */
export function copyIn(dv: DataView, dst: Uint8Array, off: number, src: Uint8Array, srcOff: number, n: number): void {
  if (n === 16) copyIn16(dv, off, src, srcOff);
  else if (n < 16) copyInSmall(dst, off, src, srcOff, n);
  else if (srcOff === 0 && n === src.length) dst.set(src, off);
  else dst.set(src.subarray(srcOff, srcOff + n), off);
}

/** 16 bytes: sixteen loads into four u32 locals, then four DataView stores. */
export function copyIn16(dv: DataView, off: number, s: Uint8Array, i: number): void {
  const w0 = s[i]! | (s[i + 1]! << 8) | (s[i + 2]! << 16) | (s[i + 3]! << 24);
  const w1 = s[i + 4]! | (s[i + 5]! << 8) | (s[i + 6]! << 16) | (s[i + 7]! << 24);
  const w2 = s[i + 8]! | (s[i + 9]! << 8) | (s[i + 10]! << 16) | (s[i + 11]! << 24);
  const w3 = s[i + 12]! | (s[i + 13]! << 8) | (s[i + 14]! << 16) | (s[i + 15]! << 24);
  dv.setInt32(off, w0, true);
  dv.setInt32(off + 4, w1, true);
  dv.setInt32(off + 8, w2, true);
  dv.setInt32(off + 12, w3, true);
}

/** 16 bytes from a host buffer's DataView (at 0) into guest memory at `off`: four u32 loads, then the stores. */
export function copyIn16Dv(dv: DataView, off: number, src: DataView): void {
  const w0 = src.getInt32(0, true);
  const w1 = src.getInt32(4, true);
  const w2 = src.getInt32(8, true);
  const w3 = src.getInt32(12, true);
  dv.setInt32(off, w0, true);
  dv.setInt32(off + 4, w1, true);
  dv.setInt32(off + 8, w2, true);
  dv.setInt32(off + 12, w3, true);
}

/** Fewer than 16 bytes: gathered into four 32-bit locals, then stored. */
export function copyInSmall(dst: Uint8Array, off: number, src: Uint8Array, srcOff: number, n: number): void {
  let lo = 0;
  let mid = 0;
  let hi = 0;
  let top = 0;
  for (let k = 0; k < n; k++) {
    const b = src[srcOff + k]! << ((k & 3) << 3);
    if (k < 4) lo |= b;
    else if (k < 8) mid |= b;
    else if (k < 12) hi |= b;
    else top |= b;
  }
  for (let k = 0; k < n; k++) {
    const w = k < 4 ? lo : k < 8 ? mid : k < 12 ? hi : top;
    dst[off + k] = w >>> ((k & 3) << 3);
  }
}

export function isByteArray(x: unknown): x is Uint8Array {
  return ArrayBuffer.isView(x) && (x as Uint8Array).BYTES_PER_ELEMENT === 1;
}

/**
 * The same bytes as a Uint8Array of this realm (zero-copy), so the copy helpers only ever see
 * values 0..255 (an Int8Array holds negatives; a Uint8ClampedArray clamps stores).
 */
export function asUint8(x: Uint8Array): Uint8Array {
  return x instanceof Uint8Array && Object.getPrototypeOf(x) === Uint8Array.prototype ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

export function checkAccess(access: unknown, label: string): boolean {
  if (access === undefined || access === 'read') return false;
  if (access === 'write') return true;
  throw new TypeError(`${label}: access must be 'read' or 'write', got ${String(access)}`);
}

export function checkUint(value: unknown, bits: 8 | 16 | 32, label: string): number {
  if (typeof value !== 'number') throw new TypeError(`${label}: value must be a number, got ${typeof value}`);
  const max = bits === 32 ? 0xffff_ffff : bits === 16 ? 0xffff : 0xff;
  if (Number.isInteger(value) && value >= 0 && value <= max) return value;
  throw new RangeError(`${label}: value must be an integer in 0..${max}, got ${value}`);
}

