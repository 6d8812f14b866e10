/**
 * {@link ConsoleDevice}: virtio-console (VIRTIO 1.2 §5.3) as a transport-independent VirtioDevice.
 * Port 0 alone, or with VIRTIO_CONSOLE_F_MULTIPORT several named ports and the control queues,
 * driven as Linux's drivers/char/virtio_console.c drives them: DEVICE_READY → PORT_ADD per port
 * → PORT_READY → CONSOLE_PORT / PORT_NAME / PORT_OPEN, and PORT_OPEN from the guest when a
 * process opens /dev/vportNpM. F_SIZE (config cols/rows and a config change without multiport,
 * RESIZE with it) and F_EMERG_WRITE. A bad control message is a typed `bad-control` event.
 * @module
 */
import { DeviceId, Feature, InFlightBudget, features, fillQueue, hasFeature, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DescriptorChain, DeviceHost, ServedQueue, VirtioDevice } from '@vmv/device-trait';
import { ConsolePort } from './port.js';
import type { ConsolePortOptions, PortLink } from './port.js';
import type { ConsoleSize } from './wire.js';
import { BAD_ID, CONSOLE_CONFIG_SIZE, ConsoleConfigOffset, ConsoleFeature, ControlEvent, decodeControl, encodeControl, encodeResize, portOfQueue, receiveQueueOf } from './wire.js';

/**
 * What the device reports: the driver's side of the control protocol, and guest input it refused.
 * @example
 * ```ts
 * new ConsoleDevice({ onEvent: (e) => { if (e.type === 'bad-control') console.warn(e.reason); } });
 * ```
 */
export type ConsoleEvent =
  | {
      /** DEVICE_READY from the driver. */
      readonly type: 'device-ready';
      /** Its value was 1 (ready) rather than 0 (failed). */
      readonly ok: boolean;
    }
  | {
      /** PORT_READY from the driver. */
      readonly type: 'port-ready';
      /** The port. */
      readonly port: number;
      /** Its value was 1 (ready) rather than 0 (failed). */
      readonly ok: boolean;
    }
  | {
      /** PORT_OPEN from the driver: the guest opened or closed its end. */
      readonly type: 'guest-open';
      /** The port. */
      readonly port: number;
      /** Opened (true) or closed. */
      readonly open: boolean;
    }
  | {
      /** A byte written to emerg_wr. */
      readonly type: 'emergency-write';
      /** The byte. */
      readonly byte: number;
    }
  | {
      /** A control message refused. */
      readonly type: 'bad-control';
      /**
       * `short`: fewer than 8 bytes; `unknown-port`: an id that is no port; `unknown-event`: an
       * event number §5.3.6.2 does not define; `unexpected-event`: an event only the device sends;
       * `duplicate`: a second DEVICE_READY; `control-overflow`: the driver asked for more control
       * messages than it takes (they are dropped: the protocol cannot go on anyway).
       */
      readonly reason: 'short' | 'unknown-port' | 'unknown-event' | 'unexpected-event' | 'duplicate' | 'control-overflow';
      /** The message's port id, when it had one. */
      readonly id?: number;
      /** The message's event, when it had one. */
      readonly event?: number;
      /** The buffer's length (`short`). */
      readonly length?: number;
    };

/**
 * Options of {@link ConsoleDevice}.
 * @example `const o: ConsoleDeviceOptions = { ports: [{}, { name: 'org.test.0' }], size: { cols: 80, rows: 25 } };`
 */
export interface ConsoleDeviceOptions {
  /** The ports, port 0 first (default one console port). More than one, or a name, offers MULTIPORT. */
  readonly ports?: readonly ConsolePortOptions[];
  /** Offer VIRTIO_CONSOLE_F_MULTIPORT even with one unnamed port (as rust-vmm's daemon does). Default: when needed. */
  readonly multiport?: boolean;
  /** The console size: offers VIRTIO_CONSOLE_F_SIZE. Default none. */
  readonly size?: ConsoleSize;
  /** Offer VIRTIO_CONSOLE_F_EMERG_WRITE (bytes go to port 0's endpoint). Default true. */
  readonly emergencyWrite?: boolean;
  /** Largest ring size of every queue. Default 128. */
  readonly queueSize?: number;
  /** Host → guest bytes buffered per port before `ConsolePort.write` returns false. Default 64 KiB. */
  readonly highWaterMark?: number;
  /** Guest transmit buffers held per port while the host side is slow. Default 8. */
  readonly transmitInFlight?: number;
  /** Protocol events and refused guest input. */
  readonly onEvent?: (event: ConsoleEvent) => void;
}

