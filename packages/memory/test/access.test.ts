import { describe, expect, it } from '@jest/globals';
import { GuestMemory, isGuestMemoryError, type OutOfBoundsError } from '@vmv/memory';
import { bytes, errName } from './helpers';

const ab = (n: number) => new ArrayBuffer(n);
const TOP = 2n ** 64n;

/** [0x1000, 0x2000) + [0x2000, 0x3000) adjacent, hole, [0x4000, 0x4100) read-only. */
function layout() {
  const a = ab(0x1000);
  const b = ab(0x1000);
  const c = ab(0x100);
  const mem = GuestMemory.fromRegions([
    { start: 0x1000, backing: a },
    { start: 0x2000, backing: b },
    { start: 0x4000, backing: c, readOnly: true },
  ]);
  return { mem, a: new Uint8Array(a), b: new Uint8Array(b), c: new Uint8Array(c) };
}

describe('golden little-endian layouts', () => {
  it('scalar writes produce the expected bytes', () => {
    const { mem, a } = layout();
    mem.writeU8(0x1000, 0x01);
    mem.writeU16(0x1002, 0x0302);
    mem.writeU32(0x1004, 0x07060504);
    mem.writeU64(0x1008, 0x0f0e0d0c0b0a0908n);
    mem.writeU64(0x1010, 0x1f_ffff_ffff_ffff);
    expect([...a.subarray(0, 0x18)]).toEqual([
      1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0,
    ]);
    expect(mem.readU64Number(0x1010)).toBe(Number.MAX_SAFE_INTEGER);
    expect(mem.readU64(0x1010)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
    expect(mem.readU64(0x1008)).toBe(0x0f0e0d0c0b0a0908n);
    expect(mem.readU32(0x1001)).toBe(0x04030200);
  });

  it('u64 number form: 2^53 is too large, the bigint form is exact', () => {
    const { mem } = layout();
    mem.writeU64(0x1000, 2n ** 53n);
    expect(errName(() => mem.readU64Number(0x1000))).toBe('GuestMemory.ValueTooLargeError');
    mem.writeU64(0x1000, 2n ** 64n - 1n);
    expect(mem.readU64(0x1000)).toBe(2n ** 64n - 1n);
    expect(mem.readU32(0x1004)).toBe(0xffffffff);
  });

  it('writeU64 rejects bad values', () => {
    const { mem } = layout();
    expect(() => mem.writeU64(0x1000, -1)).toThrow(RangeError);
    expect(() => mem.writeU64(0x1000, 2 ** 53)).toThrow(RangeError);
    expect(() => mem.writeU64(0x1000, 2n ** 64n)).toThrow(RangeError);
    expect(() => mem.writeU64(0x1000, -1n)).toThrow(RangeError);
    expect(() => mem.writeU64(0x1000, '1' as never)).toThrow(TypeError);
  });

  it('scalar writes reject bad values without writing', () => {
    const { mem, a } = layout();
    expect(() => mem.writeU8(0x1000, 1.5)).toThrow(RangeError);
    expect(() => mem.writeU16(0x1000, 0x10000)).toThrow(RangeError);
    expect(() => mem.writeU16(0x1000, -1)).toThrow(RangeError);
    expect(() => mem.writeU32(0x1000, 2 ** 32)).toThrow(RangeError);
    expect(() => mem.writeU32(0x1000, NaN)).toThrow(RangeError);
    expect(() => mem.writeU8(0x1000, '1' as never)).toThrow(TypeError);
    expect(a[0]).toBe(0);
  });
});

describe('accesses spanning regions', () => {
  it('scalars straddling two adjacent regions', () => {
    const { mem, a, b } = layout();
    mem.writeU32(0x1ffe, 0x44332211);
    expect([a[0xffe], a[0xfff], b[0], b[1]]).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect(mem.readU32(0x1ffe)).toBe(0x44332211);
    expect(mem.readU16(0x1fff)).toBe(0x3322);
    mem.writeU16(0x1fff, 0xbbaa);
    expect([a[0xfff], b[0]]).toEqual([0xaa, 0xbb]);
    mem.writeU64(0x1ffc, 0x0807060504030201n);
    expect(mem.readU64(0x1ffc)).toBe(0x0807060504030201n);
    expect(errName(() => mem.readU64Number(0x1ffc))).toBe('GuestMemory.ValueTooLargeError');
    mem.writeU64(0x1ffc, 0x1_0000_0001);
    expect(mem.readU64Number(0x1ffc)).toBe(0x1_0000_0001);
  });

  it('read/write/fill across the boundary', () => {
    const { mem, a, b } = layout();
    mem.write(0x1ff8, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));
    expect([...a.subarray(0xff8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...b.subarray(0, 8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    const out = new Uint8Array(16);
    mem.read(0x1ff8, out);
    expect([...out]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    mem.fill(0x1ffc, 8, 0xee);
    expect([...a.subarray(0xffc)]).toEqual([0xee, 0xee, 0xee, 0xee]);
    expect([...b.subarray(0, 5)]).toEqual([0xee, 0xee, 0xee, 0xee, 13]);
    // big copies across the boundary
    const big = new Uint8Array(0x1800).map((_, i) => i & 0xff);
    mem.write(0x1800, big);
    const back = new Uint8Array(0x1800);
    mem.read(0x1800, back);
    expect(back).toEqual(big);
  });

  it('crossing a hole fails before writing anything', () => {
    const { mem, b } = layout();
    b.fill(0x55);
    expect(errName(() => mem.write(0x2ffc, new Uint8Array(8).fill(1)))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.fill(0x2ff0, 0x20, 1))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.writeU64(0x2ffc, 1n))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.writeU32(0x2ffe, 1))).toBe('GuestMemory.OutOfBoundsError');
    expect(b.every((x) => x === 0x55)).toBe(true);
    expect(errName(() => mem.read(0x2ffc, new Uint8Array(8)))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.readU32(0x2ffe))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.readU64(0x2ffe))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('reports the first unreachable address', () => {
    const { mem } = layout();
    try {
      mem.read(0x1ff0, new Uint8Array(0x2000));
    } catch (e) {
      expect(isGuestMemoryError(e, 'GuestMemory.OutOfBoundsError')).toBe(true);
      const err = e as OutOfBoundsError;
      expect(err.code).toBe('OUT_OF_BOUNDS');
      expect([err.operation, err.address, err.length, err.badAddress]).toEqual(['read', 0x1ff0n, 0x2000, 0x3000n]);
      expect(err.message).toContain('0x3000');
      expect(err.shortMessage).toBe(err.message);
    }
    expect.assertions(5);
  });

  it('read-only regions: reads work, writes fail and change nothing', () => {
    const { mem, c } = layout();
    c[0] = 9;
    expect(mem.readU8(0x4000)).toBe(9);
    for (const f of [
      () => mem.writeU8(0x4000, 1),
      () => mem.writeU16(0x4000, 1),
      () => mem.writeU32(0x4000, 1),
      () => mem.writeU64(0x4000, 1),
      () => mem.write(0x4000, bytes(1)),
      () => mem.fill(0x4000, 1, 1),
      () => mem.view(0x4000, 1, 'write'),
      () => mem.atomicStoreU16(0x4000, 1),
      () => mem.atomicStoreU32(0x4000, 1),
    ]) {
      expect(errName(f)).toBe('GuestMemory.ReadOnlyError');
    }
    expect(c[0]).toBe(9);
    expect(mem.view(0x4000, 4)[0]).toBe(9);
  });

  it('a write spanning a writable and a read-only region writes nothing', () => {
    const a = ab(16);
    const b = ab(16);
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: a },
      { start: 16, backing: b, readOnly: true },
    ]);
    expect(errName(() => mem.write(8, new Uint8Array(16).fill(1)))).toBe('GuestMemory.ReadOnlyError');
    expect(errName(() => mem.writeU32(14, 0xffffffff))).toBe('GuestMemory.ReadOnlyError');
    expect(new Uint8Array(a).every((x) => x === 0)).toBe(true);
    expect(mem.checkRange(8, 16)).toBe(true);
    expect(mem.checkRange(8, 16, 'write')).toBe(false);
    expect(mem.checkRange(0, 16, 'write')).toBe(true);
  });
});

