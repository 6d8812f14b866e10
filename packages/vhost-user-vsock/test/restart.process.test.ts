/**
 * A vmv-vhost-user-vsock daemon SIGKILLed mid-transfer and started again on the same sockets,
 * seen from its guest (VIRTIO 1.2 §5.10.6.8) one level below QEMU: the public vhost-user frontend
 * (`@vmv/vhost-user/frontend`) over guest RAM in a memfd, all three vsock rings (rx 0, tx 1,
 * event 2) given to the daemon, the driver's side played as Linux's virtio_transport plays it
 * (rx buffers of 4 KiB + header, 4-byte event buffers, header and payload as two descriptors, RW
 * only within credit). The frontend reconnects as QEMU does to a restarted backend: the same
 * memory, each ring resumed from its used index. The restarted daemon sends TRANSPORT_RESET,
 * answers a packet of the old connection with RST, and serves a new connection whose 1 MiB reaches
 * the host program. QEMU's vhost-user-vsock-pci cannot show this with a real guest: see README.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Feature, features } from '@vmv/device-trait';
import { SplitDriver } from '@vmv/queue/driver';
import { FrontendVring, SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import { EVENT_SIZE, EVENT_TRANSPORT_RESET, HEADER_SIZE, HOST_CID, VsockFeature, VsockOp, VsockType, decodeHeader, encodeHeader, type VsockHeader } from '@vmv/vsock';
import { HANG_MS, until } from '../../vhost-user/test/frontend';
import * as kit from '../../vhost-user/test/support/daemon-process';
import { pattern } from '../../vsock/test/support/linux-vsock';

const CID = 3;
const RING = 128;
const ringAt = (q: number) => 0x1_0000 + q * 0x4000;
const EVENTS = 8;
const EV_BASE = 0x2_0000;
const RX_SIZE = 4096 + HEADER_SIZE; // Linux's VIRTIO_VSOCK_DEFAULT_RX_BUF_SIZE + header
const RX_BUFFERS = 64;
const RX_BASE = 0x10_0000;
const MAX_PACKET = 32 * 1024;
const TX_SLOT = 0x9000;
const TX_SLOTS = 64;
const TX_BASE = 0x20_0000;
const BUF_ALLOC = 256 * 1024; // the guest socket's, Linux's default

const dir = mkdtempSync(join(tmpdir(), 'vmv-vsock-restart-'));
const daemon = kit.bundledDaemon(join(__dirname, '..', 'src', 'bin.ts'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f();
    } catch {
      // already released
    }
  }
});
afterAll(() => {
  daemon.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** A guest stream socket as virtio_transport_common.c keeps it. */
interface Conn {
  readonly port: number;
  readonly peerPort: number;
  state: 'connecting' | 'open' | 'reset';
  txCnt: number;
  peerBufAlloc: number;
  peerFwdCnt: number;
}

/** The guest's vsock driver over the frontend's rings. */
class Guest {
  readonly ram = SharedGuestMemory.create(8 << 20, { name: 'vsock-restart' });
  /** Every packet the device sent, in order. */
  readonly received: VsockHeader[] = [];
  /** Every event id the device sent, in order. */
  readonly events: number[] = [];
  fe!: VhostUserFrontend;
  private rings: FrontendVring<number>[] = [];
  private readonly txFree: number[] = [];
  private readonly conns = new Map<number, Conn>();
  private nextPort = 50000;

  constructor() {
    for (let i = TX_SLOTS - 1; i >= 0; i--) this.txFree.push(TX_BASE + i * TX_SLOT);
    cleanups.push(() => this.ram.close());
  }

  /** virtio_vsock_probe: the three rings from index 0, rx and event filled. */
  async probe(socket: string): Promise<void> {
    await this.negotiate(socket);
    const eventIdx = true;
    for (let q = 0; q < 3; q++) this.rings.push(await this.fe.setupVring<number>(q, { memory: this.ram, size: RING, address: ringAt(q), eventIdx, onCall: (r) => this.reap(r) }));
    for (let i = 0; i < RX_BUFFERS; i++) this.rings[0]!.driver.add([], [{ addr: RX_BASE + i * 0x2000, len: RX_SIZE }], RX_BASE + i * 0x2000);
    for (let i = 0; i < EVENTS; i++) this.rings[2]!.driver.add([], [{ addr: EV_BASE + 8 * i, len: EVENT_SIZE }], EV_BASE + 8 * i);
    this.rings[0]!.kick();
    this.rings[2]!.kick();
  }

  /**
   * QEMU's reconnect to a restarted backend: the same memory and the same rings, each started at
   * its used index (QEMU's virtio_queue_restore_last_avail_idx when GET_VRING_BASE failed), so
   * that buffers posted and not used are the new backend's; then a kick on each.
   */
  async reconnect(socket: string): Promise<void> {
    this.fe.close();
    await this.negotiate(socket);
    this.rings = this.rings.map((old, q) => {
      old.close();
      const ring = new FrontendVring<number>(q, old.driver, (r) => this.reap(r));
      cleanups.push(() => ring.close());
      return ring;
    });
    for (const ring of this.rings) {
      const q = ring.index;
      const layout = SplitDriver.layout(RING, ringAt(q));
      await this.fe.setVringNum(q, RING);
      await this.fe.setVringBase(q, this.ram.memory.readU16(layout.deviceArea + 2));
      await this.fe.setVringAddr(q, this.ram, layout);
      await this.fe.setVringFd('kick', q, ring.kickFd.fd);
      await this.fe.setVringFd('call', q, ring.callFd.fd);
      await this.fe.setVringEnable(q, true);
    }
    for (const ring of this.rings) ring.kickFd.write(1);
  }

