/**
 * The driver side of a packed virtqueue (VIRTIO 1.2 §2.8.13-2.8.21), behaving as Linux's
 * drivers/virtio/virtio_ring.c (`virtqueue_add_packed`, `virtqueue_add_indirect_packed`,
 * `virtqueue_kick_prepare_packed`, `virtqueue_get_buf_ctx_packed`, the `*_cb_*_packed`
 * functions): buffer IDs from a free list, wrap counters, event suppression with EVENT_IDX.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig } from '../config.js';
import { DescFlags, EventFlags, Feature, vringNeedEvent } from '../constants.js';
import { BadUsedElementError, BrokenError } from '../errors.js';
import { checkBuffers, checkRingOptions, type DriverBuffer, type DriverRingOptions, type RingLayout, type UsedBuffer } from './common.js';

const F_NEXT = DescFlags.NEXT;
const F_WRITE = DescFlags.WRITE;
const F_INDIRECT = DescFlags.INDIRECT;
const F_AVAIL = DescFlags.AVAIL;
const F_USED = DescFlags.USED;

/**
 * A packed-ring driver over guest memory, as Linux drives one.
 *
 * @example
 * ```ts
 * const drv = new PackedDriver(memory, { size: 256, descTable: 0, driverArea: 0x1000, deviceArea: 0x1004 });
 * drv.add([{ addr: 0x20000, len: 16 }], [{ addr: 0x30000, len: 1 }], 'req1');
 * if (drv.kickPrepare()) notifyDevice();
 * ```
 */
export class PackedDriver<T = unknown> {
  /** Queue size. */
  readonly size: number;
  /** VIRTIO_F_EVENT_IDX in use. */
  readonly eventIdx: boolean;
  /** Indirect tables in use (VIRTIO_F_INDIRECT_DESC and an `indirectArea`). */
  readonly indirect: boolean;
  private readonly mem: GuestMemory;
  private readonly ring: number;
  private readonly driverEvt: number;
  private readonly deviceEvt: number;
  private readonly indirectBase: number;
  private readonly indirectEntries: number;
  private free: number;
  private freeHead = 0;
  private readonly nextId: Uint16Array;
  private readonly stateNum: Uint16Array;
  private readonly stateLast: Uint16Array;
  private readonly data: (T | undefined)[];
  private nextAvail = 0;
  private availWrap = 1;
  private availUsedFlags = F_AVAIL;
  private usedWrap = 1;
  private lastUsed = 0;
  private eventFlagsShadow: number = EventFlags.ENABLE;
  private numAdded = 0;
  private broken: BadUsedElementError | null = null;
  private readonly opts: DriverRingOptions;

  /**
   * Sets up the driver and zeroes the ring and both event suppression structures.
   * @param memory - guest memory holding the ring.
   * @param options - size, area addresses, features.
   * @throws RangeError / TypeError for invalid options.
   * @example
   * ```ts
   * new PackedDriver(mem, { size: 6, descTable: 0, driverArea: 96, deviceArea: 100 })
   * ```
   */
  constructor(memory: GuestMemory, options: DriverRingOptions) {
    checkRingOptions(options, true);
    this.mem = memory;
    this.opts = options;
    this.size = options.size;
    this.eventIdx = options.eventIdx === true;
    this.indirect = options.indirectDesc === true && options.indirectArea !== undefined;
    this.ring = options.descTable;
    this.driverEvt = options.driverArea;
    this.deviceEvt = options.deviceArea;
    this.indirectBase = options.indirectArea?.address ?? 0;
    this.indirectEntries = options.indirectArea?.entriesPerChain ?? 0;
    const n = this.size;
    this.free = n;
    this.nextId = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.nextId[i] = i + 1;
    this.stateNum = new Uint16Array(n);
    this.stateLast = new Uint16Array(n);
    this.data = new Array<T | undefined>(n).fill(undefined);
    memory.fill(this.ring, 16 * n, 0);
    memory.fill(this.driverEvt, 4, 0);
    memory.fill(this.deviceEvt, 4, 0);
    if (options.callback === false) {
      this.eventFlagsShadow = EventFlags.DISABLE;
      memory.writeU16(this.driverEvt + 2, this.eventFlagsShadow);
    }
  }

