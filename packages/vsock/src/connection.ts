/**
 * {@link VsockConnection}: one connection between the host and the guest (VIRTIO 1.2 §5.10.6),
 * with the credit accounting of §5.10.6.3 both ways. Host → guest bytes wait here until the
 * guest's credit (`peer_buf_alloc - (tx_cnt - peer_fwd_cnt)`) and its receive buffers allow;
 * `write` returns false at the high-water mark. Guest → host bytes are buffered up to the
 * `buf_alloc` the device advertised, never more (a guest that sends beyond the credit it was
 * given is reset), and `fwd_cnt` advances as the host's endpoint takes them; a CREDIT_UPDATE goes
 * out when the guest's view of the free space gets low or the buffer empties, as Linux's
 * virtio_transport_common.c does. Stream connections carry bytes; seqpacket ones whole messages,
 * with EOR kept.
 * @module
 */
import type { VsockHeader } from './wire.js';
import { MAX_PAYLOAD, SeqFlag, ShutdownFlag, VsockOp } from './wire.js';

/** A connection's socket type. @example `const t: VsockSocketType = 'seqpacket';` */
export type VsockSocketType = 'stream' | 'seqpacket';

/**
 * Where a connection is: `connecting` (the host sent REQUEST), `requested` (the guest asked, the
 * listener has not accepted yet), `open`, `closing` (the host closed: SHUTDOWN sent, waiting for
 * the guest's RST), `closed`.
 * @example `if (conn.state === 'open') conn.write(bytes);`
 */
export type ConnectionState = 'connecting' | 'requested' | 'open' | 'closing' | 'closed';

/**
 * Why a connection closed: `closed` (a clean shutdown both ways), `reset` (the guest sent RST),
 * `refused` (the guest refused the host's REQUEST), `local-reset` (the host called `reset`),
 * `transport-reset` (every connection dropped: TRANSPORT_RESET), `timeout` (the guest never
 * answered the host's close), and the protocol faults for which the device reset it:
 * `credit-exceeded` (the guest sent more than its credit), `message-too-long` (a seqpacket message
 * longer than the receive buffer, or than the guest's), `protocol` (a packet the connection's
 * state does not allow).
 * @example `conn.attach({ close: (reason) => console.log(reason) });`
 */
export type CloseReason = 'closed' | 'reset' | 'refused' | 'local-reset' | 'transport-reset' | 'timeout' | 'credit-exceeded' | 'message-too-long' | 'protocol';

/**
 * A seqpacket message's boundaries, or none for stream bytes.
 * @example `endpoint.data = (bytes, { eor }) => { if (eor) console.log('end of record'); };`
 */
export interface Boundaries {
  /** The bytes are one whole message (always on seqpacket, never on stream). */
  readonly eom: boolean;
  /** The message ends a record (MSG_EOR). */
  readonly eor: boolean;
}

/**
 * What the host plugs into a connection.
 * @example
 * ```ts
 * conn.attach({ data: (bytes) => { chunks.push(bytes); }, end: () => console.log('guest done') });
 * ```
 */
export interface VsockEndpoint {
  /**
   * Guest bytes (stream) or one whole message (seqpacket); the endpoint's to keep. Return false to
   * pause delivery until `conn.resume()` (the guest's credit stops growing meanwhile).
   */
  data?(bytes: Uint8Array, boundaries: Boundaries): boolean | void;
  /** The guest sent SHUTDOWN SEND, and every byte before it was delivered. */
  end?(): void;
  /** `write` returned false earlier; the waiting bytes went below the high-water mark. */
  drain?(): void;
  /** The guest accepted a connection the host asked for. */
  open?(): void;
  /** The connection is closed (once). */
  close?(reason: CloseReason): void;
}

/** @internal A guest fault the device resets a connection for. */
export type Fault = 'credit-exceeded' | 'message-too-long' | 'protocol';

/** @internal A packet the device is to write into a receive buffer. */
export interface OutPacket {
  op: number;
  flags: number;
  payload: Uint8Array | null;
}

/** @internal What a connection needs from its device. */
export interface ConnectionLink {
  /** The connection has a packet to send. */
  schedule(conn: VsockConnection): void;
  /** The connection is closed and has nothing more to send: forget it. */
  release(conn: VsockConnection): void;
  /** Milliseconds the host's close waits for the guest's RST. */
  readonly closeTimeout: number;
}

interface Chunk {
  readonly data: Uint8Array;
  readonly eor: boolean;
}

