/**
 * The real vmv-vfio-user program in its own process, driven through its socket by the QEMU client
 * model and the transport's model of Linux's virtio_pci (synchronous REGION messages, the MSI-X
 * table kept by the client, real eventfds, guest RAM in a memfd): virtio-blk writes that land in the
 * image file and read back, a DEVICE_RESET and a second probe, a second client after the first
 * left, and SIGTERM flushing the image; virtio-rng bytes over MSI-X; virtio-console with its port on
 * TCP: 256 KiB each way between the TCP client and the function's queues, sha256-checked, again after a
 * DEVICE_RESET and for a second client; virtio-gpio with its control socket: a line the driver sets
 * read by the host, a line the host drives read by the driver.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockStatus, RequestType, encodeRequestHeader } from '@vmv/block';
import { GpioDirection, GpioMsg, GpioStatus } from '@vmv/gpio';
import { controlRequest } from '@vmv/vhost-user/daemon';
import { CommonCfg, VIRTIO_BAR, VirtioBarOffset } from '@vmv/transport-pci';
import type { DriverQueue } from '@vmv/transport-pci/driver';
import { PciRegion } from '@vmv/vfio-user';
import { qemu } from '../../vfio-user/test/support/client';
import * as kit from '../../vhost-user/test/support/daemon-process';
import { syncClient } from './support/sync-client';

const program = kit.bundledDaemon(join(__dirname, '..', 'src', 'bin.ts'));
let dir = '';
let daemon: kit.DaemonProcess | null = null;
const clients: { close(): void }[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-vfud-'));
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  kit.killDaemon(daemon);
  daemon = null;
});
afterAll(() => {
  program.remove();
  rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[], socket: string) {
  daemon = await kit.spawnDaemon(['--socket', socket, ...args], program.program());
  await kit.waitForSocket(daemon, socket);
  return daemon;
}

function collect() {
  const done: number[] = [];
  return { done, callback: (q: DriverQueue<number>) => void (() => { for (let u = q.getBuf(); u !== null; u = q.getBuf()) done.push(u.token); })() };
}

type Client = ReturnType<typeof syncClient>;

/** Probes as Linux does and runs a write of `data` at `sector` and a read back; returns what was read. */
function writeAndRead(c: Client, sector: bigint, data: Uint8Array): Uint8Array {
  c.driver.probe();
  c.driver.negotiate([]);
  const { done, callback } = collect();
  const [q] = c.driver.findQueues([{ callback }]);
  c.driver.ready();
  const hdr = 0xc_0000, buf = 0xc_1000, status = 0xc_f000;
  c.memory.write(hdr, encodeRequestHeader({ type: RequestType.OUT, sector }));
  c.memory.write(buf, data);
  q!.add([{ addr: hdr, len: 16 }, { addr: buf, len: data.length }], [{ addr: status, len: 1 }], 1);
  q!.kick();
  c.until(() => done.length === 1, 'the write');
  expect(c.memory.readU8(status)).toBe(BlockStatus.OK);
  c.memory.write(hdr, encodeRequestHeader({ type: RequestType.IN, sector }));
  c.memory.write(buf, new Uint8Array(data.length));
  q!.add([{ addr: hdr, len: 16 }], [{ addr: buf, len: data.length }, { addr: status, len: 1 }], 2);
  q!.kick();
  c.until(() => done.length === 2, 'the read');
  expect(c.memory.readU8(status)).toBe(BlockStatus.OK);
  const back = new Uint8Array(data.length);
  c.memory.read(buf, back);
  return back;
}

