/**
 * The console over vhost-user with the public frontend (`@vmv/vhost-user/frontend`), as QEMU's
 * vhost-user-test-device-pci sets it up (guest RAM in a memfd, real eventfds, split rings), with
 * the driver's side played as Linux's virtio_console plays it:
 * - in process, port 0 without multiport: data both ways and a resize reported through the
 *   backend request channel (CONFIG_CHANGE_MSG), the new size read with GET_CONFIG;
 * - in process, multiport: GET_VRING_BASE of the receive rings (port 0's, the control one) with
 *   the guest's buffers posted and nothing to send answers at once with the index before them,
 *   and after the rings start again from there, host bytes and a control message land in them;
 *   every ring stopped and started again (QEMU's stop/cont): the ports stay open;
 * - the program with `--backend pty`: 1 MiB each way between the guest and the pty's slave (opened
 *   by the test, raw), md5-checked, the slave closed mid-way (guest bytes written meanwhile wait)
 *   and opened again; with `-c 2` and a named port, a pty per port of each socket;
 * - the vmv-vhost-user-console program, unix backend, a named port: the control handshake, the
 *   port found by its name, 256 KiB each way between a unix-socket client and the guest, md5-checked.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BAD_ID, ConsoleDevice, ConsoleFeature, ControlEvent, decodeControl, encodeControl, receiveQueueOf } from '@vmv/console';
import { VhostUserBackend } from '@vmv/vhost-user';
import { FrontendVring, SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { SplitDriver } from '@vmv/queue/driver';
import { ProtocolFeature, protocolFeatureMask } from '@vmv/vhost-user/protocol';
import * as kit from '../../vhost-user/test/support/daemon-process';

const HANG_MS = 20_000;
const VERSION_1 = 1n << 32n;
const PROTOCOL_FEATURES = 1n << 30n;
const EVENT_IDX = 1n << 29n;
const PAGE = 4096;
const BUFFERS = 0x20_0000;

const dir = mkdtempSync(join(tmpdir(), 'vmv-console-fe-'));
const daemon = kit.bundledDaemon(join(__dirname, '..', 'src', 'bin.ts'));
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) {
    try {
      cleanups.pop()!();
    } catch {
      // already released
    }
  }
});
afterAll(() => {
  daemon.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Turns of the event loop until `done()`; the bound only catches a hang. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The guest's virtio_console over frontend rings. */
class Guest {
  readonly ram = SharedGuestMemory.create(8 << 20, { name: 'console-fe' });
  readonly rings: FrontendVring<number>[] = [];
  readonly received = new Map<number, Uint8Array[]>();
  readonly control: { id: number; event: number; value: number; data: Uint8Array }[] = [];
  /** Per receive ring: the guest pages the device returned, in order. */
  readonly usedPages = new Map<number, number[]>();
  configChanges = 0;
  private readonly free: number[] = [];
  fe!: VhostUserFrontend;

  constructor() {
    for (let i = 511; i >= 0; i--) this.free.push(BUFFERS + i * PAGE);
    cleanups.push(() => this.ram.close());
  }

