/**
 * A virtio PCI function, modern only (VIRTIO 1.2 §4.1): the configuration space with the virtio
 * structure capabilities and MSI-X (§4.1.2, §4.1.4), and BAR 0 holding the common configuration
 * (§4.1.4.3), ISR status (§4.1.4.5), device configuration (§4.1.4.6) and notifications
 * (§4.1.4.4); BAR 2 the MSI-X table and PBA (§4.1.5.1.2). It serves any {@link VirtioDevice}
 * through a {@link DeviceSession}: status, negotiation, config generation, activation and
 * DEVICE_NEEDS_RESET behave as on every @vmv transport; the queue table and its rules are
 * {@link QueueRegisters}, shared with virtio-mmio.
 *
 * Interrupts (§4.1.5.3, §4.1.5.4): with MSI-X enabled, a queue's used-buffer notification is its
 * queue_msix_vector's message and a configuration change config_msix_vector's (none for
 * VIRTIO_MSI_NO_VECTOR); without, ISR status bits and the INTx level, which a read of ISR status
 * clears. Nothing the guest does makes it throw: refused accesses are {@link PciDiagnostic}s.
 * @module
 */
import { DeviceSession, Feature, InterruptReason, QueueRegisters, Status, hasFeature } from '@vmv/device-trait';
import type { QueueWriteRefusal, SessionEvent, VirtioDevice } from '@vmv/device-trait';
import { isMemorySource } from '@vmv/memory';
import type { GuestMemory, MemorySource } from '@vmv/memory';
import type { QueueArea } from '@vmv/queue';
import { PciConfigBytes } from './config-space.js';
import type { PciBarInfo, VirtioStructure } from './config-space.js';
import { COMMON_CFG_LENGTH, CommonCfg as C, MSIX_BAR, MSIX_MAX_VECTORS, NOTIFY_OFF_MULTIPLIER, PCI_CONFIG_SPACE_SIZE, PCI_UNSUPPORTED_FEATURES, PciCommand, PciConfig, PciStatus, VIRTIO_BAR, VIRTIO_BAR_SIZE, VIRTIO_MSI_NO_VECTOR, VirtioBarOffset as B, VirtioPciCapType, pciClassCode } from './constants.js';
import type { PciDiagnostic, PciDiagnosticKind } from './diagnostics.js';
import type { PciInterruptSink } from './interrupts.js';
import { MsixTable } from './msix.js';

const { FEATURES_OK, FAILED } = Status;

/**
 * A PCI function as an emulator or a vfio-user server sees it: configuration space and BAR
 * accesses by offset, the BAR layout, the MSI-X vector count and a function level reset.
 * @example
 * ```ts
 * const word = new Uint8Array(4);
 * fn.configRead(0, word); // vendor and device ID
 * fn.barWrite(0, 0x14, Uint8Array.of(1)); // a register write in BAR 0
 * ```
 */
export interface PciFunction {
  /** The BARs the function implements (a vfio-user region size is `size`; the others are 0). */
  readonly bars: readonly PciBarInfo[];
  /** The MSI-X table size (0: no MSI-X capability). */
  readonly msixVectors: number;
  /**
   * A configuration space read of `data.length` bytes at `offset` (0..255; zeros past it).
   * @param offset - byte offset.
   * @param data - filled with the bytes.
   */
  configRead(offset: number, data: Uint8Array): void;
  /**
   * A configuration space write.
   * @param offset - byte offset.
   * @param data - the bytes (little-endian).
   */
  configWrite(offset: number, data: Uint8Array): void;
  /**
   * A read of `data.length` bytes at `offset` in BAR `bar`.
   * @param bar - the BAR number.
   * @param offset - offset in the BAR.
   * @param data - filled with the bytes.
   */
  barRead(bar: number, offset: number, data: Uint8Array): void;
  /**
   * A write in BAR `bar`.
   * @param bar - the BAR number.
   * @param offset - offset in the BAR.
   * @param data - the bytes (little-endian).
   */
  barWrite(bar: number, offset: number, data: Uint8Array): void;
  /**
   * The guest address programmed in BAR `bar`, or null when the function does not implement it.
   * @param bar - the BAR number.
   */
  barAddress(bar: number): bigint | null;
  /** Function level reset: the device is reset and the configuration space is as at power-on. */
  reset(): void;
}


/**
 * Options of a {@link VirtioPciFunction}.
 * @example
 * ```ts
 * const options: VirtioPciFunctionOptions = { memory: new GuestMemoryHolder(memory), interrupts: sink };
 * ```
 */
