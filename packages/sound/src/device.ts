/**
 * {@link SoundDevice}: the virtio-snd device (VIRTIO 1.2 §5.14, device ID 25), independent of any
 * transport. controlq requests are answered at once (control.ts); eventq buffers carry jack,
 * PCM xrun and control events (§5.14.6.5, §5.14.6.7, §5.14.6.10.4), held in a bounded queue
 * while the driver has posted none; txq and rxq messages go to their stream (stream.ts), which
 * paces them at the stream's rate against a {@link SoundBackend}. The guest cannot make it throw:
 * a malformed request gets a status, a broken ring DEVICE_NEEDS_RESET.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, featureBit, fillQueue, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, ServedQueue, VirtioDevice, Writer } from '@vmv/device-trait';
import { ControlEventMask, Direction, Event, Size, SoundFeature, SoundQueue, SoundStatus } from './constants.js';
import { nullBackend, systemClock } from './backend.js';
import type { SoundBackend, SoundClock } from './backend.js';
import { serveControl } from './control.js';
import type { ControlHost } from './control.js';
import { BackendError } from './errors.js';
import type { SoundError } from './errors.js';
import { validateLayout } from './layout.js';
import type { SoundLayout, ValidControl, ValidLayout } from './layout.js';
import { PcmStream } from './stream.js';

/**
 * Options of a {@link SoundDevice}. All have defaults.
 * @example `new SoundDevice({ layout: { streams: [{ direction: 'output' }] }, backend: nullBackend() })`
 */
export interface SoundDeviceOptions {
  /** What the device offers (see {@link SoundLayout}). Default vhost-device-sound's layout. */
  readonly layout?: SoundLayout;
  /** Where frames go and come from. Default {@link nullBackend}. */
  readonly backend?: SoundBackend;
  /** Time for pacing. Default {@link systemClock}. */
  readonly clock?: SoundClock;
  /** Size of each of the four queues, a power of two in 2..32768. Default 64. */
  readonly queueSize?: number;
  /** Events held while the driver has posted no event buffer (1 to 4096, default 64): past it the oldest is dropped and counted. */
  readonly eventCapacity?: number;
  /** The guest wrote a control element's value. */
  readonly onControl?: (control: Readonly<ValidControl>) => void;
  /** A backend failed (the I/O message was answered IO_ERR). */
  readonly onError?: (error: SoundError) => void;
}

/**
 * Counters of the device since creation (the streams keep their own, see `PcmStream.stats`).
 * @example `if (device.stats.eventsDropped > 0) console.warn('the driver posted no event buffers')`
 */
export interface SoundStats {
  /** Control requests answered. */
  readonly requests: number;
  /** Of them, answered other than OK. */
  readonly refused: number;
  /** I/O messages too short for a header or naming no stream, answered IO_ERR. */
  readonly strayMessages: number;
  /** Control requests or I/O messages with no room for a status, returned with used length 0. */
  readonly unanswerable: number;
  /** Events written into eventq buffers. */
  readonly eventsDelivered: number;
  /** Events dropped: the queue was full (the driver posted no buffers), or a reset came first. */
  readonly eventsDropped: number;
  /** eventq buffers shorter than an event, returned with used length 0. */
  readonly shortEventBuffers: number;
}

const RING_FEATURES = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED);

/**
 * A virtio-snd device, served by any transport (`@vmv/transport-mmio` in process,
 * `@vmv/vhost-user` out of process).
 * @example
 * ```ts
 * const device = new SoundDevice({ backend: nullBackend() });
 * device.setJackConnected(0, false); // a jack event for the guest (with a jack in the layout)
 * ```
 */
export class SoundDevice implements VirtioDevice {
  readonly deviceId = DeviceId.SOUND;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = Size.CONFIG;
  /** The checked layout (jack states, defconf and control values change at run time). */
  readonly layout: ValidLayout;
  /** The streams, by id. */
  readonly streams: readonly PcmStream[];
  private readonly config = new ConfigSpace(Size.CONFIG);
  private readonly backend: SoundBackend;
  private readonly clock: SoundClock;
  private readonly capacity: number;
  private readonly onControl: ((control: Readonly<ValidControl>) => void) | undefined;
  private readonly onError: ((error: SoundError) => void) | undefined;
  private readonly controlHost: ControlHost;
  private ctx: ActivationContext | null = null;
  private ctls = false;
  /** Events waiting for eventq buffers: code and data, in order. */
  private readonly events: number[] = [];
  private counters = { requests: 0, refused: 0, strayMessages: 0, unanswerable: 0, eventsDelivered: 0, eventsDropped: 0, shortEventBuffers: 0 };

