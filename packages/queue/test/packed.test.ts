import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { DescFlags, EventFlags, createVirtqueue, PackedQueue, restoreVirtqueue } from '@vmv/queue';
import { errorName, makeConfig, makeMemory } from './helpers';

const { NEXT, WRITE, INDIRECT, AVAIL, USED } = DescFlags;
const DRV = 0x1000; // driver event suppression
const DEV = 0x2000; // device event suppression

/** Writes a packed descriptor available for wrap counter `wrap` (flags last). */
function put(mem: GuestMemory, pos: number, addr: number, len: number, id: number, flags: number, wrap = 1): void {
  const at = 16 * pos;
  mem.writeU64(at, addr);
  mem.writeU32(at + 8, len);
  mem.writeU16(at + 12, id);
  mem.writeU16(at + 14, flags | (wrap ? AVAIL : USED));
}

function setup(o: { size?: number; eventIdx?: boolean; indirect?: boolean } = {}) {
  const mem = makeMemory();
  const q = createVirtqueue(mem, makeConfig({ packed: true, size: o.size ?? 4, eventIdx: o.eventIdx, indirect: o.indirect }));
  return { mem, q };
}

describe('PackedQueue', () => {
  it('walks a chain, wraps the ring and flips the wrap counters', () => {
    const { mem, q } = setup();
    expect(q).toBeInstanceOf(PackedQueue);
    put(mem, 0, 0x10000, 16, 0, NEXT);
    put(mem, 1, 0x11000, 8, 0, NEXT | WRITE);
    put(mem, 2, 0x12000, 1, 3, WRITE);
    const c = q.pop()!;
    expect(c.head).toBe(3);
    expect(c.descriptors().map((d) => [d.address, d.length, d.writable])).toEqual([
      [0x10000, 16, false],
      [0x11000, 8, true],
      [0x12000, 1, true],
    ]);
    expect(q.pop()).toBeNull();
    q.addUsed(c, 9);
    // The used descriptor overwrites the chain's first slot: id, len, AVAIL|USED|WRITE.
    expect([mem.readU16(12), mem.readU32(8), mem.readU16(14)]).toEqual([3, 9, AVAIL | USED | WRITE]);
    expect(q.nextUsed).toBe(3);
    // Next chain wraps: positions 3 (lap 1) and 0 (lap 0).
    put(mem, 3, 0x13000, 4, 5, NEXT);
    put(mem, 0, 0x14000, 4, 5, 0, 0);
    const d = q.pop()!;
    expect(d.descriptorCount).toBe(2);
    expect(q.nextAvail).toBe(1);
    expect(q.saveState().availWrapCounter).toBe(0);
    q.addUsed(d, 0);
    expect(mem.readU16(16 * 3 + 14)).toBe(AVAIL | USED); // no WRITE: nothing written
    expect(q.saveState().usedWrapCounter).toBe(0);
    // A descriptor left from lap 1 is not available in lap 0.
    expect(q.pop()).toBeNull();
    put(mem, 1, 0x15000, 4, 1, 0, 0);
    expect(q.pop()!.head).toBe(1);
  });

  it('reads indirect tables in order, ignoring reserved flags', () => {
    const { mem, q } = setup({ indirect: true });
    mem.writeU64(0x8000, 0x10000);
    mem.writeU32(0x8008, 16);
    mem.writeU16(0x800e, NEXT | INDIRECT); // reserved in a table: ignored
    mem.writeU64(0x8010, 0x11000);
    mem.writeU32(0x8018, 32);
    mem.writeU16(0x801e, WRITE);
    put(mem, 0, 0x8000, 32, 2, INDIRECT | WRITE);
    const c = q.pop()!;
    expect(c.indirect).toBe(true);
    expect(c.head).toBe(2);
    expect([c.readableBytes, c.writableBytes, c.flags(0), c.flags(1)]).toEqual([16, 32, 0, WRITE]);
    q.addUsed(c, 32);
    expect(q.nextUsed).toBe(1); // an indirect buffer takes one ring slot
  });

  const bad: [string, (mem: GuestMemory) => void, boolean?][] = [
    ['Queue.InvalidIndirectDescriptorError', (m) => put(m, 0, 0x8000, 16, 0, INDIRECT), false],
    ['Queue.InvalidIndirectDescriptorError', (m) => (put(m, 1, 0x8000, 16, 0, 0), put(m, 0, 0x8000, 16, 0, INDIRECT | NEXT))],
    ['Queue.InvalidIndirectDescriptorError', (m) => (put(m, 1, 0x8000, 16, 0, INDIRECT), put(m, 0, 0x10000, 16, 0, NEXT))],
    ['Queue.InvalidIndirectTableError', (m) => put(m, 0, 0x8000, 0, 0, INDIRECT)],
    ['Queue.InvalidIndirectTableError', (m) => put(m, 0, 0x8000, 20, 0, INDIRECT)],
    ['Queue.BufferOutOfMemoryError', (m) => put(m, 0, 0xffff0, 32, 0, INDIRECT)],
    ['Queue.ChainTooLongError', (m) => [3, 2, 1, 0].forEach((p) => put(m, p, 0x10000, 1, 0, NEXT))],
    ['Queue.ReadableAfterWritableError', (m) => (put(m, 1, 0x10000, 1, 0, 0), put(m, 0, 0x10000, 1, 0, NEXT | WRITE))],
    ['Queue.BufferOutOfMemoryError', (m) => put(m, 0, 0xfffff, 2, 0, 0)],
  ];
  it.each(bad.map(([n, f, ind], i) => [i, n, f, ind ?? true] as const))('case %i: %s breaks the queue until reset', (_i, name, setupFn, indirect) => {
    const { mem, q } = setup({ indirect });
    setupFn(mem);
    expect(errorName(() => q.pop())).toBe(name);
    expect(errorName(() => q.pop())).toBe('Queue.BrokenError');
    expect(errorName(() => q.disableNotification())).toBe('no error');
    expect(q.enableNotification()).toBe(false);
    expect(q.needsNotification()).toBe(false);
    q.reset();
    expect(q.error).toBeNull();
  });

  it('refuses a buffer ID that is still in flight', () => {
    const { mem, q } = setup();
    put(mem, 0, 0x10000, 1, 7, 0);
    put(mem, 1, 0x10000, 1, 7, 0);
    q.pop();
    expect(errorName(() => q.pop())).toBe('Queue.DuplicateBufferIdError');
  });

  it('addUsed by buffer ID uses the chain length recorded at pop', () => {
    const { mem, q } = setup();
    put(mem, 1, 0x10000, 1, 7, 0);
    put(mem, 0, 0x10000, 1, 7, NEXT);
    q.pop();
    expect(() => q.addUsed(6, 0)).toThrow(RangeError);
    q.addUsed(7, 0);
    expect(q.nextUsed).toBe(2);
    expect(() => q.addUsed(7, 0)).toThrow(RangeError);
  });

  it('addUsedBatch publishes the first used descriptor last', () => {
    const { mem, q } = setup();
    put(mem, 0, 0x10000, 8, 1, WRITE);
    put(mem, 1, 0x10000, 8, 2, WRITE);
    const a = q.pop()!;
    const b = q.pop()!;
    expect(() => q.addUsedBatch([a, 1], [0, 0])).toThrow(TypeError);
    q.addUsedBatch([b, a], [8, 4]);
    expect([mem.readU16(12), mem.readU32(8), mem.readU16(14)]).toEqual([2, 8, AVAIL | USED | WRITE]);
    expect([mem.readU16(28), mem.readU32(24), mem.readU16(30)]).toEqual([1, 4, AVAIL | USED | WRITE]);
    expect(q.nextUsed).toBe(2);
  });

  it('device event suppression: enable, disable, and descriptor-specific with EVENT_IDX', () => {
    const plain = setup();
    plain.q.disableNotification();
    expect(plain.mem.readU16(DEV + 2)).toBe(EventFlags.DISABLE);
    expect(plain.q.enableNotification()).toBe(false);
    expect(plain.mem.readU16(DEV + 2)).toBe(EventFlags.ENABLE);
    put(plain.mem, 0, 0x10000, 1, 0, 0);
    expect(plain.q.enableNotification()).toBe(true);

    const ev = setup({ eventIdx: true });
    put(ev.mem, 0, 0x10000, 1, 0, 0);
    ev.q.pop();
    expect(ev.q.enableNotification()).toBe(false);
    expect([ev.mem.readU16(DEV), ev.mem.readU16(DEV + 2)]).toEqual([1 | (1 << 15), EventFlags.DESC]);
  });

  it('driver event suppression decides needsNotification', () => {
    const { mem, q } = setup({ eventIdx: true });
    const use = (): boolean => {
      const pos = q.nextAvail;
      const wrap = q.saveState().availWrapCounter!;
      put(mem, pos, 0x10000, 1, 0, 0, wrap);
      q.addUsed(q.pop()!, 0);
      return q.needsNotification();
    };
    mem.writeU16(DRV + 2, EventFlags.ENABLE);
    expect(use()).toBe(true);
    mem.writeU16(DRV + 2, EventFlags.DISABLE);
    expect(use()).toBe(false);
    // DESC: notify when the used position 3 of lap 1 is written.
    mem.writeU16(DRV, 3 | (1 << 15));
    mem.writeU16(DRV + 2, EventFlags.DESC);
    expect(use()).toBe(false); // position 2
    expect(use()).toBe(true); // position 3
    expect(use()).toBe(false); // position 0 of lap 0
    // Event in lap 0 at position 2, reached after a wrap.
    mem.writeU16(DRV, 2);
    expect(use()).toBe(false); // 1
    expect(use()).toBe(true); // 2
    mem.writeU16(DRV + 2, 3); // reserved value: notify
    expect(use()).toBe(true);
  });

  it('DESC without EVENT_IDX is treated as enable', () => {
    const { mem, q } = setup();
    mem.writeU16(DRV + 2, EventFlags.DESC);
    put(mem, 0, 0x10000, 1, 0, 0);
    q.addUsed(q.pop()!, 0);
    expect(q.needsNotification()).toBe(true);
  });

  it('saves and restores positions, wrap counters and in-flight buffers', () => {
    const { mem, q } = setup({ size: 5 });
    put(mem, 0, 0x10000, 1, 1, NEXT);
    put(mem, 1, 0x10000, 1, 1, 0);
    put(mem, 2, 0x10000, 1, 4, 0);
    const a = q.pop()!;
    q.pop();
    q.addUsed(a, 0);
    const s = JSON.parse(JSON.stringify(q.saveState()));
    expect(s).toMatchObject({ format: 'packed', size: 5, nextAvail: 3, nextUsed: 2, availWrapCounter: 1, usedWrapCounter: 1, inflight: [[4, 1]] });
    const r = restoreVirtqueue(mem, s, 8);
    r.addUsed(4, 0);
    expect(r.nextUsed).toBe(3);
    for (const b of [
      { ...s, inflight: [] },
      { ...s, inflight: [[4, 1], [4, 1]] },
      { ...s, inflight: [[4, 0]] },
      { ...s, nextAvail: 5 },
      { ...s, availWrapCounter: 2 },
      { ...s, inflight: 'x' },
      { ...s, inflight: [[4]] },
      { ...s, usedWrapCounter: 0 },
    ]) {
      expect(errorName(() => q.restoreState(b))).toBe('Queue.InvalidStateError');
    }
  });
});

