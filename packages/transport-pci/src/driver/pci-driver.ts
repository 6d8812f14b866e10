/**
 * A model of Linux's virtio_pci_modern driver, making the same accesses in the same order
 * (VIRTIO 1.2 §3.1.1, §4.1.5), for testing devices and the transport as a Linux guest drives them:
 * 1. {@link VirtioPciDriver.probe}: the PCI core's BAR sizing and assignment (firmware's job),
 *    `pci_enable_device` and `pci_set_master`, then `vp_modern_probe`: vendor and device ID, the
 *    capability walk (`virtio_pci_find_capability`: the first of each type on an assigned memory
 *    BAR), `vp_modern_map_capability`'s checks, notify_off_multiplier; then
 *    `register_virtio_device`: reset (device_status = 0, read until 0) and ACKNOWLEDGE.
 * 2. {@link VirtioPciDriver.negotiate}: DRIVER, device_feature words 0 and 1, the accepted set
 *    (transport bits filtered as `vring_transport_features` and `vp_transport_features` do),
 *    driver_feature words 0 and 1, FEATURES_OK and its read-back.
 * 3. {@link VirtioPciDriver.findQueues}: `vp_find_vqs`: MSI-X with a vector per queue, else one
 *    shared vector, else INTx; config_msix_vector and each queue_msix_vector read back; per queue
 *    `setup_vq` (queue_size, queue_enable must read 0, the ring, the three addresses,
 *    queue_notify_off); then every queue enabled (`vp_modern_find_vqs`).
 * 4. {@link VirtioPciDriver.ready}: DRIVER_OK.
 * Interrupts come in through {@link VirtioPciDriver.msi} (an MSI-X message) or
 * {@link VirtioPciDriver.intx} (`vp_interrupt`: ISR status read, which clears it).
 * @module
 */
