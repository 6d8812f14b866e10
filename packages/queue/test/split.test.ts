import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { DescFlags, createVirtqueue, isQueueError, restoreVirtqueue, SplitQueue } from '@vmv/queue';
import { errorName, makeConfig, makeMemory, publish, writeSplitDesc } from './helpers';

const { NEXT, WRITE, INDIRECT } = DescFlags;
const AVAIL = 0x1000;
const USED = 0x2000;

describe('SplitQueue: popping chains', () => {
  it('pops a readable+writable chain and reports it in the used ring', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 0, 0x10000, 16, NEXT, 3);
    writeSplitDesc(mem, 0, 3, 0x11000, 512, NEXT | WRITE, 5);
    writeSplitDesc(mem, 0, 5, 0x12000, 1, WRITE, 0);
    publish(mem, AVAIL, 8, 0, [0]);
    const q = createVirtqueue(mem, makeConfig());
    expect(q).toBeInstanceOf(SplitQueue);
    const c = q.pop()!;
    expect(c.head).toBe(0);
    expect(c.descriptorCount).toBe(3);
    expect(c.readableCount).toBe(1);
    expect(c.readableBytes).toBe(16);
    expect(c.writableBytes).toBe(513);
    expect(c.address(1)).toBe(0x11000);
    expect(c.length(2)).toBe(1);
    expect(c.isWritable(0)).toBe(false);
    expect(c.isWritable(1)).toBe(true);
    expect(c.flags(1)).toBe(NEXT | WRITE);
    expect(q.pop()).toBeNull();
    q.addUsed(c, 513);
    expect(mem.readU16(USED + 2)).toBe(1);
    expect(mem.readU32(USED + 4)).toBe(0);
    expect(mem.readU32(USED + 8)).toBe(513);
    expect(q.nextAvail).toBe(1);
    expect(q.nextUsed).toBe(1);
  });

  it('follows a direct chain ending in an indirect table', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 2, 0x10000, 16, NEXT, 4);
    writeSplitDesc(mem, 0, 4, 0x8000, 48, INDIRECT, 0);
    writeSplitDesc(mem, 0x8000, 0, 0x11000, 8, NEXT, 2);
    writeSplitDesc(mem, 0x8000, 2, 0x12000, 100, NEXT | WRITE, 1);
    writeSplitDesc(mem, 0x8000, 1, 0x13000, 4, WRITE, 0);
    publish(mem, AVAIL, 8, 0, [2]);
    const q = createVirtqueue(mem, makeConfig({ indirect: true }));
    const c = q.pop()!;
    expect(c.indirect).toBe(true);
    expect(c.descriptors().map((d) => [d.address, d.length, d.writable])).toEqual([
      [0x10000, 16, false],
      [0x11000, 8, false],
      [0x12000, 100, true],
      [0x13000, 4, true],
    ]);
  });

  const bad: [string, (mem: ReturnType<typeof makeMemory>) => void, boolean?][] = [
    ['Queue.InvalidAvailIndexError', (m) => m.writeU16(AVAIL + 2, 9)],
    ['Queue.InvalidDescriptorIndexError', (m) => publish(m, AVAIL, 8, 0, [8])],
    [
      'Queue.InvalidDescriptorIndexError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x10000, 1, NEXT, 8);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.ChainTooLongError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x10000, 1, NEXT, 1);
        writeSplitDesc(m, 0, 1, 0x10000, 1, NEXT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.ChainLengthOverflowError',
      (m) => {
        // 4097 table entries of 1 MiB each (the same buffer) total more than 2^32 bytes.
        writeSplitDesc(m, 0, 0, 0x80000, 4097 * 16, INDIRECT, 0);
        for (let i = 0; i < 4097; i++) writeSplitDesc(m, 0x80000, i, 0, 0x100000, i < 4096 ? NEXT : 0, i + 1);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.InvalidIndirectDescriptorError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 16, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      false,
    ],
    [
      'Queue.InvalidIndirectDescriptorError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 16, INDIRECT | NEXT, 1);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.InvalidIndirectTableError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 0, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.InvalidIndirectTableError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 24, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.InvalidIndirectDescriptorError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 16, INDIRECT, 0);
        writeSplitDesc(m, 0x8000, 0, 0x9000, 16, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.ChainTooLongError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 32, INDIRECT, 0);
        writeSplitDesc(m, 0x8000, 0, 0x9000, 16, NEXT, 1);
        writeSplitDesc(m, 0x8000, 1, 0x9000, 16, NEXT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.ReadableAfterWritableError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x10000, 1, NEXT | WRITE, 1);
        writeSplitDesc(m, 0, 1, 0x10000, 1, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.BufferOutOfMemoryError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0xfff00, 0x1000, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
    [
      'Queue.BufferOutOfMemoryError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x8000, 0x10, INDIRECT, 0);
        writeSplitDesc(m, 0x8000, 0, 2n ** 63n, 1, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
    ],
  ];
  it.each(bad.map(([name, setup, indirect], i) => [i, name, setup, indirect ?? true] as const))('case %i: %s, then BrokenError from pop() until reset', (_i, name, setup, indirect) => {
    const mem = makeMemory();
    setup(mem);
    const q = createVirtqueue(mem, makeConfig({ indirect }));
    expect(errorName(() => q.pop())).toBe(name);
    expect(q.error?.name).toBe(name);
    expect(errorName(() => q.pop())).toBe('Queue.BrokenError');
    // The pop loop is where the device learns it; the rest is harmless and never throws.
    const before = mem.view(0x2000, 6 + 8 * 8).slice();
    expect(errorName(() => q.addUsed(0, 0))).toBe('no error');
    expect(q.needsNotification()).toBe(false);
    expect(q.enableNotification()).toBe(false);
    expect(errorName(() => q.disableNotification())).toBe('no error');
    expect(Buffer.from(mem.view(0x2000, 6 + 8 * 8)).equals(Buffer.from(before))).toBe(true);
    try {
      q.pop();
    } catch (e) {
      expect(isQueueError(e, 'Queue.BrokenError')).toBe(true);
      expect((e as Error).cause).toBe(q.error);
    }
    q.reset();
    expect(q.error).toBeNull();
  });
});

describe('SplitQueue: used ring and notifications', () => {
  function setup(opts: { eventIdx?: boolean; n?: number } = {}) {
    const mem = makeMemory();
    const n = opts.n ?? 8;
    for (let i = 0; i < n; i++) writeSplitDesc(mem, 0, i, 0x10000 + 0x100 * i, 0x100, WRITE, 0);
    const q = createVirtqueue(mem, makeConfig({ eventIdx: opts.eventIdx, size: n }));
    return { mem, q, n };
  }

  it('completes out of order with the exact written lengths', () => {
    const { mem, q } = setup();
    publish(mem, AVAIL, 8, 0, [5, 1, 7]);
    const a = q.pop()!;
    const b = q.pop()!;
    const c = q.pop()!;
    q.addUsed(c, 3);
    q.addUsed(a, 0x100);
    q.addUsed(b.head, 0);
    expect([0, 1, 2].map((k) => [mem.readU32(USED + 4 + 8 * k), mem.readU32(USED + 8 + 8 * k)])).toEqual([
      [7, 3],
      [5, 0x100],
      [1, 0],
    ]);
    expect(mem.readU16(USED + 2)).toBe(3);
  });

  it('addUsedBatch publishes once, validating every entry first', () => {
    const { mem, q } = setup();
    publish(mem, AVAIL, 8, 0, [0, 1, 2]);
    const cs = [q.pop()!, q.pop()!, q.pop()!];
    expect(() => q.addUsedBatch(cs, [1, 2, 0x101])).toThrow(RangeError);
    expect(mem.readU16(USED + 2)).toBe(0);
    expect(() => q.addUsedBatch([cs[0]!, cs[0]!], [1, 1])).toThrow(TypeError);
    expect(() => q.addUsedBatch(cs, [1], 3)).toThrow(RangeError);
    q.addUsedBatch(cs, [1, 2, 3]);
    expect(mem.readU16(USED + 2)).toBe(3);
    expect(mem.readU32(USED + 4 + 16 + 4)).toBe(3);
    q.addUsedBatch([], []);
    expect(q.nextUsed).toBe(3);
  });

  it('refuses misuse of addUsed', () => {
    const { mem, q } = setup();
    publish(mem, AVAIL, 8, 0, [0]);
    const c = q.pop()!;
    expect(() => q.addUsed(c, 0x101)).toThrow(RangeError);
    expect(() => q.addUsed(c, -1)).toThrow(RangeError);
    expect(() => q.addUsed(8, 0)).toThrow(RangeError);
    expect(() => q.addUsed(1.5, 0)).toThrow(RangeError);
    const other = setup().q;
    expect(() => other.addUsed(c, 0)).toThrow(TypeError);
    q.addUsed(c, 0);
    expect(() => q.addUsed(c, 0)).toThrow(TypeError);
  });

  it('without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT and VIRTQ_USED_F_NO_NOTIFY', () => {
    const { mem, q } = setup();
    publish(mem, AVAIL, 8, 0, [0]);
    q.addUsed(q.pop()!, 0);
    expect(q.needsNotification()).toBe(true);
    mem.writeU16(AVAIL, 1);
    q.addUsed(0, 0);
    expect(q.needsNotification()).toBe(false);
    q.disableNotification();
    expect(mem.readU16(USED) & 1).toBe(1);
    expect(q.enableNotification()).toBe(false);
    expect(mem.readU16(USED) & 1).toBe(0);
    publish(mem, AVAIL, 8, 1, [2]);
    expect(q.enableNotification()).toBe(true);
  });

  it('with EVENT_IDX: used_event decides, across the u16 wrap', () => {
    const { mem, q } = setup({ eventIdx: true });
    // Move the indices next to the wrap by restoring a state.
    mem.writeU16(AVAIL + 2, 0xfffd);
    mem.writeU16(USED + 2, 0xfffd);
    q.restoreState({ ...q.saveState(), nextAvail: 0xfffd, nextUsed: 0xfffd });
    publish(mem, AVAIL, 8, 0xfffd, [0, 1, 2, 3, 4]);
    mem.writeU16(AVAIL + 4 + 16, 0xffff); // used_event: interrupt when entry 0xffff is used
    const decisions: boolean[] = [];
    for (let k = 0; k < 5; k++) {
      q.addUsed(q.pop()!, 0);
      decisions.push(q.needsNotification());
    }
    expect(decisions).toEqual([false, false, true, false, false]);
    expect(q.nextUsed).toBe(2);
    // Several added before one check: the check covers them all.
    publish(mem, AVAIL, 8, 2, [5, 6]);
    mem.writeU16(AVAIL + 4 + 16, 2);
    q.addUsed(q.pop()!, 0);
    q.addUsed(q.pop()!, 0);
    expect(q.needsNotification()).toBe(true);
    expect(q.needsNotification()).toBe(false);
  });

  it('with EVENT_IDX: enableNotification writes avail_event = next_avail and re-checks', () => {
    const { mem, q } = setup({ eventIdx: true });
    q.disableNotification();
    expect(mem.readU16(USED)).toBe(0); // flags untouched with EVENT_IDX
    expect(mem.readU16(USED + 4 + 64)).toBe(0xffff); // avail_event one behind next_avail (0)
    publish(mem, AVAIL, 8, 0, [0, 1]);
    q.pop();
    expect(q.enableNotification()).toBe(true); // one more is available
    expect(mem.readU16(USED + 4 + 64)).toBe(1);
    q.pop();
    expect(q.enableNotification()).toBe(false);
    expect(mem.readU16(USED + 4 + 64)).toBe(2);
  });

  it('the disable -> drain -> enable loop sees a buffer added in between', () => {
    const { mem, q } = setup({ eventIdx: true });
    publish(mem, AVAIL, 8, 0, [0]);
    let popped = 0;
    let idx = 1;
    do {
      q.disableNotification();
      for (let c = q.pop(); c; c = q.pop()) {
        popped++;
        q.addUsed(c, 0);
        if (idx < 3) idx = publish(mem, AVAIL, 8, idx, [idx]); // the driver adds while we drain
      }
    } while (q.enableNotification());
    expect(popped).toBe(3);
  });
});

describe('SplitQueue: state, reset and memory', () => {
  it('saves plain JSON and restores it, validated against the ring', () => {
    const mem = makeMemory();
    for (let i = 0; i < 8; i++) writeSplitDesc(mem, 0, i, 0x10000, 16, 0, 0);
    const q = createVirtqueue(mem, makeConfig({ eventIdx: true }));
    publish(mem, AVAIL, 8, 0, [0, 1, 2]);
    q.addUsed(q.pop()!, 0);
    q.pop();
    const s = JSON.parse(JSON.stringify(q.saveState()));
    expect(s).toEqual({
      format: 'split',
      size: 8,
      descTable: 0,
      driverArea: 0x1000,
      deviceArea: 0x2000,
      eventIdx: true,
      indirectDesc: false,
      nextAvail: 2,
      nextUsed: 1,
      numAdded: 1,
    });
    const q2 = createVirtqueue(mem, makeConfig({ eventIdx: true }));
    q2.restoreState(s);
    expect(q2.pop()!.head).toBe(2);
    // nextUsed absent: taken from used.idx.
    const q3 = createVirtqueue(mem, makeConfig({ eventIdx: true }));
    q3.restoreState({ ...s, nextUsed: undefined });
    expect(q3.nextUsed).toBe(1);
    const bad = [
      { ...s, nextUsed: 0 }, // does not match used.idx
      { ...s, nextAvail: 100 }, // far from avail.idx
      { ...s, nextAvail: 1.5 },
      { ...s, size: 16 },
      { ...s, format: 'packed' },
      { ...s, eventIdx: false },
      { ...s, indirectDesc: 'no' },
      { ...s, driverArea: 0x3000 },
      { ...s, numAdded: -1 },
      'nope',
      [],
    ];
    for (const b of bad) expect(errorName(() => q2.restoreState(b))).toBe('Queue.InvalidStateError');
    // nextAvail more than size ahead of nextUsed
    mem.writeU16(AVAIL + 2, 12);
    expect(errorName(() => q2.restoreState({ ...s, nextAvail: 10 }))).toBe('Queue.InvalidStateError');
  });

  it('restoreVirtqueue rebuilds a queue from its state', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 3, 0x10000, 16, 0, 0);
    const q = createVirtqueue(mem, makeConfig());
    publish(mem, AVAIL, 8, 0, [3, 3]);
    q.addUsed(q.pop()!, 0);
    const r = restoreVirtqueue(mem, JSON.parse(JSON.stringify(q.saveState())), 256);
    expect(r.nextAvail).toBe(1);
    expect(r.pop()!.head).toBe(3);
  });

  it('reset clears positions and the broken state; completions of chains from before are dropped', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 0, 0x10000, 16, WRITE, 0);
    const q = createVirtqueue(mem, makeConfig());
    publish(mem, AVAIL, 8, 0, [0]);
    const c = q.pop()!;
    q.reset();
    expect([q.nextAvail, q.nextUsed]).toEqual([0, 0]);
    q.addUsed(c, 16);
    expect([mem.readU16(0x2002), mem.readU32(0x2004), q.nextUsed]).toEqual([0, 0, 0]);
    expect(q.pop()!.head).toBe(0);
  });

  it('cursors of a used chain are refused', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 0, 0x10000, 16, 0, 0);
    const q = createVirtqueue(mem, makeConfig());
    publish(mem, AVAIL, 8, 0, [0]);
    const c = q.pop()!;
    const r = c.reader();
    q.addUsed(c, 0);
    expect(() => r.readU8()).toThrow(TypeError);
    expect(() => r.remaining).toThrow(TypeError);
  });

  it('re-acquires its ring views after a WebAssembly.Memory grows', () => {
    // WebAssembly is a global of Node, typed by the DOM lib only.
    const { WebAssembly: Wasm } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(n: number): number } } };
    const wasm = new Wasm.Memory({ initial: 2, maximum: 4 });
    const mem = GuestMemory.fromRegions([{ start: 0, backing: wasm }]);
    writeSplitDesc(mem, 0, 0, 0x10000, 16, 0, 0);
    const q = createVirtqueue(mem, makeConfig());
    publish(mem, AVAIL, 8, 0, [0]);
    wasm.grow(1);
    const c = q.pop()!;
    expect(c.head).toBe(0);
    wasm.grow(1);
    q.addUsed(c, 0);
    expect(mem.readU16(USED + 2)).toBe(1);
    wasm.grow(0);
    expect(q.needsNotification()).toBe(true);
  });

  it('marks the used ring dirty for every write', () => {
    const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x100000), dirtyPageSize: 4096 }]);
    writeSplitDesc(mem, 0, 0, 0x10000, 16, 0, 0);
    const q = createVirtqueue(mem, makeConfig({ eventIdx: true }));
    publish(mem, AVAIL, 8, 0, [0]);
    mem.clearDirtyLog();
    q.addUsed(q.pop()!, 0);
    const pages = (): number[] => {
      const log = mem.takeDirtyLog()[0]!;
      const out: number[] = [];
      for (let p = 0; p < log.bitmap.length * 32; p++) if ((log.bitmap[p >> 5]! >>> (p & 31)) & 1) out.push(p);
      return out;
    };
    expect(pages()).toEqual([2]);
    q.enableNotification();
    expect(pages()).toEqual([2]);
  });

  it('handles buffers at addresses above 2^53 when memory has them', () => {
    const high = 2n ** 60n;
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x100000) },
      { start: high, backing: new ArrayBuffer(0x1000) },
    ]);
    writeSplitDesc(mem, 0, 0, high + 8n, 8, 0, 1);
    mem.writeU32(high + 8n, 0xdeadbeef);
    publish(mem, AVAIL, 8, 0, [0]);
    const c = createVirtqueue(mem, makeConfig()).pop()!;
    expect(c.address(0)).toBe(high + 8n);
    expect(c.reader().readU32()).toBe(0xdeadbeef);
    expect(c.descriptors()[0]!.address).toBe(high + 8n);
  });

  it('accepts a buffer spanning two adjacent regions', () => {
    const mem = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x10000) },
      { start: 0x10000, backing: new ArrayBuffer(0x10000) },
    ]);
    writeSplitDesc(mem, 0, 0, 0xfff0, 0x20, 0, 0);
    publish(mem, AVAIL, 8, 0, [0]);
    const c = createVirtqueue(mem, makeConfig()).pop()!;
    expect(c.reader().views().map((v) => v.length)).toEqual([0x10, 0x10]);
  });

  it('refuses chain accessors out of range', () => {
    const mem = makeMemory();
    writeSplitDesc(mem, 0, 0, 0x10000, 16, 0, 0);
    publish(mem, AVAIL, 8, 0, [0]);
    const c = createVirtqueue(mem, makeConfig()).pop()!;
    for (const f of [() => c.address(1), () => c.length(-1), () => c.flags(0.5), () => c.isWritable(NaN)]) expect(f).toThrow(RangeError);
  });
});

describe('SplitQueue: long chains', () => {
  it('walks a direct chain of the full queue size (the chain object grows, then is reused)', () => {
    const mem = makeMemory();
    const n = 64;
    for (let i = 0; i < n; i++) writeSplitDesc(mem, 0, i, 0x10000 + 16 * i, 16, (i + 1 < n ? NEXT : 0) | (i >= 10 ? WRITE : 0), (i + 1) % n);
    const q = createVirtqueue(mem, makeConfig({ size: n, driver: 0x1000, device: 0x2000 }));
    publish(mem, AVAIL, n, 0, [0, 0]);
    const c = q.pop()!;
    expect([c.descriptorCount, c.readableCount, c.readableBytes, c.writableBytes]).toEqual([64, 10, 160, 54 * 16]);
    expect(c.address(63)).toBe(0x10000 + 16 * 63);
    q.addUsed(c, 0);
    const again = q.pop()!;
    expect(again).toBe(c); // pooled
    expect(again.descriptorCount).toBe(64);
  });
});
