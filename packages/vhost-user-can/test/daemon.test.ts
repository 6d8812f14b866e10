/**
 * The daemon in process (runCli) driven by @vmv/vhost-user's frontend as QEMU's
 * vhost-user-test-device-pci drives it for Linux's virtio_can (guest RAM in a memfd, txq, rxq and
 * controlq as split rings, kicks and calls over eventfds, frames laid out as virtio_can lays them),
 * by its frame socket and by its control socket: two guests on one bus see each other's frames and
 * not their own, a host program on the frame socket sees both and is seen by both, START and STOP
 * show in `status`, `bus-off` reaches the guest as a config change with the BUSOFF bit; the command
 * line as vhost-device-can's.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanFeature, CanFlags, CanMsg, CanQueue, formatFrame, parseFrame } from '@vmv/can';
import type { CanFrame } from '@vmv/can';
import { SharedGuestMemory, VhostUserFrontend, type FrontendVring } from '@vmv/vhost-user/frontend';
import { ProtocolFeature } from '@vmv/vhost-user/protocol';
import { controlRequest, daemonFlags, parseFlags } from '@vmv/vhost-user/daemon';
import { HELP, createCanDaemon, parseCanDevices, runCli } from '@vmv/vhost-user-can';
import { HANG_MS } from '../../vhost-user/test/frontend';
import { captureIo } from '../../vhost-user/test/support/daemon-process';
import { EVENT_IDX, PROTOCOL_FEATURES, VERSION_1, negotiate, releasesAfterEach, runInProcess, waitUntil } from '../../vhost-user/test/support/in-process';

const CAN_BITS = [CanFeature.CAN_CLASSIC, CanFeature.CAN_FD, CanFeature.RTR_FRAMES, CanFeature.LATE_TX_ACK].reduce((a, b) => a | (1n << BigInt(b)), 0n);

const dir = mkdtempSync(join(tmpdir(), 'vmv-vuc-'));
const release = releasesAfterEach();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('command line', () => {
  it("has vhost-device-can's flags: -s, -c, -d \"NAME ...\" (one bus name per socket); ours: --frame-socket [BUS=]PATH", () => {
    const flags = daemonFlags(createCanDaemon());
    expect(parseFlags(flags, ['-s', 'P', '-c', '3', '-d', 'can0 can0 vcan1', '--frame-socket', 'vcan1=/x/f', '--frame-socket', '/x/g'])).toMatchObject({
      'socket-path': 'P',
      'socket-count': 3,
      'can-devices': ['can0', 'can0', 'vcan1'],
      'frame-socket': [{ bus: 'vcan1', path: '/x/f' }, { bus: null, path: '/x/g' }],
    });
    expect(parseCanDevices('a,b  c')).toEqual(['a', 'b', 'c']);
    expect(HELP).toMatch(/vhost-user-test-device-pci,chardev=c0,virtio-id=36,num_vqs=3,config_size=2/);
    expect(HELP).toMatch(/bus-off/);
  });

  it('refuses a bus count other than the socket count, bad names, a frame socket on an unknown bus or given twice, in one line', async () => {
    expect(() => parseCanDevices('  ')).toThrow(/names no bus/);
    expect(() => parseCanDevices('can0 bad/name')).toThrow(/not a bus name/);
    for (const [argv, why] of [
      [['-c', '2', '-d', 'can0'], /names 1 bus for 2 sockets/],
      [['-d', 'can0 can1'], /names 2 buses for 1 socket/],
      [['-d', 'can0', '--frame-socket', 'can9=/x/f'], /no bus can9/],
      [['--frame-socket', join(dir, 'f'), '--frame-socket', join(dir, 'f')], /given twice/],
      [['--frame-socket', '/no/such/dir/f'], /does not exist/],
    ] as const) {
      const io = captureIo();
      expect(await runCli(['-s', join(dir, `bad${Date.now()}.sock`), ...argv], io)).toBe(2);
      expect(io.errText.trim().split('\n').length).toBeLessThanOrEqual(2);
      expect(io.errText).toMatch(why);
    }
  });
});

/** A guest's virtio_can over frontend rings, as Linux's driver lays out its buffers. */
class Guest {
  readonly ram = SharedGuestMemory.create(2 << 20, { name: 'can-fe' });
  readonly rings: FrontendVring<number>[] = [];
  readonly received: string[] = [];
  readonly txResults: number[] = [];
  readonly controlResults: number[] = [];
  configChanges = 0;
  fe!: VhostUserFrontend;
  private txSlot = 0;

