/**
 * The "complete small device" of @vmv/device-trait's README (the one verbatim copy in
 * device-trait's test/support/readme-device/, which transport-mmio's readme-device test serves
 * over virtio-mmio) served out of process: VhostUserBackend over a real unix socket, driven by the
 * public frontend the way QEMU 7.2 drives a vhost-user device, with EVENT_IDX and several kick rounds.
 * The device is the README text and names nothing of vhost-user: one device, every transport.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DeviceId, Feature, Status, featureBit } from '@vmv/device-trait';
import { EventFd } from '@vmv/sys';
import { SUPPORTED_PROTOCOL_FEATURES } from '@vmv/vhost-user';
import { SplitDriver } from '@vmv/queue/driver';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { EntropyDevice } from '../../device-trait/test/support/readme-device/entropy-device';
import { README_DEVICE_FILE, readmeDeviceBlock, counterSource } from '../../device-trait/test/support/readme';
import { HANG_MS, until } from './frontend';
import { releaseTracked, startBackend, track } from './harness';

const VERSION_1 = featureBit(Feature.VERSION_1);
const EVENT_IDX = featureBit(Feature.EVENT_IDX);
const PROTOCOL_FEATURES_BIT = 1n << 30n;
/** Where the ring lives in guest memory. */
const RING = 0x1000;

afterEach(releaseTracked);

/** The README device behind a backend, negotiated and started as QEMU does (public frontend), with one EVENT_IDX ring. */
async function served() {
  const source = counterSource();
  const { path, events } = startBackend('readme', new EntropyDevice(source.fill));
  const ram = track(SharedGuestMemory.create(1 << 20, { name: 'readme-ram' }));
  const fe = track(VhostUserFrontend.connect(path, { replyTimeoutMs: HANG_MS }));
  const offered = await fe.getFeatures();
  expect(offered).toBe(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT);
  await fe.setProtocolFeatures(SUPPORTED_PROTOCOL_FEATURES);
  await fe.setOwner();
  await fe.setFeatures(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT);
  await fe.setMemTable(ram);
  const ring = await fe.setupVring<string>(0, { memory: ram, size: 256, address: RING, eventIdx: true, enable: false });
  const err = track(new EventFd());
  await fe.setVringFd('err', 0, err.fd);
  await fe.setVringEnable(0, true);
  await fe.setStatus(0x0f);
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
      const calls = m.ring.calls;
      expect(m.ring.kick()).toBe(true);
      await until(() => m.collect() === expected.length, HANG_MS, `round ${round}`);
      await until(() => m.ring.calls > calls, HANG_MS, `the call of round ${round}`);
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
    m.ring.kick();
    await until(() => m.collect() === 1, HANG_MS, 'the big request');
    expect(m.used).toEqual([{ token: 'big', len: 4096 }]);
  });

  it('reports a ring the frontend corrupted: DEVICE_NEEDS_RESET, the err eventfd, no used buffer', async () => {
    const m = await served();
    m.ram.memory.writeU16(SplitDriver.layout(256, RING).driverArea + 2, 1000); // avail.idx 1000 entries ahead of a 256-entry ring
    m.ring.kickFd.write(1);
    await until(() => m.events.some((e) => e.type === 'needs-reset'), HANG_MS, 'DEVICE_NEEDS_RESET');
    const cause = (m.events.find((e) => e.type === 'needs-reset') as { reason: { name: string } }).reason;
    expect(cause.name).toBe('Queue.InvalidAvailIndexError');
    expect((await m.fe.getStatus()) & Status.DEVICE_NEEDS_RESET).toBe(Status.DEVICE_NEEDS_RESET);
    expect(m.err.read()).toBe(1);
    expect(m.collect()).toBe(0);
  });
});
