/**
 * The packed virtqueue, device side (VIRTIO 1.2 §2.8): one descriptor ring written by both
 * sides, the driver and device ring wrap counters (§2.8.1), buffer IDs and chains (§2.8.6),
 * indirect tables (§2.8.7), and the driver/device event suppression structures (§2.8.10,
 * §2.8.14) with RING_EVENT_FLAGS_ENABLE / DISABLE / DESC.
 *
 * Same contract as the split ring ({@link Virtqueue}): chains are walked and validated by `pop()`,
 * a violation throws a typed error and breaks the queue until `reset()`.
 * @module
 */
import type { DirtyPageLog, GuestMemory } from '@vmv/memory';
import type { Chain } from './chain.js';
import type { QueueConfig } from './config.js';
import { DescFlags, EventFlags } from './constants.js';
import {
  ChainLengthOverflowError,
  ChainTooLongError,
  DescriptorNotAvailableError,
  DuplicateBufferIdError,
  InvalidIndirectDescriptorError,
  InvalidIndirectTableError,
  InvalidStateError,
  NotReadyError,
  QueueSizeExceededError,
  ReadableAfterWritableError,
} from './errors.js';
import { mapArea, RingBase } from './ring-base.js';
import { addressFromState, addressToState, checkStateObject, stateBool, stateInt, stateU16 } from './state.js';
import type { DescriptorChain, GuestAddress, QueueState, Virtqueue } from './types.js';

const F_NEXT = DescFlags.NEXT;
const F_WRITE = DescFlags.WRITE;
const F_INDIRECT = DescFlags.INDIRECT;
const F_AVAIL = DescFlags.AVAIL;
const F_USED = DescFlags.USED;
const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_INDIRECT_ENTRIES = 65536;

/**
 * The device side of a packed virtqueue. Create it with {@link createVirtqueue} (or directly).
 * `nextAvail` / `nextUsed` are ring positions (0..size-1); the wrap counters are in the state.
 *
 * @example
 * ```ts
 * const q = new PackedQueue(memory, config);
 * for (let c = q.pop(); c !== null; c = q.pop()) q.addUsed(c, 0);
 * ```
 */
export class PackedQueue extends RingBase implements Virtqueue {
  /** {@inheritDoc Virtqueue.format} */
  readonly format = 'packed' as const;
  private readonly _descAddr: GuestAddress;
  private readonly _driverAddr: GuestAddress;
  private readonly _deviceAddr: GuestAddress;
  private _desc!: Uint32Array;
  private _desc16!: Uint16Array;
  private _descLog: DirtyPageLog | null = null;
  private _descOff = 0;
  private _drv!: Uint16Array;
  private _dev!: Uint16Array;
  private _devLog: DirtyPageLog | null = null;
  private _devOff = 0;
  private _nextAvail = 0;
  private _availWrap = 1;
  private _nextUsed = 0;
  private _usedWrap = 1;
  private _numAdded = 0;
  /** Ring descriptors of each in-flight buffer ID (0 = not in flight). */
  private readonly _inflight = new Uint16Array(65536);
  /** Sum of `_inflight`: ring slots between the used and the available positions. */
  private _inflightSlots = 0;

