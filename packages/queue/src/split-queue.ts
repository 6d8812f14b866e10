/**
 * The split virtqueue, device side (VIRTIO 1.2 §2.7): descriptor table, available ring, used
 * ring; chains walked and validated by `pop()` (§2.7.5, §2.7.6), used elements (§2.7.8),
 * notification suppression with VIRTQ_AVAIL_F_NO_INTERRUPT / VIRTQ_USED_F_NO_NOTIFY and
 * VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10), and memory ordering as §2.7.13 requires.
 *
 * Hot path: ring fields are read through typed arrays over the ring areas (re-acquired if a
 * growable WebAssembly.Memory detached them), `avail.idx` and `used.idx` with Atomics; no
 * allocation per descriptor (chains are pooled), numbers for addresses below 2^53.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import type { Chain } from './chain.js';
import type { QueueConfig } from './config.js';
import { DescFlags } from './constants.js';
import {
  ChainLengthOverflowError,
  ChainTooLongError,
  InvalidAvailIndexError,
  InvalidDescriptorIndexError,
  InvalidIndirectDescriptorError,
  InvalidIndirectTableError,
  InvalidStateError,
  NotReadyError,
  QueueSizeExceededError,
  ReadableAfterWritableError,
} from './errors.js';
import { mapArea, RingBase } from './ring-base.js';
import type { DirtyPageLog } from '@vmv/memory';
import { addressFromState, addressToState, checkStateObject, stateBool, stateU16 } from './state.js';
import type { DescriptorChain, GuestAddress, QueueState, Virtqueue } from './types.js';

const F_NEXT = DescFlags.NEXT;
const F_WRITE = DescFlags.WRITE;
const F_INDIRECT = DescFlags.INDIRECT;
const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Most entries an indirect table may have: `next` is a u16. */
const MAX_INDIRECT_ENTRIES = 65536;

/**
 * The device side of a split virtqueue. Create it with {@link createVirtqueue} (or directly).
 * See {@link Virtqueue} for the contract.
 *
 * @example
 * ```ts
 * const q = new SplitQueue(memory, config);
 * for (let c = q.pop(); c !== null; c = q.pop()) q.addUsed(c, 0);
 * ```
 */
export class SplitQueue extends RingBase implements Virtqueue {
  /** {@inheritDoc Virtqueue.format} */
  readonly format = 'split' as const;
  private readonly _mask: number;
  private readonly _descAddr: GuestAddress;
  private readonly _availAddr: GuestAddress;
  private readonly _usedAddr: GuestAddress;
  // Typed-array views over the three areas (little-endian host).
  private _desc!: Uint32Array;
  private _avail!: Uint16Array;
  private _used16!: Uint16Array;
  private _used32!: Uint32Array;
  private _usedLog: DirtyPageLog | null = null;
  private _usedOff = 0;
  private _nextAvail = 0;
  private _nextUsed = 0;
  private _numAdded = 0;
  /** Last avail.idx read (valid while > _nextAvail in ring order). */
  private _availShadow = 0;
  /** Chains popped (or in flight at a restore) and not yet used; never above the size. */
  private _inFlight = 0;

  /**
   * @param memory - the guest memory the rings and buffers live in.
   * @param config - a validated, ready configuration (copied).
   * @throws Queue.NotReadyError when `config.ready` is false; a configuration error when
   *   `config.validate(memory)` fails.
   * @example
   * ```ts
   * const q = new SplitQueue(memory, config);
   * ```
   */
  constructor(memory: GuestMemory, config: QueueConfig) {
    if (!config.ready) throw new NotReadyError();
    config.validate(memory);
    if (config.ringPacked) throw new TypeError('SplitQueue: the configuration negotiated VIRTIO_F_RING_PACKED; use PackedQueue');
    super(memory, config.size, config.eventIdx, config.indirectDesc);
    this._mask = config.size - 1;
    this._descAddr = config.descTable;
    this._availAddr = config.driverArea;
    this._usedAddr = config.deviceArea;
    this.map();
  }

