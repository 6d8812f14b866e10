/**
 * {@link VsockDevice}: virtio-vsock (VIRTIO 1.2 §5.10) as a transport-independent VirtioDevice.
 * Queues rx (0), tx (1), event (2); config `le64 guest_cid`; stream and, with
 * VIRTIO_VSOCK_F_SEQPACKET, seqpacket connections; VIRTIO_VSOCK_F_NO_IMPLIED_STREAM as §5.10.3
 * says. Transmitted packets are checked against their chains (`checkTxHeader`); a REQUEST to a
 * port nobody listens on, an unknown type or op, a packet for no connection get an RST. Receive
 * buffers are taken from the ring only when a packet is ready for one and returned at once: the
 * device holds none, and data waits on the host side (back-pressured) until the guest posts some.
 * Replies the device owes the guest are bounded: past the bound it stops taking transmitted
 * packets until rx buffers come (§5.10.6.1). The host side is {@link VsockDevice.listen} and
 * {@link VsockDevice.connect}, transport-free.
 * @module
 */
import { DeviceId, Feature, InFlightBudget, features, fillQueue, hasFeature, isGuestMemoryError, isQueueError, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, DescriptorChain, ServedQueue, VirtioDevice, Virtqueue, Writer } from '@vmv/device-trait';
import { VsockConnection } from './connection.js';
import type { ConnectionLink, VsockSocketType } from './connection.js';
import type { DropReason, VsockHeader } from './wire.js';
import { EVENT_SIZE, EVENT_TRANSPORT_RESET, HEADER_SIZE, HOST_CID, VSOCK_CONFIG_SIZE, VsockFeature, VsockOp, VsockType, checkTxHeader, isGuestCid, writeHeader } from './wire.js';

/**
 * Why the device sent the guest an RST: `no-listener` (a REQUEST to a port nobody listens on),
 * `limit` (the connection table is full), `type-disabled` (a socket type not negotiated),
 * `unknown-type`, `unknown-op`, `no-connection` (a packet for a connection that does not exist),
 * `bad-dst-cid` (a destination neither the host nor a routed CID), and the connection faults
 * `credit-exceeded`, `message-too-long`, `protocol`.
 * @example `const r: ResetReason = 'no-listener';`
 */
export type ResetReason = 'no-listener' | 'limit' | 'type-disabled' | 'unknown-type' | 'unknown-op' | 'no-connection' | 'bad-dst-cid' | 'credit-exceeded' | 'message-too-long' | 'protocol';

/**
 * What the device reports about guest input it refused.
 * @example
 * ```ts
 * new VsockDevice({ guestCid: 3, onEvent: (e) => console.warn(e.type, e.reason) });
 * ```
 */
export type VsockEvent =
  | {
      /** A transmitted packet dropped without a reply. */
      readonly type: 'dropped';
      /** Why (see `DropReason`). */
      readonly reason: DropReason;
      /** Its op, when it had a header. */
      readonly op?: number;
    }
  | {
      /** An RST sent to the guest for one of its packets. */
      readonly type: 'reset';
      /** Why. */
      readonly reason: ResetReason;
      /** The host-side port the packet was for. */
      readonly port: number;
      /** The guest's port. */
      readonly peerPort: number;
    }
  | {
      /** A receive (or event) buffer too small for a header, returned empty. */
      readonly type: 'small-buffer';
      /** The queue. */
      readonly queue: number;
      /** Its writable bytes. */
      readonly length: number;
    };

/**
 * Options of {@link VsockDevice}.
 * @example `const o: VsockDeviceOptions = { guestCid: 3, bufAlloc: 256 * 1024, maxConnections: 64 };`
 */
export interface VsockDeviceOptions {
  /** The guest's CID (3..0xfffffffe). */
  readonly guestCid: number;
  /** Offer VIRTIO_VSOCK_F_SEQPACKET (default true). */
  readonly seqpacket?: boolean;
  /** Largest ring size of every queue (default 256). */
  readonly queueSize?: number;
  /** Receive buffer space per connection advertised to the guest (buf_alloc; default 256 KiB). */
  readonly bufAlloc?: number;
  /** Most connections at once, host- and guest-initiated (default 1024). */
  readonly maxConnections?: number;
  /** Most guest bytes buffered over all connections (default 64 MiB): connections are refused past `maxBuffered / bufAlloc`. */
  readonly maxBuffered?: number;
  /** Host bytes waiting per connection before `write` returns false (default 256 KiB). */
  readonly highWaterMark?: number;
  /** Milliseconds a host `close()` waits for the guest's RST before resetting (default 8000, Linux's). */
  readonly closeTimeout?: number;
  /** Refused guest input. */
  readonly onEvent?: (event: VsockEvent) => void;
}

