/**
 * Hostile frontends against the real backend over a real unix socket: every bad message ends in
 * an error reply or a disconnect, never in an exception out of the event loop, never in a mapping
 * of more than the frontend gave, and never in a leaked fd or mapping (checked through
 * /proc/self/fd and /proc/self/maps after each scenario).
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { EventFd, UnixStream, closeFd, ftruncate, memfdCreate, mmap, setNonBlocking, truncatedPageFaults } from '@vmv/sys';
import { Feature, features } from '@vmv/device-trait';
import { SplitDriver } from '@vmv/queue/driver';
import type { VhostUserBackend } from '@vmv/vhost-user';
import { SUPPORTED_PROTOCOL_FEATURES } from '@vmv/vhost-user';
import {
  HeaderFlags,
  ProtocolFeature,
  VhostUserRequest as Q,
  encodeMessage,
  encodeRequest,
  readInflight,
  type MemoryRegionDescription,
  type VhostUserRequestMessage,
} from '@vmv/vhost-user/protocol';
import { UpperDevice } from './devices';
import { releaseTracked, startBackend, track } from './harness';
import { Frontend, GuestRam, HANG_MS, HIGH_GPA, TestRing, USER_BASE, mappingCount, openFdCount, sleep, until } from './frontend';

const PROTOCOL_FEATURES_BIT = 1n << 30n;
const VERSION_1 = 1n << 32n;
const RING_PACKED = 1n << 34n;
const NO_MEM_SLOTS = SUPPORTED_PROTOCOL_FEATURES & ~(1n << BigInt(ProtocolFeature.CONFIGURE_MEM_SLOTS));
afterEach(releaseTracked);

function start(device = new UpperDevice(), options: ConstructorParameters<typeof VhostUserBackend>[1] = {}) {
  return startBackend('hostile', device, options);
}

/** Negotiation up to (not including) memory. */
async function negotiate(fe: Frontend, protocol = NO_MEM_SLOTS, extraFeatures = 0n): Promise<void> {
  await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: protocol });
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  expect(await fe.ack({ request: Q.SET_FEATURES, needReply: true, value: VERSION_1 | PROTOCOL_FEATURES_BIT | extraFeatures })).toBe(0n);
}

function ringAt(ram: GuestRam, index: number, at: number, size = 256): TestRing<string> {
  return track(new TestRing<string>(index, ram, size, { desc: at + 0x1000, avail: at + 0x3000, used: at + 0x4000 }));
}

function vringAddr(index: number, desc: bigint, avail: bigint, used: bigint) {
  return { request: Q.SET_VRING_ADDR, needReply: true, addr: { index, flags: 0, descUserAddr: desc, usedUserAddr: used, availUserAddr: avail, logGuestAddr: 0n } } as const;
}

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

function submit(ram: GuestRam, ring: TestRing<string>, token: string, input: string, inAddr: number, outAddr: number, kick = true): void {
  ram.memory.write(inAddr, text(input));
  ring.driver.add([{ addr: inAddr, len: input.length }], [{ addr: outAddr, len: 64 }], token);
  if (kick && ring.driver.kickPrepare()) ring.kick.write(1);
}

async function used(ring: TestRing<string>): Promise<{ token: string; len: number }> {
  await until(() => ring.driver.moreUsed(), HANG_MS, `used buffer on ring ${ring.index}`);
  const u = ring.driver.getBuf()!;
  return { token: u.token, len: u.len };
}

/** The open flags of one of our fds, from /proc/self/fdinfo. */
function fdFlags(fd: number): number {
  const line = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('flags:'))!;
  return parseInt(line.split(/\s+/)[1]!, 8);
}
const O_NONBLOCK = 0o4000;

