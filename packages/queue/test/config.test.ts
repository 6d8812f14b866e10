import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue, isQueueError, QueueConfig, Feature, restoreVirtqueue } from '@vmv/queue';
import { errorName, makeConfig, makeMemory } from './helpers';

describe('QueueConfig', () => {
  it('starts at size = maxSize, not ready, addresses 0', () => {
    const c = new QueueConfig(256);
    expect(c.size).toBe(256);
    expect(c.ready).toBe(false);
    expect(c.descTable).toBe(0);
    expect(c.driverArea).toBe(0);
    expect(c.deviceArea).toBe(0);
  });

  it('refuses a bad maxSize as embedder misuse', () => {
    for (const m of [0, 3, 65536, 1.5, -1, NaN]) expect(() => new QueueConfig(m)).toThrow(RangeError);
  });

  it('validates the size: power of two (split), 1..maxSize; keeps a bad value', () => {
    const c = new QueueConfig(256);
    expect(errorName(() => c.setSize(0))).toBe('Queue.InvalidSizeError');
    expect(c.size).toBe(0);
    expect(errorName(() => c.setSize(100))).toBe('Queue.InvalidSizeError');
    expect(c.size).toBe(100); // nothing kept from before
    expect(errorName(() => c.setSize(512))).toBe('Queue.InvalidSizeError');
    expect(() => c.setSize(70000)).toThrow(RangeError);
    c.setSize(128);
    expect(c.size).toBe(128);
  });

  it('packed rings accept sizes that are not powers of two', () => {
    const c = new QueueConfig(32768);
    c.setFeatures(1n << BigInt(Feature.RING_PACKED));
    c.setSize(100);
    expect(c.size).toBe(100);
    expect(errorName(() => c.setSize(32769))).toBe('Queue.InvalidSizeError');
  });

  it('takes features from the negotiated word', () => {
    const c = new QueueConfig();
    c.setFeatures((1n << 28n) | (1n << 29n) | (1n << 34n) | (1n << 32n));
    expect([c.indirectDesc, c.eventIdx, c.ringPacked]).toEqual([true, true, true]);
    c.setFeatures(0n);
    expect([c.indirectDesc, c.eventIdx, c.ringPacked]).toEqual([false, false, false]);
    expect(() => c.setFeatures(1 as unknown as bigint)).toThrow(TypeError);
  });

  it('sets addresses from 32-bit halves as the MMIO registers do', () => {
    const c = new QueueConfig(8);
    c.setAreaLow('descTable', 0x1000);
    c.setAreaHigh('descTable', 0x1);
    expect(c.descTable).toBe(0x1_0000_1000);
    c.setAreaHigh('deviceArea', 0xffff_ffff);
    c.setAreaLow('deviceArea', 0xffff_fffc);
    expect(c.deviceArea).toBe(0xffff_ffff_ffff_fffcn);
    expect(() => c.setAreaLow('driverArea', 2 ** 32)).toThrow(RangeError);
    expect(() => c.setAreaHigh('driverArea', -1)).toThrow(RangeError);
    expect(() => c.setAreaLow('bogus' as 'descTable', 0)).toThrow(TypeError);
  });

  it('checks alignment on the low half (16/2/4 split, 16/4/4 packed) and keeps the value', () => {
    const c = new QueueConfig(8);
    expect(errorName(() => c.setAreaLow('descTable', 0x1008))).toBe('Queue.MisalignedAreaError');
    expect(c.descTable).toBe(0x1008);
    expect(errorName(() => c.setArea('driverArea', 0x1001))).toBe('Queue.MisalignedAreaError');
    expect(errorName(() => c.setArea('deviceArea', 0x1002))).toBe('Queue.MisalignedAreaError');
    c.setArea('driverArea', 0x1002);
    c.setFeatures(1n << 34n);
    expect(errorName(() => c.setArea('driverArea', 0x1002))).toBe('Queue.MisalignedAreaError');
    // A misaligned low half followed by a fixing write: the last value counts.
    c.setAreaLow('descTable', 0x2000);
    expect(c.descTable).toBe(0x2000);
    expect(() => c.setArea('descTable', -16)).toThrow(RangeError);
    expect(() => c.setArea('descTable', 2n ** 64n)).toThrow(RangeError);
    expect(() => c.setArea('descTable', '16' as unknown as number)).toThrow(TypeError);
  });

  it('validate: areas inside one region, device area writable, no overlap', () => {
    const mem = makeMemory(0x4000);
    expect(() => makeConfig().validate(mem)).not.toThrow();
    expect(errorName(() => makeConfig({ device: 0x3ff0 }).validate(mem))).toBe('Queue.AreaOutOfMemoryError');
    expect(errorName(() => makeConfig({ desc: 0x4000 }).validate(mem))).toBe('Queue.AreaOutOfMemoryError');
    expect(errorName(() => makeConfig({ driver: 0x40 }).validate(mem))).toBe('Queue.OverlappingAreasError');
    expect(errorName(() => makeConfig({ device: 0x1010 }).validate(mem))).toBe('Queue.OverlappingAreasError');
    const ro = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x2000) },
      { start: 0x2000, backing: new ArrayBuffer(0x1000), readOnly: true },
    ]);
    expect(errorName(() => makeConfig().validate(ro))).toBe('Queue.AreaOutOfMemoryError');
    // A packed descriptor ring is written by the device too.
    const roLow = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x1000), readOnly: true },
      { start: 0x1000, backing: new ArrayBuffer(0x2000) },
    ]);
    expect(() => makeConfig().validate(roLow)).not.toThrow();
    expect(errorName(() => makeConfig({ packed: true }).validate(roLow))).toBe('Queue.AreaOutOfMemoryError');
    // Two adjacent regions: an area straddling them is refused (rings must be in one region).
    const two = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x1800) },
      { start: 0x1800, backing: new ArrayBuffer(0x1800) },
    ]);
    expect(errorName(() => makeConfig({ size: 256, driver: 0x1700, device: 0x2000 }).validate(two))).toBe('Queue.AreaOutOfMemoryError');
  });

  it('validate re-checks size and alignment (a value kept from a failed write)', () => {
    const mem = makeMemory();
    const c = makeConfig();
    try {
      c.setSize(3);
    } catch {
      /* kept */
    }
    expect(errorName(() => c.validate(mem))).toBe('Queue.InvalidSizeError');
    c.setSize(8);
    try {
      c.setAreaLow('descTable', 8);
    } catch {
      /* kept */
    }
    expect(errorName(() => c.validate(mem))).toBe('Queue.MisalignedAreaError');
  });

  it('createVirtqueue refuses a configuration that is not ready, and validates', () => {
    const mem = makeMemory();
    const c = makeConfig();
    c.ready = false;
    expect(errorName(() => createVirtqueue(mem, c))).toBe('Queue.NotReadyError');
    expect(errorName(() => createVirtqueue(mem, makeConfig({ device: 0x1000 })))).toBe('Queue.OverlappingAreasError');
    expect(() => createVirtqueue(mem, {} as QueueConfig)).toThrow(TypeError);
    expect(createVirtqueue(mem, makeConfig({ packed: true })).format).toBe('packed');
    expect(createVirtqueue(mem, makeConfig()).format).toBe('split');
  });

  it('reset returns to the initial state', () => {
    const c = makeConfig({ eventIdx: true, packed: true });
    c.reset();
    expect(c.size).toBe(256);
    expect([c.ready, c.eventIdx, c.ringPacked, c.indirectDesc]).toEqual([false, false, false, false]);
    expect(c.descTable).toBe(0);
  });

  it('areaLength follows the format', () => {
    const c = makeConfig({ size: 16 });
    expect([c.areaLength('descTable'), c.areaLength('driverArea'), c.areaLength('deviceArea')]).toEqual([256, 38, 134]);
    c.ringPacked = true;
    expect([c.areaLength('descTable'), c.areaLength('driverArea'), c.areaLength('deviceArea')]).toEqual([256, 4, 4]);
  });
});

describe('restoreVirtqueue', () => {
  it('refuses states that describe an invalid configuration, with the cause', () => {
    const mem = makeMemory();
    const q = createVirtqueue(mem, makeConfig());
    const s = { ...q.saveState(), deviceArea: 0x1000 };
    try {
      restoreVirtqueue(mem, s, 256);
      throw new Error('no error');
    } catch (e) {
      expect(isQueueError(e, 'Queue.InvalidStateError')).toBe(true);
      expect(isQueueError((e as Error).cause, 'Queue.OverlappingAreasError')).toBe(true);
    }
    expect(errorName(() => restoreVirtqueue(mem, { ...q.saveState(), size: 512 }, 256))).toBe('Queue.InvalidStateError');
    expect(errorName(() => restoreVirtqueue(mem, null, 256))).toBe('Queue.InvalidStateError');
    expect(errorName(() => restoreVirtqueue(mem, { ...q.saveState(), descTable: '0x10' }, 256))).toBe('Queue.InvalidStateError');
  });
});
