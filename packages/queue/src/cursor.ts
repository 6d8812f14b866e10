/**
 * Byte cursors over a descriptor chain (rust-vmm's descriptor_utils Reader/Writer): the
 * device-readable buffers as one byte stream, the device-writable buffers as another. Devices
 * built on them accept any descriptor layout, as VIRTIO 1.2 §2.7.4.1 ("Message Framing")
 * requires: a header may be split across descriptors, or share one with the data.
 * @module
 */
import { ValueTooLargeError } from '@vmv/memory';
import type { GuestMemory } from '@vmv/memory';
import type { Chain } from './chain.js';
import { BufferTooShortError } from './errors.js';
import type { GuestAddress, Reader, Writer } from './types.js';

const TWO_32 = 4294967296;
const scratch8 = new Uint8Array(8);

function checkCount(n: unknown, label: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${label}: length must be a non-negative safe integer, got ${String(n)}`);
  }
  return n;
}

/** What tells a Reader from a Writer in the methods they share: the bytes they walk and their names. */
interface CursorNames {
  readonly kind: 'readable' | 'writable';
  readonly write: boolean;
  readonly view: string;
  readonly views: string;
  readonly skip: string;
  readonly split: string;
}

const READER: CursorNames = { kind: 'readable', write: false, view: 'Reader.view', views: 'Reader.views', skip: 'Reader.skip', split: 'Reader.split' };
const WRITER: CursorNames = { kind: 'writable', write: true, view: 'Writer.view', views: 'Writer.views', skip: 'Writer.skip', split: 'Writer.split' };

/** Shared state: a window of `_remaining` bytes starting at byte `_off` of buffer `_idx`. */
abstract class Cursor {
  protected readonly _chain: Chain;
  protected readonly _gen: number;
  protected readonly _memory: GuestMemory;
  protected _idx: number;
  protected _off = 0;
  protected _remaining: number;
  protected _done = 0;

  constructor(chain: Chain, idx: number, remaining: number) {
    this._chain = chain;
    this._gen = chain._gen;
    this._memory = chain._memory;
    this._idx = idx;
    this._remaining = remaining;
  }

  get remaining(): number {
    this.live();
    return this._remaining;
  }

  protected live(): void {
    const c = this._chain;
    // A reset or restore starts a new epoch of the owning queue: the guest may reuse the buffers
    // of chains popped before it, so their cursors must not touch them any more.
    if (c._gen !== this._gen || c._epoch !== (c._owner as unknown as { _epoch: number })._epoch) {
      throw new TypeError('@vmv/queue: cursor used after its chain was returned with addUsed (or the queue was reset)');
    }
  }

  protected need(n: number, op: string): void {
    this.live();
    if (n > this._remaining) {
      throw new BufferTooShortError(`${op}: ${n} bytes requested, ${this._remaining} remain in the chain's ${this.names.kind} buffers`);
    }
  }

  /** Which bytes this cursor walks, and the names its errors use. */
  protected abstract get names(): CursorNames;

  /** Moves to the next buffer with bytes left (there is one whenever `_remaining > 0`). */
  protected settle(): void {
    const len = this._chain._len;
    while (this._off >= len[this._idx]!) {
      this._idx++;
      this._off = 0;
    }
  }

  /** Guest address of the current position (after settle). */
  protected at(): GuestAddress {
    const a = this._chain._addr[this._idx]!;
    if (a === a) return a + this._off;
    return this._chain._big![this._idx]! + BigInt(this._off);
  }

  /** Bytes left in the current buffer (after settle). */
  protected room(): number {
    return this._chain._len[this._idx]! - this._off;
  }

  protected advance(n: number): void {
    this._remaining -= n;
    this._done += n;
    let left = n;
    const len = this._chain._len;
    while (left > 0) {
      const room = len[this._idx]! - this._off;
      if (left < room) {
        this._off += left;
        return;
      }
      left -= room;
      this._idx++;
      this._off = 0;
    }
  }

  /** Moves back `n` bytes (undoing an advance). */
  protected rewind(n: number): void {
    this._remaining += n;
    this._done -= n;
    let left = n;
    const len = this._chain._len;
    while (left > this._off) {
      left -= this._off;
      this._idx--;
      this._off = len[this._idx]!;
    }
    this._off -= left;
  }

  /**
   * Contiguous pieces of the next `n` bytes (after need): buffers that follow one another in guest
   * memory make one piece, and a piece that spans regions is cut at their boundaries.
   */
  protected pieces(n: number, write: boolean): Uint8Array[] {
    const out: Uint8Array[] = [];
    const access = write ? 'write' : 'read';
    let left = n;
    let runAt: GuestAddress = 0;
    let runLen = 0;
    while (left > 0) {
      this.settle();
      const take = Math.min(left, this.room());
      const a = this.at();
      if (runLen > 0 && typeof a === 'number' && typeof runAt === 'number' && runAt + runLen === a) runLen += take;
      else {
        if (runLen > 0) this.piece(out, runAt, runLen, access);
        runAt = a;
        runLen = take;
      }
      this.advance(take);
      left -= take;
    }
    if (runLen > 0) this.piece(out, runAt, runLen, access);
    return out;
  }

  /** Appends views of `len` bytes at `addr`, which pop() found in guest memory: one per region they lie in. */
  private piece(out: Uint8Array[], addr: GuestAddress, len: number, access: 'read' | 'write'): void {
    try {
      out.push(this._memory.view(addr, len, access));
      return;
    } catch (e) {
      if ((e as Error | null)?.name !== 'GuestMemory.NotContiguousError') throw e;
    }
    let pos = 0;
    while (pos < len) {
      const at = typeof addr === 'number' ? addr + pos : addr + BigInt(pos);
      const end = this._memory.findRegion(at)!.end;
      const chunk = Math.min(len - pos, Number(end - BigInt(at)));
      out.push(this._memory.view(at, chunk, access));
      pos += chunk;
    }
  }

  /** A zero-copy view of `n` bytes if they lie in one buffer and one region; advances. */
  protected contiguous(n: number, write: boolean): Uint8Array | null {
    if (n === 0) return new Uint8Array(0);
    this.settle();
    if (this.room() < n) return null;
    const a = this.at();
    let v: Uint8Array;
    try {
      v = this._memory.view(a, n, write ? 'write' : 'read');
    } catch {
      return null; // spans two regions
    }
    this.advance(n);
    return v;
  }

  view(length: number): Uint8Array | null {
    const names = this.names;
    const n = checkCount(length, names.view);
    this.need(n, 'view');
    return this.contiguous(n, names.write);
  }

  views(length?: number): Uint8Array[] {
    this.live();
    const names = this.names;
    const n = length === undefined ? this._remaining : checkCount(length, names.views);
    this.need(n, 'views');
    return this.pieces(n, names.write);
  }

  skip(length: number): void {
    const n = checkCount(length, this.names.skip);
    this.need(n, 'skip');
    this.advance(n);
  }

  /**
   * Splits at `offset`: this cursor keeps the first `offset` bytes and `rest`, a fresh cursor of
   * the same kind over the same chain, is moved to the bytes after them.
   */
  protected splitInto<T extends Cursor>(offset: number, make: (chain: Chain, idx: number, remaining: number) => T): T {
    const n = checkCount(offset, this.names.split);
    this.need(n, 'split');
    const rest = make(this._chain, this._idx, this._remaining - n);
    rest._off = this._off;
    // moves the position without counting the bytes as consumed
    rest.advance(n);
    rest._remaining = this._remaining - n;
    rest._done = 0;
    this._remaining = n;
    return rest;
  }
}

