/**
 * {@link CanBus}: a virtual CAN bus joining virtio-can controllers ({@link CanDevice}, VIRTIO 1.4
 * §5.20) and the host program's endpoints ({@link CanEndpoint}). A frame is transmitted once and
 * every node that takes it (started, matching its filters, and not its sender unless that asked
 * for loopback) receives it at the same moment, so all receivers see one order: the order in which
 * the frames were handed to the bus. Lossless with bounded buffers: a frame goes on the bus only
 * when every receiver has room for it; until then it waits, and so do the frames behind it and
 * their senders (a guest's transmit buffer stays unused, an endpoint's `send` unresolved).
 * @module
 */
import { checkFrame, type CanFrame } from './frame.js';

/**
 * A receive filter, as SocketCAN's `struct can_filter`: a frame matches when
 * `(frame.id & mask) === (id & mask)` and, when `extended` is given, its id kind is that one.
 * @example `{ id: 0x100, mask: 0x700 } // ids 0x100..0x1ff`
 */
export interface CanFilter {
  /** The id bits to match. */
  readonly id: number;
  /** Which bits of the id are compared. */
  readonly mask: number;
  /** Match only extended (true) or only standard (false) ids; absent: both. */
  readonly extended?: boolean;
}

/**
 * Options of {@link CanBus.endpoint}.
 * @example `bus.endpoint({ filters: [{ id: 0x100, mask: 0x700 }], buffer: 1024 })`
 */
export interface CanEndpointOptions {
  /** Receive the frames this endpoint sends, too (default false). */
  readonly loopback?: boolean;
  /** Receive only frames matching one of these (default: every frame). */
  readonly filters?: readonly CanFilter[];
  /** Frames held for `receive` before the bus waits for this endpoint (default 256; 1 to 65536). */
  readonly buffer?: number;
}

/**
 * Counters of a bus.
 * @example `bus.stats.frames`
 */
export interface CanBusStats {
  /** Frames transmitted on the bus. */
  readonly frames: number;
  /** Frames handed to the bus and not yet transmitted (waiting for a receiver with no room). */
  readonly waiting: number;
  /** Transmissions cancelled before they reached the bus (a controller stopped, an endpoint closed). */
  readonly cancelled: number;
  /** Nodes on the bus: devices and open endpoints. */
  readonly nodes: number;
}

/** @internal What the bus asks of a receiving node. */
export interface BusNode {
  /** Whether the node takes `frame` (`own`: it sent it). */
  wants(frame: CanFrame, own: boolean): boolean;
  /** Whether it can take one more frame now. */
  hasRoom(): boolean;
  /** Takes a frame (it had room). */
  take(frame: CanFrame): void;
}

/** A frame handed to the bus: `done(true)` once on the bus, `done(false)` when cancelled. */
interface Transmission {
  readonly frame: CanFrame;
  readonly from: BusNode;
  readonly done: (onBus: boolean) => void;
  cancelled: boolean;
}

function checkFilters(filters: readonly CanFilter[] | undefined, label: string): readonly CanFilter[] {
  if (filters === undefined) return [];
  if (!Array.isArray(filters)) throw new TypeError(`${label}: filters must be an array`);
  return filters.map((f: CanFilter, i) => {
    if (typeof f !== 'object' || f === null) throw new TypeError(`${label}: filters[${i}] must be an object`);
    for (const k of ['id', 'mask'] as const) if (!Number.isInteger(f[k]) || f[k] < 0 || f[k] > 0x1fff_ffff) throw new RangeError(`${label}: filters[${i}].${k} must be an integer in 0..0x1fffffff`);
    if (f.extended !== undefined && typeof f.extended !== 'boolean') throw new TypeError(`${label}: filters[${i}].extended must be a boolean`);
    return Object.freeze({ id: f.id, mask: f.mask, ...(f.extended === undefined ? {} : { extended: f.extended }) });
  });
}

function matches(filters: readonly CanFilter[], frame: CanFrame): boolean {
  if (filters.length === 0) return true;
  for (const f of filters) if ((frame.id & f.mask) === (f.id & f.mask) && (f.extended === undefined || f.extended === (frame.extended === true))) return true;
  return false;
}