describe('hostile frontends: memory table', () => {
  it('overlapping regions: error reply, nothing mapped, every fd closed, the session goes on', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam());
    const fdsBefore = openFdCount();
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const overlapping = [ram.regions[0]!, { ...ram.regions[1]!, guestPhysAddr: BigInt(ram.half - 0x1000) }];
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: overlapping, fds: [ram.fd, ram.fd] })).toBe(1n);
    expect(mappingCount('test-guest-ram')).toBe(1); // only the frontend's own
    // overlapping in user space only is legal (and guest order is what counts)
    expect(failures()).toEqual(['VhostUser.InvalidMemoryRegionError']);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(3);
    fe.close();
    await until(() => openFdCount() === fdsBefore, HANG_MS, 'fds back to the baseline');
    expect(mappingCount('test-guest-ram')).toBe(1);
  });

  it('a region past the end of its fd is refused (ENXIO), never mapped; a region within it works', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam()); // a 2 MiB memfd
    const fdsBefore = openFdCount();
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const past: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 0x10_0000n, userAddr: USER_BASE, mmapOffset: 0x10_1000n };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [past], fds: [ram.fd] })).toBe(1n);
    const huge: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 1n << 40n, userAddr: USER_BASE, mmapOffset: 0n };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [huge], fds: [ram.fd] })).toBe(1n);
    const beyondSafe: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 0x1000n, userAddr: USER_BASE, mmapOffset: 1n << 60n };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [beyondSafe], fds: [ram.fd] })).toBe(1n);
    // the failures happened before anything was mapped
    expect(mappingCount('test-guest-ram')).toBe(1);
    expect(failures()).toEqual(['VhostUser.MapFailedError', 'VhostUser.MapFailedError', 'VhostUser.InvalidMemoryRegionError']);
    // exactly the last byte of the file is fine
    const edge: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 0x1000n, userAddr: USER_BASE, mmapOffset: BigInt(2 * ram.half - 0x1000) };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [edge], fds: [ram.fd] })).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(2);
    fe.close();
    await until(() => openFdCount() === fdsBefore, HANG_MS, 'fds back to the baseline');
    expect(mappingCount('test-guest-ram')).toBe(1);
  });

  it('a memory fd that cannot be mapped (an eventfd, a socket) is refused without a crash', async () => {
    const { path, failures } = start();
    const fdsBefore = openFdCount();
    const fe = track(new Frontend(path));
    const ev = track(new EventFd());
    await negotiate(fe);
    const region: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: 0x1000n, userAddr: USER_BASE, mmapOffset: 0n };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [region], fds: [ev.fd] })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [region], fds: [fe.stream.fd] })).toBe(1n);
    expect(failures()).toEqual(['VhostUser.MapFailedError', 'VhostUser.MapFailedError']);
    fe.close();
    ev.close();
    await until(() => openFdCount() === fdsBefore, HANG_MS, 'fds back to the baseline');
  });

  it('REM_MEM_REG of a region with a request in flight waits for it, then unmaps', async () => {
    const device = new UpperDevice();
    device.mode = 'hold'; // the test completes the request: no timer decides when
    // far longer than the frontend waits for a reply: an answer that did not wait fails the test
    const { path, events } = start(device, { drainTimeoutMs: 25_000 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe, SUPPORTED_PROTOCOL_FEATURES);
    for (const region of ram.regions) expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    const ring = ringAt(ram, 0, 0); // the ring in the low region, the buffers in the high one
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'inflight', 'data in the high region', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    await until(() => device.held.length === 1, HANG_MS, 'the device to take the request');
    let answered = false;
    const reply = fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null });
    void reply.then(() => (answered = true));
    await sleep(20);
    expect(answered).toBe(false); // the reply waits for the device
    expect(mappingCount('test-guest-ram')).toBe(3);
    device.mode = 'sync';
    const held = device.held.shift()!;
    device.complete(held.queue, held.chain);
    expect(await reply).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(2); // the frontend's + the low region
    expect(await used(ring)).toEqual({ token: 'inflight', len: 23 });
    expect(decode(ram.memory.view(HIGH_GPA + 0x20000, 23))).toBe('DATA IN THE HIGH REGION');
    // a new request pointing into the removed region is refused by the queue, not mapped anew
    submit(ram, ring, 'gone', 'x', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    await until(() => events.some((e) => e.type === 'needs-reset'), HANG_MS, 'DEVICE_NEEDS_RESET');
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0x40n); // DEVICE_NEEDS_RESET
    expect(mappingCount('test-guest-ram')).toBe(2);
  });
  it('a new table under a ring that failed with its region still applies, and releases the regions it replaced', async () => {
    const { path, events } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe, SUPPORTED_PROTOCOL_FEATURES);
    for (const region of ram.regions) expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    const ring = ringAt(ram, 0, HIGH_GPA); // the ring lives in the high region
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null })).toBe(0n);
    expect(events.filter((e) => e.type === 'ring-error').length).toBe(1);
    // a new table made of another low region only: the failed ring still cannot start over it
    const other = memfdCreate('other-ram', ram.half);
    track({ close: () => closeFd(other) });
    const low: MemoryRegionDescription = { guestPhysAddr: 0n, memorySize: BigInt(ram.half), userAddr: USER_BASE + 0x1000_0000n, mmapOffset: 0n };
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: [low], fds: [other] })).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(1); // the old low region was released
    expect(mappingCount('other-ram')).toBe(1);
    expect(events.filter((e) => e.type === 'ring-error').length).toBe(2);
  });
});

describe('hostile frontends: memory removed under the device', () => {
  it('a region removed while the device still holds chains of a stopped ring stays mapped until they come back', async () => {
    const device = new UpperDevice(2, 256);
    device.mode = 'hold';
    const { path, events } = start(device, { drainTimeoutMs: 30 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe, SUPPORTED_PROTOCOL_FEATURES);
    for (const region of ram.regions) expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    const rings = [ringAt(ram, 0, 0), ringAt(ram, 1, 0x10_0000 - 0x10000)]; // both rings in the low region
    for (const r of rings) {
      await r.setup(fe);
      expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: r.index, num: 1 })).toBe(0n);
    }
    submit(ram, rings[0]!, 'held', 'held in the high region', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    await until(() => device.held.length === 1);
    // ring 0 stops with the chain still held (drain timeout); ring 1 runs on, so no device reset
    const base = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(base!.reply.body.getUint32(4, true)).toBe(1);
    expect(device.resets).toBe(0);
    // the frontend removes the region the held chain points into: the reply comes after the
    // timeout, but the region stays mapped for the device
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null })).toBe(0n);
    expect(events.some((e) => e.type === 'memory-held')).toBe(true);
    expect(mappingCount('test-guest-ram')).toBe(3);
    // the device completes late: its reads and writes still land (no exception), the used
    // element is dropped (the frontend owns ring 0 now), and then the region goes
    const held = device.held.shift()!;
    device.complete(held.queue, held.chain);
    expect(decode(ram.memory.view(HIGH_GPA + 0x20000, 23))).toBe('HELD IN THE HIGH REGION');
    expect(ram.memory.readU16(0x4002)).toBe(0); // ring 0's used idx untouched
    await until(() => mappingCount('test-guest-ram') === 2, HANG_MS, 'the held region to be released');
  });

  it('a device reset releases held regions at once', async () => {
    const device = new UpperDevice(2, 256);
    device.mode = 'hold';
    const { path } = start(device, { drainTimeoutMs: 20 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe, SUPPORTED_PROTOCOL_FEATURES);
    for (const region of ram.regions) expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    const rings = [ringAt(ram, 0, 0), ringAt(ram, 1, 0x10_0000 - 0x10000)];
    for (const r of rings) {
      await r.setup(fe);
      expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: r.index, num: 1 })).toBe(0n);
    }
    submit(ram, rings[0]!, 'held', 'x', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    await until(() => device.held.length === 1);
    await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null })).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(3);
    expect(await fe.ack({ request: Q.RESET_DEVICE, needReply: true })).toBe(0n);
    expect(device.resets).toBe(1);
    expect(mappingCount('test-guest-ram')).toBe(2);
  });
});

