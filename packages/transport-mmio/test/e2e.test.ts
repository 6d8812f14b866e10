/**
 * End to end, in process: guest memory, the driver model, the MMIO transport on an IoManager
 * with an interrupt controller, and a device. A request goes in through the ring and a
 * QueueNotify write; its answer and an interrupt come back.
 */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import type { MmioDiagnostic } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { DriverQueue } from '@vmv/transport-mmio/driver';
import { TestDevice, VERSION_1, echoNotify } from './helpers/devices';

const BASE = 0xd000_0000;
const IRQ = 5;

function machine(features: bigint) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  let delivered = 0;
  const irqs = new InMemoryInterruptController({ onDeliver: () => delivered++ });
  const device = new TestDevice({ features, queueMaxSizes: [256, 256], onNotify: (dev, i) => echoNotify(dev, i) });
  const diagnostics: MmioDiagnostic[] = [];
  const transport = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level'), onDiagnostic: (d) => diagnostics.push(d) });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  const completed: { token: unknown; len: number }[] = [];
  let configChanges = 0;
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, onConfigChange: () => configChanges++ });
  const drain = (q: DriverQueue<unknown>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) completed.push({ token: u.token, len: u.len });
  };
  return { memory, irqs, device, transport, io, driver, drain, completed, diagnostics, delivered: () => delivered, configChanges: () => configChanges };
}

describe('end to end: driver model → IoManager → VirtioMmioTransport → device', () => {
  for (const [name, extra] of [
    ['split ring', 0n],
    ['split ring with EVENT_IDX and indirect descriptors', featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC)],
    ['packed ring', featureBit(Feature.RING_PACKED)],
    ['packed ring with EVENT_IDX', featureBit(Feature.RING_PACKED) | featureBit(Feature.EVENT_IDX)],
  ] as const) {
    it(`answers requests and interrupts (${name})`, () => {
      const m = machine(VERSION_1 | extra);
      const { driver, memory, irqs } = m;
      expect(driver.probe().deviceId).toBe(4);
      expect(driver.negotiate([])).toBe(VERSION_1 | extra);
      const q = driver.setupQueue(0, { callback: m.drain, indirectEntries: 4 });
      driver.ready();
      expect(m.transport.status).toBe(0xf);
      expect(q.ring.constructor.name).toBe(extra & featureBit(Feature.RING_PACKED) ? 'PackedDriver' : 'SplitDriver');

      for (let round = 0; round < 3; round++) {
        const req = 0x8_0000 + round * 0x1000;
        const resp = 0x9_0000 + round * 0x1000;
        memory.write(req, Uint8Array.of(0x40 + round, 1, 2, 3));
        expect(q.add([{ addr: req, len: 4 }], [{ addr: resp, len: 32 }, { addr: resp + 32, len: 32 }], `req${round}`)).toBeGreaterThanOrEqual(0);
        expect(q.kick()).toBe(true); // a QueueNotify write reaches the device's queue handler
        expect(m.device.notifies.at(-1)).toEqual([0, undefined]);
        expect(irqs.isAsserted(IRQ)).toBe(true); // the used buffer interrupt is up
        expect(m.transport.interruptStatus).toBe(1);
        expect(driver.interrupt()).toBe(1); // vm_interrupt: read InterruptStatus, ACK
        expect(irqs.isAsserted(IRQ)).toBe(false);
        expect(m.completed.at(-1)).toEqual({ token: `req${round}`, len: 64 });
        const answer = new Uint8Array(64);
        memory.read(resp, answer);
        expect([...answer]).toEqual(new Array<number>(64).fill(0x40 + round));
      }
      expect(m.delivered()).toBe(3);
      expect(m.diagnostics).toEqual([]);
    });
  }

  it('batches several requests behind one kick and one interrupt', () => {
    const m = machine(VERSION_1 | featureBit(Feature.EVENT_IDX));
    m.driver.probe();
    m.driver.negotiate([]);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    for (let i = 0; i < 8; i++) q.add([], [{ addr: 0x9_0000 + i * 16, len: 16 }], i);
    q.kick();
    expect(m.device.notifies).toHaveLength(1);
    expect(m.delivered()).toBe(1);
    m.driver.interrupt();
    expect(m.completed.map((c) => c.token)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a device-side configuration change reaches the driver with a new ConfigGeneration', () => {
    const m = machine(VERSION_1);
    m.driver.probe();
    m.driver.negotiate([]);
    m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const gen = m.driver.generation();
    m.device.host!.configChanged();
    expect(m.irqs.isAsserted(IRQ)).toBe(true);
    expect(m.driver.interrupt()).toBe(2);
    expect(m.configChanges()).toBe(1);
    expect(m.driver.generation()).toBe(gen + 1);
  });

  it('a ring the guest corrupts puts the device in DEVICE_NEEDS_RESET with a configuration interrupt; a reset recovers', () => {
    const m = machine(VERSION_1);
    m.driver.probe();
    m.driver.negotiate([]);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    // The guest publishes an available index 1000 entries ahead of a 256-entry ring.
    m.memory.writeU16(q.driverArea + 2, 1000);
    q.notify();
    expect(m.driver.needsReset()).toBe(true);
    expect(m.transport.status).toBe(0x4f);
    expect(m.driver.interrupt()).toBe(2);
    expect(m.configChanges()).toBe(1);
    expect(m.diagnostics.map((d) => d.kind)).toEqual(['needs-reset']);
    expect(String((m.diagnostics[0]!.cause as Error).name)).toMatch(/^Queue\./);
    // Further notifications are refused until the driver resets the device.
    q.notify();
    expect(m.diagnostics.map((d) => d.kind)).toEqual(['needs-reset', 'refused']);
    m.driver.reset();
    m.driver.deleteQueues();
    m.driver.probe();
    m.driver.negotiate([]);
    const q2 = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    q2.add([], [{ addr: 0x9_0000, len: 8 }], 'after-reset');
    q2.kick();
    m.driver.interrupt();
    expect(m.completed.at(-1)).toEqual({ token: 'after-reset', len: 8 });
  });
});
