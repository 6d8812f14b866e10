import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixStream, closeFd, fdSize, mmap, type EventFd } from '@vmv/sys';
import {
  SUPPORTED_PROTOCOL_FEATURES,
  VhostUserBackend,
  inflightQueueRegionSize,
  type VhostUserBackendEvent,
} from '@vmv/vhost-user';
import {
  HeaderFlags,
  ProtocolFeature,
  VhostUserRequest as Q,
  encodeMessage,
  protocolFeatureMask,
  readInflight,
} from '@vmv/vhost-user/protocol';
import { UpperDevice } from './devices';
import { Frontend, GuestRam, HANG_MS, HIGH_GPA, TestRing, mappingCount, openFdCount, sleep, timerfdCount, until } from './frontend';

const PROTOCOL_FEATURES_BIT = 1n << 30n;
const VERSION_1 = 1n << 32n;
const EVENT_IDX = 1n << 29n;
let counter = 0;

function socketPath(): string {
  return join(tmpdir(), `vmv-vu-${process.pid}-${counter++}.sock`);
}

interface Setup {
  backend: VhostUserBackend;
  device: UpperDevice;
  events: VhostUserBackendEvent[];
  path: string;
}

let current: Setup | null = null;
const cleanups: (() => void)[] = [];

function start(device = new UpperDevice(), options: ConstructorParameters<typeof VhostUserBackend>[1] = {}): Setup {
  const events: VhostUserBackendEvent[] = [];
  const backend = new VhostUserBackend(device, { ...options, onEvent: (e) => events.push(e) });
  const path = socketPath();
  backend.listen(path, { removeStale: true }); // a socket file left by a killed run of an earlier process with this pid
  current = { backend, device, events, path };
  return current;
}

beforeEach(() => {
  current = null;
});

afterEach(() => {
  current?.backend.close();
  while (cleanups.length > 0) cleanups.pop()!();
});

function track<T extends { close(): void }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

/** The rings of the tests: ring 0 in the low region, ring 1 in the high one. */
function rings(ram: GuestRam, count = 1, size = 256, eventIdx = false): TestRing<string>[] {
  const out: TestRing<string>[] = [];
  for (let i = 0; i < count; i++) {
    const base = i === 0 ? 0 : HIGH_GPA;
    out.push(track(new TestRing<string>(i, ram, size, { desc: base + 0x1000, avail: base + 0x3000, used: base + 0x4000 }, eventIdx)));
  }
  return out;
}

interface HandshakeOptions {
  protocolMask?: bigint;
  eventIdx?: boolean;
  enable?: boolean;
  status?: boolean;
  base?: number;
}

/** QEMU 7.2's vhost_dev_init + vhost_dev_start sequence for a vhost-user device. */
async function handshake(fe: Frontend, ram: GuestRam, rs: TestRing[], o: HandshakeOptions = {}): Promise<{ features: bigint; protocol: bigint }> {
  const offered = await fe.u64({ request: Q.GET_FEATURES, needReply: false });
  expect(offered & PROTOCOL_FEATURES_BIT).toBe(PROTOCOL_FEATURES_BIT);
  // protocolMask 0: a frontend that does not know protocol features at all
  const legacy = o.protocolMask === 0n;
  const protocolOffered = legacy ? 0n : await fe.u64({ request: Q.GET_PROTOCOL_FEATURES, needReply: false });
  const protocol = protocolOffered & (o.protocolMask ?? (1n << 17n) - 1n);
  if (!legacy) await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: protocol });
  const has = (bit: number) => ((protocol >> BigInt(bit)) & 1n) === 1n;
  if (has(ProtocolFeature.MQ)) expect(await fe.u64({ request: Q.GET_QUEUE_NUM, needReply: false })).toBe(BigInt(rs.length > 0 ? Math.max(rs.length, 1) : 1));
  if (has(ProtocolFeature.CONFIGURE_MEM_SLOTS)) expect(await fe.u64({ request: Q.GET_MAX_MEM_SLOTS, needReply: false })).toBe(32n);
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  const features = (offered & (VERSION_1 | (o.eventIdx ? EVENT_IDX : 0n))) | (legacy ? 0n : PROTOCOL_FEATURES_BIT);
  if (legacy) await fe.request({ request: Q.SET_FEATURES, needReply: false, value: features });
  else expect(await fe.ack({ request: Q.SET_FEATURES, needReply: false, value: features })).toBe(0n);
  if (has(ProtocolFeature.CONFIGURE_MEM_SLOTS)) {
    for (const region of ram.regions) {
      expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    }
  } else if (legacy) {
    await fe.request({ request: Q.SET_MEM_TABLE, needReply: false, regions: ram.regions, fds: [ram.fd, ram.fd] });
  } else {
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
  }
  for (const r of rs) await r.setup(fe, o.base ?? 0);
  if (o.enable !== false) {
    for (const r of rs) expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: r.index, num: 1 })).toBe(0n);
  }
  if (o.status === true && has(ProtocolFeature.STATUS)) {
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
  }
  return { features, protocol };
}

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Puts one request on a ring: `input` at `inAddr`, a writable buffer of `outLen` at `outAddr`. */
function submit(ram: GuestRam, ring: TestRing<string>, token: string, input: string, inAddr: number, outAddr: number, outLen = 64): void {
  ram.memory.write(inAddr, text(input));
  ring.driver.add([{ addr: inAddr, len: input.length }], [{ addr: outAddr, len: outLen }], token);
  if (ring.driver.kickPrepare()) ring.kick.write(1);
}