const EMPTY = new Uint8Array(0);
/** The host's timers, present in every JavaScript runtime (the core is built without Node or DOM types). */
const timers = globalThis as unknown as { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(timer: unknown): void };

/**
 * One connection. Made by `VsockDevice` (`listen`, `connect`).
 * @example
 * ```ts
 * const conn = device.connect(5000);
 * conn.attach({ open: () => conn.write(new TextEncoder().encode('hi')), data: (b) => console.log(b) });
 * ```
 */
export class VsockConnection {
  private st: ConnectionState;
  private ep: VsockEndpoint | null = null;
  // host → guest
  private readonly out: Chunk[] = [];
  private outOffset = 0;
  private outBytes = 0;
  private most = 0;
  private needDrain = false;
  private txCnt = 0;
  private peerBufAlloc = 0;
  private peerFwdCnt = 0;
  /** @internal Scheduled on the device's list of connections with packets to send. */
  scheduled = false;
  private sendRst = false;
  private sendRequest = false;
  private sendResponse = false;
  private sendCredit = false;
  /** SHUTDOWN flags the host asked for, and those sent. */
  private shutdownWanted = 0;
  private shutdownSent = 0;
  // guest → host
  private readonly inbox: Chunk[] = [];
  private readonly partial: Uint8Array[] = [];
  private partialBytes = 0;
  private rxCnt = 0;
  private fwdCnt = 0;
  private lastFwdSent = 0;
  private peerShutdown = 0;
  private endDelivered = false;
  private paused = false;
  private delivering = false;
  private timer: unknown = null;
  private reason: CloseReason | null = null;

  /**
   * @internal Made by the device.
   * @param type - stream or seqpacket.
   * @param localCid - the host side's CID (2, or another guest's for routed connections).
   * @param localPort - the host side's port.
   * @param peerCid - the guest's CID.
   * @param peerPort - the guest's port.
   * @param bufAlloc - receive buffer space advertised to the guest.
   * @param highWaterMark - host bytes waiting before `write` returns false.
   * @param state - `connecting`, `requested` or `open`.
   * @param link - the device.
   */
  constructor(
    readonly type: VsockSocketType,
    readonly localCid: number,
    readonly localPort: number,
    readonly peerCid: number,
    readonly peerPort: number,
    readonly bufAlloc: number,
    readonly highWaterMark: number,
    state: 'connecting' | 'requested' | 'open',
    private readonly link: ConnectionLink,
  ) {
    this.st = state;
    if (state === 'connecting') this.sendRequest = true;
    if (state === 'open') this.sendResponse = true;
  }

  /** Where the connection is. */
  get state(): ConnectionState {
    return this.st;
  }

  /** Why it closed, once closed. */
  get closeReason(): CloseReason | null {
    return this.reason;
  }

  /** Host bytes (or message bytes) waiting to go to the guest. */
  get buffered(): number {
    return this.outBytes;
  }

  /** The most host bytes that ever waited at once. */
  get maxBuffered(): number {
    return this.most;
  }

  /** Guest bytes held by the device (received, not yet taken by the endpoint): at most `bufAlloc`. */
  get receiveBuffered(): number {
    return (this.rxCnt - this.fwdCnt) >>> 0;
  }

  /** Whether `write` may be called: not ended, not closed, and the guest still receives. */
  get writable(): boolean {
    return this.st !== 'closed' && this.st !== 'closing' && (this.shutdownWanted & ShutdownFlag.SEND) === 0 && (this.peerShutdown & ShutdownFlag.RECEIVE) === 0;
  }

  /** The guest's credit: bytes the device may still send it (§5.10.6.3). */
  get peerCredit(): number {
    const inFlight = (this.txCnt - this.peerFwdCnt) >>> 0;
    return inFlight >= this.peerBufAlloc ? 0 : this.peerBufAlloc - inFlight;
  }

  /**
   * Plugs the host's endpoint in; guest bytes received meanwhile are delivered now.
   * @param endpoint - where guest bytes and events go.
   * @throws TypeError when an endpoint is attached already.
   * @example `conn.attach({ data: (b) => sink(b) });`
   */
  attach(endpoint: VsockEndpoint): void {
    if (this.ep !== null) throw new TypeError('VsockConnection: an endpoint is attached already');
    if (typeof endpoint !== 'object' || endpoint === null) throw new TypeError('VsockConnection: endpoint must be an object');
    this.ep = endpoint;
    if (this.reason !== null) return void endpoint.close?.(this.reason);
    this.deliver();
  }

