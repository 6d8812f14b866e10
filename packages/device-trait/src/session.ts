/**
 * One device session, whatever the transport (VIRTIO 1.2 §2.1 status, §2.1.2 DEVICE_NEEDS_RESET,
 * §2.5.1 config generation, §2.6.1 virtqueue reset, §3.1.1 initialization): the status and
 * feature negotiation ({@link VirtioDeviceState}), the table of queues a device runs, guarded
 * activation and every way a device leaves service (reset, needs-reset, a failed activation or
 * queue hook). A transport keeps only what is its own (registers, messages, interrupt delivery)
 * and hands the rest to a {@link DeviceSession}, so the device contract is enforced in one place.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import type { Virtqueue } from '@vmv/queue';
import { Status } from './constants.js';
import type { ActivationContext, InterruptHandle, VirtioDevice } from './device.js';
import { VirtioDeviceState } from './status.js';
import type { DeviceStateSnapshot, StatusWriteOutcome } from './status.js';

const DRIVER_OK = Status.DRIVER_OK;
const FAILED = Status.FAILED;
const NEEDS_RESET = Status.DEVICE_NEEDS_RESET;

/**
 * What a device is started with: guest memory and one entry per declared queue (null for a queue
 * the driver left disabled).
 * @example `const activation: SessionActivation = { memory, queues: [createVirtqueue(memory, config)] };`
 */
export interface SessionActivation {
  /** Guest memory, valid until the session is reset. */
  readonly memory: GuestMemory;
  /** One entry per queue of `device.queueMaxSizes`. */
  readonly queues: readonly (Virtqueue | null)[];
}

/**
 * What a {@link DeviceSession} tells its transport, synchronously, as it happens:
 * - `features-ok`: FEATURES_OK was just accepted with `features` (configure the rings with them);
 * - `activated`: the device accepted its activation context;
 * - `needs-reset`: the session entered DEVICE_NEEDS_RESET (`cause` is what went wrong);
 * - `needs-reset-announced`: DRIVER_OK was set on a session already in DEVICE_NEEDS_RESET: the
 *   device was not started and the driver, running now, was sent a configuration change;
 * - `reset-failed`: the device threw from `reset()`; the session was reset all the same;
 * - `reset`: the session was reset (or deactivated): clear what the transport holds for it.
 * @example
 * ```ts
 * const onEvent = (e: SessionEvent) => { if (e.type === 'needs-reset') log.warn(e.message); };
 * ```
 */
export type SessionEvent =
  | {
      /** FEATURES_OK was accepted. */
      readonly type: 'features-ok';
      /** The negotiated features, to configure the rings with. */
      readonly features: bigint;
    }
  | {
      /** The device accepted its activation context. */
      readonly type: 'activated';
    }
  | {
      /** The session entered DEVICE_NEEDS_RESET. */
      readonly type: 'needs-reset';
      /** What went wrong, for a log. */
      readonly message: string;
      /** The error that caused it. */
      readonly cause: unknown;
    }
  | {
      /** DRIVER_OK on a session already in DEVICE_NEEDS_RESET; the driver was sent a configuration change. */
      readonly type: 'needs-reset-announced';
      /** Why the device needs a reset, for a log. */
      readonly message: string;
    }
  | {
      /** The device threw from `reset()`; the session was reset all the same. */
      readonly type: 'reset-failed';
      /** What went wrong, for a log. */
      readonly message: string;
      /** What `reset()` threw. */
      readonly cause: unknown;
    }
  | {
      /** The session was reset or deactivated. */
      readonly type: 'reset';
    };

/**
 * The transport-specific half of a {@link DeviceSession}: what only the transport knows how to do.
 * @example
 * ```ts
 * const transport: SessionTransport = {
 *   activation: () => ({ memory, queues: rings.map((r) => r.queue) }),
 *   signalUsedBuffer: (i) => rings[i]!.call(),
 *   signalConfigChange: () => raise(InterruptReason.CONFIG_CHANGE),
 * };
 * ```
 */
