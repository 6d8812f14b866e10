import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventFd, UnixStream, closeFd, memfdCreate, mmap } from '@vmv/sys';
import { PackedDriver } from '@vmv/queue/driver';
import { Feature, features } from '@vmv/device-trait';
import type { VhostUserBackend} from '@vmv/vhost-user';
import { SUPPORTED_PROTOCOL_FEATURES, inflightQueueRegionSize } from '@vmv/vhost-user';
import { HeaderFlags, ProtocolFeature, VhostUserRequest as Q, encodeMessage, encodeRequest } from '@vmv/vhost-user/protocol';
import { UpperDevice } from './devices';
import { releaseTracked, startBackend, track } from './harness';
import { Frontend, GuestRam, HANG_MS, HIGH_GPA, TestRing, sleep, until } from './frontend';

const PROTOCOL_FEATURES_BIT = 1n << 30n;
const VERSION_1 = 1n << 32n;
afterEach(releaseTracked);

function start(device = new UpperDevice(), options: ConstructorParameters<typeof VhostUserBackend>[1] = {}) {
  return startBackend('edge', device, options);
}

const text = (s: string) => new TextEncoder().encode(s);

/** Negotiation up to memory (no rings), with every supported protocol feature but CONFIGURE_MEM_SLOTS. */
async function base(fe: Frontend, ram: GuestRam, protocol = SUPPORTED_PROTOCOL_FEATURES & ~(1n << BigInt(ProtocolFeature.CONFIGURE_MEM_SLOTS))): Promise<void> {
  await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: protocol });
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  await fe.request({ request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT });
  expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
}

function ringAt(ram: GuestRam, index: number, at: number, size = 256): TestRing<string> {
  return track(new TestRing<string>(index, ram, size, { desc: at + 0x1000, avail: at + 0x3000, used: at + 0x4000 }));
}

function submit(ram: GuestRam, ring: TestRing<string>, token: string, input: string, inAddr: number, outAddr: number, kick = true): void {
  ram.memory.write(inAddr, text(input));
  ring.driver.add([{ addr: inAddr, len: input.length }], [{ addr: outAddr, len: 64 }], token);
  if (kick && ring.driver.kickPrepare()) ring.kick.write(1);
}

async function used(ring: TestRing<string>): Promise<string> {
  await until(() => ring.driver.moreUsed(), HANG_MS, `used buffer on ring ${ring.index}`);
  return ring.driver.getBuf()!.token;
}