  async connect(socket: string, multiport: boolean, queues: number): Promise<bigint> {
    this.fe = VhostUserFrontend.connect(socket, { replyTimeoutMs: HANG_MS, onEvent: (e) => { if (e.type === 'config-changed') this.configChanges++; } });
    cleanups.push(() => this.fe.close());
    const offered = await this.fe.getFeatures();
    await this.fe.setOwner();
    await this.fe.setProtocolFeatures((await this.fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.MQ, ProtocolFeature.REPLY_ACK, ProtocolFeature.CONFIG, ProtocolFeature.BACKEND_REQ]));
    const features = offered & (VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | (1n << BigInt(ConsoleFeature.SIZE)) | (multiport ? 1n << BigInt(ConsoleFeature.MULTIPORT) : 0n));
    await this.fe.setFeatures(features);
    await this.fe.setBackendReqFd();
    await this.fe.setMemTable(this.ram);
    for (let q = 0; q < queues; q++) {
      this.rings.push(await this.fe.setupVring<number>(q, { memory: this.ram, size: 64, address: 0x1_0000 + q * 0x4000, eventIdx: (features & EVENT_IDX) !== 0n, onCall: (r) => this.reap(r) }));
    }
    return features;
  }

  /** Starts a ring stopped by GET_VRING_BASE again from `base`, as QEMU does: its buffers as they were. */
  async restart(q: number, base: number): Promise<void> {
    const old = this.rings[q]!;
    const ring = new FrontendVring<number>(q, old.driver, (r) => this.reap(r));
    cleanups.push(() => ring.close());
    this.rings[q] = ring;
    await this.fe.setVringNum(q, 64);
    await this.fe.setVringBase(q, base);
    await this.fe.setVringAddr(q, this.ram, SplitDriver.layout(64, 0x1_0000 + q * 0x4000));
    await this.fe.setVringFd('kick', q, ring.kickFd.fd);
    await this.fe.setVringFd('call', q, ring.callFd.fd);
    await this.fe.setVringEnable(q, true);
  }

  /** The available index of ring `q` and the pages of its last 64 entries, oldest first. */
  posted(q: number): { idx: number; pages: number[] } {
    const { driverArea, descTable } = SplitDriver.layout(64, 0x1_0000 + q * 0x4000);
    const mem = this.ram.memory;
    const idx = mem.readU16(driverArea + 2);
    const pages: number[] = [];
    for (let i = Math.max(0, idx - 64); i < idx; i++) pages.push(Number(mem.readU64(descTable + 16 * mem.readU16(driverArea + 4 + 2 * (i & 63)))));
    return { idx, pages };
  }

  fill(q: number): void {
    const ring = this.rings[q]!;
    while (ring.driver.numFree > 0 && this.free.length > 0) {
      const page = this.free.pop()!;
      ring.driver.add([], [{ addr: page, len: PAGE }], page);
    }
    ring.kick();
  }

  send(q: number, bytes: Uint8Array): number {
    const ring = this.rings[q]!;
    let done = 0;
    while (done < bytes.length && ring.driver.numFree > 0 && this.free.length > 0) {
      const page = this.free.pop()!;
      const n = Math.min(PAGE, bytes.length - done);
      this.ram.memory.write(page, bytes.subarray(done, done + n));
      ring.driver.add([{ addr: page, len: n }], [], page);
      done += n;
    }
    ring.kick();
    return done;
  }

  take(q: number): Uint8Array {
    const parts = this.received.get(q) ?? [];
    this.received.set(q, []);
    return Buffer.concat(parts);
  }

  private reap(ring: FrontendVring<number>): void {
    for (let u = ring.driver.getBuf(); u; u = ring.driver.getBuf()) {
      const q = ring.index;
      const isRx = q === 2 || q === receiveQueueOf(q < 2 ? 0 : (q - 2) >> 1);
      if (!isRx) {
        this.free.push(u.token);
        continue;
      }
      const bytes = new Uint8Array(u.len);
      this.ram.memory.read(u.token, bytes);
      this.usedPages.set(q, [...(this.usedPages.get(q) ?? []), u.token]);
      this.free.push(u.token);
      if (q === 2) {
        const d = decodeControl(bytes);
        if (d.ok) this.control.push({ ...d.message, data: d.message.data.slice() });
        if (d.ok && d.message.event === ControlEvent.PORT_ADD) {
          this.fill(receiveQueueOf(d.message.id));
          this.send(3, encodeControl(d.message.id, ControlEvent.PORT_READY, 1));
        }
        if (d.ok && d.message.event === ControlEvent.CONSOLE_PORT) this.send(3, encodeControl(d.message.id, ControlEvent.PORT_OPEN, 1));
      } else {
        const list = this.received.get(q) ?? [];
        list.push(bytes);
        this.received.set(q, list);
      }
      const page = this.free.pop()!;
      ring.driver.add([], [{ addr: page, len: PAGE }], page);
      ring.kick();
    }
  }
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