  /**
   * Accepts a connection a listener with `manualAccept` was offered (RESPONSE to the guest).
   * @throws TypeError when the connection is not `requested`.
   * @example `listen(80, (c) => backend.ready.then(() => c.accept(), () => c.reset()), { manualAccept: true })`
   */
  accept(): void {
    if (this.st !== 'requested') throw new TypeError(`VsockConnection: accept needs a requested connection, this one is ${this.st}`);
    this.st = 'open';
    this.sendResponse = true;
    this.link.schedule(this);
  }

  /**
   * Sends bytes (stream) or one message (seqpacket) to the guest; they wait until its credit and
   * receive buffers allow. Nothing is dropped while the guest receives.
   * @param data - the bytes (kept until sent: do not modify them).
   * @param options - `eor`: the message ends a record (seqpacket).
   * @returns false once `highWaterMark` bytes wait: wait for the endpoint's `drain`.
   * @throws TypeError when not `writable` or `data` is not a Uint8Array; RangeError for a message
   *   longer than the guest's receive buffer.
   * @example `if (!conn.write(chunk)) source.pause();`
   */
  write(data: Uint8Array, options: { readonly eor?: boolean } = {}): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('VsockConnection: write takes a Uint8Array');
    if (!this.writable) throw new TypeError(`VsockConnection: not writable (${this.st}${this.peerShutdown & ShutdownFlag.RECEIVE ? ', the guest receives no more' : ''})`);
    const seq = this.type === 'seqpacket';
    if (seq && this.st === 'open' && data.length > this.peerBufAlloc) throw new RangeError(`VsockConnection: a ${data.length}-byte message is longer than the guest's receive buffer (${this.peerBufAlloc})`);
    if (data.length > 0 || seq) {
      this.out.push({ data, eor: seq && options.eor === true });
      this.outBytes += data.length;
      if (this.outBytes > this.most) this.most = this.outBytes;
      this.link.schedule(this);
    }
    const below = this.outBytes < this.highWaterMark;
    if (!below) this.needDrain = true;
    return below;
  }

  /**
   * Half-close: SHUTDOWN SEND once every byte written so far went to the guest; the guest can
   * still send.
   * @example `conn.end();`
   */
  end(): void {
    if (this.st === 'closed' || this.st === 'closing') return;
    this.shutdownWanted |= ShutdownFlag.SEND;
    this.link.schedule(this);
  }

  /**
   * Closes cleanly: SHUTDOWN both ways once the bytes written went out, then waits (at most the
   * device's `closeTimeout`) for the guest's RST. Guest bytes not yet delivered are discarded.
   * A connection not yet open is reset.
   * @example `conn.close();`
   */
  close(): void {
    if (this.st === 'closed' || this.st === 'closing') return;
    if (this.st !== 'open') return this.reset();
    this.st = 'closing';
    this.shutdownWanted |= ShutdownFlag.SEND | ShutdownFlag.RECEIVE;
    this.inbox.length = 0;
    this.partial.length = 0;
    this.partialBytes = 0;
    this.timer = timers.setTimeout(() => {
      this.timer = null;
      if (this.st === 'closing') this.abort('timeout', true);
    }, this.link.closeTimeout);
    this.link.schedule(this);
  }

  /**
   * Resets the connection at once (RST to the guest); data waiting either way is dropped.
   * @example `conn.reset();`
   */
  reset(): void {
    if (this.st === 'closed') return;
    this.abort('local-reset', true);
  }

  /**
   * Stops delivering guest bytes to the endpoint (its credit stops growing, so the guest waits).
   * @example `conn.pause();`
   */
  pause(): void {
    this.paused = true;
  }

  /**
   * Delivers guest bytes again.
   * @example `conn.resume();`
   */
  resume(): void {
    this.paused = false;
    this.deliver();
  }

  // --- the device's side -----------------------------------------------------------------

  /** @internal Closes with `reason`; with `rst`, an RST goes to the guest first. */
  abort(reason: CloseReason, rst: boolean): void {
    if (this.st === 'closed') return;
    this.st = 'closed';
    this.reason = reason;
    if (this.timer !== null) timers.clearTimeout(this.timer);
    this.timer = null;
    this.out.length = 0;
    this.outBytes = 0;
    this.inbox.length = 0;
    this.partial.length = 0;
    this.fwdCnt = this.rxCnt; // nothing is held any more
    this.sendRst = rst;
    if (rst) this.link.schedule(this);
    else this.link.release(this);
    this.ep?.close?.(reason);
  }

  /** @internal The guest's buf_alloc and fwd_cnt, from any of its packets. */
  peerSpace(bufAlloc: number, fwdCnt: number): void {
    this.peerBufAlloc = bufAlloc;
    this.peerFwdCnt = fwdCnt;
  }

  /** @internal A packet for this connection (type already checked); returns a fault to reset it for, or null. */
  receive(h: VsockHeader, payload: Uint8Array): Fault | null {
    if (this.st === 'closed') return null; // an RST is on its way
    this.peerSpace(h.bufAlloc, h.fwdCnt);
    switch (h.op) {
      case VsockOp.RESPONSE:
        if (this.st !== 'connecting') return 'protocol';
        this.st = 'open';
        for (const c of this.out) if (this.type === 'seqpacket' && c.data.length > this.peerBufAlloc) return 'message-too-long';
        this.ep?.open?.();
        break;
      case VsockOp.RST:
        this.abort(this.st === 'connecting' ? 'refused' : this.st === 'closing' ? 'closed' : 'reset', false);
        return null;
      case VsockOp.SHUTDOWN:
        if (this.st !== 'open' && this.st !== 'closing') return 'protocol';
        this.peerShutdown |= h.flags & (ShutdownFlag.RECEIVE | ShutdownFlag.SEND);
        if (this.peerShutdown & ShutdownFlag.RECEIVE) {
          // The guest takes no more: what waits for it is pointless (its socket's sends fail with EPIPE).
          this.out.length = 0;
          this.outBytes = 0;
        }
        if (this.st === 'closing' && this.peerShutdown === (ShutdownFlag.RECEIVE | ShutdownFlag.SEND)) {
          this.abort('closed', true);
          return null;
        }
        this.deliver();
        return null;
      case VsockOp.RW:
        return this.data(h, payload);
      case VsockOp.CREDIT_REQUEST:
        if (this.st === 'requested' || this.st === 'connecting') return 'protocol';
        this.sendCredit = true;
        break;
      case VsockOp.CREDIT_UPDATE:
        if (this.st === 'requested' || this.st === 'connecting') return 'protocol';
        break;
      default:
        return 'protocol'; // REQUEST on a live connection
    }
    if (this.hasPacket()) this.link.schedule(this);
    return null;
  }

  private data(h: VsockHeader, payload: Uint8Array): Fault | null {
    if ((this.st !== 'open' && this.st !== 'closing') || (this.peerShutdown & ShutdownFlag.SEND) !== 0) return 'protocol';
    // The guest may have at most bufAlloc bytes unacknowledged by the last fwd_cnt it was sent.
    const rx = (this.rxCnt + h.len) >>> 0;
    if (((rx - this.lastFwdSent) >>> 0) > this.bufAlloc) return 'credit-exceeded';
    this.rxCnt = rx;
    if (this.st === 'closing') {
      this.fwdCnt = rx; // the host receives no more: discarded, counted as taken
    } else if (this.type === 'stream') {
      if (payload.length > 0) this.inbox.push({ data: payload, eor: false });
    } else {
      if (payload.length > 0) this.partial.push(payload);
      this.partialBytes += payload.length;
      if ((h.flags & SeqFlag.EOM) !== 0) {
        const message = this.partial.length === 1 ? this.partial[0]! : concat(this.partial, this.partialBytes);
        this.partial.length = 0;
        this.partialBytes = 0;
        this.inbox.push({ data: message, eor: (h.flags & SeqFlag.EOR) !== 0 });
      } else if (this.partialBytes >= this.bufAlloc) {
        return 'message-too-long'; // it can never end: the guest's credit is all in it
      }
    }
    this.deliver();
    if (this.hasPacket()) this.link.schedule(this);
    return null;
  }

  /** Hands buffered guest bytes to the endpoint while it takes them. */
  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (!this.paused && this.ep !== null && this.inbox.length > 0 && this.st !== 'closed') {
        const c = this.inbox.shift()!;
        this.consumed(c.data.length);
        const more = this.ep.data?.(c.data, { eom: this.type === 'seqpacket', eor: c.eor });
        if (more === false) this.paused = true;
      }
      if (this.st === 'closed' || this.ep === null || this.inbox.length > 0 || (this.peerShutdown & ShutdownFlag.SEND) === 0) return;
      if (!this.endDelivered) {
        this.endDelivered = true;
        this.ep.end?.();
      }
      // Both ways shut down by the guest, everything delivered: the clean close ends with our RST (as Linux).
      if (this.peerShutdown === (ShutdownFlag.RECEIVE | ShutdownFlag.SEND)) this.abort('closed', true);
    } finally {
      this.delivering = false;
    }
  }

  /** The endpoint took `n` bytes: fwd_cnt advances; a CREDIT_UPDATE when the guest's view runs low or the buffer is empty. */
  private consumed(n: number): void {
    this.fwdCnt = (this.fwdCnt + n) >>> 0;
    const delta = (this.fwdCnt - this.lastFwdSent) >>> 0;
    if (delta > 0 && (this.bufAlloc - delta < MAX_PAYLOAD || this.receiveBuffered === 0)) {
      this.sendCredit = true;
      this.link.schedule(this);
    }
  }

  /** @internal Whether a packet could be sent now. */
  hasPacket(): boolean {
    if (this.sendRst) return true;
    if (this.st === 'closed') return false;
    if (this.sendRequest || this.sendResponse || this.sendCredit) return true;
    if (this.st !== 'open' && this.st !== 'closing') return false;
    if (this.out.length > 0) return this.peerCredit > 0 || this.out[0]!.data.length === this.outOffset;
    return (this.shutdownWanted & ~this.shutdownSent) !== 0;
  }

  /**
   * @internal The next packet, as sent: counters move. `room` is the payload space of the receive
   * buffer (its writable bytes after the header).
   */
  nextPacket(room: number): OutPacket | null {
    const p = this.pick(room);
    if (p === null) return null;
    this.lastFwdSent = this.fwdCnt; // every packet carries fwd_cnt
    this.sendCredit = false;
    return p;
  }

  /** @internal The header fields of a packet to the guest. */
  header(p: OutPacket, typeCode: number): VsockHeader {
    return {
      srcCid: this.localCid, dstCid: this.peerCid, srcPort: this.localPort, dstPort: this.peerPort,
      len: p.payload?.length ?? 0, type: typeCode, op: p.op, flags: p.flags, bufAlloc: this.bufAlloc, fwdCnt: this.fwdCnt,
    };
  }

  /** @internal After an RST went out: nothing more to send. */
  sentRst(): void {
    this.sendRst = false;
    this.link.release(this);
  }

  private pick(room: number): OutPacket | null {
    if (this.sendRst) return { op: VsockOp.RST, flags: 0, payload: null };
    if (this.st === 'closed') return null;
    if (this.sendRequest) {
      this.sendRequest = false;
      return { op: VsockOp.REQUEST, flags: 0, payload: null };
    }
    if (this.sendResponse) {
      this.sendResponse = false;
      return { op: VsockOp.RESPONSE, flags: 0, payload: null };
    }
    if (this.st !== 'open' && this.st !== 'closing') return null;
    if (this.out.length > 0) {
      const data = this.takeData(room);
      if (data !== null) return data;
    }
    if (this.sendCredit) return { op: VsockOp.CREDIT_UPDATE, flags: 0, payload: null };
    const flags = this.shutdownWanted & ~this.shutdownSent;
    // SEND goes after every byte written; RECEIVE alone at once.
    const now = this.out.length === 0 ? flags : flags & ~ShutdownFlag.SEND;
    if (now !== 0) {
      this.shutdownSent |= now;
      return { op: VsockOp.SHUTDOWN, flags: this.shutdownSent, payload: null };
    }
    return null;
  }

  private takeData(room: number): OutPacket | null {
    const head = this.out[0]!;
    const left = head.data.length - this.outOffset;
    const n = Math.min(left, room, this.peerCredit, MAX_PAYLOAD);
    if (n === 0 && left > 0) return null;
    const payload = head.data.subarray(this.outOffset, this.outOffset + n);
    this.outOffset += n;
    this.outBytes -= n;
    this.txCnt = (this.txCnt + n) >>> 0;
    let flags = 0;
    if (this.outOffset === head.data.length) {
      this.out.shift();
      this.outOffset = 0;
      if (this.type === 'seqpacket') flags = SeqFlag.EOM | (head.eor ? SeqFlag.EOR : 0);
    }
    if (this.needDrain && this.outBytes < this.highWaterMark) {
      this.needDrain = false;
      this.ep?.drain?.();
    }
    return { op: VsockOp.RW, flags, payload };
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 0) return EMPTY;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
