/**
 * The "complete small device" of @vmv/device-trait's README (the one verbatim copy in
 * device-trait's test/support/readme-device/, which transport-mmio's readme-device test serves
 * over virtio-mmio) served out of process: VhostUserBackend over a real unix socket, driven by the
 * test frontend the way QEMU 7.2 drives a vhost-user device, with EVENT_IDX and several kick rounds.
 * The device is the README text and names nothing of vhost-user: one device, every transport.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DeviceId, Feature, Status, featureBit } from '@vmv/device-trait';
import { EventFd } from '@vmv/sys';
import { SUPPORTED_PROTOCOL_FEATURES } from '@vmv/vhost-user';
import { VhostUserRequest as Q } from '@vmv/vhost-user/protocol';
import { EntropyDevice } from '../../device-trait/test/support/readme-device/entropy-device';
import { README_DEVICE_FILE, readmeDeviceBlock, counterSource } from '../../device-trait/test/support/readme';
import { Frontend, GuestRam, HANG_MS, TestRing, until } from './frontend';
import { releaseTracked, startBackend, track } from './harness';

const VERSION_1 = featureBit(Feature.VERSION_1);
const EVENT_IDX = featureBit(Feature.EVENT_IDX);
const PROTOCOL_FEATURES_BIT = 1n << 30n;

afterEach(releaseTracked);

/** The README device behind a backend, negotiated and started as QEMU does, with one EVENT_IDX ring. */
async function served() {
  const source = counterSource();
  const { path, events } = startBackend('readme', new EntropyDevice(source.fill));
  const ram = track(new GuestRam());
  const fe = track(new Frontend(path));
  const offered = await fe.u64({ request: Q.GET_FEATURES, needReply: false });
  expect(offered).toBe(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT);
  await fe.request({ request: Q.SET_PROTOCOL_FEATURES, needReply: false, value: SUPPORTED_PROTOCOL_FEATURES });
  await fe.request({ request: Q.SET_OWNER, needReply: false });
  expect(await fe.ack({ request: Q.SET_FEATURES, needReply: true, value: VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT })).toBe(0n);
  expect(await fe.ack({ request: Q.SET_MEM_TABLE, needReply: true, regions: ram.regions, fds: [ram.fd, ram.fd] })).toBe(0n);
  const ring = track(new TestRing<string>(0, ram, 256, { desc: 0x1000, avail: 0x3000, used: 0x4000 }, true));
  await ring.setup(fe);
  const err = track(new EventFd());
  await fe.request({ request: Q.SET_VRING_ERR, needReply: false, index: 0, fd: err.fd });
  expect(await fe.ack({ request: Q.SET_VRING_ENABLE, needReply: true, index: 0, num: 1 })).toBe(0n);
  await fe.request({ request: Q.SET_STATUS, needReply: false, value: 0x0fn });
  const used: { token: string; len: number }[] = [];
  const collect = (): number => {
    for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) used.push({ token: u.token, len: u.len });
    return used.length;
  };
  return { source, events, ram, fe, ring, err, used, collect };
}

describe('the README device of @vmv/device-trait over vhost-user', () => {
  it('is the README text, verbatim', () => {
    expect(readFileSync(README_DEVICE_FILE, 'utf8')).toBe(readmeDeviceBlock());
  });

  it('is a virtio-rng device with one queue', () => {
    const d = new EntropyDevice(() => undefined);
    expect(d.deviceId).toBe(DeviceId.ENTROPY);
    expect(d.queueMaxSizes).toEqual([256]);
  });

  it('answers kick after kick with entropy and a call, the driver kicking only when EVENT_IDX asks it to', async () => {
    const m = await served();
    const expected: { token: string; len: number }[] = [];
    let offset = 0;
    for (let round = 0; round < 6; round++) {
      const n = 1 + (round % 3);
      for (let i = 0; i < n; i++) {
        const len = 8 + i;
        m.ring.driver.add([], [{ addr: 0x1_0000 + 0x100 * i, len }], `r${round}.${i}`);
        expected.push({ token: `r${round}.${i}`, len });
      }
      // the device re-enabled notifications after its last pass: the driver must kick again
      expect(m.ring.driver.kickPrepare()).toBe(true);
      m.ring.kick.write(1);
      await until(() => m.collect() === expected.length, HANG_MS, `round ${round}`);
      expect(await m.ring.waitCall()).toBeGreaterThanOrEqual(1);
      expect(m.used).toEqual(expected);
      // the last buffer of the round holds the source's bytes, in order
      const last = expected.at(-1)!;
      const bytes = [...m.ram.memory.view(0x1_0000 + 0x100 * (n - 1), last.len)];
      const end = offset + expected.slice(-n).reduce((s, e) => s + e.len, 0);
      expect(bytes).toEqual(Array.from({ length: last.len }, (_, k) => (end - last.len + k) & 0xff));
      offset = end;
    }
    expect(m.source.calls).toEqual(expected.map((e) => e.len));
  });

  it('fills at most 4096 bytes of a larger buffer, across a descriptor chain', async () => {
    const m = await served();
    m.ring.driver.add([], [{ addr: 0x1_0000, len: 0x1000 }, { addr: 0x2_0000, len: 0x2000 }], 'big');
    if (m.ring.driver.kickPrepare()) m.ring.kick.write(1);
    await until(() => m.collect() === 1, HANG_MS, 'the big request');
    expect(m.used).toEqual([{ token: 'big', len: 4096 }]);
  });

  it('reports a ring the frontend corrupted: DEVICE_NEEDS_RESET, the err eventfd, no used buffer', async () => {
    const m = await served();
    m.ram.memory.writeU16(0x3000 + 2, 1000); // avail.idx 1000 entries ahead of a 256-entry ring
    m.ring.kick.write(1);
    await until(() => m.events.some((e) => e.type === 'needs-reset'), HANG_MS, 'DEVICE_NEEDS_RESET');
    const cause = (m.events.find((e) => e.type === 'needs-reset') as { reason: { name: string } }).reason;
    expect(cause.name).toBe('Queue.InvalidAvailIndexError');
    expect(Number(await m.fe.u64({ request: Q.GET_STATUS, needReply: false })) & Status.DEVICE_NEEDS_RESET).toBe(Status.DEVICE_NEEDS_RESET);
    expect(m.err.read()).toBe(1);
    expect(m.collect()).toBe(0);
  });
});