/**
 * A virtual CAN bus.
 * @example
 * ```ts
 * const bus = new CanBus();
 * const a = bus.endpoint(), b = bus.endpoint();
 * await a.send({ id: 0x123, data: Uint8Array.of(1, 2) });
 * (await b.receive())?.id; // 0x123
 * ```
 */
export class CanBus {
  private readonly nodes = new Set<BusNode>();
  private queue: Transmission[] = [];
  private head = 0;
  private pumping = false;
  private again = false;
  private readonly receivers: BusNode[] = [];
  private counters = { frames: 0, cancelled: 0 };

  /** The counters. @returns a snapshot. @example `bus.stats.waiting` */
  get stats(): CanBusStats {
    return { ...this.counters, waiting: this.queue.length - this.head - this.queue.slice(this.head).filter((t) => t.cancelled).length, nodes: this.nodes.size };
  }

  /**
   * A new endpoint of the host program on this bus.
   * @param options - loopback, filters, buffer size.
   * @returns the endpoint, on the bus until closed.
   * @throws TypeError or RangeError for bad options.
   * @example `const monitor = bus.endpoint({ buffer: 4096 });`
   */
  endpoint(options: CanEndpointOptions = {}): CanEndpoint {
    return new CanEndpoint(this, options);
  }

  /** @internal A node joins the bus. */
  join(node: BusNode): void {
    this.nodes.add(node);
  }

  /** @internal A node leaves the bus (its own transmissions are the caller's to cancel); a frame it held up may go now. */
  leave(node: BusNode): void {
    this.nodes.delete(node);
    this.pump();
  }

  /** @internal Hands a checked frame to the bus; `done` is called once, true when on the bus. */
  transmit(frame: CanFrame, from: BusNode, done: (onBus: boolean) => void): void {
    this.queue.push({ frame, from, done, cancelled: false });
    this.pump();
  }

  /** @internal Cancels the transmissions of `from` not yet on the bus (each `done(false)`, in order); returns how many. */
  cancel(from: BusNode): number {
    const dropped: Transmission[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const t = this.queue[i]!;
      if (t.from === from && !t.cancelled) {
        t.cancelled = true;
        dropped.push(t);
      }
    }
    this.counters.cancelled += dropped.length;
    for (const t of dropped) t.done(false);
    if (dropped.length > 0) this.pump(); // the head may have been one of them
    return dropped.length;
  }

  /** @internal Transmits what can be: called when a frame is handed over or a receiver got room. */
  pump(): void {
    if (this.pumping) {
      this.again = true; // a node called back from inside take() or done(): the running loop looks again
      return;
    }
    this.pumping = true;
    const receivers = this.receivers;
    try {
      do {
        this.again = false;
        while (this.head < this.queue.length) {
          const t = this.queue[this.head]!;
          if (t.cancelled) {
            this.head++;
            continue;
          }
          receivers.length = 0;
          let room = true;
          for (const n of this.nodes) {
            if (!n.wants(t.frame, n === t.from)) continue;
            if (!n.hasRoom()) {
              room = false;
              break;
            }
            receivers.push(n);
          }
          if (!room) break; // waits for a receiver's room (it calls pump) or for it to leave
          this.head++;
          this.counters.frames++;
          for (const n of receivers) n.take(t.frame);
          t.done(true);
        }
      } while (this.again);
    } finally {
      receivers.length = 0;
      this.pumping = false;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
  }
}

/**
 * The host program's node on a {@link CanBus}: it sends frames and receives what the other nodes
 * send (its own too with `loopback`), through its filters, in bus order. Its buffer is bounded:
 * while it is full, the bus waits for this endpoint to `receive`.
 * @example
 * ```ts
 * const host = bus.endpoint({ filters: [{ id: 0x7e8, mask: 0x7f8 }] });
 * for await (const frame of host) console.log(formatFrame(frame));
 * ```
 */
export class CanEndpoint implements AsyncIterable<CanFrame> {
  private readonly bus: CanBus;
  private readonly loopback: boolean;
  private readonly limit: number;
  private filters: readonly CanFilter[];
  private buffer: CanFrame[] = [];
  private head = 0;
  private readonly waiters: ((frame: CanFrame | null) => void)[] = [];
  private open = true;
  private readonly node: BusNode = {
    wants: (frame, own) => this.open && (!own || this.loopback) && matches(this.filters, frame),
    hasRoom: () => this.waiters.length > 0 || this.buffer.length - this.head < this.limit,
    take: (frame) => {
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter(frame);
      else this.buffer.push(frame);
    },
  };

