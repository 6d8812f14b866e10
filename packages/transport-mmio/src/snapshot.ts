/**
 * The state of a virtio-mmio transport as plain data, for snapshot and migration: the register
 * file (VIRTIO 1.2 §4.2.2: selectors, InterruptStatus, each queue's QueueNum, QueueReady and area
 * addresses), the status, negotiated features and config generation (§2.1, §2.2, §2.5.1), the
 * positions of the running queues (§2.7, §2.8) and the device's own state.
 *
 * A snapshot read back is untrusted input: {@link parseMmioSnapshot} checks every field and every
 * rule the register file keeps (no queue enabled before FEATURES_OK, no interrupt before
 * DRIVER_OK, ...) before anything is changed.
 * @module
 */
import { Feature, Status, hasFeature } from '@vmv/device-trait';
import type { DeviceStateSnapshot, QueueState } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig, createVirtqueue, isQueueError } from '@vmv/queue';
import type { Virtqueue } from '@vmv/queue';
import { InvalidSnapshotError } from './errors.js';

/** The `format` tag of {@link MmioTransportSnapshot}. @example `snapshot.format === MMIO_SNAPSHOT_FORMAT` */
export const MMIO_SNAPSHOT_FORMAT = 'vmv-virtio-mmio/1';

/**
 * One queue's registers and, when the device is running it, its ring positions.
 * @example
 * ```ts
 * const q: MmioQueueSnapshot = { size: 256, ready: true, descTable: 0x10000, driverArea: 0x11000, deviceArea: 0x12000, resettable: false, ring: null };
 * ```
 */
export interface MmioQueueSnapshot {
  /** QueueNum as last written (QueueNumMax until then), even an invalid value the driver wrote. */
  readonly size: number;
  /** QueueReady. */
  readonly ready: boolean;
  /** Descriptor area address: a number below 2^53, a decimal string above. */
  readonly descTable: number | string;
  /** Driver area address (as `descTable`). */
  readonly driverArea: number | string;
  /** Device area address (as `descTable`). */
  readonly deviceArea: number | string;
  /** The driver reset this queue after DRIVER_OK (VIRTIO_F_RING_RESET) and may configure it again. */
  readonly resettable: boolean;
  /** `Virtqueue.saveState()` of the queue the device is running, or null. */
  readonly ring: QueueState | null;
}

/**
 * Plain JSON-serialisable state of a {@link VirtioMmioTransport} and of the device it serves.
 * @example
 * ```ts
 * const saved = JSON.stringify(transport.snapshot());
 * other.restore(JSON.parse(saved));
 * ```
 */
export interface MmioTransportSnapshot {
  /** Always {@link MMIO_SNAPSHOT_FORMAT}. */
  readonly format: typeof MMIO_SNAPSHOT_FORMAT;
  /** The served device's ID (a snapshot restores only onto a device of the same type). */
  readonly deviceId: number;
  /** Status, driver features and config generation (`VirtioDeviceState.snapshot()`). */
  readonly state: DeviceStateSnapshot;
  /** DeviceFeaturesSel. */
  readonly deviceFeaturesSel: number;
  /** DriverFeaturesSel. */
  readonly driverFeaturesSel: number;
  /** QueueSel. */
  readonly queueSel: number;
  /** SHMSel. */
  readonly shmSel: number;
  /** InterruptStatus (bits not yet acknowledged). */
  readonly interruptStatus: number;
  /** Whether the device was activated (DRIVER_OK accepted and the device started). */
  readonly activated: boolean;
  /** One entry per queue of the device. */
  readonly queues: readonly MmioQueueSnapshot[];
  /** `device.snapshot()`, when the device has one. */
  readonly device?: unknown;
}

/**
 * A queue of a parsed snapshot, with addresses as numbers or bigints.
 * @example `const q: ParsedQueueSnapshot = parseMmioSnapshot(data, 4, 1).queues[0]!;`
 */
export interface ParsedQueueSnapshot {
  readonly size: number;
  readonly ready: boolean;
  readonly descTable: number | bigint;
  readonly driverArea: number | bigint;
  readonly deviceArea: number | bigint;
  readonly resettable: boolean;
  readonly ring: unknown;
}

/**
 * A snapshot whose shape and register rules were checked (the `state` and rings are checked by their owners).
 * @example `const snap: ParsedMmioSnapshot = parseMmioSnapshot(data, 4, 1);`
 */
