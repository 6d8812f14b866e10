/**
 * The driver side of a split virtqueue (VIRTIO 1.2 §2.7.13 "Supplying Buffers to The Device",
 * §2.7.14 "Receiving Used Buffers From The Device"), behaving as Linux's
 * drivers/virtio/virtio_ring.c (`virtqueue_add_split`, `virtqueue_kick_prepare_split`,
 * `virtqueue_get_buf_ctx_split`, `virtqueue_enable_cb_prepare_split`, ...), including its
 * event-idx handling. For tests, benchmarks and vhost-user frontends.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig } from '../config.js';
import { DescFlags, Feature, vringNeedEvent } from '../constants.js';
import { BadUsedElementError, BrokenError } from '../errors.js';
import { checkBuffers, checkRingOptions, type DriverBuffer, type DriverRingOptions, type RingLayout, type UsedBuffer } from './common.js';

const F_NEXT = DescFlags.NEXT;
const F_WRITE = DescFlags.WRITE;
const F_INDIRECT = DescFlags.INDIRECT;

/**
 * A split-ring driver over guest memory, as Linux drives one. `T` is the token type returned
 * with each used buffer (Linux's `data` pointer).
 *
 * @example
 * ```ts
 * const drv = new SplitDriver(memory, { size: 256, ...SplitDriver.layout(256, 0x10000) });
 * drv.add([{ addr: 0x20000, len: 16 }], [{ addr: 0x30000, len: 1 }], 'req1');
 * if (drv.kickPrepare()) notifyDevice();
 * const done = drv.getBuf(); // { token: 'req1', len: 1 } once the device used it
 * ```
 */
export class SplitDriver<T = unknown> {
  /** Queue size. */
  readonly size: number;
  /** VIRTIO_F_EVENT_IDX in use. */
  readonly eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC in use (needs `indirectArea`). */
  readonly indirect: boolean;
  private readonly mem: GuestMemory;
  private readonly desc: number;
  private readonly avail: number;
  private readonly used: number;
  private readonly indirectBase: number;
  private readonly indirectEntries: number;
  /** Free descriptors. */
  private free: number;
  private freeHead = 0;
  private readonly next: Uint16Array;
  private readonly flagsShadow: Uint16Array;
  private readonly data: (T | undefined)[];
  private readonly isIndirect: Uint8Array;
  private availIdxShadow = 0;
  private availFlagsShadow = 0;
  private numAdded = 0;
  private lastUsedIdx = 0;
  private broken: BadUsedElementError | null = null;
  private readonly opts: DriverRingOptions;

  /**
   * Addresses for a split ring of `size` entries laid out from `base`: descriptor table, then the
   * available ring (2-aligned), then the used ring at the next 4 KiB boundary (as legacy
   * vring_init does with align 4096).
   * @param size - queue size.
   * @param base - guest address, 16-byte aligned.
   * @returns the three area addresses and the total bytes used.
   * @example
   * ```ts
   * SplitDriver.layout(256, 0) // { descTable: 0, driverArea: 4096, deviceArea: 8192, bytes: 10246 }
   * ```
   */
  static layout(size: number, base: number): RingLayout {
    const descTable = base;
    const driverArea = base + 16 * size;
    const deviceArea = Math.ceil((driverArea + 6 + 2 * size) / 4096) * 4096;
    return { descTable, driverArea, deviceArea, bytes: deviceArea + 6 + 8 * size - base };
  }

