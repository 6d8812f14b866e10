/**
 * A device completing a request after the driver took its queue back (VIRTIO 1.2 §2.4 device
 * reset, §2.6.1 queue reset; a host reset; a restore): the transport resets the queue objects it
 * gave the device, so the late completion is dropped. No exception, and neither the old ring nor
 * the new one (the driver sets the queue up again at another address) changes. Driven by the
 * package's Linux driver model.
 */
import { describe, expect, it } from '@jest/globals';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, featureBit } from '@vmv/device-trait';
import type { DescriptorChain, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import { LINUX_6_1_TRANSPORT_FEATURES, VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { DriverQueue } from '@vmv/transport-mmio/driver';
import { TestDevice, VERSION_1 } from './helpers/devices';

const BASE = 0xd000_0000;
const RINGS = 0x10_0000;
const RING_BYTES = 0x10_0000;

/** A device that keeps every chain it pops (as one waiting for file I/O), with the queue it came from. */
function rig(packed: boolean) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  const held: { queue: Virtqueue; chain: DescriptorChain }[] = [];
  const features = VERSION_1 | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_RESET) | (packed ? featureBit(Feature.RING_PACKED) : 0n);
  const device = new TestDevice({
    features,
    queueMaxSizes: [16],
    onNotify: (d, index) => {
      const queue = d.ctx!.queues[index]!;
      for (let chain = queue.pop(); chain !== null; chain = queue.pop()) held.push({ queue, chain });
    },
  });
  const transport = new VirtioMmioTransport(device, { memory, interrupt: new InMemoryInterruptController().createLegacyGroup(5, 1, 'level') });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: RINGS, size: RING_BYTES }, transportFeatures: [...LINUX_6_1_TRANSPORT_FEATURES, Feature.RING_RESET] });
  /** Linux's probe up to DRIVER_OK with queue 0 set up (at the next free place in ring memory). */
  const start = (): DriverQueue<string> => {
    driver.probe();
    driver.negotiate(features);
    const q = driver.setupQueue<string>(0);
    driver.ready();
    return q;
  };
  const rings = (): Buffer => Buffer.from(memory.view(RINGS, RING_BYTES));
  return { memory, device, transport, driver, held, start, rings };
}

const send = (q: DriverQueue<string>, token: string): void => {
  q.add([{ addr: 0x1_0000, len: 16 }], [{ addr: 0x1_1000, len: 64 }], token);
  q.notify();
};

describe('a device completing late, after the driver took the queue back', () => {
  const ways = {
    'the driver resets the device (Status 0) and sets it up again': (r: ReturnType<typeof rig>) => r.start(),
    'the host resets the device, the driver sets it up again': (r: ReturnType<typeof rig>) => {
      r.transport.reset();
      return r.start();
    },
    'the driver resets the queue (QueueReset) and enables it again': (r: ReturnType<typeof rig>) => {
      r.driver.writeRegister(R.QUEUE_SEL, 0);
      r.driver.writeRegister(R.QUEUE_RESET, 1);
      return r.driver.setupQueue<string>(0);
    },
  };
  it.each(Object.keys(ways).flatMap((w) => [[w, 'split'], [w, 'packed']] as const))('%s (%s ring): no exception, neither ring written', (way, format) => {
    const r = rig(format === 'packed');
    const first = r.start();
    send(first, 'early');
    expect(r.held.length).toBe(1);
    const late = r.held.pop()!;
    const next = ways[way as keyof typeof ways](r);
    expect(next.descTable).not.toBe(first.descTable); // the queue lives somewhere else now
    expect(r.transport.queueInfo(0).active).toBe(true);
    const before = r.rings();
    expect(() => late.queue.addUsed(late.chain, 64)).not.toThrow();
    expect(late.queue.needsNotification()).toBe(false);
    expect(r.rings().equals(before)).toBe(true);
    expect(next.getBuf()).toBeNull();
    // the new queue serves the driver as usual
    send(next, 'after');
    const fresh = r.held.pop()!;
    expect(fresh.queue).not.toBe(late.queue);
    fresh.queue.addUsed(fresh.chain, 3);
    expect(next.getBuf()).toMatchObject({ token: 'after', len: 3 });
  });

  it.each(['split', 'packed'] as const)('a restore resets the queues the device had (%s ring)', (format) => {
    const r = rig(format === 'packed');
    const q = r.start();
    const saved = r.transport.snapshot();
    send(q, 'held');
    const late = r.held.pop()!;
    r.transport.restore(saved);
    const before = r.rings();
    expect(() => late.queue.addUsed(late.chain, 1)).not.toThrow();
    expect(r.rings().equals(before)).toBe(true);
    expect(q.getBuf()).toBeNull();
  });

  it('QueueReady = 0 takes the queue away in the same way', () => {
    const r = rig(false);
    const q = r.start();
    send(q, 'held');
    const late = r.held.pop()!;
    r.driver.writeRegister(R.QUEUE_SEL, 0);
    r.driver.writeRegister(R.QUEUE_READY, 0);
    const before = r.rings();
    late.queue.addUsed(late.chain, 1);
    expect(r.rings().equals(before)).toBe(true);
  });
});