/** Implementation of {@link Reader}. */
export class ChainReader extends Cursor implements Reader {
  protected get names(): CursorNames {
    return READER;
  }

  get consumed(): number {
    this.live();
    return this._done;
  }

  readU8(): number {
    this.need(1, 'readU8');
    this.settle();
    const v = this._memory.readU8(this.at());
    this.advance(1);
    return v;
  }

  readU16(): number {
    this.need(2, 'readU16');
    this.settle();
    if (this.room() >= 2) {
      const v = this._memory.readU16(this.at());
      this.advance(2);
      return v;
    }
    return this.slow(2);
  }

  readU32(): number {
    this.need(4, 'readU32');
    this.settle();
    if (this.room() >= 4) {
      const v = this._memory.readU32(this.at());
      this.advance(4);
      return v;
    }
    return this.slow(4);
  }

  readU64(): bigint {
    this.need(8, 'readU64');
    const lo = this.readU32();
    const hi = this.readU32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  readU64Number(): number {
    this.need(8, 'readU64Number');
    this.settle();
    let lo: number;
    let hi: number;
    if (this.room() >= 8) {
      const a = this.at();
      lo = this._memory.readU32(a);
      hi = this._memory.readU32(typeof a === 'number' ? a + 4 : a + 4n);
    } else {
      this.copyOut(scratch8, 8);
      lo = (scratch8[0]! | (scratch8[1]! << 8) | (scratch8[2]! << 16) | (scratch8[3]! << 24)) >>> 0;
      hi = (scratch8[4]! | (scratch8[5]! << 8) | (scratch8[6]! << 16) | (scratch8[7]! << 24)) >>> 0;
      this.rewind(8);
    }
    if (hi > 0x1fffff) {
      throw new ValueTooLargeError(`readU64Number: value 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is above 2^53-1`, { operation: 'readU64Number' });
    }
    this.advance(8);
    return hi * TWO_32 + lo;
  }

  /** Reads n (<= 8) bytes across buffers, little-endian, as a u32 (n <= 4). */
  private slow(n: number): number {
    this.copyOut(scratch8, n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + scratch8[i]!;
    return v;
  }

  /** Copies `n` bytes into dst[0..n) across buffers and advances. */
  private copyOut(dst: Uint8Array, n: number): void {
    let pos = 0;
    while (pos < n) {
      this.settle();
      const take = Math.min(n - pos, this.room());
      const a = this.at();
      if (pos === 0 && take === dst.length) this._memory.read(a, dst);
      else this._memory.read(a, dst.subarray(pos, pos + take));
      this.advance(take);
      pos += take;
    }
  }

  read(dst: Uint8Array): void {
    if (!(dst instanceof Uint8Array)) throw new TypeError('Reader.read: dst must be a Uint8Array');
    this.need(dst.length, 'read');
    this.copyOut(dst, dst.length);
  }

  readBytes(length: number): Uint8Array {
    const n = checkCount(length, 'Reader.readBytes');
    this.need(n, 'readBytes');
    const out = new Uint8Array(n);
    this.copyOut(out, n);
    return out;
  }

  split(offset: number): Reader {
    return this.splitInto(offset, (chain, idx, remaining) => new ChainReader(chain, idx, remaining));
  }
}

/** Implementation of {@link Writer}. */
export class ChainWriter extends Cursor implements Writer {
  protected get names(): CursorNames {
    return WRITER;
  }

  get written(): number {
    this.live();
    return this._done;
  }

  writeU8(value: number): void {
    this.need(1, 'writeU8');
    this.settle();
    this._memory.writeU8(this.at(), value);
    this.advance(1);
  }

  writeU16(value: number): void {
    this.need(2, 'writeU16');
    this.settle();
    if (this.room() >= 2) {
      this._memory.writeU16(this.at(), value);
      this.advance(2);
      return;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
      throw new RangeError(`Writer.writeU16: value must be an integer in 0..65535, got ${String(value)}`);
    }
    scratch8[0] = value & 0xff;
    scratch8[1] = value >>> 8;
    this.copyIn(scratch8, 2);
  }

  writeU32(value: number): void {
    this.need(4, 'writeU32');
    this.settle();
    if (this.room() >= 4) {
      this._memory.writeU32(this.at(), value);
      this.advance(4);
      return;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`Writer.writeU32: value must be an integer in 0..0xffffffff, got ${String(value)}`);
    }
    for (let i = 0; i < 4; i++) scratch8[i] = (value >>> (8 * i)) & 0xff;
    this.copyIn(scratch8, 4);
  }

  writeU64(value: bigint | number): void {
    let big: bigint;
    if (typeof value === 'bigint') {
      if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`Writer.writeU64: value must be in 0..2^64-1, got ${value}`);
      big = value;
    } else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
      big = BigInt(value);
    } else {
      throw new RangeError(`Writer.writeU64: value must be a non-negative safe integer or a bigint, got ${String(value)}`);
    }
    this.need(8, 'writeU64');
    const lo = Number(big & 0xffffffffn);
    const hi = Number(big >> 32n);
    for (let i = 0; i < 4; i++) {
      scratch8[i] = (lo >>> (8 * i)) & 0xff;
      scratch8[4 + i] = (hi >>> (8 * i)) & 0xff;
    }
    this.copyIn(scratch8, 8);
  }

  /** Copies src[0..n) into the buffers and advances. */
  private copyIn(src: Uint8Array, n: number): void {
    let pos = 0;
    while (pos < n) {
      this.settle();
      const take = Math.min(n - pos, this.room());
      const a = this.at();
      if (pos === 0 && take === src.length) this._memory.write(a, src);
      else this._memory.write(a, src.subarray(pos, pos + take));
      this.advance(take);
      pos += take;
    }
  }

  write(src: Uint8Array): void {
    if (!(src instanceof Uint8Array)) throw new TypeError('Writer.write: src must be a Uint8Array');
    this.need(src.length, 'write');
    this.copyIn(src, src.length);
  }

  fill(length: number, byte = 0): void {
    const n = checkCount(length, 'Writer.fill');
    if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255) {
      throw new RangeError(`Writer.fill: byte must be an integer in 0..255, got ${String(byte)}`);
    }
    this.need(n, 'fill');
    let pos = 0;
    while (pos < n) {
      this.settle();
      const take = Math.min(n - pos, this.room());
      this._memory.fill(this.at(), take, byte);
      this.advance(take);
      pos += take;
    }
  }

  split(offset: number): Writer {
    return this.splitInto(offset, (chain, idx, remaining) => new ChainWriter(chain, idx, remaining));
  }
}
