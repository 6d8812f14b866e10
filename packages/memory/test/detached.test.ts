import { describe, expect, it } from '@jest/globals';
import { GuestMemory, GuestMemoryHolder, isGuestMemoryError } from '@vmv/memory';
import { WasmMemoryCtor } from './helpers';

/** Detach an ArrayBuffer the way a closed native mapping is detached. */
function detach(ab: ArrayBuffer): void {
  structuredClone(ab, { transfer: [ab] });
}

describe('a region whose backing was detached', () => {
  const ops: [string, (m: GuestMemory) => unknown][] = [
    ['readU8', (m) => m.readU8(1)],
    ['readU16', (m) => m.readU16(2)],
    ['readU32', (m) => m.readU32(4)],
    ['readU64', (m) => m.readU64(8)],
    ['readU64Number', (m) => m.readU64Number(8)],
    ['writeU8', (m) => m.writeU8(1, 1)],
    ['writeU16', (m) => m.writeU16(2, 1)],
    ['writeU32', (m) => m.writeU32(4, 1)],
    ['writeU64', (m) => m.writeU64(8, 1n)],
    ['read 4', (m) => m.read(0, new Uint8Array(4))],
    ['read 16', (m) => m.read(0, new Uint8Array(16))],
    ['read 4096', (m) => m.read(0, new Uint8Array(4096))],
    ['write 4', (m) => m.write(0, new Uint8Array(4))],
    ['write 4096', (m) => m.write(0, new Uint8Array(4096))],
    ['fill', (m) => m.fill(0, 64, 1)],
    ['view', (m) => m.view(0, 16)],
    ['atomicLoadU16', (m) => m.atomicLoadU16(0)],
    ['atomicLoadU32', (m) => m.atomicLoadU32(0)],
    ['atomicStoreU16', (m) => m.atomicStoreU16(0, 1)],
    ['atomicStoreU32', (m) => m.atomicStoreU32(0, 1)],
    ['read across two regions', (m) => m.read(8192 - 8, new Uint8Array(16))],
  ];

  it.each(ops)('%s fails with GuestMemory.DetachedError, never zeros or an engine TypeError', (_name, op) => {
    const a = new ArrayBuffer(8192);
    const b = new ArrayBuffer(8192);
    const m = GuestMemory.fromRegions([
      { start: 0, backing: new Uint8Array(a) },
      { start: 8192, backing: b },
    ]);
    m.writeU32(4, 0xdeadbeef);
    expect(m.readU32(4)).toBe(0xdeadbeef);
    detach(a);
    let err: unknown;
    try {
      op(m);
    } catch (e) {
      err = e;
    }
    expect(isGuestMemoryError(err, 'GuestMemory.DetachedError')).toBe(true);
    // The other region is unaffected.
    m.writeU32(8192 + 4, 7);
    expect(m.readU32(8192 + 4)).toBe(7);
  });

  it('does not affect a memory built after the region was replaced (hot-remove then re-add)', () => {
    const a = new ArrayBuffer(4096);
    const holder = new GuestMemoryHolder(GuestMemory.fromRegions([{ start: 0, backing: a }]));
    const old = holder.current;
    holder.replace(GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(4096) }]));
    detach(a);
    let err: unknown;
    try {
      old.readU8(0);
    } catch (e) {
      err = e;
    }
    expect(isGuestMemoryError(err, 'GuestMemory.DetachedError')).toBe(true);
    holder.current.writeU8(0, 9);
    expect(holder.current.readU8(0)).toBe(9);
  });

  it('still follows a WebAssembly.Memory whose grow() replaced the buffer', () => {
    const wasm = new WasmMemoryCtor({ initial: 1, maximum: 2 });
    const m = GuestMemory.fromRegions([{ start: 0x1000, backing: wasm }]);
    m.writeU32(0x1000, 42);
    wasm.grow(1);
    expect(m.readU32(0x1000)).toBe(42);
  });
});