export interface VirtioPciFunctionOptions {
  /**
   * Guest memory the queues live in, or a holder of it (a `GuestMemoryHolder`): read at DRIVER_OK
   * and when a queue is re-enabled. A vfio-user server replaces the holder's memory as the client
   * maps and unmaps DMA regions.
   */
  readonly memory: GuestMemory | MemorySource;
  /** Where MSI-X messages and the INTx level go. */
  readonly interrupts: PciInterruptSink;
  /** The MSI-X table size, 0..2048 (default: one per queue plus one for configuration changes; 0: INTx only). */
  readonly msixVectors?: number;
  /** The 24-bit class code (default {@link pciClassCode} of the device type). */
  readonly classCode?: number;
  /** The revision ID (default 1; a non-transitional device has 1 or higher, §4.1.2.1). */
  readonly revision?: number;
  /** Subsystem vendor ID (default 0x1af4). */
  readonly subsystemVendorId?: number;
  /** Subsystem ID (default 0x1100, QEMU's; 0x40 or higher for a non-transitional device, §4.1.2.1). */
  readonly subsystemId?: number;
  /** Told about every refused access and every entry into DEVICE_NEEDS_RESET. */
  readonly onDiagnostic?: (diagnostic: PciDiagnostic) => void;
}

/** Width of each common configuration field by offset (64-bit fields: two 32-bit halves or one 64-bit access). */
const FIELD_WIDTH: ReadonlyMap<number, number> = new Map([
  [C.DEVICE_FEATURE_SELECT, 4], [C.DEVICE_FEATURE, 4], [C.DRIVER_FEATURE_SELECT, 4], [C.DRIVER_FEATURE, 4],
  [C.CONFIG_MSIX_VECTOR, 2], [C.NUM_QUEUES, 2], [C.DEVICE_STATUS, 1], [C.CONFIG_GENERATION, 1],
  [C.QUEUE_SELECT, 2], [C.QUEUE_SIZE, 2], [C.QUEUE_MSIX_VECTOR, 2], [C.QUEUE_ENABLE, 2], [C.QUEUE_NOTIFY_OFF, 2],
  [C.QUEUE_DESC, 4], [C.QUEUE_DESC + 4, 4], [C.QUEUE_DRIVER, 4], [C.QUEUE_DRIVER + 4, 4], [C.QUEUE_DEVICE, 4], [C.QUEUE_DEVICE + 4, 4],
  [C.QUEUE_NOTIFY_DATA, 2], [C.QUEUE_RESET, 2], [C.ADMIN_QUEUE_INDEX, 2], [C.ADMIN_QUEUE_NUM, 2],
]);
const AREA_AT: Readonly<Record<number, QueueArea>> = { [C.QUEUE_DESC]: 'descTable', [C.QUEUE_DRIVER]: 'driverArea', [C.QUEUE_DEVICE]: 'deviceArea' };
const READ_ONLY = new Set<number>([C.DEVICE_FEATURE, C.NUM_QUEUES, C.CONFIG_GENERATION, C.QUEUE_NOTIFY_OFF, C.QUEUE_NOTIFY_DATA, C.ADMIN_QUEUE_INDEX, C.ADMIN_QUEUE_NUM]);

function u32le(d: Uint8Array, at = 0): number {
  return (d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24)) >>> 0;
}

function uint(d: Uint8Array): number {
  return d.length === 1 ? d[0]! : d.length === 2 ? d[0]! | (d[1]! << 8) : u32le(d);
}

function putLe(d: Uint8Array, v: number): void {
  for (let i = 0; i < d.length; i++) d[i] = i < 4 ? (v >>> (8 * i)) & 0xff : 0;
}

function checkU(v: number | undefined, bits: number, fallback: number, label: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new RangeError(`VirtioPciFunction: ${label} must be a u${bits}, got ${String(v)}`);
  return v;
}

/**
 * A virtio device as a modern PCI function. An exclusive object: call it from one agent.
 * @example
 * ```ts
 * const fn = new VirtioPciFunction(new RngDevice(), { memory, interrupts: busInterruptSink({ msi, intx }).sink });
 * pciBus.attach(3, 0, fn); // device 3, function 0
 * ```
 */
export class VirtioPciFunction implements PciFunction {
  /** The device served. */
  readonly device: VirtioDevice;
  /** The BARs: 0 (64-bit, the virtio structures) and, with MSI-X, 2 (the table and PBA). */
  readonly bars: readonly PciBarInfo[];
  /** The MSI-X table size (0: none). */
  readonly msixVectors: number;
  /** The virtio structures, as the capabilities describe them. */
  readonly structures: readonly VirtioStructure[];
  private readonly session: DeviceSession;
  private readonly queues: QueueRegisters;
  private readonly config: PciConfigBytes;
  private readonly msix: MsixTable | null;
  private readonly sink: PciInterruptSink;
  private readonly memorySource: GuestMemory | MemorySource;
  private readonly onDiagnostic: ((d: PciDiagnostic) => void) | undefined;
  private readonly queueVectors: Uint16Array;
  private configVector = VIRTIO_MSI_NO_VECTOR;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private isr = 0;
  private intxLevel = false;