  /**
   * Addresses for a packed ring of `size` entries laid out from `base`.
   * @param size - queue size.
   * @param base - guest address, 16-byte aligned.
   * @returns the three area addresses and the bytes used.
   * @example
   * ```ts
   * PackedDriver.layout(256, 0) // { descTable: 0, driverArea: 4096, deviceArea: 4100, bytes: 4104 }
   * ```
   */
  static layout(size: number, base: number): RingLayout {
    return { descTable: base, driverArea: base + 16 * size, deviceArea: base + 16 * size + 4, bytes: 16 * size + 8 };
  }

  /** Free descriptors (Linux `num_free`). */
  get numFree(): number {
    return this.free;
  }

  /**
   * A transport configuration matching this ring (ready, RING_PACKED and the features set).
   * @param maxSize - the device's maximum (default: the next power of two at or above the size).
   * @returns the configuration.
   * @example
   * ```ts
   * const q = createVirtqueue(mem, drv.queueConfig());
   * ```
   */
  queueConfig(maxSize?: number): QueueConfig {
    let max = 1;
    while (max < this.size) max *= 2;
    const cfg = new QueueConfig(maxSize ?? max);
    let f = 1n << BigInt(Feature.RING_PACKED);
    if (this.eventIdx) f |= 1n << BigInt(Feature.EVENT_IDX);
    if (this.opts.indirectDesc === true) f |= 1n << BigInt(Feature.INDIRECT_DESC);
    cfg.setFeatures(f);
    cfg.setSize(this.size);
    cfg.setArea('descTable', this.ring);
    cfg.setArea('driverArea', this.driverEvt);
    cfg.setArea('deviceArea', this.deviceEvt);
    cfg.ready = true;
    return cfg;
  }

  /**
   * Exposes a buffer to the device (Linux `virtqueue_add_packed`): writes the descriptors, the
   * first one's flags last.
   * @param out - device-readable buffers.
   * @param inBufs - device-writable buffers.
   * @param token - returned by `getBuf` with this buffer (must not be undefined).
   * @param useIndirect - force (true) or forbid (false) an indirect table.
   * @returns the buffer ID, or -1 when the ring has no room (ENOSPC).
   * @throws RangeError for no buffers, a bad buffer, or an impossible `useIndirect`.
   * @throws Queue.BrokenError after the device misbehaved.
   * @example
   * ```ts
   * drv.add([{ addr: hdr, len: 16 }], [{ addr: status, len: 1 }], req);
   * ```
   */
  add(out: readonly DriverBuffer[], inBufs: readonly DriverBuffer[], token: T, useIndirect?: boolean): number {
    if (this.broken !== null) throw new BrokenError(this.broken);
    const total = checkBuffers(out, inBufs, token);
    const indirect = useIndirect ?? (this.indirect && total > 1 && this.free > 0 && total <= this.indirectEntries);
    if (indirect && (!this.indirect || total > this.indirectEntries)) {
      throw new RangeError(`PackedDriver.add: an indirect table of ${total} entries is not possible (indirectArea holds ${this.indirectEntries})`);
    }
    const mem = this.mem;
    const n = this.size;
    const head = this.nextAvail;
    if (indirect) {
      if (this.free < 1) return -1;
      const id = this.freeHead;
      const table = this.indirectBase + id * this.indirectEntries * 16;
      for (let k = 0; k < total; k++) {
        const b = k < out.length ? out[k]! : inBufs[k - out.length]!;
        writeDesc(mem, table + 16 * k, b.addr, b.len, 0, k < out.length ? 0 : F_WRITE);
      }
      writeDesc(mem, this.ring + 16 * head, table, total * 16, id, -1);
      mem.atomicStoreU16(this.ring + 16 * head + 14, F_INDIRECT | this.availUsedFlags);
      this.free -= 1;
      let next = head + 1;
      if (next >= n) {
        next = 0;
        this.availWrap ^= 1;
        this.availUsedFlags ^= F_AVAIL | F_USED;
      }
      this.nextAvail = next;
      this.freeHead = this.nextId[id]!;
      this.stateNum[id] = 1;
      this.stateLast[id] = id;
      this.data[id] = token;
      this.numAdded += 1;
      return id;
    }
    if (this.free < total) return -1;
    const id = this.freeHead;
    let curr = id;
    let prev = id;
    let i = head;
    let headFlags = 0;
    for (let k = 0; k < total; k++) {
      const b = k < out.length ? out[k]! : inBufs[k - out.length]!;
      const flags = this.availUsedFlags | (k + 1 === total ? 0 : F_NEXT) | (k < out.length ? 0 : F_WRITE);
      writeDesc(mem, this.ring + 16 * i, b.addr, b.len, id, i === head ? -1 : flags);
      if (i === head) headFlags = flags;
      prev = curr;
      curr = this.nextId[curr]!;
      if (++i >= n) {
        i = 0;
        this.availUsedFlags ^= F_AVAIL | F_USED;
      }
    }
    // `<=` as Linux since its 2023 fix (older kernels test `i < head` and miss the flip when one
    // list fills the whole ring).
    if (i <= head) this.availWrap ^= 1;
    this.free -= total;
    this.nextAvail = i;
    this.freeHead = curr;
    this.stateNum[id] = total;
    this.stateLast[id] = prev;
    this.data[id] = token;
    // virtio_wmb, then make the first descriptor available.
    mem.atomicStoreU16(this.ring + 16 * head + 14, headFlags);
    this.numAdded += total;
    return id;
  }