describe('vmv-vfio-user --device blk', () => {
  it('Linux\'s probe over the socket, MSI-X; writes land in the image; DEVICE_RESET and a second probe; a second client; SIGTERM flushes', async () => {
    const image = join(dir, 'disk.img');
    writeFileSync(image, new Uint8Array(1 << 20));
    const socket = join(dir, 'blk.sock');
    const d = await start(['--device', 'blk', '--image', image], socket);
    const c = syncClient(socket);
    clients.push(c);
    expect(c.barSizes).toEqual([0x4000, 0, 0x1000, 0, 0, 0]);
    const data = new Uint8Array(8192).map((_, i) => (i * 31 + 7) & 0xff);
    expect(writeAndRead(c, 24n, data)).toEqual(data);
    expect(c.driver.identity).toMatchObject({ deviceId: 2, msixVectors: 2 });
    expect(c.interrupts[1]).toBeGreaterThanOrEqual(2);
    // DEVICE_RESET (QEMU's at a VM reset), then the driver probes again.
    expect(c.send(qemu.reset()).error).toBe(0);
    c.reprobe();
    const second = data.map((b) => b ^ 0xff);
    expect(writeAndRead(c, 40n, second)).toEqual(second);
    c.close();
    clients.length = 0;
    await kit.waitForLog(d, 'client disconnected');
    // The next client finds the function at power-on.
    const c2 = syncClient(socket);
    clients.push(c2);
    expect(writeAndRead(c2, 64n, data)).toEqual(data);
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    const disk = readFileSync(image);
    expect(disk.subarray(24 * 512, 24 * 512 + 8192)).toEqual(Buffer.from(data));
    expect(disk.subarray(40 * 512, 40 * 512 + 8192)).toEqual(Buffer.from(second));
    expect(disk.subarray(64 * 512, 64 * 512 + 8192)).toEqual(Buffer.from(data));
    expect(d.stderr()).toMatch(/listening on .*: virtio blk as PCI 1af4:1042, BARs 0 \(16384 bytes\), 2 \(4096 bytes\), 2 MSI-X vectors/);
    expect(d.stderr()).toContain('device reset (DEVICE_RESET)');
    expect(d.stderr()).not.toMatch(/ (warn|error): /);
    // Three clients' two requests each: a REGION_WRITE to the notify address per kick, an interrupt per completion.
    const traffic = /traffic: region writes notify (\d+), virtio (\d+), other (\d+); region reads (\d+); MSI-X interrupts (\d+)/.exec(d.stderr());
    expect(traffic).not.toBeNull();
    const [notify, virtio, other, reads, irqs] = traffic!.slice(1).map(Number);
    expect(notify).toBe(6);
    expect(irqs).toBe(6);
    expect(virtio).toBeGreaterThan(0);
    expect(other).toBeGreaterThan(0);
    expect(reads).toBeGreaterThan(0);
  });

  it('--read-only: the device offers VIRTIO_BLK_F_RO and a write is refused with IOERR, the image untouched', async () => {
    const image = join(dir, 'ro.img');
    writeFileSync(image, new Uint8Array(1 << 20).fill(9));
    const socket = join(dir, 'ro.sock');
    await start(['--device', 'blk', '--image', image, '--read-only'], socket);
    const c = syncClient(socket);
    clients.push(c);
    c.driver.probe();
    const features = c.driver.negotiate([5]);
    expect((features >> 5n) & 1n).toBe(1n);
    c.close();
    clients.length = 0;
    expect(readFileSync(image).every((b) => b === 9)).toBe(true);
  });
});

describe('vmv-vfio-user --device rng', () => {
  it('entropy over MSI-X', async () => {
    const socket = join(dir, 'rng.sock');
    const d = await start(['--device', 'rng'], socket);
    const c = syncClient(socket);
    clients.push(c);
    c.driver.probe();
    c.driver.negotiate([]);
    const { done, callback } = collect();
    const [q] = c.driver.findQueues([{ callback }]);
    c.driver.ready();
    for (let i = 0; i < 4; i++) {
      q!.add([], [{ addr: 0x8_0000 + i * 1024, len: 1024 }], i);
      q!.kick();
      c.until(() => done.length === i + 1, `buffer ${i}`);
    }
    const bytes = new Uint8Array(4096);
    c.memory.read(0x8_0000, bytes);
    expect(new Set(bytes).size).toBeGreaterThan(200);
    expect(c.interrupts[1]).toBeGreaterThanOrEqual(4);
    d.child.kill('SIGINT');
    expect((await d.exited).code).toBe(0);
  });
});