describe('over vhost-user', () => {
  it('port 0 without multiport in process: data both ways, a resize through CONFIG_CHANGE_MSG, an emergency write through SET_CONFIG', async () => {
    const device = new ConsoleDevice({ size: { cols: 80, rows: 25 } });
    const fromGuest: Uint8Array[] = [];
    device.port(0).connect({ write: (d, done) => { fromGuest.push(d); done(); } });
    const backend = new VhostUserBackend(device);
    const socket = join(dir, 'inproc.sock');
    backend.listen(socket, { removeStale: true });
    cleanups.push(() => backend.close());
    const guest = new Guest();
    const features = await guest.connect(socket, false, 2);
    expect(features & (1n << BigInt(ConsoleFeature.MULTIPORT))).toBe(0n);
    const config = new DataView((await guest.fe.getConfig(0, 12)).buffer);
    expect([config.getUint16(0, true), config.getUint16(2, true), config.getUint32(4, true)]).toEqual([80, 25, 1]);
    guest.fill(0);
    device.port(0).write(new TextEncoder().encode('login: '));
    await until(() => (guest.received.get(0)?.length ?? 0) > 0, 'host bytes in the guest');
    expect(new TextDecoder().decode(guest.take(0))).toBe('login: ');
    guest.send(1, new TextEncoder().encode('root\n'));
    await until(() => fromGuest.length > 0, 'guest bytes on the host');
    expect(new TextDecoder().decode(Buffer.concat(fromGuest))).toBe('root\n');
    device.resize(132, 43);
    await until(() => guest.configChanges > 0, 'CONFIG_CHANGE_MSG');
    const after = new DataView((await guest.fe.getConfig(0, 4)).buffer);
    expect([after.getUint16(0, true), after.getUint16(2, true)]).toEqual([132, 43]);
    // F_EMERG_WRITE: SET_CONFIG of emerg_wr puts its low byte out on port 0
    await guest.fe.setConfig(8, Uint8Array.of(0x21, 0, 0, 0));
    await until(() => Buffer.concat(fromGuest).toString() === 'root\n!', 'the emergency byte');
  });

  it('GET_VRING_BASE with receive buffers posted and nothing to send: at once, the index before them; restarted, they take host bytes and control messages', async () => {
    const device = new ConsoleDevice({ size: { cols: 80, rows: 25 }, multiport: true });
    device.port(0).connect({ write: (_d, done) => done() });
    // Held receive buffers would make GET_VRING_BASE wait this long: longer than the frontend waits for a reply.
    const backend = new VhostUserBackend(device, { drainTimeoutMs: 10 * HANG_MS });
    const socket = join(dir, 'stop.sock');
    backend.listen(socket, { removeStale: true });
    cleanups.push(() => backend.close());
    const guest = new Guest();
    await guest.connect(socket, true, 4);
    guest.fill(2);
    guest.send(3, encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1));
    await until(() => device.port(0).guestOpen, 'PORT_OPEN 1 from the guest');
    const controlSent = guest.control.length;
    expect(controlSent).toBe(4); // PORT_ADD, CONSOLE_PORT, RESIZE, PORT_OPEN
    const rx = guest.posted(0);
    expect(rx.idx).toBe(64); // a full ring posted
    expect(guest.posted(2).idx).toBe(64 + controlSent); // re-posted as they came back
    // The rings stop (QEMU's vhost_virtqueue_stop): nothing was taken beyond what was sent.
    expect(await guest.fe.getVringBase(0)).toBe(0);
    expect(await guest.fe.getVringBase(2)).toBe(controlSent);
    await guest.restart(0, 0);
    await guest.restart(2, controlSent);
    device.port(0).write(new TextEncoder().encode('after the stop'));
    await until(() => (guest.received.get(0)?.length ?? 0) > 0, 'host bytes after the restart');
    expect(new TextDecoder().decode(guest.take(0))).toBe('after the stop');
    expect(guest.usedPages.get(0)).toEqual([rx.pages[0]]); // the first buffer posted before the stop
    device.resize(100, 40);
    await until(() => guest.control.length > controlSent, 'RESIZE after the restart');
    expect(guest.control[controlSent]!.event).toBe(ControlEvent.RESIZE);
  });

  it('every ring stopped and started again (QEMU stop/cont): the ports stay open, host bytes and RESIZE still reach the guest', async () => {
    const device = new ConsoleDevice({ ports: [{}, { name: 'org.vmv.cont' }], size: { cols: 80, rows: 25 } });
    device.port(1).connect({ write: (_d, done) => done() });
    const backend = new VhostUserBackend(device, { drainTimeoutMs: 10 * HANG_MS });
    const socket = join(dir, 'cont.sock');
    backend.listen(socket, { removeStale: true });
    cleanups.push(() => backend.close());
    const guest = new Guest();
    await guest.connect(socket, true, 6);
    guest.fill(2);
    guest.send(3, encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1));
    await until(() => device.port(0).guestOpen && guest.control.some((m) => m.id === 1 && m.event === ControlEvent.PORT_OPEN), 'the handshake');
    guest.send(3, encodeControl(1, ControlEvent.PORT_OPEN, 1));
    await until(() => device.port(1).guestOpen, 'port 1 open');
    const controlSent = guest.control.length;
    const bases: number[] = [];
    for (let q = 0; q < 6; q++) bases.push(await guest.fe.getVringBase(q));
    expect([bases[0], bases[2], bases[4]]).toEqual([0, controlSent, 0]);
    for (let q = 0; q < 6; q++) await guest.restart(q, bases[q]!);
    expect([device.port(0).guestOpen, device.port(1).guestOpen]).toEqual([true, true]);
    device.port(1).write(new TextEncoder().encode('after cont'));
    await until(() => (guest.received.get(4)?.length ?? 0) > 0, 'host bytes after cont');
    expect(new TextDecoder().decode(guest.take(4))).toBe('after cont');
    device.resize(90, 30);
    await until(() => guest.control.length > controlSent, 'RESIZE after cont');
    expect(guest.control[controlSent]).toMatchObject({ id: 0, event: ControlEvent.RESIZE });
  });

  it('the daemon (unix backend, a named port): handshake, the port by its name, 256 KiB each way md5-checked', async () => {
    const socket = join(dir, 'd.sock');
    const prefix = join(dir, 'con');
    const d = await kit.spawnDaemon(['-s', socket, '-b', 'unix', '--console-socket', prefix, '--ports', 'org.vmv.fe'], daemon.program());
    cleanups.push(() => kit.killDaemon(d));
    await kit.waitForSocket(d, `${socket}0`);
    const guest = new Guest();
    await guest.connect(`${socket}0`, true, 6);
    guest.fill(2);
    guest.send(3, encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1));
    await until(() => guest.control.some((m) => m.event === ControlEvent.PORT_NAME), 'PORT_NAME');
    const name = guest.control.find((m) => m.event === ControlEvent.PORT_NAME)!;
    expect(name.id).toBe(1);
    expect(new TextDecoder().decode(name.data)).toBe('org.vmv.fe');
    expect(guest.control.filter((m) => m.event === ControlEvent.PORT_ADD).map((m) => m.id)).toEqual([0, 1]);
    guest.send(3, encodeControl(1, ControlEvent.PORT_OPEN, 1)); // a process opened /dev/vport0p1
    const client = createConnection(`${prefix}0-1`);
    cleanups.push(() => client.destroy());
    const got: Buffer[] = [];
    client.on('data', (b: Buffer) => got.push(b));
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    await until(() => guest.control.some((m) => m.id === 1 && m.event === ControlEvent.PORT_OPEN && m.value === 1), 'PORT_OPEN 1 for the client');
    const down = createHash('sha256').update('down').digest();
    const toGuest = Buffer.alloc(256 << 10).map((_, i) => down[i % 32]! ^ (i >> 8));
    const toHost = Buffer.alloc(256 << 10).map((_, i) => (i * 131) >> 3);
    client.write(toGuest);
    let sent = 0;
    await until(() => {
      if (sent < toHost.length) sent += guest.send(5, toHost.subarray(sent));
      const inGuest = (guest.received.get(4) ?? []).reduce((n, b) => n + b.length, 0);
      return sent === toHost.length && inGuest >= toGuest.length && Buffer.concat(got).length >= toHost.length;
    }, 'both streams through');
    expect(md5(guest.take(4))).toBe(md5(toGuest));
    expect(md5(Buffer.concat(got))).toBe(md5(toHost));
    client.destroy();
    await until(() => guest.control.some((m) => m.id === 1 && m.event === ControlEvent.PORT_OPEN && m.value === 0), 'PORT_OPEN 0 when the client left');
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  }, 60_000);

  it('the daemon with --backend pty: 1 MiB each way through the slave, md5-checked, the slave closed and opened again', async () => {
    const socket = join(dir, 'p.sock');
    const d = await kit.spawnDaemon(['-s', socket, '-b', 'pty'], daemon.program());
    cleanups.push(() => kit.killDaemon(d));
    await kit.waitForLog(d, /port 0: pty \/dev\/pts\/\d+\n/);
    const path = /port 0: pty (\/dev\/pts\/\d+)\n/.exec(d.stderr())![1]!;
    await kit.waitForSocket(d, `${socket}0`);
    const guest = new Guest();
    await guest.connect(`${socket}0`, true, 4);
    guest.fill(2);
    guest.send(3, encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1));
    await until(() => guest.control.some((m) => m.id === 0 && m.event === ControlEvent.PORT_OPEN && m.value === 1), 'PORT_OPEN 1: the pty is the host end');
    const open = () => openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    let slave = open();
    cleanups.push(() => { if (slave >= 0) closeSync(slave); });
    const down = createHash('sha256').update('pty down').digest();
    const toGuest = Buffer.alloc(1 << 20).map((_, i) => down[i % 32]! ^ (i >> 9)); // every byte value: raw mode keeps them
    const toHost = Buffer.alloc(1 << 20).map((_, i) => (i * 167) ^ (i >> 11));
    const atHost: Buffer[] = [];
    let wrote = 0;
    let sent = 0;
    const inGuest = () => (guest.received.get(0) ?? []).reduce((n, b) => n + b.length, 0);
    const atHostBytes = () => atHost.reduce((n, b) => n + b.length, 0);
    /** One turn of both sides: the user at the slave writes what the pty takes and reads what is there. */
    const turn = (upTo: number, downTo: number) => {
      if (sent < upTo) sent += guest.send(1, toHost.subarray(sent, upTo));
      if (slave < 0) return;
      for (;;) {
        const buf = Buffer.alloc(64 << 10);
        let n = 0;
        try {
          n = readSync(slave, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        }
        if (n === 0) break;
        atHost.push(buf.subarray(0, n));
      }
      try {
        if (wrote < downTo) wrote += writeSync(slave, toGuest, wrote, Math.min(downTo - wrote, 16 << 10));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
    };
    const half = 512 << 10;
    await until(() => {
      turn(half, half);
      return inGuest() === half && atHostBytes() === half;
    }, 'the first half both ways');
    closeSync(slave); // the user leaves; the guest writes a page meanwhile, which the pty keeps (it holds a few KiB)
    slave = -1;
    await until(() => {
      turn(half + 4096, half);
      return sent === half + 4096 && guest.rings[1]!.driver.numFree === 64;
    }, 'guest bytes taken while no slave is open');
    slave = open();
    await until(() => {
      turn(toHost.length, toGuest.length);
      return inGuest() === toGuest.length && atHostBytes() === toHost.length;
    }, 'the rest both ways');
    expect(md5(guest.take(0))).toBe(md5(toGuest));
    expect(md5(Buffer.concat(atHost))).toBe(md5(toHost));
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  }, 60_000);

  it('the daemon with --backend pty -c 2 and a named port: a pty of its own for each port of each socket', async () => {
    const socket = join(dir, 'p2.sock');
    const d = await kit.spawnDaemon(['-s', socket, '-b', 'pty', '-c', '2', '--ports', 'org.vmv.a'], daemon.program());
    cleanups.push(() => kit.killDaemon(d));
    await kit.waitForLog(d, /socket 1 port 1: pty \/dev\/pts\/\d+\n/);
    await kit.waitForLog(d, /socket 0 port 1: pty \/dev\/pts\/\d+\n/);
    const lines = [...d.stderr().matchAll(/^socket (\d) port (\d): pty (\/dev\/pts\/\d+)$/gm)];
    expect(lines.map((m) => `${m[1]}-${m[2]}`).sort()).toEqual(['0-0', '0-1', '1-0', '1-1']);
    expect(new Set(lines.map((m) => m[3])).size).toBe(4);
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  }, 60_000);

  it("the daemon's nested backend: port 0 on its stdin and stdout", async () => {
    const socket = join(dir, 'n.sock');
    const child = spawn(process.execPath, [await daemon.program(), '-s', socket, '-b', 'nested'], { stdio: ['pipe', 'pipe', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    const out: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => err.includes('port 0 on this terminal'), `the daemon's terminal: ${err}`);
    await kit.waitForSocket({ child, stderr: () => err, exited: exited.then((code) => ({ code, signal: null })) }, `${socket}0`);
    const guest = new Guest();
    await guest.connect(`${socket}0`, true, 4);
    guest.fill(2);
    guest.send(3, encodeControl(BAD_ID, ControlEvent.DEVICE_READY, 1));
    await until(() => guest.control.some((m) => m.event === ControlEvent.CONSOLE_PORT), 'CONSOLE_PORT');
    child.stdin!.write('typed on the terminal\n');
    await until(() => (guest.received.get(0)?.length ?? 0) > 0, 'terminal bytes in the guest');
    expect(new TextDecoder().decode(guest.take(0))).toBe('typed on the terminal\n');
    guest.send(1, new TextEncoder().encode('printed by the guest\n'));
    await until(() => Buffer.concat(out).toString() === 'printed by the guest\n', 'guest bytes on the terminal');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
