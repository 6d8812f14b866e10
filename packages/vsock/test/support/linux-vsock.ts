/**
 * A model of Linux's vsock virtio transport (net/vmw_vsock/virtio_transport.c and
 * virtio_transport_common.c) over the virtio-mmio driver model: rx, tx and event queues set up at
 * probe, the rx queue filled with buffers of one packet each, the event queue with 4-byte buffers.
 * Sockets account credit as Linux does: a packet goes out only within the device's credit
 * (`peer_buf_alloc - (tx_cnt - peer_fwd_cnt)`), received bytes are held up to the socket's
 * buf_alloc (a packet beyond it is counted as a device violation: Linux would drop it), and reading
 * advances fwd_cnt and sends CREDIT_UPDATE when little space is left or the queue empties. SHUTDOWN
 * both ways with nothing left to read answers RST; an RST closes. Raw packets with any header and
 * any descriptor layout can be sent too. Rx buffers are re-posted unless the test stalls them.
 */
import { GuestMemory } from '@vmv/memory';
import type { DriverQueue, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { HEADER_SIZE, HOST_CID, SeqFlag, ShutdownFlag, VsockFeature, VsockOp, VsockType, decodeHeader, encodeHeader, type VsockDevice, type VsockHeader } from '@vmv/vsock';
import { LinuxGuest, concat, type LinuxGuestOptions } from '../../../transport-mmio/test/support/linux-guest';

const TX_SLOT = 0x11000;
const TX_SLOTS = 96;
const TX_BASE = 0x40_0000;
const RX_BASE = TX_BASE + TX_SLOT * TX_SLOTS;
const RX_SLOTS = 128;
const EV_BASE = 0x10_0000 - 0x1000;

export { concat, until } from '../../../transport-mmio/test/support/linux-guest';

export interface ModelOptions extends LinuxGuestOptions {
  /** vsock feature bits the driver accepts (default: SEQPACKET, Linux's table). */
  readonly accept?: readonly number[];
  /** Rx buffer size, header included (default 4096 + 44, Linux's). */
  readonly rxSize?: number;
  /** Socket buf_alloc (default 256 KiB, Linux's). */
  readonly bufAlloc?: number;
  /** Largest payload per packet (default 64 KiB, Linux's). */
  readonly maxPacket?: number;
}

export interface GuestSocket {
  readonly type: 'stream' | 'seqpacket';
  readonly port: number;
  readonly peerPort: number;
  readonly peerCid: number;
  state: 'connecting' | 'open' | 'closed';
  closeReason: 'reset' | 'refused' | 'closed' | null;
  /** Bytes (stream) or messages (seqpacket) received and not read. */
  readonly inbox: { data: Uint8Array; eor: boolean }[];
  partial: Uint8Array[];
  rxBytes: number;
  fwdCnt: number;
  lastFwdCnt: number;
  txCnt: number;
  peerBufAlloc: number;
  peerFwdCnt: number;
  peerShutdown: number;
  shutdownSent: number;
}

export class LinuxVsock {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(RX_BASE + RX_SLOTS * 0x11000) }]);
  readonly driver: VirtioMmioDriver;
  readonly sockets = new Map<string, GuestSocket>();
  readonly listening = new Map<number, GuestSocket[]>();
  /** Every packet the device sent, in order. */
  readonly log: VsockHeader[] = [];
  /** Packets the device sent beyond a socket's buf_alloc (Linux drops them): must stay 0. */
  overruns = 0;
  transportResets = 0;
  /** Packets from the device are taken and ignored. */
  deaf = false;
  cid = 0;
  negotiated = 0n;
  private readonly txFree: number[] = [];
  private readonly rxFree: number[] = [];
  private readonly guest: LinuxGuest;
  private queues: DriverQueue<number>[] = [];
  private stalledRx = 0;
  private stallRx = false;
  private nextPort = 50000;

  constructor(
    readonly device: VsockDevice,
    private readonly options: ModelOptions = {},
  ) {
    for (let i = TX_SLOTS - 1; i >= 0; i--) this.txFree.push(TX_BASE + i * TX_SLOT);
    for (let i = RX_SLOTS - 1; i >= 0; i--) this.rxFree.push(RX_BASE + i * 0x11000);
    this.guest = new LinuxGuest(device, { memory: this.memory, ringMemory: { base: 0x1_0000, size: 0xe_0000 } }, options);
    this.driver = this.guest.driver;
  }

  get rxSize(): number {
    return this.options.rxSize ?? 4096 + HEADER_SIZE;
  }

  /** virtio_vsock_probe: negotiate, the three queues, DRIVER_OK, fill rx and event. */
  probe(): bigint {
    this.driver.probe();
    this.negotiated = this.driver.negotiate(this.options.accept ?? [VsockFeature.SEQPACKET]);
    this.cid = this.driver.cread32(0);
    this.queues = this.guest.setupQueues(3, (dq) => this.callback(dq));
    this.driver.ready();
    this.fillRx();
    for (let i = 0; i < 8; i++) this.queues[2]!.add([], [{ addr: EV_BASE + 8 * i, len: 4 }], EV_BASE + 8 * i);
    this.queues[2]!.kick();
    return this.negotiated;
  }

  /** The guest's rx buffers: stop re-posting them (true) or catch up (false). */
  stall(on: boolean): void {
    this.stallRx = on;
    if (!on && this.stalledRx > 0) {
      this.stalledRx = 0;
      this.fillRx();
    }
  }

  listen(port: number): GuestSocket[] {
    const accepted: GuestSocket[] = [];
    this.listening.set(port, accepted);
    return accepted;
  }

  connect(peerPort: number, type: 'stream' | 'seqpacket' = 'stream', peerCid = HOST_CID): GuestSocket {
    const s = this.socket(type, this.nextPort++, peerCid, peerPort, 'connecting');
    this.control(s, VsockOp.REQUEST, 0);
    return s;
  }

  /** Sends what credit and the tx ring allow (stream); a whole message or nothing (seqpacket). Returns bytes sent. */
  send(s: GuestSocket, data: Uint8Array, eor = false): number {
    if (s.state !== 'open') return 0;
    const max = this.options.maxPacket ?? 65536;
    if (s.type === 'seqpacket') {
      const credit = this.credit(s);
      if (credit < data.length || this.txFree.length < Math.ceil(data.length / max) + 1) return 0;
      let at = 0;
      do {
        const n = Math.min(max, data.length - at);
        const last = at + n === data.length;
        this.packet(s, VsockOp.RW, last ? SeqFlag.EOM | (eor ? SeqFlag.EOR : 0) : 0, data.subarray(at, at + n));
        at += n;
      } while (at < data.length);
      return data.length;
    }
    let sent = 0;
    while (sent < data.length && this.txFree.length > 1) {
      const n = Math.min(max, data.length - sent, this.credit(s));
      if (n === 0) break;
      this.packet(s, VsockOp.RW, 0, data.subarray(sent, sent + n));
      sent += n;
    }
    return sent;
  }

  /** Reads up to `max` bytes (stream), as a process's read(2); credit goes back as Linux sends it. */
  read(s: GuestSocket, max = Infinity): Uint8Array {
    const parts: Uint8Array[] = [];
    let n = 0;
    while (s.inbox.length > 0 && n < max) {
      const head = s.inbox[0]!;
      const take = Math.min(head.data.length, max - n);
      parts.push(head.data.subarray(0, take));
      n += take;
      if (take === head.data.length) s.inbox.shift();
      else head.data = head.data.subarray(take);
    }
    this.consumed(s, n);
    return concat(parts);
  }

  /** Reads one message (seqpacket). */
  readMessage(s: GuestSocket): { data: Uint8Array; eor: boolean } | null {
    const m = s.inbox.shift();
    if (m === undefined) return null;
    this.consumed(s, m.data.length);
    return m;
  }

  shutdown(s: GuestSocket, flags: number): void {
    s.shutdownSent |= flags;
    this.control(s, VsockOp.SHUTDOWN, s.shutdownSent);
  }

  rst(s: GuestSocket): void {
    this.control(s, VsockOp.RST, 0);
    s.state = 'closed';
    s.closeReason = 'closed';
  }

  creditRequest(s: GuestSocket): void {
    this.control(s, VsockOp.CREDIT_REQUEST, 0);
  }

  /** Sends a packet with any header and payload, its bytes cut into descriptors as the options say (or `pieces`). */
  raw(h: VsockHeader, payload: Uint8Array = new Uint8Array(0), pieces?: readonly number[]): boolean {
    return this.rawBytes(concat([encodeHeader(h), payload]), pieces);
  }

  /** Sends any bytes as one tx buffer (a header cut short, a len that lies), cut as `raw` cuts them. */
  rawBytes(bytes: Uint8Array, pieces?: readonly number[]): boolean {
    if (bytes.length === 0 || bytes.length > TX_SLOT) throw new RangeError(`model: a tx buffer of ${bytes.length} bytes`);
    const page = this.txFree.pop();
    if (page === undefined) return false;
    this.memory.write(page, bytes);
    if (this.queues[1]!.add(this.guest.segments(page, bytes.length, pieces), [], page) < 0) {
      this.txFree.push(page);
      return false;
    }
    this.queues[1]!.kick();
    return true;
  }

  header(s: GuestSocket, op: number, flags: number, len: number): VsockHeader {
    return {
      srcCid: this.cid, dstCid: s.peerCid, srcPort: s.port, dstPort: s.peerPort, len,
      type: s.type === 'stream' ? VsockType.STREAM : VsockType.SEQPACKET, op, flags, bufAlloc: this.bufAlloc, fwdCnt: s.fwdCnt,
    };
  }

  get bufAlloc(): number {
    return this.options.bufAlloc ?? 256 * 1024;
  }

  get txInFlight(): number {
    return TX_SLOTS - this.txFree.length;
  }

  private credit(s: GuestSocket): number {
    const inFlight = (s.txCnt - s.peerFwdCnt) >>> 0;
    return inFlight >= s.peerBufAlloc ? 0 : s.peerBufAlloc - inFlight;
  }

  private consumed(s: GuestSocket, n: number): void {
    s.rxBytes -= n;
    s.fwdCnt = (s.fwdCnt + n) >>> 0;
    const delta = (s.fwdCnt - s.lastFwdCnt) >>> 0;
    if (delta > 0 && (this.bufAlloc - delta < 65536 || s.rxBytes === 0) && s.state === 'open') this.control(s, VsockOp.CREDIT_UPDATE, 0);
  }

  private socket(type: 'stream' | 'seqpacket', port: number, peerCid: number, peerPort: number, state: GuestSocket['state']): GuestSocket {
    const s: GuestSocket = { type, port, peerPort, peerCid, state, closeReason: null, inbox: [], partial: [], rxBytes: 0, fwdCnt: 0, lastFwdCnt: 0, txCnt: 0, peerBufAlloc: 0, peerFwdCnt: 0, peerShutdown: 0, shutdownSent: 0 };
    this.sockets.set(`${peerCid}:${peerPort}:${port}`, s);
    return s;
  }

  private control(s: GuestSocket, op: number, flags: number): void {
    this.packet(s, op, flags, null);
  }

  private packet(s: GuestSocket, op: number, flags: number, payload: Uint8Array | null): void {
    const len = payload?.length ?? 0;
    if (!this.raw(this.header(s, op, flags, len), payload ?? undefined)) throw new Error('model: tx ring or buffers exhausted');
    s.lastFwdCnt = s.fwdCnt;
    s.txCnt = (s.txCnt + len) >>> 0;
  }

  private fillRx(): void {
    const q = this.queues[0]!;
    while (this.rxFree.length > 0 && q.ring.numFree >= this.guest.segments(0, this.rxSize).length) {
      const page = this.rxFree.pop()!;
      q.add([], this.guest.segments(page, this.rxSize), page);
    }
    q.kick();
  }

  private callback(dq: DriverQueue<number>): void {
    for (let u = dq.getBuf(); u; u = dq.getBuf()) {
      if (dq.index === 1) {
        this.txFree.push(u.token);
        continue;
      }
      if (dq.index === 2) {
        const v = new Uint8Array(4);
        this.memory.read(u.token, v);
        if (u.len === 4 && v.every((b) => b === 0)) this.onTransportReset();
        dq.add([], [{ addr: u.token, len: 4 }], u.token);
        dq.kick();
        continue;
      }
      const bytes = new Uint8Array(u.len);
      this.memory.read(u.token, bytes);
      this.rxFree.push(u.token);
      if (this.stallRx) this.stalledRx++;
      if (u.len >= HEADER_SIZE) this.receive(decodeHeader(bytes), bytes.subarray(HEADER_SIZE));
    }
    if (dq.index === 0 && !this.stallRx) this.fillRx();
  }

  /** virtio_transport_recv_pkt. */
  private receive(h: VsockHeader, payload: Uint8Array): void {
    this.log.push(h);
    if (this.deaf) return;
    if (h.len !== payload.length) throw new Error(`model: header len ${h.len}, payload ${payload.length}`);
    if (h.dstCid !== this.cid) throw new Error(`model: packet for cid ${h.dstCid}`);
    const s = this.sockets.get(`${h.srcCid}:${h.srcPort}:${h.dstPort}`);
    if (s === undefined || s.state === 'closed') {
      if (h.op === VsockOp.REQUEST && this.listening.has(h.dstPort)) {
        const c = this.socket(h.type === VsockType.STREAM ? 'stream' : 'seqpacket', h.dstPort, h.srcCid, h.srcPort, 'open');
        c.peerBufAlloc = h.bufAlloc;
        c.peerFwdCnt = h.fwdCnt;
        this.listening.get(h.dstPort)!.push(c);
        this.control(c, VsockOp.RESPONSE, 0);
        return;
      }
      if (h.op !== VsockOp.RST) this.raw({ ...h, srcCid: this.cid, dstCid: h.srcCid, srcPort: h.dstPort, dstPort: h.srcPort, len: 0, op: VsockOp.RST, flags: 0 });
      return;
    }
    s.peerBufAlloc = h.bufAlloc;
    s.peerFwdCnt = h.fwdCnt;
    switch (h.op) {
      case VsockOp.RESPONSE:
        if (s.state === 'connecting') s.state = 'open';
        return;
      case VsockOp.RST:
        s.closeReason = s.state === 'connecting' ? 'refused' : 'reset';
        s.state = 'closed';
        return;
      case VsockOp.RW:
        if (s.rxBytes + payload.length > this.bufAlloc) {
          this.overruns++;
          return;
        }
        s.rxBytes += payload.length;
        if (s.type === 'stream') {
          if (payload.length > 0) s.inbox.push({ data: payload.slice(), eor: false });
        } else {
          s.partial.push(payload.slice());
          if (h.flags & SeqFlag.EOM) {
            s.inbox.push({ data: concat(s.partial), eor: (h.flags & SeqFlag.EOR) !== 0 });
            s.partial = [];
          }
        }
        return;
      case VsockOp.SHUTDOWN:
        s.peerShutdown |= h.flags & 3;
        if (s.peerShutdown === (ShutdownFlag.RECEIVE | ShutdownFlag.SEND) && s.rxBytes === 0) {
          this.control(s, VsockOp.RST, 0);
          s.state = 'closed';
          s.closeReason = 'closed';
        }
        return;
      case VsockOp.CREDIT_REQUEST:
        this.control(s, VsockOp.CREDIT_UPDATE, 0);
        return;
      default:
        return;
    }
  }

  private onTransportReset(): void {
    this.transportResets++;
    this.cid = this.driver.cread32(0);
    for (const s of this.sockets.values()) {
      if (s.state === 'closed') continue;
      s.state = 'closed';
      s.closeReason = 'reset';
    }
  }
}

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pattern(seed: number, n: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}