/** Guest → host bytes are handed over in pieces of at most this many bytes. */
const PIECE = 64 * 1024;
/** Control bytes read from a driver's message (the header; nothing the driver sends has more). */
const CONTROL_READ = 64;
/** Emergency-write bytes kept while port 0 has no endpoint. */
const EMERGENCY_KEEP = 4096;

interface Held {
  readonly chain: DescriptorChain;
  readonly served: ServedQueue;
}

/**
 * virtio-console. Each port's host end is a {@link ConsolePort} (`device.port(id)`).
 * @example
 * ```ts
 * const device = new ConsoleDevice({ ports: [{}, { name: 'org.test.0' }] });
 * device.port(1).connect({ write: (data, done) => { sink(data); done(); } });
 * device.port(1).write(new TextEncoder().encode('hello'));
 * ```
 */
export class ConsoleDevice implements VirtioDevice {
  readonly deviceId = DeviceId.CONSOLE;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = CONSOLE_CONFIG_SIZE;
  private readonly ports: readonly ConsolePort[];
  private readonly txBudgets: readonly InFlightBudget[];
  private readonly onEvent: (event: ConsoleEvent) => void;
  private ctx: ActivationContext | null = null;
  private host: DeviceHost | null = null;
  private size: { cols: number; rows: number } | null;
  private multiport = false;
  /** A driver finished DEVICE_READY: the ports' protocol state (ready, open) is that driver's. */
  private deviceReady = false;
  /** DEVICE_READY 1 came in this activation (a second one is a `duplicate`). */
  private readyThisActivation = false;
  /** Per port: guest transmit buffers waiting for the endpoint, oldest first; the first is being sent. */
  private readonly txHeld: Held[][];
  private readonly txBusy: boolean[];
  /** Per port: the rest of a transmit buffer whose endpoint disconnected mid-way. */
  private readonly parked: ((() => void) | null)[];
  private readonly controlOut: Uint8Array[] = [];
  private readonly controlLimit: number;
  private readonly emergency: number[] = [];