describe('PackedQueue: long lists and memory', () => {
  it('walks a list of the full queue size across the ring end', () => {
    const { mem, q } = setup({ size: 20 });
    // Advance to position 7 with one 7-descriptor list, then a 20-descriptor list wrapping around.
    for (let p = 0; p < 7; p++) put(mem, p, 0x10000, 1, 1, p < 6 ? NEXT : 0);
    q.addUsed(q.pop()!, 0);
    for (let k = 0; k < 20; k++) {
      const p = (7 + k) % 20;
      put(mem, p, 0x20000 + k, 1, 2, k < 19 ? NEXT : 0, p >= 7 ? 1 : 0);
    }
    const c = q.pop()!;
    expect(c.descriptorCount).toBe(20);
    expect(c.address(19)).toBe(0x20000 + 19);
    expect(q.nextAvail).toBe(7);
  });

  it('re-acquires its views after a WebAssembly.Memory grows', () => {
    const { WebAssembly: Wasm } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(n: number): number } } };
    const wasm = new Wasm.Memory({ initial: 2, maximum: 4 });
    const mem = GuestMemory.fromRegions([{ start: 0, backing: wasm }]);
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4 }));
    put(mem, 0, 0x10000, 1, 0, 0);
    wasm.grow(1);
    const c = q.pop()!;
    wasm.grow(1);
    q.addUsed(c, 0);
    expect(mem.readU16(14)).toBe(AVAIL | USED);
    wasm.grow(0);
    q.disableNotification();
    expect(mem.readU16(DEV + 2)).toBe(EventFlags.DISABLE);
  });

  it('saves addresses above 2^53 as decimal strings', () => {
    const high = 2n ** 60n;
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x10000) },
      { start: high, backing: new ArrayBuffer(0x10000) },
    ]);
    const cfg = makeConfig({ packed: true, size: 4 });
    cfg.setArea('descTable', high);
    const q = createVirtqueue(mem, cfg);
    const s = JSON.parse(JSON.stringify(q.saveState()));
    expect(s.descTable).toBe(high.toString());
    expect(restoreVirtqueue(mem, s, 256).saveState().descTable).toBe(high.toString());
  });
});
