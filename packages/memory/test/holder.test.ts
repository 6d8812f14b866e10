import { describe, expect, it } from '@jest/globals';
import { GuestMemory, GuestMemoryHolder } from '@vmv/memory';
import { errName } from './helpers';

describe('hot-add / hot-remove', () => {
  const ram = new ArrayBuffer(0x1000);
  const base = GuestMemory.fromRegions([{ start: 0, backing: ram, dirtyPageSize: 0x1000 }]);

  it('insertRegion returns a new memory sharing the regions; the old one is unchanged', () => {
    const added = new ArrayBuffer(0x1000);
    const bigger = base.insertRegion({ start: 0x10_0000, backing: added });
    expect(bigger).not.toBe(base);
    expect(bigger.regions.length).toBe(2);
    expect(bigger.regions[0]).toBe(base.regions[0]);
    expect(base.regions.length).toBe(1);
    bigger.writeU32(0x10_0000, 5);
    expect(new DataView(added).getUint32(0, true)).toBe(5);
    expect(errName(() => base.readU32(0x10_0000))).toBe('GuestMemory.OutOfBoundsError');
    // shared backing and dirty log
    bigger.writeU8(0, 9);
    expect(base.readU8(0)).toBe(9);
    expect(base.regions[0]!.dirtyLog!.takePages()).toEqual([0]);
  });

  it('insertRegion keeps the list sorted and validates it', () => {
    const m = base.insertRegion({ start: 0x20_0000, backing: new ArrayBuffer(16) }).insertRegion({ start: 0x10_0000, backing: new ArrayBuffer(16) });
    expect(m.regions.map((r) => r.start)).toEqual([0n, 0x10_0000n, 0x20_0000n]);
    expect(errName(() => m.insertRegion({ start: 0x10_0008, backing: new ArrayBuffer(16) }))).toBe('GuestMemory.InvalidLayoutError');
    expect(errName(() => m.insertRegion({ start: 0xff8, backing: new ArrayBuffer(16) }))).toBe('GuestMemory.InvalidLayoutError');
    const other = GuestMemory.fromRegions([{ start: 0x30_0000, backing: new ArrayBuffer(16) }]);
    const withShared = m.insertRegion(other.regions[0]!);
    expect(withShared.regions[3]).toBe(other.regions[0]);
  });

  it('removeRegion returns a new memory without the region; old snapshots keep working', () => {
    const m = base.insertRegion({ start: 0x10_0000, backing: new ArrayBuffer(16) });
    const removed = m.removeRegion(0x10_0000n);
    expect(removed.regions.length).toBe(1);
    expect(errName(() => removed.readU8(0x10_0000))).toBe('GuestMemory.OutOfBoundsError');
    m.writeU8(0x10_0000, 1);
    expect(m.readU8(0x10_0000)).toBe(1);
    expect(m.removeRegion(0x10_0000, 16).regions.length).toBe(1);
    expect(errName(() => m.removeRegion(0x10_0000, 15))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => m.removeRegion(0x10_0001))).toBe('GuestMemory.OutOfBoundsError');
    expect(errName(() => base.removeRegion(0))).toBe('GuestMemory.InvalidLayoutError');
    expect(() => m.removeRegion(-1)).toThrow(RangeError);
    expect(() => m.removeRegion(0, -1)).toThrow(RangeError);
  });
});

describe('GuestMemoryHolder', () => {
  it('replaces the current memory without disturbing holders of the previous one', () => {
    const first = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x1000) }]);
    const holder = new GuestMemoryHolder(first);
    expect(holder.current).toBe(first);
    expect(holder.generation).toBe(0);
    const snapshot = holder.current;
    const next = holder.update((m) => m.insertRegion({ start: 0x1000, backing: new ArrayBuffer(0x1000) }));
    expect(holder.current).toBe(next);
    expect(holder.generation).toBe(1);
    snapshot.writeU32(0x10, 1);
    expect(next.readU32(0x10)).toBe(1);
    next.writeU32(0xffe, 0xffffffff); // spans the two regions in the new memory only
    expect(errName(() => snapshot.readU32(0xffe))).toBe('GuestMemory.OutOfBoundsError');
    expect(holder.replace(first)).toBe(next);
    expect(holder.generation).toBe(2);
  });

  it('keeps the current memory when the update throws', () => {
    const first = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(16) }]);
    const holder = new GuestMemoryHolder(first);
    expect(errName(() => holder.update((m) => m.insertRegion({ start: 8, backing: new ArrayBuffer(16) })))).toBe('GuestMemory.InvalidLayoutError');
    expect(holder.current).toBe(first);
    expect(holder.generation).toBe(0);
  });

  it('rejects non-GuestMemory values', () => {
    expect(() => new GuestMemoryHolder({} as never)).toThrow(TypeError);
    const holder = new GuestMemoryHolder(GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(16) }]));
    expect(() => holder.replace(null as never)).toThrow(TypeError);
    expect(() => holder.update(() => 1 as never)).toThrow(TypeError);
  });
});
