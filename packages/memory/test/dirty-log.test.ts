import { describe, expect, it } from '@jest/globals';
import { DirtyPageLog, GuestMemory } from '@vmv/memory';

function mk() {
  return GuestMemory.fromRegions([
    { start: 0, backing: new ArrayBuffer(0x4000), dirtyPageSize: 0x1000 },
    { start: 0x4000, backing: new ArrayBuffer(0x1000) },
    { start: 0x10000, backing: new ArrayBuffer(64 * 40), dirtyPageSize: 64 },
  ]);
}

describe('dirty-page log', () => {
  it('every API write marks pages; reads do not', () => {
    const mem = mk();
    const log = mem.regions[0]!.dirtyLog!;
    mem.readU32(0);
    mem.read(0, new Uint8Array(0x4000));
    mem.view(0x1000, 16);
    mem.checkRange(0, 0x4000, 'write');
    expect(log.takePages()).toEqual([]);
    const writes: [string, () => void, number[]][] = [
      ['writeU8', () => mem.writeU8(0x10, 1), [0]],
      ['writeU16', () => mem.writeU16(0xfff, 1), [0, 1]],
      ['writeU32', () => mem.writeU32(0x1000, 1), [1]],
      ['writeU64', () => mem.writeU64(0x2ffc, 1n), [2, 3]],
      ['write', () => mem.write(0x0fff, new Uint8Array(0x1002)), [0, 1, 2]],
      ['fill', () => mem.fill(0x3000, 1), [3]],
      ['view write', () => mem.view(0x2000, 1, 'write'), [2]],
      ['atomicStoreU16', () => mem.atomicStoreU16(0x1000, 1), [1]],
      ['atomicStoreU32', () => mem.atomicStoreU32(0x3ffc, 1), [3]],
      ['markDirty', () => mem.markDirty(0x2000, 0x2001), [2, 3]],
      ['span into an unlogged region', () => mem.write(0x3ffe, new Uint8Array(4)), [3]],
      ['writeU16 slow path', () => mem.writeU16(BigInt(0x2000), 5), [2]],
    ];
    for (const [name, op, pages] of writes) {
      op();
      expect([name, log.takePages()]).toEqual([name, pages]);
    }
  });

  it('takeDirtyLog reads and clears every logged region', () => {
    const mem = mk();
    mem.writeU8(0x1234, 1);
    mem.write(0x10000 + 64 * 33, new Uint8Array(65));
    mem.writeU8(0x4000, 1); // unlogged region
    const entries = mem.takeDirtyLog();
    expect(entries.map((e) => [e.regionIndex, e.start, e.pageSize, [...e.bitmap]])).toEqual([
      [0, 0n, 0x1000, [0b10]],
      [2, 0x10000n, 64, [0, 0b110]],
    ]);
    expect(entries[0]!.region).toBe(mem.regions[0]);
    expect(mem.takeDirtyLog().every((e) => e.bitmap.every((w) => w === 0))).toBe(true);
  });

  it('a failed write marks nothing', () => {
    const mem = mk();
    expect(() => mem.write(0x4ff0, new Uint8Array(0x20))).toThrow();
    expect(() => mem.write(0x3ff0, new Uint8Array(0x2000))).toThrow();
    expect(mem.regions[0]!.dirtyLog!.takePages()).toEqual([]);
  });

  it('isDirty, clear, clearDirtyLog', () => {
    const mem = mk();
    const log = mem.regions[2]!.dirtyLog!;
    mem.writeU8(0x10000 + 64 * 39 + 63, 1);
    expect(log.pageCount).toBe(40);
    expect(log.isDirty(64 * 39)).toBe(true);
    expect(log.isDirty(0)).toBe(false);
    expect(log.isDirty(-1)).toBe(false);
    expect(log.isDirty(64 * 40)).toBe(false);
    log.clear();
    expect(log.isDirty(64 * 39)).toBe(false);
    mem.writeU8(0, 1);
    mem.writeU8(0x10000, 1);
    mem.clearDirtyLog();
    expect(mem.takeDirtyLog().every((e) => e.bitmap.every((w) => w === 0))).toBe(true);
  });

  it('marks a page in bit 31 of a word (unsigned results)', () => {
    const log = new DirtyPageLog(64 * 64, 64);
    log.mark(64 * 31, 64 * 2);
    const words = log.take();
    expect([...words]).toEqual([0x8000_0000, 1]);
    log.mark(64 * 31, 1);
    expect(log.takePages()).toEqual([31]);
    log.mark(0, 0);
    expect(log.takePages()).toEqual([]);
  });

  it('a shared bitmap is one log across GuestMemory objects (e.g. in two threads)', () => {
    const backing = new SharedArrayBuffer(0x2000);
    const a = GuestMemory.fromRegions([{ start: 0, backing, dirtyPageSize: 0x1000 }]);
    const bitmap = a.regions[0]!.dirtyLog!.bitmap;
    const b = GuestMemory.fromRegions([{ start: 0, backing, dirtyPageSize: 0x1000, dirtyBitmap: bitmap }]);
    b.writeU8(0x1000, 1);
    expect(a.regions[0]!.dirtyLog!.takePages()).toEqual([1]);
  });

  it('take() never loses a concurrent mark (interleaved markers and takers)', () => {
    // Single-threaded model of the race: a marker sets bits between the words a taker swaps.
    const log = new DirtyPageLog(64 * 32 * 8, 64);
    const seen = new Set<number>();
    const marked = new Set<number>();
    let seed = 1;
    for (let round = 0; round < 200; round++) {
      for (let k = 0; k < 5; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const page = seed % log.pageCount;
        log.mark(page * 64, 1);
        marked.add(page);
      }
      if (round % 3 === 0) for (const p of log.takePages()) seen.add(p);
    }
    for (const p of log.takePages()) seen.add(p);
    expect([...seen].sort((x, y) => x - y)).toEqual([...marked].sort((x, y) => x - y));
  });
});