/**
 * Options of {@link VsockDevice.listen}.
 * @example `device.listen(80, onConn, { manualAccept: true })`
 */
export interface ListenOptions {
  /** The CID the guest addresses (default 2, the host; another guest's CID to route to it). */
  readonly cid?: number;
  /** Hand connections over `requested`: the listener calls `accept()` or `reset()` (default: accepted at once). */
  readonly manualAccept?: boolean;
}

/**
 * Options of {@link VsockDevice.connect}.
 * @example `device.connect(5000, { type: 'seqpacket' })`
 */
export interface ConnectOptions {
  /** Socket type (default stream). */
  readonly type?: VsockSocketType;
  /** The host side's CID (default 2; another guest's CID for routed connections). */
  readonly cid?: number;
  /** The host side's port (default: a free one from 1024 up). */
  readonly port?: number;
}

/**
 * A listener; `close()` stops new connections (open ones go on).
 * @example `const l = device.listen(80, onConn); l.close();`
 */
export interface VsockListener {
  /** The port ('any': every port without a listener of its own). */
  readonly port: number | 'any';
  /** The CID listened on. */
  readonly cid: number;
  /** Stops listening. */
  close(): void;
}

interface Listening {
  readonly onConnection: (conn: VsockConnection) => void;
  readonly manualAccept: boolean;
}

/** Replies owed for packets of no connection, before the device stops taking transmitted packets. */
const REPLY_LIMIT = 64;
/** Transmitted packets held while replies cannot go out. */
const TX_HELD = 16;
const EMPTY = new Uint8Array(0);

/**
 * virtio-vsock. The host side listens and connects; each connection is a {@link VsockConnection}.
 * @example
 * ```ts
 * const device = new VsockDevice({ guestCid: 3 });
 * device.listen(5000, (conn) => conn.attach({ data: (bytes) => { conn.write(bytes); } })); // echo
 * ```
 */
export class VsockDevice implements VirtioDevice {
  readonly deviceId = DeviceId.SOCKET;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = VSOCK_CONFIG_SIZE;
  /** The guest's CID. */
  readonly guestCid: number;
  /** buf_alloc advertised per connection. */
  readonly bufAlloc: number;
  /** Most connections at once (from `maxConnections` and `maxBuffered`). */
  readonly connectionLimit: number;
  private readonly highWaterMark: number;
  private readonly onEvent: (event: VsockEvent) => void;
  private readonly link: ConnectionLink;
  private ctx: ActivationContext | null = null;
  private stream = true;
  private seqpacket = false;
  private readonly conns = new Map<string, VsockConnection>();
  private readonly listeners = new Map<string, Listening>();
  private readonly routed = new Map<number, number>();
  private readonly ready: VsockConnection[] = [];
  private readonly replies: VsockHeader[] = [];
  private readonly held: { chain: DescriptorChain; served: ServedQueue }[] = [];
  private readonly txBudget = new InFlightBudget(TX_HELD);
  private pumping = false;
  private eventPending = false;
  private nextPort = 1024;