  constructor() {
    release(() => this.ram.close());
  }

  async connect(socket: string): Promise<void> {
    this.fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS, onEvent: (e) => void (e.type === 'config-changed' && this.configChanges++) });
    release(() => this.fe.close());
    const { offered, queues } = await negotiate(this.fe, [ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG, ProtocolFeature.BACKEND_REQ], VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | CAN_BITS);
    expect(offered & CAN_BITS).toBe(CAN_BITS);
    expect(queues).toBe(3);
    await this.fe.setBackendReqFd();
    await this.fe.setMemTable(this.ram);
    for (let q = 0; q < 3; q++) this.rings.push(await this.fe.setupVring<number>(q, { memory: this.ram, size: 64, address: 0x1_0000 + q * 0x4000, eventIdx: true, onCall: () => this.reap(q) }));
    // rxq: every descriptor a 16 + 64-byte buffer, as virtio_can_populate_rx_vq
    for (let i = 0; i < 64; i++) this.rings[CanQueue.RXQ]!.driver.add([], [{ addr: this.rxAddr(i), len: 80 }], i);
    this.rings[CanQueue.RXQ]!.kick();
  }

  private rxAddr(i: number): number {
    return 0x4_0000 + i * 0x80;
  }

  private reap(q: number): void {
    const mem = this.ram.memory;
    const ring = this.rings[q]!;
    for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) {
      if (q === CanQueue.RXQ) {
        const at = this.rxAddr(u.token);
        const length = mem.readU16(at + 2);
        const flags = mem.readU32(at + 8);
        const data = new Uint8Array(length);
        mem.read(at + 16, data);
        expect(mem.readU16(at)).toBe(CanMsg.RX);
        expect(u.len).toBe(16 + length);
        this.received.push(formatFrame({ id: mem.readU32(at + 12), extended: (flags & CanFlags.EXTENDED) !== 0, fd: (flags & CanFlags.FD) !== 0, rtr: (flags & CanFlags.RTR) !== 0, data: (flags & CanFlags.RTR) !== 0 ? new Uint8Array(length) : data }));
        ring.driver.add([], [{ addr: at, len: 80 }], u.token);
        ring.kick();
      } else if (q === CanQueue.TXQ) this.txResults.push(mem.readU8(0x8_0000 + u.token * 0x100 + 0xf0));
      else this.controlResults.push(mem.readU8(0x9_0002));
    }
  }

  async control(msgType: number): Promise<number> {
    const n = this.controlResults.length;
    this.ram.memory.writeU16(0x9_0000, msgType);
    this.rings[CanQueue.CONTROLQ]!.driver.add([{ addr: 0x9_0000, len: 2 }], [{ addr: 0x9_0002, len: 1 }], 0);
    this.rings[CanQueue.CONTROLQ]!.kick();
    await waitUntil(() => this.controlResults.length > n, 'the control result');
    return this.controlResults[n]!;
  }

  /** Queues a frame as virtio_can_start_xmit does. */
  send(f: CanFrame): void {
    const slot = this.txSlot++ & 31; // two descriptors a frame: 32 in a ring of 64
    const at = 0x8_0000 + slot * 0x100;
    const mem = this.ram.memory;
    mem.writeU16(at, CanMsg.TX);
    mem.writeU16(at + 2, f.data.length);
    mem.writeU32(at + 4, 0);
    mem.writeU32(at + 8, (f.extended ? CanFlags.EXTENDED : 0) | (f.fd ? CanFlags.FD : 0) | (f.rtr ? CanFlags.RTR : 0));
    mem.writeU32(at + 12, f.id);
    mem.write(at + 16, f.data);
    if (this.rings[CanQueue.TXQ]!.driver.add([{ addr: at, len: 16 + f.data.length }], [{ addr: at + 0xf0, len: 1 }], slot) < 0) throw new Error('tx ring full');
    this.rings[CanQueue.TXQ]!.kick();
  }
}