describe('hostile frontends: negotiation', () => {
  it('SET_FEATURES outside the offer, without VERSION_1 or refused by the device fails; SET_OWNER twice fails', async () => {
    const device = new UpperDevice();
    (device as { validateFeatures?: (f: bigint) => boolean }).validateFeatures = (f) => (f & (1n << 28n)) === 0n; // refuses INDIRECT_DESC
    const { path, failures } = start(device);
    const fe = track(new Frontend(path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: NO_MEM_SLOTS });
    const set = (value: bigint) => fe.ack({ request: Q.SET_FEATURES, needReply: true, value });
    expect(await set(VERSION_1 | PROTOCOL_FEATURES_BIT | (1n << 40n))).toBe(1n); // not offered
    expect(await set(VERSION_1 | PROTOCOL_FEATURES_BIT | (1n << 33n))).toBe(1n); // ACCESS_PLATFORM: never offered
    expect(await set(PROTOCOL_FEATURES_BIT)).toBe(1n); // no VERSION_1
    expect(await set(VERSION_1 | (1n << 28n))).toBe(1n); // the device says no
    expect(await set(VERSION_1 | PROTOCOL_FEATURES_BIT)).toBe(0n);
    expect(await fe.ack({ request: Q.SET_PROTOCOL_FEATURES, needReply: true, value: 1n << 1n })).toBe(1n); // LOG_SHMFD: not offered
    expect(await fe.ack({ request: Q.SET_OWNER, needReply: true })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_OWNER, needReply: true })).toBe(1n);
    expect(failures()).toEqual([
      'VhostUser.UnsupportedFeaturesError',
      'VhostUser.UnsupportedFeaturesError',
      'VhostUser.InvalidParamError',
      'VhostUser.InvalidParamError',
      'VhostUser.UnsupportedFeaturesError',
      'VhostUser.InvalidOperationError',
    ]);
  });

  it('requests of features not negotiated are refused (protocol-feature gating)', async () => {
    const { path, failures } = start();
    const fe = track(new Frontend(path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: 1n << BigInt(ProtocolFeature.REPLY_ACK) });
    expect(await fe.ack({ request: Q.RESET_DEVICE, needReply: true })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_STATUS, needReply: true, value: 1n })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_CONFIG, needReply: true, config: { offset: 4, size: 1, flags: 0, data: Uint8Array.of(1) } })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(1n); // PROTOCOL_FEATURES not acked
    expect(failures()).toEqual(Array<string>(4).fill('VhostUser.InactiveOperationError'));
    // a request whose reply carries data cannot carry an error: GET_STATUS without STATUS disconnects
    fe.sendRaw(encodeRequest({ request: Q.GET_STATUS, needReply: false }).bytes);
    await fe.closed;
  });
});

describe('hostile frontends: memory that goes away', () => {
  it('a frontend that truncates its memory file under a running ring does not crash the backend', async () => {
    const { path } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'before', 'before', 0x10000, 0x20000);
    expect((await used(ring)).token).toBe('before');
    submit(ram, ring, 'after', 'after', 0x10000, 0x20000, false);
    const faults = truncatedPageFaults();
    ftruncate(ram.fd, 0); // every page the backend mapped is now past the end of the file
    ring.kick.write(1);
    await until(() => truncatedPageFaults() > faults, HANG_MS, 'the backend to touch the truncated pages'); // SIGBUS answered, not fatal
    // the backend is alive and still answers; the ring saw zeros (an empty or broken ring)
    expect(await fe.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
    const r = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(r!.reply.header.size).toBe(8);
  });
});

