/**
 * The virtio-mmio version 2 transport (VIRTIO 1.2 §4.2): a register file that sits on the MMIO
 * bus of @vmv/bus and serves any {@link VirtioDevice}.
 *
 * What it enforces, on every driver access (§4.2.2.1 device requirements, §4.2.2.2 driver
 * requirements, §2.1, §3.1.1):
 * - registers take aligned 32-bit accesses only; the configuration space (0x100+) takes any
 *   width and alignment, within the device's configuration space;
 * - the status state machine, feature negotiation and config generation of
 *   {@link VirtioDeviceState} (shared with every @vmv transport);
 * - queue fields (QueueNum, the area addresses, QueueReady=1) are accepted only between
 *   FEATURES_OK and DRIVER_OK, and never while the queue's QueueReady is 1; after DRIVER_OK only
 *   for a queue the driver reset through QueueReset (VIRTIO_F_RING_RESET, §2.6.1);
 * - QueueNotify reaches the device only when it is live (DRIVER_OK, not FAILED, not
 *   DEVICE_NEEDS_RESET) and the queue is enabled;
 * - InterruptStatus bits stay set until acknowledged; the interrupt line stays asserted while
 *   any bit is set;
 * - writing 0 to Status resets the device, drops its queues, clears InterruptStatus and lowers
 *   the line; the queue objects the device was given are reset (here and on a queue reset), so
 *   a chain it completes late is dropped, never written into a ring the driver took back;
 * - a queue the guest configured badly, a Queue.* error or any exception from the device puts
 *   the device in DEVICE_NEEDS_RESET with a configuration change interrupt (§2.1.2).
 *
 * Nothing the guest writes makes it throw: a refused access is reported to the embedder's
 * `onDiagnostic` hook and has no effect.
 * @module
 */
import type { InterruptSourceGroup, LegacyInterruptGroup, MutDeviceMmio } from '@vmv/bus';
import { Feature, InterruptReason, Status, VirtioDeviceState, hasFeature } from '@vmv/device-trait';
import type { ActivationContext, DeviceHost, InterruptHandle, VirtioDevice } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig, createVirtqueue, isQueueError } from '@vmv/queue';
import type { QueueArea, Virtqueue } from '@vmv/queue';
import { MMIO_MAGIC_VALUE, MMIO_UNSUPPORTED_FEATURES, MMIO_VERSION, MmioRegister as R } from './constants.js';
import type { MmioDiagnostic, MmioDiagnosticKind } from './diagnostics.js';
import { InvalidSnapshotError } from './errors.js';
import { MMIO_SNAPSHOT_FORMAT, addressToSnapshot, parseMmioSnapshot, ringMismatch } from './snapshot.js';
import type { MmioQueueSnapshot, MmioTransportSnapshot } from './snapshot.js';

const FEATURES_OK = Status.FEATURES_OK;
const DRIVER_OK = Status.DRIVER_OK;
const FAILED = Status.FAILED;
const NEEDS_RESET = Status.DEVICE_NEEDS_RESET;
const U32 = 0xffff_ffff;

/**
 * Something holding the current guest memory (a `GuestMemoryHolder` of @vmv/memory), for guests
 * whose memory map changes (hot-add): the transport reads `current` when the driver sets
 * DRIVER_OK or re-enables a queue.
 * @example `const source: MemorySource = new GuestMemoryHolder(memory);`
 */
export interface MemorySource {
  /** The guest memory now. */
  readonly current: GuestMemory;
}

/**
 * Options of a {@link VirtioMmioTransport}.
 * @example
 * ```ts
 * const opts: VirtioMmioTransportOptions = { memory, interrupt: irqs.createLegacyGroup(5, 1, 'level') };
 * ```
 */
export interface VirtioMmioTransportOptions {
  /** Guest memory the device's queues live in (or a holder of it). */
  readonly memory: GuestMemory | MemorySource;
  /**
   * The device's interrupt: a legacy line (level-triggered is what virtio-mmio describes: it
   * stays asserted while InterruptStatus is non-zero; an edge line gets one pulse per event) or
   * an MSI vector (one message per event).
   */
  readonly interrupt: InterruptSourceGroup;
  /** Which source of `interrupt` is this device's (default 0). */
  readonly interruptIndex?: number;
  /** The VendorID register (u32, default 0). */
  readonly vendorId?: number;
  /**
   * Guest physical base address of each shared memory region the device declares in
   * `sharedMemoryRegions` (VIRTIO 1.2 §2.10), by region ID.
   */
  readonly sharedMemoryBases?: ReadonlyMap<number, number | bigint>;
  /** Told about every refused access and every entry into DEVICE_NEEDS_RESET (see {@link MmioDiagnostic}). */
  readonly onDiagnostic?: (diagnostic: MmioDiagnostic) => void;
}

/**
 * What the driver configured for one queue, as {@link VirtioMmioTransport.queueInfo} reports it.
 * @example `const { ready, size, descTable } = transport.queueInfo(0);`
 */
export interface MmioQueueInfo {
  /** QueueNumMax: the device's maximum size. */
  readonly maxSize: number;
  /** QueueNum as last written (maxSize until then). */
  readonly size: number;
  /** QueueReady. */
  readonly ready: boolean;
  /** Descriptor area address. */
  readonly descTable: number | bigint;
  /** Driver area (available ring) address. */
  readonly driverArea: number | bigint;
  /** Device area (used ring) address. */
  readonly deviceArea: number | bigint;
  /** Whether the device is running this queue now (a {@link Virtqueue} exists for it). */
  readonly active: boolean;
}

interface ShmEntry {
  readonly lenLo: number;
  readonly lenHi: number;
  readonly baseLo: number;
  readonly baseHi: number;
}