  /**
   * @param device - the device to serve; `attach` is called on it now.
   * @param options - memory, interrupts, identity; see {@link VirtioPciFunctionOptions}.
   * @throws TypeError when `device` or an option has the wrong type.
   * @throws RangeError when the device's features lack VIRTIO_F_VERSION_1, a queue maximum is not
   *   a power of two in 1..32768, the config size is not in 0..4096, the device has more than 0x10000
   *   queues, or an identity option or `msixVectors` is out of range.
   */
  constructor(device: VirtioDevice, options: VirtioPciFunctionOptions) {
    if (typeof device !== 'object' || device === null) throw new TypeError('VirtioPciFunction: device must be a VirtioDevice');
    for (const m of ['readConfig', 'writeConfig', 'activate', 'queueNotify', 'reset'] as const) {
      if (typeof device[m] !== 'function') throw new TypeError(`VirtioPciFunction: device.${m} must be a function`);
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('VirtioPciFunction: options must be an object');
    const { memory, interrupts } = options;
    if (typeof memory !== 'object' || memory === null || (typeof (memory as GuestMemory).view !== 'function' && !isMemorySource(memory))) {
      throw new TypeError('VirtioPciFunction: options.memory must be a GuestMemory or an object with a `current` GuestMemory');
    }
    if (typeof interrupts !== 'object' || interrupts === null || typeof interrupts.msix !== 'function' || typeof interrupts.intx !== 'function') throw new TypeError('VirtioPciFunction: options.interrupts must be a PciInterruptSink');
    if (options.onDiagnostic !== undefined && typeof options.onDiagnostic !== 'function') throw new TypeError('VirtioPciFunction: options.onDiagnostic must be a function');
    if (typeof device.deviceFeatures !== 'bigint') throw new TypeError('VirtioPciFunction: device.deviceFeatures must be a bigint');
    if (!Array.isArray(device.queueMaxSizes)) throw new TypeError('VirtioPciFunction: device.queueMaxSizes must be an array');
    if (device.queueMaxSizes.length > 0x10000) throw new RangeError('VirtioPciFunction: a device has at most 0x10000 queues (num_queues is 16 bits)');
    const configSize = device.configSize;
    if (!Number.isInteger(configSize) || configSize < 0 || configSize > 4096) throw new RangeError(`VirtioPciFunction: device.configSize must be an integer in 0..4096, got ${String(configSize)}`);
    const vectors = checkU(options.msixVectors, 16, Math.min(device.queueMaxSizes.length + 1, MSIX_MAX_VECTORS), 'msixVectors');
    if (vectors > MSIX_MAX_VECTORS) throw new RangeError(`VirtioPciFunction: msixVectors must be in 0..${MSIX_MAX_VECTORS}, got ${vectors}`);
    this.device = device;
    this.memorySource = memory;
    this.sink = interrupts;
    this.onDiagnostic = options.onDiagnostic;
    this.session = new DeviceSession(
      device,
      {
        activation: () => this.queues.activation(),
        signalUsedBuffer: (q) => this.signalQueue(q),
        signalConfigChange: () => this.signalConfig(),
        event: (e) => this.onSessionEvent(e),
      },
      { offeredFeatures: device.deviceFeatures & ~PCI_UNSUPPORTED_FEATURES },
    );
    this.queues = new QueueRegisters(this.session, device.queueMaxSizes, () => this.memory(), 'VirtioPciFunction', 'queue_enable is 1');
    this.queueVectors = new Uint16Array(this.queues.count).fill(VIRTIO_MSI_NO_VECTOR);
    this.msix = vectors === 0 ? null : new MsixTable(vectors, (v, message) => this.sink.msix(v, message));
    this.msixVectors = vectors;
    const notifyLength = Math.max(4, this.queues.count * NOTIFY_OFF_MULTIPLIER);
    const structures: VirtioStructure[] = [
      { type: VirtioPciCapType.COMMON, bar: VIRTIO_BAR, offset: B.COMMON, length: COMMON_CFG_LENGTH },
      { type: VirtioPciCapType.NOTIFY, bar: VIRTIO_BAR, offset: B.NOTIFY, length: notifyLength },
      { type: VirtioPciCapType.ISR, bar: VIRTIO_BAR, offset: B.ISR, length: 1 },
    ];
    if (configSize > 0) structures.push({ type: VirtioPciCapType.DEVICE, bar: VIRTIO_BAR, offset: B.DEVICE, length: configSize });
    this.structures = structures;
    let size = VIRTIO_BAR_SIZE;
    while (size < B.NOTIFY + notifyLength) size *= 2;
    const bars: PciBarInfo[] = [{ index: VIRTIO_BAR, size, kind: 'memory64', prefetchable: false }];
    if (this.msix !== null) bars.push({ index: MSIX_BAR, size: this.msix.barSize, kind: 'memory32', prefetchable: false });
    this.bars = bars;
    this.config = new PciConfigBytes(
      {
        deviceId: device.deviceId,
        revision: checkU(options.revision, 8, 1, 'revision'),
        classCode: checkU(options.classCode, 24, pciClassCode(device.deviceId), 'classCode'),
        subsystemVendorId: checkU(options.subsystemVendorId, 16, 0x1af4, 'subsystemVendorId'),
        subsystemId: checkU(options.subsystemId, 16, 0x1100, 'subsystemId'),
      },
      bars,
      structures,
      this.msix === null ? null : { bar: MSIX_BAR, pbaOffset: this.msix.pbaOffset, vectors },
    );
    this.session.attach();
  }

  // ------------------------------------------------------------------ embedder view

  /** The device status. @example `fn.status & Status.DRIVER_OK` */
  get status(): number {
    return this.session.status;
  }

  /** The features offered: the device's less {@link PCI_UNSUPPORTED_FEATURES}. @example `fn.offeredFeatures` */
  get offeredFeatures(): bigint {
    return this.session.offeredFeatures;
  }

  /** The negotiated features (0n before FEATURES_OK). @example `fn.negotiatedFeatures` */
  get negotiatedFeatures(): bigint {
    return this.session.negotiatedFeatures;
  }

  /** ISR status (bits not yet read). @example `fn.interruptStatus` */
  get interruptStatus(): number {
    return this.isr;
  }

  /** The INTx level now. @example `fn.intxAsserted` */
  get intxAsserted(): boolean {
    return this.intxLevel;
  }

  /** Whether MSI-X is enabled in the capability. @example `fn.msixEnabled` */
  get msixEnabled(): boolean {
    return this.msix?.enabled ?? false;
  }

  /** Whether the device runs (DRIVER_OK accepted, not reset since). @example `fn.activated` */
  get activated(): boolean {
    return this.session.activated;
  }

  /**
   * The MSI-X vector queue `index` is mapped to.
   * @param index - a queue.
   * @returns the vector or VIRTIO_MSI_NO_VECTOR.
   * @throws RangeError for a queue the device does not have.
   * @example `fn.queueVector(0)`
   */
  queueVector(index: number): number {
    const v = Number.isInteger(index) ? this.queueVectors[index] : undefined;
    if (v === undefined) throw new RangeError(`queueVector: queue ${String(index)} does not exist (the device has ${this.queues.count})`);
    return v;
  }

  /**
   * What the driver configured for queue `index`.
   * @param index - a queue.
   * @returns its registers.
   * @throws RangeError for a queue the device does not have.
   * @example `fn.queueInfo(0).ready`
   */
  queueInfo(index: number): ReturnType<QueueRegisters['info']> {
    return this.queues.info(index);
  }

  /**
   * The address programmed in BAR `bar` (flag bits cleared), or null when not implemented.
   * @param bar - the BAR number.
   * @returns the address.
   * @example `fn.barAddress(0)`
   */
  barAddress(bar: number): bigint | null {
    return this.config.barAddress(bar);
  }

  /**
   * Function level reset (or VM reset): the device is reset, and the configuration space, the
   * MSI-X table and the interrupt state are as at power-on.
   * @example `fn.reset()`
   */
  reset(): void {
    this.session.reset();
    this.config.reset();
    this.msix?.reset();
    this.updateIntx();
  }

  // ------------------------------------------------------------------ configuration space

  /**
   * A configuration space read (any width; zeros past 256 bytes). A read of the PCI configuration
   * access window performs the BAR read it selects (§4.1.4.9.1).
   * @param offset - byte offset.
   * @param data - filled with the bytes.
   * @example `const id = new Uint8Array(4); fn.configRead(0, id);`
   */
  configRead(offset: number, data: Uint8Array): void {
    if (!this.configRange(offset, data.length, false)) {
      data.fill(0);
      return;
    }
    const window = this.config.caps.pciCfg + 16;
    if (offset < window + 4 && offset + data.length > window) this.windowAccess(false);
    data.set(this.config.bytes.subarray(offset, offset + data.length));
    // Dynamic fields: INTx status and MSI-X message control.
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      if (at === PciConfig.STATUS) data[i] = data[i]! | (this.isr !== 0 && !this.msixEnabled ? PciStatus.INTERRUPT : 0);
      const m = this.config.caps.msix;
      if (m >= 0 && (at === m + 2 || at === m + 3)) data[i] = (this.msix!.control() >>> (8 * (at - m - 2))) & 0xff;
    }
  }

