/**
 * {@link CanDevice}: virtio-can (VIRTIO 1.4 §5.20, device ID 36), a CAN controller on a
 * {@link CanBus}, for any transport. txq (§5.20.5.2): each frame is checked against the
 * negotiated features (type, flags, id range, length) and goes on the bus, or is answered
 * VIRTIO_CAN_RESULT_NOT_OK and never scheduled; its buffer is used once the frame is on the bus
 * (VIRTIO_CAN_F_LATE_TX_ACK's rule, kept whether or not it was negotiated), so a bus that waits
 * for a full receiver holds the guest's transmit buffers. rxq (§5.20.5.3): the driver's empty
 * buffers are held and filled with the frames the controller receives, in bus order. controlq
 * (§5.20.5.1): START and STOP, in order; STOP cancels the frames not yet on the bus (NOT_OK).
 * Bus-off (§5.20.5.4) is the host's: `busOff()` stops the controller, sets
 * VIRTIO_CAN_S_CTRL_BUSOFF and notifies a configuration change. A corrupted ring or a buffer
 * outside guest memory is DEVICE_NEEDS_RESET.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, InFlightBudget, featureBit, hasFeature, isGuestMemoryError, isQueueError, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, DeviceHost, ServedQueue, VirtioDevice } from '@vmv/device-trait';
import type { BusNode, CanBus } from './bus.js';
import { CAN_FD_LENGTHS, CanFeature, CanFlags, CanLayout, CanMsg, CanQueue, CanResult, CanStatus } from './constants.js';
import type { CanFrame } from './frame.js';

/**
 * Options of {@link CanDevice}.
 * @example `new CanDevice({ bus, fd: false, loopback: true })`
 */
export interface CanDeviceOptions {
  /** The bus the controller is on. */
  readonly bus: CanBus;
  /** Offer VIRTIO_CAN_F_CAN_FD (default true). */
  readonly fd?: boolean;
  /** Offer VIRTIO_CAN_F_RTR_FRAMES (default true). */
  readonly rtr?: boolean;
  /** Offer VIRTIO_CAN_F_LATE_TX_ACK (default true; transmit buffers are used once on the bus either way). */
  readonly lateTxAck?: boolean;
  /** Hand the guest the frames it sends, too (default false: Linux's virtio_can echoes them itself). */
  readonly loopback?: boolean;
  /** Frames held for the guest beyond the receive buffers it posted, before the bus waits for it (default 64; 1 to 65536). */
  readonly rxBuffer?: number;
  /** Transmit buffers held until their frames are on the bus (default 128, Linux's echo limit; 1 to 32768). */
  readonly txInFlight?: number;
  /** Size of each queue (default 256; 1 to 32768). */
  readonly queueSize?: number;
}

/**
 * The controller's mode: `stopped` (initially, after STOP or a reset), `started` (after START),
 * `bus-off` (stopped by {@link CanDevice.busOff} until the next START).
 * @example `if (device.state === 'started') ...`
 */
export type CanControllerState = 'stopped' | 'started' | 'bus-off';

/**
 * A change of the controller's mode, with its cause.
 * @example `device.onChange((c) => console.log(`${c.cause}: ${c.state}`))`
 */
export interface CanStateChange {
  /** The new mode. */
  readonly state: CanControllerState;
  /** START or STOP from the guest, the host's bus-off, or a device reset. */
  readonly cause: 'start' | 'stop' | 'bus-off' | 'reset';
}

/**
 * Counters of the guest's traffic.
 * @example `device.stats.txFrames`
 */
export interface CanStats {
  /** Frames the guest sent that went on the bus. */
  readonly txFrames: number;
  /** Transmit requests answered NOT_OK at once (malformed, not negotiated, out of range, controller not started). */
  readonly txRejected: number;
  /** Frames cancelled before they reached the bus (STOP, bus-off), answered NOT_OK. */
  readonly txCancelled: number;
  /** Frames handed to the guest. */
  readonly rxFrames: number;
  /** Frames the controller received but could not hand over: dropped by STOP, bus-off or reset, or too long for the guest's buffer. */
  readonly rxDropped: number;
  /** START requests that started the controller. */
  readonly starts: number;
  /** STOP requests that stopped a started controller. */
  readonly stops: number;
  /** Bus-off conditions the host raised. */
  readonly busOffs: number;
  /** Control requests answered (either result). */
  readonly controls: number;
  /** txq and controlq chains with no writable byte for the result, returned with used length 0. */
  readonly unanswerable: number;
}

