/**
 * What the split and packed rings share on the device side: the broken state (VIRTIO 1.2
 * §2.1.1 DEVICE_NEEDS_RESET), the chain pool, and the per-descriptor rules every chain obeys
 * (VIRTIO 1.2 §2.7.4.2 readable before writable, §2.7.5.2 total length at most 2^32, buffers
 * inside guest memory).
 * @module
 */
import type { GuestMemory, GuestRegion } from '@vmv/memory';
import { Chain } from './chain.js';
import { DescFlags } from './constants.js';
import {
  BrokenError,
  BufferOutOfMemoryError,
  ChainLengthOverflowError,
  MisalignedAreaError,
  QueueError,
  ReadableAfterWritableError,
  RingAccessError,
} from './errors.js';
import type { DescriptorChain, GuestAddress } from './types.js';

const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Largest total length of a chain's buffers (VIRTIO 1.2 §2.7.5.2: at most 2^32). */
const MAX_CHAIN_BYTES = TWO_32;

/** Whether the host is little-endian (every engine we target is; typed-array ring views rely on it). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A ring area mapped as typed arrays, with the dirty log of its region. */
export interface MappedArea {
  u8: Uint8Array;
  /** Byte offset of the area inside its region (for the dirty log). */
  regionOffset: number;
  region: GuestRegion;
}

/** Maps `len` bytes at `addr` (inside one region) for typed-array access aligned to `align`. */
export function mapArea(memory: GuestMemory, addr: GuestAddress, len: number, write: boolean, align: number, what: string): MappedArea {
  let u8: Uint8Array;
  try {
    u8 = memory.view(addr, len, write ? 'write' : 'read');
  } catch (e) {
    throw new RingAccessError(`${what} at 0x${addr.toString(16)}+${len} is not inside one region of guest memory`, e);
  }
  if (u8.byteOffset % align !== 0) {
    throw new MisalignedAreaError(`${what} at 0x${addr.toString(16)} is not ${align}-byte aligned in host memory (its region's start is misaligned)`);
  }
  const region = memory.findRegion(addr)!;
  const off = typeof addr === 'bigint' ? Number(addr - region.start) : addr - region.startNumber;
  return { u8, regionOffset: off, region };
}

/** Base of SplitQueue and PackedQueue. */
export abstract class RingBase {
  /** {@inheritDoc Virtqueue.size} */
  readonly size: number;
  /** {@inheritDoc Virtqueue.eventIdx} */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  readonly indirectDesc: boolean;
  protected readonly _memory: GuestMemory;
  protected _error: QueueError | null = null;
  protected _epoch = 0;
  private readonly _pool: Chain[] = [];
  // Cache of the last region a buffer was found in: [start, end) as numbers, and writability.
  protected _rgStart = 0;
  protected _rgEnd = 0;
  protected _rgWritable = false;

  constructor(memory: GuestMemory, size: number, eventIdx: boolean, indirectDesc: boolean) {
    if (!HOST_LITTLE_ENDIAN) throw new RangeError('@vmv/queue: big-endian hosts are not supported');
    this._memory = memory;
    this.size = size;
    this.eventIdx = eventIdx;
    this.indirectDesc = indirectDesc;
  }

  /** {@inheritDoc Virtqueue.error} */
  get error(): QueueError | null {
    return this._error;
  }

  /** Throws Queue.BrokenError if broken. */
  protected checkBroken(): void {
    if (this._error !== null) throw new BrokenError(this._error);
  }

  /**
   * A failed re-map of the ring views (after a growable WebAssembly.Memory detached them): the
   * queue breaks with that error, and the caller acts as on a broken queue. Anything that is not
   * a ring error (a bug) is rethrown.
   * @returns false
   */
  protected mapFailed(e: unknown): false {
    const err = this.fail(e);
    if (this._error === null) throw err;
    return false;
  }

  /** Records `e` as the queue's error when it is a ring error, and returns it for throwing. */
  protected fail(e: unknown): unknown {
    if (e instanceof QueueError) {
      if (this._error === null) this._error = e;
    } else if (typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string' && (e as Error).name.startsWith('GuestMemory.')) {
      const wrapped = new RingAccessError('guest memory access to a ring area failed', e);
      if (this._error === null) this._error = wrapped;
      return wrapped;
    }
    return e;
  }

  /** A chain object from the pool, marked in use. */
  protected takeChain(): Chain {
    const c = this._pool.pop() ?? new Chain(this._memory, this);
    c._inUse = true;
    c._epoch = this._epoch;
    return c;
  }

