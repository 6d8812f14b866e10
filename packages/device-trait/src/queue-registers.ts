/**
 * The per-queue registers every register-file transport keeps (VIRTIO 1.2 §4.1.4.3 common
 * configuration, §4.2.2 virtio-mmio registers) and the rules they share: queue fields are written
 * only between FEATURES_OK and DRIVER_OK and never while the queue is enabled; after DRIVER_OK only
 * for a queue the driver reset (VIRTIO_F_RING_RESET, §2.6.1); enabling a queue of a live device
 * starts it; a queue reset stops it and forgets its configuration; a bad configuration found at
 * activation puts the session in DEVICE_NEEDS_RESET (§2.1.2). The transport keeps the encoding
 * (register offsets, widths) and reports what this class refuses.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { QueueConfig, createVirtqueue } from '@vmv/queue';
import type { QueueArea, Virtqueue } from '@vmv/queue';
import { Feature, Status } from './constants.js';
import { hasFeature } from './features.js';
import type { DeviceSession, SessionActivation } from './session.js';

const { FEATURES_OK, DRIVER_OK, FAILED, DEVICE_NEEDS_RESET: NEEDS_RESET } = Status;

/**
 * Why a queue register write was not simply accepted.
 * @example `const r = queues.writeSize(v); if (r?.kind === 'invalid') log.warn(r.message);`
 */
export interface QueueRefusal {
  /** `refused` (nothing changed) or `invalid` (the value is recorded but the queue cannot start until a valid one is written). */
  readonly kind: 'refused' | 'invalid';
  /** What was wrong, for the transport's diagnostic. */
  readonly message: string;
  /** The error behind it, when there is one (the `QueueConfig` error of a bad size or address). */
  readonly cause?: unknown;
}

/**
 * What a queue register write did: null when accepted; otherwise a {@link QueueRefusal}.
 * @example `const r = queues.writeSize(v); if (r !== null) report(r.kind, r.message, r.cause);`
 */
export type QueueWriteRefusal = QueueRefusal | null;

/**
 * One queue's registers, as a transport reports them.
 * @example `const { ready, size } = queues.info(0);`
 */
export interface QueueRegisterInfo {
  /** The device's maximum size. */
  readonly maxSize: number;
  /** The size as last written (maxSize until then). */
  readonly size: number;
  /** Whether the driver enabled the queue. */
  readonly ready: boolean;
  /** Descriptor area address. */
  readonly descTable: number | bigint;
  /** Driver area address. */
  readonly driverArea: number | bigint;
  /** Device area address. */
  readonly deviceArea: number | bigint;
  /** Whether the device is running this queue now. */
  readonly active: boolean;
}

