/**
 * The virtio-mmio version 2 transport (VIRTIO 1.2 §4.2): a register file that sits on the MMIO
 * bus of @vmv/bus and serves any {@link VirtioDevice}.
 *
 * What it enforces, on every driver access (§4.2.2.1 device requirements, §4.2.2.2 driver
 * requirements, §2.1, §3.1.1):
 * - registers take aligned 32-bit accesses only; the configuration space (0x100+) takes any
 *   width and alignment, within the device's configuration space;
 * - the status state machine, feature negotiation, config generation, activation and
 *   DEVICE_NEEDS_RESET of a {@link DeviceSession} (shared with every @vmv transport);
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
import { DeviceSession, Feature, InterruptReason, QueueRegisters, Status, hasFeature } from '@vmv/device-trait';
import type { QueueWriteRefusal, SessionEvent, VirtioDevice } from '@vmv/device-trait';
import type { QueueArea } from '@vmv/queue';
import { MMIO_MAGIC_VALUE, MMIO_UNSUPPORTED_FEATURES, MMIO_VERSION, MmioRegister as R } from './constants.js';
import type { MmioDiagnostic, MmioDiagnosticKind } from './diagnostics.js';
import { InvalidSnapshotError } from './errors.js';
import { isMemorySource } from '@vmv/memory';
import type { GuestMemory, MemorySource } from '@vmv/memory';
import { checkTransportOptions } from './options.js';
import type { ShmEntry, VirtioMmioTransportOptions } from './options.js';
import { MMIO_SNAPSHOT_FORMAT, addressToSnapshot, describeError as describe, planRestore } from './snapshot.js';
import type { MmioQueueSnapshot, MmioTransportSnapshot } from './snapshot.js';

export type { VirtioMmioTransportOptions } from './options.js';
export type { MemorySource } from '@vmv/memory';

const FEATURES_OK = Status.FEATURES_OK;
const FAILED = Status.FAILED;
const NEEDS_RESET = Status.DEVICE_NEEDS_RESET;
const U32 = 0xffff_ffff;

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
  /** Whether the device is running this queue now (a `Virtqueue` of @vmv/queue exists for it). */
  readonly active: boolean;
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
  private readonly session: DeviceSession;
  private readonly memorySource: GuestMemory | MemorySource;
  private readonly irq: InterruptSourceGroup;
  private readonly irqIndex: number;
  private readonly onDiagnostic: ((d: MmioDiagnostic) => void) | undefined;
  private readonly queues: QueueRegisters;
  private readonly shm: Map<number, ShmEntry>;
  private readonly configSize: number;
  private readonly unsubscribe: (() => void) | undefined;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private shmSel = 0;
  private isr = 0;
  /** The Status value being written, for diagnostics the session raises during the write. */
  private statusWritten = 0;
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
    const o = checkTransportOptions(device, options);
    this.device = device;
    this.vendorId = o.vendorId;
    this.configSize = o.configSize;
    this.memorySource = o.memory;
    this.irq = o.interrupt;
    this.irqIndex = o.interruptIndex;
    this.onDiagnostic = o.onDiagnostic;
    this.shm = o.shm;
    this.session = new DeviceSession(
      device,
      {
        activation: () => this.queues.activation(),
        signalUsedBuffer: () => this.raise(InterruptReason.USED_BUFFER),
        signalConfigChange: () => this.raise(InterruptReason.CONFIG_CHANGE),
        event: (e) => this.onSessionEvent(e),
      },
      { offeredFeatures: device.deviceFeatures & ~MMIO_UNSUPPORTED_FEATURES },
    );
    this.queues = new QueueRegisters(this.session, device.queueMaxSizes, () => this.memory(), 'VirtioMmioTransport', 'QueueReady is 1');
    this.queueCount = this.queues.count;
    if (this.irq.kind === 'legacy' && (this.irq as LegacyInterruptGroup).mode === 'level') {
      // After the controller's end of interrupt lowers the line, raise it again while bits are set.
      this.unsubscribe = (this.irq as LegacyInterruptGroup).onResample((i) => {
        if (i === this.irqIndex && this.isr !== 0 && !this.disposed) this.irq.trigger(this.irqIndex);
      });
    }
    this.session.attach();
  }

  // ------------------------------------------------------------------ embedder view

  /**
   * The device status byte (the Status register).
   * @example `if (transport.status & Status.DEVICE_NEEDS_RESET) log.warn("device needs a reset");`
   */
  get status(): number {
    return this.session.status;
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
    return this.session.configGeneration;
  }

  /**
   * The features this transport offers: the device's, less {@link MMIO_UNSUPPORTED_FEATURES}.
   * @example `hasFeature(transport.offeredFeatures, Feature.RING_RESET)`
   */
  get offeredFeatures(): bigint {
    return this.session.offeredFeatures;
  }

  /**
   * The negotiated features (0n before FEATURES_OK).
   * @example `hasFeature(transport.negotiatedFeatures, Feature.EVENT_IDX)`
   */
  get negotiatedFeatures(): bigint {
    return this.session.negotiatedFeatures;
  }

  /**
   * Whether the device was activated (DRIVER_OK) and has not been reset since.
   * @example `if (transport.activated) transport.snapshot();`
   */
  get activated(): boolean {
    return this.session.activated;
  }

  /**
   * What the driver configured for queue `index`.
   * @param index - a queue index below {@link VirtioMmioTransport.queueCount}.
   * @returns a snapshot of the queue's registers.
   * @throws RangeError when the queue does not exist.
   * @example `transport.queueInfo(0).ready`
   */
  queueInfo(index: number): MmioQueueInfo {
    return this.queues.info(index);
  }

  /**
   * Resets the device from the host side (VM reset, device unplug): as if the driver wrote 0
   * to Status. The queues the device had are reset (their late completions are dropped), the
   * device's `reset()` runs, queues are dropped, the interrupt line is lowered.
   * @example `transport.reset()`
   */
  reset(): void {
    this.session.reset();
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
    const queues = this.queues.configs.map((c, i): MmioQueueSnapshot => {
      const q = this.session.queue(i);
      return {
        size: c.size,
        ready: c.ready,
        descTable: addressToSnapshot(c.descTable),
        driverArea: addressToSnapshot(c.driverArea),
        deviceArea: addressToSnapshot(c.deviceArea),
        resettable: this.queues.resettable[i] === 1,
        ring: q === null ? null : q.saveState(),
      };
    });
    const snap: MmioTransportSnapshot = {
      format: MMIO_SNAPSHOT_FORMAT,
      deviceId: this.device.deviceId,
      state: this.session.snapshotState(),
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      queueSel: this.queues.select,
      shmSel: this.shmSel,
      interruptStatus: this.isr,
      activated: this.session.activated,
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
    const memory = this.memory();
    const plan = planRestore(data, {
      deviceId: this.device.deviceId,
      maxSizes: this.queues.configs.map((c) => c.maxSize),
      memory,
      checkState: (state) => this.session.checkState(state),
      deviceRestores: this.device.restore !== undefined,
    });
    const { snap, negotiated } = plan;

    // Commit.
    this.session.reset();
    if (snap.hasDevice) {
      try {
        this.device.restore!(snap.device);
      } catch (e) {
        throw new InvalidSnapshotError('device', `the device refused its state: ${describe(e)}`, e);
      }
    }
    try {
      // Checked above; only a validateFeatures that changed its mind with the device's state refuses
      // now, and then nothing changed: the transport stays reset.
      this.session.restoreState(snap.state);
    } catch (e) {
      throw new InvalidSnapshotError('state', describe(e), e);
    }
    this.deviceFeaturesSel = snap.deviceFeaturesSel;
    this.driverFeaturesSel = snap.driverFeaturesSel;
    this.queues.select = snap.queueSel;
    this.shmSel = snap.shmSel;
    this.queues.ringReset = hasFeature(negotiated, Feature.RING_RESET);
    this.queues.notificationData = hasFeature(negotiated, Feature.NOTIFICATION_DATA);
    for (let i = 0; i < this.queueCount; i++) {
      this.queues.configs[i] = plan.configs[i]!;
      this.queues.resettable[i] = snap.queues[i]!.resettable ? 1 : 0;
    }
    if (snap.activated) this.session.activate({ memory, queues: plan.queues });
    if (snap.interruptStatus !== 0) this.raise(snap.interruptStatus);
    for (const [i, e] of plan.scribbled) {
      const message = `queue ${i}: the ring indices in guest memory do not match the snapshot's positions: ${describe(e)}`;
      // Every such ring is reported, also on a device that was already in DEVICE_NEEDS_RESET.
      if (this.session.status & NEEDS_RESET) this.report('needs-reset', -1, 0, false, undefined, message, e);
      else this.session.needsReset(e, message);
    }
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
        return this.session.deviceFeatureWord(this.deviceFeaturesSel);
      case R.QUEUE_NUM_MAX:
        return this.queues.selected?.maxSize ?? 0;
      case R.QUEUE_READY:
        return this.queues.selected?.ready === true ? 1 : 0;
      case R.INTERRUPT_STATUS:
        return this.isr;
      case R.STATUS:
        return this.session.status;
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
        return this.session.configGeneration;
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
        if (!this.session.writeDriverFeatures(this.driverFeaturesSel, v)) {
          const s = this.session.status;
          const why = !(s & Status.DRIVER) ? 'before DRIVER' : s & FEATURES_OK ? 'after FEATURES_OK' : s & FAILED ? 'after FAILED' : `DriverFeaturesSel ${this.driverFeaturesSel} is beyond feature bit 65535`;
          this.report('refused', offset, 4, true, v, `DriverFeatures write ${why}: ignored`);
        }
        return;
      case R.QUEUE_SEL:
        this.queues.select = v;
        return;
      case R.QUEUE_NUM:
        this.refused(offset, v, this.queues.writeSize(v));
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
        this.refused(offset, v, this.queues.writeArea(AREA_OF[offset]!, (offset & 4) !== 0, v));
        return;
      case R.SHM_SEL:
        this.shmSel = v;
        return;
      case R.QUEUE_RESET:
        this.refused(offset, v, v === 1 || !this.queues.ringReset ? this.queues.resetSelected() : { kind: 'refused', message: `QueueReset takes 1, not ${v}: ignored` });
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
    this.statusWritten = v;
    const outcome = this.session.writeStatus(v);
    if (outcome.kind === 'ignored') {
      this.report('refused', R.STATUS, 4, true, v, `Status write refused: ${outcome.reason}`);
    } else if (outcome.kind === 'accepted' && outcome.featuresRefused) {
      const s = this.session;
      this.report('features-refused', R.STATUS, 4, true, v, `FEATURES_OK refused: the device does not accept features 0x${s.driverFeatures.toString(16)} (it offers 0x${s.offeredFeatures.toString(16)}); FEATURES_OK stays clear`);
    }
  }

  /** What the session does that the register file follows. */
  private onSessionEvent(e: SessionEvent): void {
    switch (e.type) {
      case 'features-ok':
        this.queues.featuresOk(e.features);
        return;
      case 'needs-reset':
        this.report('needs-reset', -1, 0, false, undefined, e.message, e.cause);
        return;
      case 'needs-reset-announced':
        this.report('needs-reset', R.STATUS, 4, true, this.statusWritten, e.message);
        return;
      case 'reset-failed':
        this.report('device-error', -1, 0, false, undefined, e.message, e.cause);
        return;
      case 'reset':
        this.clearRegisters();
        return;
      case 'activated':
        return;
    }
  }

  /** Reports what the queue table refused or recorded as invalid. */
  private refused(offset: number, v: number, r: QueueWriteRefusal): void {
    if (r !== null) this.report(r.kind === 'refused' ? 'refused' : 'invalid-queue-value', offset, 4, true, v, r.message, r.cause);
  }

  private writeQueueReady(v: number): void {
    if (v === 0) {
      this.refused(R.QUEUE_READY, v, this.queues.disable());
      return;
    }
    if (v !== 1) {
      this.report('refused', R.QUEUE_READY, 4, true, v, `QueueReady takes 0 or 1, not ${v}: ignored`);
      return;
    }
    this.refused(R.QUEUE_READY, v, this.queues.enable());
  }

  // ------------------------------------------------------------------ notifications

  private notify(v: number): void {
    const data = this.queues.notificationData;
    const why = this.session.notify(data ? v & 0xffff : v, data ? v : undefined);
    if (why !== null) this.report('refused', R.QUEUE_NOTIFY, 4, true, v, `QueueNotify ${why}: ignored`);
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

  // ------------------------------------------------------------------ configuration space

  private readConfig(offset: number, data: Uint8Array): void {
    const off = offset - R.CONFIG;
    if (data.length === 0 || off + data.length > this.configSize) {
      data.fill(0);
      this.report('config-range', offset, data.length, false, undefined, `configuration read of ${data.length} bytes at 0x${off.toString(16)} is outside the ${this.configSize}-byte configuration space: reads 0`);
      return;
    }
    this.session.readConfig(off, data);
  }

  private writeConfig(offset: number, data: Uint8Array): void {
    const off = offset - R.CONFIG;
    const value = data.length === 4 ? (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0 : undefined;
    if (data.length === 0 || off + data.length > this.configSize) {
      this.report('config-range', offset, data.length, true, value, `configuration write of ${data.length} bytes at 0x${off.toString(16)} is outside the ${this.configSize}-byte configuration space: ignored`);
      return;
    }
    const s = this.session.status;
    if (!(s & FEATURES_OK) || s & FAILED) {
      this.report('refused', offset, data.length, true, value, `configuration write ${s & FAILED ? 'after FAILED' : 'before FEATURES_OK'} (VIRTIO 1.2 §3.1.1 step 4): ignored`);
      return;
    }
    this.session.writeConfig(off, data);
  }

  // ------------------------------------------------------------------ lifecycle

  private memory(): GuestMemory {
    return isMemorySource(this.memorySource) ? this.memorySource.current : this.memorySource;
  }

  /** Everything a device reset clears in the register file (VIRTIO 1.2 §2.4, §4.2.2.1). */
  private clearRegisters(): void {
    this.queues.clear();
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.shmSel = 0;
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