  /**
   * @param memory - the guest memory the ring and buffers live in.
   * @param config - a validated, ready configuration with `ringPacked` (copied).
   * @throws Queue.NotReadyError when `config.ready` is false; a configuration error when
   *   `config.validate(memory)` fails.
   * @example
   * ```ts
   * const q = new PackedQueue(memory, config);
   * ```
   */
  constructor(memory: GuestMemory, config: QueueConfig) {
    if (!config.ready) throw new NotReadyError();
    if (!config.ringPacked) throw new TypeError('PackedQueue: the configuration did not negotiate VIRTIO_F_RING_PACKED; use SplitQueue');
    config.validate(memory);
    super(memory, config.size, config.eventIdx, config.indirectDesc);
    this._descAddr = config.descTable;
    this._driverAddr = config.driverArea;
    this._deviceAddr = config.deviceArea;
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

  private map(): void {
    const n = this.size;
    const d = mapArea(this._memory, this._descAddr, 16 * n, true, 4, 'descriptor ring');
    const drv = mapArea(this._memory, this._driverAddr, 4, false, 2, 'driver event suppression');
    const dev = mapArea(this._memory, this._deviceAddr, 4, true, 2, 'device event suppression');
    this._desc = new Uint32Array(d.u8.buffer, d.u8.byteOffset, 4 * n);
    this._desc16 = new Uint16Array(d.u8.buffer, d.u8.byteOffset, 8 * n);
    this._descLog = d.region.dirtyLog;
    this._descOff = d.regionOffset;
    this._drv = new Uint16Array(drv.u8.buffer, drv.u8.byteOffset, 2);
    this._dev = new Uint16Array(dev.u8.buffer, dev.u8.byteOffset, 2);
    this._devLog = dev.region.dirtyLog;
    this._devOff = dev.regionOffset;
  }

  /**
   * Whether the ring views are usable: re-acquires them if a growable WebAssembly.Memory detached
   * any of them. False when that failed (the queue is then broken).
   */
  private mapped(): boolean {
    if (this._desc.length !== 0 && this._drv.length !== 0 && this._dev.length !== 0) return true;
    try {
      this.map();
      return true;
    } catch (e) {
      return this.mapFailed(e);
    }
  }

  /** Whether the descriptor at `pos` is available for the wrap counter `wrap` (acquire load). */
  private isAvail(pos: number, wrap: number): boolean {
    const f = Atomics.load(this._desc16, 8 * pos + 7);
    const avail = (f >>> 7) & 1;
    return avail === wrap && ((f >>> 15) & 1) !== avail;
  }

  /** {@inheritDoc Virtqueue.pop} */
  pop(): DescriptorChain | null {
    if (this._error !== null) this.checkBroken();
    if (!this.mapped()) throw this._error!;
    const pos = this._nextAvail;
    if (!this.isAvail(pos, this._availWrap)) return null;
    const chain = this.takeChain();
    try {
      this.walk(chain, pos);
    } catch (e) {
      this.dropChain(chain);
      throw this.fail(e);
    }
    let p = pos + chain._ringCount;
    if (p >= this.size) {
      p -= this.size;
      this._availWrap ^= 1;
    }
    this._nextAvail = p;
    this._inflight[chain.head] = chain._ringCount;
    this._inflightSlots += chain._ringCount;
    return chain;
  }

  /**
   * Walks the descriptors from ring position `pos` into `chain`. The direct part is written out
   * with locals (the hot path); an indirect table goes through `push`.
   */
  private walk(chain: Chain, pos: number): void {
    chain._begin(0);
    const d = this._desc;
    const size = this.size;
    let addrs = chain._addr;
    let lens = chain._len;
    let flgs = chain._flags;
    let n = 0;
    let readable = 0;
    let rBytes = 0;
    let wBytes = 0;
    let p = pos;
    // Wrap counter of position p: each descriptor of a list must be available for it (the
    // first one was checked by pop()).
    let wrap = this._availWrap;
    for (;;) {
      const b = p << 2;
      const lo = d[b]!;
      const hi = d[b + 1]!;
      const len = d[b + 2]!;
      const w3 = d[b + 3]!;
      const flags = w3 >>> 16;
      if (n > 0 && (((flags >>> 7) & 1) !== wrap || flags >>> 15 === wrap)) {
        throw new DescriptorNotAvailableError(
          `descriptor ${n} of the list at ring position ${pos} (position ${p}, flags 0x${flags.toString(16)}) is not available for wrap counter ${wrap}`,
        );
      }
      if ((flags & F_INDIRECT) !== 0) {
        if (!this.indirectDesc) throw new InvalidIndirectDescriptorError(`descriptor at ring position ${p} has VIRTQ_DESC_F_INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`);
        if ((flags & F_NEXT) !== 0 || n > 0) {
          throw new InvalidIndirectDescriptorError(`descriptor at ring position ${p}: an indirect descriptor must not be part of a VIRTQ_DESC_F_NEXT list`);
        }
        this.walkIndirect(chain, lo, hi, len);
        chain.head = w3 & 0xffff;
        chain._ringCount = 1;
        break;
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
        if (readable !== n) throw new ReadableAfterWritableError(`device-readable descriptor at ring position ${p} follows a device-writable one`);
        readable++;
        rBytes += len;
      }
      if (rBytes + wBytes > TWO_32) throw new ChainLengthOverflowError(`the list at ring position ${pos} totals more than 2^32 bytes`);
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
      if ((flags & F_NEXT) === 0) {
        // VIRTIO 1.2 §2.8.6: the Buffer ID is in the last descriptor of the list.
        chain.head = w3 & 0xffff;
        chain._ringCount = n;
        chain.descriptorCount = n;
        chain.readableCount = readable;
        chain.readableBytes = rBytes;
        chain.writableBytes = wBytes;
        break;
      }
      if (n >= size) throw new ChainTooLongError(`the list at ring position ${pos} has more than ${size} descriptors (queue size)`);
      if (++p === size) {
        p = 0;
        wrap ^= 1;
      }
    }
    if (this._inflight[chain.head] !== 0) throw new DuplicateBufferIdError(`buffer ID ${chain.head} was made available again before the device used it`);
    if (this._inflightSlots + chain._ringCount > size) {
      throw new QueueSizeExceededError(`the list at ring position ${pos} takes ${chain._ringCount} ring slots while ${this._inflightSlots} of ${size} are in flight`);
    }
  }

  /**
   * An indirect table (VIRTIO 1.2 §2.8.7): entries used in order; only VIRTQ_DESC_F_WRITE is
   * meaningful, other flags are reserved and ignored, as the device requirements say.
   */
  private walkIndirect(chain: Chain, lo: number, hi: number, len: number): void {
    if (len === 0 || len % 16 !== 0 || len / 16 > MAX_INDIRECT_ENTRIES) {
      throw new InvalidIndirectTableError(`indirect table length ${len} is not a non-zero multiple of 16 of at most ${MAX_INDIRECT_ENTRIES} entries`);
    }
    const count = len / 16;
    const base: GuestAddress = hi < 0x200000 && hi * TWO_32 + lo + len <= Number.MAX_SAFE_INTEGER ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
    this.checkTable(base, len);
    chain.indirect = true;
    const mem = this._memory;
    for (let i = 0; i < count; i++) {
      const a: GuestAddress = typeof base === 'number' ? base + 16 * i : base + BigInt(16 * i);
      const tlo = mem.readU32(a);
      const thi = mem.readU32(typeof a === 'number' ? a + 4 : a + 4n);
      const tlen = mem.readU32(typeof a === 'number' ? a + 8 : a + 8n);
      const tflags = mem.readU16(typeof a === 'number' ? a + 14 : a + 14n);
      this.push(chain, tlo, thi, tlen, tflags & F_WRITE, (tflags & F_WRITE) !== 0);
    }
  }

  /** {@inheritDoc Virtqueue.addUsed} */
  addUsed(chainOrHead: DescriptorChain | number, writtenLen: number): void {
    const count = this.usedCount(chainOrHead, writtenLen, 'addUsed');
    // A stale chain, or a ring the driver corrupted: the used element cannot be delivered.
    if (count === 0 || this._error !== null || !this.mapped()) return this.dropUsed(chainOrHead);
    const id = typeof chainOrHead === 'number' ? chainOrHead : chainOrHead.head;
    const p = this._nextUsed;
    this.writeUsed(p, id, writtenLen, true);
    this._inflight[id] = 0;
    this._inflightSlots -= count;
    this.advanceUsed(count);
    if (typeof chainOrHead !== 'number') this.releaseChain(chainOrHead as Chain);
  }

  /** {@inheritDoc Virtqueue.addUsedBatch} */
  addUsedBatch(chainsOrHeads: ArrayLike<DescriptorChain | number>, writtenLens: ArrayLike<number>, count: number = chainsOrHeads.length): void {
    if (!Number.isInteger(count) || count < 0 || count > chainsOrHeads.length || count > writtenLens.length) {
      throw new RangeError(`addUsedBatch: count must be an integer in 0..${Math.min(chainsOrHeads.length, writtenLens.length)}, got ${count}`);
    }
    // The first live entry (not a stale chain): it is published last.
    let firstLive = -1;
    for (let k = 0; k < count; k++) {
      const c = chainsOrHeads[k]!;
      const live = this.usedCount(c, writtenLens[k]!, 'addUsedBatch') !== 0;
      if (live && firstLive < 0) firstLive = k;
      for (let j = 0; j < k; j++) {
        const o = chainsOrHeads[j]!;
        // A stale chain's ID may be in flight again on the live ring: only identity counts for it.
        const same = o === c || (live && !this.isStale(o) && (typeof o === 'number' ? o : o.head) === (typeof c === 'number' ? c : c.head));
        if (same) throw new TypeError('addUsedBatch: the same buffer appears twice');
      }
    }
    if (firstLive < 0 || this._error !== null || !this.mapped()) {
      for (let k = 0; k < count; k++) this.dropUsed(chainsOrHeads[k]!);
      return;
    }
    // Write every element but the first one's flags, then publish the first: the driver sees the
    // whole batch at once (VIRTIO 1.2 §2.8.9 multi-buffer requests).
    const first = this._nextUsed;
    const firstWrap = this._usedWrap;
    for (let k = firstLive; k < count; k++) {
      const c = chainsOrHeads[k]!;
      if (this.isStale(c)) continue;
      const id = typeof c === 'number' ? c : c.head;
      const n = typeof c === 'number' ? this._inflight[id]! : (c as Chain)._ringCount;
      this.writeUsed(this._nextUsed, id, writtenLens[k]!, k !== firstLive);
      this._inflight[id] = 0;
      this._inflightSlots -= n;
      this.advanceUsed(n);
    }
    const flags = (firstWrap !== 0 ? F_AVAIL | F_USED : 0) | (writtenLens[firstLive]! > 0 ? F_WRITE : 0);
    Atomics.store(this._desc16, 8 * first + 7, flags);
    for (let k = 0; k < count; k++) this.dropUsed(chainsOrHeads[k]!);
  }

  /** Writes a used descriptor at position `p`; its flags only when `publish`. */
  private writeUsed(p: number, id: number, len: number, publish: boolean): void {
    const d = this._desc;
    d[4 * p + 2] = len;
    this._desc16[8 * p + 6] = id;
    if (publish) {
      const flags = (this._usedWrap !== 0 ? F_AVAIL | F_USED : 0) | (len > 0 ? F_WRITE : 0);
      // Release: id and len are visible before the flags that mark the descriptor used.
      Atomics.store(this._desc16, 8 * p + 7, flags);
    }
    if (this._descLog !== null) this._descLog.mark(this._descOff + 16 * p, 16);
  }

  private advanceUsed(n: number): void {
    let p = this._nextUsed + n;
    if (p >= this.size) {
      p -= this.size;
      this._usedWrap ^= 1;
    }
    this._nextUsed = p;
    this._numAdded += n;
  }

  /** Validates an addUsed argument and returns the ring descriptors it frees, or 0 for a stale chain. */
  private usedCount(chainOrHead: DescriptorChain | number, writtenLen: number, op: string): number {
    if (!(writtenLen >>> 0 === writtenLen)) throw new RangeError(`${op}: writtenLen must be a u32, got ${String(writtenLen)}`);
    if (typeof chainOrHead === 'number') {
      if (!(chainOrHead >>> 0 === chainOrHead && chainOrHead <= 0xffff) || this._inflight[chainOrHead] === 0) {
        throw new RangeError(`${op}: buffer ID ${chainOrHead} is not in flight`);
      }
      return this._inflight[chainOrHead]!;
    }
    const chain = this.ownChain(chainOrHead, op);
    if (chain === null) return 0;
    if (writtenLen > chain.writableBytes) throw new RangeError(`${op}: writtenLen ${writtenLen} exceeds the chain's ${chain.writableBytes} writable bytes`);
    return chain._ringCount;
  }

  /** {@inheritDoc Virtqueue.needsNotification} */
  needsNotification(): boolean {
    if (this._error !== null || !this.mapped()) return false;
    const added = this._numAdded;
    this._numAdded = 0;
    // The used flags were stored with Atomics.store (sequentially consistent): these loads
    // come after it, as VIRTIO 1.2 §2.8.21.3 requires.
    const flags = Atomics.load(this._drv, 1) & 3;
    if (flags === EventFlags.DISABLE) return false;
    if (flags !== EventFlags.DESC || !this.eventIdx || added >= 0x10000) return true;
    const offWrap = Atomics.load(this._drv, 0);
    let event = offWrap & 0x7fff;
    if (offWrap >>> 15 !== this._usedWrap) event -= this.size;
    const n = this._nextUsed;
    // vring_need_event in the frame where the current lap starts at 0 (Linux
    // virtqueue_kick_prepare_packed, from the other side).
    return ((n - event - 1) & 0xffff) < added;
  }

  /** {@inheritDoc Virtqueue.enableNotification} */
  enableNotification(): boolean {
    if (this._error !== null) return false;
    if (!this.mapped()) return true; // broken just now: the next pop() reports it
    if (this.eventIdx) {
      Atomics.store(this._dev, 0, this._nextAvail | (this._availWrap << 15));
      Atomics.store(this._dev, 1, EventFlags.DESC);
    } else {
      Atomics.store(this._dev, 1, EventFlags.ENABLE);
    }
    if (this._devLog !== null) this._devLog.mark(this._devOff, 4);
    return this.isAvail(this._nextAvail, this._availWrap);
  }

  /** {@inheritDoc Virtqueue.disableNotification} */
  disableNotification(): void {
    if (this._error !== null || !this.mapped()) return;
    Atomics.store(this._dev, 1, EventFlags.DISABLE);
    if (this._devLog !== null) this._devLog.mark(this._devOff + 2, 2);
  }

  /** {@inheritDoc Virtqueue.saveState} */
  saveState(): QueueState {
    const inflight: [number, number][] = [];
    const f = this._inflight;
    for (let id = 0; id < f.length; id++) if (f[id] !== 0) inflight.push([id, f[id]!]);
    return {
      format: 'packed',
      size: this.size,
      descTable: addressToState(this._descAddr),
      driverArea: addressToState(this._driverAddr),
      deviceArea: addressToState(this._deviceAddr),
      eventIdx: this.eventIdx,
      indirectDesc: this.indirectDesc,
      nextAvail: this._nextAvail,
      nextUsed: this._nextUsed,
      numAdded: Math.min(this._numAdded, 0xffff),
      availWrapCounter: this._availWrap as 0 | 1,
      usedWrapCounter: this._usedWrap as 0 | 1,
      inflight,
    };
  }

  /** {@inheritDoc Virtqueue.restoreState} */
  restoreState(state: unknown): void {
    const s = checkStateObject(state, 'packed');
    if (s.size !== this.size) throw new InvalidStateError(`size ${String(s.size)} does not match the queue's size ${this.size}`);
    for (const [field, mine] of [
      ['descTable', this._descAddr],
      ['driverArea', this._driverAddr],
      ['deviceArea', this._deviceAddr],
    ] as const) {
      const v = addressFromState(s[field], field);
      if (BigInt(v) !== BigInt(mine)) throw new InvalidStateError(`${field} ${String(s[field])} does not match the queue's 0x${mine.toString(16)}`);
    }
    if (stateBool(s.eventIdx, 'eventIdx') !== this.eventIdx) throw new InvalidStateError('eventIdx does not match the queue');
    if (stateBool(s.indirectDesc, 'indirectDesc') !== this.indirectDesc) throw new InvalidStateError('indirectDesc does not match the queue');
    const n = this.size;
    const nextAvail = stateInt(s.nextAvail, 'nextAvail', n - 1);
    const nextUsed = stateInt(s.nextUsed, 'nextUsed', n - 1);
    const availWrap = stateInt(s.availWrapCounter, 'availWrapCounter', 1);
    const usedWrap = stateInt(s.usedWrapCounter, 'usedWrapCounter', 1);
    const numAdded = s.numAdded === undefined ? 0 : stateU16(s.numAdded, 'numAdded');
    const list = s.inflight === undefined ? [] : s.inflight;
    if (!Array.isArray(list) || list.length > n) throw new InvalidStateError(`inflight must be an array of at most ${n} [id, count] pairs`);
    const seen = new Set<number>();
    let total = 0;
    for (const e of list as unknown[]) {
      if (!Array.isArray(e) || e.length !== 2) throw new InvalidStateError('inflight entries must be [id, count] pairs');
      const id = stateU16(e[0], 'inflight id');
      const cnt = stateInt(e[1], 'inflight count', n);
      if (cnt === 0) throw new InvalidStateError('inflight count must be at least 1');
      if (seen.has(id)) throw new InvalidStateError(`inflight buffer ID ${id} appears twice`);
      seen.add(id);
      total += cnt;
    }
    // Ring slots between the device's used and available positions are exactly the in-flight ones.
    const distance = nextAvail - nextUsed + (availWrap !== usedWrap ? n : 0);
    if (distance < 0 || distance > n || distance !== total) {
      throw new InvalidStateError(`the ring holds ${distance} in-flight descriptors between nextUsed ${nextUsed}/${usedWrap} and nextAvail ${nextAvail}/${availWrap}, but inflight lists ${total}`);
    }
    try {
      this.map();
    } catch (e) {
      throw new InvalidStateError('the ring areas are not accessible', e);
    }
    this.newEpoch();
    this._error = null;
    this._inflight.fill(0);
    for (const e of list as [number, number][]) this._inflight[e[0]] = e[1];
    this._inflightSlots = total;
    this._nextAvail = nextAvail;
    this._availWrap = availWrap;
    this._nextUsed = nextUsed;
    this._usedWrap = usedWrap;
    this._numAdded = numAdded;
  }

  /** {@inheritDoc Virtqueue.reset} */
  reset(): void {
    this.newEpoch();
    this._error = null;
    this._inflight.fill(0);
    this._inflightSlots = 0;
    this._nextAvail = 0;
    this._availWrap = 1;
    this._nextUsed = 0;
    this._usedWrap = 1;
    this._numAdded = 0;
  }
}
