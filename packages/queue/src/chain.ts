/**
 * Descriptor chains as the device sees them (VIRTIO 1.2 §2.7.5, §2.8.1): the buffers of one
 * request, copied out of the ring by `pop()` after every validation rule passed.
 *
 * Chains are pooled per queue: the arrays grow to the longest chain seen and are reused, so
 * popping does not allocate per descriptor.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { DescFlags } from './constants.js';
import { ChainReader, ChainWriter } from './cursor.js';
import type { Descriptor, DescriptorChain, GuestAddress, Reader, Writer } from './types.js';

const INITIAL_CAPACITY = 8;

/** Implementation of {@link DescriptorChain}; internal fields start with `_`. */
export class Chain implements DescriptorChain {
  head = 0;
  descriptorCount = 0;
  readableCount = 0;
  readableBytes = 0;
  writableBytes = 0;
  indirect = false;
  /** Ring slots the chain occupies (packed ring: how far the used index advances). */
  _ringCount = 1;
  /** Bumped each time the chain is released; cursors remember it to detect stale use. */
  _gen = 0;
  /** Whether the chain is popped and not yet used. */
  _inUse = false;
  /** The queue epoch the chain was popped in (reset/restore start a new epoch). */
  _epoch = 0;
  /** Buffer addresses; NaN where the address is a bigint (then in `_big`). */
  _addr: Float64Array;
  _len: Uint32Array;
  _flags: Uint16Array;
  _big: (bigint | undefined)[] | null = null;
  readonly _memory: GuestMemory;
  readonly _owner: object;

  constructor(memory: GuestMemory, owner: object) {
    this._memory = memory;
    this._owner = owner;
    this._addr = new Float64Array(INITIAL_CAPACITY);
    this._len = new Uint32Array(INITIAL_CAPACITY);
    this._flags = new Uint16Array(INITIAL_CAPACITY);
  }

  /** Starts recording a new chain. */
  _begin(head: number): void {
    this.head = head;
    this.descriptorCount = 0;
    this.readableCount = 0;
    this.readableBytes = 0;
    this.writableBytes = 0;
    this.indirect = false;
    this._ringCount = 1;
    if (this._big !== null) this._big = null;
  }

  /** Makes room for one more buffer. */
  _grow(): void {
    const cap = this._addr.length * 2;
    const a = new Float64Array(cap);
    a.set(this._addr);
    const l = new Uint32Array(cap);
    l.set(this._len);
    const f = new Uint16Array(cap);
    f.set(this._flags);
    this._addr = a;
    this._len = l;
    this._flags = f;
  }

  /** Records a bigint address for buffer `i` (at or above 2^53). */
  _setBig(i: number, addr: bigint): void {
    if (this._big === null) this._big = [];
    this._big[i] = addr;
    this._addr[i] = NaN;
  }

  private bad(i: number, op: string): RangeError {
    return new RangeError(`DescriptorChain.${op}: index must be an integer in 0..${this.descriptorCount - 1}, got ${i}`);
  }

  // `i >>> 0 === i` rejects fractions, negatives and non-numbers in one comparison.
  address(i: number): GuestAddress {
    if (!(i >>> 0 === i && i < this.descriptorCount)) throw this.bad(i, 'address');
    const a = this._addr[i]!;
    return a === a ? a : this._big![i]!;
  }

  length(i: number): number {
    if (!(i >>> 0 === i && i < this.descriptorCount)) throw this.bad(i, 'length');
    return this._len[i]!;
  }

  flags(i: number): number {
    if (!(i >>> 0 === i && i < this.descriptorCount)) throw this.bad(i, 'flags');
    return this._flags[i]!;
  }

  isWritable(i: number): boolean {
    if (!(i >>> 0 === i && i < this.descriptorCount)) throw this.bad(i, 'isWritable');
    return i >= this.readableCount;
  }

  descriptors(): Descriptor[] {
    const out: Descriptor[] = [];
    for (let i = 0; i < this.descriptorCount; i++) {
      const a = this._addr[i]!;
      out.push({ address: a === a ? a : this._big![i]!, length: this._len[i]!, writable: i >= this.readableCount, flags: this._flags[i]! });
    }
    return out;
  }

  reader(): Reader {
    return new ChainReader(this, 0, this.readableBytes);
  }

  writer(): Writer {
    return new ChainWriter(this, this.readableCount, this.writableBytes);
  }
}

/** WRITE flag of a recorded buffer (indirect-table and ring descriptors alike). */
export const WRITE = DescFlags.WRITE;