/** A client of the frame socket: lines in, lines out. */
function frameClient(path: string): { lines: string[]; write(text: string): void; socket: Socket } {
  const socket = connect(path);
  release(() => socket.destroy());
  const lines: string[] = [];
  let pending = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
  });
  return { lines, write: (text) => void socket.write(text), socket };
}

describe('a running daemon', () => {
  it('two guests on one bus and a host program on the frame socket: each sees the others\' frames, byte for byte and in order, never its own; START, STOP and bus-off as status shows and the guest sees them', async () => {
    const socket = join(dir, `c${Date.now()}.sock`);
    const ctl = `${socket}.ctl`;
    const frames = `${socket}.frames`;
    const d = runInProcess(runCli, ['-s', socket, '-c', '2', '--can-devices', 'can0 can0', '--frame-socket', frames, '--control-socket', ctl]);
    release(d.stop);
    await waitUntil(() => existsSync(`${socket}0`) && existsSync(`${socket}1`) && existsSync(ctl) && existsSync(frames), 'the sockets', d.log);
    const status = async () => (await controlRequest(ctl, 'status')) as { return: { buses: { name: string; frames: number }[]; sockets: { bus: string; state: string; stats: Record<string, number> }[] } };
    const a = new Guest();
    const b = new Guest();
    await a.connect(`${socket}0`);
    await b.connect(`${socket}1`);
    const host = frameClient(frames);
    await waitUntil(() => host.socket.readyState === 'open', 'the frame socket');

    expect(await a.control(CanMsg.SET_CTRL_MODE_START)).toBe(0);
    expect(await b.control(CanMsg.SET_CTRL_MODE_START)).toBe(0);
    expect((await status()).return.sockets.map((s) => `${s.bus} ${s.state}`)).toEqual(['can0 started', 'can0 started']);

    const fromA = ['123#DEADBEEF', '1FFFFFFF#0102030405060708', '321#R4', '0AB##0' + '5A'.repeat(64), '12345678##0' + '01'.repeat(12)];
    const fromB = ['7FF#', '456#R', '001##0AABB'];
    for (const t of fromA) a.send(parseFrame(t));
    for (const t of fromB) b.send(parseFrame(t));
    await waitUntil(() => host.lines.length >= fromA.length + fromB.length && a.txResults.length === fromA.length && b.txResults.length === fromB.length, 'the guests\' frames at the host');
    expect(a.txResults.concat(b.txResults).every((r) => r === 0)).toBe(true);
    expect(host.lines.filter((l) => fromA.includes(l))).toEqual(fromA);
    expect(host.lines.filter((l) => fromB.includes(l))).toEqual(fromB);
    await waitUntil(() => a.received.length >= fromB.length && b.received.length >= fromA.length, 'each guest the other\'s frames');
    expect(b.received).toEqual(fromA);
    expect(a.received).toEqual(fromB);

    const fromHost = Array.from({ length: 300 }, (_, i) => formatFrame({ id: 0x100 + (i % 0x600), data: Uint8Array.of(i & 0xff, i >> 8) }));
    host.write('not a frame\n' + fromHost.join('\n') + '\n');
    await waitUntil(() => a.received.length === fromB.length + 300 && b.received.length === fromA.length + 300, 'the host\'s frames in both guests');
    expect(a.received.slice(fromB.length)).toEqual(fromHost);
    expect(b.received.slice(fromA.length)).toEqual(fromHost);
    await waitUntil(() => host.lines.some((l) => l.startsWith('ERR ')), 'the ERR line');
    expect(host.lines.filter((l) => l.startsWith('ERR '))).toHaveLength(1);
    expect(host.lines).toHaveLength(fromA.length + fromB.length + 1); // none of its own

    // STOP from guest b: status shows it; frames to b stop, a still gets them
    expect(await b.control(CanMsg.SET_CTRL_MODE_STOP)).toBe(0);
    const s1 = (await status()).return;
    expect(s1.sockets.map((s) => s.state)).toEqual(['started', 'stopped']);
    expect(s1.sockets[1]!.stats).toMatchObject({ starts: 1, stops: 1, txFrames: fromB.length, rxFrames: fromA.length + 300 });
    host.write('222#01\n');
    await waitUntil(() => a.received.length === fromB.length + 301, 'a frame after b stopped');
    expect(b.received).toHaveLength(fromA.length + 300);

    // bus-off on a: its config status reads BUSOFF, it got a config change; START clears it
    expect(await controlRequest(ctl, 'bus-off', { socket: 0 })).toEqual({ return: { busOff: true } });
    await waitUntil(() => a.configChanges > 0, 'CONFIG_CHANGE_MSG');
    expect([...(await a.fe.getConfig(0, 2))]).toEqual([1, 0]);
    expect(await controlRequest(ctl, 'bus-off', { socket: 1 })).toEqual({ return: { busOff: false } });
    expect((await controlRequest(ctl, 'bus-off', { socket: 2 })) as object).toMatchObject({ error: { class: 'InvalidArgument' } });
    a.send(parseFrame('333#33'));
    await waitUntil(() => a.txResults.length === fromA.length + 1, 'the NOT_OK of a frame sent while bus-off');
    expect(a.txResults.at(-1)).toBe(1);
    expect(await a.control(CanMsg.SET_CTRL_MODE_START)).toBe(0);
    expect([...(await a.fe.getConfig(0, 2))]).toEqual([0, 0]);
    expect((await status()).return.sockets[0]).toMatchObject({ state: 'started', stats: { busOffs: 1, starts: 2 } });

    host.socket.end();
    a.fe.close();
    b.fe.close();
    d.stop();
    expect(await d.code).toBe(0);
    expect(d.log()).toMatch(/controller started \(start\)/);
    expect(d.log()).toMatch(/controller stopped \(stop\)/);
    expect(d.log()).toMatch(/controller bus-off \(bus-off\)/);
    expect(d.log()).toMatch(/sent 5 frames \(1 rejected, 0 cancelled\), received 304/);
  }, 60_000);

  it('a frame socket client that does not read holds the bus: the guest\'s transmit buffers wait, and all go, in order, once it reads', async () => {
    const socket = join(dir, `w${Date.now()}.sock`);
    const frames = `${socket}.frames`;
    const ctl = `${socket}.ctl`;
    const d = runInProcess(runCli, ['-s', socket, '--frame-socket', `can0=${frames}`, '--control-socket', ctl]);
    release(d.stop);
    await waitUntil(() => existsSync(`${socket}0`) && existsSync(frames) && existsSync(ctl), 'the sockets');
    const g = new Guest();
    await g.connect(`${socket}0`);
    expect(await g.control(CanMsg.SET_CTRL_MODE_START)).toBe(0);
    const host = frameClient(frames);
    await waitUntil(() => host.socket.readyState === 'open', 'the frame socket');
    host.socket.pause();
    // 64-byte CAN FD frames: some 140 bytes a line, enough to fill the unix socket's buffers and the endpoint's 1024 frames
    const total = 6000;
    const nth = (i: number): CanFrame => ({ id: i & 0x7ff, fd: true, data: Uint8Array.from({ length: 64 }, (_, k) => (i + k) & 0xff) });
    let sent = 0;
    const pump = () => {
      for (; sent < total && g.txResults.length + 30 > sent; sent++) g.send(nth(sent));
    };
    pump();
    const timer = setInterval(pump, 2);
    release(() => clearInterval(timer));
    // the socket's buffers and the endpoint's 1024 frames fill; then a frame waits on the bus, and the guest's buffers with it
    for (let waiting = 0; waiting === 0; ) {
      const r = (await controlRequest(ctl, 'status')) as unknown as { return: { buses: { waiting: number }[] } };
      waiting = r.return.buses[0]!.waiting;
      if (waiting === 0) await new Promise((res) => setTimeout(res, 20));
    }
    expect(g.txResults.length).toBeLessThan(sent);
    host.socket.resume();
    await waitUntil(() => host.lines.length === total, 'every frame at the host');
    clearInterval(timer);
    expect(host.lines).toEqual(Array.from({ length: total }, (_, i) => formatFrame(nth(i))));
    expect(g.txResults.every((r) => r === 0)).toBe(true);
    g.fe.close();
    d.stop();
    expect(await d.code).toBe(0);
  }, 60_000);
});