describe('backend edge cases', () => {
  it('polls a ring whose kick has no fd, and sends no interrupt without a call fd', async () => {
    const { path } = start(new UpperDevice(), { pollIntervalMs: 2 });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 256 });
    await fe.request({
      request: Q.SET_VRING_ADDR,
      needReply: false,
      addr: { index: 0, flags: 0, descUserAddr: ram.uaddr(0x1000), usedUserAddr: ram.uaddr(0x4000), availUserAddr: ram.uaddr(0x3000), logGuestAddr: 0n },
    });
    await fe.request({ request: Q.SET_VRING_KICK, needReply: false, index: 0, fd: null });
    await fe.request({ request: Q.SET_VRING_CALL, needReply: false, index: 0, fd: null });
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    submit(ram, ring, 'polled', 'poll me', 0x10000, 0x20000, false);
    expect(await used(ring)).toBe('polled');
    expect(ring.call.read()).toBeNull();
  });

  it('with PROTOCOL_FEATURES a started ring starts disabled: kicks consume nothing until SET_VRING_ENABLE 1', async () => {
    const device = new UpperDevice();
    const { path } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    submit(ram, ring, 'waits', 'x', 0x10000, 0x20000);
    ring.kick.write(1);
    await sleep(100);
    // Started, kicked twice, never enabled: no chain taken, nothing used, no call.
    expect([device.popped, device.processed]).toEqual([0, 0]);
    expect(ring.driver.moreUsed()).toBe(false);
    expect(ring.call.read()).toBeNull();
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    expect(await used(ring)).toBe('waits');
  });

  it('a started, disabled ring named in discardWhileDisabled returns each chain used with length 0 and calls; the device never sees it; enabled, it serves', async () => {
    const device = new UpperDevice();
    const { path } = start(device, { discardWhileDisabled: [0] });
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    const outputs = [0x20000, 0x21000];
    for (const a of outputs) ram.memory.write(a, text('untouched'));
    submit(ram, ring, 'before-start', 'a', 0x10000, 0x20000, false);
    await ring.setup(fe);
    submit(ram, ring, 'after-start', 'b', 0x11000, 0x21000);
    const got: [string, number][] = [];
    await until(() => {
      for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) got.push([u.token, u.len]);
      return got.length === 2;
    }, HANG_MS, 'two discarded chains');
    expect(got).toEqual([['before-start', 0], ['after-start', 0]]);
    expect([device.popped, device.processed]).toEqual([0, 0]);
    expect(ring.call.read()).not.toBeNull();
    // no side effect: the device-writable buffers are as the driver left them
    for (const a of outputs) {
      const bytes = new Uint8Array(9);
      ram.memory.read(a, bytes);
      expect(new TextDecoder().decode(bytes)).toBe('untouched');
    }
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
    submit(ram, ring, 'served', 'c', 0x12000, 0x22000);
    expect(await used(ring)).toBe('served');
    expect(device.processed).toBe(1);
    // disabled again: discarding resumes
    expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 0 })).toBe(0n);
    submit(ram, ring, 'dropped', 'd', 0x13000, 0x23000);
    await until(() => ring.driver.moreUsed(), HANG_MS, 'a discarded chain');
    expect(ring.driver.getBuf()).toMatchObject({ token: 'dropped', len: 0 });
    expect(device.processed).toBe(1);
  });

  it('discardWhileDisabled must name rings the device has', () => {
    expect(() => start(new UpperDevice(), { discardWhileDisabled: [7] })).toThrow(RangeError);
    expect(() => start(new UpperDevice(), { discardWhileDisabled: [0.5] })).toThrow(RangeError);
  });

  it('RESET_OWNER disables every ring and resets the device: a later kick consumes nothing', async () => {
    const device = new UpperDevice();
    const { path } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    submit(ram, ring, 'first', 'x', 0x10000, 0x20000);
    expect(await used(ring)).toBe('first');
    const popped = device.popped;
    await fe.request({ request: Q.RESET_OWNER, needReply: false });
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0n);
    expect(device.resets).toBe(1);
    submit(ram, ring, 'after', 'y', 0x11000, 0x21000);
    ring.kick.write(1);
    await sleep(100);
    expect(device.popped).toBe(popped);
    expect(ring.driver.moreUsed()).toBe(false);
  });

  it('a device failure sets DEVICE_NEEDS_RESET, signals the err eventfd and stops the rings', async () => {
    const device = new UpperDevice();
    const { path, events } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    const err = track(new EventFd());
    await ring.setup(fe);
    await fe.request({ request: Q.SET_VRING_ERR, needReply: false, index: 0, fd: err.fd });
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    device.queueNotify = () => {
      throw new Error('device bug');
    };
    submit(ram, ring, 'boom', 'x', 0x10000, 0x20000);
    await until(() => err.read() !== null, HANG_MS, 'err eventfd');
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0x40n);
    expect(events.some((e) => e.type === 'needs-reset')).toBe(true);
    // RESET_DEVICE brings it back
    await fe.request({ request: Q.RESET_DEVICE, needReply: false });
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0n);
    expect(device.resets).toBe(1);
  });

  it('a device that refuses activation ends in DEVICE_NEEDS_RESET, not in an exception', async () => {
    const device = new UpperDevice();
    device.activate = () => {
      throw new Error('refused');
    };
    const { path, events } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    submit(ram, ring, 'never', 'x', 0x10000, 0x20000);
    // the kick makes the backend activate the device, which refuses
    await until(() => events.some((e) => e.type === 'needs-reset'), HANG_MS, 'DEVICE_NEEDS_RESET');
    expect(await fe.u64({ request: Q.GET_STATUS, needReply: false })).toBe(0x40n);
    expect(ring.driver.moreUsed()).toBe(false);
  });

  it('removing the region a running ring lives in stops the ring and signals its err eventfd', async () => {
    const { path, events } = start();
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    await fe.request({ request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT });
    for (const region of ram.regions) expect(await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd })).toBe(0n);
    const ring = ringAt(ram, 0, HIGH_GPA);
    const err = track(new EventFd());
    await ring.setup(fe);
    await fe.request({ request: Q.SET_VRING_ERR, needReply: false, index: 0, fd: err.fd });
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    submit(ram, ring, 'ok', 'x', HIGH_GPA + 0x10000, HIGH_GPA + 0x20000);
    expect(await used(ring)).toBe('ok');
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[1]!, fd: null })).toBe(0n);
    expect(err.read()).toBe(1);
    expect(events.some((e) => e.type === 'ring-error' && e.index === 0)).toBe(true);
    // the last region can go too; a ring address cannot be translated without memory
    expect(await fe.ack({ request: Q.REM_MEM_REG, needReply: true, region: ram.regions[0]!, fd: null })).toBe(0n);
    expect(
      await fe.ack({
        request: Q.SET_VRING_ADDR,
        needReply: true,
        addr: { index: 0, flags: 0, descUserAddr: ram.uaddr(0x1000), usedUserAddr: ram.uaddr(0x4000), availUserAddr: ram.uaddr(0x3000), logGuestAddr: 0n },
      }),
    ).toBe(1n);
  });

  it('SET_MEM_TABLE while a ring runs rebuilds the ring over the new mappings', async () => {
    const device = new UpperDevice();
    device.mode = 'hold';
    const { path } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const ring = ringAt(ram, 0, 0);
    await ring.setup(fe);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    submit(ram, ring, 'across', 'before the swap', 0x10000, 0x20000);
    await until(() => device.held.length === 1, HANG_MS, 'the device to take the request');
    // a request is in flight while the table is replaced by the same memory, newly mapped
    expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
    const held = device.held.shift()!;
    device.complete(held.queue, held.chain);
    expect(await used(ring)).toBe('across');
    device.mode = 'sync';
    submit(ram, ring, 'after', 'after the swap', 0x10100, 0x20100);
    expect(await used(ring)).toBe('after');
  });

  it('rejects ring reconfiguration while running and sizes above the queue maximum', async () => {
    const { path } = start(new UpperDevice(1, 128));
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 256 })).toBe(1n);
    const ring = ringAt(ram, 0, 0, 128);
    await ring.setup(fe);
    // a started ring can still be reconfigured until the device runs with it (it is rebuilt)
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 64 })).toBe(0n);
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 128 })).toBe(0n);
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    expect(await fe.ack({ request: Q.SET_VRING_NUM, needReply: true, index: 0, num: 64 })).toBe(1n);
    expect(await fe.ack({ request: Q.SET_VRING_BASE, needReply: true, index: 0, num: 0 })).toBe(1n);
    expect(
      await fe.ack({
        request: Q.SET_VRING_ADDR,
        needReply: true,
        addr: { index: 0, flags: 0, descUserAddr: ram.uaddr(0x1000), usedUserAddr: ram.uaddr(0x4000), availUserAddr: ram.uaddr(0x3000), logGuestAddr: 0n },
      }),
    ).toBe(1n);
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0n });
    // a second ring index does not exist: GET_VRING_BASE of the stopped ring 0 follows
    const r = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(r!.reply.body.getUint32(4, true)).toBe(0);
    // GET_VRING_BASE of a ring that is not started answers its base
    await fe.request({ request: Q.SET_VRING_BASE, needReply: false, index: 0, num: 7 });
    const r2 = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    expect(r2!.reply.body.getUint32(4, true)).toBe(7);
  });

  it('recovers a half-finished batch from the inflight buffer (crash between used ring and buffer update)', async () => {
    const { path } = start();
    const ram = track(new GuestRam());
    const ring = ringAt(ram, 0, 0, 128);
    // the driver made two requests available (heads 0 and 2) before the backend ran
    submit(ram, ring, 'zero', 'zero', 0x10000, 0x20000, false);
    submit(ram, ring, 'two', 'two', 0x10100, 0x20100, false);
    // a previous backend completed head 2 in the used ring, then died before updating the buffer
    ram.memory.writeU32(0x4004, 2);
    ram.memory.writeU32(0x4008, 0);
    ram.memory.writeU16(0x4002, 1);
    const size = inflightQueueRegionSize(128);
    const fd = memfdCreate('crafted-inflight', size);
    track({ close: () => closeFd(fd) });
    const m = mmap(fd, size);
    const v = new DataView(m.buffer);
    v.setUint16(8, 1, true); // version
    v.setUint16(10, 128, true); // desc_num
    v.setUint16(12, 2, true); // last_batch_head: head 2
    v.setUint16(14, 0, true); // used_idx: not yet updated
    v.setUint8(16 + 16 * 0, 1);
    v.setBigUint64(16 + 16 * 0 + 8, 1n, true);
    v.setUint8(16 + 16 * 2, 1);
    v.setBigUint64(16 + 16 * 2 + 8, 2n, true);
    m.close();
    const fe = track(new Frontend(path));
    await base(fe, ram, SUPPORTED_PROTOCOL_FEATURES & ~(1n << BigInt(ProtocolFeature.CONFIGURE_MEM_SLOTS)));
    await fe.request({ request: Q.SET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: BigInt(size), mmapOffset: 0n, numQueues: 1, queueSize: 128 }, fd });
    await ring.setup(fe, 1);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
    expect(await used(ring)).toBe('two'); // the one the old backend finished
    expect(await used(ring)).toBe('zero'); // resubmitted
    await sleep(10);
    expect(ring.driver.moreUsed()).toBe(false); // head 2 was not resubmitted
  });

  it('starts afresh from an inflight buffer that does not fit the ring', async () => {
    const { path } = start();
    const ram = track(new GuestRam());
    const ring = ringAt(ram, 0, 0, 128);
    const size = inflightQueueRegionSize(128);
    const fd = memfdCreate('bogus-inflight', size);
    track({ close: () => closeFd(fd) });
    const m = mmap(fd, size);
    const v = new DataView(m.buffer);
    v.setUint16(8, 1, true);
    v.setUint16(10, 128, true);
    v.setUint16(14, 5000, true); // far from the ring's used idx
    v.setUint8(16, 1);
    m.close();
    const fe = track(new Frontend(path));
    await base(fe, ram);
    await fe.request({ request: Q.SET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: BigInt(size), mmapOffset: 0n, numQueues: 1, queueSize: 128 }, fd });
    await ring.setup(fe);
    await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    submit(ram, ring, 'fresh', 'fresh', 0x10000, 0x20000);
    expect(await used(ring)).toBe('fresh');
    await sleep(10);
    expect(ring.driver.moreUsed()).toBe(false);
  });

  it('keeps replies in order when the frontend does not read them (backpressure)', async () => {
    const { path } = start();
    const stream = UnixStream.connect(path);
    track(stream);
    const one = encodeRequest({ request: Q.GET_FEATURES, needReply: false }).bytes;
    const total = 30000;
    const batch = new Uint8Array(one.length * 100);
    for (let i = 0; i < 100; i++) batch.set(one, i * one.length);
    let sent = 0;
    let pending = new Uint8Array(0);
    let received = 0;
    const buf = new Uint8Array(1 << 16);
    const deadline = Date.now() + HANG_MS; // generous: CI runs suites side by side on two cores
    while (received < total * 20) {
      if (Date.now() > deadline) throw new Error(`stalled: sent ${sent}, received ${received}`);
      if (pending.length === 0 && sent < total) {
        pending = batch;
        sent += 100;
      }
      if (pending.length > 0) {
        try {
          const n = stream.sendmsg(pending);
          pending = pending.subarray(n);
        } catch {
          // EAGAIN: the backend stopped reading until we read its replies
        }
      }
      const got = stream.recvmsg(buf);
      if (got !== null) {
        expect(got.bytesRead).toBeGreaterThan(0);
        for (let i = 0; i < got.bytesRead; i++) {
          const at = (received + i) % 20;
          if (at === 4) expect(buf[i]).toBe(5); // every reply's flags
        }
        received += got.bytesRead;
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(received).toBe(total * 20);
  });

  it('completes 2000 concurrent requests across two rings, out of order, with the right data', async () => {
    const device = new UpperDevice(2);
    device.mode = 'async';
    device.delayMs = 0;
    const { path } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await base(fe, ram);
    const rs = [ringAt(ram, 0, 0), ringAt(ram, 1, HIGH_GPA)];
    for (const r of rs) await r.setup(fe);
    for (const r of rs) await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: r.index, num: 1 });
    const total = 2000;
    let sent = 0;
    let done = 0;
    const seen = new Set<string>();
    const deadline = Date.now() + HANG_MS;
    while (done < total) {
      if (Date.now() > deadline) throw new Error(`stalled at ${done}/${total}, sent ${sent}, device popped ${device.popped} processed ${device.processed} notifies ${device.notifies} ` + JSON.stringify(rs.map((r) => { const b = r.index === 0 ? 0 : HIGH_GPA; return { usedFlags: ram.memory.readU16(b + 0x4000), usedIdx: ram.memory.readU16(b + 0x4002), availFlags: ram.memory.readU16(b + 0x3000), availIdx: ram.memory.readU16(b + 0x3002), kick: r.kick.read() }; })));
      for (const r of rs) {
        const regionBase = r.index === 0 ? 0 : HIGH_GPA;
        let added = 0;
        while (sent < total && added < 50) {
          const slot = sent % 1000;
          ram.memory.write(regionBase + 0x10000 + slot * 64, text(`req${String(sent).padStart(5, '0')}`));
          const head = r.driver.add([{ addr: regionBase + 0x10000 + slot * 64, len: 8 }], [{ addr: regionBase + 0x30000 + slot * 64, len: 8 }], `${r.index}:${sent}`);
          if (head < 0) break; // ring full
          sent++;
          added++;
        }
        if (added > 0 && r.driver.kickPrepare()) r.kick.write(1);
        for (let u = r.driver.getBuf(); u !== null; u = r.driver.getBuf()) {
          expect(u.len).toBe(8);
          const n = Number(u.token.split(':')[1]);
          const out = new TextDecoder().decode(ram.memory.view(regionBase + 0x30000 + (n % 1000) * 64, 8));
          expect(out).toBe(`REQ${String(n).padStart(5, '0')}`);
          seen.add(u.token);
          done++;
        }
      }
      await new Promise((res) => setImmediate(res));
    }
    expect(seen.size).toBe(total);
  });

  it('serves a packed ring and encodes its base with the wrap counters (bit 15 / bit 31)', async () => {
    const device = new UpperDevice(1, 8);
    (device as { deviceFeatures: bigint }).deviceFeatures = features(Feature.VERSION_1, Feature.RING_PACKED);
    const { path } = start(device);
    const ram = track(new GuestRam());
    const fe = track(new Frontend(path));
    await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
    await fe.request({ request: Q.SET_FEATURES, needReply: false, value: VERSION_1 | PROTOCOL_FEATURES_BIT | (1n << 34n) });
    for (const region of ram.regions) await fe.ack({ request: Q.ADD_MEM_REG, needReply: true, region, fd: ram.fd });
    const driver = new PackedDriver<string>(ram.memory, { size: 8, descTable: 0x1000, driverArea: 0x2000, deviceArea: 0x2010 });
    const kick = track(new EventFd());
    const setup = async (num: number) => {
      await fe.request({ request: Q.SET_VRING_NUM, needReply: false, index: 0, num: 8 });
      await fe.request({ request: Q.SET_VRING_BASE, needReply: false, index: 0, num });
      await fe.request({
        request: Q.SET_VRING_ADDR,
        needReply: false,
        addr: { index: 0, flags: 0, descUserAddr: ram.uaddr(0x1000), usedUserAddr: ram.uaddr(0x2010), availUserAddr: ram.uaddr(0x2000), logGuestAddr: 0n },
      });
      await fe.request({ request: Q.SET_VRING_KICK, needReply: false, index: 0, fd: kick.fd });
      await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 });
    };
    // a fresh packed ring starts at position 0 with wrap counters 1: base 0x8000
    await setup(0x8000);
    const run = async (count: number, from: number) => {
      for (let i = 0; i < count; i++) {
        ram.memory.write(0x10000, text('pk'));
        expect(driver.add([{ addr: 0x10000, len: 2 }], [{ addr: 0x20000, len: 8 }], `p${from + i}`)).toBeGreaterThanOrEqual(0);
        if (driver.kickPrepare()) kick.write(1);
        await until(() => driver.moreUsed(), HANG_MS, 'packed used');
        expect(driver.getBuf()!.token).toBe(`p${from + i}`);
      }
    };
    await run(5, 0);
    // 5 requests of 2 descriptors in an 8-entry ring: position 2 after one wrap (counters 0)
    const r = await fe.request({ request: Q.GET_VRING_BASE, needReply: false, index: 0, num: 0 });
    const base = r!.reply.body.getUint32(4, true);
    expect(base & 0x7fff).toBe(2);
    expect((base >>> 15) & 1).toBe(0);
    expect((base >>> 16) & 0x7fff).toBe(2);
    expect(base >>> 31).toBe(0);
    await setup(base);
    await run(5, 5);
  });

  it('an unknown request without need_reply disconnects', async () => {
    const { path } = start();
    const fe = new Frontend(path);
    fe.sendRaw(encodeMessage(77, HeaderFlags.VERSION, new Uint8Array(0)));
    await fe.closed;
    fe.close();
  });

  it('survives random byte streams with random fds, and serves a proper frontend afterwards', async () => {
    const device = new UpperDevice();
    const { path, backend } = start(device);
    const ram = track(new GuestRam());
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 64 }),
            fc.tuple(fc.integer({ min: 1, max: 40 }), fc.constantFrom(1, 9), fc.uint8Array({ maxLength: 48 })).map(([r, f, b]) => encodeMessage(r, f, b)),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 0, max: 3 }),
        async (chunks, nfds) => {
          const fe = new Frontend(path);
          try {
            for (const chunk of chunks) {
              if (fe.isClosed) break;
              try {
                fe.sendRaw(chunk, Array.from({ length: nfds }, () => ram.fd));
              } catch {
                break; // the backend already hung up
              }
            }
            await sleep(1);
          } finally {
            fe.close();
          }
          await until(() => !backend.connected, HANG_MS, 'disconnect');
        },
      ),
      { numRuns: 40 },
    );
    const fe = track(new Frontend(path));
    expect(await fe.u64({ request: Q.GET_FEATURES, needReply: false })).toBe(backend.offeredFeatures);
  });
});