  /**
   * Use {@link CanBus.endpoint}.
   * @param bus - the bus.
   * @param options - see {@link CanEndpointOptions}.
   * @throws TypeError or RangeError for bad options.
   */
  constructor(bus: CanBus, options: CanEndpointOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('CanEndpoint: options must be an object');
    const limit = options.buffer ?? 256;
    if (!Number.isInteger(limit) || limit < 1 || limit > 65536) throw new RangeError(`CanEndpoint: buffer must be 1 to 65536, got ${String(limit)}`);
    this.bus = bus;
    this.loopback = options.loopback === true;
    this.limit = limit;
    this.filters = checkFilters(options.filters, 'CanEndpoint');
    bus.join(this.node);
  }

  /** Frames received and not yet taken. @example `endpoint.pending` */
  get pending(): number {
    return this.buffer.length - this.head;
  }

  /** Whether the endpoint is closed. @example `if (endpoint.closed) return;` */
  get closed(): boolean {
    return !this.open;
  }

  /**
   * Sends a frame: it waits behind the frames handed to the bus before it, and until every receiver
   * has room for it. Await each send to be paced by the bus.
   * @param frame - the frame (copied).
   * @returns a promise: true once the frame is on the bus, false when the endpoint was closed first.
   * @throws TypeError or RangeError (synchronously) for a frame the bus cannot carry, or a closed endpoint.
   * @example `await host.send({ id: 0x1234567, extended: true, fd: true, data: new Uint8Array(12) });`
   */
  send(frame: CanFrame): Promise<boolean> {
    if (!this.open) throw new TypeError('CanEndpoint.send: the endpoint is closed');
    const f = checkFrame(frame, 'CanEndpoint.send');
    return new Promise((resolve) => this.bus.transmit(f, this.node, resolve));
  }

  /**
   * The next frame received, in bus order.
   * @returns a promise of the frame, or null once the endpoint is closed (after the frames it held).
   * @example `const frame = await host.receive(); if (frame) console.log(frame.id);`
   */
  receive(): Promise<CanFrame | null> {
    const frame = this.tryReceive();
    if (frame !== null || !this.open) return Promise.resolve(frame);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.bus.pump(); // a waiter is room: a frame held up by this endpoint's full buffer may go now
    });
  }

  /**
   * The next frame if one is held, without waiting.
   * @returns the frame, or null.
   * @example `for (let f = host.tryReceive(); f; f = host.tryReceive()) log(f);`
   */
  tryReceive(): CanFrame | null {
    if (this.head === this.buffer.length) return null;
    const full = this.buffer.length - this.head >= this.limit;
    const frame = this.buffer[this.head++]!;
    if (this.head === this.buffer.length) {
      this.buffer = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    if (full) this.bus.pump();
    return frame;
  }

  /**
   * Replaces the filters: frames received from now on must match one of them (none: every frame).
   * @param filters - the filters.
   * @throws TypeError or RangeError for a bad filter.
   * @example `host.setFilters([{ id: 0x18db33f1, mask: 0x1fffffff, extended: true }]);`
   */
  setFilters(filters: readonly CanFilter[]): void {
    this.filters = checkFilters(filters, 'CanEndpoint.setFilters');
  }

  /**
   * Leaves the bus: frames not yet on it are cancelled (their sends resolve false), waiting
   * receives resolve null; frames already held can still be taken.
   * @example `host.close();`
   */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.bus.cancel(this.node);
    for (const w of this.waiters.splice(0)) w(null);
    this.bus.leave(this.node);
  }

  /** Every frame received until the endpoint is closed. @returns an async iterator. */
  async *[Symbol.asyncIterator](): AsyncIterator<CanFrame> {
    for (let f = await this.receive(); f !== null; f = await this.receive()) yield f;
  }
}
