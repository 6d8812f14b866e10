import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { IoManager, isBusError, MmioRange, PioRange, ResourceAllocator } from '@vmv/bus';
import type { BusError, DeviceMmio, DevicePio, MmioDispatcher, MmioManager, MutDeviceMmio, MutDevicePio, PioDispatcher, PioManager, Resource } from '@vmv/bus';

function thrown(f: () => unknown): BusError {
  try {
    f();
  } catch (e) {
    return e as BusError;
  }
  throw new Error('did not throw');
}

class Both implements MutDevicePio, MutDeviceMmio {
  log: string[] = [];
  pioRead(b: number, o: number, d: Uint8Array): void {
    d.fill(0x11);
    this.log.push(`pr ${b.toString(16)}+${o} ${d.length}`);
  }
  pioWrite(b: number, o: number, d: Uint8Array): void {
    this.log.push(`pw ${b.toString(16)}+${o} ${[...d]}`);
  }
  mmioRead(b: bigint, o: number, d: Uint8Array): void {
    d.fill(0x22);
    this.log.push(`mr ${b.toString(16)}+${o} ${d.length}`);
  }
  mmioWrite(b: bigint, o: number, d: Uint8Array): void {
    this.log.push(`mw ${b.toString(16)}+${o} ${[...d]}`);
  }
}

const snapshot = (io: IoManager) => [io.pio.entries().map((e) => [String(e.range), e.device]), io.mmio.entries().map((e) => [String(e.range), e.device])];

