/**
 * The VirtioDevice interface (VIRTIO 1.2 §2 "Basic Facilities of a Virtio Device", §3 "General
 * Initialization And Device Operation"): what every @vmv device implements once, and every
 * transport (in-process virtio-mmio, out-of-process vhost-user) serves unchanged.
 *
 * Division of labour:
 * - the **transport** runs the device status, feature negotiation, config generation and
 *   activation through a {@link DeviceSession} (the same rules on every transport), builds the virtqueues from what the driver configured, and turns
 *   notifications into interrupts (an interrupt line, a call eventfd, an MSI vector);
 * - the **device** describes itself (ID, offered features, queues, config space), and once
 *   activated processes its queues when notified ({@link serveQueue} runs the loop).
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import type { Virtqueue } from '@vmv/queue';

/**
 * How an activated device notifies the driver. Implemented by transports.
 * @example
 * ```ts
 * if (queue.needsNotification()) ctx.interrupt.signalUsedBuffer(0);
 * ```
 */
export interface InterruptHandle {
  /**
   * A used-buffer notification for queue `queueIndex` (VIRTIO 1.2 §2.3). Call it after adding
   * used elements when the queue's `needsNotification()` says the driver wants one.
   * @param queueIndex - the queue with new used buffers.
   * @throws RangeError for a queue the device does not have (a device bug).
   * @example `if (q.needsNotification()) ctx.interrupt.signalUsedBuffer(0);`
   */
  signalUsedBuffer(queueIndex: number): void;
  /**
   * A configuration-change notification (VIRTIO 1.2 §2.5); the transport also bumps the config generation.
   * @example `this.config.setU64(0, sectors); ctx.interrupt.signalConfigChange();`
   */
  signalConfigChange(): void;
}

/**
 * What a transport hands a device when the driver sets DRIVER_OK.
 * @example
 * ```ts
 * activate(ctx: ActivationContext) { this.memory = ctx.memory; this.rx = ctx.queues[0] ?? null; }
 * ```
 */
export interface ActivationContext {
  /** Guest physical memory; valid until the device is reset. */
  readonly memory: GuestMemory;
  /**
   * One entry per queue the device declared (same index as `queueMaxSizes`): the queue the driver
   * configured and enabled, or null for a queue the driver left disabled.
   */
  readonly queues: readonly (Virtqueue | null)[];
  /** The negotiated feature set (device features the driver accepted). */
  readonly features: bigint;
  /** Used-buffer and config-change notifications. */
  readonly interrupt: InterruptHandle;
  /**
   * Report that the device hit an error it cannot recover from without a reset (for example a
   * queue the guest corrupted). The transport sets DEVICE_NEEDS_RESET and sends a
   * configuration-change notification (VIRTIO 1.2 §2.1.2). Further calls are ignored.
   * @param reason - what went wrong (a Queue.* error, say), for the embedder's diagnostics.
   * @example `catch (e) { if (isQueueError(e)) ctx.needsReset(e); else throw e; }`
   */
  needsReset(reason: unknown): void;
}

/**
 * Where a device reports changes it makes on its own, at any time (activated or not), for example
 * a resized disk. Given to the device by the transport that serves it, through
 * {@link VirtioDevice.attach}.
 * @example
 * ```ts
 * attach(host: DeviceHost) { this.host = host; }
 * resize(sectors: bigint) { this.config.setU64(0, sectors); this.host?.configChanged(); }
 * ```
 */
export interface DeviceHost {
  /**
   * The config space changed: bump the generation, and notify the driver if it is running.
   * @example `this.config.setU64(0, sectors); this.host?.configChanged();`
   */
  configChanged(): void;
}

/**
 * A shared memory region the device exposes (VIRTIO 1.2 §2.10), identified by `id`.
 * The transport (or its embedder) places it in guest physical memory.
 * @example
 * ```ts
 * const cache: SharedMemoryRegion = { id: 0, length: 0x100_0000 };
 * ```
 */
export interface SharedMemoryRegion {
  /** Region ID, as the device type defines it (the transport's SHMSel value). */
  readonly id: number;
  /** Length in bytes. */
  readonly length: number | bigint;
}