const KNOWN_FLAGS = CanFlags.RTR | CanFlags.FD | CanFlags.EXTENDED;

/**
 * A virtio-can controller.
 * @example
 * ```ts
 * const bus = new CanBus();
 * const device = new CanDevice({ bus }); // serve it: new VirtioMmioTransport(device, ...) or new VhostUserBackend(device)
 * const host = bus.endpoint();           // the program's node on the same bus
 * ```
 */
export class CanDevice implements VirtioDevice {
  readonly deviceId = DeviceId.CAN;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = CanLayout.CONFIG_SIZE;
  /** The bus. */
  readonly bus: CanBus;
  private readonly loopback: boolean;
  private readonly rxLimit: number;
  private readonly config = new ConfigSpace(CanLayout.CONFIG_SIZE);
  private readonly txBudget: InFlightBudget;
  private ctx: ActivationContext | null = null;
  private host: DeviceHost | null = null;
  private mode: CanControllerState = 'stopped';
  /** rxq buffers posted and not yet filled. */
  private held: { chain: DescriptorChain; served: ServedQueue }[] = [];
  private heldHead = 0;
  /** Frames received while no buffer was posted. */
  private pending: CanFrame[] = [];
  private pendingHead = 0;
  private readonly listeners = new Set<(change: CanStateChange) => void>();
  private counters = { txFrames: 0, txRejected: 0, txCancelled: 0, rxFrames: 0, rxDropped: 0, starts: 0, stops: 0, busOffs: 0, controls: 0, unanswerable: 0 };
  private readonly node: BusNode = {
    wants: (frame, own) => this.mode === 'started' && (!own || this.loopback) && this.supports(frame),
    hasRoom: () => this.heldHead < this.held.length || this.pending.length - this.pendingHead < this.rxLimit,
    take: (frame) => {
      if (this.heldHead < this.held.length) {
        const h = this.held[this.heldHead++]!;
        this.deliver(frame, h.chain, h.served);
      } else this.pending.push(frame);
    },
  };

