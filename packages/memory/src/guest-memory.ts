/**
 * The guest physical address space: a sorted list of regions with bounds-checked little-endian
 * access, byte copies, zero-copy views, atomics and a dirty-page log. The counterpart of
 * rust-vmm vm-memory's `GuestMemoryMmap` (`GuestMemory` + `Bytes<GuestAddress>` traits), with
 * its gaps closed: no access ever returns a short or partial result, and a failed write changes
 * nothing.
 *
 * VIRTIO 1.2 §2.7 / §2.8 (virtqueues live in guest memory; ring indices are read and written
 * with the atomics here), §2.6 (guest memory is little-endian).
 *
 * Error precedence, for every access of `length > 0` bytes at `addr`:
 * 1. `addr + length > 2^64` -> AddressOverflowError;
 * 2. (atomics) `addr` not a multiple of the size -> MisalignedError;
 * 3. a byte of the range is in no region -> OutOfBoundsError;
 * 4. a write touches a read-only region -> ReadOnlyError;
 * 5. (views, atomics) the range is backed by more than one region -> NotContiguousError;
 * 6. (atomics) the host offset is not aligned (region start not aligned) -> MisalignedError.
 * A zero-length access always succeeds and touches nothing.
 *
 * @module
 */
import { checkLength, hex, normalizeAddress, TWO_POW_64, type GuestAddress } from './address.js';
import {
  AddressOverflowError,
  type GuestMemoryError,
  InvalidLayoutError,
  MisalignedError,
  NotContiguousError,
  OutOfBoundsError,
  ReadOnlyError,
  ValueTooLargeError,
} from './errors.js';
import { GuestRegion, type RegionSpec } from './region.js';
import { checkAccess, checkUint, copyIn, copyIn16, copyIn16Dv, copyInSmall, copyOut, copyOut16, copyOut16Dv, copyOutSmall, isByteArray, asUint8 } from './copy.js';

/** Whether typed arrays (and so Atomics) are little-endian on this host. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const bswap16 = (v: number): number => ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
const bswap32 = (v: number): number => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/** Scratch for values that straddle two regions (slow path; module-level, so no allocation). */
const scratch = new Uint8Array(8);
const scratchDv = new DataView(scratch.buffer);
/** A private cell for fence(): a seq-cst read-modify-write is a full barrier on every JIT. */
const fenceCell = new Int32Array(typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(4) : new ArrayBuffer(4));

/** Result codes of a range probe. */
const OK = 0;
const E_OVERFLOW = 1;
const E_OOB = 2;
const E_READONLY = 3;

/**
 * Access kinds of {@link GuestMemory.view} and {@link GuestMemory.checkRange}.
 * @example
 * ```ts
 * mem.checkRange(addr, len, 'write' satisfies AccessKind);
 * ```
 */
export type AccessKind = 'read' | 'write';

/**
 * One region's dirty pages, as returned by {@link GuestMemory.takeDirtyLog}.
 * @example
 * ```ts
 * for (const e of mem.takeDirtyLog()) sendPages(e.start, e.pageSize, e.bitmap);
 * ```
 */
export interface DirtyLogEntry {
  /** Index of the region in {@link GuestMemory.regions}. */
  readonly regionIndex: number;
  /** The region. */
  readonly region: GuestRegion;
  /** Guest address of the region's first byte (page `p` starts at `start + p * pageSize`). */
  readonly start: bigint;
  /** Bytes per page. */
  readonly pageSize: number;
  /** Bit `p % 32` of word `p >> 5` is set if page `p` was written since the last take. */
  readonly bitmap: Uint32Array;
}

/**
 * A guest physical address space. Immutable: hot-add and hot-remove return new objects that
 * share the regions (and their backings and dirty logs), so holders of an older snapshot keep
 * working. See {@link @vmv/memory!GuestMemoryHolder} for swapping the current memory.
 *
 * Addresses are numbers below 2^53 and bigints otherwise; every method takes both. The number
 * paths of the scalar accessors and of read/write/fill do not allocate; the last region hit is
 * cached, other regions are found by binary search.
 *
 * @example
 * ```ts
 * const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(1 << 20) }]);
 * mem.writeU32(0x100, 0xdeadbeef);
 * mem.readU32(0x100); // 0xdeadbeef
 * mem.read(0x100, new Uint8Array(4));
 * ```
 */
export class GuestMemory {
  /** The regions, sorted by start address, non-overlapping (frozen). */
  readonly regions: readonly GuestRegion[];
  /** Total bytes of all regions. */
  readonly size: number;

  private readonly _regions: GuestRegion[];
  /** Region starts as numbers (Infinity from 2^53 on), for binary search. */
  private readonly _keys: Float64Array;
  /** `_joined[i]` is 1 when region i+1 starts exactly where region i ends. */
  private readonly _joined: Uint8Array;
  /** Last region hit: the fast paths try it first. */
  private _last: GuestRegion;
  /** Out-parameters of _probe (no allocation). */
  private _pFirst = 0;
  private _pLast = 0;
  private _pOff = 0;
  private _pBad: number | bigint = 0;
  private _lo = 0;
  private _hi = 0;
  /**
   * The last 16-byte host buffer read into or written from (descriptors, request headers: device
   * code reuses one), with a DataView over its 16 bytes: a repeat copies four u32s each way
   * instead of sixteen bytes, and skips the buffer's type test (done when it was cached). Holds a
   * reference to that buffer until another one takes its place.
   */
  private _buf16: Uint8Array | null = null;
  private _dv16: DataView | null = null;