import type { MmioDispatcher, MsiConfig } from '@vmv/bus';
import { Feature, Status, featureBit, hasFeature } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { DriverQueue, PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { CommonCfg as C, PciCapabilityId, PciCommand, PciConfig, PciStatus, VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_VENDOR_ID, VirtioPciCapType } from '../constants.js';
import { DriverProbeError, isTransportPciError } from '../errors.js';

const PAGE = 4096;
/** The message address the model programs (x86's LAPIC window); data is MSI_DATA_BASE + vector. */
const MSI_ADDRESS = 0xfee0_0000;
const MSI_DATA_BASE = 0x4000;
const COMMON_MINLEN = 0x38; // sizeof(struct virtio_pci_common_cfg) before the 1.2 fields

/**
 * The transport bits kept when offered (Linux 6.x's `vring_transport_features` and
 * `vp_transport_features`), less VIRTIO_F_NOTIFICATION_DATA: the driver-side rings here do not
 * compute notification data, so the model does not negotiate it (the function's handling of it is
 * tested with direct writes).
 */
const LINUX_TRANSPORT_FEATURES = [Feature.INDIRECT_DESC, Feature.EVENT_IDX, Feature.VERSION_1, Feature.ACCESS_PLATFORM, Feature.RING_PACKED, Feature.ORDER_PLATFORM, Feature.RING_RESET];

/**
 * Configuration space accesses by bus, device and function number (what a `PciBus` offers).
 * @example `const access: PciConfigAccess = pciBus;`
 */
export interface PciConfigAccess {
  /**
   * Reads `data.length` bytes of a function's configuration space.
   * @param bus - the bus number.
   * @param device - the device number, 0..31.
   * @param fn - the function number, 0..7.
   * @param offset - the byte offset in the configuration space.
   * @param data - filled with the bytes read.
   */
  configRead(bus: number, device: number, fn: number, offset: number, data: Uint8Array): void;
  /**
   * Writes `data` to a function's configuration space.
   * @param bus - the bus number.
   * @param device - the device number, 0..31.
   * @param fn - the function number, 0..7.
   * @param offset - the byte offset in the configuration space.
   * @param data - the bytes to write.
   */
  configWrite(bus: number, device: number, fn: number, offset: number, data: Uint8Array): void;
}

/**
 * A range of addresses the driver may allocate from.
 * @example `const ringMemory: AddressWindow = { base: 0x10_0000, size: 0x10_0000 };`
 */
export interface AddressWindow {
  /** The first address. */
  readonly base: number;
  /** The length in bytes. */
  readonly size: number;
}

/**
 * Options of a {@link VirtioPciDriver}.
 * @example
 * ```ts
 * const options: VirtioPciDriverOptions = { pci: bus, mmio: io, device: 3, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, barWindow: { base: 0xe000_0000, size: 0x100_0000 } };
 * ```
 */
export interface VirtioPciDriverOptions {
  /** Configuration accesses (a `PciBus`). */
  readonly pci: PciConfigAccess;
  /** Where BAR accesses go (the IoManager the PciBus maps BARs on). */
  readonly mmio: MmioDispatcher;
  /** Bus number (default 0). */
  readonly bus?: number;
  /** Device number, 0..31. */
  readonly device: number;
  /** Function number (default 0). */
  readonly fn?: number;
  /** Guest memory the rings are placed in. */
  readonly memory: GuestMemory;
  /** A free part of guest memory for rings, used from `base` upwards at 4 KiB boundaries. */
  readonly ringMemory: AddressWindow;
  /** MMIO addresses for BARs (as firmware assigns them), each BAR aligned to its size. */
  readonly barWindow: AddressWindow;
  /** `msix` (default: MSI-X when the function has it, Linux's order) or `intx` (as `nomsi`). */
  readonly interrupts?: 'msix' | 'intx';
  /** Called on a configuration change interrupt (Linux `virtio_config_changed`). */
  readonly onConfigChange?: () => void;
}

/**
 * What {@link VirtioPciDriver.probe} read.
 * @example `{ deviceId: 4, revision: 1, subsystemVendorId: 0x1af4, subsystemId: 0x1100, msixVectors: 2 }`
 */
export interface PciDriverIdentity {
  /** The virtio device ID (PCI device ID - 0x1040). */
  readonly deviceId: number;
  /** The revision ID. */
  readonly revision: number;
  /** Subsystem vendor ID. */
  readonly subsystemVendorId: number;
  /** Subsystem ID. */
  readonly subsystemId: number;
  /** MSI-X table size, 0 without the capability. */
  readonly msixVectors: number;
}

/**
 * One queue of {@link VirtioPciDriver.findQueues} (null in the list: a queue not set up).
 * @example `{ callback: (q) => drain(q), maxSize: 64 }`
 */
export interface PciDriverQueueOptions<T = unknown> {
  /** The queue's callback (without one it gets no vector and asks for no interrupts). */
  readonly callback?: (queue: DriverQueue<T>) => void;
  /** Use at most this many entries. */
  readonly maxSize?: number;
  /** Indirect descriptor tables of this many entries per chain (when negotiated). */
  readonly indirectEntries?: number;
}

interface Mapped {
  readonly address: bigint;
  readonly length: number;
}

/**
 * The Linux virtio_pci_modern driver, as a model.
 * @example
 * ```ts
 * const drv = new VirtioPciDriver({ pci: bus, mmio: io, device: 3, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, barWindow: { base: 0xe000_0000, size: 0x10_0000 } });
 * drv.probe();
 * drv.negotiate([]);
 * const [q] = drv.findQueues([{ callback: (q) => { for (let u = q.getBuf(); u; u = q.getBuf()) done(u); } }]);
 * drv.ready();
 * ```
 */
export class VirtioPciDriver {
  /** Guest memory holding the rings. */
  readonly memory: GuestMemory;
  /** The queues set up, by index. */
  readonly queues: (DriverQueue<unknown> | null)[] = [];
  private readonly pci: PciConfigAccess;
  private readonly mmio: MmioDispatcher;
  private readonly bdf: readonly [number, number, number];
  private readonly wantMsix: boolean;
  private readonly onConfigChange: (() => void) | undefined;
  private readonly ringEnd: number;
  private ringNext: number;
  private barNext: number;
  private readonly barEnd: number;
  private readonly buf = new Uint8Array(8);
  private common: Mapped | null = null;
  private isr: Mapped | null = null;
  private notifyBase: Mapped | null = null;
  private deviceCfg: Mapped | null = null;
  private notifyMultiplier = 0;
  private msixCap = -1;
  private identityValue: PciDriverIdentity | null = null;
  private negotiated = 0n;
  /** Per vector: the queues it serves; -1 marks the configuration vector. */
  private vectorMap: number[][] = [];
  private mode: 'msix' | 'intx' | null = null;

  /**
   * @param options - see {@link VirtioPciDriverOptions}.
   * @throws TypeError / RangeError for options of the wrong type or range.
   */
  constructor(options: VirtioPciDriverOptions) {
    if (typeof options?.pci?.configRead !== 'function' || typeof options.pci.configWrite !== 'function') throw new TypeError('VirtioPciDriver: options.pci must have configRead/configWrite');
    if (typeof options.mmio?.mmioRead !== 'function') throw new TypeError('VirtioPciDriver: options.mmio must have mmioRead/mmioWrite');
    if (typeof options.memory?.view !== 'function') throw new TypeError('VirtioPciDriver: options.memory must be a GuestMemory');
    for (const [name, r] of [['ringMemory', options.ringMemory], ['barWindow', options.barWindow]] as const) {
      if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.base) || r.base < 0 || !Number.isSafeInteger(r.size) || r.size <= 0) throw new RangeError(`VirtioPciDriver: ${name} must be { base, size } with non-negative safe integers and size > 0`);
    }
    this.pci = options.pci;
    this.mmio = options.mmio;
    this.bdf = [options.bus ?? 0, options.device, options.fn ?? 0];
    this.memory = options.memory;
    this.wantMsix = (options.interrupts ?? 'msix') === 'msix';
    this.onConfigChange = options.onConfigChange;
    this.ringNext = Math.ceil(options.ringMemory.base / PAGE) * PAGE;
    this.ringEnd = options.ringMemory.base + options.ringMemory.size;
    this.barNext = options.barWindow.base;
    this.barEnd = options.barWindow.base + options.barWindow.size;
  }

  /** The negotiated features. @example `drv.features` */
  get features(): bigint {
    return this.negotiated;
  }

  /** What {@link VirtioPciDriver.probe} read, or null before. @example `drv.identity?.deviceId` */
  get identity(): PciDriverIdentity | null {
    return this.identityValue;
  }

  /** How interrupts are delivered after {@link VirtioPciDriver.findQueues}: `msix`, `intx`, or null before. @example `drv.interruptMode` */
  get interruptMode(): 'msix' | 'intx' | null {
    return this.mode;
  }

  // ------------------------------------------------------------------ access

  /**
   * A configuration space read.
   * @param offset - 0..255.
   * @param width - 1, 2 or 4.
   * @returns the value.
   * @example `drv.configRead(0, 2) // 0x1af4`
   */
  configRead(offset: number, width: 1 | 2 | 4): number {
    const d = this.buf.subarray(0, width);
    this.pci.configRead(this.bdf[0], this.bdf[1], this.bdf[2], offset, d);
    return width === 1 ? d[0]! : width === 2 ? d[0]! | (d[1]! << 8) : new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }

  /**
   * A configuration space write.
   * @param offset - 0..255.
   * @param width - 1, 2 or 4.
   * @param value - the value.
   * @example `drv.configWrite(4, 2, 6)`
   */
  configWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    const d = this.buf.subarray(0, width);
    for (let i = 0; i < width; i++) d[i] = (value >>> (8 * i)) & 0xff;
    this.pci.configWrite(this.bdf[0], this.bdf[1], this.bdf[2], offset, d);
  }

  private read(m: Mapped, offset: number, width: 1 | 2 | 4): number {
    const d = this.buf.subarray(0, width);
    this.mmio.mmioRead(m.address + BigInt(offset), d);
    return width === 1 ? d[0]! : width === 2 ? d[0]! | (d[1]! << 8) : new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }

  private write(m: Mapped, offset: number, width: 1 | 2 | 4, value: number): void {
    const d = this.buf.subarray(0, width);
    for (let i = 0; i < width; i++) d[i] = (value >>> (8 * i)) & 0xff;
    this.mmio.mmioWrite(m.address + BigInt(offset), d);
  }

  private get cfg(): Mapped {
    if (this.common === null) throw new RangeError('VirtioPciDriver: probe() first');
    return this.common;
  }

  /** Writes a 64-bit field as two 32-bit halves, low first (`vp_iowrite64_twopart`). */
  private write64(offset: number, value: number): void {
    this.write(this.cfg, offset, 4, value % 0x1_0000_0000);
    this.write(this.cfg, offset + 4, 4, Math.floor(value / 0x1_0000_0000));
  }

  // ------------------------------------------------------------------ initialisation

  /**
   * BAR assignment, enabling, `vp_modern_probe`, reset and ACKNOWLEDGE.
   * @returns the identity read.
   * @throws TransportPci.DriverProbeError NOT_VIRTIO, NO_CAPABILITY, BAD_CAPABILITY, RESET_TIMEOUT.
   * @throws RangeError when the BAR window cannot hold the BARs.
   * @example `const { deviceId } = drv.probe();`
   */
  probe(): PciDriverIdentity {
    const vendor = this.configRead(PciConfig.VENDOR_ID, 2);
    const device = this.configRead(PciConfig.DEVICE_ID, 2);
    if (vendor !== VIRTIO_PCI_VENDOR_ID || device < VIRTIO_PCI_DEVICE_ID_BASE || device > 0x107f) throw new DriverProbeError('NOT_VIRTIO', `vendor 0x${vendor.toString(16)} device 0x${device.toString(16)} is not a modern virtio function`);
    const barSizes = this.assignBars();
    this.configWrite(PciConfig.COMMAND, 2, this.configRead(PciConfig.COMMAND, 2) | PciCommand.MEMORY | PciCommand.BUS_MASTER);
    const found = this.walkCapabilities(barSizes);
    const common = found.get(VirtioPciCapType.COMMON);
    const isr = found.get(VirtioPciCapType.ISR);
    const notify = found.get(VirtioPciCapType.NOTIFY);
    if (common === undefined) throw new DriverProbeError('NO_CAPABILITY', 'no common configuration capability: leaving for legacy driver');
    if (isr === undefined || notify === undefined) throw new DriverProbeError('NO_CAPABILITY', 'missing ISR or notification capability');
    this.common = this.mapCapability(common, barSizes, COMMON_MINLEN, 4, 0x40);
    this.isr = this.mapCapability(isr, barSizes, 1, 1, 1);
    this.notifyMultiplier = this.configRead(notify + 16, 4);
    this.notifyBase = this.mapCapability(notify, barSizes, 2, 2, this.configRead(notify + 12, 4));
    const dev = found.get(VirtioPciCapType.DEVICE);
    this.deviceCfg = dev === undefined ? null : this.mapCapability(dev, barSizes, 0, 4, PAGE);
    this.identityValue = {
      deviceId: device - VIRTIO_PCI_DEVICE_ID_BASE,
      revision: this.configRead(PciConfig.REVISION_ID, 1),
      subsystemVendorId: this.configRead(PciConfig.SUBSYSTEM_VENDOR_ID, 2),
      subsystemId: this.configRead(PciConfig.SUBSYSTEM_ID, 2),
      msixVectors: this.msixCap < 0 ? 0 : (this.configRead(this.msixCap + 2, 2) & 0x7ff) + 1,
    };
    this.reset();
    this.addStatus(Status.ACKNOWLEDGE);
    return this.identityValue;
  }

  /** Sizes every BAR (all-ones written, the mask read back) and assigns memory BARs from the window. */
  private assignBars(): Map<number, { address: bigint; size: number }> {
    const bars = new Map<number, { address: bigint; size: number }>();
    for (let i = 0; i < 6; i++) {
      const at = PciConfig.BAR0 + 4 * i;
      const old = this.configRead(at, 4);
      this.configWrite(at, 4, 0xffff_ffff);
      const mask = this.configRead(at, 4);
      this.configWrite(at, 4, old);
      if (mask === 0 || mask & 1) continue; // absent, or an I/O BAR (not used here)
      const is64 = ((mask >>> 1) & 3) === 2;
      const size = 2 ** 32 - ((mask & ~0xf) >>> 0);
      if (is64) {
        const oldHi = this.configRead(at + 4, 4);
        this.configWrite(at + 4, 4, 0xffff_ffff);
        const hi = this.configRead(at + 4, 4);
        this.configWrite(at + 4, 4, oldHi);
        if (hi !== 0xffff_ffff) throw new RangeError(`VirtioPciDriver: BAR ${i} is larger than 4 GiB`);
      }
      const address = Math.ceil(this.barNext / size) * size;
      if (address + size > this.barEnd) throw new RangeError(`VirtioPciDriver: the BAR window cannot hold BAR ${i} (${size} bytes)`);
      this.barNext = address + size;
      this.configWrite(at, 4, address % 0x1_0000_0000);
      if (is64) this.configWrite(at + 4, 4, Math.floor(address / 0x1_0000_0000));
      bars.set(i, { address: BigInt(address), size });
      if (is64) i++;
    }
    return bars;
  }

  /** `pci_find_capability` and `virtio_pci_find_capability`: the first vendor capability of each type on an assigned BAR. */
  private walkCapabilities(bars: Map<number, { address: bigint; size: number }>): Map<number, number> {
    const found = new Map<number, number>();
    if (!(this.configRead(PciConfig.STATUS, 2) & PciStatus.CAPABILITIES)) return found;
    let pos = this.configRead(PciConfig.CAPABILITIES_POINTER, 1) & ~3;
    for (let ttl = 48; ttl > 0 && pos >= 0x40; ttl--) {
      const id = this.configRead(pos, 1);
      if (id === 0xff) break;
      if (id === PciCapabilityId.MSIX && this.msixCap < 0) this.msixCap = pos;
      if (id === PciCapabilityId.VENDOR) {
        const type = this.configRead(pos + 3, 1);
        const bar = this.configRead(pos + 4, 1);
        if (bar < 6 && !found.has(type) && (bars.get(bar)?.size ?? 0) > 0) found.set(type, pos);
      }
      pos = this.configRead(pos + 1, 1) & ~3;
    }
    return found;
  }

  /** `vp_modern_map_capability`'s checks and mapping. */
  private mapCapability(pos: number, bars: Map<number, { address: bigint; size: number }>, minlen: number, align: number, size: number): Mapped {
    const bar = this.configRead(pos + 4, 1);
    const offset = this.configRead(pos + 8, 4);
    let length = this.configRead(pos + 12, 4);
    const b = bars.get(bar)!;
    if (length < minlen) throw new DriverProbeError('BAD_CAPABILITY', `capability at 0x${pos.toString(16)}: length ${length} is below ${minlen}`);
    if (offset & (align - 1)) throw new DriverProbeError('BAD_CAPABILITY', `capability at 0x${pos.toString(16)}: offset 0x${offset.toString(16)} is not ${align}-aligned`);
    if (length > size) length = size;
    if (minlen + offset > b.size) throw new DriverProbeError('BAD_CAPABILITY', `capability at 0x${pos.toString(16)}: past BAR ${bar}`);
    return { address: b.address + BigInt(offset), length };
  }

  private getStatus(): number {
    return this.read(this.cfg, C.DEVICE_STATUS, 1);
  }

  private addStatus(bits: number): void {
    this.write(this.cfg, C.DEVICE_STATUS, 1, this.getStatus() | bits);
  }

  /**
   * `vp_reset`: device_status = 0, then read until 0 (§4.1.4.3.2). Rings set up before are forgotten.
   * @param maxPolls - reads to wait (default 1000).
   * @throws TransportPci.DriverProbeError RESET_TIMEOUT.
   * @example `drv.reset()`
   */
  reset(maxPolls = 1000): void {
    this.write(this.cfg, C.DEVICE_STATUS, 1, 0);
    this.negotiated = 0n;
    for (let i = 0; i < maxPolls; i++) if (this.getStatus() === 0) return;
    throw new DriverProbeError('RESET_TIMEOUT', `device_status did not read 0 after ${maxPolls} reads`);
  }

  /**
   * DRIVER, the features, FEATURES_OK (`virtio_dev_probe`, `vp_finalize_features`).
   * @param driverFeatures - the driver's feature bits (0..63) or a mask.
   * @returns the negotiated features.
   * @throws TransportPci.DriverProbeError NO_VERSION_1 or FEATURES_REFUSED (FAILED is then set).
   * @example `drv.negotiate([9]) // VIRTIO_BLK_F_FLUSH`
   */
  negotiate(driverFeatures: readonly number[] | bigint): bigint {
    let table = 0n;
    if (typeof driverFeatures === 'bigint') table = driverFeatures & 0xffff_ffff_ffff_ffffn;
    else for (const f of driverFeatures) table |= 1n << BigInt(f);
    this.addStatus(Status.DRIVER);
    this.write(this.cfg, C.DEVICE_FEATURE_SELECT, 4, 0);
    const lo = this.read(this.cfg, C.DEVICE_FEATURE, 4);
    this.write(this.cfg, C.DEVICE_FEATURE_SELECT, 4, 1);
    const hi = this.read(this.cfg, C.DEVICE_FEATURE, 4);
    const device = (BigInt(hi) << 32n) | BigInt(lo);
    let features = table & device;
    for (const bit of LINUX_TRANSPORT_FEATURES) if (hasFeature(device, bit)) features |= featureBit(bit);
    if (!hasFeature(features, Feature.VERSION_1)) {
      this.addStatus(Status.FAILED);
      throw new DriverProbeError('NO_VERSION_1', 'the device does not offer VIRTIO_F_VERSION_1');
    }
    this.write(this.cfg, C.DRIVER_FEATURE_SELECT, 4, 0);
    this.write(this.cfg, C.DRIVER_FEATURE, 4, Number(features & 0xffff_ffffn));
    this.write(this.cfg, C.DRIVER_FEATURE_SELECT, 4, 1);
    this.write(this.cfg, C.DRIVER_FEATURE, 4, Number(features >> 32n));
    this.addStatus(Status.FEATURES_OK);
    if (!(this.getStatus() & Status.FEATURES_OK)) {
      this.addStatus(Status.FAILED);
      throw new DriverProbeError('FEATURES_REFUSED', `the device refuses features 0x${features.toString(16)}`);
    }
    this.negotiated = features;
    return features;
  }

  /**
   * `vp_find_vqs` and `vp_modern_find_vqs`: interrupts (MSI-X per queue, MSI-X shared, INTx, in
   * Linux's order of preference), each queue set up, then every queue enabled.
   * @param specs - one entry per queue index (null: skip the queue).
   * @returns the queues, by index (null where skipped).
   * @throws TransportPci.DriverProbeError QUEUE_UNAVAILABLE, QUEUE_IN_USE, BAD_CAPABILITY (notify
   *   offset past the structure) or NO_VECTOR (a mapping the device refused on every try).
   * @throws RangeError when the ring memory is exhausted.
   * @example `const [rx, tx] = drv.findQueues([{ callback: onRx }, { callback: onTx }]);`
   */
  findQueues<T = unknown>(specs: readonly (PciDriverQueueOptions<T> | null)[]): (DriverQueue<T> | null)[] {
    const withCallback = specs.filter((s) => s?.callback !== undefined).length;
    const tables = this.identityValue?.msixVectors ?? 0;
    const plans: ('per-vq' | 'shared' | 'intx')[] = this.wantMsix && tables > 0 ? ['per-vq', 'shared', 'intx'] : ['intx'];
    let lastError: unknown;
    for (const plan of plans) {
      const needed = plan === 'per-vq' ? 1 + withCallback : plan === 'shared' ? 2 : 0;
      if (needed > tables && plan !== 'intx') continue;
      try {
        return this.setupAll(specs, plan, needed);
      } catch (e) {
        if (!isTransportPciError(e, 'TransportPci.DriverProbeError') || e.code !== 'NO_VECTOR') throw e;
        lastError = e;
        this.deleteQueues();
      }
    }
    throw lastError ?? new DriverProbeError('NO_VECTOR', 'no interrupt plan worked');
  }

  private setupAll<T>(specs: readonly (PciDriverQueueOptions<T> | null)[], plan: 'per-vq' | 'shared' | 'intx', vectors: number): (DriverQueue<T> | null)[] {
    this.vectorMap = [];
    if (plan !== 'intx') {
      this.enableMsix(vectors);
      this.mode = 'msix';
      this.vectorMap[0] = [-1];
      this.write(this.cfg, C.CONFIG_MSIX_VECTOR, 2, 0);
      if (this.read(this.cfg, C.CONFIG_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) throw new DriverProbeError('NO_VECTOR', 'config_msix_vector read back VIRTIO_MSI_NO_VECTOR');
    } else this.mode = 'intx';
    const out: (DriverQueue<T> | null)[] = [];
    let next = 1;
    specs.forEach((spec, index) => {
      if (spec === null) {
        out.push(null);
        return;
      }
      let vector = VIRTIO_MSI_NO_VECTOR;
      if (plan !== 'intx' && spec.callback !== undefined) vector = plan === 'per-vq' ? next++ : 1;
      out.push(this.setupQueue(index, spec, vector));
    });
    // vp_modern_find_vqs: "Select and activate all queues. Has to be done last."
    for (const q of out) {
      if (q === null) continue;
      this.write(this.cfg, C.QUEUE_SELECT, 2, q.index);
      this.write(this.cfg, C.QUEUE_ENABLE, 2, 1);
    }
    return out;
  }

  /** `pci_alloc_irq_vectors(PCI_IRQ_MSIX)`: enable with all masked, program the entries, unmask. */
  private enableMsix(vectors: number): void {
    const cap = this.msixCap;
    const table = this.configRead(cap + 4, 4);
    const bars = this.barAddresses();
    const base = bars.get(table & 7)! + BigInt((table & ~7) >>> 0);
    const entry = (v: number): Mapped => ({ address: base + BigInt(16 * v), length: 16 });
    this.configWrite(cap + 2, 2, 0xc000); // MSI-X Enable | Function Mask
    for (let v = 0; v < vectors; v++) {
      this.write(entry(v), 0, 4, MSI_ADDRESS);
      this.write(entry(v), 4, 4, 0);
      this.write(entry(v), 8, 4, MSI_DATA_BASE + v);
    }
    this.configWrite(cap + 2, 2, 0x8000);
    for (let v = 0; v < vectors; v++) this.write(entry(v), 12, 4, 0); // request_irq: unmask
  }

  private barAddresses(): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (let i = 0; i < 6; i++) {
      const lo = this.configRead(PciConfig.BAR0 + 4 * i, 4);
      if (lo === 0) continue;
      const is64 = ((lo >>> 1) & 3) === 2;
      const hi = is64 ? this.configRead(PciConfig.BAR0 + 4 * i + 4, 4) : 0;
      out.set(i, (BigInt(hi) << 32n) | BigInt((lo & ~0xf) >>> 0));
      if (is64) i++;
    }
    return out;
  }

  /** `setup_vq` (virtio_pci_modern.c). */
  private setupQueue<T>(index: number, spec: PciDriverQueueOptions<T>, vector: number): DriverQueue<T> {
    this.write(this.cfg, C.QUEUE_SELECT, 2, index);
    const max = this.read(this.cfg, C.QUEUE_SIZE, 2);
    if (max === 0) throw new DriverProbeError('QUEUE_UNAVAILABLE', `queue ${index}: queue_size is 0`);
    if (this.read(this.cfg, C.QUEUE_ENABLE, 2) !== 0) throw new DriverProbeError('QUEUE_IN_USE', `queue ${index}: queue_enable reads non-zero before setup`);
    const packed = hasFeature(this.negotiated, Feature.RING_PACKED);
    if (!packed && (max & (max - 1)) !== 0) throw new DriverProbeError('QUEUE_UNAVAILABLE', `queue ${index}: queue_size ${max} is not a power of two`);
    let num = max;
    if (spec.maxSize !== undefined) while (num > spec.maxSize && num > 1) num = packed ? Math.min(num - 1, spec.maxSize) : num >> 1;
    const layout = packed ? PackedDriver.layout : SplitDriver.layout;
    const start = this.ringNext;
    while (num > 1 && start + layout(num, start).bytes > this.ringEnd) num = num >> 1;
    const areas = layout(num, start);
    if (start + areas.bytes > this.ringEnd) throw new RangeError(`VirtioPciDriver: ring memory exhausted (queue ${index})`);
    let next = Math.ceil((start + areas.bytes) / PAGE) * PAGE;
    const indirectDesc = hasFeature(this.negotiated, Feature.INDIRECT_DESC);
    let indirectArea: { address: number; entriesPerChain: number } | undefined;
    if (indirectDesc && spec.indirectEntries !== undefined) {
      indirectArea = { address: next, entriesPerChain: spec.indirectEntries };
      next = Math.ceil((next + num * spec.indirectEntries * 16) / PAGE) * PAGE;
      if (next > this.ringEnd) throw new RangeError(`VirtioPciDriver: ring memory exhausted (indirect tables of queue ${index})`);
    }
    const ringOptions = { size: num, descTable: areas.descTable, driverArea: areas.driverArea, deviceArea: areas.deviceArea, eventIdx: hasFeature(this.negotiated, Feature.EVENT_IDX), indirectDesc, callback: spec.callback !== undefined, ...(indirectArea ? { indirectArea } : {}) };
    const ring = packed ? new PackedDriver<T>(this.memory, ringOptions) : new SplitDriver<T>(this.memory, ringOptions);
    this.ringNext = next;
    this.write(this.cfg, C.QUEUE_SIZE, 2, num);
    this.write(this.cfg, C.QUEUE_SELECT, 2, index);
    this.write64(C.QUEUE_DESC, areas.descTable);
    this.write64(C.QUEUE_DRIVER, areas.driverArea);
    this.write64(C.QUEUE_DEVICE, areas.deviceArea);
    // vp_modern_map_vq_notify
    this.write(this.cfg, C.QUEUE_SELECT, 2, index);
    const off = this.read(this.cfg, C.QUEUE_NOTIFY_OFF, 2);
    const notifyAt = off * this.notifyMultiplier;
    if (notifyAt + 2 > this.notifyBase!.length) throw new DriverProbeError('BAD_CAPABILITY', `queue ${index}: notify offset ${off} x ${this.notifyMultiplier} is past the notification structure`);
    const notify: Mapped = { address: this.notifyBase!.address + BigInt(notifyAt), length: 4 };
    if (vector !== VIRTIO_MSI_NO_VECTOR) {
      this.write(this.cfg, C.QUEUE_SELECT, 2, index);
      this.write(this.cfg, C.QUEUE_MSIX_VECTOR, 2, vector);
      if (this.read(this.cfg, C.QUEUE_MSIX_VECTOR, 2) === VIRTIO_MSI_NO_VECTOR) throw new DriverProbeError('NO_VECTOR', `queue ${index}: queue_msix_vector read back VIRTIO_MSI_NO_VECTOR`);
      (this.vectorMap[vector] ??= []).push(index);
    }
    // vp_notify: the queue index, 16 bits, at the queue's notify address.
    const queue = new DriverQueue<T>(index, ring, areas, (i) => this.write(notify, 0, 2, i), spec.callback);
    this.queues[index] = queue as DriverQueue<unknown>;
    return queue;
  }

  /**
   * `vp_del_vqs`: each queue's vector unmapped, the configuration vector unmapped, MSI-X disabled.
   * Call after {@link VirtioPciDriver.reset}, as Linux's remove path does.
   * @example `drv.reset(); drv.deleteQueues();`
   */
  deleteQueues(): void {
    if (this.mode === 'msix') {
      for (const q of this.queues) {
        if (q === null || q === undefined) continue;
        this.write(this.cfg, C.QUEUE_SELECT, 2, q.index);
        this.write(this.cfg, C.QUEUE_MSIX_VECTOR, 2, VIRTIO_MSI_NO_VECTOR);
      }
      this.write(this.cfg, C.CONFIG_MSIX_VECTOR, 2, VIRTIO_MSI_NO_VECTOR);
      this.configWrite(this.msixCap + 2, 2, 0);
    }
    this.queues.length = 0;
    this.vectorMap = [];
    this.mode = null;
  }

  /** `virtio_device_ready`: DRIVER_OK. @example `drv.ready()` */
  ready(): void {
    this.addStatus(Status.DRIVER_OK);
  }

  /**
   * Whether the device reports DEVICE_NEEDS_RESET.
   * @returns true when bit 0x40 is set.
   * @example `if (drv.needsReset()) drv.reset();`
   */
  needsReset(): boolean {
    return (this.getStatus() & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  // ------------------------------------------------------------------ interrupts

  /**
   * An MSI-X message arrived (`vp_vring_interrupt` for a queue's vector, `vp_config_changed` for
   * the configuration vector).
   * @param message - the message the function sent.
   * @returns the vector it was for, or -1 when it is not one of this driver's.
   * @example `sink.msix = (_v, m) => drv.msi(m);`
   */
  msi(message: MsiConfig): number {
    const vector = message.data - MSI_DATA_BASE;
    const served = message.addressLo === MSI_ADDRESS ? this.vectorMap[vector] : undefined;
    if (served === undefined) return -1;
    for (const i of served) {
      if (i === -1) this.onConfigChange?.();
      else this.vringInterrupt(i);
    }
    return vector;
  }

  /**
   * `vp_interrupt`: reads ISR status (which clears it and lowers INTx); bit 1 a configuration
   * change, bit 0 every queue.
   * @returns the ISR value read (0: not this device's interrupt).
   * @example `sink.intx = (level) => { if (level) drv.intx(); };`
   */
  intx(): number {
    const isr = this.read(this.isr!, 0, 1);
    if (isr & 2) this.onConfigChange?.();
    if (isr & 1) for (const q of this.queues) if (q !== null && q !== undefined) this.vringInterrupt(q.index);
    return isr;
  }

  private vringInterrupt(index: number): void {
    const q = this.queues[index];
    if (q !== null && q !== undefined && q.callback !== undefined && q.ring.moreUsed()) q.callback(q);
  }

  // ------------------------------------------------------------------ configuration

  /**
   * config_generation (`vp_generation`).
   * @returns the 8-bit generation.
   * @example `drv.generation()`
   */
  generation(): number {
    return this.read(this.cfg, C.CONFIG_GENERATION, 1);
  }

  /**
   * A device configuration read of 1, 2 or 4 bytes (`vp_get`).
   * @param offset - offset in the device configuration.
   * @param width - 1, 2 or 4.
   * @returns the value.
   * @throws RangeError when the function has no device configuration.
   * @example `drv.cread(0, 4)`
   */
  cread(offset: number, width: 1 | 2 | 4): number {
    if (this.deviceCfg === null) throw new RangeError('VirtioPciDriver: the function has no device configuration');
    return this.read(this.deviceCfg, offset, width);
  }

  /**
   * A 64-bit device configuration read: two 32-bit reads in a config_generation loop.
   * @param offset - offset in the device configuration.
   * @param maxTries - generation changes tolerated (default 100).
   * @returns the value.
   * @throws RangeError when the generation kept changing.
   * @example `drv.cread64(0) // virtio_blk_config.capacity`
   */
  cread64(offset: number, maxTries = 100): bigint {
    for (let i = 0; i < maxTries; i++) {
      const gen = this.generation();
      const lo = this.cread(offset, 4);
      const hi = this.cread(offset + 4, 4);
      if (this.generation() === gen) return (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw new RangeError(`cread64: config_generation changed on each of ${maxTries} tries`);
  }

  /**
   * A device configuration write (`vp_set`).
   * @param offset - offset in the device configuration.
   * @param width - 1, 2 or 4.
   * @param value - the value.
   * @throws RangeError when the function has no device configuration.
   * @example `drv.cwrite(0x20, 1, 1) // virtio_blk_config.writeback`
   */
  cwrite(offset: number, width: 1 | 2 | 4, value: number): void {
    if (this.deviceCfg === null) throw new RangeError('VirtioPciDriver: the function has no device configuration');
    this.write(this.deviceCfg, offset, width, value);
  }
}