/** A TCP port nobody listens on (the kernel's pick, released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Turns of the event loop until `done()`; the bound only catches a hang. */
async function eventually(done: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; !done(); await new Promise((r) => setTimeout(r, 2))) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

type Host = { socket: Socket; got: Buffer[] };

/**
 * Probes as Linux does without VIRTIO_CONSOLE_F_MULTIPORT (port 0 alone, open from the start; receiveq 0,
 * transmitq 1), then `size` bytes each way: the host writes all of its bytes while the guest posts 16 KiB
 * receive buffers, then the guest sends 16 KiB buffers on the transmit queue. Checks both with sha256.
 */
async function consoleExchange(c: Client, host: Host, size: number): Promise<void> {
  c.driver.probe();
  c.driver.negotiate([]);
  expect(c.driver.identity).toMatchObject({ deviceId: 3 });
  const used: { token: number; len: number }[][] = [[], []];
  const drain = (i: number) => (q: DriverQueue<number>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) used[i]!.push(u);
  };
  const [rx, tx] = c.driver.findQueues([{ callback: drain(0) }, { callback: drain(1) }]);
  c.driver.ready();
  const chunk = 16 * 1024, rxBase = 0x20_0000, txBase = 0x28_0000;
  const down = randomBytes(size);
  await new Promise<void>((r) => host.socket.write(down, () => r()));
  const got = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < 4; i++) rx!.add([], [{ addr: rxBase + i * chunk, len: chunk }], i);
  rx!.kick();
  while (at < size) {
    c.until(() => used[0]!.length > 0, `host bytes after ${at}`);
    const u = used[0]!.shift()!;
    const bytes = new Uint8Array(u.len);
    c.memory.read(rxBase + u.token * chunk, bytes);
    got.set(bytes, at);
    at += u.len;
    rx!.add([], [{ addr: rxBase + u.token * chunk, len: chunk }], u.token);
    rx!.kick();
  }
  expect(sha256(got)).toBe(sha256(down));
  host.got.length = 0;
  const up = randomBytes(size);
  for (let o = 0, i = 0; o < size; o += chunk, i++) {
    c.memory.write(txBase, up.subarray(o, o + chunk));
    tx!.add([{ addr: txBase, len: chunk }], [], i);
    tx!.kick();
    c.until(() => used[1]!.length === i + 1, `transmit buffer ${i}`);
    await new Promise((r) => setImmediate(r)); // the host reads what arrived
  }
  await eventually(() => host.got.reduce((n, b) => n + b.length, 0) >= size, 'the guest\'s bytes on TCP');
  expect(sha256(Buffer.concat(host.got))).toBe(sha256(up));
}