/**
 * A virtio device, independent of any transport.
 *
 * Lifecycle: `attach` (once, optional) → any number of driver sessions, each being config
 * reads/writes, then `activate` (DRIVER_OK), `queueNotify` calls (with `queueReset` /
 * `queueEnable` when the driver resets a queue), and `reset` (the driver wrote 0 to the status,
 * or the transport went away). After `reset` the device must not touch guest memory or the queues
 * it was given, including from I/O still completing: it drops them.
 *
 * Completions that arrive late anyway are safe at the queue (the `Virtqueue` documentation,
 * "Errors" and "Late completions", says it once): transports reset the queues they gave a device
 * when it or the queue is reset, and `addUsed(chain, len)` of a chain popped before a reset is
 * dropped, as is any completion on a queue the guest broke (only `pop()` throws
 * `Queue.BrokenError`, where the device reports DEVICE_NEEDS_RESET through `ctx.needsReset`).
 * Pass the chain, not its head, when a completion may outlive a reset; a stale chain's cursors
 * still throw, since its buffers may be the guest's again.
 *
 * @example
 * ```ts
 * // A device that answers every request on its one queue with zero bytes written.
 * class NullDevice implements VirtioDevice {
 *   readonly deviceId = 0x7fff;
 *   readonly deviceFeatures = featureBit(Feature.VERSION_1);
 *   readonly queueMaxSizes = [256];
 *   readonly configSize = 0;
 *   private ctx: ActivationContext | null = null;
 *   readConfig(_offset: number, data: Uint8Array) { data.fill(0); }
 *   writeConfig() {}
 *   activate(ctx: ActivationContext) { this.ctx = ctx; }
 *   queueNotify(index: number) {
 *     if (this.ctx) serveQueue(this.ctx, index, (chain, served) => served.complete(chain, 0));
 *   }
 *   reset() { this.ctx = null; }
 * }
 * ```
 */