  /**
   * @param options - see {@link SoundDeviceOptions}.
   * @throws TypeError or RangeError for a layout, queue size or capacity out of range.
   */
  constructor(options: SoundDeviceOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('SoundDevice: options must be an object');
    this.layout = validateLayout(options.layout);
    const size = options.queueSize ?? 64;
    if (!Number.isInteger(size) || size < 2 || size > 32768 || (size & (size - 1)) !== 0) throw new RangeError(`SoundDevice: queueSize must be a power of two in 2..32768, got ${String(size)}`);
    this.queueMaxSizes = Object.freeze([size, size, size, size]);
    const capacity = options.eventCapacity ?? 64;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError(`SoundDevice: eventCapacity must be 1 to 4096, got ${String(capacity)}`);
    this.capacity = capacity;
    this.backend = options.backend ?? nullBackend();
    this.clock = options.clock ?? systemClock;
    this.onControl = options.onControl;
    this.onError = options.onError;
    this.deviceFeatures = RING_FEATURES | (this.layout.controls.length > 0 ? featureBit(SoundFeature.CTLS) : 0n);
    this.config.setU32(0, this.layout.jacks.length);
    this.config.setU32(4, this.layout.streams.length);
    this.config.setU32(8, this.layout.chmaps.length);
    this.config.setU32(12, this.layout.controls.length);
    const host = {
      clock: this.clock,
      backend: this.backend,
      xrun: (id: number) => this.emit(Event.PCM_XRUN, id),
      backendError: (id: number, e: unknown) => this.onError?.(new BackendError(id, e)),
    };
    this.streams = this.layout.streams.map((s) => new PcmStream(s, host));
    const negotiated = (): boolean => this.ctls;
    this.controlHost = {
      layout: this.layout,
      streams: this.streams,
      get ctls() {
        return negotiated();
      },
      // RELEASE completes every pending message (§5.14.6.6.5.1), those still in the ring included
      collect: (s) => {
        if (this.ctx === null) return;
        if (s.info.direction === Direction.OUTPUT) serveQueue(this.ctx, SoundQueue.TXQ, this.handleTx);
        else serveQueue(this.ctx, SoundQueue.RXQ, this.handleRx);
      },
      controlWritten: (c) => this.onControl?.(c),
    };
  }

  /** The counters. @returns a snapshot. @example `device.stats.requests` */
  get stats(): SoundStats {
    return { ...this.counters };
  }

  /** Events waiting for eventq buffers. @returns the count. @example `device.pendingEvents` */
  get pendingEvents(): number {
    return this.events.length / 2;
  }

  /**
   * Stream `id`.
   * @param id - a stream id (its index in the layout).
   * @returns the stream.
   * @throws RangeError for an id the layout does not have.
   * @example `device.stream(0).state`
   */
  stream(id: number): PcmStream {
    const s = this.streams[id];
    if (s === undefined) throw new RangeError(`SoundDevice.stream: no stream ${String(id)} (the layout has ${this.streams.length})`);
    return s;
  }

  /**
   * Plugs or unplugs jack `id`: JACK_INFO reports it, and the driver gets a JACK_CONNECTED or
   * JACK_DISCONNECTED event when the state changes while it runs.
   * @param id - a jack id.
   * @param connected - the new state.
   * @throws RangeError for a jack the layout does not have.
   * @example `device.setJackConnected(0, false)`
   */
  setJackConnected(id: number, connected: boolean): void {
    const jack = this.layout.jacks[id];
    if (jack === undefined) throw new RangeError(`SoundDevice.setJackConnected: no jack ${String(id)} (the layout has ${this.layout.jacks.length})`);
    if (jack.connected === connected) return;
    jack.connected = connected;
    this.emit(connected ? Event.JACK_CONNECTED : Event.JACK_DISCONNECTED, id);
  }

