/**
 * The device session of a vhost-user connection: negotiated features, the status byte
 * (SET_STATUS / GET_STATUS), activation of the device with an {@link ActivationContext} once the
 * rings run, DEVICE_NEEDS_RESET, and reset. VIRTIO 1.2 §2.1, §2.2; vhost-user.rst "Ring states".
 *
 * This is the transport-independent part of the connection, kept in one place so that the
 * `DeviceSession` of `@vmv/device-trait` can replace it. It keeps vhost-user's own status rules:
 * a frontend is not a driver and sets bits in its own order (QEMU adds FEATURES_OK right after
 * SET_FEATURES, before any ACKNOWLEDGE or DRIVER, and ACKNOWLEDGE | DRIVER | DRIVER_OK when the
 * vhost device starts), so the driver-side ordering checks of `VirtioDeviceState` do not apply.
 *
 * @module
 */

import { Feature, Status, featureBit, hasFeature, type ActivationContext, type VirtioDevice } from '@vmv/device-trait';
import type { GuestMemory } from '@vmv/memory';
import type { Virtqueue } from '@vmv/queue';
import { VhostFeature } from '../protocol/constants.js';
import { InvalidParamError } from '../errors.js';
import type { ConnectionEvent } from './connection.js';
import type { Vring } from './vring.js';

/** vhost bits that are not device features. */
const VHOST_ONLY_FEATURES = featureBit(VhostFeature.PROTOCOL_FEATURES) | featureBit(VhostFeature.LOG_ALL);

/** What the session needs from the connection around it. @internal */
export interface DeviceSessionHost {
  /** Guest memory (null before the frontend sent a memory table). */
  memory(): GuestMemory | null;
  /** Whether DEVICE_NEEDS_RESET (or its clearing) changes whether `ring` runs. */
  updateRunning(ring: Vring): void;
  /** Handles a remembered kick on the next turn of the loop. */
  deferKick(ring: Vring): void;
  /** The device was reset: it holds no chain any more. */
  deviceReset(): void;
  /** Reports to the backend. */
  emit(event: ConnectionEvent): void;
}

interface Session {
  readonly queues: (Virtqueue | null)[];
}

/**
 * Features, status and the activated device of one connection. Not exported from the package.
 * @internal
 */
export class VhostDeviceSession {
  /** SET_FEATURES: everything the frontend acked, vhost bits included (0n before). */
  private acked = 0n;
  private statusValue = 0;
  /** The activation in effect: contexts handed out for an older one are dead. */
  private session: Session | null = null;

  /**
   * @param device - the device served
   * @param rings - the connection's rings (one per device queue)
   * @param host - the connection
   */
  constructor(
    private readonly device: VirtioDevice,
    private readonly rings: readonly Vring[],
    private readonly host: DeviceSessionHost,
  ) {}

  /** The acked features, vhost bits included (what rings and the decoder look at). */
  get features(): bigint {
    return this.acked;
  }

  /** The status byte (GET_STATUS). */
  get status(): number {
    return this.statusValue;
  }

  /** Whether the device has been activated (and not reset since). */
  get isActive(): boolean {
    return this.session !== null;
  }