function isMemorySource(m: GuestMemory | MemorySource): m is MemorySource {
  return typeof m === 'object' && m !== null && 'current' in m && typeof (m as MemorySource).current === 'object';
}

function toU64(value: number | bigint, label: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${label} must be a u64, got ${value}`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RangeError(`${label} must be a non-negative safe integer or a bigint, got ${String(value)}`);
  return BigInt(value);
}

function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.split('\n')[0] : ''}`;
  }
  return String(e);
}

const AREA_OF: Readonly<Record<number, QueueArea>> = {
  [R.QUEUE_DESC_LOW]: 'descTable',
  [R.QUEUE_DESC_HIGH]: 'descTable',
  [R.QUEUE_DRIVER_LOW]: 'driverArea',
  [R.QUEUE_DRIVER_HIGH]: 'driverArea',
  [R.QUEUE_DEVICE_LOW]: 'deviceArea',
  [R.QUEUE_DEVICE_HIGH]: 'deviceArea',
};

/**
 * A virtio-mmio (version 2) device: the register file of VIRTIO 1.2 §4.2.2 in front of a
 * {@link VirtioDevice}, to register on an @vmv/bus MMIO bus. An exclusive device (calls come from
 * one agent; serve it through an `IoExitServer` to reach it from vCPU workers).
 *
 * @example
 * ```ts
 * const irqs = new InMemoryInterruptController();
 * const transport = new VirtioMmioTransport(new EntropyDevice(fill), { memory, interrupt: irqs.createLegacyGroup(5, 1, 'level') });
 * const io = new IoManager();
 * io.registerMmio(new MmioRange(0xd000_0000, MMIO_DEFAULT_REGION_SIZE), transport);
 * // guest: virtio_mmio.device=0x200@0xd0000000:5
 * ```
 */
export class VirtioMmioTransport implements MutDeviceMmio {
  /** The device served. */
  readonly device: VirtioDevice;
  /** Number of queues the device declares. */
  readonly queueCount: number;
  /** The VendorID register. */
  readonly vendorId: number;
  private readonly state: VirtioDeviceState;
  private readonly memorySource: GuestMemory | MemorySource;
  private readonly irq: InterruptSourceGroup;
  private readonly irqIndex: number;
  private readonly onDiagnostic: ((d: MmioDiagnostic) => void) | undefined;
  private readonly configs: QueueConfig[];
  /** Per queue: reset through QueueReset after DRIVER_OK, so it may be configured again. */
  private readonly resettable: Uint8Array;
  private readonly shm: Map<number, ShmEntry>;
  private readonly configSize: number;
  private readonly unsubscribe: (() => void) | undefined;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private shmSel = 0;
  private isr = 0;
  private ringReset = false;
  private notificationData = false;
  /** Incremented on every reset and activation: contexts of older epochs are dead. */
  private epoch = 0;
  /** The queues array handed to the device at activation (entries change on QueueReset/re-enable). */
  private live: (Virtqueue | null)[] | null = null;
  private disposed = false;

