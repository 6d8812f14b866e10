/**
 * The device status state machine, feature negotiation and config generation (VIRTIO 1.2 §2.1,
 * §2.2, §2.5.1, §3.1.1), shared by every transport so that each enforces the same rules.
 *
 * Rules enforced on driver writes:
 * - writing 0 resets the device;
 * - the driver cannot clear a bit (§2.1.1: "The driver MUST NOT clear a device status bit") nor
 *   set DEVICE_NEEDS_RESET; after FAILED only a reset is accepted;
 * - bits are acquired in order: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK (FAILED at any time);
 * - driver features can be written only while DRIVER is set and FEATURES_OK is not;
 * - FEATURES_OK is kept only if the driver accepted a subset of the offered features that
 *   includes VIRTIO_F_VERSION_1 (no legacy interface) and the device's own check agrees;
 *   otherwise the bit stays clear, which the driver sees when it reads the status back (§3.1.1).
 * A refused write leaves the status as it was and is reported, never thrown: it comes from the guest.
 * @module
 */
import { Feature, Status } from './constants.js';
import { InvalidSnapshotError } from './errors.js';
import { featureBit, featureWord, withFeatureWord } from './features.js';

const VERSION_1 = featureBit(Feature.VERSION_1);
const DRIVER_BITS = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK | Status.FAILED;

/**
 * What a status write did, for the transport to act on.
 * - `reset`: the driver wrote 0; reset the queues and call `device.reset()`.
 * - `accepted`: the status changed (or stayed equal); `activate` is true when DRIVER_OK was just
 *   set on a device that is neither FAILED nor in DEVICE_NEEDS_RESET, `featuresRefused` when
 *   FEATURES_OK was asked for and refused.
 * - `ignored`: an illegal transition; the status is unchanged.
 * @example
 * ```ts
 * const r = state.writeStatus(value);
 * if (r.kind === 'reset') resetQueues(); else if (r.kind === 'accepted' && r.activate) activate();
 * ```
 */
export type StatusWriteOutcome =
  | {
      /** The driver wrote 0: reset the queues and call `device.reset()`. */
      readonly kind: 'reset';
    }
  | {
      /** The status changed (or stayed equal). */
      readonly kind: 'accepted';
      /** DRIVER_OK was just set on a device neither FAILED nor in DEVICE_NEEDS_RESET: activate it. */
      readonly activate: boolean;
      /** FEATURES_OK was asked for and refused (the driver's features are not a subset of the offer). */
      readonly featuresRefused: boolean;
    }
  | {
      /** An illegal transition; the status is unchanged. */
      readonly kind: 'ignored';
      /** Why, for a log. */
      readonly reason: string;
    };

/**
 * Plain-data form of a {@link VirtioDeviceState}, from `snapshot()`.
 * @example
 * ```ts
 * const saved: DeviceStateSnapshot = { status: 0x0f, driverFeatures: '0x100000000', configGeneration: 0 };
 * ```
 */
export interface DeviceStateSnapshot {
  /** The device status byte. */
  status: number;
  /** Accepted driver features, as a hex string (bigints are not JSON). */
  driverFeatures: string;
  /** The config generation counter. */
  configGeneration: number;
}

/**
 * Status, negotiated features and config generation of one device, as a transport keeps them.
 * @example
 * ```ts
 * const state = new VirtioDeviceState(device.deviceFeatures, (f) => device.validateFeatures?.(f) ?? true);
 * state.writeStatus(Status.ACKNOWLEDGE);
 * state.writeStatus(Status.ACKNOWLEDGE | Status.DRIVER);
 * state.writeDriverFeatures(1, 1); // VIRTIO_F_VERSION_1
 * state.writeStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
 * (state.status & Status.FEATURES_OK) !== 0; // true: negotiation succeeded
 * ```
 */
export class VirtioDeviceState {
  /** The features the device offers. */
  readonly deviceFeatures: bigint;
  private readonly validate: (driverFeatures: bigint) => boolean;
  private statusValue = 0;
  private driverFeatureSet = 0n;
  private generation = 0;

  /**
   * @param deviceFeatures - the offered feature set; must include VIRTIO_F_VERSION_1.
   * @param validate - the device's own check of the accepted features at FEATURES_OK.
   * @throws TypeError if `deviceFeatures` is not a non-negative bigint.
   * @throws RangeError if it lacks VIRTIO_F_VERSION_1.
   * @example `new VirtioDeviceState(device.deviceFeatures, (f) => device.validateFeatures?.(f) ?? true)`
   */
  constructor(deviceFeatures: bigint, validate: (driverFeatures: bigint) => boolean = () => true) {
    if (typeof deviceFeatures !== 'bigint' || deviceFeatures < 0n) throw new TypeError('VirtioDeviceState: deviceFeatures must be a non-negative bigint');
    if ((deviceFeatures & featureBit(Feature.VERSION_1)) === 0n) throw new RangeError('VirtioDeviceState: deviceFeatures must include VIRTIO_F_VERSION_1 (legacy devices are not offered)');
    this.deviceFeatures = deviceFeatures;
    this.validate = validate;
  }