  /** Whether the device is in DEVICE_NEEDS_RESET: rings do not run until it is reset. */
  get needsResetSet(): boolean {
    return (this.statusValue & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  /**
   * SET_FEATURES. VIRTIO_F_VERSION_1 must be accepted, and the device's own check must agree.
   * @throws VhostUser.InvalidParamError when refused (the acked set is unchanged)
   */
  setFeatures(value: bigint): void {
    const deviceFeatures = value & ~VHOST_ONLY_FEATURES;
    if (!hasFeature(value, Feature.VERSION_1)) throw new InvalidParamError('VIRTIO_F_VERSION_1 must be accepted', { features: value });
    if (this.device.validateFeatures !== undefined && !this.device.validateFeatures(deviceFeatures)) {
      throw new InvalidParamError('the device refuses this feature set', { features: value });
    }
    this.acked = value;
    for (const ring of this.rings) this.host.updateRunning(ring);
  }

  /**
   * SET_STATUS. DEVICE_NEEDS_RESET stays until a reset; FEATURES_OK is kept only if the device
   * accepts the acked features; 0 clears everything. DRIVER_OK activates the device when rings
   * have started.
   */
  setStatus(value: number): void {
    const before = this.statusValue;
    let next = value | (before & Status.DEVICE_NEEDS_RESET);
    if ((next & Status.FEATURES_OK) !== 0 && (before & Status.FEATURES_OK) === 0) {
      const deviceFeatures = this.acked & ~VHOST_ONLY_FEATURES;
      const ok = this.device.validateFeatures === undefined || this.device.validateFeatures(deviceFeatures);
      if (!ok) next &= ~Status.FEATURES_OK;
    }
    if (value === 0) next = 0;
    this.statusValue = next;
    if ((next & Status.DRIVER_OK) !== 0 && (before & Status.DRIVER_OK) === 0 && this.rings.some((r) => r.started)) {
      if (this.activate()) for (const ring of this.rings) if (ring.pendingKick) this.host.deferKick(ring);
    }
  }

  /**
   * Activates the device once per session with the rings started so far.
   * @returns false when it cannot (no memory, DEVICE_NEEDS_RESET) or the device refused
   */
  activate(): boolean {
    if (this.session !== null) return true;
    const memory = this.host.memory();
    if (memory === null || this.needsResetSet) return false;
    const rings = this.rings;
    const queues: (Virtqueue | null)[] = rings.map((r) => (r.started ? r.queue : null));
    const session: Session = { queues };
    const context: ActivationContext = {
      memory,
      queues,
      features: this.acked & ~VHOST_ONLY_FEATURES,
      interrupt: {
        signalUsedBuffer: (index: number) => {
          if (!Number.isInteger(index) || index < 0 || index >= rings.length) throw new RangeError(`signalUsedBuffer: queue ${String(index)} does not exist`);
          if (this.session === session) rings[index]!.requestCall();
        },
        signalConfigChange: () => undefined,
      },
      needsReset: (reason: unknown) => {
        if (this.session === session) this.needsReset(reason);
      },
    };
    this.session = session;
    try {
      this.device.activate(context);
    } catch (e) {
      this.session = null;
      this.needsReset(e);
      return false;
    }
    this.host.emit({ type: 'activated' });
    return true;
  }

  /** A ring started after activation joins the device's queue table. */
  queueStarted(ring: Vring): void {
    if (this.session !== null) this.session.queues[ring.index] = ring.queue;
  }

  /** Tells the device about a kick; a device that throws goes to DEVICE_NEEDS_RESET. */
  notify(index: number): void {
    try {
      this.device.queueNotify(index);
    } catch (e) {
      this.needsReset(e);
    }
  }

  /** The device failed: DEVICE_NEEDS_RESET, rings stop, their err eventfds are signalled. */
  needsReset(reason: unknown): void {
    if (this.needsResetSet) return;
    this.statusValue |= Status.DEVICE_NEEDS_RESET;
    for (const ring of this.rings) {
      this.host.updateRunning(ring);
      if (ring.started) ring.signalError();
    }
    this.host.emit({ type: 'needs-reset', reason });
  }

  /** Resets an activated device (a device that fails to reset is dropped all the same). */
  reset(): void {
    if (this.session === null) return;
    this.session = null;
    try {
      this.device.reset();
    } catch {
      // a device that fails to reset is dropped all the same
    }
    // after reset the device holds no chain (VirtioDevice contract)
    for (const ring of this.rings) ring.queue.forgetOrphans();
    this.host.deviceReset();
    this.statusValue &= ~Status.DEVICE_NEEDS_RESET;
    this.host.emit({ type: 'device-reset' });
  }

  /** RESET_DEVICE: the device reset, features and status back to 0. */
  resetAll(): void {
    this.reset();
    this.acked = 0n;
    this.statusValue = 0;
  }
}