describe('hostile frontends: fds', () => {
  it('33 fds on one message: disconnect, and all 33 received fds are closed', async () => {
    const { path, backend } = start();
    const ram = track(new GuestRam());
    const fdsBefore = openFdCount();
    const fe = new Frontend(path);
    fe.sendRaw(encodeMessage(Q.GET_FEATURES, HeaderFlags.VERSION, new Uint8Array(0)), Array.from({ length: 33 }, () => ram.fd));
    await fe.closed;
    fe.close();
    await until(() => !backend.connected);
    expect(openFdCount()).toBe(fdsBefore);
  });

  it('an fd on a request that takes none: error reply with need_reply, the fd is closed', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const fdsBefore = openFdCount();
    const pending = fe.awaitReply(Q.SET_VRING_NUM);
    const { bytes } = encodeRequest({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 128 });
    fe.sendRaw(bytes, [ram.fd, ram.fd]);
    expect((await pending).reply.body.getBigUint64(0, true)).toBe(1n);
    expect(failures()).toEqual(['VhostUser.IncorrectFdsError']);
    expect(openFdCount()).toBe(fdsBefore);
    // without need_reply: disconnect, fd closed too
    fe.sendRaw(encodeRequest({ request: Q.SET_OWNER, needReply: false }).bytes, [ram.fd]);
    await fe.closed;
  });

  it('fds sent in the middle of a payload count for that message', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const fdsBefore = openFdCount();
    const { bytes } = encodeRequest({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 128 });
    const pending = fe.awaitReply(Q.SET_VRING_NUM);
    fe.sendRaw(bytes.subarray(0, 14));
    await sleep(5);
    fe.sendRaw(bytes.subarray(14), [ram.fd]);
    expect((await pending).reply.body.getBigUint64(0, true)).toBe(1n);
    expect(failures()).toEqual(['VhostUser.IncorrectFdsError']);
    expect(openFdCount()).toBe(fdsBefore);
  });

  it('a kick "eventfd" that cannot be watched (a memfd) is refused; one that is not an eventfd stops its own watch', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const ring = ringAt(ram, 0, 0);
    await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 256 });
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(0n);
    // a regular file cannot be polled (EPERM from epoll)
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 0, fd: ram.fd })).toBe(1n);
    expect(failures()).toEqual(['Sys.Error']);
    // a socket is pollable but reads are not 8-byte counters: the watch ends, nothing throws
    const [a, b] = UnixStream.pair();
    track(a);
    track(b);
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 0, fd: b.fd })).toBe(0n);
    a.sendmsg(Uint8Array.of(1, 2, 3));
    await sleep(20);
    // the connection is still fine, and a proper kick fd makes the ring work
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 0, fd: ring.kick.fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'ok', 'ok', 0x10000, 0x20000);
    expect((await used(ring)).token).toBe('ok');
  });

  it('a blocking call or kick eventfd is made non-blocking, so a full counter cannot stall the backend', async () => {
    const { path } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const call = track(new EventFd());
    const kick = track(new EventFd());
    const err = track(new EventFd());
    for (const e of [call, kick, err]) {
      setNonBlocking(e.fd, false);
      expect(fdFlags(e.fd) & O_NONBLOCK).toBe(0);
    }
    expect(await fe.ack({ request: Q.SET_VRING_CALL, needReply: true, index: 0, fd: call.fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 0, fd: kick.fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_ERR, needReply: true, index: 0, fd: err.fd })).toBe(0n);
    // O_NONBLOCK belongs to the shared open file description: we see what the backend set
    for (const e of [call, kick, err]) expect(fdFlags(e.fd) & O_NONBLOCK).toBe(O_NONBLOCK);
  });
});

describe('hostile frontends: rings', () => {
  it('ring addresses outside every region, straddling a region end, or misaligned are refused', async () => {
    const { path, failures } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    // before any memory: nothing to translate against
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const end = USER_BASE + 2n * BigInt(ram.half);
    expect(await fe.ack(vringAddr(0, end, ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n); // desc past the end
    expect(await fe.ack(vringAddr(0, USER_BASE - 0x1000n, ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n); // below
    // the 4 KiB descriptor table of a 256-entry ring would cross from the low region into the high one
    // (adjacent in user space, but not in guest space): refused
    expect(await fe.ack(vringAddr(0, ram.uaddr(ram.half - 0x800), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n);
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), end - 0x10n, ram.uaddr(0x4000)))).toBe(1n); // avail crosses the end
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), end - 0x10n))).toBe(1n); // used crosses the end
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1008), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n); // misaligned desc
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3001), ram.uaddr(0x4000)))).toBe(1n); // misaligned avail
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4002)))).toBe(1n); // misaligned used
    expect(await fe.ack(vringAddr(1, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(1n); // no ring 1
    expect(failures()).toEqual([
      ...Array<string>(6).fill('VhostUser.MissingMemoryMappingError'),
      ...Array<string>(3).fill('VhostUser.InvalidVringAddrError'),
      'VhostUser.InvalidVringIndexError',
    ]);
    // and a good one still works
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(0n);
  });

  it('SET_VRING_NUM 0, not a power of two, above the maximum, and split bases past 16 bits are refused', async () => {
    const { path, failures } = start(new UpperDevice(1, 256));
    const fe = track(new Frontend(path));
    await negotiate(fe);
    for (const num of [0, 3, 255, 512, 0xffffffff]) {
      expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num })).toBe(1n);
    }
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 256 })).toBe(0n);
    // a split ring's base is a free-running u16: 300 on a 256-entry ring is fine, 0x10000 is not
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: 300 })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: 0x10000 })).toBe(1n);
    expect(failures()).toEqual([...Array<string>(6).fill('VhostUser.InvalidParamError')]);
  });

  it('a packed ring base whose positions are not inside the ring is refused', async () => {
    const device = new UpperDevice(1, 8);
    (device as { deviceFeatures: bigint }).deviceFeatures = features(Feature.VERSION_1, Feature.RING_PACKED);
    const { path, failures } = start(device);
    const fe = track(new Frontend(path));
    await negotiate(fe, NO_MEM_SLOTS, RING_PACKED);
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 8 })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: 0x8000 | 7 })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: 0x8000 | 8 })).toBe(1n); // avail position 8
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: (0x8000 | (9 << 16) | 1) >>> 0 })).toBe(1n); // used position 9
    expect(failures()).toEqual(['VhostUser.InvalidParamError', 'VhostUser.InvalidParamError']);
  });

  it('kicks before SET_MEM_TABLE are harmless; the ring runs once memory and addresses arrive', async () => {
    const { path, device } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const ring = ringAt(ram, 0, 0);
    await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 256 });
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 0, fd: ring.kick.fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_CALL, needReply: true, index: 0, fd: ring.call.fd })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    // the driver kicks (many times) before the backend knows any memory
    submit(ram, ring, 'early', 'early bird', 0x10000, 0x20000);
    for (let i = 0; i < 5; i++) ring.kick.write(1);
    await sleep(20);
    expect(device.notifies).toBe(0);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    expect(await fe.ack(vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)))).toBe(0n);
    // no new kick: the ring's start notification finds the buffer made available earlier
    expect(await used(ring)).toEqual({ token: 'early', len: 10 });
    expect(decode(ram.memory.view(0x20000, 10))).toBe('EARLY BIRD');
  });

  it('GET_VRING_BASE twice answers the same base and resets the device once', async () => {
    const { path, device } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    for (let i = 0; i < 2; i++) {
      submit(ram, ring, `r${i}`, 'x', 0x10000, 0x20000);
      await used(ring);
    }
    const base = async () => (await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 }))!.reply.body.getUint32(4, true);
    expect(await base()).toBe(2);
    expect(await base()).toBe(2);
    expect(device.resets).toBe(1);
    // the kick fd was closed by the first stop: a kick now reaches nobody
    submit(ram, ring, 'stopped', 'x', 0x10000, 0x20000);
    await sleep(20);
    expect(ring.driver.moreUsed()).toBe(false);
  });

  it('a ring index past the device is refused on every vring request', async () => {
    const { path, failures } = start();
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const ev = track(new EventFd());
    const fdsBefore = openFdCount();
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 1, num: 8 })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 200, num: 0 })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 1, num: 1 })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_KICK, needReply: true, index: 255, fd: ev.fd })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_CALL, needReply: true, index: 1, fd: ev.fd })).toBe(1n);
    expect(failures()).toEqual(Array<string>(5).fill('VhostUser.InvalidVringIndexError'));
    expect(openFdCount()).toBe(fdsBefore);
    // GET_VRING_BASE of a missing ring cannot be answered with an error: disconnect
    fe.sendRaw(encodeRequest({ request: Q.GET_VRING_BASE, needReply: false, index: 1, num: 0 }).bytes);
    await fe.closed;
  });
});