  /**
   * A configuration space write, through the write masks of each register (read-only bits keep
   * their value, as PCI specifies; BAR sizing works by writing all-ones and reading the mask back).
   * @param offset - byte offset.
   * @param data - the bytes.
   * @example `fn.configWrite(PciConfig.COMMAND, Uint8Array.of(0x06, 0));`
   */
  configWrite(offset: number, data: Uint8Array): void {
    if (!this.configRange(offset, data.length, true)) return;
    if (this.config.write(offset, data)) this.report('read-only', 'config', -1, offset, data.length, true, 'the driver must not write a virtio capability (§4.1.4.2): read-only bytes kept');
    const end = offset + data.length;
    const touches = (at: number, len: number) => offset < at + len && end > at;
    const m = this.config.caps.msix;
    if (m >= 0 && touches(m + 2, 2)) {
      const b = this.config.bytes;
      this.msix!.writeControl(b[m + 2]! | (b[m + 3]! << 8));
    }
    if (touches(PciConfig.COMMAND, 2) || (m >= 0 && touches(m + 2, 2))) this.updateIntx();
    const window = this.config.caps.pciCfg + 16;
    if (touches(window, 4)) this.windowAccess(true);
  }

  private configRange(offset: number, width: number, write: boolean): boolean {
    if (width === 0 || !Number.isSafeInteger(offset) || offset < 0 || offset + width > PCI_CONFIG_SPACE_SIZE) {
      this.report(width === 0 ? 'bad-access' : 'reserved', 'config', -1, offset, width, write, `configuration access of ${width} bytes at 0x${offset.toString(16)} is outside the ${PCI_CONFIG_SPACE_SIZE}-byte configuration space: ${write ? 'ignored' : 'reads 0'}`);
      return false;
    }
    return true;
  }