export interface SessionTransport {
  /**
   * The memory and queues to start the device with, built now (at DRIVER_OK, or when the
   * transport calls {@link DeviceSession.activate}).
   * @returns them, or null when the device cannot start now (the transport has said why, for
   *   example through {@link DeviceSession.needsReset} for a queue the driver configured badly).
   */
  activation(): SessionActivation | null;
  /**
   * Deliver a used-buffer interrupt for queue `queueIndex` (a valid, running queue of the current
   * activation: the session has checked).
   */
  signalUsedBuffer(queueIndex: number): void;
  /** Deliver a configuration change interrupt (the session has bumped the generation). */
  signalConfigChange(): void;
  /**
   * Take `queue` away from the device for good (a device reset, a queue reset, a failed
   * activation), so that completions of chains popped from it are dropped (see `Virtqueue`, "Late
   * completions"). Default: `queue.reset()`.
   */
  retireQueue?(queueIndex: number, queue: Virtqueue): void;
  /** Told about every {@link SessionEvent}, synchronously. */
  event?(event: SessionEvent): void;
}

/**
 * Options of a {@link DeviceSession}.
 * @example `const options: DeviceSessionOptions = { offeredFeatures: device.deviceFeatures & ~UNSUPPORTED };`
 */
export interface DeviceSessionOptions {
  /** The features offered (default `device.deviceFeatures`); a transport masks what it cannot carry. */
  readonly offeredFeatures?: bigint;
  /**
   * `driver` (default): status and features come from the driver's own register writes and follow
   * {@link VirtioDeviceState}'s rules (`writeStatus`, `writeDriverFeatures`). `frontend`: a frontend
   * relays them (vhost-user SET_FEATURES, SET_STATUS): features are taken whole by `acceptFeatures`
   * and negotiated from then on, `writeStatus` records the status without the ordering rules and
   * writing 0 is not a reset (the frontend resets by a message of its own: call `reset()`).
   */
  readonly negotiation?: 'driver' | 'frontend';
}

/**
 * One line for a diagnostic message: `Name: first line of the message`.
 * @param e - anything thrown or reported.
 * @returns the line.
 */