  /** {@inheritDoc Virtqueue.nextAvail} */
  get nextAvail(): number {
    return this._nextAvail;
  }

  /** {@inheritDoc Virtqueue.nextUsed} */
  get nextUsed(): number {
    return this._nextUsed;
  }

  /** (Re)acquires the typed-array views of the ring areas. */
  private map(): void {
    const n = this.size;
    const d = mapArea(this._memory, this._descAddr, 16 * n, false, 4, 'descriptor table');
    const a = mapArea(this._memory, this._availAddr, 6 + 2 * n, false, 2, 'available ring');
    const u = mapArea(this._memory, this._usedAddr, 6 + 8 * n, true, 4, 'used ring');
    this._desc = new Uint32Array(d.u8.buffer, d.u8.byteOffset, 4 * n);
    this._avail = new Uint16Array(a.u8.buffer, a.u8.byteOffset, 3 + n);
    this._used16 = new Uint16Array(u.u8.buffer, u.u8.byteOffset, 3 + 4 * n);
    this._used32 = new Uint32Array(u.u8.buffer, u.u8.byteOffset, 1 + 2 * n);
    this._usedLog = u.region.dirtyLog;
    this._usedOff = u.regionOffset;
  }

  /**
   * Whether the ring views are usable: re-acquires them if a growable WebAssembly.Memory detached
   * any of them. False when that failed (the queue is then broken).
   */
  private mapped(): boolean {
    if (this._avail.length !== 0 && this._desc.length !== 0 && this._used16.length !== 0) return true;
    try {
      this.map();
      return true;
    } catch (e) {
      return this.mapFailed(e);
    }
  }

  /** {@inheritDoc Virtqueue.pop} */
  pop(): DescriptorChain | null {
    if (this._error !== null) this.checkBroken();
    if (!this.mapped()) throw this._error!;
    const next = this._nextAvail;
    if (next === this._availShadow) {
      // Acquire: the ring entries and descriptors written before avail.idx are visible after it.
      const idx = Atomics.load(this._avail, 1);
      if (idx === next) return null;
      if (((idx - next) & 0xffff) > this.size) throw this.popError(0, idx, next);
      this._availShadow = idx;
    }
    // Every descriptor held by a chain the device has not used: a conforming driver has none
    // left to make available (QEMU: "Virtqueue size exceeded").
    if (this._inFlight >= this.size) throw this.popError(1, 0, next);
    const head = this._avail[2 + (next & this._mask)]!;
    if (head >= this.size) throw this.popError(2, head, next);
    const chain = this.takeChain();
    try {
      this.walk(chain, head);
    } catch (e) {
      this.dropChain(chain);
      throw this.fail(e);
    }
    this._nextAvail = (next + 1) & 0xffff;
    this._inFlight++;
    return chain;
  }

  /**
   * The ring error of a failed pop() check, recorded as the queue's error (kept out of pop() so
   * that its bytecode stays small enough to be inlined into callers' loops).
   * @param kind - 0: avail.idx `v` too far ahead; 1: queue size exceeded; 2: head index `v` too large.
   */
  private popError(kind: 0 | 1 | 2, v: number, next: number): unknown {
    if (kind === 0) {
      return this.fail(new InvalidAvailIndexError(`avail.idx ${v} is ${(v - next) & 0xffff} entries ahead of the next available index ${next}; the queue size is ${this.size}`));
    }
    if (kind === 1) return this.fail(new QueueSizeExceededError(`a chain is available at index ${next} while ${this._inFlight} chains (the queue size) are in flight`));
    return this.fail(new InvalidDescriptorIndexError(`head index ${v} in avail.ring[${next & this._mask}] is not below the queue size ${this.size}`));
  }