  /**
   * The device status byte.
   * @example `statusRegister = state.status;`
   */
  get status(): number {
    return this.statusValue;
  }

  /**
   * The features the driver has written so far (accepted once FEATURES_OK is set).
   * @example `state.driverFeatures & ~state.deviceFeatures // bits FEATURES_OK would refuse`
   */
  get driverFeatures(): bigint {
    return this.driverFeatureSet;
  }

  /**
   * The negotiated features: the driver's features once FEATURES_OK is set, else 0n.
   * @example `hasFeature(state.negotiatedFeatures, Feature.EVENT_IDX)`
   */
  get negotiatedFeatures(): bigint {
    return this.statusValue & Status.FEATURES_OK ? this.driverFeatureSet : 0n;
  }

  /**
   * The config generation counter (u32, wraps).
   * @example `configGenerationRegister = state.configGeneration;`
   */
  get configGeneration(): number {
    return this.generation;
  }

  /**
   * Whether DRIVER_OK is set and neither FAILED nor DEVICE_NEEDS_RESET.
   * @example `if (state.isLive) device.queueNotify(index);`
   */
  get isLive(): boolean {
    return (this.statusValue & (Status.DRIVER_OK | Status.FAILED | Status.DEVICE_NEEDS_RESET)) === Status.DRIVER_OK;
  }

  /**
   * Word `select` of the offered features (the transport's DeviceFeatures register).
   * @param select - the DeviceFeaturesSel value (any u32).
   * @returns a u32.
   * @throws RangeError if `select` is not a u32.
   * @example `deviceFeaturesRegister = state.deviceFeatureWord(deviceFeaturesSel);`
   */
  deviceFeatureWord(select: number): number {
    return featureWord(this.deviceFeatures, select);
  }

  /**
   * Word `select` of the driver's features (for transports that let the driver read them back).
   * @param select - the DriverFeaturesSel value (any u32).
   * @returns a u32.
   * @example `state.driverFeatureWord(1) // the high word the driver wrote`
   */
  driverFeatureWord(select: number): number {
    return featureWord(this.driverFeatureSet, select);
  }

