import { describe, expect, it } from '@jest/globals';
import { GuestMemory, GuestRegion, isGuestMemoryError, type InvalidLayoutError } from '@vmv/memory';
import { errName, WasmMemoryCtor } from './helpers';

const ab = (n: number) => new ArrayBuffer(n);

describe('GuestMemory.fromRegions validation', () => {
  it('accepts sorted, non-overlapping, adjacent and sparse regions', () => {
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: ab(0x1000) },
      { start: 0x1000, backing: ab(0x1000) },
      { start: 0x10_0000, backing: ab(0x100) },
    ]);
    expect(mem.regions.length).toBe(3);
    expect(mem.size).toBe(0x2100);
    expect(Object.isFrozen(mem.regions)).toBe(true);
    const r = mem.regions[2]!;
    expect(r.start).toBe(0x10_0000n);
    expect(r.startNumber).toBe(0x10_0000);
    expect(r.end).toBe(0x10_0100n);
    expect(r.lastAddress).toBe(0x10_00ffn);
    expect(r.readOnly).toBe(false);
    expect(r.dirtyLog).toBeNull();
  });

  it('rejects an empty list', () => {
    expect(errName(() => GuestMemory.fromRegions([]))).toBe('GuestMemory.InvalidLayoutError');
  });

  it('rejects unsorted regions', () => {
    expect(errName(() => GuestMemory.fromRegions([{ start: 0x2000, backing: ab(16) }, { start: 0x1000, backing: ab(16) }]))).toBe(
      'GuestMemory.InvalidLayoutError',
    );
  });

  it('rejects overlapping regions (by one byte)', () => {
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(0x1000) }, { start: 0xfff, backing: ab(16) }]))).toBe(
      'GuestMemory.InvalidLayoutError',
    );
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(16) }, { start: 0, backing: ab(16) }]))).toBe(
      'GuestMemory.InvalidLayoutError',
    );
  });

  it('rejects empty regions', () => {
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(0) }]))).toBe('GuestMemory.InvalidLayoutError');
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(16), size: 0 }]))).toBe('GuestMemory.InvalidLayoutError');
  });

  it('accepts a region ending exactly at 2^64 and rejects one beyond', () => {
    const top = GuestMemory.fromRegions([{ start: 2n ** 64n - 16n, backing: ab(16) }]);
    expect(top.regions[0]!.end).toBe(2n ** 64n);
    expect(top.regions[0]!.startNumber).toBeNaN();
    expect(errName(() => GuestMemory.fromRegions([{ start: 2n ** 64n - 15n, backing: ab(16) }]))).toBe('GuestMemory.InvalidLayoutError');
  });

  it('rejects a window outside the backing', () => {
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(16), offset: 8, size: 16 }]))).toBe('GuestMemory.InvalidLayoutError');
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(16), offset: 24 }]))).toBe('GuestMemory.InvalidLayoutError');
  });

  it('rejects a backing byte offset that is not a multiple of 8', () => {
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: ab(64), offset: 4 }]))).toBe('GuestMemory.InvalidLayoutError');
    const u = new Uint8Array(ab(64), 4, 32);
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: u }]))).toBe('GuestMemory.InvalidLayoutError');
    expect(errName(() => GuestMemory.fromRegions([{ start: 0, backing: u, offset: 4 }]))).toBe('none');
  });

  it('throws TypeError / RangeError for embedder misuse', () => {
    expect(() => GuestMemory.fromRegions(null as never)).toThrow(TypeError);
    expect(() => GuestMemory.fromRegions([null as never])).toThrow(TypeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: {} as never }])).toThrow(TypeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: new Uint16Array(8) as never }])).toThrow(TypeError);
    expect(() => GuestMemory.fromRegions([{ start: -1, backing: ab(8) }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0.5, backing: ab(8) }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 2n ** 64n, backing: ab(8) }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: '0' as never, backing: ab(8) }])).toThrow(TypeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8), offset: -8 }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8), size: 1.5 }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8), dirtyPageSize: 100 }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8), dirtyPageSize: 32 }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8), dirtyBitmap: new Int32Array(1) }])).toThrow(RangeError);
    expect(() => GuestMemory.fromRegions([{ start: 0, backing: ab(8192), dirtyPageSize: 64, dirtyBitmap: new Int32Array(1) }])).toThrow(
      RangeError,
    );
  });

  it('reports the region index in layout errors', () => {
    try {
      GuestMemory.fromRegions([{ start: 0, backing: ab(16) }, { start: 8, backing: ab(16) }]);
    } catch (e) {
      expect(isGuestMemoryError(e, 'GuestMemory.InvalidLayoutError')).toBe(true);
      expect((e as InvalidLayoutError).code).toBe('INVALID_LAYOUT');
      expect((e as InvalidLayoutError).regionIndex).toBe(1);
    }
    expect.assertions(3);
  });
});