  /** The PCI configuration access capability's window: one BAR access as cap.bar/offset/length select. */
  private windowAccess(write: boolean): void {
    const at = this.config.caps.pciCfg;
    const b = this.config.bytes;
    const bar = b[at + 4]!;
    const offset = u32le(b, at + 8);
    const length = u32le(b, at + 12);
    const inside = this.structures.some((s) => s.bar === bar && offset >= s.offset && offset + length <= s.offset + s.length);
    if ((length !== 1 && length !== 2 && length !== 4) || offset % length !== 0 || !inside) {
      this.report('refused', 'config', -1, at + 16, 4, write, `PCI configuration access window of ${length} bytes at 0x${offset.toString(16)} in BAR ${bar} is not an aligned 1-, 2- or 4-byte access inside a virtio structure (§4.1.4.9.2): ${write ? 'ignored' : 'reads 0'}`);
      if (!write) b.fill(0, at + 16, at + 20);
      return;
    }
    const data = b.subarray(at + 16, at + 16 + length);
    if (write) this.barWrite(bar, offset, data.slice());
    else {
      this.barRead(bar, offset, data);
      b.fill(0, at + 16 + length, at + 20);
    }
  }

  // ------------------------------------------------------------------ BARs

  /**
   * A read in BAR `bar`: a virtio structure in BAR 0, the MSI-X table or PBA in BAR 2.
   * @param bar - the BAR number.
   * @param offset - offset in the BAR.
   * @param data - filled with the bytes (zeros for a refused access).
   * @example `const s = new Uint8Array(1); fn.barRead(0, 0x14, s); // device_status`
   */
  barRead(bar: number, offset: number, data: Uint8Array): void {
    if (bar === MSIX_BAR && this.msix !== null) {
      const why = this.msix.read(offset, data);
      if (why !== null) this.report('bad-access', 'bar', bar, offset, data.length, false, `${why}: reads 0`);
      return;
    }
    const region = bar === VIRTIO_BAR && data.length > 0 ? this.region(offset, data.length) : null;
    if (region === null) {
      data.fill(0);
      this.report(data.length === 0 ? 'bad-access' : 'reserved', 'bar', bar, offset, data.length, false, `nothing at 0x${offset.toString(16)} (${data.length} bytes) in BAR ${bar}: reads 0`);
      return;
    }
    switch (region) {
      case 'common':
        this.readCommon(offset - B.COMMON, data);
        return;
      case 'isr':
        if (data.length !== 1) {
          data.fill(0);
          this.report('bad-access', 'bar', bar, offset, data.length, false, 'ISR status is one byte: reads 0 (and stays set)');
          return;
        }
        data[0] = this.isr;
        this.isr = 0;
        this.updateIntx();
        return;
      case 'device':
        this.session.readConfig(offset - B.DEVICE, data);
        return;
      case 'notify':
        data.fill(0);
        this.report('bad-access', 'bar', bar, offset, data.length, false, 'the notification structure is write-only: reads 0');
        return;
    }
  }

