/**
 * The driver model (`@vmv/transport-pci/driver`, Linux's virtio_pci_modern) against the function on
 * a PciBus, with devices of this repository: virtio-rng, virtio-console and virtio-blk, over MSI-X
 * with a vector per queue, one shared vector, and INTx; a reset and a second probe; probe failures.
 */
import { describe, expect, it } from '@jest/globals';
import { BlockConfigOffset as O, BlockDevice, BlockFeature as BF, BlockStatus, MemoryBackend, RequestType, encodeRequestHeader } from '@vmv/block';
import { ConsoleDevice } from '@vmv/console';
import { DeviceId, Feature, hasFeature } from '@vmv/device-trait';
import { RngDevice } from '@vmv/rng';
import { IoManager } from '@vmv/bus';
import { GuestMemory } from '@vmv/memory';
import { PciBus, isTransportPciError } from '@vmv/transport-pci';
import type { DriverQueue } from '@vmv/transport-pci/driver';
import { VirtioPciDriver } from '@vmv/transport-pci/driver';
import { TestDevice, VERSION_1 } from './support/device';
import { machine } from './support/machine';

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function until(cond: () => boolean, what: string) {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

function collect<T>() {
  const done: { token: T; len: number }[] = [];
  const callback = (q: DriverQueue<T>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) done.push({ token: u.token, len: u.len });
  };
  return { done, callback };
}

describe('virtio-rng', () => {
  it.each(['msix', 'intx'] as const)('probe, negotiation, a vector per queue or INTx, the hwrng pattern (%s)', async (interrupts) => {
    const m = machine(new RngDevice({ source: (n) => new Uint8Array(n).fill(0xa5) }), {}, { interrupts });
    const id = m.driver.probe();
    expect(id).toMatchObject({ deviceId: DeviceId.ENTROPY, revision: 1, subsystemVendorId: 0x1af4, msixVectors: 2 });
    const features = m.driver.negotiate([]);
    expect(hasFeature(features, Feature.EVENT_IDX)).toBe(true);
    const { done, callback } = collect<number>();
    const [q] = m.driver.findQueues([{ callback }]);
    m.driver.ready();
    expect(m.driver.interruptMode).toBe(interrupts);
    expect(m.fn.msixEnabled).toBe(interrupts === 'msix');
    expect(m.fn.queueVector(0)).toBe(interrupts === 'msix' ? 1 : 0xffff);
    for (let i = 0; i < 20; i++) {
      q!.add([], [{ addr: 0x8_0000, len: 64 }], i);
      expect(q!.kick()).toBe(true);
      await until(() => done.length === i + 1, `buffer ${i}`);
    }
    expect(done.every((d) => d.len === 64)).toBe(true);
    const bytes = new Uint8Array(64);
    m.memory.read(0x8_0000, bytes);
    expect(bytes.every((b) => b === 0xa5)).toBe(true);
    expect(m.delivered()).toBeGreaterThanOrEqual(20);
    expect(m.diagnostics).toEqual([]);
  });
});

describe('virtio-console', () => {
  it('port 0 both ways over MSI-X, one vector per queue', async () => {
    const device = new ConsoleDevice({ ports: [{}] });
    const received: string[] = [];
    device.port(0).connect({ write: (data, done) => { received.push(new TextDecoder().decode(data)); done(); }, drain: () => undefined });
    const m = machine(device);
    m.driver.probe();
    m.driver.negotiate([]);
    const rx = collect<number>();
    const tx = collect<number>();
    const [rq, tq] = m.driver.findQueues([{ callback: rx.callback }, { callback: tx.callback }]);
    m.driver.ready();
    expect([m.fn.queueVector(0), m.fn.queueVector(1)]).toEqual([1, 2]);
    rq!.add([], [{ addr: 0x9_0000, len: 64 }], 0);
    rq!.kick();
    m.memory.write(0xa_0000, new TextEncoder().encode('hello host'));
    tq!.add([{ addr: 0xa_0000, len: 10 }], [], 1);
    tq!.kick();
    await until(() => received.length === 1 && tx.done.length === 1, 'the transmit');
    expect(received).toEqual(['hello host']);
    device.port(0).write(new TextEncoder().encode('hello guest'));
    await until(() => rx.done.length === 1, 'the receive');
    const back = new Uint8Array(rx.done[0]!.len);
    m.memory.read(0x9_0000, back);
    expect(new TextDecoder().decode(back)).toBe('hello guest');
    expect(m.diagnostics).toEqual([]);
  });
});