  /**
   * Sets a control element's value from the host side; the driver gets a CTL_NOTIFY event (VALUE)
   * when it negotiated VIRTIO_SND_F_CTLS.
   * @param id - a control id.
   * @param value - within the element's range and step.
   * @throws RangeError for a control or value out of range.
   * @example `device.setControl(1, 0) // mute stream 0 (its switch off)`
   */
  setControl(id: number, value: number): void {
    const c = this.layout.controls[id];
    if (c === undefined) throw new RangeError(`SoundDevice.setControl: no control ${String(id)} (the layout has ${this.layout.controls.length})`);
    if (!Number.isInteger(value) || value < c.min || value > c.max || (value - c.min) % c.step !== 0) throw new RangeError(`SoundDevice.setControl: ${c.name} takes ${c.min}..${c.max}, got ${String(value)}`);
    if (c.value === value) return;
    c.value = value;
    if (this.ctls) this.emit(Event.CTL_NOTIFY, id | ((1 << ControlEventMask.VALUE) << 16));
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /** The configuration space is read-only (§5.14.4): writes are ignored. */
  writeConfig(): void {}

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    this.ctls = (ctx.features & featureBit(SoundFeature.CTLS)) !== 0n;
  }

  /** Streams back to idle (held messages dropped, backends released), pending events dropped. */
  reset(): void {
    this.ctx = null;
    this.ctls = false;
    for (const s of this.streams) s.reset();
    this.counters.eventsDropped += this.events.length / 2;
    this.events.length = 0;
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    switch (index) {
      case SoundQueue.CONTROLQ:
        serveQueue(ctx, index, this.handleControl);
        break;
      case SoundQueue.EVENTQ:
        this.pumpEvents();
        break;
      case SoundQueue.TXQ:
        serveQueue(ctx, index, this.handleTx);
        break;
      case SoundQueue.RXQ:
        serveQueue(ctx, index, this.handleRx);
        break;
    }
  }

  private readonly handleControl: ChainHandler = (chain, served) => {
    const w = chain.writer();
    if (w.remaining < Size.HDR) {
      this.counters.unanswerable++;
      served.complete(chain, 0);
      return;
    }
    this.counters.requests++;
    if (serveControl(this.controlHost, chain.reader(), w) !== SoundStatus.OK) this.counters.refused++;
    served.complete(chain, w.written);
  };

  private readonly handleTx: ChainHandler = (chain, served) => this.xfer(chain, served, Direction.OUTPUT);
  private readonly handleRx: ChainHandler = (chain, served) => this.xfer(chain, served, Direction.INPUT);

  /** An I/O message (§5.14.6.8): header, frames, status; IO_ERR when it names no stream. */
  private xfer(chain: DescriptorChain, served: ServedQueue, direction: number): void {
    const writable = chain.writableBytes;
    if (writable < Size.PCM_STATUS) {
      this.counters.unanswerable++;
      served.complete(chain, 0);
      return;
    }
    const r = chain.reader();
    let status = chain.writer();
    let into = null;
    if (direction === Direction.INPUT) {
      into = status;
      status = into.split(writable - Size.PCM_STATUS);
    }
    const stream = r.remaining < Size.PCM_XFER ? undefined : this.streams[r.readU32()];
    if (stream === undefined) {
      this.counters.strayMessages++;
      status.writeU32(SoundStatus.IO_ERR);
      status.writeU32(0);
      served.complete(chain, status.written);
      return;
    }
    stream.take(chain, served, direction === Direction.OUTPUT ? r : null, into, status, direction);
  }

  /** Queues an event for the driver (only while it runs: a driver that probes later reads the state). */
  private emit(code: number, data: number): void {
    if (this.ctx === null) return;
    if (this.events.length / 2 >= this.capacity) {
      this.events.splice(0, 2);
      this.counters.eventsDropped++;
    }
    this.events.push(code, data >>> 0);
    this.pumpEvents();
  }

  /** Moves waiting events into eventq buffers, one per buffer (fillQueue: a buffer is taken only for an event). */
  private pumpEvents(): void {
    if (this.ctx === null) return;
    fillQueue(this.ctx, SoundQueue.EVENTQ, this.eventWaiting, this.fillEvent);
  }

  private readonly eventWaiting = (): boolean => this.events.length > 0;

  private readonly fillEvent = (w: Writer): void => {
    if (w.remaining < Size.EVENT) {
      this.counters.shortEventBuffers++;
      return;
    }
    w.writeU32(this.events.shift()!);
    w.writeU32(this.events.shift()!);
    this.counters.eventsDelivered++;
  };
}
