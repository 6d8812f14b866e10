/**
 * "One device, every transport": ONE VirtioDevice instance is served first in process by
 * @vmv/transport-mmio (driven by its Linux 6.1 driver model over an IoManager), then out of process
 * by VhostUserBackend (driven by the public frontend over a real unix socket), then by the MMIO
 * transport again. The device is not changed, wrapped or re-created between the three; each time
 * its answers are right, and state it keeps (its config space) carries over.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { VirtioMmioDriver, type DriverQueue } from '@vmv/transport-mmio/driver';
import { SUPPORTED_PROTOCOL_FEATURES, VhostUserBackend } from '@vmv/vhost-user';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { UpperDevice } from './devices';
import { HANG_MS, until } from './frontend';

const BASE = 0xd000_0000;
const IRQ = 5;
const VERSION_1 = 1n << 32n;
const EVENT_IDX = 1n << 29n;
const PROTOCOL_FEATURES_BIT = 1n << 30n;
const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const cleanups: (() => void)[] = [];

afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

/** One MMIO session: probe, negotiate, one queue, requests, config access, reset. */
function mmioSession(transport: VirtioMmioTransport, io: IoManager, irqs: InMemoryInterruptController, memory: GuestMemory, round: string): void {
  const done: { token: string; len: number }[] = [];
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
  expect(driver.probe().deviceId).toBe(0x7ff0);
  const negotiated = driver.negotiate([]);
  expect(negotiated & VERSION_1).toBe(VERSION_1);
  const q: DriverQueue<string> = driver.setupQueue<string>(0, {
    callback: (queue) => {
      for (let u = queue.getBuf(); u !== null; u = queue.getBuf()) done.push({ token: u.token, len: u.len });
    },
  });
  driver.ready();
  expect(transport.status).toBe(0xf);
  for (let i = 0; i < 3; i++) {
    const input = `${round} mmio ${i}`;
    memory.write(0x8_0000 + i * 0x100, text(input));
    q.add([{ addr: 0x8_0000 + i * 0x100, len: input.length }], [{ addr: 0x9_0000 + i * 0x100, len: 64 }], `${round}-${i}`);
    q.kick();
    expect(irqs.isAsserted(IRQ)).toBe(true);
    driver.interrupt();
    expect(done.at(-1)).toEqual({ token: `${round}-${i}`, len: input.length });
    expect(decode(memory.view(0x9_0000 + i * 0x100, input.length))).toBe(input.toUpperCase());
  }
  expect(driver.cread32(0)).toBe(0x12345678);
  driver.reset();
  expect(transport.status).toBe(0);
}

describe('one device instance, served by virtio-mmio and by vhost-user in turn', () => {
  it('gives the right answers through MMIO, then vhost-user, then MMIO again', async () => {
    const device = new UpperDevice(1, 256);

    // 1. In process, behind the virtio-mmio transport
    const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
    const irqs = new InMemoryInterruptController();
    const transport = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level') });
    const io = new IoManager();
    io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
    mmioSession(transport, io, irqs, memory, 'first');
    // the driver wrote the device's writable config bytes through MMIO
    const writer = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
    writer.probe();
    writer.negotiate([]);
    writer.cwrite32(4, 0xcafef00d);
    writer.reset();
    expect(device.activations).toBe(1);
    const resetsAfterMmio = device.resets;
    expect(resetsAfterMmio).toBeGreaterThanOrEqual(1);

    // 2. The very same object, out of process behind vhost-user
    const backend = new VhostUserBackend(device);
    cleanups.push(() => backend.close());
    const path = join(tmpdir(), `vmv-vu-same-${process.pid}.sock`);
    backend.listen(path, { removeStale: true });
    const ram = SharedGuestMemory.create(1 << 20, { name: 'same-device' });
    cleanups.push(() => ram.close());
    const fe = VhostUserFrontend.connect(path, { replyTimeoutMs: HANG_MS });
    cleanups.push(() => fe.close());
    const offered = await fe.getFeatures();
    expect(offered & (VERSION_1 | EVENT_IDX)).toBe(VERSION_1 | EVENT_IDX); // the device's own features
    await fe.setProtocolFeatures(SUPPORTED_PROTOCOL_FEATURES);
    await fe.setOwner();
    await fe.setFeatures(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT);
    // state the device kept from its MMIO life: the config bytes written there
    const cfg = new DataView((await fe.getConfig(0, 8)).buffer);
    expect(cfg.getUint32(0, true)).toBe(0x12345678);
    expect(cfg.getUint32(4, true)).toBe(0xcafef00d);
    await fe.setMemTable(ram);
    const ring = await fe.setupVring<string>(0, { memory: ram, size: 256, address: 0x1000, eventIdx: true });
    await fe.setStatus(0x0f);
    for (let i = 0; i < 3; i++) {
      const input = `vhost-user ${i}`;
      ram.memory.write(0x10000 + i * 0x100, text(input));
      ring.driver.add([{ addr: 0x10000 + i * 0x100, len: input.length }], [{ addr: 0x20000 + i * 0x100, len: 64 }], `vu-${i}`);
      ring.kick();
      await until(() => ring.driver.moreUsed(), HANG_MS, 'a used buffer');
      expect(ring.driver.getBuf()).toMatchObject({ token: `vu-${i}`, len: input.length });
      expect(decode(ram.memory.view(0x20000 + i * 0x100, input.length))).toBe(input.toUpperCase());
    }
    expect(device.activations).toBe(2);
    fe.close();
    await until(() => !backend.connected);
    expect(device.resets).toBe(resetsAfterMmio + 1);
    backend.close();

    // 3. Back behind the MMIO transport, still the same object
    mmioSession(transport, io, irqs, memory, 'again');
    expect(device.activations).toBe(3);
  });
});