describe('64-bit addresses', () => {
  const mem = GuestMemory.fromRegions([
    { start: 2n ** 53n - 8n, backing: ab(16) }, // straddles 2^53
    { start: TOP - 0x20n, backing: ab(0x20) }, // ends at 2^64
  ]);

  it('handles addresses at and above 2^53 as bigints', () => {
    mem.writeU64(2n ** 53n - 4n, 0x1122334455667788n);
    expect(mem.readU64(2n ** 53n - 4n)).toBe(0x1122334455667788n);
    expect(mem.readU32(2n ** 53n)).toBe(0x11223344);
    expect(mem.readU32(Number.MAX_SAFE_INTEGER - 3)).toBe(0x55667788);
    mem.writeU8(2n ** 53n + 7n, 0xab);
    expect(mem.readU8(2n ** 53n + 7n)).toBe(0xab);
    expect(errName(() => mem.readU8(2n ** 53n + 8n))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('reads and writes the very last byte of the address space', () => {
    mem.writeU8(TOP - 1n, 0x7f);
    expect(mem.readU8(TOP - 1n)).toBe(0x7f);
    mem.writeU32(TOP - 4n, 0xa1b2c3d4);
    expect(mem.readU32(TOP - 4n)).toBe(0xa1b2c3d4);
    mem.writeU64(TOP - 8n, 5);
    expect(mem.readU64Number(TOP - 8n)).toBe(5);
    const out = new Uint8Array(0x20);
    mem.read(TOP - 0x20n, out);
    expect(out[0x18]).toBe(5);
    expect(mem.checkRange(TOP - 0x20n, 0x20)).toBe(true);
    expect(mem.view(TOP - 2n, 2).length).toBe(2);
  });

  it('accesses beyond 2^64 are AddressOverflowError', () => {
    expect(errName(() => mem.readU16(TOP - 1n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.readU32(TOP - 3n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.readU64(TOP - 7n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.readU64Number(TOP - 1n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.writeU64(TOP - 1n, 0n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.read(TOP - 4n, new Uint8Array(5)))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.write(TOP - 4n, new Uint8Array(5)))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.fill(TOP - 1n, 2))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.view(TOP - 1n, 2))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.atomicLoadU32(TOP - 2n))).toBe('GuestMemory.AddressOverflowError');
    expect(errName(() => mem.markDirty(TOP - 1n, 2))).toBe('GuestMemory.AddressOverflowError');
    expect(mem.checkRange(TOP - 1n, 2)).toBe(false);
    // even where nothing is mapped, overflow is reported first
    expect(errName(() => mem.read(TOP - 0x100n, new Uint8Array(0x101)))).toBe('GuestMemory.AddressOverflowError');
  });
});

describe('byte ranges', () => {
  it('zero-length accesses succeed anywhere and touch nothing', () => {
    const { mem } = layout();
    mem.read(0, new Uint8Array(0));
    mem.write(TOP - 1n, new Uint8Array(0));
    mem.fill(0x9999, 0);
    expect(mem.view(0, 0).length).toBe(0);
    expect(mem.checkRange(0, 0, 'write')).toBe(true);
    expect(mem.checkRange(0x4000, 0, 'write')).toBe(true);
  });

  it('copies of every small length into and out of a host buffer offset', () => {
    const { mem } = layout();
    for (let n = 0; n <= 40; n++) {
      const src = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
      mem.write(0x1100 + n * 64, src);
      const dst = new Uint8Array(n);
      mem.read(0x1100 + n * 64, dst);
      expect(dst).toEqual(src);
      const sub = new Uint8Array(n + 3).subarray(3);
      mem.read(0x1100 + n * 64, sub);
      expect(sub).toEqual(src);
    }
  });

  it('accepts subarrays, Int8Array and Node Buffers as byte buffers; rejects other views', () => {
    const { mem } = layout();
    mem.write(0x1000, Int8Array.from([-1, 2]) as unknown as Uint8Array);
    expect(mem.readU16(0x1000)).toBe(0x02ff);
    const b = Buffer.alloc(2);
    mem.read(0x1000, b);
    expect([...b]).toEqual([0xff, 2]);
    const clamped = new Uint8ClampedArray(16);
    mem.write(0x1000, Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i));
    mem.read(0x1000, clamped as unknown as Uint8Array);
    expect([...clamped]).toEqual(Array.from({ length: 16 }, (_, i) => 0xf0 + i));
    const signed = new Int8Array(5);
    mem.read(0x1000, signed as unknown as Uint8Array);
    expect([...new Uint8Array(signed.buffer)]).toEqual([0xf0, 0xf1, 0xf2, 0xf3, 0xf4]);
    mem.write(0x1000, Int8Array.from({ length: 16 }, (_, i) => -1 - i) as unknown as Uint8Array);
    expect(mem.readU32(0x100c)).toBe(0xf0f1f2f3);
    mem.write(0x1000, Int8Array.from([-2, -3, -4]) as unknown as Uint8Array);
    expect(mem.readU32(0x1000)).toBe(0xfcfcfdfe);
    expect(() => mem.read(0x1000, new Uint16Array(2) as never)).toThrow(TypeError);
    expect(() => mem.write(0x1000, [1, 2] as never)).toThrow(TypeError);
    expect(() => mem.read(0x1000, null as never)).toThrow(TypeError);
  });

  it('copies are correct when the host buffer aliases guest memory', () => {
    const a = ab(64);
    const b = ab(64);
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: a },
      { start: 64, backing: b },
    ]);
    const ref = new Uint8Array(128).map((_, i) => i);
    const fillRef = () => mem.write(0, ref);
    // overlapping forward and backward, within one region and across both
    for (const [from, to, n] of [
      [0, 4, 16],
      [4, 0, 16],
      [0, 8, 40],
      [56, 60, 8],
      [60, 56, 8],
      [40, 48, 40],
      [48, 40, 40],
      [0, 1, 100],
      [1, 0, 100],
    ] as const) {
      fillRef();
      const expected = ref.slice();
      expected.copyWithin(to, from, from + n);
      // read guest bytes [from, from+n) into a view of guest bytes [to, to+n) (when in one region)
      if (to + n <= 64 || to >= 64) {
        const view = mem.view(to, n, 'write');
        mem.read(from, view);
        const got = new Uint8Array(128);
        mem.read(0, got);
        expect([from, to, n, [...got]]).toEqual([from, to, n, [...expected]]);
        fillRef();
      }
      // write from a view of guest bytes [from, from+n) (when in one region) to [to, to+n)
      if (from + n <= 64 || from >= 64) {
        mem.write(to, mem.view(from, n));
        const got = new Uint8Array(128);
        mem.read(0, got);
        expect([from, to, n, 'w', [...got]]).toEqual([from, to, n, 'w', [...expected]]);
      }
    }
  });

  it('fill validates its arguments', () => {
    const { mem } = layout();
    expect(() => mem.fill(0x1000, -1)).toThrow(RangeError);
    expect(() => mem.fill(0x1000, 1.5)).toThrow(RangeError);
    expect(() => mem.fill(0x1000, '1' as never)).toThrow(TypeError);
    expect(() => mem.fill(0x1000, 1, 256)).toThrow(RangeError);
    mem.fill(0x1000, 4, 0xff);
    expect(mem.readU32(0x1000)).toBe(0xffffffff);
    mem.fill(0x1000, 2);
    expect(mem.readU32(0x1000)).toBe(0xffff0000);
  });
});

