/**
 * One region of a guest physical address space: a start address and a window of a backing
 * store (ArrayBuffer, SharedArrayBuffer, WebAssembly.Memory or an external Uint8Array such as
 * a native mmap), the counterpart of vm-memory's `GuestRegionMmap`.
 *
 * @module
 */
import { DirtyPageLog } from './dirty-log.js';
import { DetachedError, InvalidLayoutError } from './errors.js';
import { normalizeAddress, TWO_POW_53, TWO_POW_64, hex, type GuestAddress } from './address.js';

/**
 * Structural type of a `WebAssembly.Memory` (the WebAssembly types are not in the ES library).
 * Its `buffer` is re-read on every access, so the region stays correct after `memory.grow()`.
 * @example
 * ```ts
 * const wasm: WasmMemoryLike = new WebAssembly.Memory({ initial: 16, maximum: 256 });
 * ```
 */
export interface WasmMemoryLike {
  /** The current buffer (replaced by `grow()` when the memory is not shared). */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}

/**
 * What backs a region. A Uint8Array is an external buffer (e.g. a native mmap).
 * @example
 * ```ts
 * const backing: RegionBacking = new SharedArrayBuffer(1 << 20);
 * ```
 */
export type RegionBacking = ArrayBuffer | SharedArrayBuffer | WasmMemoryLike | Uint8Array;

/**
 * Description of one region, as given to `GuestMemory.fromRegions`.
 * @example
 * ```ts
 * const spec: RegionSpec = { start: 0x1_0000_0000n, backing: ram, offset: 0, size: 1 << 30, dirtyPageSize: 4096 };
 * ```
 */
export interface RegionSpec {
  /** Guest physical address of the first byte. */
  start: GuestAddress;
  /** The backing store. */
  backing: RegionBacking;
  /** Byte offset of the window in the backing (default 0). */
  offset?: number;
  /** Bytes in the window (default: the rest of the backing). */
  size?: number;
  /** Writes to a read-only region fail with `GuestMemory.ReadOnlyError`. */
  readOnly?: boolean;
  /** A power of two >= 64 enables the dirty-page log of this region with that page size. */
  dirtyPageSize?: number;
  /** An existing Int32Array to hold the dirty log (e.g. one shared with another thread). */
  dirtyBitmap?: Int32Array;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const tag = (x: unknown): string => Object.prototype.toString.call(x);
const isBufferTag = (t: string): boolean => t === '[object ArrayBuffer]' || t === '[object SharedArrayBuffer]';

/**
 * One region of guest memory. Regions are immutable except for the dirty log; the same region
 * object is shared by every `GuestMemory` that contains it (after `insertRegion` /
 * `removeRegion`), so its dirty log follows it.
 *
 * Fields whose names start with `_` are internal (the access fast paths of `GuestMemory` read
 * them); do not use them.
 *
 * @example
 * ```ts
 * const r = mem.regions[0];
 * console.log(r.start, r.size, r.readOnly);
 * ```
 */
export class GuestRegion {
  /** Guest physical address of the first byte. */
  readonly start: bigint;
  /** `start` as a number, or NaN when it is 2^53 or above. */
  readonly startNumber: number;
  /** Bytes in the region (> 0). */
  readonly size: number;
  /** One past the last byte: `start + size` (at most 2^64). */
  readonly end: bigint;
  /** Guest address of the last byte. */
  readonly lastAddress: bigint;
  /** Whether writes fail with `GuestMemory.ReadOnlyError`. */
  readonly readOnly: boolean;
  /** The backing store, as given. */
  readonly backing: RegionBacking;
  /** Byte offset of the window in the backing, as given (default 0). */
  readonly offset: number;
  /** The dirty-page log, or null when it is off. */
  readonly dirtyLog: DirtyPageLog | null;