  /**
   * Sets up the driver's view of the ring and initialises it in guest memory (zeroes the used
   * and available rings' headers; sets VIRTQ_AVAIL_F_NO_INTERRUPT when `callback` is false).
   * @param memory - guest memory holding the ring.
   * @param options - size, area addresses, features.
   * @throws RangeError / TypeError for invalid options.
   * @example
   * ```ts
   * new SplitDriver(mem, { size: 8, descTable: 0, driverArea: 128, deviceArea: 256, eventIdx: true })
   * ```
   */
  constructor(memory: GuestMemory, options: DriverRingOptions) {
    checkRingOptions(options, false);
    this.mem = memory;
    this.opts = options;
    this.size = options.size;
    this.eventIdx = options.eventIdx === true;
    this.indirect = options.indirectDesc === true && options.indirectArea !== undefined;
    this.desc = options.descTable;
    this.avail = options.driverArea;
    this.used = options.deviceArea;
    this.indirectBase = options.indirectArea?.address ?? 0;
    this.indirectEntries = options.indirectArea?.entriesPerChain ?? 0;
    const n = this.size;
    this.free = n;
    this.next = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.next[i] = i + 1;
    this.flagsShadow = new Uint16Array(n);
    this.data = new Array<T | undefined>(n).fill(undefined);
    this.isIndirect = new Uint8Array(n);
    memory.fill(this.avail, 6 + 2 * n, 0);
    memory.fill(this.used, 6 + 8 * n, 0);
    if (options.callback === false) {
      this.availFlagsShadow |= 1;
      if (!this.eventIdx) memory.writeU16(this.avail, this.availFlagsShadow);
    }
  }

  /** Free descriptors (Linux `num_free`). */
  get numFree(): number {
    return this.free;
  }

  /**
   * A transport configuration matching this ring (ready, features set), for creating the device
   * side with `createVirtqueue`.
   * @param maxSize - the device's maximum (default: the ring's size rounded up to a power of two).
   * @returns the configuration.
   * @example
   * ```ts
   * const q = createVirtqueue(mem, drv.queueConfig());
   * ```
   */
  queueConfig(maxSize?: number): QueueConfig {
    const cfg = new QueueConfig(maxSize ?? this.size);
    let f = 0n;
    if (this.eventIdx) f |= 1n << BigInt(Feature.EVENT_IDX);
    if (this.opts.indirectDesc === true) f |= 1n << BigInt(Feature.INDIRECT_DESC);
    cfg.setFeatures(f);
    cfg.setSize(this.size);
    cfg.setArea('descTable', this.desc);
    cfg.setArea('driverArea', this.avail);
    cfg.setArea('deviceArea', this.used);
    cfg.ready = true;
    return cfg;
  }

  /**
   * Exposes a buffer to the device (Linux `virtqueue_add_sgs`): device-readable `out` buffers
   * then device-writable `inBufs`. Uses an indirect table when indirect descriptors are on, there
   * is more than one buffer and they fit the table (or as `useIndirect` forces).
   * @param out - device-readable buffers.
   * @param inBufs - device-writable buffers.
   * @param token - returned by `getBuf` with this buffer (must not be undefined).
   * @param useIndirect - force (true) or forbid (false) an indirect table.
   * @returns the head descriptor index, or -1 when the ring has no room (ENOSPC).
   * @throws RangeError for no buffers at all, a bad buffer, or an impossible `useIndirect`.
   * @throws Queue.BrokenError after the device misbehaved.
   * @example
   * ```ts
   * const head = drv.add([{ addr: hdr, len: 16 }], [{ addr: status, len: 1 }], req);
   * ```
   */
  add(out: readonly DriverBuffer[], inBufs: readonly DriverBuffer[], token: T, useIndirect?: boolean): number {
    if (this.broken !== null) throw new BrokenError(this.broken);
    const total = checkBuffers(out, inBufs, token);
    const indirect = useIndirect ?? (this.indirect && total > 1 && this.free > 0 && total <= this.indirectEntries);
    if (indirect && (!this.indirect || total > this.indirectEntries)) {
      throw new RangeError(`SplitDriver.add: an indirect table of ${total} entries is not possible (indirectArea holds ${this.indirectEntries})`);
    }
    const used = indirect ? 1 : total;
    if (this.free < used) return -1;
    const mem = this.mem;
    const head = this.freeHead;
    if (indirect) {
      const table = this.indirectBase + head * this.indirectEntries * 16;
      for (let k = 0; k < total; k++) {
        const b = k < out.length ? out[k]! : inBufs[k - out.length]!;
        const flags = (k + 1 < total ? F_NEXT : 0) | (k >= out.length ? F_WRITE : 0);
        writeDesc(mem, table + 16 * k, b.addr, b.len, flags, k + 1 < total ? k + 1 : 0);
      }
      writeDesc(mem, this.desc + 16 * head, table, total * 16, F_INDIRECT, this.next[head]!);
      this.flagsShadow[head] = F_INDIRECT;
      this.isIndirect[head] = 1;
      this.freeHead = this.next[head]!;
    } else {
      let i = head;
      for (let k = 0; k < total; k++) {
        const b = k < out.length ? out[k]! : inBufs[k - out.length]!;
        const flags = (k + 1 < total ? F_NEXT : 0) | (k >= out.length ? F_WRITE : 0);
        writeDesc(mem, this.desc + 16 * i, b.addr, b.len, flags, this.next[i]!);
        this.flagsShadow[i] = flags;
        i = this.next[i]!;
      }
      this.isIndirect[head] = 0;
      this.freeHead = i;
    }
    this.free -= used;
    this.data[head] = token;
    const slot = this.availIdxShadow & (this.size - 1);
    mem.writeU16(this.avail + 4 + 2 * slot, head);
    // virtio_wmb, then publish avail->idx.
    this.availIdxShadow = (this.availIdxShadow + 1) & 0xffff;
    mem.atomicStoreU16(this.avail + 2, this.availIdxShadow);
    this.numAdded++;
    return head;
  }