  /**
   * Walks the chain starting at `head` into `chain`, enforcing every rule. The direct part is
   * written out with locals (the hot path); an indirect table goes through `push`.
   */
  private walk(chain: Chain, head: number): void {
    chain._begin(head);
    const d = this._desc;
    const size = this.size;
    let addrs = chain._addr;
    let lens = chain._len;
    let flgs = chain._flags;
    let n = 0;
    let readable = 0;
    let rBytes = 0;
    let wBytes = 0;
    let idx = head;
    let ttl = size;
    for (;;) {
      const b = idx << 2;
      const lo = d[b]!;
      const hi = d[b + 1]!;
      const len = d[b + 2]!;
      const fn = d[b + 3]!;
      const flags = fn & 0xffff;
      if ((flags & F_INDIRECT) !== 0) {
        chain.descriptorCount = n;
        chain.readableCount = readable;
        chain.readableBytes = rBytes;
        chain.writableBytes = wBytes;
        this.walkIndirect(chain, lo, hi, len, flags, idx);
        return;
      }
      if (n === addrs.length) {
        chain._grow();
        addrs = chain._addr;
        lens = chain._len;
        flgs = chain._flags;
      }
      const write = (flags & F_WRITE) !== 0;
      if (write) {
        wBytes += len;
      } else {
        if (readable !== n) throw walkError(0, idx, head, size);
        readable++;
        rBytes += len;
      }
      if (rBytes + wBytes > TWO_32) throw walkError(1, idx, head, size);
      lens[n] = len;
      flgs[n] = flags;
      const addr = hi * TWO_32 + lo;
      if (hi < 0x200000 && addr + len <= MAX_SAFE) {
        addrs[n] = addr;
        if (len !== 0 && !(addr >= this._rgStart && addr + len <= this._rgEnd && (this._rgWritable || !write))) this.checkBufferSlow(addr, len, write);
      } else {
        const big = (BigInt(hi) << 32n) | BigInt(lo);
        chain._setBig(n, big);
        if (len !== 0) this.checkBufferSlow(big, len, write);
      }
      n++;
      if ((flags & F_NEXT) === 0) break;
      idx = fn >>> 16;
      if (idx >= size) throw walkError(2, b >> 2, idx, size);
      if (--ttl === 0) throw walkError(3, idx, head, size);
    }
    chain.descriptorCount = n;
    chain.readableCount = readable;
    chain.readableBytes = rBytes;
    chain.writableBytes = wBytes;
  }

  /** Follows an indirect descriptor (VIRTIO 1.2 §2.7.5.3). */
  private walkIndirect(chain: Chain, lo: number, hi: number, len: number, flags: number, at: number): void {
    if (!this.indirectDesc) throw new InvalidIndirectDescriptorError(`descriptor ${at} has VIRTQ_DESC_F_INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`);
    if ((flags & F_NEXT) !== 0) throw new InvalidIndirectDescriptorError(`descriptor ${at} has both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT`);
    if (len === 0 || len % 16 !== 0 || len / 16 > MAX_INDIRECT_ENTRIES) {
      throw new InvalidIndirectTableError(`indirect table length ${len} is not a non-zero multiple of 16 of at most ${MAX_INDIRECT_ENTRIES} entries`);
    }
    const count = len / 16;
    const base: GuestAddress = hi < 0x200000 && hi * TWO_32 + lo + len <= Number.MAX_SAFE_INTEGER ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
    this.checkTable(base, len);
    chain.indirect = true;
    const mem = this._memory;
    let i = 0;
    let ttl = count;
    for (;;) {
      const a: GuestAddress = typeof base === 'number' ? base + 16 * i : base + BigInt(16 * i);
      const tlo = mem.readU32(a);
      const thi = mem.readU32(typeof a === 'number' ? a + 4 : a + 4n);
      const tlen = mem.readU32(typeof a === 'number' ? a + 8 : a + 8n);
      const tfn = mem.readU32(typeof a === 'number' ? a + 12 : a + 12n);
      const tflags = tfn & 0xffff;
      if ((tflags & F_INDIRECT) !== 0) throw new InvalidIndirectDescriptorError(`entry ${i} of an indirect table has VIRTQ_DESC_F_INDIRECT (nested tables are forbidden)`);
      this.push(chain, tlo, thi, tlen, tflags, (tflags & F_WRITE) !== 0);
      if ((tflags & F_NEXT) === 0) return;
      i = tfn >>> 16;
      if (i >= count) throw new InvalidDescriptorIndexError(`indirect entry has next = ${i}, not below the table's ${count} entries`);
      if (--ttl === 0) throw new ChainTooLongError(`the indirect chain has more than ${count} descriptors (table size)`);
    }
  }