  /**
   * @param options - ports, features and bounds.
   * @throws RangeError or TypeError for bad options.
   */
  constructor(options: ConsoleDeviceOptions = {}) {
    const ports = options.ports ?? [{}];
    if (!Array.isArray(ports) || ports.length < 1 || ports.length > 0x7fff) throw new RangeError('ConsoleDevice: ports must list 1..32767 ports');
    const queueSize = options.queueSize ?? 128;
    if (!Number.isInteger(queueSize) || queueSize < 2 || queueSize > 32768) throw new RangeError(`ConsoleDevice: queueSize must be in 2..32768, got ${queueSize}`);
    const hwm = options.highWaterMark ?? 64 * 1024;
    if (!Number.isInteger(hwm) || hwm < 1) throw new RangeError(`ConsoleDevice: highWaterMark must be a positive integer, got ${hwm}`);
    const inFlight = options.transmitInFlight ?? 8;
    if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`ConsoleDevice: transmitInFlight must be a positive integer, got ${inFlight}`);
    const names = new Set<string>();
    for (const p of ports) {
      if (p.name === undefined) continue;
      if (typeof p.name !== 'string' || p.name.length === 0 || new TextEncoder().encode(p.name).length > 255) throw new RangeError('ConsoleDevice: a port name is 1..255 bytes of UTF-8');
      if (names.has(p.name)) throw new RangeError(`ConsoleDevice: two ports are named ${JSON.stringify(p.name)}`);
      names.add(p.name);
    }
    const multiport = options.multiport ?? (ports.length > 1 || names.size > 0);
    if (!multiport && ports.length > 1) throw new RangeError('ConsoleDevice: several ports need multiport');
    if (options.size !== undefined) checkSize(options.size.cols, options.size.rows);
    this.size = options.size === undefined ? null : { cols: options.size.cols, rows: options.size.rows };
    const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED];
    if (this.size !== null) bits.push(ConsoleFeature.SIZE);
    if (multiport) bits.push(ConsoleFeature.MULTIPORT);
    if (options.emergencyWrite !== false) bits.push(ConsoleFeature.EMERG_WRITE);
    this.deviceFeatures = features(...bits);
    this.queueMaxSizes = new Array<number>(multiport ? 2 + 2 * ports.length : 2).fill(queueSize);
    const link: PortLink = {
      hostData: (port) => this.pumpRx(port.id),
      hostOpen: (port) => this.sendHostOpen(port),
      endpointReady: (port) => {
        this.flushEmergency();
        this.pumpTx(port.id);
      },
    };
    this.ports = ports.map((p, i) => new ConsolePort(i, p.name, p.console ?? i === 0, hwm, link));
    this.txBudgets = ports.map(() => new InFlightBudget(inFlight));
    this.txHeld = ports.map(() => []);
    this.txBusy = ports.map(() => false);
    this.parked = ports.map(() => null);
    this.controlLimit = 16 + 8 * ports.length;
    this.onEvent = options.onEvent ?? (() => {});
  }

  /** The number of ports (`max_nr_ports`). */
  get portCount(): number {
    return this.ports.length;
  }

  /**
   * The host end of port `id`.
   * @param id - 0..portCount-1.
   * @returns the port.
   * @throws RangeError for no such port.
   * @example `device.port(0).write(bytes)`
   */
  port(id: number): ConsolePort {
    const p = this.ports[id];
    if (p === undefined) throw new RangeError(`ConsoleDevice: no port ${id} (there are ${this.ports.length})`);
    return p;
  }

  /**
   * Changes the console size: without multiport the config space changes and the driver gets a
   * config change notification; with it, each ready console port gets a RESIZE message.
   * @param cols - columns (0..65535).
   * @param rows - rows (0..65535).
   * @throws TypeError when the device does not offer F_SIZE (no `size` option); RangeError for a bad size.
   * @example `device.resize(132, 43);`
   */
  resize(cols: number, rows: number): void {
    if (this.size === null) throw new TypeError('ConsoleDevice: resize needs the size option (VIRTIO_CONSOLE_F_SIZE)');
    checkSize(cols, rows);
    this.size = { cols, rows };
    if (this.ctx !== null && this.multiport) {
      for (const p of this.ports) if (p.isConsole && p.ready) this.control(p.id, ControlEvent.RESIZE, 0, encodeResize(cols, rows));
    } else {
      this.host?.configChanged();
    }
  }

  readConfig(offset: number, data: Uint8Array): void {
    const config = new Uint8Array(CONSOLE_CONFIG_SIZE);
    const view = new DataView(config.buffer);
    view.setUint16(ConsoleConfigOffset.COLS, this.size?.cols ?? 0, true);
    view.setUint16(ConsoleConfigOffset.ROWS, this.size?.rows ?? 0, true);
    view.setUint32(ConsoleConfigOffset.MAX_NR_PORTS, this.ports.length, true);
    data.fill(0);
    data.set(config.subarray(offset, offset + data.length));
  }

  writeConfig(offset: number, data: Uint8Array): void {
    // Only emerg_wr is writable (§5.3.4): a character, in its low byte, for port 0.
    const at = ConsoleConfigOffset.EMERG_WR - offset;
    if (!hasFeature(this.deviceFeatures, ConsoleFeature.EMERG_WRITE) || at < 0 || at >= data.length) return;
    const byte = data[at]!;
    this.onEvent({ type: 'emergency-write', byte });
    if (this.emergency.length < EMERGENCY_KEEP) this.emergency.push(byte);
    this.flushEmergency();
  }

  attach(host: DeviceHost): void {
    this.host = host;
  }

  /**
   * Starts serving. The ports' protocol state (PORT_READY, PORT_OPEN) of the last driver is kept
   * across a reset until a driver sends DEVICE_READY again: a vhost-user frontend that stops
   * every ring and starts them again (QEMU's `stop`/`cont`, a reconnect) looks like a reset to
   * the device, but the guest's driver goes on where it was and never repeats the handshake. A
   * driver that really starts over sends DEVICE_READY first, and posts no port receive buffer
   * before the PORT_ADD that answers it, so nothing reaches it before its ports are closed.
   */
  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    const multiport = hasFeature(ctx.features, ConsoleFeature.MULTIPORT);
    if (multiport !== this.multiport) this.forgetDriver();
    this.multiport = multiport;
    this.readyThisActivation = false;
    // Without multiport port 0 is a console open from the start; with it, the driver says so.
    if (!this.multiport) this.ports[0]!.guestIsOpen = true;
    for (const p of this.ports) this.pumpRx(p.id);
  }

  reset(): void {
    this.ctx = null;
    this.readyThisActivation = false;
    this.controlOut.length = 0;
    for (const p of this.ports) {
      // Chains not yet started: complete them (the queue drops them) to free their budget slots;
      // the one being sent completes when its endpoint says done.
      const held = this.txHeld[p.id]!;
      for (const h of held.splice(this.txBusy[p.id] || this.parked[p.id] !== null ? 1 : 0)) h.served.complete(h.chain, 0);
      const parked = this.parked[p.id];
      if (parked !== null && parked !== undefined) {
        this.parked[p.id] = null;
        this.txBusy[p.id] = true;
        parked();
      }
    }
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    if (index === 2) return this.pumpControl();
    if (index === 3) return serveQueue(ctx, index, this.handleControl);
    const port = portOfQueue(index);
    if (port >= this.ports.length || (port > 0 && !this.multiport)) return;
    if (index === receiveQueueOf(port)) this.pumpRx(port);
    else serveQueue(ctx, index, this.holdTransmit, this.txBudgets[port]);
  }

  // --- host → guest ------------------------------------------------------------------------

  /** Fills the guest's receive buffers of `port` with waiting host bytes (a buffer is taken only for bytes: fillQueue). */
  private pumpRx(id: number): void {
    const port = this.ports[id]!;
    if (this.ctx === null || !port.guestIsOpen) return;
    fillQueue(this.ctx, receiveQueueOf(id), () => port.buffered > 0, (out) => {
      for (const piece of port.take(out.remaining)) out.write(piece);
    });
    port.drained();
  }

  // --- guest → host ------------------------------------------------------------------------

  private readonly holdTransmit = (chain: DescriptorChain, served: ServedQueue): void => {
    const port = portOfQueue(served.index);
    this.txHeld[port]!.push({ chain, served });
    this.pumpTx(port);
  };

  /** Sends the oldest held transmit buffer of `port` to its endpoint, a piece at a time. */
  private pumpTx(id: number): void {
    const held = this.txHeld[id]!;
    if (this.txBusy[id] || this.ports[id]!.endpoint === null) return;
    const parked = this.parked[id];
    if (parked !== null && parked !== undefined) {
      this.parked[id] = null;
      this.txBusy[id] = true;
      return parked();
    }
    if (held.length === 0) return;
    this.txBusy[id] = true;
    const { chain, served } = held[0]!;
    const ctx = this.ctx;
    const reader = chain.reader();
    let left = chain.readableBytes;
    const finish = () => {
      held.shift();
      this.txBusy[id] = false;
      served.complete(chain, 0);
      this.pumpTx(id);
    };
    const step = (): void => {
      // A reset since, or nothing left: the buffer goes back (a reset queue drops it).
      if (this.ctx !== ctx || left === 0) return finish();
      const endpoint = this.ports[id]!.endpoint;
      if (endpoint === null) {
        // Disconnected mid-buffer: the rest waits for the next endpoint.
        this.txBusy[id] = false;
        this.parked[id] = step;
        return;
      }
      let piece: Uint8Array;
      try {
        piece = reader.readBytes(Math.min(left, PIECE));
      } catch (error) {
        ctx!.needsReset(error);
        return finish();
      }
      left -= piece.length;
      let called = false;
      endpoint.write(piece, () => {
        if (called) return;
        called = true;
        step();
      });
    };
    step();
  }

  // --- control queues ----------------------------------------------------------------------

  private pumpControl(): void {
    if (this.ctx === null) return;
    fillQueue(this.ctx, 2, () => this.controlOut.length > 0, (out) => {
      out.write(this.controlOut.shift()!.subarray(0, out.remaining));
    });
  }

  /** Queues a control message for the driver. */
  private control(id: number, event: number, value: number, data?: Uint8Array): void {
    if (this.controlOut.length >= this.controlLimit) {
      this.onEvent({ type: 'bad-control', reason: 'control-overflow', id, event });
      return;
    }
    this.controlOut.push(encodeControl(id, event, value, data));
    this.pumpControl();
  }

  private sendHostOpen(port: ConsolePort): void {
    if (this.ctx !== null && this.multiport && port.ready) this.control(port.id, ControlEvent.PORT_OPEN, port.hostConnected ? 1 : 0);
  }

  private readonly handleControl = (chain: DescriptorChain, served: ServedQueue): void => {
    let bytes: Uint8Array;
    try {
      bytes = chain.reader().readBytes(Math.min(chain.readableBytes, CONTROL_READ));
    } catch (error) {
      this.ctx?.needsReset(error);
      return served.complete(chain, 0);
    }
    served.complete(chain, 0);
    if (this.multiport) this.driverMessage(bytes);
  };

  /** One control message from the driver (§5.3.6.2, as Linux sends them). */
  private driverMessage(bytes: Uint8Array): void {
    const decoded = decodeControl(bytes);
    if (!decoded.ok) return this.onEvent({ type: 'bad-control', reason: 'short', length: decoded.length });
    const { id, event, value } = decoded.message;
    if (event === ControlEvent.DEVICE_READY) {
      if (this.readyThisActivation) return this.onEvent({ type: 'bad-control', reason: 'duplicate', id, event });
      this.onEvent({ type: 'device-ready', ok: value === 1 });
      if (value !== 1) return;
      // A driver that starts over (after a reset): the last one's ports are gone.
      if (this.deviceReady) this.forgetDriver();
      this.deviceReady = true;
      this.readyThisActivation = true;
      for (const p of this.ports) this.control(p.id, ControlEvent.PORT_ADD, 0);
      return;
    }
    if (event > ControlEvent.PORT_NAME) return this.onEvent({ type: 'bad-control', reason: 'unknown-event', id, event });
    if (event !== ControlEvent.PORT_READY && event !== ControlEvent.PORT_OPEN) return this.onEvent({ type: 'bad-control', reason: 'unexpected-event', id, event });
    const port = this.ports[id];
    if (port === undefined || id === BAD_ID) return this.onEvent({ type: 'bad-control', reason: 'unknown-port', id, event });
    if (event === ControlEvent.PORT_READY) {
      this.onEvent({ type: 'port-ready', port: id, ok: value === 1 });
      port.ready = value === 1;
      if (!port.ready) return;
      if (port.isConsole) {
        this.control(id, ControlEvent.CONSOLE_PORT, 1);
        const size = this.size;
        if (size !== null && hasFeature(this.ctx!.features, ConsoleFeature.SIZE)) this.control(id, ControlEvent.RESIZE, 0, encodeResize(size.cols, size.rows));
      }
      if (port.name !== undefined) this.control(id, ControlEvent.PORT_NAME, 1, new TextEncoder().encode(port.name));
      if (port.hostConnected) this.control(id, ControlEvent.PORT_OPEN, 1);
      return;
    }
    const open = value !== 0;
    port.guestIsOpen = open;
    this.onEvent({ type: 'guest-open', port: id, open });
    port.endpoint?.guestOpen?.(open);
    if (open) this.pumpRx(id);
  }

  /** The driver that set the ports up is gone: they are neither ready nor open. */
  private forgetDriver(): void {
    this.deviceReady = false;
    for (const p of this.ports) {
      p.ready = false;
      if (!p.guestIsOpen) continue;
      p.guestIsOpen = false;
      this.onEvent({ type: 'guest-open', port: p.id, open: false });
      p.endpoint?.guestOpen?.(false);
    }
  }

  private flushEmergency(): void {
    const endpoint = this.ports[0]!.endpoint;
    if (endpoint === null || this.emergency.length === 0) return;
    const bytes = Uint8Array.from(this.emergency.splice(0));
    endpoint.write(bytes, () => {});
  }
}

function checkSize(cols: number, rows: number): void {
  if (!Number.isInteger(cols) || cols < 0 || cols > 0xffff || !Number.isInteger(rows) || rows < 0 || rows > 0xffff) {
    throw new RangeError(`ConsoleDevice: cols and rows must be in 0..65535, got ${cols}x${rows}`);
  }
}
