import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { DescFlags, createVirtqueue, isQueueError } from '@vmv/queue';
import type { DescriptorChain } from '@vmv/queue';
import { errorName, makeConfig, makeMemory, publish, writeSplitDesc } from './helpers';

const { NEXT, WRITE } = DescFlags;

/** A chain of readable pieces of the given lengths, then writable pieces. */
function chainOf(readable: number[], writable: number[]) {
  const mem = makeMemory();
  const all = [...readable.map((l) => [l, 0]), ...writable.map((l) => [l, WRITE])] as [number, number][];
  let addr = 0x10000;
  const addrs: number[] = [];
  all.forEach(([len, f], i) => {
    writeSplitDesc(mem, 0, i, addr, len, f | (i + 1 < all.length ? NEXT : 0), i + 1);
    addrs.push(addr);
    addr += len + 0x100; // gaps between buffers
  });
  publish(mem, 0x1000, 16, 0, [0]);
  const q = createVirtqueue(mem, makeConfig({ size: 16 }));
  return { mem, q, chain: q.pop()!, addrs };
}

describe('Reader', () => {
  it('reads little-endian integers across descriptor boundaries and zero-length buffers', () => {
    const { mem, chain, addrs } = chainOf([3, 0, 2, 1, 8, 9], []);
    const bytes = [...Array.from({ length: 15 }, (_, i) => i + 1), 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0];
    const lens = [3, 0, 2, 1, 8, 9];
    let k = 0;
    lens.forEach((l, i) => {
      for (let j = 0; j < l; j++) mem.writeU8(addrs[i]! + j, bytes[k++]!);
    });
    const r = chain.reader();
    expect(r.remaining).toBe(23);
    expect(r.readU16()).toBe(0x0201);
    expect(r.readU32()).toBe(0x06050403);
    expect(r.readU8()).toBe(7);
    expect(r.readU64()).toBe(0x0f0e0d0c0b0a0908n);
    expect(r.consumed).toBe(15);
    expect(r.readU64Number()).toBe(Number(0x16151413121110n));
    expect(r.remaining).toBe(0);
    expect(errorName(() => r.readU8())).toBe('Queue.BufferTooShortError');
  });

  it('reads ranges, views and skips', () => {
    const { mem, chain, addrs } = chainOf([4, 4], [8]);
    mem.write(addrs[0]!, Uint8Array.of(1, 2, 3, 4));
    mem.write(addrs[1]!, Uint8Array.of(5, 6, 7, 8));
    const r = chain.reader();
    expect(r.view(2)).toEqual(Uint8Array.of(1, 2));
    expect(r.view(4)).toBeNull(); // spans two buffers: nothing consumed
    expect(r.remaining).toBe(6);
    expect(r.readBytes(4)).toEqual(Uint8Array.of(3, 4, 5, 6));
    const dst = new Uint8Array(2);
    r.read(dst);
    expect(dst).toEqual(Uint8Array.of(7, 8));
    expect(r.view(0)).toEqual(new Uint8Array(0));
    const r2 = chain.reader();
    r2.skip(3);
    expect(r2.views().map((v) => Array.from(v))).toEqual([[4], [5, 6, 7, 8]]);
    expect(errorName(() => chain.reader().skip(9))).toBe('Queue.BufferTooShortError');
    expect(errorName(() => chain.reader().read(new Uint8Array(9)))).toBe('Queue.BufferTooShortError');
    expect(() => chain.reader().skip(-1)).toThrow(RangeError);
    expect(() => chain.reader().read([] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('a failed read consumes nothing', () => {
    const { chain } = chainOf([3], []);
    const r = chain.reader();
    expect(errorName(() => r.readU32())).toBe('Queue.BufferTooShortError');
    expect(r.remaining).toBe(3);
    expect(r.consumed).toBe(0);
  });

  it('splits: this keeps the first bytes, the other gets the rest', () => {
    const { mem, chain, addrs } = chainOf([5, 5], []);
    for (let i = 0; i < 5; i++) {
      mem.writeU8(addrs[0]! + i, i);
      mem.writeU8(addrs[1]! + i, 5 + i);
    }
    const a = chain.reader();
    a.skip(1);
    const b = a.split(6);
    expect(a.remaining).toBe(6);
    expect(b.remaining).toBe(3);
    expect(b.consumed).toBe(0);
    expect(Array.from(a.readBytes(6))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(b.readBytes(3))).toEqual([7, 8, 9]);
    expect(errorName(() => a.readU8())).toBe('Queue.BufferTooShortError');
    expect(errorName(() => chain.reader().split(11))).toBe('Queue.BufferTooShortError');
  });

  it('readU64Number refuses values above 2^53-1', () => {
    const { mem, chain, addrs } = chainOf([8], []);
    mem.writeU64(addrs[0]!, 2n ** 60n);
    expect(errorName(() => chain.reader().readU64Number())).toBe('GuestMemory.ValueTooLargeError');
  });

  it('covers only the readable part', () => {
    const { chain } = chainOf([2], [4]);
    const r = chain.reader();
    expect(r.remaining).toBe(2);
    r.skip(2);
    expect(errorName(() => r.readU8())).toBe('Queue.BufferTooShortError');
  });
});

describe('Writer', () => {
  it('writes integers and ranges across boundaries; written counts them', () => {
    const { mem, chain, addrs } = chainOf([4], [3, 0, 5, 20]);
    const w = chain.writer();
    expect(w.remaining).toBe(28);
    w.writeU16(0x0201);
    w.writeU32(0x06050403);
    w.writeU8(7);
    w.writeU64(0x0f0e0d0c0b0a0908n);
    w.write(Uint8Array.of(16, 17));
    w.fill(3, 0xee);
    w.writeU64(5);
    expect(w.written).toBe(28);
    const got = [...Array.from({ length: 3 }, (_, i) => mem.readU8(addrs[1]! + i)), ...Array.from({ length: 5 }, (_, i) => mem.readU8(addrs[3]! + i))];
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(mem.readU8(addrs[4]!)).toBe(9);
    expect(mem.readU8(addrs[4]! + 7)).toBe(16);
    expect(mem.readU8(addrs[4]! + 10)).toBe(0xee);
    expect(errorName(() => w.writeU8(0))).toBe('Queue.BufferTooShortError');
  });

  it('a write that does not fit writes nothing', () => {
    const { mem, chain, addrs } = chainOf([], [2, 2]);
    const w = chain.writer();
    expect(errorName(() => w.write(Uint8Array.of(1, 2, 3, 4, 5)))).toBe('Queue.BufferTooShortError');
    expect(errorName(() => w.fill(5))).toBe('Queue.BufferTooShortError');
    expect(mem.readU8(addrs[0]!)).toBe(0);
    expect(w.written).toBe(0);
  });

  it('views, skip and split', () => {
    const { mem, chain, addrs } = chainOf([], [4, 4]);
    const w = chain.writer();
    const v = w.view(3)!;
    v.set([9, 9, 9]);
    expect(mem.readU8(addrs[0]! + 2)).toBe(9);
    expect(w.view(2)).toBeNull();
    const rest = w.split(1);
    w.writeU8(1);
    expect(w.remaining).toBe(0);
    rest.skip(1);
    expect(rest.views().map((x) => x.length)).toEqual([3]);
    expect(rest.written).toBe(4);
  });

  it('views: buffers that follow one another in guest memory are one piece, cut where a region ends', () => {
    // two regions, adjacent: 0x10000..0x20000 and 0x20000..0x30000 (another backing)
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x20000) },
      { start: 0x20000, backing: new ArrayBuffer(0x10000) },
    ]);
    // writable: 0x10000+16, 0x10010+16 (adjacent), 0x10100+8 (a gap), 0x1fff8+8, 0x20000+8 (adjacent, across the
    // regions' boundary), 0x1fff0+8 (backwards: not merged)
    const bufs: [number, number][] = [[0x10000, 16], [0x10010, 16], [0x10100, 8], [0x1fff8, 8], [0x20000, 8], [0x1fff0, 8]];
    bufs.forEach(([a, l], i) => writeSplitDesc(mem, 0, i, a, l, WRITE | (i + 1 < bufs.length ? NEXT : 0), i + 1));
    publish(mem, 0x1000, 16, 0, [0]);
    const chain = createVirtqueue(mem, makeConfig({ size: 16 })).pop()!;
    const views = chain.writer().views();
    expect(views.map((v) => v.length)).toEqual([32, 8, 8, 8, 8]);
    views.forEach((v, i) => v.fill(i + 1));
    const at = (a: number, n: number) => { const b = new Uint8Array(n); mem.read(a, b); return Array.from(b); };
    expect(at(0x10000, 32)).toEqual(Array(32).fill(1));
    expect(at(0x10100, 8)).toEqual(Array(8).fill(2));
    expect(at(0x1fff8, 8)).toEqual(Array(8).fill(3));
    expect(at(0x20000, 8)).toEqual(Array(8).fill(4));
    expect(at(0x1fff0, 8)).toEqual(Array(8).fill(5));
    // a view from the middle of a buffer merges with the next one too
    const w = chain.writer();
    w.skip(8);
    expect(w.views(28).map((v) => v.length)).toEqual([24, 4]);
  });

  it('refuses bad values as embedder misuse', () => {
    const { chain } = chainOf([], [2, 2, 8]);
    const w = chain.writer();
    expect(() => w.writeU64(-1)).toThrow(RangeError);
    expect(() => w.writeU64(2n ** 64n)).toThrow(RangeError);
    w.writeU8(0);
    expect(() => w.writeU16(0x10000)).toThrow(RangeError); // spans two buffers
    expect(() => w.writeU32(-1)).toThrow(RangeError);
    expect(() => w.fill(1, 256)).toThrow(RangeError);
    expect(() => w.write('x' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('any layout: a 16-byte header split over descriptors reads the same', () => {
    const layouts = [[16], [8, 8], [1, 15], [4, 4, 4, 4], [15, 1], [16, 0]];
    for (const l of layouts) {
      const { mem, chain, addrs } = chainOf(l, []);
      const hdr = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
      let k = 0;
      l.forEach((len, i) => {
        mem.write(addrs[i]!, hdr.subarray(k, k + len));
        k += len;
      });
      const r = chain.reader();
      expect([r.readU32(), r.readU32(), r.readU64()]).toEqual([0x13121110, 0x17161514, 0x1f1e1d1c1b1a1918n]);
    }
  });

  it('errors are queue errors', () => {
    const { chain } = chainOf([1], []) as { chain: DescriptorChain };
    try {
      chain.reader().readU16();
    } catch (e) {
      expect(isQueueError(e)).toBe(true);
      expect(isQueueError(e, 'Queue.BufferTooShortError')).toBe(true);
    }
  });
});

describe('Reader: u64 across buffers', () => {
  it('readU64Number across buffers; a refused value consumes nothing', () => {
    const { mem, chain, addrs } = chainOf([3, 5, 3, 5], []);
    mem.write(addrs[0]!, Uint8Array.of(1, 0, 0));
    mem.write(addrs[1]!, Uint8Array.of(0, 0, 0, 0, 0));
    mem.write(addrs[2]!, Uint8Array.of(0, 0, 0));
    mem.write(addrs[3]!, Uint8Array.of(0, 0, 0, 0, 0x80));
    const r = chain.reader();
    expect(r.readU64Number()).toBe(1);
    expect(errorName(() => r.readU64Number())).toBe('GuestMemory.ValueTooLargeError');
    expect(r.remaining).toBe(8);
    expect(r.readU64()).toBe(0x8000000000000000n);
  });
});
