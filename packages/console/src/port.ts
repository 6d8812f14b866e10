/**
 * {@link ConsolePort}: the host end of one virtio-console port (VIRTIO 1.2 §5.3.6), with flow
 * control both ways. Host → guest bytes wait in a buffer until the guest posts receive buffers;
 * `write` returns false once `highWaterMark` bytes wait, and the endpoint's `drain` says when to
 * go on (Node's Writable contract). Guest → host bytes go to the {@link PortEndpoint} one piece at
 * a time; the guest's transmit buffer is returned only when the endpoint called `done`.
 * @module
 */

/**
 * What the host plugs into a port: a socket, a terminal, a Node stream, a test.
 * @example
 * ```ts
 * const chunks: Uint8Array[] = [];
 * port.connect({ write: (data, done) => { chunks.push(data); done(); } });
 * ```
 */
export interface PortEndpoint {
  /**
   * Bytes the guest wrote. Call `done` once they are taken (sent, buffered within bounds): the
   * next piece comes only then, and the guest's buffer is returned only then. `data` is the
   * endpoint's to keep.
   */
  write(data: Uint8Array, done: () => void): void;
  /** After `ConsolePort.write` returned false: the buffer went below its high-water mark, write again. */
  drain?(): void;
  /** The guest opened (true) or closed (false) its end of the port (PORT_OPEN from the driver). */
  guestOpen?(open: boolean): void;
}

/**
 * A port's description: its name (PORT_NAME: /sys/class/virtio-ports/vportNpM/name) and whether it
 * is a console (an hvc in the guest).
 * @example `const p: ConsolePortOptions = { name: 'org.qemu.guest_agent.0' };`
 */
export interface ConsolePortOptions {
  /** The port's name, sent with PORT_NAME (multiport only). At most 255 bytes of UTF-8. */
  readonly name?: string;
  /** A console port (CONSOLE_PORT; port 0 without multiport is always one). Default: port 0 only. */
  readonly console?: boolean;
}

/** @internal What a port needs from its device. */
export interface PortLink {
  /** Host bytes are waiting. */
  hostData(port: ConsolePort): void;
  /** The host end connected or disconnected (PORT_OPEN to the driver). */
  hostOpen(port: ConsolePort): void;
  /** An endpoint is there: guest bytes held meanwhile can go. */
  endpointReady(port: ConsolePort): void;
}

/**
 * The host end of one port. Made by `ConsoleDevice`; find it with `device.port(id)`.
 * @example
 * ```ts
 * const port = device.port(0);
 * port.connect({ write: (data, done) => { console.log(data); done(); } });
 * port.write(new TextEncoder().encode('ls\n'));
 * ```
 */
export class ConsolePort {
  /** Host bytes waiting for guest receive buffers, oldest first. */
  private readonly chunks: Uint8Array[] = [];
  /** Bytes of `chunks[0]` already delivered. */
  private offset = 0;
  private waiting = 0;
  private most = 0;
  private needDrain = false;
  private ep: PortEndpoint | null = null;
  /** @internal The guest opened its end (multiport: PORT_OPEN 1; otherwise from activation). */
  guestIsOpen = false;
  /** @internal The driver answered PORT_READY 1. */
  ready = false;

  /**
   * @internal Made by the device.
   * @param id - the port number.
   * @param name - its PORT_NAME.
   * @param isConsole - whether it is a console port.
   * @param highWaterMark - host bytes buffered before `write` returns false.
   * @param link - the device.
   */
  constructor(
    readonly id: number,
    readonly name: string | undefined,
    readonly isConsole: boolean,
    readonly highWaterMark: number,
    private readonly link: PortLink,
  ) {}

  /** Host bytes waiting for the guest. */
  get buffered(): number {
    return this.waiting;
  }

  /** The most host bytes that ever waited at once (at most `highWaterMark` plus one write, for a writer that stops on false). */
  get maxBuffered(): number {
    return this.most;
  }

  /** Whether the guest has its end open. */
  get guestOpen(): boolean {
    return this.guestIsOpen;
  }

  /** Whether an endpoint is connected. */
  get hostConnected(): boolean {
    return this.ep !== null;
  }

  /** @internal The endpoint, or null. */
  get endpoint(): PortEndpoint | null {
    return this.ep;
  }

  /**
   * Connects the host end: the guest is told (PORT_OPEN 1), and guest bytes held while nobody
   * was connected go to `endpoint` now.
   * @param endpoint - where guest bytes go.
   * @throws TypeError when an endpoint is already connected.
   * @example `port.connect({ write: (d, done) => socket.write(d, () => done()) });`
   */
  connect(endpoint: PortEndpoint): void {
    if (this.ep !== null) throw new TypeError(`ConsolePort ${this.id}: an endpoint is already connected`);
    if (typeof endpoint?.write !== 'function') throw new TypeError(`ConsolePort ${this.id}: endpoint.write must be a function`);
    this.ep = endpoint;
    this.link.hostOpen(this);
    this.link.endpointReady(this);
  }

  /**
   * Disconnects the host end (PORT_OPEN 0 to the guest). Guest bytes wait for the next endpoint;
   * host bytes already written still reach the guest.
   * @example `socket.on('close', () => port.disconnect());`
   */
  disconnect(): void {
    if (this.ep === null) return;
    this.ep = null;
    this.needDrain = false;
    this.link.hostOpen(this);
  }

  /**
   * Sends bytes to the guest. They wait until the guest has its end open and receive buffers
   * posted; none is dropped.
   * @param data - the bytes (kept until delivered: do not modify them).
   * @returns false once `highWaterMark` bytes or more wait: stop writing until the endpoint's `drain`.
   * @throws TypeError when `data` is not a Uint8Array.
   * @example `if (!port.write(chunk)) source.pause();`
   */
  write(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError(`ConsolePort ${this.id}: write takes a Uint8Array`);
    if (data.length > 0) {
      this.chunks.push(data);
      this.waiting += data.length;
      if (this.waiting > this.most) this.most = this.waiting;
      this.link.hostData(this);
    }
    const below = this.waiting < this.highWaterMark;
    if (!below) this.needDrain = true;
    return below;
  }

  /** @internal Moves up to `room` waiting bytes out (as views), oldest first. */
  take(room: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (room > 0 && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const n = Math.min(room, head.length - this.offset);
      out.push(head.subarray(this.offset, this.offset + n));
      this.offset += n;
      room -= n;
      this.waiting -= n;
      if (this.offset === head.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }

  /** @internal After delivery: tell a paused writer to go on. */
  drained(): void {
    if (this.needDrain && this.waiting < this.highWaterMark) {
      this.needDrain = false;
      this.ep?.drain?.();
    }
  }
}