  /** @internal current backing buffer */ _buf: ArrayBuffer | SharedArrayBuffer;
  /** @internal byte offset of the window in `_buf` */ readonly _base: number;
  /** @internal */ _u8: Uint8Array;
  /** @internal */ _dv: DataView;
  /** @internal */ _u16: Uint16Array;
  /** @internal */ _u32: Uint32Array;
  /** @internal growable (non-shared) WebAssembly memory, or null */ readonly _wasm: WasmMemoryLike | null;
  /** @internal start as a number, NaN when >= 2^53 */ readonly _startN: number;
  /** @internal start as a number, Infinity when >= 2^53 (for binary search) */ readonly _startKey: number;
  /** @internal highest offset where an n-byte access fits with a safe-integer address; -1 if none */
  readonly _lim1: number;
  /** @internal */ readonly _lim2: number;
  /** @internal */ readonly _lim4: number;
  /** @internal */ readonly _lim8: number;
  /** @internal the same for writes (-1 when read-only) */ readonly _wlim1: number;
  /** @internal */ readonly _wlim2: number;
  /** @internal */ readonly _wlim4: number;
  /** @internal */ readonly _wlim8: number;
  /** @internal atomic limits: -1 when the start is not aligned */ readonly _alim2: number;
  /** @internal */ readonly _alim4: number;
  /** @internal */ readonly _walim2: number;
  /** @internal */ readonly _walim4: number;