async function complete(ring: TestRing<string>): Promise<{ token: string; len: number }> {
  await until(() => ring.driver.moreUsed(), HANG_MS, `a used buffer on ring ${ring.index}`);
  const used = ring.driver.getBuf()!;
  return { token: used.token, len: used.len };
}

/**
 * Runs a scenario whose claim needs some step to come before a deadline of the backend (a hold or
 * a polling gap of up to a second): `scenario` returns null when the machine stalled past it,
 * and is run again on a fresh backend, up to five times (five stalls of a second each are a hang).
 */
async function unstalled<T>(scenario: () => Promise<T | null>): Promise<T | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await scenario();
    if (r !== null) return r;
    current?.backend.close();
    while (cleanups.length > 0) cleanups.pop()!();
  }
  return null;
}

describe('VhostUserBackend end to end (TypeScript frontend over a real unix socket)', () => {
  it('negotiates like QEMU 7.2 and serves a request through kick and call eventfds', async () => {
    const { device, events } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    const { protocol } = await handshake(fe, ram, [ring!], { status: true });
    expect(protocol).toBe(SUPPORTED_PROTOCOL_FEATURES);
    submit(ram, ring!, 'req1', 'hello vhost', 0x10000, 0x20000);
    expect(await ring!.waitCall()).toBeGreaterThanOrEqual(1);
    expect(await complete(ring!)).toEqual({ token: 'req1', len: 11 });
    expect(decode(ram.memory.view(0x20000, 11))).toBe('HELLO VHOST');
    expect(device.activations).toBe(1);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['listening', 'connected', 'activated']));
  });

  it('signalUsedBuffer for a queue the device does not have throws RangeError, as the InterruptHandle contract says', async () => {
    const { device } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!], { status: true });
    await until(() => device.ctx !== null, HANG_MS, 'the device activated');
    const signal = device.ctx!.interrupt.signalUsedBuffer;
    const thrown = (index: number): string | null => {
      try {
        signal(index);
        return null;
      } catch (e) {
        return e instanceof Error ? e.name : typeof e;
      }
    };
    for (const bad of [1, -1, 0.5, 256, Number.NaN]) expect(thrown(bad)).toBe('RangeError');
    expect(thrown(0)).toBeNull();
    // a context from a session that ended still checks the index (and signals nothing)
    expect(await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 })).not.toBeNull();
    await until(() => device.resets === 1, HANG_MS, 'the device reset');
    expect(thrown(1)).toBe('RangeError');
    expect(thrown(0)).toBeNull();
  });

  it('serves two rings in two memory regions (MQ) and translates frontend addresses', async () => {
    start(new UpperDevice(2));
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const rs = rings(ram, 2);
    await handshake(fe, ram, rs, { protocolMask: SUPPORTED_PROTOCOL_FEATURES & ~(1n << BigInt(ProtocolFeature.CONFIGURE_MEM_SLOTS)) });
    submit(ram, rs[1]!, 'high', 'in the high region', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    submit(ram, rs[0]!, 'low', 'low', 0x10000, 0x20000);
    expect(await complete(rs[1]!)).toEqual({ token: 'high', len: 18 });
    expect(await complete(rs[0]!)).toEqual({ token: 'low', len: 3 });
    expect(decode(ram.memory.view(HIGH_GPA + 0x20000, 18))).toBe('IN THE HIGH REGION');
  });

  it('works without protocol features (rings start enabled) and with EVENT_IDX', async () => {
    start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram, 1, 256, true);
    await handshake(fe, ram, [ring!], { protocolMask: 0n, enable: false, eventIdx: true });
    for (let i = 0; i < 20; i++) {
      submit(ram, ring!, `r${i}`, `msg ${i}`, 0x10000 + i * 64, 0x20000 + i * 64);
      expect((await complete(ring!)).token).toBe(`r${i}`);
    }
  });

  it('answers GET_CONFIG and applies SET_CONFIG (read-only bytes stay)', async () => {
    const { device } = start();
    const fe = track(new Frontend(current!.path));
    await fe.request({ request: Q.GET_PROTOCOL_FEATURES, needReply: false });
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    const r = await fe.request({ request: Q.GET_CONFIG, needReply: false, config: { offset: 0, size: 12, flags: 0, data: new Uint8Array(12) } });
    expect(r!.reply.header.size).toBe(24);
    expect(r!.reply.body.getUint32(12, true)).toBe(0x12345678);
    expect(r!.reply.body.getUint32(20, true)).toBe(0); // beyond the 8-byte config space: zero
    expect(await fe.ack({ request: Q.SET_CONFIG, needReply: true, config: { offset: 2, size: 4, flags: 0, data: Uint8Array.of(1, 2, 3, 4) } })).toBe(0n);
    expect([...device.config]).toEqual([0x78, 0x56, 0x34, 0x12, 3, 4, 0, 0]);
    expect(await fe.ack({ request: Q.SET_CONFIG, needReply: true, config: { offset: 6, size: 4, flags: 0, data: new Uint8Array(4) } })).toBe(1n);
    expect(fe.isClosed).toBe(false);
  });

  it('GET_VRING_BASE stops the ring, returns the next avail index, and a restart continues', async () => {
    const { device, events } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    for (let i = 0; i < 3; i++) {
      submit(ram, ring!, `a${i}`, 'x', 0x10000, 0x20000);
      await complete(ring!);
    }
    const r = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(r!.reply.body.getUint32(0, true)).toBe(0);
    expect(r!.reply.body.getUint32(4, true)).toBe(3);
    expect(device.resets).toBe(1);
    expect(events.some((e) => e.type === 'device-reset')).toBe(true);
    // a stopped ring ignores kicks
    submit(ram, ring!, 'while-stopped', 'y', 0x10000, 0x20000);
    await sleep(20);
    expect(ring!.driver.moreUsed()).toBe(false);
    // restart from base 3 (QEMU's vhost_virtqueue_start after a stop)
    await ring!.setup(fe, 3);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    ring!.kick.write(1);
    expect((await complete(ring!)).token).toBe('while-stopped');
    expect(device.activations).toBe(2);
  });

  it('GET_VRING_BASE waits for requests the device is still completing', async () => {
    const device = new UpperDevice();
    device.mode = 'hold'; // the test decides when the request completes
    // far longer than the frontend waits for a reply: an answer that did not wait fails the test
    start(device, { drainTimeoutMs: 25_000 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    submit(ram, ring!, 'slow', 'slow', 0x10000, 0x20000);
    await until(() => device.held.length === 1, HANG_MS, 'the device to take the request');
    let answered = false;
    const reply = fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    void reply.then(() => (answered = true));
    await sleep(20);
    expect(answered).toBe(false); // the request is still with the device
    const held = device.held.shift()!;
    device.complete(held.queue, held.chain);
    const r = await reply;
    expect(r!.reply.body.getUint32(4, true)).toBe(1);
    expect(ring!.driver.moreUsed()).toBe(true); // completed before the ring stopped, so delivered
    expect((await complete(ring!)).token).toBe('slow');
  });

  it('a completion after the drain timeout is dropped, never written into the stopped ring', async () => {
    const device = new UpperDevice();
    device.mode = 'hold';
    start(device, { drainTimeoutMs: 30 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    submit(ram, ring!, 'held', 'held', 0x10000, 0x20000);
    await until(() => device.held.length === 1);
    const held = device.held[0]!;
    const ctx = device.ctx!;
    const queue = ctx.queues[0]!; // what a device completing later keeps (serveQueue's ServedQueue does)
    const r = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(r!.reply.body.getUint32(4, true)).toBe(1);
    expect(ctx.queues[0]).toBeNull(); // the session took the queue away from the reset device
    queue.addUsed(held.chain, 0); // late: the device kept the chain past reset
    expect(ram.memory.readU16(0x4000 + 2)).toBe(0); // used.idx untouched
  });

  it('SET_STATUS / GET_STATUS round trip and DRIVER_OK activates the device', async () => {
    const { device } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!], { enable: false });
    expect(device.activations).toBe(0);
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0x0fn);
    expect(device.activations).toBe(1);
  });

  it('REPLY_ACK reports a bad request as failure and keeps the connection', async () => {
    const { events } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    const overlapping = [ram.regions[0]!, { ...ram.regions[0]!, guestPhysAddr: 0x1000n }];
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: overlapping, fds: [ram.fd, ram.fd] })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_OWNER, needReply: true })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_OWNER, needReply: true })).toBe(1n); // item 57: already claimed
    // an unknown request with need_reply: its payload is skipped and a failure is acked
    const pending = fe.awaitReply(99);
    fe.sendRaw(encodeMessage(99, HeaderFlags.VERSION | HeaderFlags.NEED_REPLY, new Uint8Array(4)));
    expect((await pending).reply.body.getBigUint64(0, true)).toBe(1n);
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0n);
    expect(events.filter((e) => e.type === 'request-failed').length).toBe(3);
  });

  it('disconnects on a bad message without need_reply, then serves the next frontend', async () => {
    const { events } = start();
    const fe = new Frontend(current!.path);
    fe.sendRaw(encodeMessage(Q.SET_VRING_NUM, HeaderFlags.VERSION, new Uint8Array(3)));
    await fe.closed;
    fe.close();
    await until(() => events.some((e) => e.type === 'disconnected'));
    const fe2 = track(new Frontend(current!.path));
    expect(await fe2.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
  });

  it('disconnects on a framing error (bad version, reserved flags, oversized) and on too many fds', async () => {
    start();
    for (const flags of [0x2, 0x11]) {
      const fe = new Frontend(current!.path);
      fe.sendRaw(encodeMessage(Q.GET_FEATURES, flags, new Uint8Array(0)));
      await fe.closed;
      fe.close();
    }
    const big = new Uint8Array(12);
    new DataView(big.buffer).setUint32(0, Q.SET_FEATURES, true);
    new DataView(big.buffer).setUint32(4, 1, true);
    new DataView(big.buffer).setUint32(8, 0x1001, true);
    const fe = new Frontend(current!.path);
    fe.sendRaw(big);
    await fe.closed;
    fe.close();
    const ram = track(new GuestRam());
    const fe2 = new Frontend(current!.path);
    fe2.sendRaw(encodeMessage(Q.GET_FEATURES, 1, new Uint8Array(0)), Array.from({ length: 33 }, () => ram.fd));
    await fe2.closed;
    fe2.close();
  });

  it('refuses a second frontend while one is connected', async () => {
    const { events } = start();
    const fe = track(new Frontend(current!.path));
    expect(await fe.u64({ request: Q.GET_QUEUE_NUM, needReply: false }).catch(() => -1n)).toBe(-1n); // MQ not acked: disconnect
    const fe2 = track(new Frontend(current!.path));
    const fe3 = new Frontend(current!.path);
    await fe3.closed.catch(() => undefined);
    await until(() => events.some((e) => e.type === 'rejected') || fe3.isClosed);
    fe3.close();
    expect(await fe2.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
  });

  it('unmaps guest memory and closes every received fd on disconnect', async () => {
    const { backend } = start();
    const fdsBefore = openFdCount();
    const ram = new GuestRam();
    const fe = new Frontend(current!.path);
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    submit(ram, ring!, 'x', 'abc', 0x10000, 0x20000);
    await complete(ring!);
    expect(mappingCount('test-guest-ram')).toBe(1 + 2); // ours + the backend's two regions
    fe.close();
    await until(() => !backend.connected);
    expect(mappingCount('test-guest-ram')).toBe(1);
    ram.close();
    cleanups.pop()!(); // the ring's eventfds
    expect(openFdCount()).toBe(fdsBefore);
  });

  it('keeps guest memory mapped after a disconnect until the device has drained its old I/O', async () => {
    // A device whose asynchronous I/O from before the reset is still landing in guest buffers.
    class SlowDrainDevice extends UpperDevice {
      release: (() => void) | null = null;
      drains = 0;
      drain(): Promise<void> {
        this.drains++;
        return new Promise((resolve) => {
          this.release = resolve;
        });
      }
    }
    const device = new SlowDrainDevice();
    const { backend } = start(device, { drainTimeoutMs: 20_000 });
    const ram = track(new GuestRam());
    const fe = new Frontend(current!.path);
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    submit(ram, ring!, 'x', 'abc', 0x10000, 0x20000);
    await complete(ring!);
    expect(mappingCount('test-guest-ram')).toBe(1 + 2);
    fe.close();
    await until(() => !backend.connected);
    await until(() => device.release !== null);
    await sleep(50);
    expect(mappingCount('test-guest-ram')).toBe(1 + 2); // still mapped: the device has not drained
    device.release!();
    await until(() => mappingCount('test-guest-ram') === 1);
    expect(device.drains).toBe(1);
  });

  it('follows ADD_MEM_REG / REM_MEM_REG (CONFIGURE_MEM_SLOTS), accepting the stray fd of QEMU 5.1-7.0 on REM_MEM_REG', async () => {
    start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram);
    await handshake(fe, ram, [ring!]);
    submit(ram, ring!, 'before', 'one', 0x10000, 0x20000);
    await complete(ring!);
    // remove the high region (with a stray fd), then put it back
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: ram.fd })).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(2);
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null })).toBe(1n);
    expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region: ram.regions[1]!, fd: ram.fd })).toBe(0n);
    submit(ram, ring!, 'after', 'two', 0x10000, HIGH_GPA + 0x20000);
    expect(await complete(ring!)).toEqual({ token: 'after', len: 3 });
    expect(decode(ram.memory.view(HIGH_GPA + 0x20000, 3))).toBe('TWO');
    // slots are limited
    const slots = await fe.u64({ request: Q.GET_MAX_MEM_SLOTS, needReply: false });
    expect(slots).toBe(32n);
  });

  it('GET_INFLIGHT_FD gives a zeroed shared buffer of the documented size; SET_INFLIGHT_FD maps it', async () => {
    start();
    const fe = track(new Frontend(current!.path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 } });
    const inflight = readInflight(r!.reply.body);
    expect(inflight).toEqual({ mmapSize: BigInt(inflightQueueRegionSize(128)), mmapOffset: 0n, numQueues: 1, queueSize: 128 });
    expect(r!.fds.length).toBe(1);
    const fd = r!.fds[0]!;
    expect(fdSize(fd)).toBe(inflightQueueRegionSize(128));
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight, fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight: { ...inflight, mmapSize: 64n }, fd })).toBe(1n);
    closeFd(fd);
  });

  it('a restarted backend resubmits the requests left in flight (inflight tracking)', async () => {
    const device = new UpperDevice();
    device.mode = 'hold';
    const first = start(device);
    const ram = track(new GuestRam());
    const fe = new Frontend(first.path);
    const [ring] = rings(ram, 1, 128);
    const ack = await fe.u64({ request: Q.GET_FEATURES, needReply: false });
    expect(ack).toBeGreaterThan(0n);
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 } });
    const inflight = readInflight(r!.reply.body);
    const inflightFd = r!.fds[0]!;
    cleanups.push(() => closeFd(inflightFd));
    await fe.request({ request: Q.SET_INFLIGHT_FD, needReply: false, inflight, fd: inflightFd });
    await fe.request({ request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT });
    await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region: ram.regions[0]!, fd: ram.fd });
    await ring!.setup(fe);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    // three requests: the device completes the middle one, the others stay in flight
    submit(ram, ring!, 'a', 'first', 0x10000, 0x20000);
    submit(ram, ring!, 'b', 'second', 0x10100, 0x20100);
    submit(ram, ring!, 'c', 'third', 0x10200, 0x20200);
    await until(() => device.held.length === 3);
    const middle = device.held.splice(1, 1)[0]!;
    device.complete(0, middle.chain);
    expect((await complete(ring!)).token).toBe('b');
    // the inflight buffer shows heads 0 and 4 in flight (each request took two descriptors)
    const view = mmap(inflightFd, Number(inflight.mmapSize));
    const dv = new DataView(view.buffer);
    expect([0, 2, 4].map((h) => dv.getUint8(16 + 16 * h))).toEqual([1, 0, 1]);
    expect(dv.getUint16(8, true)).toBe(1); // version
    expect(dv.getUint16(14, true)).toBe(1); // used_idx
    view.close();
    // the backend "crashes": the connection drops with two requests in flight
    current!.backend.close();
    await fe.closed;
    fe.close();
    // QEMU reconnects to a new backend: SET_INFLIGHT_FD with the kept buffer, base = used.idx
    const device2 = new UpperDevice();
    const second = start(device2);
    const fe2 = track(new Frontend(second.path));
    await fe2.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    await fe2.request({ request: Q.SET_INFLIGHT_FD, needReply: false, inflight, fd: inflightFd });
    await fe2.request({ request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT });
    await fe2.ack({ request: Q.ADD_MEM_REG, needReply: true, region: ram.regions[0]!, fd: ram.fd });
    const usedIdx = ram.memory.readU16(0x4000 + 2);
    expect(usedIdx).toBe(1);
    await ring!.setup(fe2, usedIdx);
    await fe2.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    await fe2.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    const done = [(await complete(ring!)).token, (await complete(ring!)).token];
    expect(done).toEqual(['a', 'c']);
    expect(second.events.filter((e) => e.type === 'inflight-resubmitted')).toEqual([{ type: 'inflight-resubmitted', index: 0, count: 2 }]);
    expect(first.events.filter((e) => e.type === 'inflight-resubmitted')).toEqual([]);
    expect(decode(ram.memory.view(0x20000, 5))).toBe('FIRST');
    expect(decode(ram.memory.view(0x20200, 5))).toBe('THIRD');
    // and new requests continue after the resubmitted ones
    submit(ram, ring!, 'd', 'fourth', 0x10300, 0x20300);
    expect((await complete(ring!)).token).toBe('d');
  });

  it('a restarted backend sends one call once the ring runs: its predecessor may have published used buffers and died holding their interrupt', async () => {
    // EVENT_IDX: the driver asked for an interrupt when entry 0 is used (used_event 0). The first
    // backend publishes entry 0 and dies before its interrupt goes out; the call fd is cleared to
    // stand for that. A second backend completing entry 1 would find used_event 0 outside its
    // window and stay silent forever; it must signal once when it takes the ring over.
    const device = new UpperDevice();
    device.mode = 'hold';
    const first = start(device);
    const ram = track(new GuestRam());
    const fe = new Frontend(first.path);
    const [ring] = rings(ram, 1, 128, true);
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 } });
    const inflight = readInflight(r!.reply.body);
    const inflightFd = r!.fds[0]!;
    cleanups.push(() => closeFd(inflightFd));
    const features = VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT;
    const setUp = async (f: Frontend, base: number) => {
      await f.request({ request: Q.SET_INFLIGHT_FD, needReply: false, inflight, fd: inflightFd });
      await f.request({ request: Q.SET_FEATURES, needReply: false, value: features });
      await f.ack({ request: Q.ADD_MEM_REG, needReply: true, region: ram.regions[0]!, fd: ram.fd });
      await ring!.setup(f, base);
      await f.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    };
    await setUp(fe, 0);
    submit(ram, ring!, 'a', 'first', 0x10000, 0x20000);
    submit(ram, ring!, 'b', 'second', 0x10100, 0x20100);
    await until(() => device.held.length === 2);
    device.complete(0, device.held.shift()!.chain);
    await until(() => ram.memory.readU16(0x4000 + 2) === 1, HANG_MS, 'entry 0 published');
    ring!.call.read(); // the interrupt that the dying backend never sent
    current!.backend.close();
    await fe.closed;
    fe.close();
    const device2 = new UpperDevice();
    device2.mode = 'hold';
    const second = start(device2);
    const fe2 = track(new Frontend(second.path));
    await fe2.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    await setUp(fe2, 1);
    await fe2.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    await until(() => device2.held.length === 1, HANG_MS, 'b resubmitted');
    await ring!.waitCall();
    expect(second.backend.callStats.sent).toBe(1);
    // the driver takes entry 0, then b completes with a call as usual
    expect(ring!.driver.getBuf()!.token).toBe('a');
    ring!.driver.enableCb();
    device2.complete(0, device2.held.shift()!.chain);
    await ring!.waitCall();
    expect((await complete(ring!)).token).toBe('b');
  });

  it('serves an already connected stream (--fd style) and rejects bad options', () => {
    const device = new UpperDevice();
    expect(() => new VhostUserBackend(device, { protocolFeatures: 1n << 1n })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { maxMemSlots: 0 })).toThrow(RangeError);
    expect(() => new VhostUserBackend({ ...device, queueMaxSizes: [] } as unknown as UpperDevice)).toThrow(RangeError);
    expect(() => new VhostUserBackend({ ...device, queueMaxSizes: [100] } as unknown as UpperDevice)).toThrow(RangeError);
    const backend = new VhostUserBackend(device);
    const [a, b] = UnixStream.pair();
    backend.serve(a);
    expect(backend.connected).toBe(true);
    backend.close();
    expect(backend.connected).toBe(false);
    b.close();
    expect(protocolFeatureMask([ProtocolFeature.MQ])).toBe(1n);
  });
});