  /**
   * A write in BAR `bar`.
   * @param bar - the BAR number.
   * @param offset - offset in the BAR.
   * @param data - the bytes (little-endian).
   * @example `fn.barWrite(0, 0x3000, Uint8Array.of(0, 0)); // notify queue 0`
   */
  barWrite(bar: number, offset: number, data: Uint8Array): void {
    if (bar === MSIX_BAR && this.msix !== null) {
      const why = this.msix.write(offset, data);
      if (why !== null) this.report(why.startsWith('the pending') ? 'read-only' : 'bad-access', 'bar', bar, offset, data.length, true, why);
      return;
    }
    const region = bar === VIRTIO_BAR && data.length > 0 ? this.region(offset, data.length) : null;
    switch (region) {
      case 'common':
        this.writeCommon(offset - B.COMMON, data);
        return;
      case 'isr':
        this.report('read-only', 'bar', bar, offset, data.length, true, 'ISR status is read-only: write ignored');
        return;
      case 'device': {
        const s = this.session.status;
        if (!(s & FEATURES_OK) || s & FAILED) {
          this.report('refused', 'bar', bar, offset, data.length, true, `device configuration write ${s & FAILED ? 'after FAILED' : 'before FEATURES_OK'} (§3.1.1 step 4): ignored`);
          return;
        }
        this.session.writeConfig(offset - B.DEVICE, data);
        return;
      }
      case 'notify':
        this.notify(offset - B.NOTIFY, data);
        return;
      default:
        this.report(data.length === 0 ? 'bad-access' : 'reserved', 'bar', bar, offset, data.length, true, `nothing at 0x${offset.toString(16)} (${data.length} bytes) in BAR ${bar}: write ignored`);
    }
  }