export interface ParsedMmioSnapshot {
  readonly state: unknown;
  readonly deviceFeaturesSel: number;
  readonly driverFeaturesSel: number;
  readonly queueSel: number;
  readonly shmSel: number;
  readonly interruptStatus: number;
  readonly activated: boolean;
  readonly queues: readonly ParsedQueueSnapshot[];
  readonly hasDevice: boolean;
  readonly device: unknown;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const { DRIVER_OK, FEATURES_OK, DEVICE_NEEDS_RESET: NEEDS_RESET, FAILED } = Status;

/**
 * An address as a snapshot holds it: a number below 2^53, a decimal string otherwise.
 * @param addr - the address.
 * @returns its snapshot form.
  * @example `addressToSnapshot(0x1_0000_0000_0000_0000n - 1n) // '18446744073709551615'`
 */
export function addressToSnapshot(addr: number | bigint): number | string {
  return typeof addr === 'number' ? addr : addr <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(addr) : addr.toString();
}

function u32(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new InvalidSnapshotError(field, `must be a u32, got ${describeValue(value)}`);
  return value;
}

function bool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidSnapshotError(field, `must be a boolean, got ${describeValue(value)}`);
  return value;
}

function address(value: unknown, field: string): number | bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^[0-9]{1,20}$/.test(value)) {
    const a = BigInt(value);
    if (a <= U64_MAX) return a <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a) : a;
  }
  throw new InvalidSnapshotError(field, `must be a guest address (a non-negative safe integer, or a decimal string below 2^64), got ${describeValue(value)}`);
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** The status byte and driver features of a `state` field, read loosely (VirtioDeviceState.restore validates them). */
function statusOf(state: unknown): { status: number; features: bigint } {
  if (typeof state !== 'object' || state === null) throw new InvalidSnapshotError('state', 'must be an object');
  const { status, driverFeatures } = state as Record<string, unknown>;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 0xff) throw new InvalidSnapshotError('state.status', `must be a u8, got ${describeValue(status)}`);
  if (typeof driverFeatures !== 'string' || driverFeatures.length > 2 + 16384 || !/^0x[0-9a-f]+$/i.test(driverFeatures)) throw new InvalidSnapshotError('state.driverFeatures', 'must be a hex string like 0x100000000');
  return { status, features: BigInt(driverFeatures) };
}

/**
 * Checks the shape of a transport snapshot and the register file's own rules.
 * @param data - a snapshot (any JSON-parsed value).
 * @param deviceId - the ID of the device the transport serves.
 * @param queueCount - how many queues it has.
 * @returns the parsed snapshot.
 * @throws TransportMmio.InvalidSnapshotError naming the field at fault.
  * @example `const snap = parseMmioSnapshot(JSON.parse(text), device.deviceId, device.queueMaxSizes.length);`
 */
