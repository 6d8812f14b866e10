/**
 * A model of Linux's drivers/char/virtio_console.c over the virtio-mmio driver model: it sets up
 * every queue at probe, fills the control receive queue, sends DEVICE_READY, adds each port on
 * PORT_ADD (filling its receive queue, answering PORT_READY 1), opens console ports on
 * CONSOLE_PORT (PORT_OPEN 1), records PORT_NAME / PORT_OPEN / RESIZE, and opens or closes other
 * ports when the test does (a process opening /dev/vportNpM). Receive buffers are re-posted once
 * the test consumed them, so a test can stall the guest's reader.
 */
import { GuestMemory } from '@vmv/memory';
import type { DriverQueue, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { BAD_ID, ConsoleFeature, ControlEvent, decodeControl, encodeControl, portOfQueue, receiveQueueOf, type ConsoleDevice } from '@vmv/console';
import { LinuxGuest, concat, type LinuxGuestOptions } from '../../../transport-mmio/test/support/linux-guest';

const PAGE = 4096;
const BUFFERS = 0x40_0000; // buffer pages from 4 MiB
const PAGES = 1024;

export { concat, until } from '../../../transport-mmio/test/support/linux-guest';

/** How the model lays its buffers out. */
export interface ModelOptions extends LinuxGuestOptions {
  /** Console feature bits the driver accepts (default SIZE, MULTIPORT: what Linux's table lists). */
  readonly accept?: readonly number[];
  /** Receive buffer size (default 4096). */
  readonly rxSize?: number;
}

export interface ModelPort {
  added: boolean;
  console: boolean;
  name: string | undefined;
  hostOpen: boolean;
  size: { rows: number; cols: number } | null;
  /** Bytes received and not yet consumed by the test. */
  received: Uint8Array[];
  /** Filled receive buffers not yet re-posted (the reader stalled). */
  stalled: number;
  queue: DriverQueue<number> | null;
  txQueue: DriverQueue<number> | null;
}

export class LinuxConsole {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(BUFFERS + PAGES * PAGE) }]);
  readonly driver: VirtioMmioDriver;
  readonly ports: ModelPort[] = [];
  readonly controlLog: { id: number; event: number; value: number; data: Uint8Array }[] = [];
  configChanges = 0;
  multiport = false;
  private readonly free: number[] = [];
  private readonly guest: LinuxGuest;
  private queues: DriverQueue<number>[] = [];
  private stallReader = false;

  constructor(
    readonly device: ConsoleDevice,
    private readonly options: ModelOptions = {},
  ) {
    for (let i = PAGES - 1; i >= 0; i--) this.free.push(BUFFERS + i * PAGE);
    this.guest = new LinuxGuest(device, {
      memory: this.memory, ringMemory: { base: 0x10_0000, size: 0x30_0000 },
      onConfigChange: () => {
        this.configChanges++;
        if (!this.multiport && this.ports[0]) this.ports[0].size = { cols: this.driver.cread16(0), rows: this.driver.cread16(2) };
      },
    }, options);
    this.driver = this.guest.driver;
  }

  /** virtcons_probe: negotiate, init_vqs, fill the control queue, DEVICE_READY (or port 0 alone). */
  probe(): bigint {
    this.driver.probe();
    const negotiated = this.driver.negotiate(this.options.accept ?? [ConsoleFeature.SIZE, ConsoleFeature.MULTIPORT]);
    this.multiport = (negotiated >> BigInt(ConsoleFeature.MULTIPORT)) & 1n ? true : false;
    const nrPorts = this.multiport ? this.driver.cread32(4) : 1;
    const nq = this.multiport ? 2 + 2 * nrPorts : 2;
    this.queues = this.guest.setupQueues(nq, (dq) => this.callback(dq));
    this.driver.ready();
    for (let p = 0; p < nrPorts; p++) this.ports.push({ added: false, console: false, name: undefined, hostOpen: false, size: null, received: [], stalled: 0, queue: null, txQueue: null });
    if (!this.multiport) {
      // No multiport: port 0 is a console, added at once.
      this.addPort(0);
      this.ports[0]!.console = true;
      if ((negotiated >> BigInt(ConsoleFeature.SIZE)) & 1n) this.ports[0]!.size = { cols: this.driver.cread16(0), rows: this.driver.cread16(2) };
      return negotiated;
    }
    const crx = this.queues[2]!;
    while (this.post(crx, PAGE)) { /* fill_queue */ }
    crx.kick();
    this.sendControl(BAD_ID, ControlEvent.DEVICE_READY, 1);
    return negotiated;
  }

  /** Sends a control message as the driver (send_control_msg), raw bytes allowed for tests of bad input. */
  sendControlBytes(bytes: Uint8Array): void {
    const q = this.queues[3]!;
    const page = this.alloc();
    this.memory.write(page, bytes);
    q.add(this.guest.segments(page, bytes.length), [], page);
    q.kick();
  }

  sendControl(id: number, event: number, value: number): void {
    this.sendControlBytes(encodeControl(id, event, value));
  }

  /** A process opens (or closes) /dev/vportNpM. */
  open(port: number, open = true): void {
    this.sendControl(port, ControlEvent.PORT_OPEN, open ? 1 : 0);
  }

  /** The guest's reader stops re-posting receive buffers (true) or catches up (false). */
  stall(on: boolean): void {
    this.stallReader = on;
    if (on) return;
    for (const p of this.ports) {
      if (p.queue === null) continue;
      let kick = false;
      for (; p.stalled > 0; p.stalled--) kick = this.post(p.queue, this.options.rxSize ?? PAGE) || kick;
      if (kick) p.queue.kick();
    }
  }

  /**
   * Writes bytes to a port as a process does (in buffers of at most a page); returns how many went
   * into the ring (the rest would block: the ring is full until the device returns buffers).
   */
  write(port: number, data: Uint8Array): number {
    const q = this.ports[port]!.txQueue!;
    let done = 0;
    while (done < data.length) {
      if (this.free.length === 0 || q.ring.numFree < this.guest.segments(0, Math.min(PAGE, data.length - done)).length) break;
      const page = this.alloc();
      const n = Math.min(PAGE, data.length - done);
      this.memory.write(page, data.subarray(done, done + n));
      q.add(this.guest.segments(page, n), [], page);
      done += n;
    }
    q.kick();
    return done;
  }

  /** Takes what port `id` received so far. */
  take(id: number): Uint8Array {
    const p = this.ports[id]!;
    const all = concat(p.received);
    p.received = [];
    return all;
  }

  private alloc(): number {
    const page = this.free.pop();
    if (page === undefined) throw new Error('model: out of buffer pages');
    return page;
  }

  /** Adds a writable buffer; false when the ring or the pages ran out. */
  private post(q: DriverQueue<number>, size: number): boolean {
    if (this.free.length === 0 || q.ring.numFree < this.guest.segments(0, size).length) return false;
    const page = this.alloc();
    q.add([], this.guest.segments(page, size), page);
    return true;
  }

  private addPort(id: number): void {
    const p = this.ports[id]!;
    p.added = true;
    p.queue = this.queues[receiveQueueOf(id)]!;
    p.txQueue = this.queues[receiveQueueOf(id) + 1]!;
    while (this.post(p.queue, this.options.rxSize ?? PAGE)) { /* fill_queue */ }
    p.queue.kick();
  }

  private callback(dq: DriverQueue<number>): void {
    for (let u = dq.getBuf(); u; u = dq.getBuf()) {
      const page = u.token;
      if (dq.index === 3 || dq.index === receiveQueueOf(portOfQueue(dq.index)) + 1) {
        this.free.push(page); // a transmit buffer came back
        continue;
      }
      const bytes = new Uint8Array(u.len);
      this.memory.read(page, bytes);
      this.free.push(page);
      if (dq.index === 2) {
        this.control(bytes);
        this.post(dq, PAGE);
        dq.kick();
        continue;
      }
      const port = this.ports[portOfQueue(dq.index)]!;
      port.received.push(bytes);
      if (this.stallReader) port.stalled++;
      else if (this.post(dq, this.options.rxSize ?? PAGE)) dq.kick();
    }
  }

  /** handle_control_message. */
  private control(bytes: Uint8Array): void {
    const d = decodeControl(bytes);
    if (!d.ok) throw new Error('model: the device sent a short control message');
    const { id, event, value, data } = d.message;
    this.controlLog.push({ id, event, value, data: data.slice() });
    const port = this.ports[id];
    if (port === undefined) throw new Error(`model: control message for port ${id}`);
    switch (event) {
      case ControlEvent.PORT_ADD:
        if (port.added) return this.sendControl(id, ControlEvent.PORT_READY, 1);
        this.addPort(id);
        return this.sendControl(id, ControlEvent.PORT_READY, 1);
      case ControlEvent.CONSOLE_PORT:
        port.console = true;
        return this.sendControl(id, ControlEvent.PORT_OPEN, 1);
      case ControlEvent.RESIZE:
        port.size = { rows: data[0]! | (data[1]! << 8), cols: data[2]! | (data[3]! << 8) };
        return;
      case ControlEvent.PORT_OPEN:
        port.hostOpen = value === 1;
        return;
      case ControlEvent.PORT_NAME:
        port.name = new TextDecoder().decode(data);
        return;
      default:
        throw new Error(`model: unexpected control event ${event}`);
    }
  }
}