export interface VirtioDevice {
  /** The virtio device ID (see {@link DeviceId}). */
  readonly deviceId: number;
  /**
   * Every feature the device offers, device-specific and reserved bits alike. Must include
   * VIRTIO_F_VERSION_1: `@vmv` offers no legacy interface.
   */
  readonly deviceFeatures: bigint;
  /** The maximum size of each queue; the array's length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Size in bytes of the device-specific configuration space. */
  readonly configSize: number;
  /**
   * Read `data.length` bytes of configuration space at `offset` (any offset and width; the
   * transport has checked that the range lies within `configSize`). Little-endian fields.
   * @param offset - byte offset in the configuration space.
   * @param data - filled with the bytes read.
   * @example `readConfig(offset: number, data: Uint8Array) { this.config.read(offset, data); }`
   */
  readConfig(offset: number, data: Uint8Array): void;
  /**
   * A driver write of `data` at `offset` in the configuration space (range within `configSize`).
   * Writes to read-only fields are ignored, as the device type's section prescribes.
   * @param offset - byte offset in the configuration space.
   * @param data - the bytes written.
   * @example `writeConfig(offset: number, data: Uint8Array) { this.config.write(offset, data); }`
   */
  writeConfig(offset: number, data: Uint8Array): void;
  /**
   * Extra device-specific conditions on the feature set the driver accepts, checked when it sets
   * FEATURES_OK (after the transport checked it is a subset of `deviceFeatures` with VERSION_1).
   * Return false to refuse FEATURES_OK (VIRTIO 1.2 §3.1.1 step 5).
   * @param driverFeatures - the features the driver accepted.
   * @returns true to accept them.
   * @example `validateFeatures(f: bigint) { return !hasFeature(f, 11) || hasFeature(f, 10); } // 11 requires 10`
   */
  validateFeatures?(driverFeatures: bigint): boolean;
  /**
   * Called once by the transport that serves the device, before any other call.
   * @param host - where the device reports changes it makes on its own.
   * @example `attach(host: DeviceHost) { this.host = host; }`
   */
  attach?(host: DeviceHost): void;
  /**
   * Start operating: the driver set DRIVER_OK. Throw (preferably an ActivationError) to refuse;
   * the transport then sets DEVICE_NEEDS_RESET.
   * @param context - memory, queues, negotiated features, interrupts.
   * @throws anything to refuse (an ActivationError preferably).
   * @example `activate(ctx: ActivationContext) { this.ctx = ctx; }`
   */
  activate(context: ActivationContext): void;
  /**
   * The driver notified queue `queueIndex` (a QueueNotify write, a kick eventfd). With
   * VIRTIO_F_NOTIFICATION_DATA negotiated, `data` carries the notification value.
   * @param queueIndex - the queue notified.
   * @param data - the notification data (VIRTIO_F_NOTIFICATION_DATA), else undefined.
   * @example `queueNotify(i: number) { this.workers[i]?.pump(); }`
   */
  queueNotify(queueIndex: number, data?: number): void;
  /**
   * Return to the initial state; drop the activation context, queues and memory.
   * @example `reset() { this.ctx = null; }`
   */
  reset(): void;
  /**
   * Settles when I/O the device started before its last `reset()` has finished touching guest
   * memory (asynchronous backends write into guest buffers directly, like DMA in flight).
   * Transports that are about to unmap or reuse guest memory after a reset (a vhost-user backend
   * whose frontend went away, a VMM removing a region) await it first. A device without
   * asynchronous I/O need not implement it.
   * @returns a promise that settles (never rejects) when no old I/O remains.
   * @example
   * ```ts
   * device.reset();
   * await device.drain?.();
   * unmapGuestMemory();
   * ```
   */
  drain?(): Promise<void>;
  /**
   * The driver took queue `queueIndex` out of service while the device is activated: a virtqueue
   * reset (VIRTIO_F_RING_RESET, VIRTIO 1.2 §2.6.1) or QueueReady = 0. `ctx.queues[queueIndex]` is
   * already null. From now on the device must not execute requests from the queue it had for this
   * index nor signal it (§2.6.1.1): drop it, and make requests still in flight on it complete
   * without touching it (the transport has reset that queue: a late `addUsed(chain, len)` on it is
   * dropped, see `Virtqueue`, "Late completions"). Throwing puts the device in DEVICE_NEEDS_RESET.
   *
   * Optional. A device without it must look its queues up in `ctx.queues` on every use rather than
   * keep them (the transport has no other way to take a queue away from it); a device that offers
   * VIRTIO_F_RING_RESET and keeps queues (per-queue workers, say) needs it.
   * @param queueIndex - the queue taken out of service.
   * @example `queueReset(i: number) { this.workers[i]?.stop(); this.workers[i] = null; }`
   */
  queueReset?(queueIndex: number): void;
  /**
   * The driver enabled queue `queueIndex` again after a virtqueue reset (VIRTIO 1.2 §2.6.1.2),
   * possibly with a new size and new areas: `queue` is the new virtqueue, at its initial positions,
   * and is also `ctx.queues[queueIndex]` now. Serve it as if it had been there at activation.
   * Throwing puts the device in DEVICE_NEEDS_RESET. Optional, as {@link VirtioDevice.queueReset}.
   * @param queueIndex - the queue enabled.
   * @param queue - its new virtqueue.
   * @example `queueEnable(i: number, q: Virtqueue) { this.workers[i] = new Worker(q, this.ctx!); }`
   */
  queueEnable?(queueIndex: number, queue: Virtqueue): void;
  /** Shared memory regions the device exposes, if any (VIRTIO 1.2 §2.10). */
  readonly sharedMemoryRegions?: readonly SharedMemoryRegion[];
  /**
   * The device's own state as plain JSON-serialisable data, for snapshot and migration: what the
   * device type keeps beyond what the transport holds (for example a disk's capacity and cache
   * mode). The status, the negotiated features, the config generation and the queues' positions
   * are the transport's to save (a {@link VirtioDeviceState} snapshot, `Virtqueue.saveState()`).
   * Take it while the device is quiescent: no chain popped and not yet returned.
   * @returns JSON-serialisable data.
   * @example `snapshot() { return { capacity: String(this.capacity) }; }`
   */
  snapshot?(): unknown;
  /**
   * Restore state produced by `snapshot`. Transports call it on a reset (not activated) device,
   * before `activate` when the driver had set DRIVER_OK. Validate it as untrusted input.
   * @param state - what `snapshot` returned (after a JSON round trip, say).
   * @throws a typed error (such as Device.InvalidSnapshotError) on data it cannot accept.
   * @example
   * ```ts
   * restore(state: unknown) {
   *   const c = (state as { capacity?: unknown } | null)?.capacity;
   *   if (typeof c !== 'string' || !/^\d{1,16}$/.test(c)) throw new InvalidSnapshotError('capacity', 'must be a decimal string');
   *   this.capacity = Number(c);
   * }
   * ```
   */
  restore?(state: unknown): void;
}
