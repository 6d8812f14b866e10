import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isBusError, MMIO_ADDRESS_MAX, MmioRange, PioRange, toMmioBigInt, checkPioAddress } from '@vmv/bus';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('PioRange', () => {
  it('holds [base, base + size - 1]', () => {
    const r = new PioRange(0x3f8, 8);
    expect([r.space, r.base, r.size, r.last]).toEqual(['pio', 0x3f8, 8, 0x3ff]);
    expect(String(r)).toBe('pio[0x3f8..0x3ff]');
    expect(r.contains(0x3f8)).toBe(true);
    expect(r.contains(0x3ff)).toBe(true);
    expect(r.contains(0x400)).toBe(false);
    expect(r.contains(0x3f7)).toBe(false);
    expect(new PioRange(0xffff, 1).last).toBe(0xffff);
    expect(new PioRange(0, 0x10000).last).toBe(0xffff);
  });

  it('refuses a zero size and an end beyond 0xffff with Bus.InvalidRangeError', () => {
    const e = thrown(() => new PioRange(0x10, 0));
    expect(isBusError(e, 'Bus.InvalidRangeError')).toBe(true);
    expect((e as { code: string }).code).toBe('INVALID_RANGE');
    expect(isBusError(thrown(() => new PioRange(0xfff0, 0x11)), 'Bus.InvalidRangeError')).toBe(true);
    expect(isBusError(thrown(() => new PioRange(0x10000, 1)), 'Bus.InvalidRangeError')).toBe(true);
    expect(isBusError(thrown(() => new PioRange(0, 0x10001)), 'Bus.InvalidRangeError')).toBe(true);
  });

  it('throws RangeError for embedder misuse', () => {
    expect(() => new PioRange(-1, 1)).toThrow(RangeError);
    expect(() => new PioRange(1.5, 1)).toThrow(RangeError);
    expect(() => new PioRange(0, -1)).toThrow(RangeError);
    expect(() => new PioRange('1' as unknown as number, 1)).toThrow(RangeError);
    expect(() => new PioRange(0, 1).contains(0x10000)).toThrow(RangeError);
    expect(() => checkPioAddress('x', 'lbl')).toThrow(/lbl: PIO address must be a number/);
  });

  it('property: contains/overlaps agree with set arithmetic', () => {
    const arb = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 64 })).filter(([b, s]) => b + s <= 0x10000);
    fc.assert(
      fc.property(arb, arb, fc.integer({ min: 0, max: 0xffff }), ([b1, s1], [b2, s2], a) => {
        const r1 = new PioRange(b1, s1);
        const r2 = new PioRange(b2, s2);
        expect(r1.contains(a)).toBe(a >= b1 && a < b1 + s1);
        let shared = false;
        for (let x = b1; x < b1 + s1; x++) if (x >= b2 && x < b2 + s2) shared = true;
        expect(r1.overlaps(r2)).toBe(shared);
        expect(r2.overlaps(r1)).toBe(shared);
      }),
      { numRuns: 300 },
    );
  });

  it('property: any (base, size) either builds a range ending inside the space or throws InvalidRangeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x1ffff }), fc.integer({ min: 0, max: 0x1ffff }), (b, s) => {
        try {
          const r = new PioRange(b, s);
          expect(s).toBeGreaterThan(0);
          expect(r.last).toBe(b + s - 1);
          expect(r.last).toBeLessThanOrEqual(0xffff);
        } catch (e) {
          expect(isBusError(e, 'Bus.InvalidRangeError')).toBe(true);
          expect(s === 0 || b + s > 0x10000).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('MmioRange', () => {
  it('keeps bounds as bigints and accepts numbers or bigints', () => {
    const r = new MmioRange(0xd000_0000, 0x200);
    expect([r.space, r.base, r.size, r.last]).toEqual(['mmio', 0xd000_0000n, 0x200n, 0xd000_01ffn]);
    expect(String(r)).toBe('mmio[0xd0000000..0xd00001ff]');
    expect(r.contains(0xd000_01ff)).toBe(true);
    expect(r.contains(0xd000_0200n)).toBe(false);
    const top = new MmioRange(MMIO_ADDRESS_MAX, 1n);
    expect(top.last).toBe(MMIO_ADDRESS_MAX);
    expect(new MmioRange(0, 1n << 64n).last).toBe(MMIO_ADDRESS_MAX);
  });

  it('refuses a zero size and an end beyond 2^64 - 1', () => {
    expect(isBusError(thrown(() => new MmioRange(0, 0)), 'Bus.InvalidRangeError')).toBe(true);
    expect(isBusError(thrown(() => new MmioRange(0, 0n)), 'Bus.InvalidRangeError')).toBe(true);
    expect(isBusError(thrown(() => new MmioRange(MMIO_ADDRESS_MAX, 2n)), 'Bus.InvalidRangeError')).toBe(true);
    expect(isBusError(thrown(() => new MmioRange(1n, 1n << 64n)), 'Bus.InvalidRangeError')).toBe(true);
  });

  it('throws TypeError/RangeError for embedder misuse', () => {
    expect(() => new MmioRange(-1, 1)).toThrow(RangeError);
    expect(() => new MmioRange(2 ** 53, 1)).toThrow(RangeError);
    expect(() => new MmioRange(1n << 64n, 1)).toThrow(RangeError);
    expect(() => new MmioRange(0, -1n)).toThrow(RangeError);
    expect(() => new MmioRange(0, 0.5)).toThrow(RangeError);
    expect(() => new MmioRange('0' as unknown as number, 1)).toThrow(TypeError);
    expect(() => toMmioBigInt(null, 'x')).toThrow(TypeError);
  });

  it('property: overlaps agrees with interval arithmetic over the whole 64-bit space', () => {
    const big = fc.bigInt({ min: 0n, max: MMIO_ADDRESS_MAX });
    const arb = fc.tuple(big, fc.bigInt({ min: 1n, max: 1n << 40n })).filter(([b, s]) => b + s - 1n <= MMIO_ADDRESS_MAX);
    fc.assert(
      fc.property(arb, arb, ([b1, s1], [b2, s2]) => {
        const r1 = new MmioRange(b1, s1);
        const r2 = new MmioRange(b2, s2);
        const expected = !(b1 + s1 - 1n < b2 || b2 + s2 - 1n < b1);
        expect(r1.overlaps(r2)).toBe(expected);
        expect(r1.contains(b2)).toBe(b2 >= b1 && b2 <= b1 + s1 - 1n);
      }),
      { numRuns: 300 },
    );
  });
});