  /** Returns a chain to the pool (after a failed walk). */
  protected dropChain(c: Chain): void {
    c._inUse = false;
    c._gen++;
    this._pool.push(c);
  }

  /**
   * Checks a chain handed back to addUsed and returns it as a Chain, or null when it is stale
   * (popped before the last reset or restore: its completion is dropped).
   * @throws TypeError when the chain is not a chain of this queue, or was already used.
   */
  protected ownChain(c: DescriptorChain, op: string): Chain | null {
    const chain = c as Chain;
    if (chain._owner !== this) throw new TypeError(`${op}: the chain does not belong to this queue`);
    if (!chain._inUse) throw new TypeError(`${op}: the chain was already used`);
    return chain._epoch === this._epoch ? chain : null;
  }

  /** Whether `c`, an addUsed argument already checked by ownChain, is a stale chain. */
  protected isStale(c: DescriptorChain | number): boolean {
    return typeof c !== 'number' && (c as Chain)._epoch !== this._epoch;
  }

  /** A completion that is not delivered (stale chain, broken queue): the chain object goes back to the pool. */
  protected dropUsed(c: DescriptorChain | number): void {
    if (typeof c !== 'number') this.releaseChain(c as Chain);
  }

  /** Releases a used chain into the pool. */
  protected releaseChain(c: Chain): void {
    c._inUse = false;
    c._gen++;
    this._pool.push(c);
  }

  /** Starts a new epoch: chains popped before become stale (addUsed drops them, their cursors throw). */
  protected newEpoch(): void {
    this._epoch++;
  }

  /**
   * Appends one buffer to `chain`, enforcing: readable before writable, total length at most
   * 2^32, and the buffer inside guest memory (writable memory for a device-writable buffer).
   * `flags` is recorded as given; `write` says whether the buffer is device-writable.
   */
  protected push(chain: Chain, lo: number, hi: number, len: number, flags: number, write: boolean): void {
    const i = chain.descriptorCount;
    if (i === chain._addr.length) chain._grow();
    if (write) {
      chain.writableBytes += len;
    } else {
      if (chain.readableCount !== i) throw new ReadableAfterWritableError(`device-readable buffer ${i} follows a device-writable one`);
      chain.readableCount = i + 1;
      chain.readableBytes += len;
    }
    if (chain.readableBytes + chain.writableBytes > MAX_CHAIN_BYTES) {
      throw new ChainLengthOverflowError(`the buffers total ${chain.readableBytes + chain.writableBytes} bytes, above 2^32`);
    }
    chain._len[i] = len;
    chain._flags[i] = flags;
    chain.descriptorCount = i + 1;
    const addr = hi * TWO_32 + lo;
    if (hi < 0x200000 && addr + len <= MAX_SAFE) {
      chain._addr[i] = addr;
      if (len === 0) return;
      if (addr >= this._rgStart && addr + len <= this._rgEnd && (this._rgWritable || !write)) return;
      this.checkBufferSlow(addr, len, write);
    } else {
      const big = (BigInt(hi) << 32n) | BigInt(lo);
      chain._setBig(i, big);
      if (len !== 0) this.checkBufferSlow(big, len, write);
    }
  }

  protected checkBufferSlow(addr: GuestAddress, len: number, write: boolean): void {
    const mem = this._memory;
    if (!mem.checkRange(addr, len, write ? 'write' : 'read')) {
      throw new BufferOutOfMemoryError(`${write ? 'device-writable' : 'device-readable'} buffer 0x${addr.toString(16)}+${len} is not inside ${write ? 'writable ' : ''}guest memory`);
    }
    if (typeof addr === 'number') {
      const r = mem.findRegion(addr);
      if (r !== undefined && r.startNumber === r.startNumber && addr + len <= r.startNumber + r.size) {
        this._rgStart = r.startNumber;
        this._rgEnd = r.startNumber + r.size;
        this._rgWritable = !r.readOnly;
      }
    }
  }

  /**
   * Checks that an indirect table `[addr, addr+len)` is readable guest memory.
   * @throws Queue.BufferOutOfMemoryError otherwise.
   */
  protected checkTable(addr: GuestAddress, len: number): void {
    if (!this._memory.checkRange(addr, len, 'read')) {
      throw new BufferOutOfMemoryError(`indirect table 0x${addr.toString(16)}+${len} is not inside guest memory`);
    }
  }
}

/** The INDIRECT flag (shared constant for both rings). */
export const F_INDIRECT = DescFlags.INDIRECT;
