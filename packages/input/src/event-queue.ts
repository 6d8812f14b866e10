/**
 * The host-side queue of events waiting for eventq buffers: bounded, whole packets only, and
 * evdev's overflow rule (Linux drivers/input/evdev.c, `__pass_event`). A packet is the events up
 * to and including EV_SYN/SYN_REPORT; it becomes deliverable when complete (evdev's
 * `packet_head`), so a reader never sees half an update (VIRTIO 1.2 §5.8.6.2: buffer or drop
 * the entire sequence). When a complete packet does not fit, every packet not yet started is
 * dropped, then EV_SYN/SYN_DROPPED is queued, then the new packet: what an evdev reader gets when
 * its buffer overflows (SYN_DROPPED and the newest events, which it discards up to the next
 * SYN_REPORT before it resynchronises). A packet already partly delivered is finished first,
 * never torn. Nothing is dropped without a count and a SYN_DROPPED.
 * @module
 */
import { EventType, Syn } from './constants.js';

/**
 * One evdev event (`struct virtio_input_event`).
 * @example `const press: InputEvent = { type: EventType.EV_KEY, code: Key.A, value: 1 };`
 */
export interface InputEvent {
  /** EV_* (u16). */
  readonly type: number;
  /** The code within the type (u16). */
  readonly code: number;
  /** The value (s32; le32 on the wire). */
  readonly value: number;
}

/**
 * Counters of the host-side queue.
 * @example `const { droppedPackets, synDropped } = device.stats;`
 */
export interface EventQueueStats {
  /** Events accepted into the queue in complete packets (SYN_DROPPED not counted). */
  readonly queued: number;
  /** Packets dropped by overflows (or by a reset before delivery). */
  readonly droppedPackets: number;
  /** Events in them. */
  readonly droppedEvents: number;
  /** SYN_DROPPED events queued (one per overflow). */
  readonly synDropped: number;
}

/**
 * A bounded queue of evdev events in whole packets.
 * @example
 * ```ts
 * const q = new EventQueue(64);
 * q.push(EventType.EV_KEY, Key.A, 1); q.push(EventType.EV_SYN, Syn.SYN_REPORT, 0);
 * const e = q.shift(); // { type: 1, code: 30, value: 1 }
 * ```
 */
export class EventQueue {
  /** Most events held, SYN_DROPPED included. */
  readonly capacity: number;
  /** Most events in one packet (SYN_REPORT included): half the capacity less one, so a packet always fits after an overflow. */
  readonly maxPacket: number;
  private readonly keys: Uint32Array;
  private readonly values: Int32Array;
  private head = 0;
  private count = 0;
  /** Whether the head packet is partly delivered (its rest is never dropped by an overflow). */
  private started = false;
  private readonly pending: InputEvent[] = [];
  private counters = { queued: 0, droppedPackets: 0, droppedEvents: 0, synDropped: 0 };

  /**
   * @param capacity - events held at most (4 to 65536).
   * @throws RangeError for a capacity out of range.
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 4 || capacity > 65536) throw new RangeError(`EventQueue: capacity must be an integer from 4 to 65536, got ${capacity}`);
    this.capacity = capacity;
    this.maxPacket = (capacity >> 1) - 1;
    this.keys = new Uint32Array(capacity);
    this.values = new Int32Array(capacity);
  }

  /** Complete events waiting for the guest. @returns the count. @example `if (q.length) deliver()` */
  get length(): number {
    return this.count;
  }

  /** Events of an unfinished packet (no SYN_REPORT yet). @returns the count. @example `q.pendingLength` */
  get pendingLength(): number {
    return this.pending.length;
  }

  /** The counters. @returns a snapshot. @example `q.stats.synDropped` */
  get stats(): EventQueueStats {
    return { ...this.counters };
  }

  /**
   * Adds one event; an EV_SYN/SYN_REPORT completes the packet, which becomes deliverable (or
   * overflows the queue, see the module header).
   * @param type - EV_* (u16).
   * @param code - code (u16).
   * @param value - value (s32).
   * @throws RangeError when the unfinished packet already holds `maxPacket - 1` events (it
   *   could not end with its SYN_REPORT), or a field is out of range; nothing is added.
   * @example `q.push(EventType.EV_SYN, Syn.SYN_REPORT, 0)`
   */
  push(type: number, code: number, value: number): void {
    const report = type === EventType.EV_SYN && code === Syn.SYN_REPORT;
    if (!report && this.pending.length >= this.maxPacket - 1) throw new RangeError(`EventQueue.push: a packet holds at most ${this.maxPacket} events with its SYN_REPORT; end it with EV_SYN/SYN_REPORT`);
    this.pending.push({ type, code, value });
    if (report) this.commit();
  }

  /**
   * The next event for the guest, taken out of the queue.
   * @returns the event, or null when none is complete.
   * @example `for (let e = q.shift(); e; e = q.shift()) write(e)`
   */
  shift(): InputEvent | null {
    if (this.count === 0) return null;
    const k = this.keys[this.head]!;
    const e = { type: k >>> 16, code: k & 0xffff, value: this.values[this.head]! };
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.started = !(e.type === EventType.EV_SYN && e.code === Syn.SYN_REPORT);
    return e;
  }

  /**
   * Drops everything (a device reset: the next driver starts afresh), counting what was dropped.
   * @example `q.clear()`
   */
  clear(): void {
    this.drop(0);
    this.counters.droppedEvents += this.pending.length;
    this.pending.length = 0;
    this.started = false;
  }

  private commit(): void {
    const packet = this.pending.splice(0);
    if (this.count + packet.length > this.capacity) {
      this.drop(this.started ? this.headPacketLength() : 0);
      this.append(EventType.EV_SYN, Syn.SYN_DROPPED, 0);
      this.counters.synDropped++;
    }
    for (const e of packet) this.append(e.type, e.code, e.value);
    this.counters.queued += packet.length;
  }

  /** Events from the head up to and including the first SYN_REPORT. */
  private headPacketLength(): number {
    for (let i = 0; i < this.count; i++) {
      const k = this.keys[(this.head + i) % this.capacity]!;
      if (k === ((EventType.EV_SYN << 16) | Syn.SYN_REPORT)) return i + 1;
    }
    return this.count;
  }

  /** Drops every event after the first `keep`, counting whole packets. */
  private drop(keep: number): void {
    let packets = 0;
    let events = 0;
    for (let i = keep; i < this.count; i++) {
      const k = this.keys[(this.head + i) % this.capacity]!;
      if (k === ((EventType.EV_SYN << 16) | Syn.SYN_DROPPED)) continue;
      events++;
      if (k === ((EventType.EV_SYN << 16) | Syn.SYN_REPORT)) packets++;
    }
    this.counters.droppedPackets += packets;
    this.counters.droppedEvents += events;
    this.count = keep;
  }

  private append(type: number, code: number, value: number): void {
    const at = (this.head + this.count) % this.capacity;
    this.keys[at] = ((type << 16) | code) >>> 0;
    this.values[at] = value;
    this.count++;
  }
}