  /** {@inheritDoc Virtqueue.addUsed} */
  addUsed(chainOrHead: DescriptorChain | number, writtenLen: number): void {
    const head = this.usedHead(chainOrHead, writtenLen, 'addUsed');
    // A stale chain, or a ring the driver corrupted: the used element cannot be delivered.
    if (head < 0 || this._error !== null || !this.mapped()) return this.dropUsed(chainOrHead);
    const nu = this._nextUsed;
    const slot = nu & this._mask;
    const u32 = this._used32;
    u32[1 + 2 * slot] = head;
    u32[2 + 2 * slot] = writtenLen;
    const next = (nu + 1) & 0xffff;
    this._nextUsed = next;
    this._numAdded++;
    if (this._inFlight > 0) this._inFlight--;
    // Release: the element is visible before the index that publishes it (VIRTIO 1.2 §2.7.8).
    // Atomics.store is the only store JavaScript orders: in its memory model a plain store to a
    // SharedArrayBuffer is unordered, so a driver in another agent that sees the new index may
    // still read the old element; in an mmap'ed ArrayBuffer shared with another process a plain
    // store would be ordered only by x86's TSO (Arm reorders stores) and by the JIT keeping
    // stores in program order (an engine detail, not a guarantee). The cost, a builtin call and
    // a full barrier per element where Rust's Release store on x86 is a plain `mov`, is what
    // addUsedBatch amortises.
    Atomics.store(this._used16, 1, next);
    if (this._usedLog !== null) this.logUsed(slot);
    if (typeof chainOrHead !== 'number') this.releaseChain(chainOrHead as Chain);
  }

  /** Marks used.ring[slot] and used.idx dirty (out of addUsed's inlined body). */
  private logUsed(slot: number): void {
    this._usedLog!.mark(this._usedOff + 4 + 8 * slot, 8);
    this._usedLog!.mark(this._usedOff + 2, 2);
  }

  /** {@inheritDoc Virtqueue.addUsedBatch} */
  addUsedBatch(chainsOrHeads: ArrayLike<DescriptorChain | number>, writtenLens: ArrayLike<number>, count: number = chainsOrHeads.length): void {
    if (!Number.isInteger(count) || count < 0 || count > chainsOrHeads.length || count > writtenLens.length) {
      throw new RangeError(`addUsedBatch: count must be an integer in 0..${Math.min(chainsOrHeads.length, writtenLens.length)}, got ${count}`);
    }
    let live = 0;
    for (let k = 0; k < count; k++) if (this.usedHead(chainsOrHeads[k]!, writtenLens[k]!, 'addUsedBatch') >= 0) live++;
    for (let k = 0; k < count; k++) {
      const c = chainsOrHeads[k]!;
      for (let j = 0; j < k; j++) {
        if (chainsOrHeads[j] === c && typeof c !== 'number') throw new TypeError('addUsedBatch: the same chain appears twice');
      }
    }
    if (live === 0 || this._error !== null || !this.mapped()) {
      for (let k = 0; k < count; k++) this.dropUsed(chainsOrHeads[k]!);
      return;
    }
    const u32 = this._used32;
    let nu = this._nextUsed;
    for (let k = 0; k < count; k++) {
      const c = chainsOrHeads[k]!;
      if (this.isStale(c)) continue;
      const slot = nu & this._mask;
      u32[1 + 2 * slot] = typeof c === 'number' ? c : c.head;
      u32[2 + 2 * slot] = writtenLens[k]!;
      if (this._usedLog !== null) this._usedLog.mark(this._usedOff + 4 + 8 * slot, 8);
      nu = (nu + 1) & 0xffff;
    }
    this._nextUsed = nu;
    this._numAdded += live;
    this._inFlight = this._inFlight > live ? this._inFlight - live : 0;
    Atomics.store(this._used16, 1, nu);
    if (this._usedLog !== null) this._usedLog.mark(this._usedOff + 2, 2);
    for (let k = 0; k < count; k++) {
      const c = chainsOrHeads[k]!;
      if (typeof c !== 'number') this.releaseChain(c as Chain);
    }
  }