  /**
   * @param options - the bus, features offered, buffer sizes.
   * @throws TypeError for options without a bus.
   * @throws RangeError for a size out of range.
   */
  constructor(options: CanDeviceOptions) {
    if (typeof options !== 'object' || options === null || typeof options.bus?.endpoint !== 'function') throw new TypeError('CanDevice: options.bus must be a CanBus');
    const size = (name: string, value: number | undefined, fallback: number, max: number) => {
      const v = value ?? fallback;
      if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`CanDevice: ${name} must be 1 to ${max}, got ${String(v)}`);
      return v;
    };
    const q = size('queueSize', options.queueSize, 256, 32768);
    this.queueMaxSizes = [q, q, q];
    this.rxLimit = size('rxBuffer', options.rxBuffer, 64, 65536);
    this.txBudget = new InFlightBudget(size('txInFlight', options.txInFlight, 128, 32768));
    this.loopback = options.loopback === true;
    this.bus = options.bus;
    let f = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED) | featureBit(CanFeature.CAN_CLASSIC);
    if (options.fd !== false) f |= featureBit(CanFeature.CAN_FD);
    if (options.rtr !== false) f |= featureBit(CanFeature.RTR_FRAMES);
    if (options.lateTxAck !== false) f |= featureBit(CanFeature.LATE_TX_ACK);
    this.deviceFeatures = f;
    this.bus.join(this.node);
  }

  /** The counters. @returns a snapshot. @example `device.stats.rxFrames` */
  get stats(): CanStats {
    return { ...this.counters };
  }

  /** The controller's mode. @example `device.state` */
  get state(): CanControllerState {
    return this.mode;
  }

  /**
   * Calls `listener` on every change of the controller's mode.
   * @param listener - gets the new mode and its cause.
   * @returns a function that removes the listener.
   * @example `const off = device.onChange((c) => log(c.state)); off();`
   */
  onChange(listener: (change: CanStateChange) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('CanDevice.onChange: listener must be a function');
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * A bus-off condition (§5.20.5.4): a started controller stops, frames not yet on the bus are
   * answered NOT_OK, VIRTIO_CAN_S_CTRL_BUSOFF is set and the driver gets a configuration change
   * notification. The driver's next START clears it.
   * @returns true when the controller was started (and is now bus-off), else false (nothing done).
   * @example `device.busOff(); // Linux's can0 goes to BUS-OFF; "ip link set can0 type can restart" starts it again`
   */
  busOff(): boolean {
    if (this.mode !== 'started') return false;
    this.config.setU16(0, CanStatus.BUSOFF);
    this.stop('bus-off');
    this.counters.busOffs++;
    this.host?.configChanged();
    return true;
  }

  attach(host: DeviceHost): void {
    this.host = host;
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /** The configuration is read-only: writes are ignored. */
  writeConfig(): void {}

  /** §5.20.3.1: at least one of CAN_CLASSIC and CAN_FD; RTR_FRAMES requires CAN_CLASSIC. */
  validateFeatures(driverFeatures: bigint): boolean {
    const classic = hasFeature(driverFeatures, CanFeature.CAN_CLASSIC);
    if (!classic && !hasFeature(driverFeatures, CanFeature.CAN_FD)) return false;
    return classic || !hasFeature(driverFeatures, CanFeature.RTR_FRAMES);
  }

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
  }

  /** Forgets the activation: the controller stops (frames not on the bus are dropped), the held buffers and received frames are dropped, the status is cleared. */
  reset(): void {
    this.ctx = null;
    this.held = [];
    this.heldHead = 0;
    this.config.setU16(0, 0);
    if (this.mode !== 'stopped') this.stop('reset');
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    if (index === CanQueue.TXQ) serveQueue(ctx, index, this.transmit, this.txBudget);
    else if (index === CanQueue.RXQ) {
      serveQueue(ctx, index, this.receive);
      this.bus.pump(); // buffers posted are room: a frame waiting for this guest may go
    } else if (index === CanQueue.CONTROLQ) serveQueue(ctx, index, this.control);
  }

  /** Stops the controller: cancels its frames not yet on the bus, drops received frames, tells the listeners. */
  private stop(cause: 'stop' | 'bus-off' | 'reset'): void {
    this.mode = cause === 'bus-off' ? 'bus-off' : 'stopped';
    this.bus.cancel(this.node);
    this.counters.rxDropped += this.pending.length - this.pendingHead;
    this.pending = [];
    this.pendingHead = 0;
    this.bus.pump(); // frames that waited for this controller's room go on without it
    this.emit(cause);
  }

  private emit(cause: CanStateChange['cause']): void {
    const change: CanStateChange = { state: this.mode, cause };
    for (const l of this.listeners) l(change);
  }

  /** Whether the negotiated features let the guest receive `frame`. */
  private supports(frame: CanFrame): boolean {
    const f = this.ctx?.features ?? 0n;
    if (frame.fd === true) return hasFeature(f, CanFeature.CAN_FD);
    return hasFeature(f, CanFeature.CAN_CLASSIC) && (frame.rtr !== true || hasFeature(f, CanFeature.RTR_FRAMES));
  }

  /** Reports a broken ring or a buffer outside guest memory; rethrows anything else. */
  private broken(e: unknown, chain: DescriptorChain, served: ServedQueue): void {
    if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
    this.ctx?.needsReset(e);
    served.complete(chain, 0);
  }

  /** Writes a one-byte result and completes the chain (it has a writable byte). */
  private answer(chain: DescriptorChain, served: ServedQueue, result: number): void {
    try {
      chain.writer().writeU8(result);
    } catch (e) {
      return this.broken(e, chain, served);
    }
    served.complete(chain, CanLayout.RESULT_SIZE);
  }

  private readonly transmit: ChainHandler = (chain, served) => {
    let frame: CanFrame | null;
    try {
      if (chain.writableBytes < CanLayout.RESULT_SIZE) {
        this.counters.unanswerable++;
        served.complete(chain, 0);
        return;
      }
      frame = this.parseTx(chain);
    } catch (e) {
      return this.broken(e, chain, served);
    }
    if (frame === null || this.mode !== 'started') {
      this.counters.txRejected++;
      return this.answer(chain, served, CanResult.NOT_OK);
    }
    const activation = this.ctx;
    this.bus.transmit(frame, this.node, (onBus) => {
      // A reset since: the chain's memory is the guest's again; complete it to free its budget slot (the queue drops it).
      if (this.ctx !== activation) return served.complete(chain, 0);
      if (onBus) this.counters.txFrames++;
      else this.counters.txCancelled++;
      this.answer(chain, served, onBus ? CanResult.OK : CanResult.NOT_OK);
    });
  };

  /** A txq request's frame, or null when the spec has the device reject it. */
  private parseTx(chain: DescriptorChain): CanFrame | null {
    const readable = chain.readableBytes;
    if (readable < CanLayout.HEADER_SIZE) return null;
    const r = chain.reader();
    const msgType = r.readU16();
    const length = r.readU16();
    r.skip(4); // reserved_classic_dlc, padding, reserved_xl_priority
    const flags = r.readU32();
    const id = r.readU32();
    if (msgType !== CanMsg.TX || readable !== CanLayout.HEADER_SIZE + length || (flags & ~KNOWN_FLAGS) !== 0) return null;
    const features = this.ctx!.features;
    const fd = (flags & CanFlags.FD) !== 0;
    const rtr = (flags & CanFlags.RTR) !== 0;
    const extended = (flags & CanFlags.EXTENDED) !== 0;
    if (fd ? !hasFeature(features, CanFeature.CAN_FD) : !hasFeature(features, CanFeature.CAN_CLASSIC)) return null;
    if (rtr && (fd || !hasFeature(features, CanFeature.RTR_FRAMES))) return null;
    if (id > (extended ? CanLayout.EXTENDED_ID_MAX : CanLayout.STANDARD_ID_MAX)) return null;
    if (fd ? !CAN_FD_LENGTHS.includes(length) : length > CanLayout.CLASSIC_MAX_LENGTH) return null;
    // An RTR frame's sdu (Linux sends `length` zero bytes) carries nothing.
    const data = rtr ? new Uint8Array(length) : r.readBytes(length);
    return Object.freeze({ id, extended, fd, rtr, data });
  }

  private readonly receive: ChainHandler = (chain, served) => {
    if (this.pendingHead < this.pending.length) {
      const frame = this.pending[this.pendingHead++]!;
      if (this.pendingHead === this.pending.length) {
        this.pending = [];
        this.pendingHead = 0;
      }
      this.deliver(frame, chain, served);
    } else this.held.push({ chain, served });
  };

  /** Fills a posted rxq buffer with `frame` (a virtio_can_rx) and completes it. */
  private deliver(frame: CanFrame, chain: DescriptorChain, served: ServedQueue): void {
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    }
    const length = frame.data.length;
    const size = CanLayout.HEADER_SIZE + length;
    try {
      if (chain.writableBytes < size) {
        // The driver posted a buffer too short for the frames it negotiated: no truncated frame, the frame is lost to it.
        this.counters.rxDropped++;
        served.complete(chain, 0);
        return;
      }
      const w = chain.writer();
      w.writeU16(CanMsg.RX);
      w.writeU16(length);
      w.fill(4, 0); // reserved_classic_dlc, padding, reserved_xl_priority
      w.writeU32((frame.extended === true ? CanFlags.EXTENDED : 0) | (frame.fd === true ? CanFlags.FD : 0) | (frame.rtr === true ? CanFlags.RTR : 0));
      w.writeU32(frame.id);
      w.write(frame.data);
    } catch (e) {
      return this.broken(e, chain, served);
    }
    this.counters.rxFrames++;
    served.complete(chain, size);
  }

  private readonly control: ChainHandler = (chain, served) => {
    let msgType = -1;
    try {
      if (chain.writableBytes < CanLayout.RESULT_SIZE) {
        this.counters.unanswerable++;
        served.complete(chain, 0);
        return;
      }
      if (chain.readableBytes === CanLayout.CONTROL_SIZE) msgType = chain.reader().readU16();
    } catch (e) {
      return this.broken(e, chain, served);
    }
    this.counters.controls++;
    let result: number = CanResult.OK;
    if (msgType === CanMsg.SET_CTRL_MODE_START) {
      if (this.mode !== 'started') {
        this.config.setU16(0, 0); // the status is updated before the request is used (§5.20.5.1)
        this.mode = 'started';
        this.counters.starts++;
        this.emit('start');
      }
    } else if (msgType === CanMsg.SET_CTRL_MODE_STOP) {
      if (this.mode === 'started') {
        this.counters.stops++;
        this.stop('stop'); // pending transmissions are used NOT_OK before this request
      }
    } else result = CanResult.NOT_OK;
    this.answer(chain, served, result);
  };
}