  /**
   * Whether the device wants a notification for what was added since the last call (Linux
   * `virtqueue_kick_prepare_split`: avail_event with EVENT_IDX, VIRTQ_USED_F_NO_NOTIFY otherwise).
   * @returns true when the driver should notify the device.
   * @example
   * ```ts
   * if (drv.kickPrepare()) transport.notify(0);
   * ```
   */
  kickPrepare(): boolean {
    this.mem.fence();
    const n = this.availIdxShadow;
    const old = (n - this.numAdded) & 0xffff;
    this.numAdded = 0;
    if (this.eventIdx) return vringNeedEvent(this.mem.atomicLoadU16(this.used + 4 + 8 * this.size), n, old);
    return (this.mem.atomicLoadU16(this.used) & 1) === 0;
  }

  /** Whether the device has used buffers the driver has not taken (Linux `more_used_split`). @returns true if so. @example `while (drv.moreUsed()) drv.getBuf()` */
  moreUsed(): boolean {
    return this.lastUsedIdx !== this.mem.atomicLoadU16(this.used + 2);
  }

  /**
   * Takes the next used buffer (Linux `virtqueue_get_buf_ctx_split`), freeing its descriptors;
   * with EVENT_IDX and callbacks enabled, moves used_event to the next entry.
   * @returns the token and the length the device reported, or null when there is none.
   * @throws Queue.BadUsedElementError when the device wrote an ID out of range or not in flight
   *   (the driver is then broken); Queue.BrokenError afterwards.
   * @example
   * ```ts
   * for (let u = drv.getBuf(); u; u = drv.getBuf()) complete(u.token, u.len);
   * ```
   */
  getBuf(): UsedBuffer<T> | null {
    if (this.broken !== null) throw new BrokenError(this.broken);
    if (!this.moreUsed()) return null;
    const mem = this.mem;
    const slot = this.lastUsedIdx & (this.size - 1);
    const id = mem.readU32(this.used + 4 + 8 * slot);
    const len = mem.readU32(this.used + 8 + 8 * slot);
    if (id >= this.size) throw this.bad(`id ${id} out of range`);
    const token = this.data[id];
    if (token === undefined) throw this.bad(`id ${id} is not a head`);
    this.detach(id);
    this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    if ((this.availFlagsShadow & 1) === 0 && this.eventIdx) {
      mem.atomicStoreU16(this.avail + 4 + 2 * this.size, this.lastUsedIdx);
    }
    return { token, len, id };
  }

  private bad(msg: string): BadUsedElementError {
    this.broken = new BadUsedElementError(msg);
    return this.broken;
  }