  /**
   * Whether the device wants a notification (Linux `virtqueue_kick_prepare_packed`).
   * @returns true when the driver should notify the device.
   * @example `if (drv.kickPrepare()) transport.notify(0);`
   */
  kickPrepare(): boolean {
    this.mem.fence();
    const n = this.nextAvail;
    const old = (n - this.numAdded) & 0xffff;
    this.numAdded = 0;
    const offWrap = this.mem.atomicLoadU16(this.deviceEvt);
    const flags = this.mem.atomicLoadU16(this.deviceEvt + 2);
    if (flags !== EventFlags.DESC) return flags !== EventFlags.DISABLE;
    let event = offWrap & 0x7fff;
    if (offWrap >>> 15 !== this.availWrap) event -= this.size;
    return vringNeedEvent(event & 0xffff, n, old);
  }

  private isUsed(pos: number, wrap: number): boolean {
    const f = this.mem.atomicLoadU16(this.ring + 16 * pos + 14);
    const avail = (f & F_AVAIL) !== 0 ? 1 : 0;
    const used = (f & F_USED) !== 0 ? 1 : 0;
    return avail === used && used === wrap;
  }

  /** Whether the device has used buffers the driver has not taken. @returns true if so. @example `drv.moreUsed()` */
  moreUsed(): boolean {
    return this.isUsed(this.lastUsed, this.usedWrap);
  }

  /**
   * Takes the next used buffer (Linux `virtqueue_get_buf_ctx_packed`).
   * @returns the token, length and ID, or null when there is none.
   * @throws Queue.BadUsedElementError when the device wrote an ID out of range or not in flight;
   *   Queue.BrokenError afterwards.
   * @example `for (let u = drv.getBuf(); u; u = drv.getBuf()) done(u.token);`
   */
  getBuf(): UsedBuffer<T> | null {
    if (this.broken !== null) throw new BrokenError(this.broken);
    if (!this.moreUsed()) return null;
    const mem = this.mem;
    const at = this.ring + 16 * this.lastUsed;
    const id = mem.readU16(at + 12);
    const len = mem.readU32(at + 8);
    if (id >= this.size) throw this.bad(`id ${id} out of range`);
    const token = this.data[id];
    if (token === undefined) throw this.bad(`id ${id} is not a head`);
    this.data[id] = undefined;
    this.nextId[this.stateLast[id]!] = this.freeHead;
    this.freeHead = id;
    this.free += this.stateNum[id]!;
    let last = this.lastUsed + this.stateNum[id]!;
    if (last >= this.size) {
      last -= this.size;
      this.usedWrap ^= 1;
    }
    this.lastUsed = last;
    if (this.eventFlagsShadow === EventFlags.DESC) {
      mem.atomicStoreU16(this.driverEvt, this.lastUsed | (this.usedWrap << 15));
    }
    return { token, len, id };
  }

