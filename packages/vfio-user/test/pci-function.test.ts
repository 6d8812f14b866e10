/**
 * pciFunctionDevice: a VirtioPciFunction of @vmv/transport-pci served by a session and driven by the
 * transport's model of Linux's virtio_pci through the QEMU client model (REGION_READ / REGION_WRITE,
 * the MSI-X table kept by the client as QEMU keeps it, eventfds per vector): regions and IRQ counts,
 * virtio-rng over MSI-X, virtio-blk over MSI-X and over INTx, DEVICE_RESET, a client leaving, no
 * DMA memory, and bad functions refused.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BlockDevice, BlockStatus, MemoryBackend, RequestType, encodeRequestHeader } from '@vmv/block';
import { GuestMemory } from '@vmv/memory';
import { RngDevice } from '@vmv/rng';
import { VirtioPciFunction } from '@vmv/transport-pci';
import { VirtioPciDriver, type DriverQueue } from '@vmv/transport-pci/driver';
import { IrqIndex, IrqSetFlags, PciRegion, isVfioUserError, pciFunctionDevice, type VfioUserDevice } from '@vmv/vfio-user';
import { qemu } from './support/client';
import { harness } from './support/harness';
import { pciBridge } from './support/pci-bridge';

const RAM = 4 << 20;
const tick = () => new Promise((resolve) => setImmediate(resolve));

function virtio(device: ConstructorParameters<typeof VirtioPciFunction>[0], msixVectors?: number) {
  const diagnostics: string[] = [];
  const pci = pciFunctionDevice((wiring) => new VirtioPciFunction(device, { ...wiring, ...(msixVectors === undefined ? {} : { msixVectors }), onDiagnostic: (d) => diagnostics.push(`${d.kind}: ${d.message}`) }));
  return { pci, diagnostics };
}

/** A session over the function, RAM mapped at 0 with an fd, eventfds for INTx and every MSI-X vector. */
function client(device: VfioUserDevice, interrupts: 'msix' | 'intx' = 'msix') {
  const h = harness({}, device as never);
  h.negotiate();
  const memfd = h.host.memfd(RAM);
  expect(h.send(qemu.dmaMap(0n, BigInt(RAM)), [memfd])!.error).toBe(0);
  const memory = GuestMemory.fromRegions([{ start: 0, backing: (h.host.files.get(memfd) as { buffer: ArrayBuffer }).buffer }]);
  const vectors = device.irqCounts[IrqIndex.MSIX] ?? 0;
  const msixFds = Array.from({ length: vectors }, () => h.host.eventfd());
  const intxFd = h.host.eventfd();
  const set = IrqSetFlags.ACTION_TRIGGER | IrqSetFlags.DATA_EVENTFD;
  if (vectors > 0) expect(h.send(qemu.setIrqs(set, IrqIndex.MSIX, 0, vectors), msixFds)!.error).toBe(0);
  expect(h.send(qemu.setIrqs(set, IrqIndex.INTX, 0, 1), [intxFd])!.error).toBe(0);
  const bridge = pciBridge((m, fds) => h.send(m, fds), device.bars.map((b) => b?.size ?? 0));
  /** Linux's driver, as at a fresh probe. */
  const newDriver = () => new VirtioPciDriver({ ...bridge, device: 0, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, barWindow: { base: 0xe000_0000, size: 0x10_0000 }, interrupts });
  let driver = newDriver();
  const seen = new Map<number, number>();
  let intxSeen = 0;
  /** Delivers what the eventfds counted since the last call: MSI-X through the client's table, INTx with an unmask. */
  const deliver = (): number => {
    let n = 0;
    msixFds.forEach((fd, v) => {
      const c = h.host.count(fd);
      if (c === (seen.get(v) ?? 0)) return;
      seen.set(v, c);
      const message = bridge.message(v);
      if (message !== null) n += driver.msi(message) >= 0 ? 1 : 0;
    });
    const c = h.host.count(intxFd);
    if (c !== intxSeen) {
      intxSeen = c;
      n += driver.intx() !== 0 ? 1 : 0;
      h.send(qemu.setIrqs(IrqSetFlags.ACTION_UNMASK | IrqSetFlags.DATA_NONE, IrqIndex.INTX, 0, 1));
    }
    return n;
  };
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 2000 && !cond(); i++) {
      await tick();
      deliver();
    }
    if (!cond()) throw new Error(`timed out waiting for ${what}`);
  };
  return {
    h, memory, bridge, msixFds, intxFd, until,
    get driver() {
      return driver;
    },
    reprobe: () => void (driver = newDriver()),
  };
}

function collect<T>() {
  const done: { token: T; len: number }[] = [];
  const callback = (q: DriverQueue<T>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) done.push({ token: u.token, len: u.len });
  };
  return { done, callback };
}