describe('hostile frontends: config and framing', () => {
  it('config accesses past 0x1000 or of size 0 fail: GET_CONFIG gets an empty reply, SET_CONFIG a failure', async () => {
    const { path } = start();
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const getConfig = (offset: number, size: number) =>
      fe.request({ request: Q.GET_CONFIG, needReply: false, config: { offset, size, flags: 0, data: new Uint8Array(size) } });
    expect((await getConfig(0xff0, 0x20))!.reply.header.size).toBe(0);
    expect((await getConfig(0xfffffff0, 0x20))!.reply.header.size).toBe(0);
    // offset + size wrapping past 2^32 in 32-bit arithmetic must not pass
    const wrap = new Uint8Array(12 + 16);
    const v = new DataView(wrap.buffer);
    v.setUint32(0, 0xfffffff8, true);
    v.setUint32(4, 16, true);
    const pending = fe.awaitReply(Q.GET_CONFIG);
    fe.sendRaw(encodeMessage(Q.GET_CONFIG, HeaderFlags.VERSION, wrap));
    expect((await pending).reply.header.size).toBe(0);
    expect((await getConfig(0, 8))!.reply.header.size).toBe(20);
    const zero = new Uint8Array(12);
    const pending0 = fe.awaitReply(Q.GET_CONFIG);
    fe.sendRaw(encodeMessage(Q.GET_CONFIG, HeaderFlags.VERSION, zero));
    expect((await pending0).reply.header.size).toBe(0);
    expect(await fe.ack({ request: Q.SET_CONFIG, needReply: true, config: { offset: 0xffc, size: 8, flags: 0, data: new Uint8Array(8) } })).toBe(1n);
    expect(fe.isClosed).toBe(false);
  });

  it('messages split across many reads (byte by byte, fds on the first byte) are put back together', async () => {
    const { path } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    const features = fe.awaitReply(Q.GET_FEATURES);
    const one = encodeRequest({ request: Q.GET_FEATURES, needReply: false }).bytes;
    for (const byte of one) {
      fe.sendRaw(Uint8Array.of(byte));
      await sleep(1);
    }
    expect((await features).reply.body.getBigUint64(0, true) & VERSION_1).toBe(VERSION_1);
    await negotiate(fe);
    const { bytes, fds } = encodeRequest({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] });
    const ack = fe.awaitReply(Q.SET_MEM_TABLE);
    fe.sendRaw(bytes.subarray(0, 1), fds);
    for (let i = 1; i < bytes.length; i += 7) {
      fe.sendRaw(bytes.subarray(i, Math.min(bytes.length, i + 7)));
      await sleep(1);
    }
    expect((await ack).reply.body.getBigUint64(0, true)).toBe(0n);
    expect(mappingCount('test-guest-ram')).toBe(3);
    // two messages in one write, and a third starting in it
    const a = encodeRequest({ request: Q.GET_FEATURES, needReply: false }).bytes;
    const b = encodeRequest({ request: Q.GET_PROTOCOL_FEATURES, needReply: false }).bytes;
    const c = encodeRequest({ request: Q.GET_QUEUE_NUM, needReply: false }).bytes;
    const both = new Uint8Array(a.length + b.length + 5);
    both.set(a);
    both.set(b, a.length);
    both.set(c.subarray(0, 5), a.length + b.length);
    const r1 = fe.awaitReply(Q.GET_FEATURES);
    const r2 = fe.awaitReply(Q.GET_PROTOCOL_FEATURES);
    const r3 = fe.awaitReply(Q.GET_QUEUE_NUM);
    fe.sendRaw(both);
    await sleep(5);
    fe.sendRaw(c.subarray(5));
    await Promise.all([r1, r2]);
    expect((await r3).reply.body.getBigUint64(0, true)).toBe(1n);
  });

  it('a frontend that floods the socket cannot keep the loop to itself (bounded messages per turn)', async () => {
    const device = new UpperDevice();
    let writes = 0;
    const writeConfig = device.writeConfig.bind(device);
    device.writeConfig = (offset, data) => {
      writes++;
      writeConfig(offset, data);
    };
    const { path } = start(device);
    const fe = track(new Frontend(path));
    await negotiate(fe);
    // 2000 config writes without need_reply: no reply, so no backpressure slows the backend down
    const one = encodeRequest({ request: Q.SET_CONFIG, needReply: false, config: { offset: 4, size: 1, flags: 0, data: Uint8Array.of(7) } }).bytes;
    const total = 2000;
    const flood = new Uint8Array(one.length * total);
    for (let i = 0; i < total; i++) flood.set(one, i * one.length);
    fe.sendRaw(flood);
    // we run inside a poll callback: the backend reads in the next turn's poll phase; right
    // after it (the check phase of that turn) it has handled a bounded batch, not the whole flood
    const firstTurn = await new Promise<number>((resolve) => setImmediate(() => setImmediate(() => resolve(writes))));
    expect(firstTurn).toBeLessThanOrEqual(64);
    await until(() => writes === total, HANG_MS, 'every config write');
    expect(await fe.u64({ request: Q.GET_FEATURES, needReply: false })).toBeGreaterThan(0n);
  });

  it('a frontend that disconnects mid-header or mid-payload (with fds) leaves nothing behind', async () => {
    const { path, backend, events } = start();
    const ram = track(new GuestRam());
    const fdsBefore = openFdCount();
    // mid-header
    const fe1 = new Frontend(path);
    fe1.sendRaw(encodeRequest({ request: Q.GET_FEATURES, needReply: false }).bytes.subarray(0, 5));
    await sleep(5);
    fe1.close();
    await until(() => events.filter((e) => e.type === 'disconnected').length === 1);
    // mid-payload, with the region fds already received
    const fe2 = new Frontend(path);
    await negotiate(fe2);
    const { bytes, fds } = encodeRequest({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] });
    fe2.sendRaw(bytes.subarray(0, 40), fds);
    await sleep(5);
    fe2.close();
    await until(() => events.filter((e) => e.type === 'disconnected').length === 2);
    expect(backend.connected).toBe(false);
    expect(openFdCount()).toBe(fdsBefore);
    expect(mappingCount('test-guest-ram')).toBe(1);
    // and the next frontend is served
    const fe3 = track(new Frontend(path));
    expect(await fe3.u64({ request: Q.GET_FEATURES, needReply: false })).toBe(backend.offeredFeatures);
  });

  it('a frontend that sends replies, or garbage after a good session, is cut off and leaks nothing', async () => {
    const { path, backend } = start();
    const ram = track(new GuestRam());
    const fdsBefore = openFdCount();
    const fe = new Frontend(path);
    await negotiate(fe);
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const ring = new TestRing<string>(0, ram, 256, { desc: 0x1000, avail: 0x3000, used: 0x4000 });
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'ok', 'ok', 0x10000, 0x20000);
    expect((await used(ring)).token).toBe('ok');
    fe.sendRaw(encodeMessage(Q.GET_FEATURES, HeaderFlags.VERSION | HeaderFlags.REPLY, new Uint8Array(0)));
    await fe.closed;
    fe.close();
    ring.close();
    await until(() => !backend.connected);
    expect(openFdCount()).toBe(fdsBefore);
    expect(mappingCount('test-guest-ram')).toBe(1);
  });

  it('SET_INFLIGHT_FD with a buffer past the end of its fd, or too small, is refused without mapping', async () => {
    const { path, failures } = start();
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const fd = memfdCreate('short-inflight', 4096);
    track({ close: () => closeFd(fd) });
    const fdsBefore = openFdCount();
    const inflight = { mmapSize: 8192n, mmapOffset: 0n, numQueues: 1, queueSize: 256 };
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight, fd })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight: { ...inflight, mmapSize: 64n }, fd })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight: { ...inflight, mmapOffset: 1n << 62n }, fd })).toBe(1n);
    expect(failures()).toEqual(Array<string>(3).fill('VhostUser.InvalidInflightError'));
    expect(mappingCount('short-inflight')).toBe(0);
    expect(openFdCount()).toBe(fdsBefore);
  });
});

