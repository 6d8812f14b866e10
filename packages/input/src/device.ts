/**
 * {@link InputDevice}: a virtio-input device (VIRTIO 1.2 §5.8, device ID 18). The host sends
 * evdev events ({@link InputDevice.send}, {@link InputDevice.sendPacket}); they wait in a
 * bounded {@link EventQueue} for eventq buffers, one event per buffer, as QEMU's devices and
 * Linux's driver use them. The driver's status events (LEDs, force feedback, sounds) on statusq go
 * to the host's listeners. The guest cannot make it throw: an eventq buffer shorter than an event
 * and a statusq buffer shorter than an event are returned with used length 0 and counted.
 * @module
 */
import { DeviceId, Feature, featureBit, fillQueue, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, VirtioDevice, Writer } from '@vmv/device-trait';
import { ConfigLayout, EVENT_SIZE, EVENT_TYPE_NAMES, EventType, InputQueue, Syn } from './constants.js';
import { InputConfig } from './config.js';
import { validateDescription, type InputDescription, type ValidDescription } from './description.js';
import { EventQueue, type EventQueueStats, type InputEvent } from './event-queue.js';

/**
 * Options of {@link InputDevice}.
 * @example `new InputDevice({ description: keyboard(), capacity: 512, onStatus: (e) => console.log(e) })`
 */
export interface InputDeviceOptions {
  /** What the device is (a preset or a JSON description); checked with `validateDescription`. */
  readonly description: InputDescription;
  /** Size of both queues (default 64, QEMU's; 1 to 32768, a power of two for split rings). */
  readonly queueSize?: number;
  /** Events the host-side queue holds while the guest posts no buffers (default 256; see {@link EventQueue}). */
  readonly capacity?: number;
  /** Called with each status event the driver sends (must not throw). */
  readonly onStatus?: (event: InputEvent) => void;
}

/**
 * Counters of the device: the queue's and the guest's buffers.
 * @example `if (device.stats.synDropped > 0) console.warn('the guest fell behind')`
 */
export interface InputStats extends EventQueueStats {
  /** Events written into eventq buffers. */
  readonly delivered: number;
  /** eventq buffers with fewer than 8 writable bytes, returned with used length 0. */
  readonly shortBuffers: number;
  /** Status events received on statusq. */
  readonly statusEvents: number;
  /** statusq buffers with fewer than 8 readable bytes, returned unread. */
  readonly badStatusBuffers: number;
}

/**
 * A virtio-input device, for any transport.
 * @example
 * ```ts
 * const kbd = new InputDevice({ description: keyboard(), onStatus: (e) => console.log('LED', e.code, e.value) });
 * kbd.sendPacket([{ type: EventType.EV_KEY, code: Key.A, value: 1 }, { type: EventType.EV_SYN, code: Syn.SYN_REPORT, value: 0 }]);
 * ```
 */