describe('pciFunctionDevice', () => {
  it('describes the function: configuration space, the BARs with their sizes, INTx 1 and MSI-X = the table size', () => {
    const { pci } = virtio(new RngDevice());
    expect(pci.configSize).toBe(256);
    expect(pci.bars.map((b) => b?.size ?? 0)).toEqual([0x4000, 0, 0x1000, 0, 0, 0, 0]);
    expect(pci.irqCounts).toEqual([1, 0, 2, 0, 0]);
    expect(pci.msixTable).toEqual({ bar: 2, offset: 0 });
    const h = harness({}, pci as never);
    h.negotiate();
    const info = (i: number) => h.send(qemu.regionInfo(i))!;
    expect(info(PciRegion.CONFIG).view.getBigUint64(16, true)).toBe(256n);
    expect(info(0).view.getBigUint64(16, true)).toBe(0x4000n);
    expect(info(1).view.getBigUint64(16, true)).toBe(0n);
    expect(info(2).view.getBigUint64(16, true)).toBe(0x1000n);
    expect(h.send(qemu.irqInfo(IrqIndex.MSIX))!.view.getUint32(12, true)).toBe(2);
    expect(h.send(qemu.irqInfo(IrqIndex.INTX))!.view.getUint32(12, true)).toBe(1);
    const id = h.send(qemu.regionRead(PciRegion.CONFIG, 0, 4))!;
    expect([...id.body.subarray(16, 20)]).toEqual([0xf4, 0x1a, 0x44, 0x10]);
  });

  it('virtio-rng over MSI-X: Linux\'s probe through REGION messages, the client keeping the table, a vector fired -> its eventfd', async () => {
    const { pci, diagnostics } = virtio(new RngDevice({ source: (n) => new Uint8Array(n).fill(0x5a) }));
    const c = client(pci);
    c.driver.probe();
    c.driver.negotiate([]);
    const { done, callback } = collect<number>();
    const [q] = c.driver.findQueues([{ callback }]);
    c.driver.ready();
    expect(c.driver.interruptMode).toBe('msix');
    expect(pci.fn.msixEnabled).toBe(true);
    for (let i = 0; i < 8; i++) {
      q!.add([], [{ addr: 0x8_0000 + i * 64, len: 64 }], i);
      q!.kick();
      await c.until(() => done.length === i + 1, `buffer ${i}`);
    }
    expect(c.memory.readU8(0x8_0000 + 8 * 64 - 1)).toBe(0x5a);
    // The queue's vector (1) carried every interrupt; the table stayed on the client's side.
    expect(c.h.host.count(c.msixFds[1]!)).toBeGreaterThanOrEqual(8);
    expect(c.h.host.count(c.msixFds[0]!)).toBe(0);
    expect(c.bridge.tableAccesses).toBeGreaterThan(0);
    expect(diagnostics).toEqual([]);
  });

  it.each(['msix', 'intx'] as const)('virtio-blk over %s: a write lands on the disk and reads back', async (mode) => {
    const disk = new MemoryBackend(1 << 20);
    const { pci, diagnostics } = virtio(new BlockDevice({ backend: disk }));
    const c = client(pci, mode);
    c.driver.probe();
    c.driver.negotiate([]);
    const { done, callback } = collect<number>();
    const [q] = c.driver.findQueues([{ callback }]);
    c.driver.ready();
    expect(c.driver.interruptMode).toBe(mode);
    const hdr = 0xc_0000, buf = 0xc_1000, status = 0xc_3000;
    const data = new Uint8Array(4096).map((_, i) => (i * 13) & 0xff);
    c.memory.write(hdr, encodeRequestHeader({ type: RequestType.OUT, sector: 16n }));
    c.memory.write(buf, data);
    q!.add([{ addr: hdr, len: 16 }, { addr: buf, len: 4096 }], [{ addr: status, len: 1 }], 1);
    q!.kick();
    await c.until(() => done.length === 1, 'the write');
    expect(c.memory.readU8(status)).toBe(BlockStatus.OK);
    expect(disk.data.subarray(16 * 512, 16 * 512 + 4096)).toEqual(data);
    c.memory.write(hdr, encodeRequestHeader({ type: RequestType.IN, sector: 16n }));
    c.memory.write(buf, new Uint8Array(4096));
    q!.add([{ addr: hdr, len: 16 }], [{ addr: buf, len: 4096 }, { addr: status, len: 1 }], 2);
    q!.kick();
    await c.until(() => done.length === 2, 'the read');
    const back = new Uint8Array(4096);
    c.memory.read(buf, back);
    expect(back).toEqual(data);
    expect(c.h.host.count(c.intxFd) > 0).toBe(mode === 'intx');
    expect(pci.fn.intxAsserted).toBe(false);
    expect(diagnostics).toEqual([]);
  });

  it('DEVICE_RESET: the function back at power-on; a second probe gets its interrupts (the table unmasked again)', async () => {
    const { pci } = virtio(new RngDevice({ source: (n) => new Uint8Array(n).fill(1) }));
    const c = client(pci);
    const run = async () => {
      c.driver.probe();
      c.driver.negotiate([]);
      const { done, callback } = collect<number>();
      const [q] = c.driver.findQueues([{ callback }]);
      c.driver.ready();
      q!.add([], [{ addr: 0x9_0000, len: 16 }], 0);
      q!.kick();
      await c.until(() => done.length === 1, 'the request');
    };
    await run();
    expect(pci.fn.msixEnabled).toBe(true);
    expect((await c.h.sendAsync(qemu.reset()))!.error).toBe(0);
    expect(pci.fn.status).toBe(0);
    expect(pci.fn.msixEnabled).toBe(false);
    const word = new Uint8Array(4);
    pci.fn.configRead(4, word);
    expect(word[0]! & 0x6).toBe(0);
    pci.fn.barRead(2, 16 + 12, word);
    expect([...word]).toEqual([0, 0, 0, 0]);
    c.reprobe();
    await run();
  });

  it('a client leaving resets the function; DRIVER_OK without DMA memory is DEVICE_NEEDS_RESET, not an exception', async () => {
    const { pci, diagnostics } = virtio(new RngDevice());
    const c = client(pci);
    c.driver.probe();
    c.driver.negotiate([]);
    c.driver.findQueues([{}]);
    c.driver.ready();
    expect(pci.fn.activated).toBe(true);
    c.h.session.close();
    expect(pci.fn.status).toBe(0);
    // A client that maps nothing with an fd.
    const h = harness({}, pci as never);
    h.negotiate();
    const w = (off: number, bytes: number[]) => expect(h.send(qemu.regionWrite(0, off, Uint8Array.from(bytes)))!.error).toBe(0);
    w(0x14, [1]);
    w(0x14, [3]);
    w(0x08, [1, 0, 0, 0]);
    w(0x0c, [1, 0, 0, 0]); // VIRTIO_F_VERSION_1
    w(0x14, [0xb]);
    w(0x16, [0, 0]);
    w(0x1c, [1, 0]);
    w(0x14, [0xf]);
    expect(pci.fn.status & 0x40).toBe(0x40);
    expect(diagnostics.some((d) => d.startsWith('needs-reset') && d.includes('DMA'))).toBe(true);
  });

  it('refuses what is not a PCI function, BARs that are not powers of two, a table outside the BARs', () => {
    expect(() => pciFunctionDevice(null as never)).toThrow(TypeError);
    expect(() => pciFunctionDevice(() => ({}) as never)).toThrow(TypeError);
    const base = { msixVectors: 0, configRead: (_o: number, d: Uint8Array) => d.fill(0), configWrite: () => {}, barRead: () => {}, barWrite: () => {}, reset: () => {} };
    expect(() => pciFunctionDevice(() => ({ ...base, bars: [{ index: 0, size: 3000 }] }))).toThrow(RangeError);
    expect(() => pciFunctionDevice(() => ({ ...base, bars: [{ index: 6, size: 4096 }] }))).toThrow(RangeError);
    expect(() => pciFunctionDevice(() => ({ ...base, bars: [], msixVectors: 4000 }))).toThrow(RangeError);
    expect(() => pciFunctionDevice(() => ({ ...base, bars: [], msixVectors: 2 }))).toThrow(/no MSI-X capability/);
  });

  it('random region accesses from a client: every one answered, none escapes as an exception', () => {
    const { pci } = virtio(new BlockDevice({ backend: new MemoryBackend(1 << 16) }));
    const h = harness({}, pci as never);
    h.negotiate();
    const memfd = h.host.memfd(1 << 20);
    h.send(qemu.dmaMap(0n, 1n << 20n), [memfd]);
    fc.assert(
      fc.property(fc.array(fc.record({ region: fc.constantFrom(0, 1, 2, 7, 3), offset: fc.oneof(fc.nat({ max: 0x4100 }), fc.constantFrom(0x14, 0x16, 0x1c, 0x3000, 0x2000, 0x1000, 0x0c, 0x04)), data: fc.uint8Array({ minLength: 1, maxLength: 8 }), write: fc.boolean() }), { maxLength: 40 }), (accesses) => {
        for (const a of accesses) {
          const r = h.send(a.write ? qemu.regionWrite(a.region, a.offset, a.data) : qemu.regionRead(a.region, a.offset, a.data.length))!;
          expect(r.flags & 1).toBe(1);
          if (r.error !== 0) expect([22, 5]).toContain(r.error);
        }
      }),
      { numRuns: 200 },
    );
    expect(h.events.filter((e) => e.type === 'command-failed' && !isVfioUserError(e.error, 'VfioUser.InvalidArgumentError'))).toEqual([]);
  });
});