describe('hostile frontends: a ring broken under a request the device still holds', () => {
  it('the late completion is dropped (no throw, used ring unchanged, still in flight for resubmission) and GET_VRING_BASE answers without waiting for it', async () => {
    const device = new UpperDevice();
    device.mode = 'hold'; // the test completes the request itself: no timer decides when
    // were the dropped request still counted as outstanding, GET_VRING_BASE would wait this long,
    // longer than the frontend waits for its reply
    const { path, events } = start(device, { drainTimeoutMs: 25_000 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await negotiate(fe);
    const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 256 } });
    const inflight = readInflight(r!.reply.body);
    const inflightFd = r!.fds[0]!;
    track({ close: () => closeFd(inflightFd) });
    const inflightMap = track(mmap(inflightFd, Number(inflight.mmapSize)));
    expect(await fe.ack({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight, fd: inflightFd })).toBe(0n);
    /** The inflight flag of descriptor head `h` (vhost-user.rst "Inflight I/O tracking"). */
    const inflightFlag = (h: number): number => new Uint8Array(inflightMap.buffer)[16 + 16 * h]!;
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'held', 'abc', 0x10000, 0x20000);
    await until(() => device.held.length === 1, HANG_MS, 'the device to hold the request');
    expect(inflightFlag(0)).toBe(1);
    // the hostile frontend breaks the ring (avail.idx far ahead) and kicks: the device's pop throws
    ram.memory.atomicStoreU16(0x3000 + 2, 0x8000);
    ring.kick.write(1);
    await until(() => events.some((e) => e.type === 'needs-reset'), HANG_MS, 'DEVICE_NEEDS_RESET');
    const reason = events.find((e) => e.type === 'needs-reset') as { reason: Error };
    expect(reason.reason.name).toBe('Queue.InvalidAvailIndexError');
    const usedRing = (): Buffer => Buffer.from(ram.memory.view(0x4000, 6 + 8 * 256));
    const before = usedRing();
    const held = device.held.shift()!;
    expect(() => device.complete(held.queue, held.chain)).not.toThrow();
    expect(usedRing().equals(before)).toBe(true);
    expect(ring.driver.moreUsed()).toBe(false);
    expect(inflightFlag(0)).toBe(1); // not delivered: a reconnecting backend resubmits it
    const base = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(base!.reply.body.getUint32(4, true)).toBe(1); // the one request taken before the break
    expect(usedRing().equals(before)).toBe(true);
  });
});