  /**
   * @param options - the guest's CID, features and bounds.
   * @throws RangeError for bad options.
   */
  constructor(options: VsockDeviceOptions) {
    if (!isGuestCid(options?.guestCid)) throw new RangeError(`VsockDevice: guestCid must be in 3..0xfffffffe, got ${options?.guestCid}`);
    this.guestCid = options.guestCid;
    const queueSize = options.queueSize ?? 256;
    if (!Number.isInteger(queueSize) || queueSize < 2 || queueSize > 32768) throw new RangeError(`VsockDevice: queueSize must be in 2..32768, got ${queueSize}`);
    this.bufAlloc = positive('bufAlloc', options.bufAlloc ?? 256 * 1024, 0xffff_ffff);
    const maxConnections = positive('maxConnections', options.maxConnections ?? 1024, 1 << 20);
    const maxBuffered = positive('maxBuffered', options.maxBuffered ?? 64 << 20, Number.MAX_SAFE_INTEGER);
    this.connectionLimit = Math.min(maxConnections, Math.floor(maxBuffered / this.bufAlloc));
    if (this.connectionLimit < 1) throw new RangeError('VsockDevice: maxBuffered must hold at least one bufAlloc');
    this.highWaterMark = positive('highWaterMark', options.highWaterMark ?? 256 * 1024, Number.MAX_SAFE_INTEGER);
    const closeTimeout = positive('closeTimeout', options.closeTimeout ?? 8000, 0x7fff_ffff);
    const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED, VsockFeature.STREAM, VsockFeature.NO_IMPLIED_STREAM];
    if (options.seqpacket !== false) bits.push(VsockFeature.SEQPACKET);
    this.deviceFeatures = features(...bits);
    this.queueMaxSizes = [queueSize, queueSize, queueSize];
    this.onEvent = options.onEvent ?? (() => {});
    this.link = {
      closeTimeout,
      schedule: (conn) => {
        if (!conn.scheduled) {
          conn.scheduled = true;
          this.ready.push(conn);
        }
        this.pumpRx();
      },
      release: (conn) => {
        const key = keyOf(conn.localCid, conn.localPort, conn.peerPort);
        if (this.conns.get(key) === conn) this.conns.delete(key);
        this.unroute(conn.localCid);
      },
    };
  }

  /** Connections in the table (closed ones whose RST has not gone out yet included). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * Listens for the guest's connections to `port` (stream and seqpacket alike: `conn.type` says).
   * @param port - a port (u32), or `'any'`: every port without a listener of its own.
   * @param onConnection - called with each new connection (`open`, or `requested` with `manualAccept`).
   * @param options - the CID addressed, manual accept.
   * @returns the listener.
   * @throws RangeError for a bad port or CID; TypeError when the port has a listener already.
   * @example `device.listen(5000, (conn) => conn.attach({ data: (b) => console.log(b) }));`
   */
  listen(port: number | 'any', onConnection: (conn: VsockConnection) => void, options: ListenOptions = {}): VsockListener {
    if (port !== 'any' && !isU32(port)) throw new RangeError(`VsockDevice.listen: port must be a u32 or 'any', got ${String(port)}`);
    if (typeof onConnection !== 'function') throw new TypeError('VsockDevice.listen: onConnection must be a function');
    const cid = this.localCid(options.cid, 'listen');
    const key = `${cid}:${port}`;
    if (this.listeners.has(key)) throw new TypeError(`VsockDevice.listen: ${cid}:${port} has a listener already`);
    const entry: Listening = { onConnection, manualAccept: options.manualAccept === true };
    this.listeners.set(key, entry);
    this.route(cid);
    return {
      port,
      cid,
      close: () => {
        if (this.listeners.get(key) !== entry) return;
        this.listeners.delete(key);
        this.unroute(cid);
      },
    };
  }

  /**
   * Connects to the guest's `port` (REQUEST; `open` once the guest answers, `refused` on its RST).
   * Bytes written before then wait.
   * @param port - the guest's port.
   * @param options - type, the host side's CID and port.
   * @returns the connection, `connecting`.
   * @throws RangeError for a bad port or CID, or when the connection table is full; TypeError
   *   for a seqpacket connection on a device that does not offer it, or a port in use.
   * @example `const c = device.connect(5000); c.attach({ open: () => c.write(hello) });`
   */
  connect(port: number, options: ConnectOptions = {}): VsockConnection {
    if (!isU32(port)) throw new RangeError(`VsockDevice.connect: port must be a u32, got ${String(port)}`);
    const type = options.type ?? 'stream';
    if (type !== 'stream' && type !== 'seqpacket') throw new TypeError(`VsockDevice.connect: type must be stream or seqpacket, got ${String(type)}`);
    if (type === 'seqpacket' && !hasFeature(this.deviceFeatures, VsockFeature.SEQPACKET)) throw new TypeError('VsockDevice.connect: seqpacket is not offered (seqpacket: false)');
    const cid = this.localCid(options.cid, 'connect');
    if (this.conns.size >= this.connectionLimit) throw new RangeError(`VsockDevice.connect: the connection table is full (${this.connectionLimit})`);
    let local = options.port;
    if (local !== undefined) {
      if (!isU32(local)) throw new RangeError(`VsockDevice.connect: options.port must be a u32, got ${String(local)}`);
      if (this.conns.has(keyOf(cid, local, port))) throw new TypeError(`VsockDevice.connect: ${cid}:${local} → ${port} is in use`);
    } else {
      local = this.freePort(cid, port);
    }
    const conn = new VsockConnection(type, cid, local, this.guestCid, port, this.bufAlloc, this.highWaterMark, 'connecting', this.link);
    this.conns.set(keyOf(cid, local, port), conn);
    this.route(cid);
    this.link.schedule(conn);
    return conn;
  }

  /**
   * Drops every connection (their endpoints get `close('transport-reset')`) and tells the guest
   * with VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (delivered when it has an event buffer posted): what a
   * restarted backend or a restored device does (§5.10.6.8). Listeners stay.
   * @example `device.transportReset();`
   */
  transportReset(): void {
    for (const conn of [...this.conns.values()]) {
      if (conn.state === 'closed') this.link.release(conn); // its RST need not go out now
      else conn.abort('transport-reset', false);
    }
    for (const conn of this.ready) conn.scheduled = false;
    this.ready.length = 0;
    this.replies.length = 0;
    this.eventPending = true;
    this.pumpEvent();
  }

  readConfig(offset: number, data: Uint8Array): void {
    const config = new Uint8Array(VSOCK_CONFIG_SIZE);
    new DataView(config.buffer).setUint32(0, this.guestCid, true);
    data.fill(0);
    data.set(config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // guest_cid is read-only.
  }

  validateFeatures(driverFeatures: bigint): boolean {
    // NO_IMPLIED_STREAM without STREAM or SEQPACKET leaves no socket type at all.
    return !hasFeature(driverFeatures, VsockFeature.NO_IMPLIED_STREAM) || hasFeature(driverFeatures, VsockFeature.STREAM) || hasFeature(driverFeatures, VsockFeature.SEQPACKET);
  }

  /**
   * Starts serving. Connections outlive a device reset (a vhost-user frontend's stop and start of
   * the rings looks like one, while the guest's sockets go on); `transportReset()` ends them.
   */
  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
    const f = ctx.features;
    // §5.10.3: stream unless NO_IMPLIED_STREAM was negotiated without STREAM.
    this.stream = hasFeature(f, VsockFeature.STREAM) || !hasFeature(f, VsockFeature.NO_IMPLIED_STREAM);
    this.seqpacket = hasFeature(f, VsockFeature.SEQPACKET);
    this.pumpRx();
    this.pumpEvent();
  }

  reset(): void {
    // Transmitted packets held back: act on them now (their replies may exceed the bound once),
    // so that a stop of the rings loses none.
    this.ctx = null;
    for (const h of this.held.splice(0)) {
      this.transmit(h.chain);
      h.served.complete(h.chain, 0);
    }
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    if (index === 0) this.pumpRx();
    else if (index === 1) serveQueue(ctx, 1, this.handleTx, this.txBudget);
    else if (index === 2) this.pumpEvent();
  }

  snapshot(): unknown {
    return { guestCid: this.guestCid };
  }

  /** After a restore the guest's connections are gone: TRANSPORT_RESET at the next activation. */
  restore(state: unknown): void {
    void state;
    this.transportReset();
  }

  // --- guest → host ------------------------------------------------------------------------

  private readonly handleTx = (chain: DescriptorChain, served: ServedQueue): void => {
    if (this.held.length > 0 || this.replies.length >= REPLY_LIMIT) {
      this.held.push({ chain, served });
      return;
    }
    this.transmit(chain);
    served.complete(chain, 0);
  };

  /** One transmitted packet. */
  private transmit(chain: DescriptorChain): void {
    const ctx = this.ctx;
    let header: VsockHeader;
    let payload: Uint8Array = EMPTY;
    try {
      const readable = chain.readableBytes;
      const reader = chain.reader();
      const check = checkTxHeader(reader.readBytes(Math.min(readable, HEADER_SIZE)), readable, this.guestCid);
      if (!check.ok) return this.onEvent({ type: 'dropped', reason: check.reason, ...(check.header ? { op: check.header.op } : {}) });
      header = check.header;
      if (header.op === VsockOp.RW && header.len > 0) payload = reader.readBytes(header.len);
    } catch (error) {
      if (!isQueueError(error) && !isGuestMemoryError(error)) throw error;
      ctx?.needsReset(error);
      return;
    }
    this.packet(header, payload);
  }

  private packet(h: VsockHeader, payload: Uint8Array): void {
    const key = keyOf(h.dstCid, h.dstPort, h.srcPort);
    const conn = this.conns.get(key);
    if (h.op === VsockOp.RST && conn === undefined) return; // never answer an RST
    if (h.type !== VsockType.STREAM && h.type !== VsockType.SEQPACKET) return this.refuse(h, 'unknown-type', conn);
    if (h.op === VsockOp.INVALID || h.op > VsockOp.CREDIT_REQUEST) return this.refuse(h, 'unknown-op', conn);
    if (h.dstCid !== HOST_CID && !this.routed.has(h.dstCid)) return this.refuse(h, 'bad-dst-cid', conn);
    const type: VsockSocketType = h.type === VsockType.STREAM ? 'stream' : 'seqpacket';
    if (conn !== undefined) {
      if (conn.type !== type) return this.refuse(h, 'protocol', conn);
      const fault = conn.receive(h, payload);
      if (fault !== null) this.refuse(h, fault, conn);
      return;
    }
    if (h.op !== VsockOp.REQUEST) return this.refuse(h, 'no-connection');
    if (!(type === 'stream' ? this.stream : this.seqpacket)) return this.refuse(h, 'type-disabled');
    const listening = this.listeners.get(`${h.dstCid}:${h.dstPort}`) ?? this.listeners.get(`${h.dstCid}:any`);
    if (listening === undefined) return this.refuse(h, 'no-listener');
    if (this.conns.size >= this.connectionLimit) return this.refuse(h, 'limit');
    const created = new VsockConnection(type, h.dstCid, h.dstPort, this.guestCid, h.srcPort, this.bufAlloc, this.highWaterMark, listening.manualAccept ? 'requested' : 'open', this.link);
    this.conns.set(key, created);
    this.route(h.dstCid);
    created.peerSpace(h.bufAlloc, h.fwdCnt);
    if (created.hasPacket()) this.link.schedule(created);
    listening.onConnection(created);
  }

  /** An RST for the guest's packet `h`: through its connection when there is one, else a reply. */
  private refuse(h: VsockHeader, reason: ResetReason, conn?: VsockConnection): void {
    this.onEvent({ type: 'reset', reason, port: h.dstPort, peerPort: h.srcPort });
    if (conn !== undefined && conn.state !== 'closed') return conn.abort(reason === 'credit-exceeded' || reason === 'message-too-long' ? reason : 'protocol', true);
    if (conn !== undefined) return; // its RST is on the way
    this.replies.push({ srcCid: h.dstCid, dstCid: this.guestCid, srcPort: h.dstPort, dstPort: h.srcPort, len: 0, type: h.type, op: VsockOp.RST, flags: 0, bufAlloc: 0, fwdCnt: 0 });
    this.pumpRx();
  }

  // --- host → guest ------------------------------------------------------------------------

  /** Fills receive buffers while packets are ready (a buffer is popped only for a packet: fillQueue). */
  private pumpRx(): void {
    const ctx = this.ctx;
    if (ctx === null || (ctx.queues[0] ?? null) === null || this.pumping) return;
    this.pumping = true;
    try {
      fillQueue(ctx, 0, this.packetReady, this.fillRx);
    } finally {
      this.pumping = false;
    }
    this.releaseHeld();
  }

  private readonly packetReady = (): boolean => this.hasPacket();

  /** One receive buffer: the next packet, or nothing (and a `small-buffer` event) when it cannot hold one. */
  private readonly fillRx = (out: Writer): void => {
    if (out.remaining < HEADER_SIZE) {
      this.onEvent({ type: 'small-buffer', queue: 0, length: out.remaining });
      return;
    }
    if (!this.fill(out, out.remaining - HEADER_SIZE)) this.onEvent({ type: 'small-buffer', queue: 0, length: out.remaining });
  };

  /** Whether a packet is ready (replies first, then connections in turn; those that cannot send now leave the list). */
  private hasPacket(): boolean {
    if (this.replies.length > 0) return true;
    while (this.ready.length > 0) {
      const conn = this.ready[0]!;
      if (conn.hasPacket()) return true;
      conn.scheduled = false;
      this.ready.shift();
    }
    return false;
  }

  /** Writes the next packet into a receive buffer with `room` payload bytes; false when none fits (data, and a header-only buffer). */
  private fill(out: Writer, room: number): boolean {
    const reply = this.replies.shift();
    if (reply !== undefined) {
      writeHeader(out, reply);
      return true;
    }
    const conn = this.ready[0]!;
    const p = conn.nextPacket(room);
    if (p === null) return false;
    this.ready.shift();
    conn.scheduled = false;
    writeHeader(out, conn.header(p, conn.type === 'stream' ? VsockType.STREAM : VsockType.SEQPACKET));
    if (p.payload !== null && p.payload.length > 0) out.write(p.payload);
    if (p.op === VsockOp.RST) conn.sentRst();
    else if (conn.hasPacket()) {
      // Round robin: to the back of the list.
      conn.scheduled = true;
      this.ready.push(conn);
    }
    return true;
  }

  /** Replies went out: transmitted packets held meanwhile are acted on. */
  private releaseHeld(): void {
    while (this.held.length > 0 && this.replies.length < REPLY_LIMIT && this.ctx !== null) {
      const h = this.held.shift()!;
      this.transmit(h.chain);
      h.served.complete(h.chain, 0);
    }
  }

  private pumpEvent(): void {
    const ctx = this.ctx;
    const q: Virtqueue | null = ctx?.queues[2] ?? null;
    if (ctx === null || q === null || !this.eventPending) return;
    try {
      while (this.eventPending) {
        const chain = q.pop();
        if (chain === null) {
          if (q.enableNotification()) continue;
          break;
        }
        const out = chain.writer();
        if (out.remaining < EVENT_SIZE) {
          this.onEvent({ type: 'small-buffer', queue: 2, length: out.remaining });
          q.addUsed(chain, 0);
          continue;
        }
        out.writeU32(EVENT_TRANSPORT_RESET);
        q.addUsed(chain, EVENT_SIZE);
        this.eventPending = false;
      }
    } catch (error) {
      if (!isQueueError(error) && !isGuestMemoryError(error)) throw error;
      ctx.needsReset(error);
      return;
    }
    if (q.needsNotification()) ctx.interrupt.signalUsedBuffer(2);
  }

  // --- the table -----------------------------------------------------------------------------

  private localCid(cid: number | undefined, what: string): number {
    if (cid === undefined || cid === HOST_CID) return HOST_CID;
    if (!isGuestCid(cid) || cid === this.guestCid) throw new RangeError(`VsockDevice.${what}: cid must be 2 or another guest's CID, got ${String(cid)}`);
    return cid;
  }

  /** A CID other than the host's is addressable while a listener or connection uses it. */
  private route(cid: number): void {
    if (cid !== HOST_CID) this.routed.set(cid, (this.routed.get(cid) ?? 0) + 1);
  }

  private unroute(cid: number): void {
    const n = this.routed.get(cid);
    if (n === undefined) return;
    if (n <= 1) this.routed.delete(cid);
    else this.routed.set(cid, n - 1);
  }

  private freePort(cid: number, peerPort: number): number {
    for (let i = 0; i < 0x1_0000_0000; i++) {
      const p = this.nextPort;
      this.nextPort = p >= 0xffff_fffe ? 1024 : p + 1;
      if (!this.conns.has(keyOf(cid, p, peerPort)) && !this.listeners.has(`${cid}:${p}`)) return p;
    }
    throw new RangeError('VsockDevice.connect: no free port');
  }
}

function keyOf(localCid: number, localPort: number, peerPort: number): string {
  return `${localCid}:${localPort}:${peerPort}`;
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}

function positive(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RangeError(`VsockDevice: ${name} must be an integer in 1..${max}, got ${value}`);
  return value;
}