  /** connect(2) to the host: a REQUEST. */
  open(peerPort: number): Conn {
    const c: Conn = { port: this.nextPort++, peerPort, state: 'connecting', txCnt: 0, peerBufAlloc: 0, peerFwdCnt: 0 };
    this.conns.set(c.port, c);
    this.packet(c, VsockOp.REQUEST, new Uint8Array(0));
    return c;
  }

  /** Sends what the device's credit and the free tx slots allow; returns the bytes sent. */
  send(c: Conn, data: Uint8Array): number {
    let sent = 0;
    while (c.state === 'open' && sent < data.length && this.txFree.length > 0) {
      const credit = c.peerBufAlloc - ((c.txCnt - c.peerFwdCnt) >>> 0);
      const n = Math.min(MAX_PACKET, data.length - sent, credit);
      if (n <= 0 || !this.packet(c, VsockOp.RW, data.subarray(sent, sent + n))) break;
      sent += n;
    }
    return sent;
  }

  /** A packet of a connection the guest holds no more (one sent before it saw the TRANSPORT_RESET). */
  stale(c: Conn, data: Uint8Array): void {
    if (!this.write(this.header(c, VsockOp.RW, data.length), data)) throw new Error('no tx slot');
  }

  /** Transmitted buffers the device has not returned. */
  get txInFlight(): number {
    return TX_SLOTS - this.txFree.length;
  }

  private async negotiate(socket: string): Promise<void> {
    this.fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS });
    cleanups.push(() => this.fe.close());
    const offered = await this.fe.getFeatures();
    await this.fe.setOwner();
    await this.fe.setProtocolFeatures((await this.fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG]));
    // Linux's feature table (SEQPACKET; STREAM implied), with the transport's bits QEMU passes on.
    await this.fe.setFeatures(offered & features(Feature.VERSION_1, Feature.EVENT_IDX, VsockFeature.SEQPACKET, VhostFeature.PROTOCOL_FEATURES));
    await this.fe.setMemTable(this.ram);
  }

  private header(c: Conn, op: number, len: number): VsockHeader {
    return { srcCid: CID, dstCid: HOST_CID, srcPort: c.port, dstPort: c.peerPort, len, type: VsockType.STREAM, op, flags: 0, bufAlloc: BUF_ALLOC, fwdCnt: 0 };
  }

  private packet(c: Conn, op: number, payload: Uint8Array): boolean {
    if (!this.write(this.header(c, op, payload.length), payload)) return false;
    c.txCnt = (c.txCnt + payload.length) >>> 0;
    return true;
  }

  /** One tx buffer: the header, then the payload, as two descriptors (Linux's out_sg). */
  private write(h: VsockHeader, payload: Uint8Array): boolean {
    const slot = this.txFree.pop();
    if (slot === undefined) return false;
    const mem = this.ram.memory;
    mem.write(slot, encodeHeader(h));
    mem.write(slot + HEADER_SIZE, payload);
    const out = [{ addr: slot, len: HEADER_SIZE }, ...(payload.length > 0 ? [{ addr: slot + HEADER_SIZE, len: payload.length }] : [])];
    if (this.rings[1]!.driver.add(out, [], slot) < 0) {
      this.txFree.push(slot);
      return false;
    }
    this.rings[1]!.kick();
    return true;
  }

  private reap(ring: FrontendVring<number>): void {
    const mem = this.ram.memory;
    for (let u = ring.driver.getBuf(); u; u = ring.driver.getBuf()) {
      if (ring.index === 1) {
        this.txFree.push(u.token);
        continue;
      }
      if (ring.index === 2) {
        if (u.len === EVENT_SIZE) this.transportEvent(mem.readU32(u.token));
        ring.driver.add([], [{ addr: u.token, len: EVENT_SIZE }], u.token);
        continue;
      }
      const bytes = new Uint8Array(u.len);
      mem.read(u.token, bytes);
      if (u.len >= HEADER_SIZE) this.receive(decodeHeader(bytes));
      ring.driver.add([], [{ addr: u.token, len: RX_SIZE }], u.token);
    }
    ring.kick();
  }

  /** virtio_vsock_event_handle: TRANSPORT_RESET resets every socket. */
  private transportEvent(id: number): void {
    this.events.push(id);
    if (id === EVENT_TRANSPORT_RESET) for (const c of this.conns.values()) c.state = 'reset';
  }

  /** virtio_transport_recv_pkt, for what a sending guest socket needs. */
  private receive(h: VsockHeader): void {
    this.received.push(h);
    const c = this.conns.get(h.dstPort);
    if (c === undefined || c.peerPort !== h.srcPort || c.state === 'reset') return;
    c.peerBufAlloc = h.bufAlloc;
    c.peerFwdCnt = h.fwdCnt;
    if (h.op === VsockOp.RESPONSE && c.state === 'connecting') c.state = 'open';
    if (h.op === VsockOp.RST) c.state = 'reset';
  }
}