  /** Validates an addUsed argument and returns the head, or -1 for a stale chain. */
  private usedHead(chainOrHead: DescriptorChain | number, writtenLen: number, op: string): number {
    if (!(writtenLen >>> 0 === writtenLen)) throw usedArgError(0, op, writtenLen, this.size);
    if (typeof chainOrHead === 'number') {
      if (!(chainOrHead >>> 0 === chainOrHead && chainOrHead < this.size)) throw usedArgError(1, op, chainOrHead, this.size);
      return chainOrHead;
    }
    const chain = this.ownChain(chainOrHead, op);
    if (chain === null) return -1;
    if (writtenLen > chain.writableBytes) throw usedArgError(2, op, writtenLen, chain.writableBytes);
    return chain.head;
  }

  /** {@inheritDoc Virtqueue.needsNotification} */
  needsNotification(): boolean {
    if (this._error !== null || !this.mapped()) return false;
    const added = this._numAdded;
    this._numAdded = 0;
    // used.idx was stored with Atomics.store (sequentially consistent): these loads come after it.
    if (this.eventIdx) {
      if (added >= 0x10000) return true;
      const usedEvent = Atomics.load(this._avail, 2 + this.size);
      const n = this._nextUsed;
      return ((n - usedEvent - 1) & 0xffff) < added;
    }
    return (Atomics.load(this._avail, 0) & 1) === 0;
  }

  /** {@inheritDoc Virtqueue.enableNotification} */
  enableNotification(): boolean {
    if (this._error !== null) return false;
    if (!this.mapped()) return true; // broken just now: the next pop() reports it
    if (this.eventIdx) {
      Atomics.store(this._used16, 2 + 4 * this.size, this._nextAvail);
      if (this._usedLog !== null) this._usedLog.mark(this._usedOff + 4 + 8 * this.size, 2);
    } else {
      Atomics.store(this._used16, 0, this._used16[0]! & ~1);
      if (this._usedLog !== null) this._usedLog.mark(this._usedOff, 2);
    }
    // The stores above are sequentially consistent, so this load cannot move before them.
    return Atomics.load(this._avail, 1) !== this._nextAvail;
  }

  /** {@inheritDoc Virtqueue.disableNotification} */
  disableNotification(): void {
    if (this._error !== null || !this.mapped()) return;
    if (this.eventIdx) {
      // avail_event one behind the next available index: the driver notifies when its
      // avail.idx moves past avail_event, which it has already done (§2.7.10.2).
      Atomics.store(this._used16, 2 + 4 * this.size, (this._nextAvail - 1) & 0xffff);
      if (this._usedLog !== null) this._usedLog.mark(this._usedOff + 4 + 8 * this.size, 2);
      return;
    }
    Atomics.store(this._used16, 0, this._used16[0]! | 1);
    if (this._usedLog !== null) this._usedLog.mark(this._usedOff, 2);
  }

  /** {@inheritDoc Virtqueue.saveState} */
  saveState(): QueueState {
    return {
      format: 'split',
      size: this.size,
      descTable: addressToState(this._descAddr),
      driverArea: addressToState(this._availAddr),
      deviceArea: addressToState(this._usedAddr),
      eventIdx: this.eventIdx,
      indirectDesc: this.indirectDesc,
      nextAvail: this._nextAvail,
      nextUsed: this._nextUsed,
      numAdded: Math.min(this._numAdded, 0xffff),
    };
  }