describe('vmv-vfio-user --device console', () => {
  it('port 0 on TCP: 256 KiB each way, sha256-checked; DEVICE_RESET answered with the device at status 0, then again; the client leaves: its RAM unmapped and its fds closed; a second client, the host end kept', async () => {
    const socket = join(dir, 'console.sock');
    const tcp = await freePort();
    // The daemon takes all the host's bytes while the guest has posted no buffer yet (a bound of 1 MiB, not 64 KiB).
    const d = await start(['--device', 'console', '--backend', 'network', '--tcp-port', String(tcp), '--buffer-size', String(1 << 20)], socket);
    const host: Host = { socket: createConnection(tcp, '127.0.0.1'), got: [] };
    host.socket.on('data', (b) => void host.got.push(b));
    await new Promise((r) => host.socket.once('connect', r));
    await kit.waitForLog(d, 'client connected');
    // What the daemon holds before a client: its fds, and no mapping of a client's RAM.
    const fds = () => readdirSync(`/proc/${d.child.pid}/fd`).length;
    const mapsRam = () => readFileSync(`/proc/${d.child.pid}/maps`, 'utf8').includes('memfd:guest-ram');
    const before = fds();
    const c = syncClient(socket);
    clients.push(c, { close: () => host.socket.destroy() });
    expect(mapsRam()).toBe(true);
    expect(fds()).toBeGreaterThan(before);
    const size = 256 * 1024;
    await consoleExchange(c, host, size);
    expect(c.interrupts.slice(1).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(size / (16 * 1024));
    // DEVICE_RESET: by its reply the device is reset (device_status reads 0), and the driver probes again.
    const status = () => c.send(qemu.regionRead(PciRegion.BAR0 + VIRTIO_BAR, VirtioBarOffset.COMMON + CommonCfg.DEVICE_STATUS, 1)).body[16];
    expect(status()).not.toBe(0);
    expect(c.send(qemu.reset()).error).toBe(0);
    expect(status()).toBe(0);
    c.reprobe();
    await consoleExchange(c, host, size);
    // The client leaves (its RAM and eventfds with it); the next one maps its own and finds the port's host end as it was.
    c.close();
    clients.splice(clients.indexOf(c), 1);
    await kit.waitForLog(d, 'client disconnected');
    await eventually(() => !mapsRam() && fds() === before, 'the first client\'s RAM unmapped and its socket, memfd and eventfds closed');
    const c2 = syncClient(socket);
    clients.push(c2);
    await consoleExchange(c2, host, size);
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expect(d.stderr()).toMatch(/listening on .*: virtio console as PCI 1af4:1043/);
    expect(d.stderr()).toContain('device reset (DEVICE_RESET)');
    expect(d.stderr()).not.toMatch(/ (warn|error): /);
  });
});

describe('vmv-vfio-user --device gpio', () => {
  it('a simulated chip over MSI-X, its control socket: a line the driver sets is read by the host, a line the host drives by the driver', async () => {
    const socket = join(dir, 'gpio.sock');
    const ctl = join(dir, 'gpio.ctl');
    const d = await start(['--device', 'gpio', '-l', 's4', '--line-names', 'in0,x,led,y', '--control-socket', ctl], socket);
    const c = syncClient(socket);
    clients.push(c);
    c.driver.probe();
    c.driver.negotiate([]);
    expect(c.driver.identity).toMatchObject({ deviceId: 41 });
    expect(c.driver.cread(0, 2)).toBe(4); // ngpio
    const { done, callback } = collect();
    const [q] = c.driver.findQueues([{ callback }]);
    c.driver.ready();
    const req = 0xc_0000, resp = 0xc_1000;
    /** One request (§5.18.6): type, line, value; the response's status and value. */
    const request = (type: number, line: number, value: number) => {
      const r = new DataView(new ArrayBuffer(8));
      r.setUint16(0, type, true);
      r.setUint16(2, line, true);
      r.setUint32(4, value, true);
      c.memory.write(req, new Uint8Array(r.buffer));
      q!.add([{ addr: req, len: 8 }], [{ addr: resp, len: 2 }], done.length);
      q!.kick();
      const n = done.length;
      c.until(() => done.length === n + 1, `request ${type}`);
      return [c.memory.readU8(resp), c.memory.readU8(resp + 1)];
    };
    expect(request(GpioMsg.SET_DIRECTION, 2, GpioDirection.OUT)).toEqual([GpioStatus.OK, 0]);
    expect(request(GpioMsg.SET_VALUE, 2, 1)).toEqual([GpioStatus.OK, 0]);
    const lines = await controlRequest(ctl, 'lines');
    expect((lines as { return: { name: string; direction: number; value: number }[] }).return[2]).toMatchObject({ name: 'led', direction: GpioDirection.OUT, value: 1 });
    expect(request(GpioMsg.SET_DIRECTION, 0, GpioDirection.IN)).toEqual([GpioStatus.OK, 0]);
    expect(await controlRequest(ctl, 'set-input', { line: 'in0', value: 1 })).toEqual({ return: { outcome: 'none' } });
    expect(request(GpioMsg.GET_VALUE, 0, 0)).toEqual([GpioStatus.OK, 1]);
    expect(c.interrupts[1]).toBeGreaterThanOrEqual(4);
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expect(d.stderr()).toMatch(/listening on .*: virtio gpio as PCI 1af4:1069/);
    expect(d.stderr()).toContain('line 2 output 1');
    expect(d.stderr()).not.toMatch(/ (warn|error): /);
  });
});