/** The host program listening on `U_port`: each accepted connection's bytes, and whether it ended. */
function hostListener(path: string): { server: Server; conns: { socket: Socket; bytes: Buffer[]; closed: boolean }[] } {
  const conns: { socket: Socket; bytes: Buffer[]; closed: boolean }[] = [];
  const server = createServer((socket) => {
    const c = { socket, bytes: [] as Buffer[], closed: false };
    conns.push(c);
    socket.on('data', (b: Buffer) => c.bytes.push(b));
    socket.on('close', () => (c.closed = true));
    socket.on('error', () => undefined);
  });
  server.listen(path);
  cleanups.push(() => {
    for (const c of conns) c.socket.destroy();
    server.close();
  });
  return { server, conns };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const total = (parts: readonly Buffer[]) => parts.reduce((n, b) => n + b.length, 0);

describe('the daemon killed and restarted under its guest', () => {
  it('SIGKILL mid-transfer, restarted on the same sockets: TRANSPORT_RESET, RST for the old connection, a new 1 MiB transfer sha256-checked', async () => {
    const socket = join(dir, 'vhost3.socket');
    const uds = join(dir, 'vm3.vsock');
    const args = ['--guest-cid', String(CID), '--socket', socket, '--uds-path', uds];
    const host = hostListener(`${uds}_5000`);
    await new Promise((r) => host.server.once('listening', r));
    const start = async () => {
      const d = await kit.spawnDaemon(args, daemon.program());
      cleanups.push(() => kit.killDaemon(d));
      await kit.waitForLog(d, `listening on ${socket}`);
      return d;
    };

    // A fresh daemon owes its guest a TRANSPORT_RESET.
    const first = await start();
    const guest = new Guest();
    await guest.probe(socket);
    await until(() => guest.events.length === 1, HANG_MS, 'the first TRANSPORT_RESET');
    expect(guest.events).toEqual([EVENT_TRANSPORT_RESET]);

    // A connection to host port 5000; 256 KiB of a transfer reach the host program.
    const old = guest.open(5000);
    await until(() => old.state !== 'connecting' && host.conns.length === 1, HANG_MS, 'RESPONSE and the host connection');
    expect(old.state).toBe('open');
    const data = pattern(1, 1 << 20);
    let sent = 0;
    await until(() => {
      sent += guest.send(old, data.subarray(sent, 256 << 10));
      return total(host.conns[0]!.bytes) === 256 << 10 && guest.txInFlight === 0 && old.peerFwdCnt === old.txCnt;
    }, HANG_MS, 'the first 256 KiB at the host, and its credit back');

    // Mid-transfer: more bytes posted, and the daemon killed.
    const burst = guest.send(old, data.subarray(sent));
    expect(burst).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await until(() => host.conns[0]!.closed, HANG_MS, 'the host end closed with the daemon');
    const before = Buffer.concat(host.conns[0]!.bytes);
    expect(Buffer.compare(before, data.subarray(0, before.length))).toBe(0); // what arrived is the transfer's prefix

    // Restarted on the same sockets (its predecessor's files replaced); the frontend reconnects.
    const second = await start();
    const seen = guest.received.length;
    await guest.reconnect(socket);
    await until(() => guest.events.length === 2, HANG_MS, 'the restarted daemon\'s TRANSPORT_RESET');
    expect(guest.events).toEqual([EVENT_TRANSPORT_RESET, EVENT_TRANSPORT_RESET]);

    // The old connection is gone: a packet on it gets RST, and nothing else.
    guest.stale(old, data.subarray(0, 100));
    const ofOld = () => guest.received.slice(seen).filter((h) => h.dstPort === old.port && h.srcPort === old.peerPort);
    await until(() => ofOld().length > 0, HANG_MS, 'RST for the old connection');
    expect(new Set(ofOld().map((h) => h.op))).toEqual(new Set([VsockOp.RST]));
    expect(host.conns.length).toBe(1);

    // A new connection: RESPONSE, and 1 MiB at the host program, checksummed.
    const fresh = guest.open(5000);
    await until(() => fresh.state !== 'connecting' && host.conns.length === 2, HANG_MS, 'RESPONSE and the new host connection');
    expect(fresh.state).toBe('open');
    const again = pattern(2, 1 << 20);
    let resent = 0;
    await until(() => {
      resent += guest.send(fresh, again.subarray(resent));
      return total(host.conns[1]!.bytes) === again.length;
    }, HANG_MS, 'the new 1 MiB at the host');
    expect(sha(Buffer.concat(host.conns[1]!.bytes))).toBe(sha(again));
    expect(fresh.state).toBe('open');
    expect(ofOld().every((h) => h.op === VsockOp.RST)).toBe(true);

    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 60_000);
});