/** An UpperDevice that records, in the turn of the loop that completed a request, whether its interrupt went out at once. */
class Recording extends UpperDevice {
  readonly atOnce: boolean[] = [];
  call: EventFd | null = null;
  override queueNotify(index: number): void {
    const before = this.processed;
    super.queueNotify(index);
    if (this.processed > before) this.atOnce.push(this.call!.read() !== null);
  }
}

describe('VhostUserBackend interrupt coalescing (real socket, eventfds and timerfds)', () => {
  // The hold policy (quiet time, longest hold, back-off, polling during a hold) is tested on a
  // simulated clock in coalesce.test.ts. Here, with real timers, the backend and the frontend
  // share this thread: what is visible once a completion is visible is decided, not raced.
  it('during a hold the driver does not kick; the held interrupt goes out when the ring stops, and nothing is lost', async () => {
    const outcome = await unstalled(async () => {
      const { backend, device } = start(new UpperDevice(), { interruptCoalescing: { quietUs: 1_000_000, maxDelayUs: 1_000_000 } });
      const ram = track(new GuestRam());
      const fe = track(new Frontend(current!.path));
      const [ring] = rings(ram, 1, 256, true);
      await handshake(fe, ram, [ring!], { eventIdx: true, status: true });
      const add = (i: number): boolean => {
        ram.memory.write(0x10000 + i * 64, text(`batch ${i}`));
        ring!.driver.add([{ addr: 0x10000 + i * 64, len: 7 }], [{ addr: 0x20000 + i * 64, len: 64 }], `b${i}`);
        const kick = ring!.driver.kickPrepare();
        if (kick) ring!.kick.write(1);
        return kick;
      };
      expect(add(0)).toBe(true);
      await until(() => device.processed === 1, HANG_MS, 'the first request');
      // the device re-enabled notifications before it asked for the interrupt that started the
      // hold, so the second request still kicks; from then on the hold keeps kicks off
      expect(add(1)).toBe(true);
      await until(() => device.processed === 2, HANG_MS, 'the second request');
      const kicks = [add(2), add(3)];
      // the hold ends only by sending: none sent yet means it lasted through both adds (a machine
      // stalled for the whole second of the hold ends it earlier: then try again)
      if (backend.callStats.sent !== 0) return null;
      expect(kicks).toEqual([false, false]);
      expect(backend.callStats.requested).toBe(1); // the driver has not taken b0: b1 needs no interrupt of its own (EVENT_IDX)
      // GET_VRING_BASE: the held interrupt goes out before the call fd is dropped
      const base = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
      expect(base!.reply.body.getUint32(4, true)).toBe(2);
      expect(ring!.call.read()).toBe(1);
      expect(backend.callStats.sent).toBe(1);
      const done: string[] = [];
      while (ring!.driver.moreUsed()) done.push(ring!.driver.getBuf()!.token);
      expect(done).toEqual(['b0', 'b1']);
      // the requests added without a kick are served once the ring runs again
      await ring!.setup(fe, 2);
      expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
      await until(() => device.processed === 4, HANG_MS, 'the requests added during the hold');
      expect(decode(ram.memory.view(0x20000 + 3 * 64, 7))).toBe('BATCH 3');
      return true;
    });
    expect(outcome).toBe(true);
  });

  it('whatever the pace of a busy driver, every request is served once and no interrupt is lost', async () => {
    const { backend, device } = start(new UpperDevice(), { interruptCoalescing: { quietUs: 5000, maxDelayUs: 50_000 } });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram, 1, 256, true);
    await handshake(fe, ram, [ring!], { eventIdx: true, status: true });
    const N = 30;
    const done: string[] = [];
    for (let i = 0; i < N; i++) {
      ram.memory.write(0x10000 + i * 64, text(`busy ${i}`.padEnd(7)));
      ring!.driver.add([{ addr: 0x10000 + i * 64, len: 7 }], [{ addr: 0x20000 + i * 64, len: 64 }], `b${i}`);
      if (ring!.driver.kickPrepare()) ring!.kick.write(1);
      if (i % 3 === 2) await sleep(i % 2); // bursts, at whatever pace the machine allows
    }
    // as Linux: sleep until interrupted, then take what is used; a lost interrupt hangs here
    while (done.length < N) {
      await ring!.waitCall();
      while (ring!.driver.moreUsed()) done.push(ring!.driver.getBuf()!.token);
    }
    expect(done).toEqual(Array.from({ length: N }, (_, i) => `b${i}`));
    expect(device.processed).toBe(N);
    const calls = backend.callStats;
    expect(calls.sent).toBeGreaterThanOrEqual(1);
    expect(calls.sent).toBeLessThanOrEqual(calls.requested);
    // and a request after that is served too (by a kick, or by a hold's look at the ring)
    submit(ram, ring!, 'after', 'after', 0x10800, 0x20800);
    await until(() => device.processed === N + 1, HANG_MS, 'the request after the burst');
  });

  it('a driver that waits on each request gets its interrupt at once after the first idle holds (back-off)', async () => {
    const device = new Recording();
    const { backend } = start(device, { interruptCoalescing: { quietUs: 2000, maxDelayUs: 10_000 } });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram, 1, 256, true);
    device.call = ring!.call;
    await handshake(fe, ram, [ring!], { eventIdx: true, status: true });
    for (let i = 0; i < 40; i++) {
      submit(ram, ring!, `s${i}`, 'one at a time', 0x10000, 0x20000);
      await until(() => device.atOnce.length === i + 1, HANG_MS, `request ${i}`);
      if (!device.atOnce[i]) await ring!.waitCall(); // held: it comes when the hold ends
      expect((await complete(ring!)).token).toBe(`s${i}`);
    }
    // idle holds at requests 0, 2, 5, 10, 19, 36 only (back-off 1, 2, 4, 8, 16): the others were signalled at once
    const held = device.atOnce.flatMap((once, i) => (once ? [] : [i]));
    expect(held).toEqual([0, 2, 5, 10, 19, 36]);
    expect(backend.callStats).toEqual({ requested: 40, sent: 40 });
  });

  it('sends a held interrupt before GET_VRING_BASE takes the ring back, and closes its timerfd on disconnect', async () => {
    const before = timerfdCount();
    const device = new Recording();
    start(device, { interruptCoalescing: { quietUs: 1_000_000, maxDelayUs: 1_000_000 } });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(current!.path));
    const [ring] = rings(ram, 1, 256, true);
    device.call = ring!.call;
    await handshake(fe, ram, [ring!], { eventIdx: true, status: true });
    submit(ram, ring!, 'held', 'held', 0x10000, 0x20000);
    await until(() => device.atOnce.length === 1, HANG_MS, 'the completion');
    expect(device.atOnce).toEqual([false]); // held
    expect(timerfdCount()).toBe(before + 1);
    await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    // sent by the stop, before the call fd was dropped (or by the timer, on a machine stalled for a second)
    expect(ring!.call.read()).toBe(1);
    submit(ram, ring!, 'again', 'x', 0x10040, 0x20040);
    fe.close();
    await until(() => !current!.backend.connected, HANG_MS, 'the disconnect');
    expect(timerfdCount()).toBe(before);
  });

  it('refuses bad coalescing options', () => {
    const device = new UpperDevice();
    expect(() => new VhostUserBackend(device, { interruptCoalescing: { quietUs: 0 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { interruptCoalescing: { quietUs: 100, maxDelayUs: 50 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { interruptCoalescing: { quietUs: 1.5 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { interruptCoalescing: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(new VhostUserBackend(device, { interruptCoalescing: true }).callStats).toEqual({ requested: 0, sent: 0 });
  });
});

describe('VhostUserBackend predictive polling (real socket, eventfds and timerfds)', () => {
  it('takes a request the driver added without a kick in the window after an interrupt, then turns kicks back on', async () => {
    // The window policy (when it opens, how it learns, back-off) is tested on a simulated clock in
    // kick-poll.test.ts; here the order of events, not their timing, decides each step.
    const before = timerfdCount();
    const outcome = await unstalled(async () => {
      const device = new UpperDevice();
      const { backend } = start(device, { kickPolling: { spinUs: 4000, maxGapUs: 1_000_000 } });
      expect(backend.kickPolling).toEqual({ spinUs: 4000, maxGapUs: 1_000_000 });
      const ram = track(new GuestRam());
      const fe = track(new Frontend(current!.path));
      const [ring] = rings(ram, 1, 256, true);
      await handshake(fe, ram, [ring!], { eventIdx: true, status: true });
      // r0 is served through a kick and an interrupt; r1's kick teaches the poller the gap between
      // them, which must be below maxGapUs for it to poll (a machine stalled longer: try again)
      const t0 = performance.now();
      submit(ram, ring!, 'r0', 'first', 0x10000, 0x20000);
      expect((await complete(ring!)).token).toBe('r0');
      device.mode = 'hold';
      submit(ram, ring!, 'r1', 'second', 0x10040, 0x20040);
      await until(() => device.held.length === 1, HANG_MS, 'the device to take r1');
      if (performance.now() - t0 >= 900) return null;
      expect(backend.pollStats.windows).toBe(0);
      // while the device holds r1, the driver adds r2 and does not kick
      ram.memory.write(0x10080, text('third'));
      ring!.driver.add([{ addr: 0x10080, len: 5 }], [{ addr: 0x20080, len: 64 }], 'r2');
      // r1 completes: its interrupt schedules a window, which finds r2 waiting
      const held = device.held.shift()!;
      device.complete(held.queue, held.chain); // outside serveQueue's loop: signalled at once
      device.mode = 'sync'; // the window's look completes r2 at once
      expect((await complete(ring!)).token).toBe('r1');
      expect((await complete(ring!)).token).toBe('r2');
      expect(decode(ram.memory.view(0x20080, 5))).toBe('THIRD');
      expect(ring!.kick.read()).toBeNull(); // the driver never kicked for r2
      expect(backend.pollStats.hits).toBe(1); // the window after r1's interrupt took r2
      // r2's interrupt schedules the next window (it may have come already); it finds nothing, and
      // turns kicks back on
      await until(() => backend.pollStats.windows === 2, HANG_MS, 'the second window');
      expect(backend.pollStats).toMatchObject({ windows: 2, hits: 1, late: 1 });
      expect(backend.pollStats.spinUs).toBeGreaterThanOrEqual(4000);
      ram.memory.write(0x100c0, text('fourth'));
      ring!.driver.add([{ addr: 0x100c0, len: 6 }], [{ addr: 0x200c0, len: 64 }], 'r3');
      expect(ring!.driver.kickPrepare()).toBe(true);
      ring!.kick.write(1);
      expect((await complete(ring!)).token).toBe('r3');
      expect(device.processed).toBe(4);
      expect(timerfdCount()).toBe(before + 1);
      fe.close();
      await until(() => !current!.backend.connected, HANG_MS, 'the disconnect');
      expect(timerfdCount()).toBe(before);
      expect(backend.pollStats.hits).toBe(1); // kept after the connection ended
      return true;
    });
    expect(outcome).toBe(true);
  });

  it('refuses bad polling options', () => {
    const device = new UpperDevice();
    expect(() => new VhostUserBackend(device, { kickPolling: { spinUs: 0 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { kickPolling: { spinUs: 100, maxGapUs: 50 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { kickPolling: { maxGapUs: 2.5 } })).toThrow(RangeError);
    expect(() => new VhostUserBackend(device, { kickPolling: 1 as unknown as boolean })).toThrow(TypeError);
    expect(new VhostUserBackend(device, { kickPolling: true }).kickPolling).toEqual({ spinUs: 50, maxGapUs: 2000 });
    expect(new VhostUserBackend(device).kickPolling).toBeNull();
    expect(new VhostUserBackend(device).pollStats).toEqual({ windows: 0, hits: 0, late: 0, early: 0, spinUs: 0 });
  });
});