  private detach(head: number): void {
    this.data[head] = undefined;
    let i = head;
    while ((this.flagsShadow[i]! & F_NEXT) !== 0) {
      i = this.next[i]!;
      this.free++;
    }
    this.next[i] = this.freeHead;
    this.freeHead = head;
    this.free++;
  }

  /**
   * Asks the device not to interrupt (Linux `virtqueue_disable_cb_split`; with EVENT_IDX it only
   * writes used_event = 0 once, as Linux does).
   * @example `drv.disableCb()`
   */
  disableCb(): void {
    if ((this.availFlagsShadow & 1) === 0) {
      this.availFlagsShadow |= 1;
      if (this.eventIdx) this.mem.writeU16(this.avail + 4 + 2 * this.size, 0);
      else this.mem.writeU16(this.avail, this.availFlagsShadow);
    }
  }

  /**
   * Re-enables interrupts (Linux `virtqueue_enable_cb_prepare_split`).
   * @returns the opaque position to pass to {@link SplitDriver.poll}.
   * @example `const pos = drv.enableCbPrepare(); if (drv.poll(pos)) { ... }`
   */
  enableCbPrepare(): number {
    if ((this.availFlagsShadow & 1) !== 0) {
      this.availFlagsShadow &= ~1;
      if (!this.eventIdx) this.mem.writeU16(this.avail, this.availFlagsShadow);
    }
    this.mem.writeU16(this.avail + 4 + 2 * this.size, this.lastUsedIdx);
    return this.lastUsedIdx;
  }

  /**
   * Whether used buffers are pending past `lastUsed` (Linux `virtqueue_poll_split`).
   * @param lastUsed - from {@link SplitDriver.enableCbPrepare}.
   * @returns true when there are.
   * @example `drv.poll(drv.enableCbPrepare())`
   */
  poll(lastUsed: number): boolean {
    this.mem.fence();
    return (lastUsed & 0xffff) !== this.mem.atomicLoadU16(this.used + 2);
  }

  /**
   * Re-enables interrupts and checks for a race (Linux `virtqueue_enable_cb`).
   * @returns false when used buffers are already pending (process them, then try again).
   * @example `if (!drv.enableCb()) drain();`
   */
  enableCb(): boolean {
    return !this.poll(this.enableCbPrepare());
  }

  /**
   * Re-enables interrupts but asks for one only after 3/4 of the outstanding buffers are used
   * (Linux `virtqueue_enable_cb_delayed_split`).
   * @returns false when many buffers are already pending.
   * @example `drv.enableCbDelayed()`
   */
  enableCbDelayed(): boolean {
    if ((this.availFlagsShadow & 1) !== 0) {
      this.availFlagsShadow &= ~1;
      if (!this.eventIdx) this.mem.writeU16(this.avail, this.availFlagsShadow);
    }
    const bufs = Math.floor((((this.availIdxShadow - this.lastUsedIdx) & 0xffff) * 3) / 4);
    this.mem.atomicStoreU16(this.avail + 4 + 2 * this.size, (this.lastUsedIdx + bufs) & 0xffff);
    return ((this.mem.atomicLoadU16(this.used + 2) - this.lastUsedIdx) & 0xffff) <= bufs;
  }

  /**
   * Takes back a buffer the device never used (Linux `virtqueue_detach_unused_buf_split`); only
   * valid when the device is stopped.
   * @returns a token, or null when all buffers are back.
   * @example `while (drv.detachUnusedBuf() !== null);`
   */
  detachUnusedBuf(): T | null {
    for (let i = 0; i < this.size; i++) {
      const t = this.data[i];
      if (t === undefined) continue;
      this.detach(i);
      this.availIdxShadow = (this.availIdxShadow - 1) & 0xffff;
      this.mem.atomicStoreU16(this.avail + 2, this.availIdxShadow);
      return t;
    }
    return null;
  }
}

function writeDesc(mem: GuestMemory, at: number, addr: number | bigint, len: number, flags: number, next: number): void {
  mem.writeU64(at, addr);
  mem.writeU32(at + 8, len);
  mem.writeU16(at + 12, flags);
  mem.writeU16(at + 14, next);
}
