import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { Worker } from 'node:worker_threads';
import { errName } from './helpers';

describe('atomics', () => {
  it('load and store naturally aligned u16/u32, little-endian', () => {
    const buf = new ArrayBuffer(64);
    const mem = GuestMemory.fromRegions([{ start: 0x1000, backing: buf }]);
    mem.atomicStoreU16(0x1002, 0xbeef);
    mem.atomicStoreU32(0x1004, 0xdeadbeef);
    const b = new Uint8Array(buf);
    expect([...b.subarray(2, 8)]).toEqual([0xef, 0xbe, 0xef, 0xbe, 0xad, 0xde]);
    expect(mem.atomicLoadU16(0x1002)).toBe(0xbeef);
    expect(mem.atomicLoadU32(0x1004)).toBe(0xdeadbeef);
    expect(mem.atomicLoadU16(0x1002n)).toBe(0xbeef);
    mem.atomicStoreU32(0x1008n, 7);
    mem.atomicStoreU16(0x100an, 0x1234);
    expect(mem.atomicLoadU16(0x100a)).toBe(0x1234);
    expect(mem.atomicLoadU32(0x1008n)).toBe(0x12340007);
    expect(mem.readU32(0x1008)).toBe(0x12340007);
    mem.fence();
  });

  it('refuse misaligned guest addresses', () => {
    const mem = GuestMemory.fromRegions([{ start: 0x1000, backing: new ArrayBuffer(64) }]);
    expect(errName(() => mem.atomicLoadU16(0x1001))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicLoadU32(0x1002))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicStoreU16(0x1003, 0))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicStoreU32(0x1006, 0))).toBe('GuestMemory.MisalignedError');
    // misalignment is reported before out-of-bounds
    expect(errName(() => mem.atomicLoadU32(0x2001))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicLoadU32(2n ** 60n + 2n))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicLoadU32(0x2000))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => mem.atomicLoadU32(2n ** 60n))).toBe('GuestMemory.OutOfBoundsError');
  });

  it('refuse a host-misaligned region start and accesses across regions', () => {
    const mem = GuestMemory.fromRegions([
      { start: 0x1001, backing: new ArrayBuffer(15) },
      { start: 0x1010, backing: new ArrayBuffer(16) },
      { start: 0x1020, backing: new ArrayBuffer(6) },
      { start: 0x1026, backing: new ArrayBuffer(10) },
    ]);
    expect(errName(() => mem.atomicLoadU32(0x1004))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicLoadU16(0x1002))).toBe('GuestMemory.MisalignedError');
    expect(errName(() => mem.atomicLoadU32(0x1024))).toBe('GuestMemory.NotContiguousError');
    expect(errName(() => mem.atomicStoreU32(0x1024, 1))).toBe('GuestMemory.NotContiguousError');
    expect(mem.atomicLoadU32(0x1010)).toBe(0);
    expect(mem.atomicLoadU16(0x1024)).toBe(0);
  });

  it('validate their values', () => {
    const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(8) }]);
    expect(() => mem.atomicStoreU16(0, 0x10000)).toThrow(RangeError);
    expect(() => mem.atomicStoreU32(0, -1)).toThrow(RangeError);
    expect(() => mem.atomicStoreU32(0, 'x' as never)).toThrow(TypeError);
  });

  it('publish data to another thread through a SharedArrayBuffer (release/acquire on the index)', async () => {
    // The worker writes entry i (a plain u32 write), then publishes idx = i with a release store.
    // This thread loads idx with atomicLoadU16 (acquire) and must see every entry up to it.
    const N = 2000;
    const sab = new SharedArrayBuffer(0x100 + 4 * (N + 1));
    const code = `
      const { workerData } = require('node:worker_threads');
      const dv = new DataView(workerData.sab);
      const u16 = new Uint16Array(workerData.sab);
      for (let i = 1; i <= workerData.n; i++) {
        dv.setUint32(0x100 + i * 4, i * 3, true);
        Atomics.store(u16, 0, i);
      }
    `;
    const worker = new Worker(code, { eval: true, workerData: { sab, n: N } });
    const done = new Promise((resolve, reject) => {
      worker.once('exit', resolve);
      worker.once('error', reject);
    });
    const mem = GuestMemory.fromRegions([{ start: 0, backing: sab }]);
    let bad = 0;
    let checked = 0;
    let seen = 0;
    while (seen < N) {
      const idx = mem.atomicLoadU16(0);
      for (; checked < idx; checked++) if (mem.readU32(0x100 + (checked + 1) * 4) !== (checked + 1) * 3) bad++;
      seen = idx;
      if (idx < N) await new Promise((r) => setImmediate(r));
    }
    await done;
    expect(checked).toBe(N);
    expect(bad).toBe(0);
  }, 30_000);
});
