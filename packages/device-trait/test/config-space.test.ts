import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ConfigSpace } from '@vmv/device-trait';

describe('ConfigSpace', () => {
  it('stores little-endian fields (golden bytes)', () => {
    const c = new ConfigSpace(16);
    c.setU64(0, 0x0102030405060708n);
    c.setU32(8, 0xaabbccdd);
    c.setU16(12, 0x1234);
    c.setU8(14, 0x7f);
    expect(Array.from(c.bytes)).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0xdd, 0xcc, 0xbb, 0xaa, 0x34, 0x12, 0x7f, 0]);
    expect(c.getU64(0)).toBe(0x0102030405060708n);
    expect(c.getU32(8)).toBe(0xaabbccdd);
    expect(c.getU16(12)).toBe(0x1234);
    expect(c.getU8(14)).toBe(0x7f);
  });

  it('reads at any offset and width; bytes past the end read as zero', () => {
    const c = new ConfigSpace(4);
    c.setU32(0, 0x04030201);
    const out = new Uint8Array(4).fill(0xee);
    c.read(2, out);
    expect(Array.from(out)).toEqual([3, 4, 0, 0]);
    c.read(9, out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
    c.read(-1, out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });

  it('applies driver writes only inside writable fields', () => {
    const c = new ConfigSpace(8);
    c.allowWrite(4, 1);
    expect(c.write(4, Uint8Array.of(1))).toBe(true);
    expect(c.getU8(4)).toBe(1);
    expect(c.write(3, Uint8Array.of(9, 9))).toBe(false);
    expect(c.write(4, Uint8Array.of(9, 9))).toBe(false);
    expect(c.write(8, Uint8Array.of(9))).toBe(false);
    expect(c.write(4, new Uint8Array(0))).toBe(false);
    expect(Array.from(c.bytes)).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('never lets a driver write change a read-only byte (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70 }), fc.uint8Array({ minLength: 0, maxLength: 9 }), (off, data) => {
        const c = new ConfigSpace(64);
        c.allowWrite(32, 4);
        const before = c.bytes.slice();
        const applied = c.write(off, data);
        for (let i = 0; i < 64; i++) if (i < 32 || i >= 36) expect(c.bytes[i]).toBe(before[i]);
        if (applied) expect(Array.from(c.bytes.subarray(off, off + data.length))).toEqual(Array.from(data));
      }),
    );
  });

  it('throws labelled RangeErrors for embedder misuse', () => {
    expect(() => new ConfigSpace(5000)).toThrow(RangeError);
    const c = new ConfigSpace(4);
    expect(() => c.setU64(0, 1n)).toThrow(/outside/);
    expect(() => c.setU8(0, 256)).toThrow(RangeError);
    expect(() => c.setU16(0, -1)).toThrow(RangeError);
    expect(() => c.setU32(0, 1.5)).toThrow(RangeError);
    expect(() => c.allowWrite(3, 2)).toThrow(RangeError);
    const d = new ConfigSpace(8);
    expect(() => d.setU64(0, -1n)).toThrow(RangeError);
    expect(() => d.setU64(0, 2 ** 60)).toThrow(RangeError);
    expect(c.size).toBe(4);
  });
});
