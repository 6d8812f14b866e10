/**
 * Rules about what the device writes, and in which order, that the ring code keeps by
 * construction (VIRTIO 1.2 §2.7.5.1, §2.7.8.2, §2.8.9, §2.8.15). Guest memory here is a plain
 * ArrayBuffer the test owns; `Atomics.store` (the publishing store of both ring formats) is
 * observed so that the state of memory at the moment of publication can be checked.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { DescFlags, createVirtqueue } from '@vmv/queue';
import type { DescriptorChain } from '@vmv/queue';
import { makeConfig, publish, writeSplitDesc } from './helpers';

const { NEXT, WRITE, INDIRECT, AVAIL: F_AVAIL, USED: F_USED } = DescFlags;
const AVAIL = 0x1000;
const USED = 0x2000;

function memory(): { mem: GuestMemory; bytes: Uint8Array } {
  const backing = new ArrayBuffer(0x40000);
  return { mem: GuestMemory.fromRegions([{ start: 0, backing }]), bytes: new Uint8Array(backing) };
}

interface Store {
  /** Byte offset in guest memory of the stored element. */
  at: number;
  value: number;
}

/** Calls `check` at every Atomics.store into `bytes`' buffer, before the store happens, and logs it. */
function watchStores(bytes: Uint8Array, check: (s: Store) => void = () => {}): Store[] {
  const log: Store[] = [];
  const real = Atomics.store.bind(Atomics) as (ta: Uint16Array, i: number, v: number) => number;
  jest.spyOn(Atomics, 'store').mockImplementation(((ta: Uint16Array, i: number, v: number) => {
    if (ta.buffer === bytes.buffer) {
      const s = { at: ta.byteOffset + i * ta.BYTES_PER_ELEMENT, value: v };
      check(s);
      log.push(s);
    }
    return real(ta, i, v);
  }) as never);
  return log;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('split ring: what the device writes', () => {
  it('never writes a descriptor table entry, direct or indirect, while serving (§2.7.5.1)', () => {
    const { mem, bytes } = memory();
    const n = 8;
    // Heads 0 (direct chain of 3), 4 (a chain ending in an indirect table), 6 (indirect only).
    writeSplitDesc(mem, 0, 0, 0x10000, 16, NEXT, 1);
    writeSplitDesc(mem, 0, 1, 0x11000, 512, NEXT | WRITE, 2);
    writeSplitDesc(mem, 0, 2, 0x12000, 1, WRITE, 0);
    writeSplitDesc(mem, 0, 4, 0x10000, 16, NEXT, 5);
    writeSplitDesc(mem, 0, 5, 0x8000, 48, INDIRECT, 0);
    writeSplitDesc(mem, 0x8000, 0, 0x11000, 8, NEXT, 1);
    writeSplitDesc(mem, 0x8000, 1, 0x12000, 100, NEXT | WRITE, 2);
    writeSplitDesc(mem, 0x8000, 2, 0x13000, 4, WRITE, 0);
    writeSplitDesc(mem, 0, 6, 0x9000, 32, INDIRECT, 0);
    writeSplitDesc(mem, 0x9000, 0, 0x14000, 8, NEXT, 1);
    writeSplitDesc(mem, 0x9000, 1, 0x15000, 8, WRITE, 0);
    const tables = (): number[] => [...bytes.subarray(0, 16 * n), ...bytes.subarray(0x8000, 0x8000 + 48), ...bytes.subarray(0x9000, 0x9000 + 32)];
    const before = tables();
    const q = createVirtqueue(mem, makeConfig({ size: n, indirect: true, eventIdx: true }));
    let idx = 0;
    for (let round = 0; round < 5; round++) {
      idx = publish(mem, AVAIL, n, idx, [0, 4, 6]);
      const cs: DescriptorChain[] = [];
      for (let c = q.pop(); c !== null; c = q.pop()) cs.push(c);
      expect(cs.map((c) => c.head)).toEqual([0, 4, 6]);
      for (const c of cs) {
        const w = c.writer();
        w.writeU8(0xa5);
      }
      q.addUsed(cs[1]!, 1);
      q.addUsedBatch([cs[2]!, cs[0]!], [1, 1]);
      q.disableNotification();
      q.enableNotification();
      q.needsNotification();
    }
    expect(tables()).toEqual(before);
  });

  it('stores id and len of a used element before the used idx that publishes it (§2.7.8.2)', () => {
    const { mem, bytes } = memory();
    const view = new DataView(bytes.buffer);
    const n = 8;
    for (let i = 0; i < n; i++) writeSplitDesc(mem, 0, i, 0x10000 + 0x1000 * i, 0x1000, WRITE, 0);
    const q = createVirtqueue(mem, makeConfig({ size: n }));
    const expected = new Map<number, [number, number]>(); // used ring slot -> [id, len]
    let published = 0;
    watchStores(bytes, ({ at, value }) => {
      if (at !== USED + 2) return;
      // At the moment used.idx moves to `value`, every element it publishes is complete.
      for (let k = published; k !== value; k = (k + 1) & 0xffff) {
        const slot = USED + 4 + 8 * (k % n);
        expect([view.getUint32(slot, true), view.getUint32(slot + 4, true)]).toEqual(expected.get(k));
      }
      published = value;
    });
    let idx = 0;
    let used = 0;
    for (let round = 0; round < 12; round++) {
      idx = publish(mem, AVAIL, n, idx, [0, 1, 2, 3, 4].map((h) => (h + round) % n));
      const cs: DescriptorChain[] = [];
      for (let c = q.pop(); c !== null; c = q.pop()) cs.push(c);
      const lens = cs.map((_, k) => 17 * round + k + 1);
      // One alone, then the rest as a batch in reverse order.
      expected.set(used, [cs[2]!.head, lens[2]!]);
      q.addUsed(cs[2]!, lens[2]!);
      used = (used + 1) & 0xffff;
      const rest = [4, 3, 1, 0];
      for (const k of rest) {
        expected.set(used, [cs[k]!.head, lens[k]!]);
        used = (used + 1) & 0xffff;
      }
      q.addUsedBatch(rest.map((k) => cs[k]!), rest.map((k) => lens[k]!));
    }
    expect(published).toBe(used);
    expect(published).toBe(60);
  });

  it('ignores the WRITE flag of a descriptor that points to an indirect table (§2.7.5.3.2)', () => {
    const { mem } = memory();
    writeSplitDesc(mem, 0, 0, 0x8000, 32, INDIRECT | WRITE, 0);
    writeSplitDesc(mem, 0x8000, 0, 0x11000, 16, NEXT, 1);
    writeSplitDesc(mem, 0x8000, 1, 0x12000, 8, WRITE, 0);
    publish(mem, AVAIL, 8, 0, [0]);
    const q = createVirtqueue(mem, makeConfig({ indirect: true }));
    const c = q.pop()!;
    expect(c.indirect).toBe(true);
    expect(c.descriptors().map((d) => [d.address, d.length, d.writable])).toEqual([
      [0x11000, 16, false],
      [0x12000, 8, true],
    ]);
    expect([c.readableBytes, c.writableBytes]).toEqual([16, 8]);
  });
});

describe('packed ring: what the device writes', () => {
  const SIZE = 8;
  /** Writes a packed descriptor available for wrap counter `wrap` (flags last). */
  function put(mem: GuestMemory, pos: number, addr: number, len: number, id: number, flags: number, wrap: number): void {
    mem.writeU64(16 * pos, addr);
    mem.writeU32(16 * pos + 8, len);
    mem.writeU16(16 * pos + 12, id);
    mem.writeU16(16 * pos + 14, flags | (wrap ? F_AVAIL : F_USED));
  }

  it('publishes the first used descriptor of a batch after all the others (§2.8.9)', () => {
    const { mem, bytes } = memory();
    const view = new DataView(bytes.buffer);
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: SIZE }));
    for (let i = 0; i < 4; i++) put(mem, i, 0x10000 + 0x1000 * i, 0x1000, 10 + i, WRITE, 1);
    const cs = [q.pop()!, q.pop()!, q.pop()!, q.pop()!];
    const usedFlags = F_AVAIL | F_USED | WRITE;
    const flagStores = watchStores(bytes, ({ at, value }) => {
      if (at !== 14 || value !== usedFlags) return;
      // The first slot is marked used only when slots 1..3 already are, with their id and len.
      for (let p = 1; p < 4; p++) expect(view.getUint16(16 * p + 14, true)).toBe(usedFlags);
    });
    q.addUsedBatch([cs[2]!, cs[0]!, cs[3]!, cs[1]!], [5, 6, 7, 8]);
    expect(flagStores.filter((s) => s.at % 16 === 14).map((s) => s.at / 16 - 0.875)).toEqual([1, 2, 3, 0]);
    expect([0, 1, 2, 3].map((p) => [view.getUint16(16 * p + 12, true), view.getUint32(16 * p + 8, true)])).toEqual([
      [12, 5],
      [10, 6],
      [13, 7],
      [11, 8],
    ]);
  });

  it('never changes a descriptor after marking it used, until the driver makes it available again (§2.8.15)', () => {
    const { mem, bytes } = memory();
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: SIZE, eventIdx: true }));
    const frozen = new Map<number, number[]>(); // ring position -> its 16 bytes when marked used
    const slot = (p: number): number[] => [...bytes.subarray(16 * p, 16 * p + 16)];
    const checkFrozen = (): void => {
      for (const [p, b] of frozen) expect([p, slot(p)]).toEqual([p, b]);
    };
    watchStores(bytes, ({ at }) => {
      if (at < 16 * SIZE) expect(frozen.has(Math.floor(at / 16))).toBe(false);
    });
    let wrap = 1;
    let next = 0;
    for (let round = 0; round < 6; round++) {
      // The driver reuses positions only once they are used: they are no longer frozen.
      const positions = [0, 1, 2, 3].map((k) => (next + k) % SIZE);
      for (const [k, p] of positions.entries()) {
        frozen.delete(p);
        put(mem, p, 0x10000 + 0x1000 * k, 0x1000, k, WRITE, p < next ? wrap ^ 1 : wrap);
      }
      const cs: DescriptorChain[] = [];
      for (let c = q.pop(); c !== null; c = q.pop()) cs.push(c);
      expect(cs).toHaveLength(4);
      // Completions, each followed by more device activity that must leave used slots alone.
      q.addUsed(cs[1]!, 3);
      frozen.set(positions[0]!, slot(positions[0]!));
      checkFrozen();
      q.needsNotification();
      q.enableNotification();
      q.disableNotification();
      expect(q.pop()).toBeNull();
      checkFrozen();
      q.addUsedBatch([cs[3]!, cs[0]!, cs[2]!], [1, 2, 0]);
      for (const p of positions.slice(1)) frozen.set(p, slot(p));
      checkFrozen();
      q.enableNotification();
      q.needsNotification();
      checkFrozen();
      if (next + 4 >= SIZE) wrap ^= 1;
      next = (next + 4) % SIZE;
    }
  });
});