function describe(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.split('\n')[0] : ''}`;
  }
  return String(e);
}

/**
 * The queue table of a register-file transport over a {@link DeviceSession}: one `QueueConfig` per
 * queue, the selector, and the rules above. Call {@link QueueRegisters.featuresOk} from the
 * session's `features-ok` event, {@link QueueRegisters.clear} from its `reset` event, and use
 * {@link QueueRegisters.activation} as the session's `activation`.
 * @example
 * ```ts
 * const queues = new QueueRegisters(session, device.queueMaxSizes, () => memory, 'VirtioPciFunction');
 * queues.select = 0;
 * const refusal = queues.writeSize(256);
 * ```
 */
export class QueueRegisters {
  /** One configuration per queue (a transport's `restore` replaces the entries). */
  readonly configs: QueueConfig[];
  /** Per queue: reset through a queue reset after DRIVER_OK, so it may be configured again. */
  readonly resettable: Uint8Array;
  /** The selected queue (QueueSel, queue_select). */
  select = 0;
  /** VIRTIO_F_RING_RESET negotiated. */
  ringReset = false;
  /** VIRTIO_F_NOTIFICATION_DATA negotiated. */
  notificationData = false;
  private readonly session: DeviceSession;
  private readonly memory: () => GuestMemory;
  private readonly enabledPhrase: string;

  /**
   * @param session - the device session.
   * @param maxSizes - the device's `queueMaxSizes`.
   * @param memory - the guest memory now (read at activation and when a queue is re-enabled).
   * @param label - the transport's name, for the RangeError of a bad maximum.
   * @param enabledPhrase - how the transport names an enabled queue in messages (`QueueReady is 1`).
   * @throws RangeError when a maximum is not a power of two in 1..32768.
   */
  constructor(session: DeviceSession, maxSizes: readonly number[], memory: () => GuestMemory, label: string, enabledPhrase = 'the queue is enabled') {
    this.session = session;
    this.memory = memory;
    this.enabledPhrase = enabledPhrase;
    this.configs = maxSizes.map((max, i) => {
      try {
        return new QueueConfig(max);
      } catch (e) {
        throw new RangeError(`${label}: device.queueMaxSizes[${i}]: ${(e as Error).message}`, { cause: e });
      }
    });
    this.resettable = new Uint8Array(this.configs.length);
  }

  /** The number of queues. @example `queues.count` */
  get count(): number {
    return this.configs.length;
  }

  /** The selected queue's configuration, or undefined when it does not exist. @example `queues.selected?.maxSize ?? 0` */
  get selected(): QueueConfig | undefined {
    return this.configs[this.select];
  }

  /**
   * What the driver configured for queue `index`.
   * @param index - a queue index.
   * @returns its registers.
   * @throws RangeError when the queue does not exist.
   * @example `queues.info(0).ready`
   */
  info(index: number): QueueRegisterInfo {
    const c = Number.isInteger(index) ? this.configs[index] : undefined;
    if (c === undefined) throw new RangeError(`queueInfo: queue ${String(index)} does not exist (the device has ${this.count})`);
    return { maxSize: c.maxSize, size: c.size, ready: c.ready, descTable: c.descTable, driverArea: c.driverArea, deviceArea: c.deviceArea, active: this.session.queue(index) !== null };
  }

  /**
   * FEATURES_OK was accepted: the rings take the negotiated ring features.
   * @param features - the negotiated features.
   * @example `session event 'features-ok' → queues.featuresOk(e.features)`
   */
  featuresOk(features: bigint): void {
    for (const c of this.configs) c.setFeatures(features);
    this.ringReset = hasFeature(features, Feature.RING_RESET);
    this.notificationData = hasFeature(features, Feature.NOTIFICATION_DATA);
  }

  /** Everything a device reset clears (§2.4): every queue, the selector, the negotiated flags. @example `queues.clear()` */
  clear(): void {
    for (const c of this.configs) c.reset();
    this.resettable.fill(0);
    this.select = 0;
    this.ringReset = false;
    this.notificationData = false;
  }

  /**
   * Why a write of a field of the selected queue is refused now, or null when allowed.
   * @param what - the field, for the message.
   * @returns the reason or null.
   * @example `const why = queues.refusal('queue_size write');`
   */
  refusal(what: string): string | null {
    const sel = this.select;
    const c = this.configs[sel];
    if (c === undefined) return `${what}: queue ${sel} does not exist`;
    const s = this.session.status;
    if (!(s & FEATURES_OK)) return `${what} before FEATURES_OK`;
    if (s & FAILED) return `${what} after FAILED`;
    if (s & NEEDS_RESET) return `${what} while DEVICE_NEEDS_RESET is set`;
    if (s & DRIVER_OK && this.resettable[sel] === 0) return `${what} after DRIVER_OK${this.ringReset ? ' (reset the queue first)' : ''}`;
    if (c.ready) return `${what} while ${this.enabledPhrase}`;
    return null;
  }

  /**
   * Writes the selected queue's size. A value past 16 bits is recorded as the invalid size 0, so
   * that the queue cannot start with a size from before the bad write.
   * @param v - the value written.
   * @returns null, or the refusal.
   * @example `queues.writeSize(256)`
   */
  writeSize(v: number): QueueWriteRefusal {
    const why = this.refusal('queue size write');
    if (why !== null) return { kind: 'refused', message: `${why}: ignored` };
    const c = this.configs[this.select]!;
    try {
      c.setSize(v > 0xffff ? 0 : v);
    } catch (e) {
      return { kind: 'invalid', message: `queue ${this.select}: size ${v} is not a valid size (maximum ${c.maxSize}); the queue cannot start until a valid size is written`, cause: e };
    }
    return null;
  }

  /**
   * Writes one 32-bit half of an area address of the selected queue.
   * @param area - which area.
   * @param high - the high half (else the low half).
   * @param v - the u32 written.
   * @returns null, or the refusal.
   * @example `queues.writeArea('descTable', false, 0x1000)`
   */
  writeArea(area: QueueArea, high: boolean, v: number): QueueWriteRefusal {
    const why = this.refusal(`${area} address write`);
    if (why !== null) return { kind: 'refused', message: `${why}: ignored` };
    const c = this.configs[this.select]!;
    if (high) {
      c.setAreaHigh(area, v);
      return null;
    }
    try {
      c.setAreaLow(area, v);
    } catch (e) {
      return { kind: 'invalid', message: `queue ${this.select}: ${area} low half 0x${v.toString(16)} is misaligned; the queue cannot start until an aligned address is written`, cause: e };
    }
    return null;
  }

  /**
   * The driver enables the selected queue. On a live device (a queue re-enabled after a queue
   * reset, §2.6.1.2) the queue starts now.
   * @returns null, or the refusal.
   * @example `queues.enable()`
   */
  enable(): QueueWriteRefusal {
    const c = this.configs[this.select];
    if (c !== undefined && c.ready) return null;
    const why = this.refusal('queue enable');
    if (why !== null) return { kind: 'refused', message: `${why}: ignored` };
    c!.ready = true;
    if (this.session.activated) {
      this.resettable[this.select] = 0;
      const q = this.create(this.select);
      if (q !== null) this.session.enableQueue(this.select, q);
    }
    return null;
  }

  /**
   * The driver takes the selected queue out of service (virtio-mmio QueueReady = 0): the device
   * stops using it; with VIRTIO_F_RING_RESET it may be configured again.
   * @returns null, or the refusal (the queue does not exist).
   * @example `queues.disable()`
   */
  disable(): QueueWriteRefusal {
    const sel = this.select;
    const c = this.configs[sel];
    if (c === undefined) return { kind: 'refused', message: `queue disable: queue ${sel} does not exist: ignored` };
    if (!c.ready) return null;
    c.ready = false;
    if (this.session.queue(sel) !== null && this.ringReset) this.resettable[sel] = 1;
    this.session.resetQueue(sel);
    return null;
  }

  /**
   * The driver resets the selected queue (VIRTIO_F_RING_RESET, §2.6.1.1): the device stops using
   * it and forgets its configuration; it reads as disabled.
   * @returns null, or the refusal.
   * @example `queues.resetSelected()`
   */
  resetSelected(): QueueWriteRefusal {
    if (!this.ringReset) return { kind: 'refused', message: 'queue reset without VIRTIO_F_RING_RESET negotiated: ignored' };
    const sel = this.select;
    const c = this.configs[sel];
    if (c === undefined) return { kind: 'refused', message: `queue reset: queue ${sel} does not exist: ignored` };
    if (this.session.status & (FAILED | NEEDS_RESET)) return { kind: 'refused', message: 'queue reset after FAILED or DEVICE_NEEDS_RESET: ignored (reset the device)' };
    c.reset();
    c.setFeatures(this.session.negotiatedFeatures);
    if (this.session.status & DRIVER_OK) this.resettable[sel] = 1;
    this.session.resetQueue(sel);
    return null;
  }

  /**
   * The session's activation at DRIVER_OK: the enabled queues built over the current memory, or
   * null (and DEVICE_NEEDS_RESET) when one cannot start.
   * @returns the activation or null.
   * @example `new DeviceSession(device, { activation: () => queues.activation(), ... })`
   */
  activation(): SessionActivation | null {
    let memory: GuestMemory;
    try {
      memory = this.memory();
    } catch (e) {
      // a memory source with nothing to give (a vfio-user client that mapped no DMA memory)
      this.session.needsReset(e, `guest memory cannot be reached: ${describe(e)}`);
      return null;
    }
    const queues: (Virtqueue | null)[] = [];
    for (let i = 0; i < this.count; i++) {
      if (!this.configs[i]!.ready) {
        queues.push(null);
        continue;
      }
      const q = this.create(i, memory);
      if (q === null) return null;
      queues.push(q);
    }
    return { memory, queues };
  }

  /** Builds the device side of queue `index`; on a bad configuration (or no memory to build it in) enters NEEDS_RESET and returns null. */
  private create(index: number, memory?: GuestMemory): Virtqueue | null {
    try {
      return createVirtqueue(memory ?? this.memory(), this.configs[index]!);
    } catch (e) {
      this.session.needsReset(e, `queue ${index} cannot start: ${describe(e)}`);
      return null;
    }
  }
}