describe('backings', () => {
  it('ArrayBuffer window (offset/size)', () => {
    const buf = ab(64);
    const mem = GuestMemory.fromRegions([{ start: 0x100, backing: buf, offset: 16, size: 32 }]);
    mem.writeU8(0x100, 0xaa);
    expect(new Uint8Array(buf)[16]).toBe(0xaa);
    expect(mem.regions[0]!.offset).toBe(16);
    expect(errName(() => mem.readU8(0x120))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('SharedArrayBuffer', () => {
    const sab = new SharedArrayBuffer(32);
    const mem = GuestMemory.fromRegions([{ start: 0, backing: sab, dirtyPageSize: 64 }]);
    mem.writeU32(4, 7);
    expect(new DataView(sab).getUint32(4, true)).toBe(7);
    // the dirty bitmap of a shared backing is shared too, so it can go to another thread
    expect(Object.prototype.toString.call(mem.regions[0]!.dirtyLog!.bitmap.buffer)).toBe('[object SharedArrayBuffer]');
  });

  it('external Uint8Array (e.g. a native mmap view), including a Node Buffer', () => {
    const big = ab(128);
    const u = new Uint8Array(big, 64, 64);
    const mem = GuestMemory.fromRegions([{ start: 0, backing: u }]);
    mem.writeU8(0, 1);
    expect(new Uint8Array(big)[64]).toBe(1);
    expect(mem.regions[0]!.size).toBe(64);
    const b = Buffer.alloc(64);
    const mem2 = GuestMemory.fromRegions([{ start: 0, backing: b }]);
    mem2.writeU16(0, 0x0201);
    expect(b[0]).toBe(1);
  });

  it('WebAssembly.Memory stays correct after grow()', () => {
    const wasm = new WasmMemoryCtor({ initial: 1, maximum: 4 });
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: wasm, size: 0x1_0000 },
      { start: 0x1_0000, backing: new ArrayBuffer(0x1000) },
    ]);
    mem.writeU32(0x100, 0xcafebabe);
    const before = mem.view(0x100, 4);
    wasm.grow(1);
    expect(before.length).toBe(0); // detached, as documented
    expect(mem.readU32(0x100)).toBe(0xcafebabe);
    mem.writeU32(0x104, 0x12345678);
    expect(new DataView(wasm.buffer).getUint32(0x104, true)).toBe(0x12345678);
    wasm.grow(1);
    // a read spanning the wasm region and the next one
    const out = new Uint8Array(8);
    mem.writeU32(0xfffc, 0x01020304);
    mem.writeU32(0x1_0000, 0x05060708);
    wasm.grow(1);
    mem.read(0xfffc, out);
    expect([...out]).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    expect(mem.atomicLoadU32(0x100)).toBe(0xcafebabe);
    expect(mem.view(0x100, 4).length).toBe(4);
    expect(mem.regions[0]!.hostBuffer().buffer).toBe(wasm.buffer);
  });

  it('WebAssembly.Memory with the default size covers the buffer at build time', () => {
    const wasm = new WasmMemoryCtor({ initial: 1, maximum: 2 });
    const mem = GuestMemory.fromRegions([{ start: 0, backing: wasm }]);
    expect(mem.size).toBe(0x1_0000);
    wasm.grow(1);
    expect(errName(() => mem.readU8(0x1_0000))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('shared WebAssembly.Memory', () => {
    const wasm = new WasmMemoryCtor({ initial: 1, maximum: 2, shared: true });
    const mem = GuestMemory.fromRegions([{ start: 0, backing: wasm }]);
    mem.writeU32(8, 9);
    wasm.grow(1);
    expect(mem.readU32(8)).toBe(9);
    expect(new DataView(wasm.buffer).getUint32(8, true)).toBe(9);
  });

  it('GuestRegion can be built on its own and reused', () => {
    const r = new GuestRegion({ start: 0x1000, backing: ab(16), readOnly: true });
    expect(r.contains(0x1000)).toBe(true);
    expect(r.contains(0x1010n)).toBe(false);
    const mem = GuestMemory.fromRegions([r]);
    expect(mem.regions[0]).toBe(r);
    expect(errName(() => mem.writeU8(0x1000, 1))).toBe('GuestMemory.ReadOnlyError');
  });
});