  /** {@inheritDoc Virtqueue.restoreState} */
  restoreState(state: unknown): void {
    const s = checkStateObject(state, 'split');
    if (s.size !== this.size) throw new InvalidStateError(`size ${String(s.size)} does not match the queue's size ${this.size}`);
    for (const [field, mine] of [
      ['descTable', this._descAddr],
      ['driverArea', this._availAddr],
      ['deviceArea', this._usedAddr],
    ] as const) {
      const v = addressFromState(s[field], field);
      if (BigInt(v) !== BigInt(mine)) throw new InvalidStateError(`${field} ${String(s[field])} does not match the queue's 0x${mine.toString(16)}`);
    }
    if (stateBool(s.eventIdx, 'eventIdx') !== this.eventIdx) throw new InvalidStateError('eventIdx does not match the queue');
    if (stateBool(s.indirectDesc, 'indirectDesc') !== this.indirectDesc) throw new InvalidStateError('indirectDesc does not match the queue');
    const nextAvail = stateU16(s.nextAvail, 'nextAvail');
    const numAdded = s.numAdded === undefined ? 0 : stateU16(s.numAdded, 'numAdded');
    try {
      this.map();
    } catch (e) {
      throw new InvalidStateError('the ring areas are not accessible', e);
    }
    const availIdx = Atomics.load(this._avail, 1);
    const usedIdx = Atomics.load(this._used16, 1);
    const nextUsed = s.nextUsed === undefined ? usedIdx : stateU16(s.nextUsed, 'nextUsed');
    if (((availIdx - nextAvail) & 0xffff) > this.size) {
      throw new InvalidStateError(`nextAvail ${nextAvail} is more than the queue size behind avail.idx ${availIdx}`);
    }
    if (nextUsed !== usedIdx) throw new InvalidStateError(`nextUsed ${nextUsed} does not match used.idx ${usedIdx} in guest memory`);
    if (((nextAvail - nextUsed) & 0xffff) > this.size) {
      throw new InvalidStateError(`nextAvail ${nextAvail} is more than the queue size ahead of nextUsed ${nextUsed}`);
    }
    this.newEpoch();
    this._error = null;
    this._nextAvail = nextAvail;
    this._availShadow = nextAvail;
    this._nextUsed = nextUsed;
    this._numAdded = numAdded;
    this._inFlight = (nextAvail - nextUsed) & 0xffff;
  }

  /** {@inheritDoc Virtqueue.reset} */
  reset(): void {
    this.newEpoch();
    this._error = null;
    this._nextAvail = 0;
    this._availShadow = 0;
    this._nextUsed = 0;
    this._numAdded = 0;
    this._inFlight = 0;
  }
}

/**
 * The errors of walk()'s checks, built out of line so that walk() stays small.
 * @param kind - 0: readable descriptor `a` after a writable one; 1: chain from head `b` over 2^32
 *   bytes; 2: descriptor `a` has next = `b`, not below `size`; 3: chain from head `b` longer than `size`.
 */
function walkError(kind: 0 | 1 | 2 | 3, a: number, b: number, size: number): Error {
  if (kind === 0) return new ReadableAfterWritableError(`device-readable descriptor ${a} follows a device-writable one`);
  if (kind === 1) return new ChainLengthOverflowError(`the chain from head ${b} totals more than 2^32 bytes`);
  if (kind === 2) return new InvalidDescriptorIndexError(`descriptor ${a} has next = ${b}, not below the queue size ${size}`);
  return new ChainTooLongError(`the chain from head ${b} has more than ${size} descriptors (queue size)`);
}

/**
 * The RangeErrors of addUsed's argument checks, built out of line so that addUsed stays small.
 * @param kind - 0: `v` (writtenLen) not a u32; 1: head `v` not below `n` (the size); 2: writtenLen `v`
 *   above the chain's `n` writable bytes.
 */
function usedArgError(kind: 0 | 1 | 2, op: string, v: unknown, n: number): RangeError {
  if (kind === 0) return new RangeError(`${op}: writtenLen must be a u32, got ${String(v)}`);
  if (kind === 1) return new RangeError(`${op}: head must be an integer below the queue size ${n}, got ${String(v)}`);
  return new RangeError(`${op}: writtenLen ${String(v)} exceeds the chain's ${n} writable bytes`);
}