describe('hostile frontends: random sessions', () => {
  it.each([
    ['without interrupt coalescing or polling', undefined, undefined],
    ['with interrupt coalescing', { quietUs: 300, maxDelayUs: 3000 }, undefined],
    ['with interrupt coalescing and predictive polling', { quietUs: 300, maxDelayUs: 3000 }, { spinUs: 200, maxGapUs: 20_000 }],
  ] as const)('random sequences of well-formed requests with real fds never crash, and leak no fd or mapping (%s)', async (_, coalesce, poll) => {
    const device = new UpperDevice(2, 256);
    device.mode = 'async';
    device.delayMs = 2;
    const { path, backend } = start(device, {
      drainTimeoutMs: 20,
      ...(coalesce === undefined ? {} : { interruptCoalescing: coalesce }),
      ...(poll === undefined ? {} : { kickPolling: poll }),
    });
    const ram = track(new GuestRam()); // 2 MiB memfd
    const evs = [track(new EventFd()), track(new EventFd()), track(new EventFd())];
    const fdsBefore = openFdCount();
    const index = fc.integer({ min: 0, max: 2 }); // 2 is out of range
    const uaddr = fc.integer({ min: 0, max: 0x30_0000 / 16 }).map((i) => USER_BASE + BigInt(i * 16));
    const region = fc
      .record({
        gpa: fc.constantFrom(0n, 0x10_0000n, BigInt(HIGH_GPA)),
        size: fc.constantFrom(0x1000n, 0x1_0000n, 0x10_0000n, 0x20_0000n),
        uaddr: fc.constantFrom(USER_BASE, USER_BASE + 0x10_0000n, USER_BASE + 0x1000_0000n),
        off: fc.constantFrom(0n, 0x1000n, 0x10_0000n, 0x1f_f000n, 0x30_0000n),
      })
      .map((r): MemoryRegionDescription => ({ guestPhysAddr: r.gpa, memorySize: r.size, userAddr: r.uaddr, mmapOffset: r.off }));
    const fdArb = fc.constantFrom<number | null>(null, evs[0]!.fd, evs[1]!.fd, evs[2]!.fd, ram.fd);
    type Action = VhostUserRequestMessage | { request: 'kick'; ring: number } | { request: 'submit'; count: number };
    const msgArb: fc.Arbitrary<Action> = fc.oneof(
      fc.record({ request: fc.constantFrom(Q.GET_FEATURES, Q.SET_OWNER, Q.RESET_OWNER, Q.GET_STATUS, Q.RESET_DEVICE, Q.GET_QUEUE_NUM, Q.GET_MAX_MEM_SLOTS), needReply: fc.boolean() }),
      fc.record({ request: fc.constant(Q.SET_FEATURES), needReply: fc.boolean(), value: fc.constantFrom(VERSION_1 | PROTOCOL_FEATURES_BIT, VERSION_1 | PROTOCOL_FEATURES_BIT | (1n << 29n), VERSION_1) }),
      fc.record({ request: fc.constant(Q.SET_PROTOCOL_FEATURES), needReply: fc.boolean(), value: fc.constantFrom(SUPPORTED_PROTOCOL_FEATURES, NO_MEM_SLOTS) }),
      fc.record({ request: fc.constant(Q.SET_STATUS), needReply: fc.boolean(), value: fc.constantFrom(0n, 0x0fn, 0x07n) }),
      fc.record({ request: fc.constant(Q.SET_VRING_NUM), needReply: fc.boolean(), index, num: fc.constantFrom(1, 16, 256, 512) }),
      fc.record({ request: fc.constantFrom(Q.SET_VRING_BASE, Q.GET_VRING_BASE), needReply: fc.boolean(), index, num: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ request: fc.constant(Q.SET_VRING_ENABLE), needReply: fc.boolean(), index, num: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ request: fc.constantFrom(Q.SET_VRING_KICK, Q.SET_VRING_CALL, Q.SET_VRING_ERR), needReply: fc.boolean(), index, fd: fdArb }),
      fc.record({
        request: fc.constant(Q.SET_VRING_ADDR),
        needReply: fc.boolean(),
        addr: fc.record({ index, flags: fc.constant(0), descUserAddr: uaddr, usedUserAddr: uaddr, availUserAddr: uaddr, logGuestAddr: fc.constant(0n) }),
      }),
      fc.record({ request: fc.constantFrom(Q.ADD_MEM_REG, Q.REM_MEM_REG), needReply: fc.boolean(), region, fd: fc.constant(ram.fd) }),
      fc.array(region, { minLength: 1, maxLength: 3 }).map((regions) => ({ request: Q.SET_MEM_TABLE, needReply: true, regions, fds: regions.map(() => ram.fd) })),
      fc.record({ request: fc.constant(Q.GET_INFLIGHT_FD), needReply: fc.boolean(), inflight: fc.record({ mmapSize: fc.constant(0n), mmapOffset: fc.constant(0n), numQueues: fc.integer({ min: 1, max: 2 }), queueSize: fc.constantFrom(16, 256) }) }),
      fc.record({ request: fc.constant(Q.SET_INFLIGHT_FD), needReply: fc.boolean(), inflight: fc.record({ mmapSize: fc.constantFrom(0x1000n, 0x10_0000n), mmapOffset: fc.constantFrom(0n, 0x1000n), numQueues: fc.integer({ min: 1, max: 2 }), queueSize: fc.constantFrom(16, 256) }), fd: fc.constant(ram.fd) }),
      fc.record({ request: fc.constant('kick' as const), ring: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ request: fc.constant('submit' as const), count: fc.integer({ min: 1, max: 8 }) }),
    );
    // A proper setup first (most runs), so the random part also hits running rings and a live device.
    const setup: VhostUserRequestMessage[] = [
      { request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: NO_MEM_SLOTS },
      { request: Q.SET_OWNER, needReply: false },
      { request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT },
      { request: Q.SET_MEM_TABLE, needReply: false, regions: ram.regions, fds: [ram.fd, ram.fd] },
      { request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 256 },
      { request: Q.SET_VRING_BASE, needReply: false, index: 0, num: 0 },
      vringAddr(0, ram.uaddr(0x1000), ram.uaddr(0x3000), ram.uaddr(0x4000)),
      { request: Q.SET_VRING_KICK, needReply: false, index: 0, fd: evs[0]!.fd },
      { request: Q.SET_VRING_CALL, needReply: false, index: 0, fd: evs[1]!.fd },
      { request: Q.SET_VRING_ENABLE, needReply: false, index: 0, num: 1 },
    ];
    let activations = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(msgArb, { minLength: 1, maxLength: 25 }), async (withSetup, actions) => {
        ram.memory.fill(0x1000, 0x4000);
        const driver = new SplitDriver<string>(ram.memory, { size: 256, descTable: 0x1000, driverArea: 0x3000, deviceArea: 0x4000 });
        const before = device.activations;
        const stream = UnixStream.connect(path);
        const buf = new Uint8Array(4096);
        const drain = (): void => {
          try {
            for (let got = stream.recvmsg(buf); got !== null && got.bytesRead > 0; got = stream.recvmsg(buf)) for (const fd of got.fds) closeFd(fd);
          } catch {
            // ECONNRESET: the backend hung up with our requests unread
          }
        };
        try {
          for (const a of [...(withSetup ? setup : []), ...actions]) {
            if (a.request === 'kick') {
              evs[a.ring]!.write(1);
            } else if (a.request === 'submit') {
              for (let i = 0; i < a.count; i++) driver.add([{ addr: 0x10000 + i * 16, len: 16 }], [{ addr: 0x20000 + i * 64, len: 64 }], `s${i}`);
              evs[0]!.write(1);
            } else {
              const { bytes, fds } = encodeRequest(a);
              try {
                stream.sendmsg(bytes, fds);
              } catch {
                break; // the backend hung up
              }
            }
            await sleep(0);
            drain();
          }
          await sleep(3);
          drain();
        } finally {
          stream.close();
        }
        await until(() => !backend.connected, HANG_MS, 'disconnect');
        if (device.activations > before) activations++;
      }),
      { numRuns: 80 },
    );
    expect(activations).toBeGreaterThan(5); // the runs did reach live devices
    const calls = backend.callStats;
    expect(calls.requested).toBeGreaterThan(0); // completions asked for interrupts (held ones with coalescing)
    expect(calls.sent).toBeLessThanOrEqual(calls.requested);
    // drains and region releases that were waiting end within their timeouts
    const released = (): boolean => openFdCount() === fdsBefore && mappingCount('test-guest-ram') === 1 && mappingCount('vhost-user-inflight') === 0;
    await until(released, HANG_MS, 'every fd and mapping of the sessions to be released');
    expect(openFdCount()).toBe(fdsBefore);
    expect(mappingCount('test-guest-ram')).toBe(1);
    expect(mappingCount('vhost-user-inflight')).toBe(0);
    const fe = track(new Frontend(path));
    expect(await fe.u64({ request: Q.GET_FEATURES, needReply: false })).toBe(backend.offeredFeatures);
  });
});
