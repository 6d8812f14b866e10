/**
 * The "complete small device" of @vmv/device-trait's README, copied verbatim into
 * device-trait's test/support/readme-device/entropy-device.ts (which imports nothing but
 * '@vmv/device-trait'; vhost-user's readme-device test serves the same copy), checked to be
 * identical to the README text, type-checked with the rest of the tests, and driven through
 * the MMIO transport on an IoManager by the Linux 6.1 driver model: a device author needs
 * @vmv/device-trait alone, and the README's device works.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { DeviceId, Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import type { MmioDiagnostic } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { DriverQueue } from '@vmv/transport-mmio/driver';
import { EntropyDevice } from '../../device-trait/test/support/readme-device/entropy-device';
import { README_DEVICE_FILE as DEVICE_FILE, readmeDeviceBlock, counterSource } from '../../device-trait/test/support/readme';

const BASE = 0xd000_0000;
const IRQ = 5;

function machine(extra: bigint = 0n) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  const irqs = new InMemoryInterruptController();
  const source = counterSource();
  const device = new EntropyDevice(source.fill);
  // The README device offers VERSION_1 | EVENT_IDX; a subclass adds ring features for the packed-ring run.
  const served = extra === 0n ? device : Object.assign(Object.create(device) as EntropyDevice, { deviceFeatures: device.deviceFeatures | extra });
  const diagnostics: MmioDiagnostic[] = [];
  const transport = new VirtioMmioTransport(served, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level'), onDiagnostic: (d) => diagnostics.push(d) });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  const used: { token: unknown; len: number }[] = [];
  const drain = (q: DriverQueue<unknown>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) used.push({ token: u.token, len: u.len });
  };
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
  return { memory, irqs, source, device, transport, driver, diagnostics, used, drain };
}

describe('the README device of @vmv/device-trait', () => {
  it('is the README text, verbatim', () => {
    expect(readFileSync(DEVICE_FILE, 'utf8')).toBe(readmeDeviceBlock());
  });

  it('names nothing outside @vmv/device-trait', () => {
    const source = readFileSync(DEVICE_FILE, 'utf8');
    const from = [...source.matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => m[1]);
    expect(from.length).toBeGreaterThan(0);
    expect(new Set(from)).toEqual(new Set(['@vmv/device-trait']));
    expect(source).not.toMatch(/\brequire\(|\bimport\(/);
  });

  it('is a virtio-rng device with VERSION_1 and EVENT_IDX, one queue, no configuration space', () => {
    const d = new EntropyDevice(() => undefined);
    expect(d.deviceId).toBe(4);
    expect(d.deviceId).toBe(DeviceId.ENTROPY);
    expect(d.deviceFeatures).toBe((1n << 32n) | (1n << 29n));
    expect(d.queueMaxSizes).toEqual([256]);
    expect(d.configSize).toBe(0);
  });

  for (const [name, extra] of [
    ['split ring', 0n],
    ['packed ring', featureBit(Feature.RING_PACKED)],
  ] as const) {
    it(`answers the Linux driver model's requests with entropy and an interrupt (${name})`, () => {
      const m = machine(extra);
      expect(m.driver.probe().deviceId).toBe(DeviceId.ENTROPY);
      expect(m.driver.negotiate([])).toBe((1n << 32n) | (1n << 29n) | extra);
      const q = m.driver.setupQueue(0, { callback: m.drain });
      m.driver.ready();
      expect(m.transport.status).toBe(0xf);

      // Two buffers, one split over two descriptors (the device writes across them).
      m.memory.write(0x8_0000, new Uint8Array(64).fill(0xee));
      q.add([], [{ addr: 0x8_0000, len: 16 }], 'a');
      q.add([], [{ addr: 0x9_0000, len: 8 }, { addr: 0x9_1000, len: 24 }], 'b');
      expect(q.kick()).toBe(true);
      expect(m.irqs.isAsserted(IRQ)).toBe(true);
      expect(m.driver.interrupt()).toBe(1);
      expect(m.irqs.isAsserted(IRQ)).toBe(false);
      expect(m.used).toEqual([{ token: 'a', len: 16 }, { token: 'b', len: 32 }]);
      expect(m.source.calls).toEqual([16, 32]);
      const a = new Uint8Array(17);
      m.memory.read(0x8_0000, a);
      expect([...a]).toEqual([...Array.from({ length: 16 }, (_, i) => i), 0xee]); // nothing past the buffer
      const b1 = new Uint8Array(8);
      const b2 = new Uint8Array(24);
      m.memory.read(0x9_0000, b1);
      m.memory.read(0x9_1000, b2);
      expect([...b1, ...b2]).toEqual(Array.from({ length: 32 }, (_, i) => 16 + i));
      expect(m.diagnostics).toEqual([]);
    });
    it(`keeps serving a Linux-style driver that kicks only when EVENT_IDX asks it to, round after round (${name})`, () => {
      const m = machine(extra);
      m.driver.probe();
      expect(m.driver.negotiate([]) & featureBit(Feature.EVENT_IDX)).toBe(featureBit(Feature.EVENT_IDX));
      const q = m.driver.setupQueue(0, { callback: m.drain });
      m.driver.ready();
      const expected: { token: unknown; len: number }[] = [];
      for (let round = 0; round < 5; round++) {
        const n = 1 + (round % 3);
        for (let i = 0; i < n; i++) {
          q.add([], [{ addr: 0x8_0000 + 0x100 * i, len: 8 + i }], `r${round}.${i}`);
          expected.push({ token: `r${round}.${i}`, len: 8 + i });
        }
        // The device re-enabled notifications after its last pass: the driver must kick again.
        expect(q.kick()).toBe(true);
        expect(m.driver.interrupt()).toBe(1);
        expect(m.used).toEqual(expected);
      }
      expect(m.diagnostics).toEqual([]);
    });
  }

  it('fills at most 4096 bytes of a larger buffer and reports what it wrote', () => {
    const m = machine();
    m.driver.probe();
    m.driver.negotiate([]);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    q.add([], [{ addr: 0x8_0000, len: 0x3000 }], 'big');
    q.kick();
    m.driver.interrupt();
    expect(m.used).toEqual([{ token: 'big', len: 4096 }]);
  });

  it('reports a ring the guest corrupted through ctx.needsReset: DEVICE_NEEDS_RESET and a configuration interrupt', () => {
    const m = machine();
    m.driver.probe();
    m.driver.negotiate([]);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    m.memory.writeU16(q.driverArea + 2, 1000); // avail.idx 1000 entries ahead of a 256-entry ring
    q.notify();
    expect(m.driver.needsReset()).toBe(true);
    expect(m.driver.interrupt()).toBe(2);
    expect(m.diagnostics.map((d) => d.kind)).toEqual(['needs-reset']);
    expect((m.diagnostics[0]!.cause as Error).name).toBe('Queue.InvalidAvailIndexError');
    // A reset (which calls the device's reset()) and a fresh initialisation bring it back.
    m.driver.reset();
    m.driver.deleteQueues();
    m.driver.probe();
    m.driver.negotiate([]);
    const q2 = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    q2.add([], [{ addr: 0x8_0000, len: 4 }], 'again');
    q2.kick();
    m.driver.interrupt();
    expect(m.used).toEqual([{ token: 'again', len: 4 }]);
  });
});