  private constructor(regions: GuestRegion[]) {
    this._regions = regions;
    this.regions = Object.freeze(regions.slice());
    const n = regions.length;
    this._keys = new Float64Array(n);
    this._joined = new Uint8Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = regions[i]!;
      this._keys[i] = r._startKey;
      total += r.size;
      if (i + 1 < n && regions[i + 1]!.start === r.end) this._joined[i] = 1;
    }
    this.size = total;
    this._last = regions[0]!;
  }

  /**
   * Builds an address space from a list of regions (specs, or regions of another GuestMemory
   * to share them).
   *
   * @param specs - the regions, sorted by start.
   * @returns the new address space.
   * @throws GuestMemory.InvalidLayoutError for an empty list, unsorted or overlapping regions, an
   *   empty region, a region ending beyond 2^64, a window outside its backing, or a backing offset
   *   not a multiple of 8; TypeError / RangeError for arguments of the wrong type or range.
   * @example
   * ```ts
   * const mem = GuestMemory.fromRegions([
   *   { start: 0, backing: new SharedArrayBuffer(0x10000) },
   *   { start: 0x10000, backing: wasmMemory, readOnly: true, dirtyPageSize: 4096 },
   * ]);
   * ```
   */
  static fromRegions(specs: readonly (RegionSpec | GuestRegion)[]): GuestMemory {
    if (!Array.isArray(specs)) throw new TypeError('GuestMemory.fromRegions: specs must be an array');
    if (specs.length === 0) throw new InvalidLayoutError('GuestMemory.fromRegions: the region list is empty');
    const regions: GuestRegion[] = [];
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      regions.push(s instanceof GuestRegion ? s : new GuestRegion(s as RegionSpec, i));
    }
    for (let i = 1; i < regions.length; i++) {
      const prev = regions[i - 1]!;
      const r = regions[i]!;
      if (r.start < prev.start) {
        throw new InvalidLayoutError(`GuestMemory.fromRegions: region ${i} (${hex(r.start)}) is not sorted after region ${i - 1} (${hex(prev.start)})`, { regionIndex: i, address: r.start });
      }
      if (r.start < prev.end) {
        throw new InvalidLayoutError(`GuestMemory.fromRegions: region ${i} (${hex(r.start)}) overlaps region ${i - 1} (${hex(prev.start)}..${hex(prev.lastAddress)})`, { regionIndex: i, address: r.start });
      }
    }
    return new GuestMemory(regions);
  }

  // ---------------------------------------------------------------- lookup

  /** Index of the region holding `a` (normalised), or -1; sets _pOff to the offset in it. */
  private _locate(a: number | bigint): number {
    const keys = this._keys;
    const regs = this._regions;
    if (typeof a === 'number') {
      if (!(a >= keys[0]!)) return -1;
      let lo = 0;
      let hi = keys.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (keys[mid]! <= a) lo = mid;
        else hi = mid - 1;
      }
      const off = a - regs[lo]!._startN;
      if (off < regs[lo]!.size) {
        this._pOff = off;
        return lo;
      }
      return -1;
    }
    let lo = 0;
    let hi = regs.length - 1;
    if (a < regs[0]!.start) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (regs[mid]!.start <= a) lo = mid;
      else hi = mid - 1;
    }
    const r = regs[lo]!;
    if (a < r.end) {
      this._pOff = Number(a - r.start);
      return lo;
    }
    return -1;
  }

  /**
   * Checks `len > 0` bytes at `a` (normalised). Returns OK and sets _pFirst/_pLast/_pOff, or an
   * error code and sets _pBad (the first byte that could not be reached).
   */
  private _probe(a: number | bigint, len: number, write: boolean): number {
    if (typeof a === 'bigint' && a + BigInt(len) > TWO_POW_64) return E_OVERFLOW;
    const i = this._locate(a);
    if (i < 0) {
      this._pBad = a;
      return E_OOB;
    }
    const regs = this._regions;
    let j = i;
    let room = regs[i]!.size - this._pOff;
    while (room < len) {
      if (this._joined[j] !== 1) {
        this._pBad = regs[j]!.end;
        return E_OOB;
      }
      j++;
      room += regs[j]!.size;
    }
    if (write) {
      for (let k = i; k <= j; k++) {
        if (regs[k]!.readOnly) {
          this._pBad = k === i ? a : regs[k]!.start;
          return E_READONLY;
        }
      }
    }
    this._pFirst = i;
    this._pLast = j;
    return OK;
  }

  private _error(code: number, op: string, a: number | bigint, len: number): GuestMemoryError {
    const address = typeof a === 'bigint' ? a : BigInt(a);
    const bad = typeof this._pBad === 'bigint' ? this._pBad : BigInt(this._pBad);
    if (code === E_OVERFLOW) {
      return new AddressOverflowError(`${op}: ${len} bytes at ${hex(a)} run past the end of the 64-bit address space`, { operation: op, address, length: len });
    }
    if (code === E_READONLY) {
      return new ReadOnlyError(`${op}: ${len} bytes at ${hex(a)} touch a read-only region at ${hex(bad)}`, { operation: op, address, length: len, badAddress: bad });
    }
    return new OutOfBoundsError(`${op}: ${len} bytes at ${hex(a)}: guest address ${hex(bad)} is not backed by guest memory`, { operation: op, address, length: len, badAddress: bad });
  }

  /** Like _probe, but throws the typed error. Returns the first region index. */
  private _span(op: string, a: number | bigint, len: number, write: boolean): number {
    const code = this._probe(a, len, write);
    if (code !== OK) throw this._error(code, op, a, len);
    return this._pFirst;
  }

  /**
   * The region holding a guest address.
   * @param addr - a guest address.
   * @returns the region, or undefined if no region backs `addr`.
   * @throws RangeError / TypeError if `addr` is not a valid guest address.
   * @example
   * ```ts
   * mem.findRegion(0x1000)?.readOnly;
   * ```
   */
  findRegion(addr: GuestAddress): GuestRegion | undefined {
    const i = this._locate(normalizeAddress(addr, 'findRegion'));
    return i < 0 ? undefined : this._regions[i];
  }

  /**
   * Tells whether an access would succeed (without doing it).
   * @param addr - first guest address.
   * @param length - bytes (0 is always accessible).
   * @param access - 'read' (default) or 'write' (which also refuses read-only regions).
   * @returns true iff every byte is backed, the range stays below 2^64, and for 'write' no byte
   *   is read-only.
   * @throws RangeError / TypeError for an invalid address, length or access kind.
   * @example
   * ```ts
   * if (!mem.checkRange(desc.addr, desc.len, 'write')) return VIRTIO_BLK_S_IOERR;
   * ```
   */
  checkRange(addr: GuestAddress, length: number, access?: AccessKind): boolean {
    const r = this._last;
    if (typeof addr === 'number' && typeof length === 'number' && (access === undefined || access === 'read' || access === 'write')) {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= (access === 'write' ? r._wlim1 : r._lim1) && length >>> 0 === length && length <= r.size - off) return true;
    }
    const a = normalizeAddress(addr, 'checkRange');
    const len = checkLength(length, 'checkRange');
    const write = checkAccess(access, 'checkRange');
    return len === 0 || this._probe(a, len, write) === OK;
  }

  // ---------------------------------------------------------------- scalar reads

  /**
   * Reads a byte.
   * @param addr - guest address.
   * @returns the byte.
   * @throws GuestMemory.OutOfBoundsError if no region backs `addr`; RangeError / TypeError for
   *   an invalid address.
   * @example
   * ```ts
   * const status = mem.readU8(0x3000);
   * ```
   */
  readU8(addr: GuestAddress): number {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._lim1) {
        if (r._u8.length === 0) r._sync();
        return r._u8[off]!;
      }
    }
    return this._readSmall('readU8', addr, 1);
  }

  /**
   * Reads a little-endian u16 (it may straddle two adjacent regions).
   * @param addr - guest address.
   * @returns the value.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError; RangeError /
   *   TypeError for an invalid address.
   * @example
   * ```ts
   * const flags = mem.readU16(desc + 12);
   * ```
   */
  readU16(addr: GuestAddress): number {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._lim2) {
        if (r._u8.length === 0) r._sync();
        return r._dv.getUint16(off, true);
      }
    }
    return this._readSmall('readU16', addr, 2);
  }

  /**
   * Reads a little-endian u32 (it may straddle two adjacent regions).
   * @param addr - guest address.
   * @returns the value.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError; RangeError /
   *   TypeError for an invalid address.
   * @example
   * ```ts
   * const len = mem.readU32(desc + 8);
   * ```
   */
  readU32(addr: GuestAddress): number {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._lim4) {
        if (r._u8.length === 0) r._sync();
        return r._dv.getUint32(off, true);
      }
    }
    return this._readSmall('readU32', addr, 4);
  }

  /**
   * Reads a little-endian u64 as a bigint.
   * @param addr - guest address.
   * @returns the value.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError; RangeError /
   *   TypeError for an invalid address.
   * @example
   * ```ts
   * const bufAddr = mem.readU64(desc);
   * ```
   */
  readU64(addr: GuestAddress): bigint {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._lim8) {
        if (r._u8.length === 0) r._sync();
        return r._dv.getBigUint64(off, true);
      }
    }
    this._read8('readU64', addr);
    return BigInt(this._hi) * 0x1_0000_0000n + BigInt(this._lo);
  }

  /**
   * Reads a little-endian u64 as a number (no allocation), when it is at most 2^53 - 1.
   * @param addr - guest address.
   * @returns the value.
   * @throws GuestMemory.ValueTooLargeError if the value is above 2^53 - 1 (use readU64);
   *   GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError; RangeError / TypeError for
   *   an invalid address.
   * @example
   * ```ts
   * const sector = mem.readU64Number(hdr + 8);
   * ```
   */
  readU64Number(addr: GuestAddress): number {
    const r = this._last;
    const off = typeof addr === 'number' ? addr - r._startN : -1;
    let lo: number;
    let hi: number;
    if (off >>> 0 === off && off <= r._lim8) {
      if (r._u8.length === 0) r._sync();
      lo = r._dv.getUint32(off, true);
      hi = r._dv.getUint32(off + 4, true);
    } else {
      this._read8('readU64Number', addr);
      lo = this._lo;
      hi = this._hi;
    }
    if (hi > 0x1f_ffff) {
      throw new ValueTooLargeError(`readU64Number: the u64 at ${hex(addr)} is above 2^53-1`, {
        operation: 'readU64Number',
        address: BigInt(addr),
        length: 8,
      });
    }
    return hi * 0x1_0000_0000 + lo;
  }

  /** Slow path of readU8/16/32: a bigint address, a cache miss or a value across regions. */
  private _readSmall(op: string, addr: GuestAddress, n: 1 | 2 | 4): number {
    const a = normalizeAddress(addr, op);
    const i = this._span(op, a, n, false);
    const off = this._pOff;
    if (i === this._pLast) {
      const r = this._regions[i]!;
      this._last = r;
      if (r._u8.length === 0) r._sync();
      return n === 1 ? r._u8[off]! : n === 2 ? r._dv.getUint16(off, true) : r._dv.getUint32(off, true);
    }
    this._copyOutSpan(i, off, scratch, 0, n);
    return n === 2 ? scratchDv.getUint16(0, true) : scratchDv.getUint32(0, true);
  }

  /** Slow path of the u64 reads: sets _lo and _hi. */
  private _read8(op: string, addr: GuestAddress): void {
    const a = normalizeAddress(addr, op);
    const i = this._span(op, a, 8, false);
    const off = this._pOff;
    if (i === this._pLast) {
      const r = this._regions[i]!;
      this._last = r;
      if (r._u8.length === 0) r._sync();
      this._lo = r._dv.getUint32(off, true);
      this._hi = r._dv.getUint32(off + 4, true);
      return;
    }
    this._copyOutSpan(i, off, scratch, 0, 8);
    this._lo = scratchDv.getUint32(0, true);
    this._hi = scratchDv.getUint32(4, true);
  }

  // ---------------------------------------------------------------- scalar writes

  /**
   * Writes a byte.
   * @param addr - guest address.
   * @param value - an integer in 0..255.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.ReadOnlyError; RangeError / TypeError for
   *   an invalid address or value.
   * @example
   * ```ts
   * mem.writeU8(statusAddr, 0); // VIRTIO_BLK_S_OK
   * ```
   */
  writeU8(addr: GuestAddress, value: number): void {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._wlim1 && (value & 0xff) === value) {
        if (r._u8.length === 0) r._sync();
        r._u8[off] = value;
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 1);
        return;
      }
    }
    this._writeSmall('writeU8', addr, checkUint(value, 8, 'writeU8'), 1);
  }

  /**
   * Writes a little-endian u16 (it may straddle two adjacent regions).
   * @param addr - guest address.
   * @param value - an integer in 0..0xffff.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError; RangeError / TypeError for an invalid address or value.
   * @example
   * ```ts
   * mem.writeU16(used + 2, usedIdx);
   * ```
   */
  writeU16(addr: GuestAddress, value: number): void {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._wlim2 && (value & 0xffff) === value) {
        if (r._u8.length === 0) r._sync();
        r._dv.setUint16(off, value, true);
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 2);
        return;
      }
    }
    this._writeSmall('writeU16', addr, checkUint(value, 16, 'writeU16'), 2);
  }

  /**
   * Writes a little-endian u32 (it may straddle two adjacent regions).
   * @param addr - guest address.
   * @param value - an integer in 0..0xffffffff.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError; RangeError / TypeError for an invalid address or value.
   * @example
   * ```ts
   * mem.writeU32(elem + 4, usedLen);
   * ```
   */
  writeU32(addr: GuestAddress, value: number): void {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._wlim4 && value >>> 0 === value) {
        if (r._u8.length === 0) r._sync();
        r._dv.setUint32(off, value, true);
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 4);
        return;
      }
    }
    this._writeSmall('writeU32', addr, checkUint(value, 32, 'writeU32'), 4);
  }

  /**
   * Writes a little-endian u64 (it may straddle two adjacent regions).
   * @param addr - guest address.
   * @param value - a bigint in 0..2^64-1, or a non-negative safe integer.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError; RangeError / TypeError for an invalid address or value.
   * @example
   * ```ts
   * mem.writeU64(desc, 0x10_0000);
   * ```
   */
  writeU64(addr: GuestAddress, value: bigint | number): void {
    let lo: number;
    let hi: number;
    if (typeof value === 'number') {
      if (!(value >= 0 && Number.isSafeInteger(value))) {
        throw new RangeError(`writeU64: value must be a non-negative safe integer or a bigint in 0..2^64-1, got ${value}`);
      }
      lo = value % 0x1_0000_0000;
      hi = (value - lo) / 0x1_0000_0000;
    } else if (typeof value === 'bigint') {
      if (value < 0n || value >= TWO_POW_64) throw new RangeError(`writeU64: value must be in 0..2^64-1, got ${value}`);
      lo = Number(value & 0xffff_ffffn);
      hi = Number(value >> 32n);
    } else {
      throw new TypeError(`writeU64: value must be a bigint or a number, got ${typeof value}`);
    }
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._wlim8) {
        if (r._u8.length === 0) r._sync();
        r._dv.setUint32(off, lo, true);
        r._dv.setUint32(off + 4, hi, true);
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 8);
        return;
      }
    }
    scratchDv.setUint32(0, lo, true);
    scratchDv.setUint32(4, hi, true);
    const a = normalizeAddress(addr, 'writeU64');
    this._writeFrom('writeU64', a, scratch, 0, 8);
  }

  private _writeSmall(op: string, addr: GuestAddress, value: number, n: 1 | 2 | 4): void {
    const a = normalizeAddress(addr, op);
    if (n === 1) scratch[0] = value;
    else if (n === 2) scratchDv.setUint16(0, value, true);
    else scratchDv.setUint32(0, value, true);
    this._writeFrom(op, a, scratch, 0, n);
  }

  // ---------------------------------------------------------------- byte ranges

  /**
   * Copies `dst.length` bytes of guest memory at `addr` into `dst`. The range may span adjacent
   * regions. Either every byte is copied or the call throws having copied nothing.
   * @param addr - first guest address.
   * @param dst - the host buffer to fill.
   * @throws GuestMemory.OutOfBoundsError (a byte is not backed, e.g. the range crosses a hole),
   *   GuestMemory.AddressOverflowError; RangeError / TypeError for an invalid address or buffer.
   * @example
   * ```ts
   * const hdr = new Uint8Array(16);
   * mem.read(desc.addr, hdr);
   * ```
   */
  read(addr: GuestAddress, dst: Uint8Array): void {
    const r = this._last;
    if (typeof addr === 'number' && dst === this._buf16 && dst.length === 16) {
      // The cached 16-byte buffer (a detached or shrunk one has another length: the path below).
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._lim1 && 16 <= r.size - off) {
        if (r._u8.length === 0) r._sync();
        copyOut16Dv(r._dv, off, this._dv16!);
        return;
      }
    }
    // `instanceof` is the cheapest type test on this path; a Uint8Array of another realm (or an
    // Int8Array / Uint8ClampedArray) takes the slow path, which accepts any 1-byte typed array.
    if (typeof addr === 'number' && dst instanceof Uint8Array) {
      const off = addr - r._startN;
      const len = dst.length;
      if (off >>> 0 === off && off <= r._lim1 && len <= r.size - off) {
        if (r._u8.length === 0) r._sync();
        if (len === 16) {
          copyOut16(r._dv, off, dst, 0);
          this._cache16(dst);
        } else if (len < 16) copyOutSmall(r._u8, off, dst, 0, len);
        // A new view of the backing costs less than subarray() (no species lookup).
        else dst.set(new Uint8Array(r._buf, r._base + off, len));
        return;
      }
    }
    this._readSlow(addr, dst);
  }

  private _readSlow(addr: GuestAddress, dst: Uint8Array): void {
    if (!isByteArray(dst)) throw new TypeError('read: dst must be a Uint8Array');
    dst = asUint8(dst);
    const a = normalizeAddress(addr, 'read');
    const len = dst.length;
    if (len === 0) return;
    const i = this._span('read', a, len, false);
    if (i === this._pLast) this._last = this._regions[i]!;
    this._copyOutSpan(i, this._pOff, dst, 0, len);
  }

  /**
   * Copies `src` into guest memory at `addr`. The range may span adjacent regions. All or
   * nothing: the whole range is validated before the first byte is written. Marks dirty pages.
   * @param addr - first guest address.
   * @param src - the bytes to write.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError (nothing is written in every case); RangeError / TypeError for
   *   an invalid address or buffer.
   * @example
   * ```ts
   * mem.write(desc.addr, sectorData);
   * ```
   */
  write(addr: GuestAddress, src: Uint8Array): void {
    const r = this._last;
    if (typeof addr === 'number' && src === this._buf16 && src.length === 16) {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._wlim1 && 16 <= r.size - off) {
        if (r._u8.length === 0) r._sync();
        copyIn16Dv(r._dv, off, this._dv16!);
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 16);
        return;
      }
    }
    if (typeof addr === 'number' && src instanceof Uint8Array) {
      const off = addr - r._startN;
      const len = src.length;
      if (off >>> 0 === off && off <= r._wlim1 && len <= r.size - off) {
        if (r._u8.length === 0) r._sync();
        if (len === 16) {
          copyIn16(r._dv, off, src, 0);
          this._cache16(src);
        } else if (len < 16) copyInSmall(r._u8, off, src, 0, len);
        else r._u8.set(src, off);
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, len);
        return;
      }
    }
    this._writeSlow(addr, src);
  }

  /** Makes `buf`, a 16-byte Uint8Array just copied on the fast path, the cached one (see _buf16). */
  private _cache16(buf: Uint8Array): void {
    if (buf === this._buf16) return;
    this._dv16 = new DataView(buf.buffer, buf.byteOffset, 16);
    this._buf16 = buf;
  }

  private _writeSlow(addr: GuestAddress, src: Uint8Array): void {
    if (!isByteArray(src)) throw new TypeError('write: src must be a Uint8Array');
    src = asUint8(src);
    this._writeFrom('write', normalizeAddress(addr, 'write'), src, 0, src.length);
  }

  /**
   * Sets `length` bytes at `addr` to `byte`. All or nothing, like {@link write}.
   * @param addr - first guest address.
   * @param length - bytes to fill.
   * @param byte - the value, 0..255 (default 0).
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError; RangeError / TypeError for invalid arguments.
   * @example
   * ```ts
   * mem.fill(0, 0x3000); // zero the rings
   * ```
   */
  fill(addr: GuestAddress, length: number, byte = 0): void {
    const a = normalizeAddress(addr, 'fill');
    const len = checkLength(length, 'fill');
    const b = checkUint(byte, 8, 'fill');
    if (len === 0) return;
    let i = this._span('fill', a, len, true);
    const last = this._pLast;
    let off = this._pOff;
    let pos = 0;
    for (; i <= last; i++) {
      const r = this._regions[i]!;
      if (r._u8.length === 0) r._sync();
      const n = Math.min(len - pos, r.size - off);
      r._u8.fill(b, off, off + n);
      if (r.dirtyLog !== null) r.dirtyLog.mark(off, n);
      pos += n;
      off = 0;
    }
  }

  /** Copies a validated span [first.._pLast] starting at offset `off` out to dst. */
  private _copyOutSpan(first: number, off: number, dst: Uint8Array, dstOff: number, len: number): void {
    const last = this._pLast;
    const regs = this._regions;
    if (first === last) {
      const r = regs[first]!;
      if (r._u8.length === 0) r._sync();
      copyOut(r._dv, r._u8, off, dst, dstOff, len);
      return;
    }
    // dst may alias a region of the span: read into a private copy first.
    let target = dst;
    let tOff = dstOff;
    for (let k = first; k <= last; k++) {
      const r = regs[k]!;
      if (r._u8.length === 0) r._sync();
      if (r._buf === dst.buffer) {
        target = new Uint8Array(len);
        tOff = 0;
        break;
      }
    }
    let pos = 0;
    for (let k = first; k <= last; k++) {
      const r = regs[k]!;
      const n = Math.min(len - pos, r.size - off);
      copyOut(r._dv, r._u8, off, target, tOff + pos, n);
      pos += n;
      off = 0;
    }
    if (target !== dst) dst.set(target, dstOff);
  }

  /** Validates and writes len bytes of src (from srcOff) at normalised address a. */
  private _writeFrom(op: string, a: number | bigint, src: Uint8Array, srcOff: number, len: number): void {
    if (len === 0) return;
    const first = this._span(op, a, len, true);
    const last = this._pLast;
    let off = this._pOff;
    const regs = this._regions;
    if (first === last) {
      const r = regs[first]!;
      this._last = r;
      if (r._u8.length === 0) r._sync();
      copyIn(r._dv, r._u8, off, src, srcOff, len);
      if (r.dirtyLog !== null) r.dirtyLog.mark(off, len);
      return;
    }
    // src may alias a region of the span: the first segment must not clobber bytes still to copy.
    for (let k = first; k <= last; k++) {
      const r = regs[k]!;
      if (r._u8.length === 0) r._sync();
      if (r._buf === src.buffer) {
        src = src.slice(srcOff, srcOff + len);
        srcOff = 0;
        break;
      }
    }
    let pos = 0;
    for (let k = first; k <= last; k++) {
      const r = regs[k]!;
      const n = Math.min(len - pos, r.size - off);
      copyIn(r._dv, r._u8, off, src, srcOff + pos, n);
      if (r.dirtyLog !== null) r.dirtyLog.mark(off, n);
      pos += n;
      off = 0;
    }
  }

  /**
   * A zero-copy view of `length` bytes at `addr`, which must lie inside one region. The view
   * aliases guest memory (device I/O can go straight into it). `'write'` refuses read-only
   * regions and marks the range dirty now: if the dirty log is taken between this call and the
   * writes through the view, call {@link markDirty} again after writing.
   *
   * If the backing is a growable WebAssembly.Memory whose buffer `grow()` replaced, a view taken
   * earlier reads as length 0: take a new one.
   *
   * @param addr - first guest address.
   * @param length - bytes (0 gives an empty array).
   * @param access - 'read' (default) or 'write'.
   * @returns a Uint8Array over the backing.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError,
   *   GuestMemory.ReadOnlyError, GuestMemory.NotContiguousError (backed, but by two or more
   *   regions); RangeError / TypeError for invalid arguments.
   * @example
   * ```ts
   * const buf = mem.view(desc.addr, desc.len, 'write');
   * await file.read(buf, 0, buf.length, offset);
   * ```
   */
  view(addr: GuestAddress, length: number, access?: AccessKind): Uint8Array {
    const r = this._last;
    if (typeof addr === 'number' && typeof length === 'number' && length > 0) {
      const off = addr - r._startN;
      if (off >>> 0 === off && length <= r.size - off && Number.isInteger(length)) {
        if (access === undefined || access === 'read') {
          if (off <= r._lim1) {
            if (r._u8.length === 0) r._sync();
            return new Uint8Array(r._buf, r._base + off, length);
          }
        } else if (access === 'write' && off <= r._wlim1) {
          if (r._u8.length === 0) r._sync();
          if (r.dirtyLog !== null) r.dirtyLog.mark(off, length);
          return new Uint8Array(r._buf, r._base + off, length);
        }
      }
    }
    return this._viewSlow(addr, length, access);
  }

  private _viewSlow(addr: GuestAddress, length: number, access?: AccessKind): Uint8Array {
    const a = normalizeAddress(addr, 'view');
    const len = checkLength(length, 'view');
    const write = checkAccess(access, 'view');
    if (len === 0) return new Uint8Array(0);
    const i = this._span('view', a, len, write);
    if (i !== this._pLast) {
      throw new NotContiguousError(`view: ${len} bytes at ${hex(a)} span more than one region`, {
        operation: 'view',
        address: BigInt(a),
        length: len,
      });
    }
    const r = this._regions[i]!;
    const off = this._pOff;
    this._last = r;
    if (r._u8.length === 0) r._sync();
    if (write && r.dirtyLog !== null) r.dirtyLog.mark(off, len);
    return new Uint8Array(r._buf, r._base + off, len);
  }

  // ---------------------------------------------------------------- atomics

  /**
   * Atomically loads a naturally aligned little-endian u16 (a ring index). Sequentially
   * consistent (`Atomics.load`): it is an acquire load for data published by another thread or
   * process through a SharedArrayBuffer with a release (or seq-cst) store.
   * @param addr - guest address, a multiple of 2.
   * @returns the value.
   * @throws GuestMemory.MisalignedError, GuestMemory.OutOfBoundsError,
   *   GuestMemory.NotContiguousError, GuestMemory.AddressOverflowError; RangeError / TypeError
   *   for an invalid address.
   * @example
   * ```ts
   * const availIdx = mem.atomicLoadU16(avail + 2);
   * ```
   */
  atomicLoadU16(addr: GuestAddress): number {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._alim2 && (off & 1) === 0) {
        if (r._u8.length === 0) r._sync();
        const v = Atomics.load(r._u16, off >>> 1);
        return HOST_LE ? v : bswap16(v);
      }
    }
    return this._atomicSlow('atomicLoadU16', addr, 2, false, 0);
  }

  /**
   * Atomically loads a naturally aligned little-endian u32. Sequentially consistent, like
   * {@link atomicLoadU16}.
   * @param addr - guest address, a multiple of 4.
   * @returns the value.
   * @throws GuestMemory.MisalignedError, GuestMemory.OutOfBoundsError,
   *   GuestMemory.NotContiguousError, GuestMemory.AddressOverflowError; RangeError / TypeError
   *   for an invalid address.
   * @example
   * ```ts
   * const v = mem.atomicLoadU32(addr);
   * ```
   */
  atomicLoadU32(addr: GuestAddress): number {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._alim4 && (off & 3) === 0) {
        if (r._u8.length === 0) r._sync();
        const v = Atomics.load(r._u32, off >>> 2);
        return HOST_LE ? v : bswap32(v);
      }
    }
    return this._atomicSlow('atomicLoadU32', addr, 4, false, 0);
  }

  /**
   * Atomically stores a naturally aligned little-endian u16 (e.g. the used index).
   * Sequentially consistent (`Atomics.store`): every plain or atomic write before it is visible
   * to a thread that loads this value atomically. Marks the page dirty.
   * @param addr - guest address, a multiple of 2.
   * @param value - an integer in 0..0xffff.
   * @throws GuestMemory.MisalignedError, GuestMemory.OutOfBoundsError,
   *   GuestMemory.ReadOnlyError, GuestMemory.NotContiguousError,
   *   GuestMemory.AddressOverflowError; RangeError / TypeError for invalid arguments.
   * @example
   * ```ts
   * mem.atomicStoreU16(used + 2, nextUsed);
   * ```
   */
  atomicStoreU16(addr: GuestAddress, value: number): void {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._walim2 && (off & 1) === 0 && (value & 0xffff) === value) {
        if (r._u8.length === 0) r._sync();
        Atomics.store(r._u16, off >>> 1, HOST_LE ? value : bswap16(value));
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 2);
        return;
      }
    }
    this._atomicSlow('atomicStoreU16', addr, 2, true, checkUint(value, 16, 'atomicStoreU16'));
  }

  /**
   * Atomically stores a naturally aligned little-endian u32. Sequentially consistent, like
   * {@link atomicStoreU16}. Marks the page dirty.
   * @param addr - guest address, a multiple of 4.
   * @param value - an integer in 0..0xffffffff.
   * @throws GuestMemory.MisalignedError, GuestMemory.OutOfBoundsError,
   *   GuestMemory.ReadOnlyError, GuestMemory.NotContiguousError,
   *   GuestMemory.AddressOverflowError; RangeError / TypeError for invalid arguments.
   * @example
   * ```ts
   * mem.atomicStoreU32(addr, 1);
   * ```
   */
  atomicStoreU32(addr: GuestAddress, value: number): void {
    const r = this._last;
    if (typeof addr === 'number') {
      const off = addr - r._startN;
      if (off >>> 0 === off && off <= r._walim4 && (off & 3) === 0 && value >>> 0 === value) {
        if (r._u8.length === 0) r._sync();
        Atomics.store(r._u32, off >>> 2, HOST_LE ? value : bswap32(value));
        if (r.dirtyLog !== null) r.dirtyLog.mark(off, 4);
        return;
      }
    }
    this._atomicSlow('atomicStoreU32', addr, 4, true, checkUint(value, 32, 'atomicStoreU32'));
  }

  private _atomicSlow(op: string, addr: GuestAddress, n: 2 | 4, store: boolean, value: number): number {
    const a = normalizeAddress(addr, op);
    if (typeof a === 'bigint' && a + BigInt(n) > TWO_POW_64) throw this._error(E_OVERFLOW, op, a, n);
    const misaligned = typeof a === 'bigint' ? (a & BigInt(n - 1)) !== 0n : a % n !== 0;
    if (misaligned) {
      throw new MisalignedError(`${op}: guest address ${hex(a)} is not a multiple of ${n}`, { operation: op, address: BigInt(a), length: n });
    }
    const i = this._span(op, a, n, store);
    if (i !== this._pLast) {
      throw new NotContiguousError(`${op}: ${n} bytes at ${hex(a)} span two regions`, { operation: op, address: BigInt(a), length: n });
    }
    const r = this._regions[i]!;
    const off = this._pOff;
    if (off % n !== 0) {
      throw new MisalignedError(`${op}: guest address ${hex(a)} is not aligned in host memory (region start ${hex(r.start)})`, {
        operation: op,
        address: BigInt(a),
        length: n,
      });
    }
    this._last = r;
    if (r._u8.length === 0) r._sync();
    if (n === 2) {
      if (!store) {
        const v = Atomics.load(r._u16, off >>> 1);
        return HOST_LE ? v : bswap16(v);
      }
      Atomics.store(r._u16, off >>> 1, HOST_LE ? value : bswap16(value));
    } else {
      if (!store) {
        const v = Atomics.load(r._u32, off >>> 2);
        return HOST_LE ? v : bswap32(v);
      }
      Atomics.store(r._u32, off >>> 2, HOST_LE ? value : bswap32(value));
    }
    if (r.dirtyLog !== null) r.dirtyLog.mark(off, n);
    return 0;
  }

  /**
   * A full memory barrier between plain and atomic accesses (virtio's `virtio_mb()`), for
   * example between publishing the used index and reading `used_event` / avail flags.
   *
   * JavaScript has no standalone fence: this performs a sequentially consistent
   * read-modify-write (`Atomics.exchange`) on a private cell, which every JavaScript engine
   * compiles to a full hardware barrier (x86 `xchg`, Arm `ldaxr/stlxr` + `dmb`). In the JS memory
   * model proper, ordering is guaranteed between the atomic accesses of this API; use
   * atomicLoad/atomicStore for any location another thread reads or writes concurrently.
   * @example
   * ```ts
   * mem.atomicStoreU16(used + 2, idx);
   * mem.fence();
   * const usedEvent = mem.atomicLoadU16(avail + 4 + 2 * size);
   * ```
   */
  fence(): void {
    Atomics.exchange(fenceCell, 0, 0);
  }

  // ---------------------------------------------------------------- dirty log

  /**
   * Marks the pages of a range dirty (for writes made behind the API's back, e.g. through a
   * view after the log was taken). Regions without a log are skipped.
   * @param addr - first guest address.
   * @param length - bytes.
   * @throws GuestMemory.OutOfBoundsError, GuestMemory.AddressOverflowError; RangeError /
   *   TypeError for invalid arguments.
   * @example
   * ```ts
   * mem.markDirty(desc.addr, bytesRead);
   * ```
   */
  markDirty(addr: GuestAddress, length: number): void {
    const a = normalizeAddress(addr, 'markDirty');
    const len = checkLength(length, 'markDirty');
    if (len === 0) return;
    const first = this._span('markDirty', a, len, false);
    let off = this._pOff;
    let pos = 0;
    for (let k = first; k <= this._pLast; k++) {
      const r = this._regions[k]!;
      const n = Math.min(len - pos, r.size - off);
      if (r.dirtyLog !== null) r.dirtyLog.mark(off, n);
      pos += n;
      off = 0;
    }
  }

  /**
   * Reads and clears the dirty log of every region that has one. Each bitmap word is read and
   * cleared with one `Atomics.exchange`, so a page written concurrently is either in this result
   * or in the next one: never lost.
   * @returns one entry per region with a dirty log, in region order.
   * @example
   * ```ts
   * for (const { start, pageSize, region } of mem.takeDirtyLog()) { ... }
   * ```
   */
  takeDirtyLog(): DirtyLogEntry[] {
    const out: DirtyLogEntry[] = [];
    const regs = this._regions;
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i]!;
      const log = r.dirtyLog;
      if (log === null) continue;
      out.push({ regionIndex: i, region: r, start: r.start, pageSize: log.pageSize, bitmap: log.take() });
    }
    return out;
  }

  /**
   * Clears the dirty log of every region.
   * @example
   * ```ts
   * mem.clearDirtyLog();
   * ```
   */
  clearDirtyLog(): void {
    for (const r of this._regions) r.dirtyLog?.clear();
  }

  // ---------------------------------------------------------------- hot-add / hot-remove

  /**
   * Hot-add: a NEW address space with one more region. This object is unchanged (users holding
   * it keep working); existing regions, their backings and dirty logs are shared.
   * @param region - a spec, or a region of another GuestMemory.
   * @returns the new address space.
   * @throws GuestMemory.InvalidLayoutError if the region is invalid or overlaps another;
   *   TypeError / RangeError for invalid arguments.
   * @example
   * ```ts
   * holder.replace(holder.current.insertRegion({ start: 0x1_0000_0000, backing: new ArrayBuffer(1 << 20) }));
   * ```
   */
  insertRegion(region: RegionSpec | GuestRegion): GuestMemory {
    const r = region instanceof GuestRegion ? region : new GuestRegion(region, this._regions.length);
    const list = this._regions.slice();
    let at = list.length;
    while (at > 0 && list[at - 1]!.start > r.start) at--;
    list.splice(at, 0, r);
    return GuestMemory.fromRegions(list);
  }

  /**
   * Hot-remove: a NEW address space without the region that starts at `start` (and has `size`
   * bytes, if given). This object is unchanged.
   * @param start - start address of the region to remove.
   * @param size - its size, to double-check (optional).
   * @returns the new address space.
   * @throws GuestMemory.OutOfBoundsError if no region matches; GuestMemory.InvalidLayoutError if
   *   it is the only region; RangeError / TypeError for invalid arguments.
   * @example
   * ```ts
   * holder.replace(holder.current.removeRegion(0x1_0000_0000));
   * ```
   */
  removeRegion(start: GuestAddress, size?: number): GuestMemory {
    const a = normalizeAddress(start, 'removeRegion');
    const b = typeof a === 'bigint' ? a : BigInt(a);
    if (size !== undefined) checkLength(size, 'removeRegion');
    const idx = this._regions.findIndex((r) => r.start === b && (size === undefined || r.size === size));
    if (idx < 0) {
      throw new OutOfBoundsError(`removeRegion: no region starts at ${hex(a)}${size === undefined ? '' : ` with size ${size}`}`, {
        operation: 'removeRegion',
        address: b,
      });
    }
    if (this._regions.length === 1) {
      throw new InvalidLayoutError('removeRegion: cannot remove the only region', { operation: 'removeRegion', address: b, regionIndex: 0 });
    }
    const list = this._regions.slice();
    list.splice(idx, 1);
    return new GuestMemory(list);
  }
}