  /**
   * A driver write to the DriverFeatures register.
   * @param select - the DriverFeaturesSel value (any u32; words past bit 65535 are ignored).
   * @param value - the u32 written.
   * @returns false when the write is not allowed now (DRIVER not set, FEATURES_OK or FAILED set)
   *   and was ignored, true when recorded.
   * @throws RangeError if `value` is not a u32 (embedder misuse: transports pass register values).
   * @example `if (!state.writeDriverFeatures(driverFeaturesSel, value)) log("DriverFeatures write ignored");`
   */
  writeDriverFeatures(select: number, value: number): boolean {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`writeDriverFeatures: value must be a u32, got ${value}`);
    const s = this.statusValue;
    if (!(s & Status.DRIVER) || s & (Status.FEATURES_OK | Status.FAILED)) return false;
    if (!Number.isInteger(select) || select < 0 || select >= 2048) return false;
    this.driverFeatureSet = withFeatureWord(this.driverFeatureSet, select, value);
    return true;
  }

  /**
   * A driver write to the status register.
   * @param value - the value written (a transport passes the register value; bits above 7 make
   *   the write illegal).
   * @returns what happened; see {@link StatusWriteOutcome}.
   * @example `const outcome = state.writeStatus(value); if (outcome.kind === "ignored") log(outcome.reason);`
   */
  writeStatus(value: number): StatusWriteOutcome {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) return { kind: 'ignored', reason: `status value ${value} is not a u8` };
    if (value === 0) {
      this.reset();
      return { kind: 'reset' };
    }
    const old = this.statusValue;
    if (value & Status.DEVICE_NEEDS_RESET && !(old & Status.DEVICE_NEEDS_RESET)) return { kind: 'ignored', reason: 'the driver cannot set DEVICE_NEEDS_RESET' };
    if (value & ~(DRIVER_BITS | Status.DEVICE_NEEDS_RESET)) return { kind: 'ignored', reason: 'reserved status bits set' };
    const wanted = (value & DRIVER_BITS) | (old & Status.DEVICE_NEEDS_RESET);
    if ((old & wanted) !== old) return { kind: 'ignored', reason: 'the driver cannot clear status bits (write 0 to reset)' };
    if (old & Status.FAILED && wanted !== old) return { kind: 'ignored', reason: 'FAILED is set: only a reset is accepted' };
    const ordered =
      (!(wanted & Status.DRIVER) || wanted & Status.ACKNOWLEDGE) &&
      (!(wanted & Status.FEATURES_OK) || wanted & Status.DRIVER) &&
      (!(wanted & Status.DRIVER_OK) || wanted & Status.FEATURES_OK);
    if (!ordered) return { kind: 'ignored', reason: 'status bits set out of order (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK)' };
    let next = wanted;
    let featuresRefused = false;
    if (wanted & Status.FEATURES_OK && !(old & Status.FEATURES_OK) && !this.featuresAcceptable()) {
      next &= ~(Status.FEATURES_OK | Status.DRIVER_OK);
      featuresRefused = true;
    }
    this.statusValue = next;
    // A device in DEVICE_NEEDS_RESET (set before DRIVER_OK, say by a failed configuration read) or
    // given up on (FAILED) is not started: only a reset brings it back (§2.1.2).
    const activate = (next & Status.DRIVER_OK) !== 0 && !(old & Status.DRIVER_OK) && !(next & (Status.FAILED | Status.DEVICE_NEEDS_RESET));
    return { kind: 'accepted', activate, featuresRefused };
  }

  /**
   * The device entered an error state: set DEVICE_NEEDS_RESET (VIRTIO 1.2 §2.1.2).
   * @returns true when the driver is running (DRIVER_OK) and must be sent a configuration-change
   *   notification; false when the bit was already set or the driver had not finished init.
   * @example `if (state.setNeedsReset()) raiseConfigInterrupt();`
   */
  setNeedsReset(): boolean {
    if (this.statusValue & Status.DEVICE_NEEDS_RESET) return false;
    this.statusValue |= Status.DEVICE_NEEDS_RESET;
    return (this.statusValue & Status.DRIVER_OK) !== 0;
  }

  /**
   * Clear DEVICE_NEEDS_RESET without a reset of the status: for a transport whose frontend
   * restarts the device without a virtio reset (vhost-user, once every ring was stopped).
   * @example `state.clearNeedsReset(); // the frontend stopped and will restart the device`
   */
  clearNeedsReset(): void {
    this.statusValue &= ~Status.DEVICE_NEEDS_RESET;
  }

  /**
   * Features a frontend negotiated for the driver in one step (vhost-user SET_FEATURES), outside
   * the status state machine: accepted when they are a subset of the offered ones with
   * VIRTIO_F_VERSION_1 and the device's own check agrees, whatever the status.
   * @param features - the features accepted.
   * @returns true when recorded as {@link VirtioDeviceState.driverFeatures}; false (unchanged) when refused.
   * @example `if (!state.acceptFeatures(acked)) throw new InvalidParamError("features refused");`
   */
  acceptFeatures(features: bigint): boolean {
    if (typeof features !== 'bigint' || features < 0n) return false;
    if ((features & ~this.deviceFeatures) !== 0n || (features & VERSION_1) === 0n || !this.deviceAccepts(features)) return false;
    this.driverFeatureSet = features;
    return true;
  }

  /**
   * A status reported by a frontend that relays the driver's (vhost-user SET_STATUS), rather than
   * written by the driver itself: recorded as given, without the ordering rules, which frontends do
   * not follow (QEMU adds FEATURES_OK alone, then ACKNOWLEDGE | DRIVER | DRIVER_OK). DEVICE_NEEDS_RESET
   * is kept while set; FEATURES_OK is dropped when the recorded features are not acceptable; 0
   * clears the status and is not a reset (such frontends reset the device by a message of their own).
   * @param value - the status the frontend reports (a u8).
   * @returns `accepted` (with `activate` when DRIVER_OK was just set on a device in neither
   *   FAILED nor DEVICE_NEEDS_RESET), or `ignored` for a value that is not a u8.
   * @example `const outcome = state.recordStatus(Number(msg.value));`
   */
  recordStatus(value: number): StatusWriteOutcome {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) return { kind: 'ignored', reason: `status value ${value} is not a u8` };
    const old = this.statusValue;
    let next = value === 0 ? 0 : (value & ~Status.DEVICE_NEEDS_RESET) | (old & Status.DEVICE_NEEDS_RESET);
    let featuresRefused = false;
    if (next & Status.FEATURES_OK && !(old & Status.FEATURES_OK) && !this.featuresAcceptable()) {
      next &= ~Status.FEATURES_OK;
      featuresRefused = true;
    }
    this.statusValue = next;
    const activate = (next & Status.DRIVER_OK) !== 0 && !(old & Status.DRIVER_OK) && !(next & (Status.FAILED | Status.DEVICE_NEEDS_RESET));
    return { kind: 'accepted', activate, featuresRefused };
  }

  /**
   * Advance the config generation (after any device-initiated config change, VIRTIO 1.2 §2.5.1).
   * @returns the new generation.
   * @example `config.setU64(0, sectors); state.bumpConfigGeneration();`
   */
  bumpConfigGeneration(): number {
    this.generation = (this.generation + 1) >>> 0;
    return this.generation;
  }

  /**
   * Back to the initial state: status 0, no driver features. The generation is kept (it only moves forward).
   * @example `state.reset(); // the host resets the device`
   */
  reset(): void {
    this.statusValue = 0;
    this.driverFeatureSet = 0n;
  }

  /**
   * Plain data for snapshots.
   * @returns a JSON-serialisable copy of the state.
   * @example `const saved = JSON.stringify(state.snapshot());`
   */
  snapshot(): DeviceStateSnapshot {
    return { status: this.statusValue, driverFeatures: '0x' + this.driverFeatureSet.toString(16), configGeneration: this.generation };
  }

  /**
   * Restore from {@link snapshot} data, validated as guest-influenced input.
   * @param data - a snapshot.
   * @throws Device.InvalidSnapshotError if a field is malformed or inconsistent (unknown status
   *   bits, bits out of order, driver features before DRIVER or not offered, FEATURES_OK without
   *   VERSION_1 or with features the device's own check refuses). Nothing changes then.
   * @example
   * ```ts
   * const copy = new VirtioDeviceState(device.deviceFeatures);
   * copy.restore(JSON.parse(JSON.stringify(state.snapshot())));
   * ```
   */
  restore(data: unknown): void {
    if (typeof data !== 'object' || data === null) throw new InvalidSnapshotError('state', 'not an object');
    const { status, driverFeatures, configGeneration } = data as Record<string, unknown>;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 0xff || status & ~(DRIVER_BITS | Status.DEVICE_NEEDS_RESET)) {
      throw new InvalidSnapshotError('status', `status must be a u8 of known bits, got ${String(status)}`);
    }
    if (typeof driverFeatures !== 'string' || driverFeatures.length > 2 + 16384 || !/^0x[0-9a-f]+$/i.test(driverFeatures)) throw new InvalidSnapshotError('driverFeatures', 'must be a hex string like 0x100000000');
    if (typeof configGeneration !== 'number' || !Number.isInteger(configGeneration) || configGeneration < 0 || configGeneration > 0xffff_ffff) {
      throw new InvalidSnapshotError('configGeneration', 'must be a u32');
    }
    const f = BigInt(driverFeatures);
    const ordered =
      (!(status & Status.DRIVER) || status & Status.ACKNOWLEDGE) &&
      (!(status & Status.FEATURES_OK) || status & Status.DRIVER) &&
      (!(status & Status.DRIVER_OK) || status & Status.FEATURES_OK);
    if (!ordered) throw new InvalidSnapshotError('status', 'status bits out of order');
    if (!(status & Status.DRIVER) && f !== 0n) throw new InvalidSnapshotError('driverFeatures', 'driver features without DRIVER in the status');
    // Before FEATURES_OK the driver may have written anything (FEATURES_OK is then refused).
    if (status & Status.FEATURES_OK && (f & ~this.deviceFeatures) !== 0n) throw new InvalidSnapshotError('driverFeatures', 'FEATURES_OK with features the device does not offer');
    if (status & Status.FEATURES_OK && (f & VERSION_1) === 0n) throw new InvalidSnapshotError('driverFeatures', 'FEATURES_OK without VIRTIO_F_VERSION_1');
    if (status & Status.FEATURES_OK && !this.deviceAccepts(f)) throw new InvalidSnapshotError('driverFeatures', `FEATURES_OK with features 0x${f.toString(16)} that the device's own check refuses`);
    this.statusValue = status;
    this.driverFeatureSet = f;
    this.generation = configGeneration;
  }

  private featuresAcceptable(): boolean {
    const f = this.driverFeatureSet;
    if ((f & ~this.deviceFeatures) !== 0n) return false;
    if ((f & VERSION_1) === 0n) return false;
    return this.deviceAccepts(f);
  }

  private deviceAccepts(f: bigint): boolean {
    try {
      return this.validate(f) === true;
    } catch {
      return false;
    }
  }
}