export function parseMmioSnapshot(data: unknown, deviceId: number, queueCount: number): ParsedMmioSnapshot {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InvalidSnapshotError('snapshot', 'must be an object');
  const o = data as Record<string, unknown>;
  if (o.format !== MMIO_SNAPSHOT_FORMAT) throw new InvalidSnapshotError('format', `must be '${MMIO_SNAPSHOT_FORMAT}', got ${describeValue(o.format)}`);
  if (o.deviceId !== deviceId) throw new InvalidSnapshotError('deviceId', `the snapshot is of device type ${describeValue(o.deviceId)}; this transport serves device type ${deviceId}`);
  const { status, features } = statusOf(o.state);
  const featuresOk = (status & FEATURES_OK) !== 0;
  const driverOk = (status & DRIVER_OK) !== 0;
  const ringReset = featuresOk && hasFeature(features, Feature.RING_RESET);
  const interruptStatus = u32(o.interruptStatus, 'interruptStatus');
  if (interruptStatus > 3) throw new InvalidSnapshotError('interruptStatus', `only bits 0 and 1 exist, got ${interruptStatus}`);
  if (interruptStatus !== 0 && !driverOk) throw new InvalidSnapshotError('interruptStatus', 'an interrupt is pending but DRIVER_OK is not set');
  const activated = bool(o.activated, 'activated');
  if (activated && !driverOk) throw new InvalidSnapshotError('activated', 'the device is activated but DRIVER_OK is not set');
  // DRIVER_OK accepted on a device in neither DEVICE_NEEDS_RESET nor FAILED always activates it.
  if (!activated && driverOk && (status & (NEEDS_RESET | FAILED)) === 0) throw new InvalidSnapshotError('activated', 'DRIVER_OK is set on a working device that is not activated');
  if (!Array.isArray(o.queues)) throw new InvalidSnapshotError('queues', 'must be an array');
  if (o.queues.length !== queueCount) throw new InvalidSnapshotError('queues', `the snapshot has ${o.queues.length} queues; the device has ${queueCount}`);
  const queues = (o.queues as unknown[]).map((q, i): ParsedQueueSnapshot => {
    const at = `queues[${i}]`;
    if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new InvalidSnapshotError(at, 'must be an object');
    const r = q as Record<string, unknown>;
    const size = u32(r.size, `${at}.size`);
    if (size > 0xffff) throw new InvalidSnapshotError(`${at}.size`, `must be below 65536, got ${size}`);
    const ready = bool(r.ready, `${at}.ready`);
    const resettable = bool(r.resettable, `${at}.resettable`);
    const parsed = {
      size,
      ready,
      descTable: address(r.descTable, `${at}.descTable`),
      driverArea: address(r.driverArea, `${at}.driverArea`),
      deviceArea: address(r.deviceArea, `${at}.deviceArea`),
      resettable,
      ring: r.ring,
    };
    if (ready && !featuresOk) throw new InvalidSnapshotError(`${at}.ready`, 'a queue is enabled but FEATURES_OK is not set');
    if (resettable && !(driverOk && ringReset)) throw new InvalidSnapshotError(`${at}.resettable`, 'a queue reset needs DRIVER_OK and VIRTIO_F_RING_RESET');
    if (r.ring !== null) {
      if (typeof r.ring !== 'object' || Array.isArray(r.ring)) throw new InvalidSnapshotError(`${at}.ring`, 'must be a queue state object or null');
      if (!activated || !ready || resettable) throw new InvalidSnapshotError(`${at}.ring`, 'ring positions for a queue the device is not running');
    }
    return parsed;
  });
  return {
    state: o.state,
    deviceFeaturesSel: u32(o.deviceFeaturesSel, 'deviceFeaturesSel'),
    driverFeaturesSel: u32(o.driverFeaturesSel, 'driverFeaturesSel'),
    queueSel: u32(o.queueSel, 'queueSel'),
    shmSel: u32(o.shmSel, 'shmSel'),
    interruptStatus,
    activated,
    queues,
    hasDevice: 'device' in o && o.device !== undefined,
    device: o.device,
  };
}

/**
 * What a queue's saved ring state must agree with: the queue's registers and the negotiated ring features.
 * @example `const want: RingExpectation = { packed: false, size: 256, descTable: 0x10000, driverArea: 0x11000, deviceArea: 0x12000, eventIdx: true, indirectDesc: false };`
 */
export interface RingExpectation {
  readonly packed: boolean;
  readonly size: number;
  readonly descTable: number | bigint;
  readonly driverArea: number | bigint;
  readonly deviceArea: number | bigint;
  readonly eventIdx: boolean;
  readonly indirectDesc: boolean;
}

