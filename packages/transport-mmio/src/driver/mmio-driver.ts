/**
 * A model of Linux 6.1's virtio-mmio driver (drivers/virtio/virtio_mmio.c) and virtio core
 * (drivers/virtio/virtio.c), making the same register accesses in the same order through an
 * MMIO bus, with rings set up in guest memory by `@vmv/queue/driver` (virtio_ring.c's
 * behaviour). For testing devices and transports exactly as a Linux guest drives them.
 *
 * The sequence (VIRTIO 1.2 §3.1.1, §4.2.3):
 * 1. {@link VirtioMmioDriver.probe} — `virtio_mmio_probe`: MagicValue, Version, DeviceID
 *    (0 ends the probe), VendorID; then `register_virtio_device`: reset (Status = 0, then Status
 *    read until 0) and ACKNOWLEDGE.
 * 2. {@link VirtioMmioDriver.negotiate} — `virtio_dev_probe`: DRIVER; DeviceFeatures word 1 then
 *    0; the accepted set (driver table ∩ device, transport bits filtered as
 *    `vring_transport_features` does); DriverFeatures word 1 then 0; FEATURES_OK and its read-back.
 * 3. {@link VirtioMmioDriver.setupQueue} — `vm_setup_vq`: QueueSel, QueueReady (must read 0),
 *    QueueNumMax, QueueNum, the three area addresses low then high, QueueReady = 1.
 * 4. {@link VirtioMmioDriver.ready} — `virtio_device_ready`: DRIVER_OK.
 * 5. Requests through {@link DriverQueue.add} / {@link DriverQueue.kick}; interrupts through
 *    {@link VirtioMmioDriver.interrupt} (`vm_interrupt`: InterruptStatus read, InterruptACK write).
 *
 * Linux 6.1's `vm_reset` writes 0 to Status without waiting; this model then reads Status until
 * it is 0 (VIRTIO 1.2 §2.4.2) and uses that read as the read of `virtio_add_status`, so against a
 * device that resets at once its accesses are exactly Linux 6.1's.
 * @module
 */