export class InputDevice implements VirtioDevice {
  readonly deviceId = DeviceId.INPUT;
  readonly deviceFeatures = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED);
  readonly queueMaxSizes: readonly number[];
  readonly configSize = ConfigLayout.SIZE_OF;
  /** The checked description. */
  readonly description: ValidDescription;
  private readonly config: InputConfig;
  private readonly queue: EventQueue;
  private readonly listeners = new Set<(event: InputEvent) => void>();
  private ctx: ActivationContext | null = null;
  private counters = { delivered: 0, shortBuffers: 0, statusEvents: 0, badStatusBuffers: 0 };

  /**
   * @param options - the description and sizes.
   * @throws Input.InvalidDescriptionError for a description evdev could not report.
   * @throws RangeError for a queue size or capacity out of range.
   */
  constructor(options: InputDeviceOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('InputDevice: options must be an object');
    const size = options.queueSize ?? 64;
    if (!Number.isInteger(size) || size < 1 || size > 32768) throw new RangeError(`InputDevice: queueSize must be 1 to 32768, got ${size}`);
    this.queueMaxSizes = [size, size];
    this.description = validateDescription(options.description);
    this.config = new InputConfig(this.description);
    this.queue = new EventQueue(options.capacity ?? 256);
    if (options.onStatus !== undefined) this.listeners.add(options.onStatus);
  }

  /** The counters. @returns a snapshot. @example `device.stats.delivered` */
  get stats(): InputStats {
    return { ...this.queue.stats, ...this.counters };
  }

  /** Events waiting for eventq buffers (complete packets only). @returns the count. @example `device.backlog` */
  get backlog(): number {
    return this.queue.length;
  }

  /** Most events in one packet, SYN_REPORT included. @returns the bound. @example `device.maxPacket` */
  get maxPacket(): number {
    return this.queue.maxPacket;
  }

  /**
   * Adds a listener for the driver's status events (EV_LED, EV_SND, EV_FF, EV_REP...).
   * @param listener - called with each event, in order (must not throw).
   * @returns a function that removes it.
   * @example `const off = device.onStatus((e) => leds[e.code] = e.value);`
   */
  onStatus(listener: (event: InputEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Sends one event to the guest; the packet it belongs to is delivered once an
   * EV_SYN/SYN_REPORT ends it.
   * @param type - EV_* of the description, or EV_SYN.
   * @param code - a code the description lists for the type (EV_SYN: SYN_REPORT or SYN_MT_REPORT).
   * @param value - a signed 32-bit value.
   * @throws RangeError for an event the device does not describe, a value out of range, or a
   *   packet longer than {@link InputDevice.maxPacket}.
   * @example `device.send(EventType.EV_REL, Rel.X, 5)`
   */
  send(type: number, code: number, value: number): void {
    this.check({ type, code, value }, 'InputDevice.send');
    this.queue.push(type, code, value);
    this.pump();
  }

  /**
   * Sends events that end with EV_SYN/SYN_REPORT (one packet or several): all of them, or none
   * when one is refused.
   * @param events - the events.
   * @throws RangeError when an event is refused (see {@link InputDevice.send}), the batch does
   *   not end with SYN_REPORT, or a packet is longer than {@link InputDevice.maxPacket}.
   * @example
   * ```ts
   * device.sendPacket([{ type: EventType.EV_ABS, code: Abs.X, value: 100 }, { type: EventType.EV_SYN, code: Syn.SYN_REPORT, value: 0 }]);
   * ```
   */
  sendPacket(events: readonly InputEvent[]): void {
    if (!Array.isArray(events) || events.length === 0) throw new RangeError('InputDevice.sendPacket: events must be a non-empty array');
    let run = this.queue.pendingLength;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      this.check(e, `InputDevice.sendPacket: events[${i}]`);
      run++;
      if (run > this.queue.maxPacket) throw new RangeError(`InputDevice.sendPacket: events[${i}]: a packet holds at most ${this.queue.maxPacket} events with its SYN_REPORT`);
      if (e.type === EventType.EV_SYN && e.code === Syn.SYN_REPORT) run = 0;
    }
    if (run !== 0) throw new RangeError('InputDevice.sendPacket: the last event must be EV_SYN/SYN_REPORT');
    for (const e of events) this.queue.push(e.type, e.code, e.value);
    this.pump();
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    this.config.write(offset, data);
  }

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    this.pump();
  }

  /** Forgets the activation; events still queued are dropped (counted): they were for the old driver. */
  reset(): void {
    this.ctx = null;
    this.queue.clear();
    this.config.reset();
  }

  queueNotify(index: number): void {
    if (this.ctx === null) return;
    if (index === InputQueue.EVENTQ) this.pump();
    else if (index === InputQueue.STATUSQ) serveQueue(this.ctx, index, this.readStatus);
  }

  private check(e: InputEvent, label: string): void {
    if (typeof e !== 'object' || e === null) throw new TypeError(`${label}: an event must be an object {type, code, value}`);
    const { type, code, value } = e;
    if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0x7fff_ffff) throw new RangeError(`${label}: value must be a signed 32-bit integer, got ${value}`);
    if (type === EventType.EV_SYN) {
      if (code !== Syn.SYN_REPORT && code !== Syn.SYN_MT_REPORT) throw new RangeError(`${label}: EV_SYN code must be SYN_REPORT (0) or SYN_MT_REPORT (2), got ${code}`);
      return;
    }
    const codes = Number.isInteger(type) ? this.description.events.get(type) : undefined;
    if (codes === undefined) throw new RangeError(`${label}: event type ${type} is not in the device's description`);
    if (!codes.includes(code)) throw new RangeError(`${label}: ${EVENT_TYPE_NAMES[type] ?? type} code ${code} is not in the device's description`);
  }

  /** Moves queued events into eventq buffers, one per buffer (fillQueue: a buffer is taken only for an event). */
  private pump(): void {
    if (this.ctx === null) return;
    fillQueue(this.ctx, InputQueue.EVENTQ, this.eventWaiting, this.fillEvent);
  }

  private readonly eventWaiting = (): boolean => this.queue.length > 0;

  private readonly fillEvent = (w: Writer): void => {
    if (w.remaining < EVENT_SIZE) {
      this.counters.shortBuffers++;
      return;
    }
    const e = this.queue.shift()!;
    w.writeU16(e.type);
    w.writeU16(e.code);
    w.writeU32(e.value >>> 0);
    this.counters.delivered++;
  };

  private readonly readStatus: ChainHandler = (chain, served) => {
    const r = chain.reader();
    if (r.remaining < EVENT_SIZE) {
      this.counters.badStatusBuffers++;
      served.complete(chain, 0);
      return;
    }
    const event = { type: r.readU16(), code: r.readU16(), value: r.readU32() | 0 };
    served.complete(chain, 0);
    this.counters.statusEvents++;
    for (const l of this.listeners) l(event);
  };
}