describe('virtio-blk', () => {
  const LINUX_BLK_FEATURES = [BF.SEG_MAX, BF.SIZE_MAX, BF.GEOMETRY, BF.RO, BF.BLK_SIZE, BF.FLUSH, BF.TOPOLOGY, BF.CONFIG_WCE, BF.MQ, BF.DISCARD, BF.WRITE_ZEROES];

  it('config reads, a write and a read back, a resize through the configuration vector, a reset and a second run', async () => {
    const disk = new MemoryBackend(1 << 20);
    const device = new BlockDevice({ backend: disk });
    const m = machine(device);
    const run = async (round: number) => {
      m.driver.probe();
      m.driver.negotiate(LINUX_BLK_FEATURES);
      expect(m.driver.cread64(O.capacity)).toBe(BigInt(disk.size / 512));
      const { done, callback } = collect<number>();
      const [q] = m.driver.findQueues([{ callback, indirectEntries: 4 }]);
      m.driver.ready();
      const hdr = 0xc_0000, buf = 0xc_1000, status = 0xc_3000;
      const data = new Uint8Array(4096).map((_, i) => (i * 7 + round) & 0xff);
      m.memory.write(hdr, encodeRequestHeader({ type: RequestType.OUT, sector: 8n }));
      m.memory.write(buf, data);
      q!.add([{ addr: hdr, len: 16 }, { addr: buf, len: 4096 }], [{ addr: status, len: 1 }], 1);
      q!.kick();
      await until(() => done.length === 1, 'the write');
      expect(m.memory.readU8(status)).toBe(BlockStatus.OK);
      m.memory.write(hdr, encodeRequestHeader({ type: RequestType.IN, sector: 8n }));
      m.memory.write(buf, new Uint8Array(4096));
      q!.add([{ addr: hdr, len: 16 }], [{ addr: buf, len: 4096 }, { addr: status, len: 1 }], 2);
      q!.kick();
      await until(() => done.length === 2, 'the read');
      const back = new Uint8Array(4096);
      m.memory.read(buf, back);
      expect(back).toEqual(data);
      expect(disk.data.subarray(8 * 512, 8 * 512 + 4096)).toEqual(data);
    };
    await run(0);
    const gen = m.driver.generation();
    disk.resize(2 << 20);
    device.resize();
    await until(() => m.configChanges() === 1, 'the configuration change');
    expect(m.driver.generation()).not.toBe(gen);
    expect(m.driver.cread64(O.capacity)).toBe(4096n);
    // Unbind and bind: reset, queues deleted (vectors unmapped, MSI-X off), probe again.
    m.driver.reset();
    m.driver.deleteQueues();
    expect(m.fn.msixEnabled).toBe(false);
    await device.drain();
    await run(1);
    expect(m.diagnostics).toEqual([]);
  });
});

describe('interrupt plans and failures', () => {
  it('too few MSI-X vectors for one per queue: one shared vector (Linux\'s second try)', async () => {
    const device = new TestDevice({ queueMaxSizes: [16, 16, 16] });
    const m = machine(device, { msixVectors: 2 });
    m.driver.probe();
    m.driver.negotiate([]);
    const a = collect<number>(), b = collect<number>();
    const [q0, , q2] = m.driver.findQueues([{ callback: a.callback }, null, { callback: b.callback }]);
    m.driver.ready();
    expect([m.fn.queueVector(0), m.fn.queueVector(1), m.fn.queueVector(2)]).toEqual([1, 0xffff, 1]);
    q0!.add([], [{ addr: 0x8_0000, len: 8 }], 0);
    q0!.kick();
    q2!.add([], [{ addr: 0x8_1000, len: 8 }], 2);
    q2!.kick();
    await until(() => a.done.length === 1 && b.done.length === 1, 'both queues');
    expect(m.fn.queueInfo(1).ready).toBe(false);
  });

  it('no MSI-X capability: INTx', async () => {
    const m = machine(new TestDevice(), { msixVectors: 0 });
    expect(m.driver.probe().msixVectors).toBe(0);
    m.driver.negotiate([]);
    const { done, callback } = collect<number>();
    const [q] = m.driver.findQueues([{ callback }]);
    m.driver.ready();
    expect(m.driver.interruptMode).toBe('intx');
    q!.add([], [{ addr: 0x8_0000, len: 8 }], 0);
    q!.kick();
    await until(() => done.length === 1, 'the buffer');
    expect(m.line()).toBe(false); // the ISR read lowered it
  });

  it('a ring the guest corrupts: DEVICE_NEEDS_RESET with a configuration interrupt', async () => {
    const m = machine(new TestDevice());
    m.driver.probe();
    m.driver.negotiate([]);
    const [q] = m.driver.findQueues([{ callback: () => undefined }]);
    m.driver.ready();
    m.memory.writeU16(q!.driverArea + 2, 1000);
    q!.notify();
    await until(() => m.configChanges() === 1, 'the configuration interrupt');
    expect(m.driver.needsReset()).toBe(true);
    expect(m.diagnostics.map((d) => d.kind)).toEqual(['needs-reset']);
  });

  it('NOT_VIRTIO for a slot with no virtio function; FEATURES_REFUSED (FAILED set); device bits in the driver table are negotiated', () => {
    const io = new IoManager();
    const bus = new PciBus({ mmio: io });
    const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
    const d = new VirtioPciDriver({ pci: bus, mmio: io, device: 5, memory, ringMemory: { base: 0, size: 0x1000 }, barWindow: { base: 0xe000_0000, size: 0x1_0000 } });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        if (isTransportPciError(e, 'TransportPci.DriverProbeError')) return e.code;
        throw e;
      }
      return 'none';
    };
    expect(code(() => d.probe())).toBe('NOT_VIRTIO'); // nothing there: all ones
    const refuse = new TestDevice();
    (refuse as unknown as { validateFeatures: () => boolean }).validateFeatures = () => false;
    const m = machine(refuse);
    m.driver.probe();
    expect(code(() => m.driver.negotiate([]))).toBe('FEATURES_REFUSED');
    expect(m.fn.status & 0x80).toBe(0x80);
    const m2 = machine(new TestDevice({ features: VERSION_1 | 1n }));
    m2.driver.probe();
    expect(hasFeature(m2.driver.negotiate([0]), 0)).toBe(true);
  });
});