  /** Which structure of BAR 0 an access falls wholly inside, or null. */
  private region(offset: number, width: number): 'common' | 'isr' | 'device' | 'notify' | null {
    if (!Number.isSafeInteger(offset) || offset < 0) return null;
    for (const s of this.structures) {
      if (offset >= s.offset && offset + width <= s.offset + s.length) {
        return s.type === VirtioPciCapType.COMMON ? 'common' : s.type === VirtioPciCapType.ISR ? 'isr' : s.type === VirtioPciCapType.DEVICE ? 'device' : 'notify';
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ common configuration

  /** Whether `off`/`width` is a natural access of a field (a 64-bit field also whole). */
  private fieldAccess(off: number, width: number): boolean {
    if (FIELD_WIDTH.get(off) === width) return true;
    return width === 8 && AREA_AT[off] !== undefined;
  }

  private readCommon(off: number, data: Uint8Array): void {
    if (!this.fieldAccess(off, data.length)) {
      data.fill(0);
      this.report('bad-access', 'bar', VIRTIO_BAR, B.COMMON + off, data.length, false, `common configuration takes each field at its natural width (§4.1.3.1): ${data.length} bytes at 0x${off.toString(16)} reads 0`);
      return;
    }
    if (data.length === 8) {
      this.readCommon(off, data.subarray(0, 4));
      this.readCommon(off + 4, data.subarray(4, 8));
      return;
    }
    putLe(data, this.commonValue(off));
  }

  private commonValue(off: number): number {
    const sel = this.queues.select;
    const c = this.queues.selected;
    switch (off) {
      case C.DEVICE_FEATURE_SELECT:
        return this.deviceFeatureSelect;
      case C.DEVICE_FEATURE:
        return this.session.deviceFeatureWord(this.deviceFeatureSelect);
      case C.DRIVER_FEATURE_SELECT:
        return this.driverFeatureSelect;
      case C.DRIVER_FEATURE:
        return this.driverFeatureSelect < 2048 ? Number(((this.session.driverFeatures & this.session.offeredFeatures) >> BigInt(32 * this.driverFeatureSelect)) & 0xffff_ffffn) : 0;
      case C.CONFIG_MSIX_VECTOR:
        return this.configVector;
      case C.NUM_QUEUES:
        return this.queues.count;
      case C.DEVICE_STATUS:
        return this.session.status;
      case C.CONFIG_GENERATION:
        return this.session.configGeneration & 0xff;
      case C.QUEUE_SELECT:
        return sel;
      case C.QUEUE_SIZE: {
        // §4.1.4.3.1: 0 or a power of two without VIRTIO_F_RING_PACKED, even after the driver wrote another value.
        const size = c?.size ?? 0;
        return (size & (size - 1)) === 0 || hasFeature(this.session.negotiatedFeatures, Feature.RING_PACKED) ? size : 0;
      }
      case C.QUEUE_MSIX_VECTOR:
        return this.queueVectors[sel] ?? VIRTIO_MSI_NO_VECTOR;
      case C.QUEUE_ENABLE:
        return c?.ready === true ? 1 : 0;
      case C.QUEUE_NOTIFY_OFF:
      case C.QUEUE_NOTIFY_DATA:
        // Each queue has its own notify address and is named by its index in notifications.
        return c === undefined ? 0 : sel;
      case C.QUEUE_RESET:
        // A queue reset completes within the write (§4.1.4.3.1: 0 once completed).
        return 0;
      default: {
        const area = AREA_AT[off & ~4];
        if (area === undefined || c === undefined) return 0; // admin fields: no admin queues
        const a = BigInt(c[area]);
        return Number((off & 4 ? a >> 32n : a) & 0xffff_ffffn);
      }
    }
  }

  private writeCommon(off: number, data: Uint8Array): void {
    const at = B.COMMON + off;
    if (!this.fieldAccess(off, data.length)) {
      this.report('bad-access', 'bar', VIRTIO_BAR, at, data.length, true, `common configuration takes each field at its natural width (§4.1.3.1): ${data.length} bytes at 0x${off.toString(16)} ignored`);
      return;
    }
    if (data.length === 8) {
      this.writeCommon(off, data.subarray(0, 4));
      this.writeCommon(off + 4, data.subarray(4, 8));
      return;
    }
    if (READ_ONLY.has(off)) {
      this.report('read-only', 'bar', VIRTIO_BAR, at, data.length, true, `common configuration field at 0x${off.toString(16)} is read-only for the driver (§4.1.4.3.2): write ignored`);
      return;
    }
    const v = uint(data);
    const refusal = (r: QueueWriteRefusal) => {
      if (r !== null) this.report(r.kind === 'refused' ? 'refused' : 'invalid-queue-value', 'bar', VIRTIO_BAR, at, data.length, true, r.message, r.cause);
    };
    switch (off) {
      case C.DEVICE_FEATURE_SELECT:
        this.deviceFeatureSelect = v;
        return;
      case C.DRIVER_FEATURE_SELECT:
        this.driverFeatureSelect = v;
        return;
      case C.DRIVER_FEATURE:
        if (!this.session.writeDriverFeatures(this.driverFeatureSelect, v)) this.report('refused', 'bar', VIRTIO_BAR, at, 4, true, `driver_feature write refused (status 0x${this.session.status.toString(16)}, select ${this.driverFeatureSelect}): ignored`);
        return;
      case C.CONFIG_MSIX_VECTOR:
        this.configVector = this.mapVector(v, at, 'config_msix_vector');
        return;
      case C.DEVICE_STATUS:
        this.writeStatus(v, at);
        return;
      case C.QUEUE_SELECT:
        this.queues.select = v;
        return;
      case C.QUEUE_SIZE:
        refusal(this.queues.writeSize(v));
        return;
      case C.QUEUE_MSIX_VECTOR: {
        const sel = this.queues.select;
        if (sel >= this.queues.count) {
          this.report('refused', 'bar', VIRTIO_BAR, at, 2, true, `queue_msix_vector: queue ${sel} does not exist: ignored`);
          return;
        }
        this.queueVectors[sel] = this.mapVector(v, at, `queue_msix_vector of queue ${sel}`);
        return;
      }
      case C.QUEUE_ENABLE:
        if (v !== 1) {
          this.report('refused', 'bar', VIRTIO_BAR, at, 2, true, `the driver must not write ${v} to queue_enable (§4.1.4.3.2; it takes 1): ignored`);
          return;
        }
        refusal(this.queues.enable());
        return;
      case C.QUEUE_RESET:
        refusal(v === 1 || !this.queues.ringReset ? this.queues.resetSelected() : { kind: 'refused', message: `queue_reset takes 1, not ${v}: ignored` });
        return;
      default:
        refusal(this.queues.writeArea(AREA_AT[off & ~4]!, (off & 4) !== 0, v));
    }
  }

  /** A vector the function can use, else VIRTIO_MSI_NO_VECTOR (a mapping failure, §4.1.5.1.2.1). */
  private mapVector(v: number, at: number, what: string): number {
    if (v === VIRTIO_MSI_NO_VECTOR || v < this.msixVectors) return v;
    this.report('no-vector', 'bar', VIRTIO_BAR, at, 2, true, `${what} ${v}: the MSI-X table has ${this.msixVectors} vectors; reads VIRTIO_MSI_NO_VECTOR`);
    return VIRTIO_MSI_NO_VECTOR;
  }

  private writeStatus(v: number, at: number): void {
    const outcome = this.session.writeStatus(v);
    if (outcome.kind === 'ignored') this.report('refused', 'bar', VIRTIO_BAR, at, 1, true, `device_status write refused: ${outcome.reason}`);
    else if (outcome.kind === 'accepted' && outcome.featuresRefused) {
      const s = this.session;
      this.report('features-refused', 'bar', VIRTIO_BAR, at, 1, true, `FEATURES_OK refused: the device does not accept features 0x${s.driverFeatures.toString(16)}; FEATURES_OK stays clear`);
    }
  }

  // ------------------------------------------------------------------ notifications and interrupts

  private notify(rel: number, data: Uint8Array): void {
    const at = B.NOTIFY + rel;
    const withData = this.queues.notificationData;
    const width = withData ? 4 : 2;
    const index = rel / NOTIFY_OFF_MULTIPLIER;
    if (data.length !== width || !Number.isInteger(index) || index >= this.queues.count) {
      this.report('bad-access', 'bar', VIRTIO_BAR, at, data.length, true, `a notification is a ${width}-byte write at a queue's notify address (§4.1.5.2): ignored`);
      return;
    }
    const v = uint(data);
    if ((v & 0xffff) !== index) {
      this.report('refused', 'bar', VIRTIO_BAR, at, data.length, true, `notification names queue ${v & 0xffff} at queue ${index}'s address: ignored`);
      return;
    }
    const why = this.session.notify(index, withData ? v : undefined);
    if (why !== null) this.report('refused', 'bar', VIRTIO_BAR, at, data.length, true, `notification ${why}: ignored`);
  }

  private signalQueue(queue: number): void {
    if (this.msixEnabled) {
      const v = this.queueVectors[queue]!;
      if (v !== VIRTIO_MSI_NO_VECTOR) this.msix!.signal(v);
      return;
    }
    this.isr |= InterruptReason.USED_BUFFER;
    this.updateIntx();
  }

  private signalConfig(): void {
    this.isr |= InterruptReason.CONFIG_CHANGE;
    if (this.msixEnabled) {
      if (this.configVector !== VIRTIO_MSI_NO_VECTOR) this.msix!.signal(this.configVector);
      return;
    }
    this.updateIntx();
  }

  /** INTx follows ISR status unless MSI-X is enabled or the command register disables INTx. */
  private updateIntx(): void {
    const disabled = (this.config.bytes[PciConfig.COMMAND + 1]! << 8) & PciCommand.INTX_DISABLE;
    const level = this.isr !== 0 && !this.msixEnabled && disabled === 0;
    if (level === this.intxLevel) return;
    this.intxLevel = level;
    this.sink.intx(level);
  }

  // ------------------------------------------------------------------ session

  private memory(): GuestMemory {
    const m = this.memorySource;
    return isMemorySource(m) ? m.current : m;
  }

  private onSessionEvent(e: SessionEvent): void {
    switch (e.type) {
      case 'features-ok':
        this.queues.featuresOk(e.features);
        return;
      case 'needs-reset':
        this.report('needs-reset', 'none', -1, -1, 0, false, e.message, e.cause);
        return;
      case 'needs-reset-announced':
        this.report('needs-reset', 'bar', VIRTIO_BAR, B.COMMON + C.DEVICE_STATUS, 1, true, e.message);
        return;
      case 'reset-failed':
        this.report('device-error', 'none', -1, -1, 0, false, e.message, e.cause);
        return;
      case 'reset':
        // §4.1.4.3.1, §4.1.5.1.2.1: queues disabled, every event unmapped, ISR cleared.
        this.queues.clear();
        this.queueVectors.fill(VIRTIO_MSI_NO_VECTOR);
        this.configVector = VIRTIO_MSI_NO_VECTOR;
        this.deviceFeatureSelect = 0;
        this.driverFeatureSelect = 0;
        this.isr = 0;
        this.updateIntx();
        return;
      case 'activated':
        return;
    }
  }

  private report(kind: PciDiagnosticKind, space: PciDiagnostic['space'], bar: number, offset: number, width: number, write: boolean, message: string, cause?: unknown): void {
    const hook = this.onDiagnostic;
    if (hook === undefined) return;
    hook(cause === undefined ? { kind, space, bar, offset, width, write, message } : { kind, space, bar, offset, width, write, message, cause });
  }
}