function isU16(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/**
 * Checks the parts of a saved split-ring state that do not depend on guest memory (the queue's own
 * `restoreState` then checks the positions against the indices in guest memory, which the guest
 * controls). Packed-ring states are checked by `restoreState` alone: it reads no guest memory.
 * @param ring - the saved ring state (an object).
 * @param want - the queue it must belong to.
 * @returns why it does not fit, or null.
  * @example `const why = ringMismatch(saved.ring, { packed: false, size: 256, descTable: 0x10000, driverArea: 0x11000, deviceArea: 0x12000, eventIdx: true, indirectDesc: false });`
 */
export function ringMismatch(ring: Record<string, unknown>, want: RingExpectation): string | null {
  if (ring.format !== (want.packed ? 'packed' : 'split')) return `format ${describeValue(ring.format)} does not match the negotiated ${want.packed ? 'packed' : 'split'} ring`;
  if (ring.size !== want.size) return `size ${describeValue(ring.size)} does not match QueueNum ${want.size}`;
  for (const area of ['descTable', 'driverArea', 'deviceArea'] as const) {
    let a: number | bigint;
    try {
      a = address(ring[area], area);
    } catch {
      return `${area} ${describeValue(ring[area])} is not an address`;
    }
    if (BigInt(a) !== BigInt(want[area])) return `${area} ${describeValue(ring[area])} does not match the queue's registers`;
  }
  if (ring.eventIdx !== want.eventIdx) return 'eventIdx does not match the negotiated features';
  if (ring.indirectDesc !== want.indirectDesc) return 'indirectDesc does not match the negotiated features';
  if (want.packed) return null;
  if (!isU16(ring.nextAvail)) return `nextAvail ${describeValue(ring.nextAvail)} is not a u16`;
  if (ring.nextUsed !== undefined && !isU16(ring.nextUsed)) return `nextUsed ${describeValue(ring.nextUsed)} is not a u16`;
  if (ring.numAdded !== undefined && !isU16(ring.numAdded)) return `numAdded ${describeValue(ring.numAdded)} is not a u16`;
  if (ring.nextUsed !== undefined && (((ring.nextAvail as number) - (ring.nextUsed as number)) & 0xffff) > want.size) return 'more buffers in flight than the queue holds';
  return null;
}

/**
 * One line for a diagnostic or snapshot error: `Name: first line of the message`.
 * @param e - anything thrown.
 * @returns the line.
 * @example `describeError(new RangeError('bad\nmore')) // 'RangeError: bad'`
 */
export function describeError(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.split('\n')[0] : ''}`;
  }
  return String(e);
}

/**
 * What {@link planRestore} needs from the transport it restores onto.
 * @example `const target: RestoreTarget = { deviceId: 4, maxSizes: [256], memory, checkState: (s) => session.checkState(s), deviceRestores: false };`
 */
export interface RestoreTarget {
  /** The device's ID (a snapshot of another device type is refused). */
  readonly deviceId: number;
  /** QueueNumMax of each queue. */
  readonly maxSizes: readonly number[];
  /** Guest memory the running queues are rebuilt over. */
  readonly memory: GuestMemory;
  /** Checks the saved status and features (throws a Device.* error), returning the negotiated features. */
  readonly checkState: (state: unknown) => bigint;
  /** Whether the device has `restore()`. */
  readonly deviceRestores: boolean;
}

/**
 * A checked snapshot, ready to commit: nothing of the transport has changed yet.
 * @example `const plan: RestorePlan = planRestore(data, target);`
 */
export interface RestorePlan {
  /** The parsed snapshot. */
  readonly snap: ParsedMmioSnapshot;
  /** The negotiated features it holds. */
  readonly negotiated: bigint;
  /** Each queue's configuration, rebuilt from its registers. */
  readonly configs: QueueConfig[];
  /** The running queues at their saved positions (null: not running, or scribbled). */
  readonly queues: (Virtqueue | null)[];
  /** Rings whose saved positions disagree with the indices the guest holds in its memory. */
  readonly scribbled: readonly (readonly [number, unknown])[];
}

/**
 * The validate-and-build half of `VirtioMmioTransport.restore`: checks a snapshot as untrusted
 * input (its shape, the register rules, the status and features against the device, every ring
 * position against its queue and guest memory) and builds the queue configurations and running
 * queues, without touching the transport. A split ring whose indices in guest memory disagree
 * with the snapshot (the guest wrote there) is left out and listed in `scribbled`.
 * @param data - a snapshot (any JSON-parsed value).
 * @param target - the transport restored onto.
 * @returns the plan to commit.
 * @throws TransportMmio.InvalidSnapshotError when the snapshot cannot be accepted.
 * @example `const plan = planRestore(JSON.parse(saved), target); commit(plan);`
 */
export function planRestore(data: unknown, target: RestoreTarget): RestorePlan {
  const snap = parseMmioSnapshot(data, target.deviceId, target.maxSizes.length);
  let negotiated: bigint;
  try {
    negotiated = target.checkState(snap.state);
  } catch (e) {
    throw new InvalidSnapshotError('state', describeError(e), e);
  }
  if (snap.hasDevice && !target.deviceRestores) throw new InvalidSnapshotError('device', 'the snapshot holds device state but this device has no restore()');
  const configs = snap.queues.map((q, i) => {
    const c = new QueueConfig(target.maxSizes[i]!);
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
      vq = createVirtqueue(target.memory, c);
    } catch (e) {
      if (!isQueueError(e)) throw e;
      throw new InvalidSnapshotError(`queues[${i}].ring`, `the running queue cannot be rebuilt over this guest memory: ${describeError(e)}`, e);
    }
    try {
      vq.restoreState(ring);
      return vq;
    } catch (e) {
      if (!isQueueError(e)) throw e;
      // The snapshot itself is sound (checked above); a split ring's avail.idx or used.idx in guest
      // memory disagrees with it: the guest wrote there. That must not make the VM impossible to
      // restore: the queue is not given to the device, which comes back in DEVICE_NEEDS_RESET.
      if (packed) throw new InvalidSnapshotError(`queues[${i}].ring`, describeError(e), e);
      scribbled.push([i, e]);
      return null;
    }
  });
  return { snap, negotiated, configs, queues, scribbled };
}