  /**
   * @param device - the device to serve; `attach` is called on it now.
   * @param options - memory, interrupt and identity; see {@link VirtioMmioTransportOptions}.
   * @throws TypeError when `device` or an option has the wrong type.
   * @throws RangeError when the device's features lack VIRTIO_F_VERSION_1, a queue maximum is
   *   not a power of two in 1..32768, the config size is not in 0..4096, `interruptIndex` is outside
   *   the group, `vendorId` is not a u32, or a shared memory region has no base address.
   */
  constructor(device: VirtioDevice, options: VirtioMmioTransportOptions) {
    if (typeof device !== 'object' || device === null) throw new TypeError('VirtioMmioTransport: device must be a VirtioDevice');
    for (const m of ['readConfig', 'writeConfig', 'activate', 'queueNotify', 'reset'] as const) {
      if (typeof device[m] !== 'function') throw new TypeError(`VirtioMmioTransport: device.${m} must be a function`);
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('VirtioMmioTransport: options must be an object');
    const { memory, interrupt } = options;
    if (typeof memory !== 'object' || memory === null || (!isMemorySource(memory) && typeof (memory as GuestMemory).view !== 'function')) {
      throw new TypeError('VirtioMmioTransport: options.memory must be a GuestMemory or an object with a `current` GuestMemory');
    }
    if (typeof interrupt !== 'object' || interrupt === null || typeof interrupt.trigger !== 'function') throw new TypeError('VirtioMmioTransport: options.interrupt must be an InterruptSourceGroup');
    const index = options.interruptIndex ?? 0;
    if (!Number.isInteger(index) || index < 0 || index >= interrupt.count) throw new RangeError(`VirtioMmioTransport: interruptIndex must be in 0..${interrupt.count - 1}, got ${String(index)}`);
    const vendorId = options.vendorId ?? 0;
    if (!Number.isInteger(vendorId) || vendorId < 0 || vendorId > U32) throw new RangeError(`VirtioMmioTransport: vendorId must be a u32, got ${String(vendorId)}`);
    if (options.onDiagnostic !== undefined && typeof options.onDiagnostic !== 'function') throw new TypeError('VirtioMmioTransport: options.onDiagnostic must be a function');
    if (typeof device.deviceFeatures !== 'bigint') throw new TypeError('VirtioMmioTransport: device.deviceFeatures must be a bigint');
    const configSize = device.configSize;
    if (!Number.isInteger(configSize) || configSize < 0 || configSize > 4096) throw new RangeError(`VirtioMmioTransport: device.configSize must be an integer in 0..4096, got ${String(configSize)}`);
    if (!Array.isArray(device.queueMaxSizes)) throw new TypeError('VirtioMmioTransport: device.queueMaxSizes must be an array');

    this.device = device;
    this.vendorId = vendorId;
    this.configSize = configSize;
    this.memorySource = memory;
    this.irq = interrupt;
    this.irqIndex = index;
    this.onDiagnostic = options.onDiagnostic;
    this.state = new VirtioDeviceState(device.deviceFeatures & ~MMIO_UNSUPPORTED_FEATURES, (f) => (device.validateFeatures ? device.validateFeatures(f) : true));
    this.configs = device.queueMaxSizes.map((max, i) => {
      try {
        return new QueueConfig(max);
      } catch (e) {
        throw new RangeError(`VirtioMmioTransport: device.queueMaxSizes[${i}]: ${(e as Error).message}`, { cause: e });
      }
    });
    this.queueCount = this.configs.length;
    this.resettable = new Uint8Array(this.queueCount);
    this.shm = new Map();
    for (const region of device.sharedMemoryRegions ?? []) {
      const base = options.sharedMemoryBases?.get(region.id);
      if (base === undefined) throw new RangeError(`VirtioMmioTransport: shared memory region ${region.id} needs a base address in options.sharedMemoryBases`);
      const len = toU64(region.length, `VirtioMmioTransport: shared memory region ${region.id} length`);
      const b = toU64(base, `VirtioMmioTransport: shared memory region ${region.id} base`);
      if (len === 0xffff_ffff_ffff_ffffn || b + len > 1n << 64n) throw new RangeError(`VirtioMmioTransport: shared memory region ${region.id} does not fit below 2^64`);
      this.shm.set(region.id >>> 0, { lenLo: Number(len & 0xffff_ffffn), lenHi: Number(len >> 32n), baseLo: Number(b & 0xffff_ffffn), baseHi: Number(b >> 32n) });
    }
    if (interrupt.kind === 'legacy' && (interrupt as LegacyInterruptGroup).mode === 'level') {
      // After the controller's end of interrupt lowers the line, raise it again while bits are set.
      this.unsubscribe = (interrupt as LegacyInterruptGroup).onResample((i) => {
        if (i === this.irqIndex && this.isr !== 0 && !this.disposed) this.irq.trigger(this.irqIndex);
      });
    }
    const host: DeviceHost = { configChanged: () => this.hostConfigChanged() };
    device.attach?.(host);
  }

  // ------------------------------------------------------------------ embedder view

  /**
   * The device status byte (the Status register).
   * @example `if (transport.status & Status.DEVICE_NEEDS_RESET) log.warn("device needs a reset");`
   */
  get status(): number {
    return this.state.status;
  }

  /**
   * The InterruptStatus register.
   * @example `transport.interruptStatus // 1: used buffers pending acknowledgement`
   */
  get interruptStatus(): number {
    return this.isr;
  }

  /**
   * The ConfigGeneration register.
   * @example `const gen = transport.configGeneration;`
   */
  get configGeneration(): number {
    return this.state.configGeneration;
  }

  /**
   * The features this transport offers: the device's, less {@link MMIO_UNSUPPORTED_FEATURES}.
   * @example `hasFeature(transport.offeredFeatures, Feature.RING_RESET)`
   */
  get offeredFeatures(): bigint {
    return this.state.deviceFeatures;
  }

  /**
   * The negotiated features (0n before FEATURES_OK).
   * @example `hasFeature(transport.negotiatedFeatures, Feature.EVENT_IDX)`
   */
  get negotiatedFeatures(): bigint {
    return this.state.negotiatedFeatures;
  }

  /**
   * Whether the device was activated (DRIVER_OK) and has not been reset since.
   * @example `if (transport.activated) transport.snapshot();`
   */
  get activated(): boolean {
    return this.live !== null;
  }

  /**
   * What the driver configured for queue `index`.
   * @param index - a queue index below {@link VirtioMmioTransport.queueCount}.
   * @returns a snapshot of the queue's registers.
   * @throws RangeError when the queue does not exist.
   * @example `transport.queueInfo(0).ready`
   */
  queueInfo(index: number): MmioQueueInfo {
    const c = Number.isInteger(index) ? this.configs[index] : undefined;
    if (c === undefined) throw new RangeError(`queueInfo: queue ${String(index)} does not exist (the device has ${this.queueCount})`);
    return { maxSize: c.maxSize, size: c.size, ready: c.ready, descTable: c.descTable, driverArea: c.driverArea, deviceArea: c.deviceArea, active: (this.live?.[index] ?? null) !== null };
  }

  /**
   * Resets the device from the host side (VM reset, device unplug): as if the driver wrote 0
   * to Status. The queues the device had are reset (their late completions are dropped), the
   * device's `reset()` runs, queues are dropped, the interrupt line is lowered.
   * @example `transport.reset()`
   */
  reset(): void {
    this.state.reset();
    this.resetTransport();
  }

  /**
   * The transport's state and the device's, as plain JSON-serialisable data (for snapshot and
   * migration): status, features, config generation, selectors, InterruptStatus, every queue's
   * registers, the ring positions of the running queues (`Virtqueue.saveState()`) and
   * `device.snapshot()` when the device has one. Guest memory is not included: save it alongside.
   * Take it while the device is quiescent (no chain popped and not yet returned, no I/O in flight):
   * what a device has popped but not returned is not in the ring positions.
   * @returns the snapshot.
   * @throws what `device.snapshot()` throws.
   * @example
   * ```ts
   * const saved = JSON.stringify({ transport: transport.snapshot(), memory: dumpGuestMemory() });
   * ```
   */
  snapshot(): MmioTransportSnapshot {
    const queues = this.configs.map((c, i): MmioQueueSnapshot => {
      const q = this.live?.[i] ?? null;
      return {
        size: c.size,
        ready: c.ready,
        descTable: addressToSnapshot(c.descTable),
        driverArea: addressToSnapshot(c.driverArea),
        deviceArea: addressToSnapshot(c.deviceArea),
        resettable: this.resettable[i] === 1,
        ring: q === null ? null : q.saveState(),
      };
    });
    const snap: MmioTransportSnapshot = {
      format: MMIO_SNAPSHOT_FORMAT,
      deviceId: this.device.deviceId,
      state: this.state.snapshot(),
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      queueSel: this.queueSel,
      shmSel: this.shmSel,
      interruptStatus: this.isr,
      activated: this.live !== null,
      queues,
    };
    return this.device.snapshot === undefined ? snap : { ...snap, device: this.device.snapshot() };
  }

  /**
   * Restores a {@link VirtioMmioTransport.snapshot} onto this transport (a new one, typically, on
   * the machine a guest migrated to, with guest memory already restored). The snapshot is checked
   * as untrusted input first: its shape, the register file's rules, the status and features
   * (against what this device offers and accepts) and every ring position (against the queue's
   * configuration and the ring in guest memory); if anything is wrong nothing changes. Then the
   * transport resets the device, restores the device's own state (`device.restore`), the
   * registers, and, if the device was running, activates it again with the restored queues, so the
   * driver carries on where it was. A pending InterruptStatus raises the interrupt again.
   *
   * Guest memory is the guest's: if a split ring's avail.idx or used.idx there disagrees with the
   * saved positions (the guest wrote over them), the snapshot is still restored, without that queue,
   * and the device comes back in DEVICE_NEEDS_RESET (a `needs-reset` diagnostic), as it would have
   * on its next use of the ring. A guest cannot make its VM impossible to restore.
   * @param data - a snapshot (any JSON-parsed value).
   * @throws TransportMmio.InvalidSnapshotError when the snapshot cannot be accepted (the cause is
   *   the Device.* or Queue.* error behind it). When `device.restore` refuses the device's part,
   *   the error comes after the reset: the transport is then left reset (Status 0).
   * @example
   * ```ts
   * const target = new VirtioMmioTransport(new EntropyDevice(fill), { memory, interrupt });
   * target.restore(JSON.parse(saved).transport);
   * ```
   */
  restore(data: unknown): void {
    const snap = parseMmioSnapshot(data, this.device.deviceId, this.queueCount);
    // Check the status and features on a scratch state: this one changes only once all is known good.
    const state = new VirtioDeviceState(this.state.deviceFeatures, (f) => (this.device.validateFeatures ? this.device.validateFeatures(f) : true));
    try {
      state.restore(snap.state);
    } catch (e) {
      throw new InvalidSnapshotError('state', describe(e), e);
    }
    if (snap.hasDevice && this.device.restore === undefined) throw new InvalidSnapshotError('device', 'the snapshot holds device state but this device has no restore()');
    const negotiated = state.negotiatedFeatures;
    const memory = this.memory();
    const configs = snap.queues.map((q, i) => {
      const c = new QueueConfig(this.configs[i]!.maxSize);
      c.setFeatures(negotiated);
      // Values the driver wrote are kept even when invalid, as the registers keep them.
      const keep = (f: () => void) => {
        try {
          f();
        } catch (e) {
          if (!isQueueError(e)) throw e;
        }
      };
      keep(() => c.setSize(q.size));
      keep(() => c.setArea('descTable', q.descTable));
      keep(() => c.setArea('driverArea', q.driverArea));
      keep(() => c.setArea('deviceArea', q.deviceArea));
      c.ready = q.ready;
      return c;
    });
    const packed = hasFeature(negotiated, Feature.RING_PACKED);
    /** Rings whose saved positions disagree with the indices the guest holds in its memory. */
    const scribbled: [number, unknown][] = [];
    const queues: (Virtqueue | null)[] = snap.queues.map((q, i) => {
      if (q.ring === null) return null;
      const c = configs[i]!;
      const ring = q.ring as Record<string, unknown>;
      const want = { packed, size: c.size, descTable: c.descTable, driverArea: c.driverArea, deviceArea: c.deviceArea, eventIdx: c.eventIdx, indirectDesc: c.indirectDesc };
      const mismatch = ringMismatch(ring, want);
      if (mismatch !== null) throw new InvalidSnapshotError(`queues[${i}].ring`, mismatch);
      let vq: Virtqueue;
      try {
        vq = createVirtqueue(memory, c);
      } catch (e) {
        if (!isQueueError(e)) throw e;
        throw new InvalidSnapshotError(`queues[${i}].ring`, `the running queue cannot be rebuilt over this guest memory: ${describe(e)}`, e);
      }
      try {
        vq.restoreState(ring);
        return vq;
      } catch (e) {
        if (!isQueueError(e)) throw e;
        // The snapshot itself is sound (checked above); a split ring's avail.idx or used.idx in guest
        // memory disagrees with it: the guest wrote there. That must not make the VM impossible to
        // restore: the queue is not given to the device, which comes back in DEVICE_NEEDS_RESET.
        if (packed) throw new InvalidSnapshotError(`queues[${i}].ring`, describe(e), e);
        scribbled.push([i, e]);
        return null;
      }
    });

    // Commit.
    this.state.reset();
    this.resetTransport();
    if (snap.hasDevice) {
      try {
        this.device.restore!(snap.device);
      } catch (e) {
        throw new InvalidSnapshotError('device', `the device refused its state: ${describe(e)}`, e);
      }
    }
    try {
      // Checked above; only a validateFeatures that changed its mind with the device's state refuses now.
      this.state.restore(snap.state);
    } catch (e) {
      this.state.reset();
      throw new InvalidSnapshotError('state', describe(e), e);
    }
    this.deviceFeaturesSel = snap.deviceFeaturesSel;
    this.driverFeaturesSel = snap.driverFeaturesSel;
    this.queueSel = snap.queueSel;
    this.shmSel = snap.shmSel;
    this.ringReset = hasFeature(negotiated, Feature.RING_RESET);
    this.notificationData = hasFeature(negotiated, Feature.NOTIFICATION_DATA);
    for (let i = 0; i < this.queueCount; i++) {
      this.configs[i] = configs[i]!;
      this.resettable[i] = snap.queues[i]!.resettable ? 1 : 0;
    }
    if (snap.activated) this.startDevice(queues);
    if (snap.interruptStatus !== 0) this.raise(snap.interruptStatus);
    for (const [i, e] of scribbled) this.enterNeedsReset(`queue ${i}: the ring indices in guest memory do not match the snapshot's positions: ${describe(e)}`, e);
  }

  /**
   * Resets the device and stops listening to the interrupt group (for unplug). Later accesses
   * behave as on a reset device.
   * @example `io.unregisterMmio(base); transport.dispose();`
   */
  dispose(): void {
    this.reset();
    this.disposed = true;
    this.unsubscribe?.();
  }

  // ------------------------------------------------------------------ MMIO device

  /**
   * A driver read of `data.length` bytes at `offset` (the bus calls this).
   * @param _base - the device's base address (unused: offsets are what matter).
   * @param offset - offset from the base.
   * @param data - filled with the little-endian value (zeros for a refused access).
   * @example `const b = new Uint8Array(4); transport.mmioRead(0n, 0x70, b);`
   */
  mmioRead(_base: bigint, offset: number, data: Uint8Array): void {
    if (offset >= R.CONFIG) {
      this.readConfig(offset, data);
      return;
    }
    if (data.length !== 4 || (offset & 3) !== 0) {
      data.fill(0);
      this.report('bad-access', offset, data.length, false, undefined, 'registers take aligned 32-bit accesses only: read returns 0');
      return;
    }
    const v = this.readRegister(offset);
    data[0] = v & 0xff;
    data[1] = (v >>> 8) & 0xff;
    data[2] = (v >>> 16) & 0xff;
    data[3] = v >>> 24;
  }

  /**
   * A driver write of `data` at `offset` (the bus calls this).
   * @param _base - the device's base address (unused).
   * @param offset - offset from the base.
   * @param data - the bytes written (little-endian).
   * @example `transport.mmioWrite(0n, 0x70, Uint8Array.of(1, 0, 0, 0));`
   */
  mmioWrite(_base: bigint, offset: number, data: Uint8Array): void {
    if (offset >= R.CONFIG) {
      this.writeConfig(offset, data);
      return;
    }
    if (data.length !== 4 || (offset & 3) !== 0) {
      this.report('bad-access', offset, data.length, true, undefined, 'registers take aligned 32-bit accesses only: write ignored');
      return;
    }
    this.writeRegister(offset, (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0);
  }

  // ------------------------------------------------------------------ registers

  private readRegister(offset: number): number {
    switch (offset) {
      case R.MAGIC_VALUE:
        return MMIO_MAGIC_VALUE;
      case R.VERSION:
        return MMIO_VERSION;
      case R.DEVICE_ID:
        return this.device.deviceId >>> 0;
      case R.VENDOR_ID:
        return this.vendorId;
      case R.DEVICE_FEATURES:
        return this.state.deviceFeatureWord(this.deviceFeaturesSel);
      case R.QUEUE_NUM_MAX:
        return this.configs[this.queueSel]?.maxSize ?? 0;
      case R.QUEUE_READY:
        return this.configs[this.queueSel]?.ready === true ? 1 : 0;
      case R.INTERRUPT_STATUS:
        return this.isr;
      case R.STATUS:
        return this.state.status;
      case R.SHM_LEN_LOW:
        return this.shm.get(this.shmSel)?.lenLo ?? U32;
      case R.SHM_LEN_HIGH:
        return this.shm.get(this.shmSel)?.lenHi ?? U32;
      case R.SHM_BASE_LOW:
        return this.shm.get(this.shmSel)?.baseLo ?? U32;
      case R.SHM_BASE_HIGH:
        return this.shm.get(this.shmSel)?.baseHi ?? U32;
      case R.QUEUE_RESET:
        // A queue reset completes within the write, so it never reads as ongoing.
        return 0;
      case R.CONFIG_GENERATION:
        return this.state.configGeneration;
      case R.DEVICE_FEATURES_SEL:
      case R.DRIVER_FEATURES:
      case R.DRIVER_FEATURES_SEL:
      case R.QUEUE_SEL:
      case R.QUEUE_NUM:
      case R.QUEUE_NOTIFY:
      case R.INTERRUPT_ACK:
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DESC_HIGH:
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DRIVER_HIGH:
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DEVICE_HIGH:
      case R.SHM_SEL:
        this.report('write-only', offset, 4, false, undefined, 'read of a write-only register returns 0');
        return 0;
      default:
        this.report('reserved', offset, 4, false, undefined, 'no register at this offset: read returns 0');
        return 0;
    }
  }

  private writeRegister(offset: number, v: number): void {
    switch (offset) {
      case R.QUEUE_NOTIFY:
        this.notify(v);
        return;
      case R.INTERRUPT_ACK:
        this.acknowledge(v);
        return;
      case R.STATUS:
        this.writeStatus(v);
        return;
      case R.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        return;
      case R.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        return;
      case R.DRIVER_FEATURES:
        if (!this.state.writeDriverFeatures(this.driverFeaturesSel, v)) {
          const s = this.state.status;
          const why = !(s & Status.DRIVER) ? 'before DRIVER' : s & FEATURES_OK ? 'after FEATURES_OK' : s & FAILED ? 'after FAILED' : `DriverFeaturesSel ${this.driverFeaturesSel} is beyond feature bit 65535`;
          this.report('refused', offset, 4, true, v, `DriverFeatures write ${why}: ignored`);
        }
        return;
      case R.QUEUE_SEL:
        this.queueSel = v;
        return;
      case R.QUEUE_NUM:
        this.writeQueueNum(v);
        return;
      case R.QUEUE_READY:
        this.writeQueueReady(v);
        return;
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DESC_HIGH:
      case R.QUEUE_DRIVER_HIGH:
      case R.QUEUE_DEVICE_HIGH:
        this.writeQueueArea(offset, v);
        return;
      case R.SHM_SEL:
        this.shmSel = v;
        return;
      case R.QUEUE_RESET:
        this.writeQueueReset(v);
        return;
      case R.MAGIC_VALUE:
      case R.VERSION:
      case R.DEVICE_ID:
      case R.VENDOR_ID:
      case R.DEVICE_FEATURES:
      case R.QUEUE_NUM_MAX:
      case R.INTERRUPT_STATUS:
      case R.SHM_LEN_LOW:
      case R.SHM_LEN_HIGH:
      case R.SHM_BASE_LOW:
      case R.SHM_BASE_HIGH:
      case R.CONFIG_GENERATION:
        this.report('read-only', offset, 4, true, v, 'write to a read-only register: ignored');
        return;
      default:
        this.report('reserved', offset, 4, true, v, 'no register at this offset: write ignored');
    }
  }

  private writeStatus(v: number): void {
    const before = this.state.status;
    const outcome = this.state.writeStatus(v);
    if (outcome.kind === 'reset') {
      this.resetTransport();
      return;
    }
    if (outcome.kind === 'ignored') {
      this.report('refused', R.STATUS, 4, true, v, `Status write refused: ${outcome.reason}`);
      return;
    }
    if (outcome.featuresRefused) {
      this.report('features-refused', R.STATUS, 4, true, v, `FEATURES_OK refused: the device does not accept features 0x${this.state.driverFeatures.toString(16)} (it offers 0x${this.state.deviceFeatures.toString(16)}); FEATURES_OK stays clear`);
    }
    const after = this.state.status;
    if (after & FEATURES_OK && !(before & FEATURES_OK)) {
      const f = this.state.negotiatedFeatures;
      for (const c of this.configs) c.setFeatures(f);
      this.ringReset = hasFeature(f, Feature.RING_RESET);
      this.notificationData = hasFeature(f, Feature.NOTIFICATION_DATA);
    }
    if (outcome.activate) this.activate();
    else if (after & DRIVER_OK && !(before & DRIVER_OK) && after & NEEDS_RESET) {
      // The device entered DEVICE_NEEDS_RESET before the driver was running (a configuration access
      // the device failed, say): it is not started, and the driver, running now, is told (§2.1.2).
      this.report('needs-reset', R.STATUS, 4, true, v, 'DRIVER_OK while DEVICE_NEEDS_RESET is set: the device is not started; configuration change interrupt sent');
      this.raise(InterruptReason.CONFIG_CHANGE);
    }
  }

  /** Why a queue field write for the selected queue is refused now, or null when allowed. */
  private queueRefusal(what: string): string | null {
    const sel = this.queueSel;
    const c = this.configs[sel];
    if (c === undefined) return `${what}: queue ${sel} does not exist (QueueNumMax reads 0)`;
    const s = this.state.status;
    if (!(s & FEATURES_OK)) return `${what} before FEATURES_OK`;
    if (s & FAILED) return `${what} after FAILED`;
    if (s & NEEDS_RESET) return `${what} while DEVICE_NEEDS_RESET is set`;
    if (s & DRIVER_OK && this.resettable[sel] === 0) return `${what} after DRIVER_OK${this.ringReset ? ' (reset the queue through QueueReset first)' : ''}`;
    if (c.ready) return `${what} while QueueReady is 1`;
    return null;
  }

  private writeQueueNum(v: number): void {
    const why = this.queueRefusal('QueueNum write');
    if (why !== null) {
      this.report('refused', R.QUEUE_NUM, 4, true, v, `${why}: ignored`);
      return;
    }
    try {
      // A value past 16 bits cannot be a queue size; record it as the invalid size 0 so that the
      // queue cannot start with a size from before the bad write.
      this.configs[this.queueSel]!.setSize(v > 0xffff ? 0 : v);
    } catch (e) {
      this.report('invalid-queue-value', R.QUEUE_NUM, 4, true, v, `queue ${this.queueSel}: QueueNum ${v} is not a valid size (QueueNumMax ${this.configs[this.queueSel]!.maxSize}); the queue cannot start until a valid size is written`, e);
    }
  }

  private writeQueueArea(offset: number, v: number): void {
    const area = AREA_OF[offset]!;
    const why = this.queueRefusal(`${area} address write`);
    if (why !== null) {
      this.report('refused', offset, 4, true, v, `${why}: ignored`);
      return;
    }
    const c = this.configs[this.queueSel]!;
    if ((offset & 4) !== 0) {
      c.setAreaHigh(area, v);
      return;
    }
    try {
      c.setAreaLow(area, v);
    } catch (e) {
      this.report('invalid-queue-value', offset, 4, true, v, `queue ${this.queueSel}: ${area} low half 0x${v.toString(16)} is misaligned; the queue cannot start until an aligned address is written`, e);
    }
  }

  private writeQueueReady(v: number): void {
    const sel = this.queueSel;
    const c = this.configs[sel];
    if (v === 0) {
      if (c === undefined) {
        this.report('refused', R.QUEUE_READY, 4, true, v, `QueueReady write: queue ${sel} does not exist: ignored`);
        return;
      }
      if (!c.ready) return;
      // The driver stops using the queue (§4.2.2.2): the device must not access it any more.
      c.ready = false;
      if (this.retireQueue(sel)) {
        // With VIRTIO_F_RING_RESET, a queue taken out of service may be configured again (§2.6.1.2).
        if (this.ringReset) this.resettable[sel] = 1;
        this.tellQueueReset(sel);
      }
      return;
    }
    if (v !== 1) {
      this.report('refused', R.QUEUE_READY, 4, true, v, `QueueReady takes 0 or 1, not ${v}: ignored`);
      return;
    }
    if (c !== undefined && c.ready) return;
    const why = this.queueRefusal('QueueReady=1');
    if (why !== null) {
      this.report('refused', R.QUEUE_READY, 4, true, v, `${why}: ignored`);
      return;
    }
    c!.ready = true;
    if (this.live !== null) {
      // Re-enabling a queue of a live device (after QueueReset, §2.6.1.2): start it now.
      this.resettable[sel] = 0;
      const q = this.createQueue(sel);
      if (q !== null && this.live !== null) {
        this.live[sel] = q;
        this.tellQueueEnable(sel, q);
      }
    }
  }

  private writeQueueReset(v: number): void {
    if (!this.ringReset) {
      this.report('refused', R.QUEUE_RESET, 4, true, v, 'QueueReset write without VIRTIO_F_RING_RESET negotiated: ignored');
      return;
    }
    const sel = this.queueSel;
    const c = this.configs[sel];
    if (c === undefined || v !== 1) {
      this.report('refused', R.QUEUE_RESET, 4, true, v, c === undefined ? `QueueReset: queue ${sel} does not exist: ignored` : `QueueReset takes 1, not ${v}: ignored`);
      return;
    }
    if (this.state.status & (FAILED | NEEDS_RESET)) {
      this.report('refused', R.QUEUE_RESET, 4, true, v, 'QueueReset after FAILED or DEVICE_NEEDS_RESET: ignored (reset the device)');
      return;
    }
    // §2.6.1.1: the device stops using the queue and forgets its state; QueueReady reads 0.
    c.reset();
    c.setFeatures(this.state.negotiatedFeatures);
    if (this.state.status & DRIVER_OK) this.resettable[sel] = 1;
    if (this.retireQueue(sel)) this.tellQueueReset(sel);
  }

  /**
   * Takes running queue `index` away from the device. The queue object the device was given is
   * reset, so chains it popped from it are stale: completing one late drops the completion
   * (see `Virtqueue`, "Late completions") instead of writing into a ring the driver has taken back.
   * @returns whether the queue was running.
   */
  private retireQueue(index: number): boolean {
    const q = this.live?.[index] ?? null;
    if (q === null) return false;
    this.live![index] = null;
    q.reset();
    return true;
  }

  /** `device.queueReset(index)`, if the device has it; an exception is a device error. */
  private tellQueueReset(index: number): void {
    if (this.device.queueReset === undefined) return;
    const epoch = this.epoch;
    try {
      this.device.queueReset(index);
    } catch (e) {
      if (epoch === this.epoch) this.enterNeedsReset(`the device failed taking queue ${index} out of service: ${describe(e)}`, e);
    }
  }

  /** `device.queueEnable(index, queue)`, if the device has it; an exception is a device error. */
  private tellQueueEnable(index: number, queue: Virtqueue): void {
    if (this.device.queueEnable === undefined) return;
    const epoch = this.epoch;
    try {
      this.device.queueEnable(index, queue);
    } catch (e) {
      if (epoch === this.epoch) this.enterNeedsReset(`the device failed starting queue ${index} again: ${describe(e)}`, e);
    }
  }

  // ------------------------------------------------------------------ notifications

  private notify(v: number): void {
    if (!this.state.isLive || this.live === null) {
      const s = this.state.status;
      const why = !(s & DRIVER_OK) ? 'before DRIVER_OK' : s & NEEDS_RESET ? 'while DEVICE_NEEDS_RESET is set' : s & FAILED ? 'after FAILED' : 'while the device is not activated';
      this.report('refused', R.QUEUE_NOTIFY, 4, true, v, `QueueNotify ${why}: ignored`);
      return;
    }
    const index = this.notificationData ? v & 0xffff : v;
    if (index >= this.queueCount || this.live[index] === null) {
      this.report('refused', R.QUEUE_NOTIFY, 4, true, v, `QueueNotify for queue ${index}, which is not enabled: ignored`);
      return;
    }
    const epoch = this.epoch;
    try {
      if (this.notificationData) this.device.queueNotify(index, v);
      else this.device.queueNotify(index);
    } catch (e) {
      if (epoch === this.epoch) this.enterNeedsReset(`the device failed handling a notification of queue ${index}: ${describe(e)}`, e);
    }
  }

  private acknowledge(v: number): void {
    this.isr &= ~v;
    if (this.isr === 0) this.lowerLine();
  }

  private raise(bit: number): void {
    this.isr |= bit;
    if (!this.disposed) this.irq.trigger(this.irqIndex);
  }

  private lowerLine(): void {
    if (this.irq.kind === 'legacy' && !this.disposed) (this.irq as LegacyInterruptGroup).deassert(this.irqIndex);
  }

  private hostConfigChanged(): void {
    this.state.bumpConfigGeneration();
    if (this.state.status & DRIVER_OK) this.raise(InterruptReason.CONFIG_CHANGE);
  }

  // ------------------------------------------------------------------ configuration space

  private readConfig(offset: number, data: Uint8Array): void {
    const off = offset - R.CONFIG;
    if (data.length === 0 || off + data.length > this.configSize) {
      data.fill(0);
      this.report('config-range', offset, data.length, false, undefined, `configuration read of ${data.length} bytes at 0x${off.toString(16)} is outside the ${this.configSize}-byte configuration space: reads 0`);
      return;
    }
    try {
      this.device.readConfig(off, data);
    } catch (e) {
      data.fill(0);
      this.enterNeedsReset(`the device failed a configuration read at 0x${off.toString(16)}: ${describe(e)}`, e);
    }
  }

  private writeConfig(offset: number, data: Uint8Array): void {
    const off = offset - R.CONFIG;
    const value = data.length === 4 ? (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0 : undefined;
    if (data.length === 0 || off + data.length > this.configSize) {
      this.report('config-range', offset, data.length, true, value, `configuration write of ${data.length} bytes at 0x${off.toString(16)} is outside the ${this.configSize}-byte configuration space: ignored`);
      return;
    }
    const s = this.state.status;
    if (!(s & FEATURES_OK) || s & FAILED) {
      this.report('refused', offset, data.length, true, value, `configuration write ${s & FAILED ? 'after FAILED' : 'before FEATURES_OK'} (VIRTIO 1.2 §3.1.1 step 4): ignored`);
      return;
    }
    try {
      this.device.writeConfig(off, data);
    } catch (e) {
      this.enterNeedsReset(`the device failed a configuration write at 0x${off.toString(16)}: ${describe(e)}`, e);
    }
  }

  // ------------------------------------------------------------------ lifecycle

  private memory(): GuestMemory {
    return isMemorySource(this.memorySource) ? this.memorySource.current : this.memorySource;
  }

  /** Builds the device side of queue `index`; on a bad configuration enters NEEDS_RESET and returns null. */
  private createQueue(index: number): Virtqueue | null {
    try {
      return createVirtqueue(this.memory(), this.configs[index]!);
    } catch (e) {
      this.enterNeedsReset(`queue ${index} cannot start: ${describe(e)}`, e);
      return null;
    }
  }

  private activate(): void {
    const queues: (Virtqueue | null)[] = [];
    for (let i = 0; i < this.queueCount; i++) {
      if (!this.configs[i]!.ready) {
        queues.push(null);
        continue;
      }
      const q = this.createQueue(i);
      if (q === null) return;
      queues.push(q);
    }
    this.startDevice(queues);
  }

  /** Hands the device its activation context with `queues` (one entry per queue, null for a disabled one). */
  private startDevice(queues: (Virtqueue | null)[]): void {
    const epoch = ++this.epoch;
    const interrupt: InterruptHandle = {
      signalUsedBuffer: (queueIndex: number) => {
        if (!Number.isInteger(queueIndex) || queueIndex < 0 || queueIndex >= this.queueCount) throw new RangeError(`signalUsedBuffer: queue ${String(queueIndex)} does not exist`);
        // §2.6.1.1: no notification for a queue the driver reset; none at all after a device reset.
        if (epoch !== this.epoch || (this.live?.[queueIndex] ?? null) === null) return;
        this.raise(InterruptReason.USED_BUFFER);
      },
      signalConfigChange: () => {
        if (epoch === this.epoch) this.hostConfigChanged();
      },
    };
    const context: ActivationContext = {
      memory: this.memory(),
      queues,
      features: this.state.negotiatedFeatures,
      interrupt,
      needsReset: (reason: unknown) => {
        if (epoch === this.epoch) this.enterNeedsReset(`the device reported an error: ${describe(reason)}`, reason);
      },
    };
    this.live = queues;
    try {
      this.device.activate(context);
    } catch (e) {
      if (epoch !== this.epoch) return;
      // The device is not running: its context is dead and its queues are dropped.
      this.epoch++;
      for (let i = 0; i < queues.length; i++) this.retireQueue(i);
      this.live = null;
      this.enterNeedsReset(`the device refused activation: ${describe(e)}`, e);
    }
  }

  private enterNeedsReset(message: string, cause: unknown): void {
    const notify = this.state.setNeedsReset();
    this.report('needs-reset', -1, 0, false, undefined, message, cause);
    if (notify) this.raise(InterruptReason.CONFIG_CHANGE);
  }

  /** Everything a device reset clears besides the status (VIRTIO 1.2 §2.4, §4.2.2.1). */
  private resetTransport(): void {
    this.epoch++;
    // Before the device's reset(): what it completes from now on is dropped, never written.
    for (let i = 0; i < this.queueCount; i++) this.retireQueue(i);
    this.live = null;
    try {
      this.device.reset();
    } catch (e) {
      this.report('device-error', -1, 0, false, undefined, `the device threw from reset(); the transport completed the reset anyway: ${describe(e)}`, e);
    }
    for (const c of this.configs) c.reset();
    this.resettable.fill(0);
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.queueSel = 0;
    this.shmSel = 0;
    this.ringReset = false;
    this.notificationData = false;
    this.isr = 0;
    this.lowerLine();
  }

  private report(kind: MmioDiagnosticKind, offset: number, width: number, write: boolean, value: number | undefined, message: string, cause?: unknown): void {
    const hook = this.onDiagnostic;
    if (hook === undefined) return;
    const d: MmioDiagnostic = cause === undefined ? { kind, offset, width, write, value, message } : { kind, offset, width, write, value, message, cause };
    hook(d);
  }
}