describe('view', () => {
  it('is zero-copy and aliases guest memory', () => {
    const { mem, a } = layout();
    const v = mem.view(0x1010, 4, 'write');
    v[0] = 0x42;
    expect(a[0x10]).toBe(0x42);
    a[0x11] = 0x43;
    expect(v[1]).toBe(0x43);
    expect(v.buffer).toBe(a.buffer);
    expect(v.byteOffset).toBe(0x10);
  });

  it('refuses a range backed by two regions with NotContiguousError', () => {
    const { mem } = layout();
    expect(errName(() => mem.view(0x1ffc, 8))).toBe('GuestMemory.NotContiguousError');
    expect(errName(() => mem.view(0x2ffc, 8))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.view(0x3000, 1))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('validates its arguments', () => {
    const { mem } = layout();
    expect(() => mem.view(0x1000, -1)).toThrow(RangeError);
    expect(() => mem.view(0x1000, 1, 'exec' as never)).toThrow(TypeError);
    expect(() => mem.checkRange(0x1000, 1, 'exec' as never)).toThrow(TypeError);
    expect(() => mem.checkRange(-1, 1)).toThrow(RangeError);
  });
});

describe('checkRange and findRegion', () => {
  it('agree with the accesses', () => {
    const { mem } = layout();
    expect(mem.checkRange(0x1000, 0x2000)).toBe(true);
    expect(mem.checkRange(0x1000, 0x2001)).toBe(false);
    expect(mem.checkRange(0xfff, 1)).toBe(false);
    expect(mem.checkRange(0x4000, 0x100)).toBe(true);
    expect(mem.checkRange(0x4000, 0x100, 'write')).toBe(false);
    expect(mem.checkRange(0x4000n, 0x101)).toBe(false);
    expect(mem.findRegion(0x2fff)).toBe(mem.regions[1]);
    expect(mem.findRegion(0x3000)).toBeUndefined();
    expect(mem.findRegion(0)).toBeUndefined();
    expect(mem.findRegion(TOP - 1n)).toBeUndefined();
  });
});

describe('embedder misuse of addresses', () => {
  const { mem } = layout();
  it.each([
    ['readU8', (a: never) => mem.readU8(a)],
    ['readU16', (a: never) => mem.readU16(a)],
    ['readU32', (a: never) => mem.readU32(a)],
    ['readU64', (a: never) => mem.readU64(a)],
    ['readU64Number', (a: never) => mem.readU64Number(a)],
    ['writeU8', (a: never) => mem.writeU8(a, 0)],
    ['writeU16', (a: never) => mem.writeU16(a, 0)],
    ['writeU32', (a: never) => mem.writeU32(a, 0)],
    ['writeU64', (a: never) => mem.writeU64(a, 0)],
    ['read', (a: never) => mem.read(a, new Uint8Array(1))],
    ['write', (a: never) => mem.write(a, new Uint8Array(1))],
    ['fill', (a: never) => mem.fill(a, 1)],
    ['view', (a: never) => mem.view(a, 1)],
    ['checkRange', (a: never) => mem.checkRange(a, 1)],
    ['atomicLoadU16', (a: never) => mem.atomicLoadU16(a)],
    ['atomicLoadU32', (a: never) => mem.atomicLoadU32(a)],
    ['atomicStoreU16', (a: never) => mem.atomicStoreU16(a, 0)],
    ['atomicStoreU32', (a: never) => mem.atomicStoreU32(a, 0)],
    ['findRegion', (a: never) => mem.findRegion(a)],
    ['markDirty', (a: never) => mem.markDirty(a, 1)],
  ])('%s: RangeError for bad numbers and bigints, TypeError for other types', (_name, f) => {
    for (const bad of [-1, 4096.5, NaN, Infinity, 2 ** 53, -1n, 2n ** 64n]) expect(() => f(bad as never)).toThrow(RangeError);
    for (const bad of ['0x1000', null, undefined, {}]) expect(() => f(bad as never)).toThrow(TypeError);
  });
});

describe('16-byte copies through a reused host buffer', () => {
  it('a buffer reused for reads and writes copies the right bytes, with dirty marks, across regions', () => {
    const a = new ArrayBuffer(0x1000);
    const b = new ArrayBuffer(0x1000);
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: a, dirtyPageSize: 64 },
      { start: 0x1000, backing: b },
    ]);
    const hdr = new Uint8Array(16);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 16; i++) hdr[i] = (round * 16 + i * 7) & 0xff;
      mem.write(0x40 + round * 16, hdr);
      mem.write(0x1100 + round * 16, hdr); // the other region: the cached buffer goes through its slow path too
    }
    expect(Array.from(new Uint8Array(a, 0x60, 16))).toEqual(Array.from({ length: 16 }, (_, i) => (32 + i * 7) & 0xff));
    expect(Array.from(new Uint8Array(b, 0x120, 16))).toEqual(Array.from({ length: 16 }, (_, i) => (32 + i * 7) & 0xff));
    mem.write(0xb0, hdr); // the cached path marks its page too
    expect(Array.from(mem.takeDirtyLog()[0]!.bitmap)[0]).toBe(0b110); // pages 1 (0x40..0x6f) and 2 (0xb0..0xbf)
    const out = new Uint8Array(16);
    mem.read(0x40, out);
    expect(Array.from(out)).toEqual(Array.from({ length: 16 }, (_, i) => (i * 7) & 0xff));
    mem.read(0x50, out);
    expect(Array.from(out)).toEqual(Array.from({ length: 16 }, (_, i) => (16 + i * 7) & 0xff));
    // a range crossing the region boundary, and one past the end, with the cached buffer
    new Uint8Array(a).fill(0xaa, 0xff8);
    new Uint8Array(b).fill(0xbb, 0, 8);
    mem.read(0xff8, out);
    expect(Array.from(out)).toEqual([...Array(8).fill(0xaa), ...Array(8).fill(0xbb)]);
    expect(() => mem.read(0x1ff8, out)).toThrow(expect.objectContaining({ name: 'GuestMemory.OutOfBoundsError' }));
    expect(() => mem.write(0x1ff8, out)).toThrow(expect.objectContaining({ name: 'GuestMemory.OutOfBoundsError' }));
  });

  it('a buffer aliasing guest memory (a view of the same backing) copies as if through a temporary', () => {
    const backing = new ArrayBuffer(0x100);
    const mem = GuestMemory.fromRegions([{ start: 0, backing }]);
    const u8 = new Uint8Array(backing);
    for (let i = 0; i < 0x100; i++) u8[i] = i;
    const alias = new Uint8Array(backing, 8, 16); // guest bytes 8..23
    mem.read(0, alias); // cached, then again through the cached path
    expect(Array.from(u8.subarray(8, 24))).toEqual(Array.from({ length: 16 }, (_, i) => i));
    mem.read(4, alias);
    expect(Array.from(u8.subarray(8, 24))).toEqual([4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    mem.write(12, alias);
    expect(Array.from(u8.subarray(12, 28))).toEqual([4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('a cached buffer that was detached or shrank is treated by its new length', () => {
    const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x100) }]);
    const host = new ArrayBuffer(16);
    const buf = new Uint8Array(host);
    mem.read(0, buf);
    mem.read(0, buf);
    structuredClone(host, { transfer: [host] }); // detaches `host`
    expect(buf.length).toBe(0);
    mem.read(0x10, buf); // zero bytes: nothing to do
    mem.write(0x10, buf);
    type Resizable = ArrayBuffer & { resize(n: number): void };
    const Ctor = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable;
    const rab = new Ctor(16, { maxByteLength: 32 });
    if (typeof rab.resize !== 'function') return; // this engine has no resizable buffers
    const tracking = new Uint8Array(rab);
    new Uint8Array(mem.regions[0]!.backing as ArrayBuffer).fill(9, 0x20, 0x40);
    mem.read(0x20, tracking);
    rab.resize(8);
    mem.read(0x20, tracking); // now 8 bytes long
    expect(tracking.length).toBe(8);
    rab.resize(16);
    tracking.fill(0);
    mem.read(0x20, tracking);
    expect(Array.from(tracking)).toEqual(Array(16).fill(9));
  });
});
