/**
 * In process, as a Linux guest drives it: the virtio-mmio driver model (Linux 6.1's virtio_mmio.c
 * and virtio core) on an IoManager, the VirtioMmioTransport and the RngDevice. Linux's hwrng reads
 * the device one 64-byte buffer at a time (kick, wait for the interrupt, again); with EVENT_IDX
 * every request must be kicked. Also the driver's split and packed rings with a file of known bytes.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, featureBit, hasFeature } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, VirtioMmioTransport } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import { RngDevice } from '@vmv/rng';
import type { RngDeviceOptions } from '@vmv/rng';
import { FileSource } from '@vmv/rng/node';

const BASE = 0xd000_0000;
const IRQ = 5;
const dir = mkdtempSync(join(tmpdir(), 'vmv-rng-mmio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function machine(opts: RngDeviceOptions) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(4 << 20) }]);
  const irqs = new InMemoryInterruptController({ onDeliver: () => queueMicrotask(() => driver.interrupt()) });
  const device = new RngDevice(opts);
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level') }));
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
  driver.probe();
  const features = driver.negotiate([]);
  const lens: number[] = [];
  let wake = () => undefined as void;
  const queue = driver.setupQueue<number>(0, { callback: (q) => { for (let u = q.getBuf(); u; u = q.getBuf()) lens.push(u.len); wake(); } });
  driver.ready();
  const until = (n: number) => new Promise<void>((resolve) => { wake = () => { if (lens.length >= n) resolve(); }; wake(); });
  return { memory, device, driver, queue, features, lens, until };
}

describe('over virtio-mmio with the Linux driver model', () => {
  it('negotiates VERSION_1 and EVENT_IDX; the hwrng pattern (one 64-byte buffer, kick, wait) is kicked every time', async () => {
    const m = machine({});
    expect(hasFeature(m.features, Feature.VERSION_1)).toBe(true);
    expect(hasFeature(m.features, Feature.EVENT_IDX)).toBe(true);
    for (let i = 0; i < 100; i++) {
      m.queue.add([], [{ addr: 0x8_0000, len: 64 }], i);
      expect(m.queue.kick()).toBe(true);
      await m.until(i + 1);
    }
    expect(m.lens).toEqual(new Array(100).fill(64));
    expect(m.device.stats.bytes).toBe(6400);
  });

  for (const packed of [false, true]) {
    it(`${packed ? 'packed' : 'split'} ring: 1 MiB of a file's bytes reach guest memory exactly, in order`, async () => {
      const data = randomBytes(1 << 20);
      const path = join(dir, `known-${packed}.bin`);
      writeFileSync(path, data);
      const file = await FileSource.open(path);
      const m = machine({ source: file.read, ringFeatures: featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) | (packed ? featureBit(Feature.RING_PACKED) : 0n) });
      expect(hasFeature(m.features, Feature.RING_PACKED)).toBe(packed);
      const got = createHash('md5');
      const chunk = 4096;
      for (let i = 0; i < (1 << 20) / chunk / 8; i++) {
        for (let j = 0; j < 8; j++) m.queue.add([], [{ addr: 0x20_0000 + j * chunk, len: chunk }], i * 8 + j);
        m.queue.kick();
        await m.until((i + 1) * 8);
        const b = new Uint8Array(8 * chunk);
        m.memory.read(0x20_0000, b);
        got.update(b);
      }
      expect(got.digest('hex')).toBe(createHash('md5').update(data).digest('hex'));
      expect(file.bytesRead).toBe(1 << 20);
      await file.close();
    });
  }
});