function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.split('\n')[0] : ''}`;
  }
  return String(e);
}

/**
 * A transport-independent device session: the status, features and config generation of one
 * {@link VirtioDevice}, the queues it runs, and the rules both transports (virtio-mmio in process,
 * vhost-user out of process) must apply identically:
 * - activation hands the device an {@link ActivationContext} whose interrupts and `needsReset`
 *   are inert once the session is reset or re-activated (an epoch guard), and whose
 *   `signalUsedBuffer` throws RangeError for a queue the device does not have;
 * - anything the device throws (activate, queueNotify, queueReset, queueEnable, a configuration
 *   access) puts the session in DEVICE_NEEDS_RESET, never out of the transport; `reset()` throwing
 *   is reported and the reset completes;
 * - DEVICE_NEEDS_RESET is entered once, with a configuration change when the driver is running;
 * - every queue the device was given is retired (reset) when the device or the queue is reset, so
 *   late completions are dropped by the queue, never written into a ring the driver took back.
 *
 * @example
 * ```ts
 * const session = new DeviceSession(device, {
 *   activation: () => ({ memory, queues: configs.map((c) => (c.ready ? createVirtqueue(memory, c) : null)) }),
 *   signalUsedBuffer: () => raise(InterruptReason.USED_BUFFER),
 *   signalConfigChange: () => raise(InterruptReason.CONFIG_CHANGE),
 * });
 * session.attach();
 * session.writeStatus(Status.ACKNOWLEDGE); // ... FEATURES_OK, then DRIVER_OK activates the device
 * session.notify(0); // a QueueNotify write
 * ```
 */
export class DeviceSession {
  /** The device served. */
  readonly device: VirtioDevice;
  /** Number of queues the device declares. */
  readonly queueCount: number;
  /** How status and features are negotiated (see {@link DeviceSessionOptions.negotiation}). */
  readonly negotiation: 'driver' | 'frontend';
  private readonly transport: SessionTransport;
  private readonly state: VirtioDeviceState;
  /** Incremented whenever contexts handed out so far must go dead (reset, activation, failed activation). */
  private epoch = 0;
  /** The queues array of the current activation (also `ctx.queues`), or null when not activated. */
  private live: (Virtqueue | null)[] | null = null;
  private cause: unknown = undefined;

  /**
   * @param device - the device served.
   * @param transport - the transport-specific half; see {@link SessionTransport}.
   * @param options - offered features and negotiation style.
   * @throws TypeError when `device` or `transport` has the wrong shape, or the offered features
   *   are not a non-negative bigint.
   * @throws RangeError when the offered features lack VIRTIO_F_VERSION_1.
   */
  constructor(device: VirtioDevice, transport: SessionTransport, options: DeviceSessionOptions = {}) {
    if (typeof device !== 'object' || device === null || !Array.isArray(device.queueMaxSizes)) throw new TypeError('DeviceSession: device must be a VirtioDevice');
    for (const m of ['activation', 'signalUsedBuffer', 'signalConfigChange'] as const) {
      if (typeof transport?.[m] !== 'function') throw new TypeError(`DeviceSession: transport.${m} must be a function`);
    }
    const negotiation = options.negotiation ?? 'driver';
    if (negotiation !== 'driver' && negotiation !== 'frontend') throw new TypeError(`DeviceSession: negotiation must be 'driver' or 'frontend', got ${String(negotiation)}`);
    this.device = device;
    this.transport = transport;
    this.negotiation = negotiation;
    this.queueCount = device.queueMaxSizes.length;
    const offered = options.offeredFeatures ?? device.deviceFeatures;
    this.state = new VirtioDeviceState(offered, (f) => (device.validateFeatures ? device.validateFeatures(f) : true));
  }

  // ---------------------------------------------------------------- state

  /**
   * The device status byte.
   * @example `statusRegister = session.status;`
   */
  get status(): number {
    return this.state.status;
  }

  /**
   * The features offered to the driver.
   * @example `hasFeature(session.offeredFeatures, Feature.RING_RESET)`
   */
  get offeredFeatures(): bigint {
    return this.state.deviceFeatures;
  }

  /**
   * The features the driver (or frontend) has written so far.
   * @example `session.driverFeatures.toString(16)`
   */
  get driverFeatures(): bigint {
    return this.state.driverFeatures;
  }

  /**
   * The negotiated features: what the device is activated with. `driver` negotiation: the
   * driver's features once FEATURES_OK is set, else 0n; `frontend`: what `acceptFeatures` took.
   * @example `hasFeature(session.negotiatedFeatures, Feature.EVENT_IDX)`
   */
  get negotiatedFeatures(): bigint {
    return this.negotiation === 'frontend' ? this.state.driverFeatures : this.state.negotiatedFeatures;
  }

  /**
   * The config generation counter (u32).
   * @example `configGenerationRegister = session.configGeneration;`
   */
  get configGeneration(): number {
    return this.state.configGeneration;
  }

  /**
   * Whether the device is activated (and not reset since).
   * @example `if (session.activated) session.notify(0);`
   */
  get activated(): boolean {
    return this.live !== null;
  }

  /**
   * What put the session in DEVICE_NEEDS_RESET (the first cause), for diagnostics; undefined when
   * it is not in that state.
   * @example `if (session.status & Status.DEVICE_NEEDS_RESET) log.warn(session.needsResetCause);`
   */
  get needsResetCause(): unknown {
    return this.cause;
  }

  /**
   * Word `select` of the offered features (a DeviceFeatures register).
   * @param select - the selector (any u32).
   * @returns a u32.
   * @example `deviceFeaturesRegister = session.deviceFeatureWord(deviceFeaturesSel);`
   */
  deviceFeatureWord(select: number): number {
    return this.state.deviceFeatureWord(select);
  }

  /**
   * The running queue `index` of the current activation.
   * @param index - a queue index.
   * @returns the queue, or null when the session is not activated or the queue is not running.
   * @example `session.queue(0)?.saveState()`
   */
  queue(index: number): Virtqueue | null {
    return this.live?.[index] ?? null;
  }

  // ---------------------------------------------------------------- negotiation

  /**
   * A driver write of a DriverFeatures word (`driver` negotiation).
   * @param select - the DriverFeaturesSel value.
   * @param value - the u32 written.
   * @returns false when the write is not allowed now and was ignored.
   * @throws RangeError if `value` is not a u32.
   * @example `if (!session.writeDriverFeatures(sel, value)) report("DriverFeatures write ignored");`
   */
  writeDriverFeatures(select: number, value: number): boolean {
    return this.state.writeDriverFeatures(select, value);
  }

  /**
   * Features a frontend negotiated in one step (`frontend` negotiation; vhost-user SET_FEATURES):
   * taken when they are a subset of the offered ones with VIRTIO_F_VERSION_1 that the device's
   * `validateFeatures` accepts.
   * @param features - the device features the frontend accepted (transport-only bits removed).
   * @returns true when taken, false when refused (nothing changes).
   * @example `if (!session.acceptFeatures(acked & ~VHOST_ONLY)) throw new InvalidParamError("features refused");`
   */
  acceptFeatures(features: bigint): boolean {
    return this.state.acceptFeatures(features);
  }

  /**
   * A status write: the driver's (`driver` negotiation, with {@link VirtioDeviceState}'s rules) or
   * what a frontend relays (`frontend`, recorded as given). Writing 0 resets the session
   * (`driver` only). FEATURES_OK accepted raises `features-ok`; DRIVER_OK accepted activates the
   * device (asking the transport for its memory and queues); DRIVER_OK on a session already in
   * DEVICE_NEEDS_RESET starts nothing and sends the now running driver a configuration change.
   * @param value - the status written.
   * @returns what happened; `ignored` and `featuresRefused` are for the transport to report.
   * @example `const outcome = session.writeStatus(value); if (outcome.kind === "ignored") report(outcome.reason);`
   */
  writeStatus(value: number): StatusWriteOutcome {
    const before = this.state.status;
    const outcome = this.negotiation === 'frontend' ? this.state.recordStatus(value) : this.state.writeStatus(value);
    if (outcome.kind === 'reset') {
      this.reset();
      return outcome;
    }
    if (outcome.kind === 'ignored') return outcome;
    const after = this.state.status;
    if (after & Status.FEATURES_OK && !(before & Status.FEATURES_OK)) this.emit({ type: 'features-ok', features: this.negotiatedFeatures });
    if (outcome.activate) this.activate();
    else if (after & DRIVER_OK && !(before & DRIVER_OK) && after & NEEDS_RESET && this.live === null) {
      // DEVICE_NEEDS_RESET came before the driver was running (a configuration access the device
      // failed, say): the device is not started, and the driver, running now, is told (§2.1.2).
      this.emit({ type: 'needs-reset-announced', message: 'DRIVER_OK while DEVICE_NEEDS_RESET is set: the device is not started; configuration change interrupt sent' });
      this.transport.signalConfigChange();
    }
    return outcome;
  }

  // ---------------------------------------------------------------- activation

  /**
   * Starts the device: builds its {@link ActivationContext} and calls `device.activate`. `writeStatus`
   * calls it at DRIVER_OK; a transport that starts devices on its own schedule (vhost-user, at
   * the first kick) calls it itself. Without `given`, the transport's `activation()` supplies
   * memory and queues, and a session in DEVICE_NEEDS_RESET is not started. With `given` (a
   * restored snapshot of a running device), the device is started with those, whatever the status.
   * A device that throws is not running: its context is dead, its queues retired, and the session
   * enters DEVICE_NEEDS_RESET.
   * @param given - memory and queues to start with instead of asking the transport.
   * @returns true when the device is activated (now or already), false when it did not start.
   * @throws RangeError when the queues do not match the device's queue count.
   * @example `if (!session.activate()) pendingKick = true;`
   */
  activate(given?: SessionActivation): boolean {
    if (this.live !== null) return true;
    if (given === undefined && this.state.status & NEEDS_RESET) return false;
    const activation = given ?? this.transport.activation();
    if (activation === null || this.live !== null) return this.live !== null;
    if (activation.queues.length !== this.queueCount) throw new RangeError(`DeviceSession.activate: ${activation.queues.length} queues given, the device has ${this.queueCount}`);
    const epoch = ++this.epoch;
    const queues = activation.queues.slice();
    const interrupt: InterruptHandle = {
      signalUsedBuffer: (queueIndex: number) => {
        if (!Number.isInteger(queueIndex) || queueIndex < 0 || queueIndex >= this.queueCount) throw new RangeError(`signalUsedBuffer: queue ${String(queueIndex)} does not exist`);
        // §2.6.1.1: no notification for a queue the driver reset; none at all after a device reset.
        if (epoch !== this.epoch || (this.live?.[queueIndex] ?? null) === null) return;
        this.transport.signalUsedBuffer(queueIndex);
      },
      signalConfigChange: () => {
        if (epoch === this.epoch) this.configChanged();
      },
    };
    const context: ActivationContext = {
      memory: activation.memory,
      queues,
      features: this.negotiatedFeatures,
      interrupt,
      needsReset: (reason: unknown) => {
        if (epoch === this.epoch) this.needsReset(reason);
      },
    };
    this.live = queues;
    try {
      this.device.activate(context);
    } catch (e) {
      if (epoch !== this.epoch) return false;
      this.drop();
      this.needsReset(e, `the device refused activation: ${describe(e)}`);
      return false;
    }
    if (epoch !== this.epoch) return false;
    this.emit({ type: 'activated' });
    return true;
  }

  /**
   * The device hit an error only a reset cures: set DEVICE_NEEDS_RESET, record `cause`, and send a
   * configuration change when the driver is running (VIRTIO 1.2 §2.1.2). Further calls until the
   * next reset are ignored. What `ctx.needsReset` does for a device; transports call it for what
   * they find themselves (a queue configured badly).
   * @param cause - what went wrong (a Queue.* error, say).
   * @param message - the diagnostic line (default: "the device reported an error: …").
   * @example `catch (e) { session.needsReset(e, \`queue ${i} cannot start\`); }`
   */
  needsReset(cause: unknown, message?: string): void {
    if (this.state.status & NEEDS_RESET) return;
    const notify = this.state.setNeedsReset();
    this.cause = cause;
    this.emit({ type: 'needs-reset', message: message ?? `the device reported an error: ${describe(cause)}`, cause });
    if (notify) this.transport.signalConfigChange();
  }

  /**
   * The device changed its configuration on its own (what `DeviceHost.configChanged` and
   * `ctx.interrupt.signalConfigChange` do): bump the generation, and notify the driver if it is
   * running.
   * @example `session.configChanged();`
   */
  configChanged(): void {
    this.state.bumpConfigGeneration();
    if (this.state.status & DRIVER_OK || this.live !== null) this.transport.signalConfigChange();
  }

  /**
   * Gives the device its {@link DeviceHost} (`device.attach`), routed to this session. Call it once,
   * before anything else, when this session is the only one the device will have; a transport that
   * serves a device over several sessions in turn attaches once and routes to the current one.
   * @example `session.attach();`
   */
  attach(): void {
    this.device.attach?.({ configChanged: () => this.configChanged() });
  }

  // ---------------------------------------------------------------- queues

  /**
   * A notification for queue `index`, passed to the device when it is running and the queue is
   * enabled. An exception from the device puts the session in DEVICE_NEEDS_RESET.
   * @param index - the queue notified.
   * @param data - the notification data (VIRTIO_F_NOTIFICATION_DATA negotiated), else undefined.
   * @returns null when delivered, or why not ("before DRIVER_OK", ...) for the transport to report.
   * @example `const why = session.notify(index); if (why !== null) report(\`QueueNotify ${why}: ignored\`);`
   */
  notify(index: number, data?: number): string | null {
    const s = this.state.status;
    const live = this.live;
    if (live === null || s & (NEEDS_RESET | FAILED) || (this.negotiation === 'driver' && !(s & DRIVER_OK))) {
      if (this.negotiation === 'driver' && !(s & DRIVER_OK)) return 'before DRIVER_OK';
      return s & NEEDS_RESET ? 'while DEVICE_NEEDS_RESET is set' : s & FAILED ? 'after FAILED' : 'while the device is not activated';
    }
    if ((live[index] ?? null) === null) return `for queue ${index}, which is not enabled`;
    const epoch = this.epoch;
    try {
      if (data === undefined) this.device.queueNotify(index);
      else this.device.queueNotify(index, data);
    } catch (e) {
      if (epoch === this.epoch) this.needsReset(e, `the device failed handling a notification of queue ${index}: ${describe(e)}`);
    }
    return null;
  }

  /**
   * Takes running queue `index` out of service (a virtqueue reset, QueueReady = 0): the queue is
   * retired (its late completions are dropped), `ctx.queues[index]` becomes null, and the device's
   * `queueReset` is called; its exception puts the session in DEVICE_NEEDS_RESET.
   * @param index - the queue.
   * @returns whether the queue was running.
   * @throws RangeError for a queue the device does not have.
   * @example `if (session.resetQueue(sel) && ringReset) resettable[sel] = 1;`
   */
  resetQueue(index: number): boolean {
    this.checkIndex('resetQueue', index);
    if (!this.retire(index)) return false;
    if (this.device.queueReset !== undefined) {
      const epoch = this.epoch;
      try {
        this.device.queueReset(index);
      } catch (e) {
        if (epoch === this.epoch) this.needsReset(e, `the device failed taking queue ${index} out of service: ${describe(e)}`);
      }
    }
    return true;
  }

  /**
   * Puts `queue` in service as queue `index` of the running device (re-enabled after a virtqueue
   * reset, §2.6.1.2, or a ring the transport started after activation): it becomes
   * `ctx.queues[index]` and the device's `queueEnable` is called; its exception puts the session in
   * DEVICE_NEEDS_RESET. A queue still running at `index` is reset first.
   * @param index - the queue.
   * @param queue - its new virtqueue.
   * @returns false when the device is not activated (nothing done).
   * @throws RangeError for a queue the device does not have.
   * @example `const q = createVirtqueue(memory, config); session.enableQueue(sel, q);`
   */
  enableQueue(index: number, queue: Virtqueue): boolean {
    this.checkIndex('enableQueue', index);
    if (this.live === null) return false;
    if (this.live[index] !== null) this.resetQueue(index);
    if (this.live === null) return false;
    this.live[index] = queue;
    if (this.device.queueEnable !== undefined) {
      const epoch = this.epoch;
      try {
        this.device.queueEnable(index, queue);
      } catch (e) {
        if (epoch === this.epoch) this.needsReset(e, `the device failed starting queue ${index} again: ${describe(e)}`);
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- configuration space

  /**
   * `device.readConfig` of a range the transport has checked; an exception reads zeros and puts
   * the session in DEVICE_NEEDS_RESET.
   * @param offset - byte offset in the configuration space.
   * @param data - filled with the bytes read.
   * @example `session.readConfig(offset - 0x100, data);`
   */
  readConfig(offset: number, data: Uint8Array): void {
    try {
      this.device.readConfig(offset, data);
    } catch (e) {
      data.fill(0);
      this.needsReset(e, `the device failed a configuration read at 0x${offset.toString(16)}: ${describe(e)}`);
    }
  }

  /**
   * `device.writeConfig` of a range the transport has checked; an exception puts the session in
   * DEVICE_NEEDS_RESET.
   * @param offset - byte offset in the configuration space.
   * @param data - the bytes written.
   * @example `session.writeConfig(offset - 0x100, data);`
   */
  writeConfig(offset: number, data: Uint8Array): void {
    try {
      this.device.writeConfig(offset, data);
    } catch (e) {
      this.needsReset(e, `the device failed a configuration write at 0x${offset.toString(16)}: ${describe(e)}`);
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * A device reset (the driver wrote 0, the host resets the VM, the transport goes away): contexts
   * handed out go dead, the queues the device had are retired first (what it completes from now
   * on is dropped, never written), then `device.reset()` (an exception is reported as
   * `reset-failed` and the reset completes), then the status, features and DEVICE_NEEDS_RESET are
   * cleared (the generation is kept).
   * @example `session.reset();`
   */
  reset(): void {
    this.drop();
    this.resetDevice();
    this.state.reset();
    this.cause = undefined;
    this.emit({ type: 'reset' });
  }

  /**
   * Ends the device's activation without a virtio reset of the negotiation, for a frontend that
   * stops and later restarts the device itself (vhost-user, once every ring was stopped): as
   * {@link DeviceSession.reset}, but the status (less DEVICE_NEEDS_RESET) and features are kept.
   * @returns false when the device was not activated (nothing done).
   * @example `if (rings.every((r) => !r.started)) session.deactivate();`
   */
  deactivate(): boolean {
    if (this.live === null) return false;
    this.drop();
    this.resetDevice();
    this.state.clearNeedsReset();
    this.cause = undefined;
    this.emit({ type: 'reset' });
    return true;
  }

  /**
   * Settles when I/O the device started before its last reset has finished touching guest memory
   * (`device.drain()`); at once for a device without it. Never rejects; a transport that cannot
   * wait forever races it against its own timeout.
   * @returns a promise of the drain.
   * @example `session.reset(); await session.drain(); unmapGuestMemory();`
   */
  drain(): Promise<void> {
    const drain = this.device.drain;
    if (typeof drain !== 'function') return Promise.resolve();
    try {
      return Promise.resolve(drain.call(this.device)).then(
        () => undefined,
        () => undefined,
      );
    } catch {
      return Promise.resolve();
    }
  }

  // ---------------------------------------------------------------- snapshot

  /**
   * The status, driver features and config generation as plain data (the queues' positions are
   * `queue(i).saveState()`).
   * @returns a JSON-serialisable copy.
   * @example `const saved = session.snapshotState();`
   */
  snapshotState(): DeviceStateSnapshot {
    return this.state.snapshot();
  }

  /**
   * Checks `data` as {@link DeviceSession.restoreState} would, changing nothing.
   * @param data - a snapshot (any JSON-parsed value).
   * @returns the negotiated features it holds.
   * @throws Device.InvalidSnapshotError when it cannot be restored on this session.
   * @example `const features = session.checkState(saved.state); // before committing anything else`
   */
  checkState(data: unknown): bigint {
    const scratch = new VirtioDeviceState(this.state.deviceFeatures, (f) => (this.device.validateFeatures ? this.device.validateFeatures(f) : true));
    scratch.restore(data);
    return this.negotiation === 'frontend' ? scratch.driverFeatures : scratch.negotiatedFeatures;
  }

  /**
   * Restores {@link DeviceSession.snapshotState} data onto a session that is not activated (reset
   * it first); `activate(given)` then restarts a device that was running.
   * @param data - a snapshot (any JSON-parsed value), validated as untrusted input.
   * @throws Device.InvalidSnapshotError when a field is malformed or inconsistent (nothing changes).
   * @throws TypeError when the session is activated.
   * @example `session.reset(); session.restoreState(saved); session.activate({ memory, queues });`
   */
  restoreState(data: unknown): void {
    if (this.live !== null) throw new TypeError('DeviceSession.restoreState: the session is activated (reset it first)');
    this.state.restore(data);
    this.cause = undefined;
  }

  // ---------------------------------------------------------------- internals

  private checkIndex(what: string, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.queueCount) throw new RangeError(`DeviceSession.${what}: queue ${String(index)} does not exist (the device has ${this.queueCount})`);
  }

  /** Retires running queue `index`, if any. */
  private retire(index: number): boolean {
    const live = this.live;
    const q = live?.[index] ?? null;
    if (q === null) return false;
    live![index] = null;
    if (this.transport.retireQueue !== undefined) this.transport.retireQueue(index, q);
    else q.reset();
    return true;
  }

  /** Kills the contexts handed out and retires every queue of the activation. */
  private drop(): void {
    this.epoch++;
    if (this.live === null) return;
    for (let i = 0; i < this.queueCount; i++) this.retire(i);
    this.live = null;
  }

  private resetDevice(): void {
    try {
      this.device.reset();
    } catch (e) {
      this.emit({ type: 'reset-failed', message: `the device threw from reset(); the transport completed the reset anyway: ${describe(e)}`, cause: e });
    }
  }

  private emit(event: SessionEvent): void {
    this.transport.event?.(event);
  }
}