  /**
   * Builds a region from a spec (validated). Usually called by `GuestMemory.fromRegions`.
   * @param spec - the region.
   * @param index - its position in the list, for messages.
   * @throws TypeError for a backing of the wrong type; RangeError for a bad start, offset, size
   *   or dirty page size; GuestMemory.InvalidLayoutError for an empty region, a window outside
   *   the backing, a backing offset not a multiple of 8, or an end beyond 2^64.
   * @example
   * ```ts
   * const r = new GuestRegion({ start: 0, backing: new ArrayBuffer(4096) });
   * ```
   */
  constructor(spec: RegionSpec, index = 0) {
    if (typeof spec !== 'object' || spec === null) throw new TypeError(`GuestRegion: region ${index} must be an object`);
    const label = `GuestRegion[${index}]`;
    const startNorm = normalizeAddress(spec.start, `${label}.start`);
    const backing = spec.backing;
    let buf: ArrayBuffer | SharedArrayBuffer;
    let viewOffset = 0;
    let viewLength: number;
    let wasm: WasmMemoryLike | null = null;
    const t = tag(backing);
    if (t === '[object Uint8Array]') {
      const u = backing as Uint8Array;
      buf = u.buffer;
      viewOffset = u.byteOffset;
      viewLength = u.byteLength;
    } else if (isBufferTag(t)) {
      buf = backing as ArrayBuffer;
      viewLength = buf.byteLength;
    } else if (typeof backing === 'object' && backing !== null && !ArrayBuffer.isView(backing) && isBufferTag(tag((backing as WasmMemoryLike).buffer))) {
      buf = (backing as WasmMemoryLike).buffer;
      viewLength = buf.byteLength;
      // A shared memory never detaches its old buffers and cannot shrink: keep the first one.
      if (tag(buf) !== '[object SharedArrayBuffer]') wasm = backing as WasmMemoryLike;
    } else {
      throw new TypeError(`${label}.backing must be an ArrayBuffer, SharedArrayBuffer, WebAssembly.Memory or Uint8Array`);
    }
    const offset = spec.offset ?? 0;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`${label}.offset must be a non-negative safe integer, got ${String(offset)}`);
    }
    const size = spec.size ?? viewLength - offset;
    if (typeof size !== 'number' || !Number.isSafeInteger(size)) {
      throw new RangeError(`${label}.size must be a safe integer, got ${String(size)}`);
    }
    if (size <= 0) throw new InvalidLayoutError(`${label}: a region must not be empty (size ${size})`, { regionIndex: index });
    if (offset + size > viewLength) {
      throw new InvalidLayoutError(`${label}: window ${offset}+${size} lies outside the backing (${viewLength} bytes)`, { regionIndex: index });
    }
    const base = viewOffset + offset;
    if (base % 8 !== 0) {
      throw new InvalidLayoutError(`${label}: backing byte offset ${base} is not a multiple of 8`, { regionIndex: index });
    }
    const start = typeof startNorm === 'bigint' ? startNorm : BigInt(startNorm);
    const end = start + BigInt(size);
    if (end > TWO_POW_64) {
      throw new InvalidLayoutError(`${label}: region ${hex(start)}+${size} ends beyond 2^64`, { regionIndex: index, address: start, length: size });
    }
    this.start = start;
    this.end = end;
    this.lastAddress = end - 1n;
    this.size = size;
    this.readOnly = spec.readOnly === true;
    this.backing = backing;
    this.offset = offset;
    this._buf = buf;
    this._base = base;
    this._wasm = wasm;
    this._u8 = new Uint8Array(buf, base, size);
    this._dv = new DataView(buf, base, size);
    this._u16 = new Uint16Array(buf, base, Math.floor(size / 2));
    this._u32 = new Uint32Array(buf, base, Math.floor(size / 4));
    const startN = start < TWO_POW_53 ? Number(start) : NaN;
    this.startNumber = startN;
    this._startN = startN;
    this._startKey = start < TWO_POW_53 ? startN : Infinity;
    // Highest offset at which an n-byte access lies inside the region and its address is safe.
    const safeRoom = start < TWO_POW_53 ? MAX_SAFE - startN : -1;
    const lim = (n: number): number => (size < n ? -1 : Math.min(size - n, safeRoom));
    this._lim1 = lim(1);
    this._lim2 = lim(2);
    this._lim4 = lim(4);
    this._lim8 = lim(8);
    const ro = this.readOnly;
    this._wlim1 = ro ? -1 : this._lim1;
    this._wlim2 = ro ? -1 : this._lim2;
    this._wlim4 = ro ? -1 : this._lim4;
    this._wlim8 = ro ? -1 : this._lim8;
    const s4 = Number(start & 3n);
    this._alim2 = (s4 & 1) === 0 ? this._lim2 : -1;
    this._alim4 = s4 === 0 ? this._lim4 : -1;
    this._walim2 = ro ? -1 : this._alim2;
    this._walim4 = ro ? -1 : this._alim4;
    if (spec.dirtyPageSize !== undefined || spec.dirtyBitmap !== undefined) {
      if (spec.dirtyPageSize === undefined) throw new RangeError(`${label}: dirtyBitmap needs dirtyPageSize`);
      this.dirtyLog = new DirtyPageLog(size, spec.dirtyPageSize, tag(buf) === '[object SharedArrayBuffer]', spec.dirtyBitmap);
    } else {
      this.dirtyLog = null;
    }
  }

  /**
   * Called when the cached view reads as length 0 (a region is never empty, so that means the
   * buffer was detached). A growable WebAssembly.Memory replaced its buffer on `grow()`: follow
   * it. Any other backing is gone for good (a native mapping was closed, an ArrayBuffer was
   * transferred): the access fails with a typed error instead of reading zeros or throwing the
   * engine's TypeError. Callers test the cheap `_u8.length === 0` instead of the costly
   * `memory.buffer` getter on every access.
   * @throws GuestMemory.DetachedError when the backing cannot be recovered.
   * @internal
   */
  _sync(): void {
    if (this._wasm !== null) {
      const buf = this._wasm.buffer;
      if (buf !== this._buf && buf.byteLength >= this._base + this.size) {
        this._buf = buf;
        const base = this._base;
        const size = this.size;
        this._u8 = new Uint8Array(buf, base, size);
        this._dv = new DataView(buf, base, size);
        this._u16 = new Uint16Array(buf, base, Math.floor(size / 2));
        this._u32 = new Uint32Array(buf, base, Math.floor(size / 4));
      }
      if (this._u8.length !== 0) return;
    }
    throw new DetachedError(`the backing of the region at ${hex(this.start)} is detached`, { address: this.start, length: this.size });
  }

  /**
   * Whether the guest address lies in this region.
   * @param addr - a guest address.
   * @returns true if `start <= addr < end`.
   * @throws RangeError / TypeError if `addr` is not a valid guest address.
   * @example
   * ```ts
   * region.contains(0x1000n);
   * ```
   */
  contains(addr: GuestAddress): boolean {
    const a = normalizeAddress(addr, 'GuestRegion.contains');
    const b = typeof a === 'bigint' ? a : BigInt(a);
    return b >= this.start && b < this.end;
  }

  /**
   * The backing buffer that currently holds this region (re-read for a growable
   * WebAssembly.Memory) and the byte offset of the region in it.
   * @returns the buffer and the byte offset of the region's first byte.
   * @example
   * ```ts
   * const { buffer, byteOffset } = region.hostBuffer();
   * ```
   */
  hostBuffer(): {
    /** The ArrayBuffer or SharedArrayBuffer that holds the region now. */
    buffer: ArrayBuffer | SharedArrayBuffer;
    /** Byte offset of the region's first byte in `buffer`. */
    byteOffset: number;
  } {
    if (this._wasm !== null) this._sync();
    return { buffer: this._buf, byteOffset: this._base };
  }
}
