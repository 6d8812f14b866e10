import { describe, expect, it } from '@jest/globals';
import { GuestMemory, isGuestMemoryError, MAX_GUEST_ADDRESS, type GuestMemoryErrorName } from '@vmv/memory';

function errName(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).name;
  }
  return 'none';
}

describe('GuestMemory: single region basics', () => {
  const mem = GuestMemory.fromRegions([{ start: 0x1000, backing: new ArrayBuffer(0x1000) }]);

  it('reads back what it writes, little-endian', () => {
    mem.writeU32(0x1010, 0x11223344);
    expect(mem.readU8(0x1010)).toBe(0x44);
    expect(mem.readU16(0x1010)).toBe(0x3344);
    expect(mem.readU32(0x1010)).toBe(0x11223344);
    mem.writeU64(0x1020, 0x0102030405060708n);
    expect(mem.readU64(0x1020)).toBe(0x0102030405060708n);
    expect(errName(() => mem.readU64Number(0x1020))).toBe('GuestMemory.ValueTooLargeError');
    mem.writeU64(0x1028, 2 ** 53 - 1);
    expect(mem.readU64Number(0x1028)).toBe(2 ** 53 - 1);
    const b = new Uint8Array(8);
    mem.read(0x1020, b);
    expect([...b]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('rejects accesses outside the region with OutOfBoundsError', () => {
    expect(errName(() => mem.readU8(0xfff))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.readU32(0x1ffd))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.readU8(0x2000))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.readU8(0x2000))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('accepts bigint addresses', () => {
    mem.writeU16(0x1100n, 0xbeef);
    expect(mem.readU16(0x1100n)).toBe(0xbeef);
  });

  it('throws RangeError / TypeError for embedder misuse', () => {
    expect(() => mem.readU8(-1)).toThrow(RangeError);
    expect(() => mem.readU8(1.5)).toThrow(RangeError);
    expect(() => mem.readU8(2 ** 64 as number)).toThrow(RangeError);
    expect(() => mem.readU8(2n ** 64n)).toThrow(RangeError);
    expect(() => mem.readU8('1' as unknown as number)).toThrow(TypeError);
    expect(() => mem.writeU8(0x1000, 256)).toThrow(RangeError);
    expect(() => mem.writeU32(0x1000, -1)).toThrow(RangeError);
  });

  it('guards by name', () => {
    try {
      mem.readU8(0);
    } catch (e) {
      const n: GuestMemoryErrorName = 'GuestMemory.OutOfBoundsError';
      expect(isGuestMemoryError(e, n)).toBe(true);
      expect(isGuestMemoryError(e)).toBe(true);
      expect(isGuestMemoryError(new Error('x'))).toBe(false);
    }
  });
});

describe('constants', () => {
  it('MAX_GUEST_ADDRESS is 2^64 - 1', () => {
    expect(MAX_GUEST_ADDRESS).toBe(2n ** 64n - 1n);
  });
});