describe('IoManager', () => {
  it('registers and dispatches on both buses, through the manager interfaces alone', () => {
    const io = new IoManager();
    const dev = new Both();
    const pm: PioManager = io;
    const mm: MmioManager = io;
    pm.registerPio(new PioRange(0x3f8, 8), dev);
    mm.registerMmio(new MmioRange(0xd000_0000, 0x200), dev);
    const d: PioDispatcher & MmioDispatcher = io;
    const b = new Uint8Array(1);
    d.pioRead(0x3fd, b);
    expect(b[0]).toBe(0x11);
    d.pioWrite(0x3f8, Uint8Array.of(0x41));
    d.mmioRead(0xd000_0070n, new Uint8Array(4));
    d.mmioWrite(0xd000_0050, Uint8Array.of(2, 0, 0, 0));
    expect(dev.log).toEqual(['pr 3f8+5 1', 'pw 3f8+0 65', 'mr d0000000+112 4', 'mw d0000000+80 2,0,0,0']);
    expect(pm.pioDevice(0x3ff)?.device).toBe(dev);
    expect(mm.mmioDevice(0xd000_0000)?.range.size).toBe(0x200n);
    expect(pm.unregisterPio(0x3f8).device).toBe(dev);
    expect(mm.unregisterMmio(0xd000_01ffn).device).toBe(dev);
    expect(thrown(() => io.pioWrite(0x3f8, Uint8Array.of(0))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => io.mmioRead(0xd000_0000, new Uint8Array(4))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => io.mmioRead(0xd000_0000, new Uint8Array(0))).name).toBe('Bus.EmptyAccessError');
  });

  it('sharedOnly refuses exclusive devices and accepts shared ones', () => {
    const io = new IoManager<DevicePio, DeviceMmio>({ sharedOnly: true });
    const shared: DevicePio & DeviceMmio = { shared: true, pioRead: () => {}, pioWrite: () => {}, mmioRead: () => {}, mmioWrite: () => {} };
    io.registerPio(new PioRange(0x80, 1), shared);
    io.registerMmio(new MmioRange(0x1000, 0x10), shared);
    expect(() => io.registerPio(new PioRange(0x81, 1), new Both() as unknown as DevicePio)).toThrow(TypeError);
    expect(() => io.registerMmio(new MmioRange(0x2000, 1), new Both() as unknown as DeviceMmio)).toThrow(TypeError);
    expect(() => io.registerResources(new Both() as unknown as DevicePio, [{ kind: 'pio', base: 0x90, size: 1 }])).toThrow(TypeError);
    expect(io.sharedOnly).toBe(true);
  });

  it('registers a device from allocated resources and unregisters it', () => {
    const alloc = new ResourceAllocator({ mmio: { base: 0xd000_0000, size: 0x10_0000 }, pio: { base: 0, size: 0x10000 }, legacyIrq: { base: 5, size: 4 } });
    const res = alloc.allocate([{ kind: 'mmio', size: 0x200 }, { kind: 'pio', size: 8, base: 0x3f8 }, { kind: 'legacyIrq' }]);
    const io = new IoManager();
    const dev = new Both();
    const ranges = io.registerResources(dev, res);
    expect(ranges.map(String)).toEqual(['mmio[0xd0000000..0xd00001ff]', 'pio[0x3f8..0x3ff]']);
    io.mmioWrite(0xd000_0004, Uint8Array.of(1));
    io.pioWrite(0x3f9, Uint8Array.of(2));
    expect(dev.log).toEqual(['mw d0000000+4 1', 'pw 3f8+1 2']);
    expect(io.unregisterResources(res).map((e) => e.device)).toEqual([dev, dev]);
    expect(snapshot(io)).toEqual([[], []]);
    expect(thrown(() => io.unregisterResources(res)).name).toBe('Bus.DeviceNotFoundError');
  });

  it('refuses a zero or overflowing resource with a typed error instead of panicking (rule 44), changing nothing', () => {
    const io = new IoManager();
    const keep = new Both();
    io.registerPio(new PioRange(0x60, 1), keep);
    const before = snapshot(io);
    const cases: Array<[Resource[], string]> = [
      [[{ kind: 'pio', base: 0x3f8, size: 8 }, { kind: 'mmio', base: 0x1000, size: 0 }], 'Bus.InvalidRangeError'],
      [[{ kind: 'mmio', base: 0x1000, size: 0x10 }, { kind: 'pio', base: 0xfff8, size: 0x10 }], 'Bus.InvalidRangeError'],
      [[{ kind: 'mmio', base: 0xffff_ffff_ffff_f000n, size: 0x2000n }], 'Bus.InvalidRangeError'],
      [[{ kind: 'mmio', base: 0, size: (1n << 53n) + 1n }], 'Bus.InvalidRangeError'],
      [[{ kind: 'pio', base: 0x3f8, size: 8 }, { kind: 'pio', base: 0x60, size: 1 }], 'Bus.DeviceOverlapError'],
      [[{ kind: 'mmio', base: 0x1000, size: 0x100 }, { kind: 'mmio', base: 0x10f0, size: 0x100 }], 'Bus.DeviceOverlapError'],
      [[{ kind: 'legacyIrq', irq: 4 }, { kind: 'pio', base: 0x3f8, size: 8 }, { kind: 'pio', base: 0x3ff, size: 1 }], 'Bus.DeviceOverlapError'],
    ];
    for (const [res, name] of cases) {
      expect(thrown(() => io.registerResources(new Both(), res)).name).toBe(name);
      expect(snapshot(io)).toEqual(before);
    }
    expect(() => io.registerResources({ pioRead() {}, pioWrite() {} } as unknown as Both, [{ kind: 'mmio', base: 0, size: 1 }])).toThrow(TypeError);
    expect(() => io.registerResources({ mmioRead() {}, mmioWrite() {} } as unknown as Both, [{ kind: 'pio', base: 0, size: 1 }])).toThrow(TypeError);
    expect(snapshot(io)).toEqual(before);
    // unregisterResources is all-or-nothing as well
    io.registerResources(keep, [{ kind: 'mmio', base: 0x1000, size: 0x100 }]);
    const mid = snapshot(io);
    expect(thrown(() => io.unregisterResources([{ kind: 'mmio', base: 0x1000, size: 0x100 }, { kind: 'pio', base: 0x70, size: 1 }])).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => io.unregisterResources([{ kind: 'mmio', base: 0x1000, size: 0x80 }])).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => io.unregisterResources([{ kind: 'mmio', base: 0x1000, size: 0x100 }, { kind: 'mmio', base: 0x1000, size: 0x100 }])).name).toBe('Bus.DeviceNotFoundError');
    expect(snapshot(io)).toEqual(mid);
  });

  it('property: registerResources either registers every range or changes nothing', () => {
    const res: fc.Arbitrary<Resource> = fc.oneof(
      fc.record({ kind: fc.constant('pio' as const), base: fc.integer({ min: 0xfff0, max: 0xffff }), size: fc.integer({ min: 0, max: 0x12 }) }),
      fc.record({ kind: fc.constant('pio' as const), base: fc.integer({ min: 0, max: 0x40 }), size: fc.integer({ min: 0, max: 0x10 }) }),
      fc.record({ kind: fc.constant('mmio' as const), base: fc.bigInt({ min: 0n, max: 0x400n }), size: fc.bigInt({ min: 0n, max: 0x100n }) }),
      fc.record({ kind: fc.constant('mmio' as const), base: fc.bigInt({ min: (1n << 64n) - 0x100n, max: (1n << 64n) - 1n }), size: fc.bigInt({ min: 0n, max: 0x200n }) }),
      fc.record({ kind: fc.constant('legacyIrq' as const), irq: fc.nat(24) }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(res, { maxLength: 4 }), { maxLength: 10 }), (calls) => {
        const io = new IoManager();
        for (const c of calls) {
          const before = snapshot(io);
          const dev = new Both();
          let ok = true;
          try {
            io.registerResources(dev, c);
          } catch (e) {
            ok = false;
            expect(isBusError(e)).toBe(true);
            expect(['Bus.InvalidRangeError', 'Bus.DeviceOverlapError']).toContain((e as BusError).name);
          }
          const after = snapshot(io);
          const ranges = c.filter((r) => r.kind === 'pio' || r.kind === 'mmio').length;
          if (ok) {
            expect(after[0]!.length + after[1]!.length).toBe(before[0]!.length + before[1]!.length + ranges);
            // every range of the call now holds this device, exactly
            for (const r of c) {
              const e = r.kind === 'pio' ? io.pioDevice(r.base) : r.kind === 'mmio' ? io.mmioDevice(r.base) : undefined;
              if (r.kind === 'pio' || r.kind === 'mmio') {
                expect(e?.device).toBe(dev);
                expect(e?.range.size).toBe(typeof e?.range.size === 'bigint' ? BigInt(r.size) : r.size);
              }
            }
          } else expect(after).toEqual(before);
        }
      }),
      { numRuns: 200 },
    );
  });
});