  private bad(msg: string): BadUsedElementError {
    this.broken = new BadUsedElementError(msg);
    return this.broken;
  }

  /** Asks the device not to interrupt (Linux `virtqueue_disable_cb_packed`). @example `drv.disableCb()` */
  disableCb(): void {
    if (this.eventFlagsShadow !== EventFlags.DISABLE) {
      this.eventFlagsShadow = EventFlags.DISABLE;
      this.mem.writeU16(this.driverEvt + 2, this.eventFlagsShadow);
    }
  }

  /**
   * Re-enables interrupts (Linux `virtqueue_enable_cb_prepare_packed`).
   * @returns the opaque position for {@link PackedDriver.poll}.
   * @example `drv.poll(drv.enableCbPrepare())`
   */
  enableCbPrepare(): number {
    if (this.eventIdx) this.mem.writeU16(this.driverEvt, this.lastUsed | (this.usedWrap << 15));
    if (this.eventFlagsShadow === EventFlags.DISABLE) {
      this.eventFlagsShadow = this.eventIdx ? EventFlags.DESC : EventFlags.ENABLE;
      this.mem.writeU16(this.driverEvt + 2, this.eventFlagsShadow);
    }
    return this.lastUsed | (this.usedWrap << 15);
  }

  /**
   * Whether a used buffer is pending at the position from {@link PackedDriver.enableCbPrepare}
   * (Linux `virtqueue_poll_packed`).
   * @param offWrap - the position.
   * @returns true when there is.
   * @example `drv.poll(pos)`
   */
  poll(offWrap: number): boolean {
    this.mem.fence();
    return this.isUsed(offWrap & 0x7fff, offWrap >>> 15);
  }

  /**
   * Re-enables interrupts and checks for a race (Linux `virtqueue_enable_cb`).
   * @returns false when used buffers are already pending.
   * @example `if (!drv.enableCb()) drain();`
   */
  enableCb(): boolean {
    return !this.poll(this.enableCbPrepare());
  }

  /**
   * Re-enables interrupts for when 3/4 of the outstanding buffers are used (Linux
   * `virtqueue_enable_cb_delayed_packed`).
   * @returns false when a used buffer is already pending.
   * @example `drv.enableCbDelayed()`
   */
  enableCbDelayed(): boolean {
    if (this.eventIdx) {
      const bufs = Math.floor(((this.size - this.free) * 3) / 4);
      let wrap = this.usedWrap;
      let used = this.lastUsed + bufs;
      if (used >= this.size) {
        used -= this.size;
        wrap ^= 1;
      }
      this.mem.writeU16(this.driverEvt, used | (wrap << 15));
    }
    if (this.eventFlagsShadow === EventFlags.DISABLE) {
      this.eventFlagsShadow = this.eventIdx ? EventFlags.DESC : EventFlags.ENABLE;
      this.mem.writeU16(this.driverEvt + 2, this.eventFlagsShadow);
    }
    this.mem.fence();
    return !this.isUsed(this.lastUsed, this.usedWrap);
  }

  /**
   * Takes back a buffer the device never used (Linux `virtqueue_detach_unused_buf_packed`).
   * @returns a token, or null when all buffers are back.
   * @example `while (drv.detachUnusedBuf() !== null);`
   */
  detachUnusedBuf(): T | null {
    for (let i = 0; i < this.size; i++) {
      const t = this.data[i];
      if (t === undefined) continue;
      this.data[i] = undefined;
      this.nextId[this.stateLast[i]!] = this.freeHead;
      this.freeHead = i;
      this.free += this.stateNum[i]!;
      return t;
    }
    return null;
  }
}

/** Writes a packed descriptor; flags only when `flags >= 0` (the head's are published later). */
function writeDesc(mem: GuestMemory, at: number, addr: number | bigint, len: number, id: number, flags: number): void {
  mem.writeU64(at, addr);
  mem.writeU32(at + 8, len);
  mem.writeU16(at + 12, id);
  if (flags >= 0) mem.writeU16(at + 14, flags);
}