import type { MmioDispatcher } from '@vmv/bus';
import { Feature, Status, featureBit, hasFeature } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { DriverQueue, PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { MMIO_MAGIC_VALUE, MMIO_VERSION, MmioRegister as R } from '../constants.js';
import { DriverProbeError } from '../errors.js';

const PAGE = 4096;

/**
 * Transport feature bits (28..40, VIRTIO_TRANSPORT_F_START..END) Linux 6.1's
 * `vring_transport_features` keeps when the device offers them: INDIRECT_DESC, EVENT_IDX,
 * VERSION_1, ACCESS_PLATFORM, RING_PACKED, ORDER_PLATFORM. All others in 28..40 are cleared.
 * @example `LINUX_6_1_TRANSPORT_FEATURES.includes(29) // EVENT_IDX`
 */
export const LINUX_6_1_TRANSPORT_FEATURES: readonly number[] = Object.freeze([
  Feature.INDIRECT_DESC,
  Feature.EVENT_IDX,
  Feature.VERSION_1,
  Feature.ACCESS_PLATFORM,
  Feature.RING_PACKED,
  Feature.ORDER_PLATFORM,
]);

/**
 * One register or configuration access the driver made, as {@link VirtioMmioDriverOptions.onAccess} sees it.
 * @example `{ write: true, offset: 0x70, width: 4, value: 1 }`
 */
export interface MmioAccess {
  /** Whether it was a write. */
  readonly write: boolean;
  /** Offset from the device base. */
  readonly offset: number;
  /** Width in bytes (1, 2 or 4). */
  readonly width: number;
  /** The value written or read. */
  readonly value: number;
}

/**
 * Options of a {@link VirtioMmioDriver}.
 * @example
 * ```ts
 * const opts: VirtioMmioDriverOptions = { bus: io, base: 0xd000_0000, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } };
 * ```
 */
export interface VirtioMmioDriverOptions {
  /** Where register accesses go (an IoManager): the model accesses the device only through it. */
  readonly bus: MmioDispatcher;
  /** The device's base address on the bus. */
  readonly base: number | bigint;
  /** Guest memory the rings are placed in. */
  readonly memory: GuestMemory;
  /**
   * A free part of guest memory for rings (Linux's DMA allocations): rings are placed from
   * `base` upwards, each at a 4 KiB boundary, as `vring_alloc_queue` gets page-aligned memory.
   */
  readonly ringMemory: {
    /** Guest physical address of the first free byte. */
    readonly base: number;
    /** Bytes available from `base`. */
    readonly size: number;
  };
  /**
   * Transport feature bits (28..40) kept when offered (Linux `vring_transport_features`).
   * Default {@link LINUX_6_1_TRANSPORT_FEATURES}.
   */
  readonly transportFeatures?: readonly number[];
  /** Told about every access, in order. */
  readonly onAccess?: (access: MmioAccess) => void;
  /** Called from {@link VirtioMmioDriver.interrupt} on a configuration change (Linux `virtio_config_changed`). */
  readonly onConfigChange?: () => void;
}

/**
 * What {@link VirtioMmioDriver.probe} read.
 * @example `{ version: 2, deviceId: 2, vendorId: 0 }`
 */
export interface MmioDeviceIdentity {
  /** The Version register. */
  readonly version: number;
  /** The DeviceID register. */
  readonly deviceId: number;
  /** The VendorID register. */
  readonly vendorId: number;
}

/**
 * Options of {@link VirtioMmioDriver.setupQueue}.
 * @example `{ callback: (q) => drain(q), maxSize: 256 }`
 */
export interface DriverQueueOptions<T> {
  /** The queue's callback (without one the driver asks for no interrupts: VRING_AVAIL_F_NO_INTERRUPT). */
  readonly callback?: (queue: DriverQueue<T>) => void;
  /** Use at most this many entries (Linux sizes the ring at QueueNumMax, halving it when memory runs short). */
  readonly maxSize?: number;
  /** Indirect descriptor tables of this many entries per chain (used when VIRTIO_F_INDIRECT_DESC is negotiated). */
  readonly indirectEntries?: number;
}

/**
 * The Linux 6.1 virtio-mmio driver, as a model.
 * @example
 * ```ts
 * const drv = new VirtioMmioDriver({ bus: io, base: 0xd000_0000, memory, ringMemory: { base: 0x100000, size: 0x100000 } });
 * drv.probe();                    // identity
 * drv.negotiate([]);              // VERSION_1 (and ring features) only
 * const q = drv.setupQueue(0, { callback: (q) => { for (let u = q.getBuf(); u; u = q.getBuf()) done(u); } });
 * drv.ready();
 * q.add([], [{ addr: 0x8000, len: 64 }], 'buf'); q.kick();
 * ```
 */
export class VirtioMmioDriver {
  /** Guest memory holding the rings. */
  readonly memory: GuestMemory;
  /** The queues set up, by index. */
  readonly queues: (DriverQueue<unknown> | null)[] = [];
  private readonly bus: MmioDispatcher;
  private readonly base: bigint;
  /** The base as a number when every register address is a safe integer (no bigint per access). */
  private readonly baseNumber: number | null;
  private readonly scratch = new Uint8Array(4);
  private readonly views: readonly Uint8Array[];
  private readonly onAccess: ((a: MmioAccess) => void) | undefined;
  private readonly onConfigChange: (() => void) | undefined;
  private readonly transportKeep: bigint;
  private readonly ringEnd: number;
  private ringNext: number;
  private negotiated = 0n;
  private identityValue: MmioDeviceIdentity | null = null;

  /**
   * @param options - bus, base address, memory and ring memory; see {@link VirtioMmioDriverOptions}.
   * @throws TypeError / RangeError for options of the wrong type or range.
   */
  constructor(options: VirtioMmioDriverOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('VirtioMmioDriver: options must be an object');
    const { bus, memory, ringMemory } = options;
    if (typeof bus?.mmioRead !== 'function' || typeof bus.mmioWrite !== 'function') throw new TypeError('VirtioMmioDriver: options.bus must have mmioRead/mmioWrite');
    if (typeof memory?.view !== 'function') throw new TypeError('VirtioMmioDriver: options.memory must be a GuestMemory');
    const base = options.base;
    if (typeof base === 'bigint' ? base < 0n : !Number.isSafeInteger(base) || base < 0) throw new RangeError(`VirtioMmioDriver: base must be a non-negative safe integer or bigint, got ${String(base)}`);
    if (typeof ringMemory !== 'object' || ringMemory === null || !Number.isSafeInteger(ringMemory.base) || ringMemory.base < 0 || !Number.isSafeInteger(ringMemory.size) || ringMemory.size <= 0) {
      throw new RangeError('VirtioMmioDriver: ringMemory must be { base, size } with non-negative safe integers and size > 0');
    }
    this.bus = bus;
    this.base = BigInt(base);
    this.baseNumber = this.base + 0x2000n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(this.base) : null;
    this.memory = memory;
    this.views = [new Uint8Array(1), new Uint8Array(2), this.scratch];
    this.onAccess = options.onAccess;
    this.onConfigChange = options.onConfigChange;
    let keep = 0n;
    for (const bit of options.transportFeatures ?? LINUX_6_1_TRANSPORT_FEATURES) {
      if (!Number.isInteger(bit) || bit < 28 || bit > 40) throw new RangeError(`VirtioMmioDriver: transportFeatures must be bits in 28..40, got ${String(bit)}`);
      keep |= 1n << BigInt(bit);
    }
    this.transportKeep = keep;
    this.ringNext = Math.ceil(ringMemory.base / PAGE) * PAGE;
    this.ringEnd = ringMemory.base + ringMemory.size;
  }

  /**
   * The features negotiated by {@link VirtioMmioDriver.negotiate} (Linux `vdev->features`).
   * @example `hasFeature(drv.features, Feature.EVENT_IDX)`
   */
  get features(): bigint {
    return this.negotiated;
  }

  /**
   * What {@link VirtioMmioDriver.probe} read, or null before.
   * @example `drv.identity?.deviceId`
   */
  get identity(): MmioDeviceIdentity | null {
    return this.identityValue;
  }

  // ------------------------------------------------------------------ register access

  /**
   * A 32-bit register read through the bus (`readl`).
   * @param offset - register offset.
   * @returns the value.
   * @throws what the bus throws (Bus.DeviceNotFoundError when nothing is at the address).
   * @example `drv.readRegister(MmioRegister.STATUS)`
   */
  readRegister(offset: number): number {
    return this.read(offset, 4);
  }

  /**
   * A 32-bit register write through the bus (`writel`).
   * @param offset - register offset.
   * @param value - a u32.
   * @throws what the bus throws.
   * @example `drv.writeRegister(MmioRegister.QUEUE_NOTIFY, 0)`
   */
  writeRegister(offset: number, value: number): void {
    this.write(offset, 4, value);
  }

  private read(offset: number, width: 1 | 2 | 4): number {
    const data = this.views[width >> 1]!;
    this.bus.mmioRead(this.address(offset), data);
    let v = data[0]!;
    if (width > 1) v |= data[1]! << 8;
    if (width > 2) v = (v | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
    this.onAccess?.({ write: false, offset, width, value: v });
    return v;
  }

  private write(offset: number, width: 1 | 2 | 4, value: number): void {
    const data = this.views[width >> 1]!;
    data[0] = value & 0xff;
    if (width > 1) data[1] = (value >>> 8) & 0xff;
    if (width > 2) {
      data[2] = (value >>> 16) & 0xff;
      data[3] = (value >>> 24) & 0xff;
    }
    this.onAccess?.({ write: true, offset, width, value: width === 4 ? value >>> 0 : value & (width === 1 ? 0xff : 0xffff) });
    this.bus.mmioWrite(this.address(offset), data);
  }

  private address(offset: number): number | bigint {
    return this.baseNumber !== null ? this.baseNumber + offset : this.base + BigInt(offset);
  }

  /**
   * Reads the Status register (`vm_get_status`).
   * @returns the status byte.
   * @example `drv.getStatus() & Status.DEVICE_NEEDS_RESET`
   */
  getStatus(): number {
    return this.read(R.STATUS, 4) & 0xff;
  }

  /** `virtio_add_status`: read Status, write it back with `bit`. */
  private addStatus(bit: number): void {
    this.write(R.STATUS, 4, this.getStatus() | bit);
  }

  // ------------------------------------------------------------------ initialisation

  /**
   * `virtio_mmio_probe` then `register_virtio_device`: checks MagicValue and Version, reads
   * DeviceID and VendorID, resets the device and sets ACKNOWLEDGE.
   * @returns the identity read.
   * @throws TransportMmio.DriverProbeError: BAD_MAGIC, BAD_VERSION (version 1 devices are legacy:
   *   this model drives version 2 only), NO_DEVICE (DeviceID 0: nothing else is accessed),
   *   RESET_TIMEOUT.
   * @example `const { deviceId } = drv.probe();`
   */
  probe(): MmioDeviceIdentity {
    const magic = this.read(R.MAGIC_VALUE, 4);
    if (magic !== MMIO_MAGIC_VALUE) throw new DriverProbeError('BAD_MAGIC', `MagicValue is 0x${magic.toString(16)}, not 0x${MMIO_MAGIC_VALUE.toString(16)}`);
    const version = this.read(R.VERSION, 4);
    if (version !== MMIO_VERSION) throw new DriverProbeError('BAD_VERSION', `Version is ${version}; this driver model handles version 2 only`);
    const deviceId = this.read(R.DEVICE_ID, 4);
    if (deviceId === 0) throw new DriverProbeError('NO_DEVICE', 'DeviceID 0 is a placeholder');
    const vendorId = this.read(R.VENDOR_ID, 4);
    this.identityValue = { version, deviceId, vendorId };
    const status = this.reset();
    this.write(R.STATUS, 4, status | Status.ACKNOWLEDGE);
    return this.identityValue;
  }

  /**
   * Resets the device (`vm_reset`: Status = 0) and reads Status until it is 0. Rings set up
   * before are forgotten (their memory is not reused).
   * @param maxPolls - how many Status reads to wait (default 1000).
   * @returns the last Status read (0).
   * @throws TransportMmio.DriverProbeError RESET_TIMEOUT when Status never read 0.
   * @example `drv.reset()`
   */
  reset(maxPolls = 1000): number {
    this.write(R.STATUS, 4, 0);
    this.queues.length = 0;
    this.negotiated = 0n;
    for (let i = 0; i < maxPolls; i++) {
      const s = this.getStatus();
      if (s === 0) return s;
    }
    throw new DriverProbeError('RESET_TIMEOUT', `Status did not read 0 after ${maxPolls} reads`);
  }

  /**
   * The feature part of `virtio_dev_probe`: DRIVER, the device features, the accepted subset,
   * `vm_finalize_features` and `virtio_features_ok` (FEATURES_OK and its read-back). On failure it
   * sets FAILED, as virtio_dev_probe's error path does.
   * @param driverFeatures - the driver's feature table (Linux `drv->feature_table`: device-specific
   *   bit numbers), or the same as a bigint mask.
   * @returns the negotiated features.
   * @throws TransportMmio.DriverProbeError NO_VERSION_1 or FEATURES_REFUSED.
   * @throws RangeError for a feature bit outside 0..63.
   * @example `drv.negotiate([9, 6]) // VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_BLK_SIZE`
   */
  negotiate(driverFeatures: readonly number[] | bigint): bigint {
    let table = 0n;
    if (typeof driverFeatures === 'bigint') table = driverFeatures & 0xffff_ffff_ffff_ffffn;
    else {
      for (const f of driverFeatures) {
        if (!Number.isInteger(f) || f < 0 || f > 63) throw new RangeError(`negotiate: feature bit ${String(f)} is outside 0..63`);
        table |= 1n << BigInt(f);
      }
    }
    this.addStatus(Status.DRIVER);
    this.write(R.DEVICE_FEATURES_SEL, 4, 1);
    const hi = this.read(R.DEVICE_FEATURES, 4);
    this.write(R.DEVICE_FEATURES_SEL, 4, 0);
    const lo = this.read(R.DEVICE_FEATURES, 4);
    const device = (BigInt(hi) << 32n) | BigInt(lo);
    let features = table & device;
    // Transport features always preserved to pass to finalize_features (bits 28..40).
    for (let bit = 28n; bit <= 40n; bit++) if ((device >> bit) & 1n) features |= 1n << bit;
    // vring_transport_features: clear the transport bits the ring code does not know.
    for (let bit = 28n; bit <= 40n; bit++) if (((this.transportKeep >> bit) & 1n) === 0n) features &= ~(1n << bit);
    if ((features & featureBit(Feature.VERSION_1)) === 0n) {
      this.addStatus(Status.FAILED);
      throw new DriverProbeError('NO_VERSION_1', 'a version 2 virtio-mmio device must offer VIRTIO_F_VERSION_1');
    }
    this.write(R.DRIVER_FEATURES_SEL, 4, 1);
    this.write(R.DRIVER_FEATURES, 4, Number(features >> 32n) >>> 0);
    this.write(R.DRIVER_FEATURES_SEL, 4, 0);
    this.write(R.DRIVER_FEATURES, 4, Number(features & 0xffff_ffffn) >>> 0);
    this.addStatus(Status.FEATURES_OK);
    const status = this.getStatus();
    if (!(status & Status.FEATURES_OK)) {
      this.addStatus(Status.FAILED);
      throw new DriverProbeError('FEATURES_REFUSED', `the device refuses features 0x${features.toString(16)} (status 0x${status.toString(16)})`);
    }
    this.negotiated = features;
    return features;
  }

  /**
   * `vm_setup_vq`: selects the queue, checks it is not in use, reads its maximum, creates the
   * ring (split, or packed when VIRTIO_F_RING_PACKED was negotiated) at the next 4 KiB boundary
   * of the ring memory, and writes QueueNum, the area addresses and QueueReady = 1.
   * @param index - queue index.
   * @param options - callback, size cap, indirect tables.
   * @returns the queue.
   * @throws TransportMmio.DriverProbeError QUEUE_IN_USE (QueueReady read non-zero) or
   *   QUEUE_UNAVAILABLE (QueueNumMax 0, or not a power of two for a split ring).
   * @throws RangeError when the ring memory cannot hold even a one-entry ring, or bad options.
   * @example `const rx = drv.setupQueue(0, { callback: onRx });`
   */
  setupQueue<T = unknown>(index: number, options: DriverQueueOptions<T> = {}): DriverQueue<T> {
    if (!Number.isInteger(index) || index < 0 || index > 0xffff) throw new RangeError(`setupQueue: index must be in 0..65535, got ${String(index)}`);
    this.write(R.QUEUE_SEL, 4, index);
    if (this.read(R.QUEUE_READY, 4) !== 0) throw new DriverProbeError('QUEUE_IN_USE', `queue ${index} reads QueueReady != 0 before setup`);
    const max = this.read(R.QUEUE_NUM_MAX, 4);
    const packed = hasFeature(this.negotiated, Feature.RING_PACKED);
    if (max === 0 || (!packed && (max & (max - 1)) !== 0) || max > 32768) {
      // error_new_virtqueue: disable the queue again and check.
      this.write(R.QUEUE_READY, 4, 0);
      this.read(R.QUEUE_READY, 4);
      throw new DriverProbeError('QUEUE_UNAVAILABLE', `queue ${index}: QueueNumMax is ${max}`);
    }
    let num = max;
    if (options.maxSize !== undefined) {
      if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new RangeError(`setupQueue: maxSize must be a positive integer, got ${String(options.maxSize)}`);
      while (num > options.maxSize && num > 1) num = packed ? Math.min(num - 1, options.maxSize) : num >> 1;
    }
    const layout = packed ? PackedDriver.layout : SplitDriver.layout;
    const start = this.ringNext;
    // vring_create_virtqueue with may_reduce_num: halve the ring until it fits.
    while (num > 1 && start + layout(num, start).bytes > this.ringEnd) num = packed ? num >> 1 || 1 : num >> 1;
    const areas = layout(num, start);
    if (start + areas.bytes > this.ringEnd) throw new RangeError(`setupQueue: ring memory exhausted (queue ${index} needs ${areas.bytes} bytes at 0x${start.toString(16)})`);
    let next = Math.ceil((start + areas.bytes) / PAGE) * PAGE;
    const eventIdx = hasFeature(this.negotiated, Feature.EVENT_IDX);
    const indirectDesc = hasFeature(this.negotiated, Feature.INDIRECT_DESC);
    let indirectArea: { address: number; entriesPerChain: number } | undefined;
    if (indirectDesc && options.indirectEntries !== undefined) {
      const bytes = num * options.indirectEntries * 16;
      if (next + bytes > this.ringEnd) throw new RangeError(`setupQueue: ring memory exhausted (indirect tables of queue ${index} need ${bytes} bytes)`);
      indirectArea = { address: next, entriesPerChain: options.indirectEntries };
      next = Math.ceil((next + bytes) / PAGE) * PAGE;
    }
    const ringOptions = { size: num, descTable: areas.descTable, driverArea: areas.driverArea, deviceArea: areas.deviceArea, eventIdx, indirectDesc, callback: options.callback !== undefined, ...(indirectArea ? { indirectArea } : {}) };
    const ring = packed ? new PackedDriver<T>(this.memory, ringOptions) : new SplitDriver<T>(this.memory, ringOptions);
    this.ringNext = next;
    this.write(R.QUEUE_NUM, 4, num);
    this.writeAddress(R.QUEUE_DESC_LOW, areas.descTable);
    this.writeAddress(R.QUEUE_DRIVER_LOW, areas.driverArea);
    this.writeAddress(R.QUEUE_DEVICE_LOW, areas.deviceArea);
    this.write(R.QUEUE_READY, 4, 1);
    const queue = new DriverQueue<T>(index, ring, areas, (i) => this.notify(i), options.callback);
    this.queues[index] = queue as DriverQueue<unknown>;
    return queue;
  }

  private writeAddress(lowOffset: number, addr: number): void {
    this.write(lowOffset, 4, addr % 0x1_0000_0000);
    this.write(lowOffset + 4, 4, Math.floor(addr / 0x1_0000_0000));
  }

  /**
   * `vm_del_vqs`: for each queue set up, QueueSel, QueueReady = 0 and its read-back (Linux warns
   * when it does not read 0). Call after {@link VirtioMmioDriver.reset}, as Linux's remove path does.
   * @returns the indices whose QueueReady did not read back 0.
   * @example `drv.reset(); drv.deleteQueues();`
   */
  deleteQueues(): number[] {
    const stuck: number[] = [];
    for (const q of this.queues) {
      if (q === null || q === undefined) continue;
      this.write(R.QUEUE_SEL, 4, q.index);
      this.write(R.QUEUE_READY, 4, 0);
      if (this.read(R.QUEUE_READY, 4) !== 0) stuck.push(q.index);
    }
    this.queues.length = 0;
    return stuck;
  }

  /**
   * `virtio_device_ready`: reads Status and sets DRIVER_OK. The device is live afterwards
   * (Linux does not check Status again; use {@link VirtioMmioDriver.needsReset} to see whether
   * the device refused to start).
   * @example `drv.ready()`
   */
  ready(): void {
    this.addStatus(Status.DRIVER_OK);
  }

  /**
   * Sets FAILED (the driver gives up on the device).
   * @example `drv.fail()`
   */
  fail(): void {
    this.addStatus(Status.FAILED);
  }

  /**
   * Whether the device reports DEVICE_NEEDS_RESET (one Status read).
   * @returns true when bit 0x40 is set.
   * @example `if (drv.needsReset()) { drv.reset(); reinit(); }`
   */
  needsReset(): boolean {
    return (this.getStatus() & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  // ------------------------------------------------------------------ operation

  /**
   * `vm_notify`: writes the queue index to QueueNotify.
   * @param index - the queue.
   * @example `drv.notify(0)`
   */
  notify(index: number): void {
    this.write(R.QUEUE_NOTIFY, 4, index);
  }

  /**
   * `vm_interrupt`: reads InterruptStatus, acknowledges exactly what it read, then runs the
   * configuration-change handler (bit 1) and the callback of every queue with used buffers (bit 0).
   * Call it when the device's interrupt is delivered.
   * @returns the InterruptStatus value read (0: the interrupt was not this device's).
   * @example `controller = new InMemoryInterruptController({ onDeliver: () => pending = true }); ... if (pending) drv.interrupt();`
   */
  interrupt(): number {
    const status = this.read(R.INTERRUPT_STATUS, 4);
    this.write(R.INTERRUPT_ACK, 4, status);
    if (status & 2) this.onConfigChange?.();
    if (status & 1) {
      for (const q of this.queues) {
        if (q === null || q === undefined || q.callback === undefined) continue;
        if (q.ring.moreUsed()) q.callback(q);
      }
    }
    return status;
  }

  /**
   * Reads the ConfigGeneration register (`vm_generation`).
   * @returns the generation.
   * @example `drv.generation()`
   */
  generation(): number {
    return this.read(R.CONFIG_GENERATION, 4);
  }

  /**
   * `virtio_cread8`: one 8-bit configuration read.
   * @param offset - offset in the configuration space.
   * @returns the byte.
   * @example `drv.cread8(0x20) // virtio_blk_config.writeback`
   */
  cread8(offset: number): number {
    return this.read(R.CONFIG + offset, 1);
  }

  /**
   * `virtio_cread16`: one 16-bit configuration read.
   * @param offset - offset in the configuration space.
   * @returns the value.
   * @example `drv.cread16(0x1a) // virtio_blk_config.min_io_size`
   */
  cread16(offset: number): number {
    return this.read(R.CONFIG + offset, 2);
  }

  /**
   * `virtio_cread32`: one 32-bit configuration read.
   * @param offset - offset in the configuration space.
   * @returns the value.
   * @example `drv.cread32(0x0c) // virtio_blk_config.seg_max`
   */
  cread32(offset: number): number {
    return this.read(R.CONFIG + offset, 4);
  }

  /**
   * `virtio_cread64`: two 32-bit reads inside a ConfigGeneration loop (`__virtio_cread_many`).
   * @param offset - offset in the configuration space.
   * @param maxTries - generation mismatches tolerated before giving up (default 100).
   * @returns the value.
   * @throws RangeError when the generation kept changing.
   * @example `drv.cread64(0) // virtio_blk_config.capacity`
   */
  cread64(offset: number, maxTries = 100): bigint {
    let gen = this.generation();
    for (let i = 0; i < maxTries; i++) {
      const old = gen;
      const lo = this.read(R.CONFIG + offset, 4);
      const hi = this.read(R.CONFIG + offset + 4, 4);
      gen = this.generation();
      if (gen === old) return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw new RangeError(`cread64: ConfigGeneration changed on each of ${maxTries} tries`);
  }

  /**
   * `virtio_cread_bytes`: byte reads inside a ConfigGeneration loop.
   * @param offset - offset in the configuration space.
   * @param length - number of bytes.
   * @param maxTries - generation mismatches tolerated (default 100).
   * @returns the bytes.
   * @throws RangeError when the generation kept changing.
   * @example `drv.creadBytes(0, 6) // virtio_net_config.mac`
   */
  creadBytes(offset: number, length: number, maxTries = 100): Uint8Array {
    const out = new Uint8Array(length);
    let gen = this.generation();
    for (let t = 0; t < maxTries; t++) {
      const old = gen;
      for (let i = 0; i < length; i++) out[i] = this.read(R.CONFIG + offset + i, 1);
      gen = this.generation();
      if (gen === old) return out;
    }
    throw new RangeError(`creadBytes: ConfigGeneration changed on each of ${maxTries} tries`);
  }

  /**
   * `virtio_cwrite8`.
   * @param offset - offset in the configuration space.
   * @param value - the byte.
   * @example `drv.cwrite8(0x20, 1) // virtio_blk_config.writeback`
   */
  cwrite8(offset: number, value: number): void {
    this.write(R.CONFIG + offset, 1, value);
  }

  /**
   * `virtio_cwrite16`.
   * @param offset - offset in the configuration space.
   * @param value - the value.
   * @example `drv.cwrite16(0, 80)`
   */
  cwrite16(offset: number, value: number): void {
    this.write(R.CONFIG + offset, 2, value);
  }

  /**
   * `virtio_cwrite32`.
   * @param offset - offset in the configuration space.
   * @param value - the value.
   * @example `drv.cwrite32(8, 1)`
   */
  cwrite32(offset: number, value: number): void {
    this.write(R.CONFIG + offset, 4, value);
  }
}
