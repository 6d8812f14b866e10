/**
 * Acceptance audit: one hostile-guest attack per validation rule (validation checklist
 * §2.1-2.5, VIRTIO 1.2 §2.7-2.8). Each attack must produce exactly the documented typed error
 * (never another exception, a hang, an access outside guest memory or a truncated chain), and
 * the queue must then report broken for every ring operation until `reset()`, after which a
 * well-formed ring works again. Boundary values are checked on both sides.
 */
import { describe, expect, it } from '@jest/globals';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue, DescFlags, EventFlags, QueueConfig, Feature } from '@vmv/queue';
import type { DescriptorChain, Virtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { errorName, makeConfig, makeMemory, publish, writeSplitDesc } from './helpers';
import type { ConfigOptions } from './helpers';

const { NEXT, WRITE, INDIRECT, AVAIL: F_AVAIL, USED: F_USED } = DescFlags;
const AVAIL = 0x1000;
const USED = 0x2000;
const TABLE = 0x8000;
const MIB = 0x100000;

/** Writes a packed descriptor; `avail`/`used` are the raw bits. */
function pput(mem: GuestMemory, pos: number, addr: number | bigint, len: number, id: number, flags: number, avail: number, used: number): void {
  const at = 16 * pos;
  mem.writeU64(at, addr);
  mem.writeU32(at + 8, len);
  mem.writeU16(at + 12, id);
  mem.writeU16(at + 14, flags | (avail ? F_AVAIL : 0) | (used ? F_USED : 0));
}
/** Available for wrap counter `w`. */
const av = (mem: GuestMemory, pos: number, addr: number | bigint, len: number, id: number, flags: number, w = 1) => pput(mem, pos, addr, len, id, flags, w, w ^ 1);

/**
 * A broken queue until reset: pop() throws Queue.BrokenError (cause: the first error); every other
 * operation is harmless and does not throw. Completions of `held` chains (and number-form ones)
 * are dropped without writing guest memory, and the chain objects go back to the pool (a second
 * completion is misuse again); notifications are answered false.
 */
function expectBroken(q: Virtqueue, name: string, mem: GuestMemory, held: DescriptorChain[] = []): void {
  expect(q.error?.name).toBe(name);
  for (let i = 0; i < 2; i++) {
    try {
      q.pop();
      throw new Error('no error');
    } catch (e) {
      expect((e as Error).name).toBe('Queue.BrokenError');
      expect((e as Error).cause).toBe(q.error);
    }
  }
  const snapshot = (): Buffer => Buffer.concat(mem.regions.map((r) => mem.view(r.start, r.size)));
  const before = snapshot();
  const state = JSON.stringify(q.saveState());
  if (held.length > 0) q.addUsed(held[0]!, 0);
  if (held.length > 1) q.addUsedBatch(held.slice(1), held.slice(1).map(() => 0));
  if (q.format === 'split') q.addUsed(0, 0);
  q.addUsedBatch([], []);
  expect(q.needsNotification()).toBe(false);
  q.disableNotification();
  expect(q.enableNotification()).toBe(false);
  expect(q.needsNotification()).toBe(false);
  expect(snapshot().equals(before)).toBe(true);
  // Nothing was delivered: the positions are those of the break. Saving the state still works
  // (a device reports NEEDS_RESET, the VMM may still migrate).
  expect(JSON.stringify(q.saveState())).toBe(state);
  for (const c of held) expect(() => q.addUsed(c, 0)).toThrow(/already used/);
  expect(q.error?.name).toBe(name);
}

/** Split attack: `setup` writes the hostile ring, one pop must fail with `name`; then recovery. */
function splitAttack(name: string, setup: (m: GuestMemory) => void, o: ConfigOptions & { mem?: GuestMemory } = {}): Virtqueue {
  const mem = o.mem ?? makeMemory(0x200000);
  setup(mem);
  const q = createVirtqueue(mem, makeConfig({ indirect: true, ...o }));
  const n = q.size;
  let popped = 0;
  let err = 'no error';
  try {
    // A bounded drain: the error may come after some good chains (never more than the size).
    for (; popped <= n; popped++) if (q.pop() === null) break;
  } catch (e) {
    err = (e as Error).name;
  }
  expect(err).toBe(name);
  expectBroken(q, name, mem);
  // Recovery: the driver re-initialises the ring after the reset.
  q.reset();
  expect(q.error).toBeNull();
  const d = o.desc ?? 0;
  const a = o.driver ?? AVAIL;
  mem.fill(a, 6 + 2 * n, 0);
  mem.fill(o.device ?? USED, 6 + 8 * n, 0);
  writeSplitDesc(mem, d, 0, 0x10000, 8, WRITE, 0);
  publish(mem, a, n, 0, [0]);
  const c = q.pop()!;
  expect([c.head, c.descriptorCount, c.writableBytes]).toEqual([0, 1, 8]);
  q.addUsed(c, 8);
  return q;
}

/** Whether a split chain pops cleanly; returns it. */
function splitOk(setup: (m: GuestMemory) => void, o: ConfigOptions & { mem?: GuestMemory } = {}) {
  const mem = o.mem ?? makeMemory(0x200000);
  setup(mem);
  const q = createVirtqueue(mem, makeConfig({ indirect: true, ...o }));
  const c = q.pop();
  expect(q.error).toBeNull();
  return { q, c: c!, mem };
}

describe('split ring attacks (checklist §2.2-2.4)', () => {
  it('avail.idx jumps by size+1 and by 65535: InvalidAvailIndexError; by exactly size: fine', () => {
    splitAttack('Queue.InvalidAvailIndexError', (m) => m.writeU16(AVAIL + 2, 9));
    splitAttack('Queue.InvalidAvailIndexError', (m) => m.writeU16(AVAIL + 2, 0xffff));
    // A jump after some progress, across the u16 wrap: next = 0xfffe, idx = 0xfffe + 9 = 7.
    const mem = makeMemory();
    for (let i = 0; i < 8; i++) writeSplitDesc(mem, 0, i, 0x10000, 4, 0, 0);
    const q = createVirtqueue(mem, makeConfig());
    mem.writeU16(AVAIL + 2, 0xfffe);
    mem.writeU16(USED + 2, 0xfffe);
    q.restoreState({ ...q.saveState(), nextAvail: 0xfffe, nextUsed: 0xfffe });
    mem.writeU16(AVAIL + 2, 7);
    expect(errorName(() => q.pop())).toBe('Queue.InvalidAvailIndexError');
    q.reset();
    // Exactly the size: eight chains.
    const { q: q2 } = splitOk((m) => {
      for (let i = 0; i < 8; i++) writeSplitDesc(m, 0, i, 0x10000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [0, 1, 2, 3, 4, 5, 6, 7]);
    });
    let k = 1;
    while (q2.pop() !== null) k++;
    expect(k).toBe(8);
  });

  it('head == size: InvalidDescriptorIndexError (not an empty chain); head == size-1 is fine', () => {
    splitAttack('Queue.InvalidDescriptorIndexError', (m) => publish(m, AVAIL, 8, 0, [8]));
    splitAttack('Queue.InvalidDescriptorIndexError', (m) => publish(m, AVAIL, 8, 0, [0xffff]));
    const { c } = splitOk((m) => {
      writeSplitDesc(m, 0, 7, 0x10000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [7]);
    });
    expect(c.head).toBe(7);
  });

  it('next == size: InvalidDescriptorIndexError', () => {
    splitAttack('Queue.InvalidDescriptorIndexError', (m) => {
      writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT, 8);
      publish(m, AVAIL, 8, 0, [0]);
    });
  });

  it('next pointing to itself, and a cycle through the whole table: ChainTooLongError', () => {
    for (const size of [1, 2, 8, 256]) {
      splitAttack(
        'Queue.ChainTooLongError',
        (m) => {
          writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT, 0);
          publish(m, AVAIL, size, 0, [0]);
        },
        { size },
      );
      splitAttack(
        'Queue.ChainTooLongError',
        (m) => {
          for (let i = 0; i < size; i++) writeSplitDesc(m, 0, i, 0x10000, 4, NEXT, (i + 1) % size);
          publish(m, AVAIL, size, 0, [size - 1]);
        },
        { size },
      );
      // A chain of exactly `size` descriptors is fine.
      const { c } = splitOk(
        (m) => {
          for (let i = 0; i < size; i++) writeSplitDesc(m, 0, i, 0x10000, 4, i + 1 < size ? NEXT : 0, i + 1);
          publish(m, AVAIL, size, 0, [0]);
        },
        { size },
      );
      expect(c.descriptorCount).toBe(size);
    }
  });

  it('cycles inside an indirect table, and a self-loop: ChainTooLongError', () => {
    splitAttack('Queue.ChainTooLongError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 48, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, NEXT, 1);
      writeSplitDesc(m, TABLE, 1, 0x10000, 4, NEXT, 2);
      writeSplitDesc(m, TABLE, 2, 0x10000, 4, NEXT, 1);
      publish(m, AVAIL, 8, 0, [0]);
    });
    splitAttack('Queue.ChainTooLongError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 16, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, NEXT, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    // next == the table's count
    splitAttack('Queue.InvalidDescriptorIndexError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 32, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, NEXT, 2);
      publish(m, AVAIL, 8, 0, [0]);
    });
  });

  it('indirect table length 0 and 17: InvalidIndirectTableError; 16 * 65536 is walked; one more entry is refused', () => {
    for (const len of [0, 17, 8, 16 * 65536 + 16, 0xfffffff0]) {
      splitAttack('Queue.InvalidIndirectTableError', (m) => {
        writeSplitDesc(m, 0, 0, TABLE, len, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      });
    }
    // 65536 entries, chained 0 -> 1 -> ... -> 65535: the largest table; all of it is walked.
    const backing = new ArrayBuffer(0x300000);
    const mem = GuestMemory.fromRegions([{ start: 0, backing }]);
    const dv = new DataView(backing);
    for (let i = 0; i < 65536; i++) {
      const at = MIB + 16 * i;
      dv.setUint32(at, 0x10000 + (i & 0xff), true);
      dv.setUint32(at + 8, 1, true);
      dv.setUint16(at + 12, i < 65535 ? NEXT : 0, true);
      dv.setUint16(at + 14, i + 1, true);
    }
    const { c } = splitOk(
      (m) => {
        writeSplitDesc(m, 0, 0, MIB, 16 * 65536, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { mem },
    );
    expect([c.descriptorCount, c.readableBytes, c.indirect]).toEqual([65536, 65536, true]);
    expect(c.address(65535)).toBe(0x10000 + 0xff);
  });

  it('NEXT on the indirect descriptor, INDIRECT inside a table, INDIRECT without the feature: InvalidIndirectDescriptorError', () => {
    splitAttack('Queue.InvalidIndirectDescriptorError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 16, INDIRECT | NEXT, 1);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    splitAttack('Queue.InvalidIndirectDescriptorError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 32, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, NEXT, 1);
      writeSplitDesc(m, TABLE, 1, TABLE, 32, INDIRECT, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    splitAttack(
      'Queue.InvalidIndirectDescriptorError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT, 1);
        writeSplitDesc(m, 0, 1, TABLE, 16, INDIRECT, 0);
        writeSplitDesc(m, TABLE, 0, 0x10000, 4, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { indirect: false },
    );
  });

  it('readable after writable, direct, in a table, and across the two: ReadableAfterWritableError', () => {
    splitAttack('Queue.ReadableAfterWritableError', (m) => {
      writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT, 1);
      writeSplitDesc(m, 0, 1, 0x11000, 4, NEXT | WRITE, 2);
      writeSplitDesc(m, 0, 2, 0x12000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    splitAttack('Queue.ReadableAfterWritableError', (m) => {
      writeSplitDesc(m, 0, 0, TABLE, 32, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x10000, 4, NEXT | WRITE, 1);
      writeSplitDesc(m, TABLE, 1, 0x11000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    splitAttack('Queue.ReadableAfterWritableError', (m) => {
      writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT | WRITE, 1);
      writeSplitDesc(m, 0, 1, TABLE, 16, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x11000, 4, 0, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    // Readable, writable, writable in a table after a direct readable: fine.
    const { c } = splitOk((m) => {
      writeSplitDesc(m, 0, 0, 0x10000, 4, NEXT, 1);
      writeSplitDesc(m, 0, 1, TABLE, 32, INDIRECT, 0);
      writeSplitDesc(m, TABLE, 0, 0x11000, 4, NEXT, 1);
      writeSplitDesc(m, TABLE, 1, 0x12000, 4, WRITE, 0);
      publish(m, AVAIL, 8, 0, [0]);
    });
    expect([c.readableCount, c.descriptorCount]).toEqual([2, 3]);
  });

  it('total length exactly 2^32 is accepted; 2^32 + 1 is ChainLengthOverflowError (direct and indirect)', () => {
    // 4096 buffers of 1 MiB (the same memory) = 2^32 bytes; direct chain in an 8192-entry queue.
    const big: ConfigOptions = { size: 8192, maxSize: 8192, desc: 0, driver: 0x20000, device: 0x28000 };
    const direct = (extra: boolean) => (m: GuestMemory) => {
      for (let i = 0; i < 4096; i++) writeSplitDesc(m, 0, i, MIB, MIB, i < 4095 || extra ? NEXT : 0, i + 1);
      if (extra) writeSplitDesc(m, 0, 4096, MIB, 1, 0, 0);
      publish(m, 0x20000, 8192, 0, [0]);
    };
    const mem = () => makeMemory(0x300000);
    const { c } = splitOk(direct(false), { ...big, mem: mem() });
    expect([c.descriptorCount, c.readableBytes]).toEqual([4096, 2 ** 32]);
    splitAttack('Queue.ChainLengthOverflowError', direct(true), { ...big, mem: mem() });
    const indirect = (extra: boolean) => (m: GuestMemory) => {
      const n = extra ? 4097 : 4096;
      writeSplitDesc(m, 0, 0, 0x200000, 16 * n, INDIRECT, 0);
      for (let i = 0; i < n; i++) writeSplitDesc(m, 0x200000, i, MIB, i < 4096 ? MIB : 1, i + 1 < n ? NEXT | WRITE : WRITE, i + 1);
      publish(m, AVAIL, 8, 0, [0]);
    };
    const r = splitOk(indirect(false), { mem: mem() });
    expect(r.c.writableBytes).toBe(2 ** 32);
    // writtenLen is a u32: at most 2^32 - 1 can be reported.
    r.q.addUsed(r.c, 0xffffffff);
    splitAttack('Queue.ChainLengthOverflowError', indirect(true), { mem: mem() });
  });

  it('addresses near 2^64 whose length wraps, and indirect tables there: BufferOutOfMemoryError', () => {
    const top = 2n ** 64n;
    for (const [addr, len] of [
      [top - 16n, 32],
      [top - 1n, 2],
      [top - 1n, 0xffffffff],
      [2n ** 53n - 8n, 16], // the number/bigint boundary
      [BigInt(Number.MAX_SAFE_INTEGER), 1],
    ] as const) {
      splitAttack('Queue.BufferOutOfMemoryError', (m) => {
        writeSplitDesc(m, 0, 0, addr, len, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      });
      splitAttack('Queue.BufferOutOfMemoryError', (m) => {
        writeSplitDesc(m, 0, 0, addr, len, WRITE, 0);
        publish(m, AVAIL, 8, 0, [0]);
      });
      splitAttack('Queue.BufferOutOfMemoryError', (m) => {
        writeSplitDesc(m, 0, 0, addr - (addr % 16n), 32, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      });
    }
  });

  it('buffers spanning a hole between regions, or writable buffers in read-only memory: BufferOutOfMemoryError', () => {
    const layout = () =>
      GuestMemory.fromRegions([
        { start: 0, backing: new ArrayBuffer(0x20000) },
        { start: 0x30000, backing: new ArrayBuffer(0x10000) }, // hole 0x20000..0x30000
        { start: 0x40000, backing: new ArrayBuffer(0x10000), readOnly: true }, // adjacent, read-only
      ]);
    for (const [addr, len, flags] of [
      [0x1fff0, 0x20, 0], // runs into the hole
      [0x2fff0, 0x20, 0], // starts in the hole
      [0x3fff0, 0x20, WRITE], // writable, runs into read-only memory
      [0x40000, 1, WRITE],
      [0x50000, 1, 0], // past the end
    ] as const) {
      splitAttack(
        'Queue.BufferOutOfMemoryError',
        (m) => {
          writeSplitDesc(m, 0, 0, addr, len, flags, 0);
          publish(m, AVAIL, 8, 0, [0]);
        },
        { mem: layout() },
      );
    }
    // Readable across the adjacent read-only region: fine, and readable through the cursor.
    const { c } = splitOk(
      (m) => {
        writeSplitDesc(m, 0, 0, 0x3fff0, 0x20, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { mem: layout() },
    );
    expect(c.reader().views().map((v) => v.length)).toEqual([0x10, 0x10]);
    // An indirect table spanning the hole.
    splitAttack(
      'Queue.BufferOutOfMemoryError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x1fff0, 32, INDIRECT, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { mem: layout() },
    );
  });

  it('the region cache of the chain walk is not fooled (a good buffer first, then a bad one in the same region)', () => {
    const layout = () =>
      GuestMemory.fromRegions([
        { start: 0, backing: new ArrayBuffer(0x20000) },
        { start: 0x20000, backing: new ArrayBuffer(0x10000), readOnly: true },
      ]);
    // Readable in read-only memory (caches that region), then writable there: direct and in a table.
    splitAttack(
      'Queue.BufferOutOfMemoryError',
      (m) => {
        writeSplitDesc(m, 0, 0, 0x20000, 4, NEXT, 1);
        writeSplitDesc(m, 0, 1, 0x20100, 4, WRITE, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { mem: layout() },
    );
    splitAttack(
      'Queue.BufferOutOfMemoryError',
      (m) => {
        writeSplitDesc(m, 0, 0, TABLE, 32, INDIRECT, 0);
        writeSplitDesc(m, TABLE, 0, 0x20000, 4, NEXT, 1);
        writeSplitDesc(m, TABLE, 1, 0x20100, 4, WRITE, 0);
        publish(m, AVAIL, 8, 0, [0]);
      },
      { mem: layout() },
    );
    // A buffer inside the last region (caches it), then one running past its end.
    for (const viaTable of [false, true]) {
      splitAttack('Queue.BufferOutOfMemoryError', (m) => {
        const t = viaTable ? TABLE : 0;
        if (viaTable) writeSplitDesc(m, 0, 0, TABLE, 32, INDIRECT, 0);
        writeSplitDesc(m, t, 0, 0x1ff000, 16, NEXT, 1);
        writeSplitDesc(m, t, 1, 0x1ffff0, 0x20, 0, 0);
        publish(m, AVAIL, 8, 0, [0]);
      });
    }
    // The same in a packed list and a packed table.
    const pm = layout();
    const q = createVirtqueue(pm, makeConfig({ packed: true, size: 4, indirect: true }));
    av(pm, 1, 0x20100, 4, 0, WRITE);
    av(pm, 0, 0x20000, 4, 0, NEXT);
    expect(errorName(() => q.pop())).toBe('Queue.BufferOutOfMemoryError');
    const pm2 = makeMemory(0x200000);
    const q2 = createVirtqueue(pm2, makeConfig({ packed: true, size: 4, indirect: true }));
    pm2.writeU64(TABLE, 0x1ff000);
    pm2.writeU32(TABLE + 8, 16);
    pm2.writeU64(TABLE + 16, 0x1ffff0);
    pm2.writeU32(TABLE + 24, 0x20);
    av(pm2, 0, TABLE, 32, 0, INDIRECT);
    expect(errorName(() => q2.pop())).toBe('Queue.BufferOutOfMemoryError');
  });

  it('more chains in flight than the queue size: QueueSizeExceededError', () => {
    // The device holds all eight; the driver re-publishes one it does not own.
    const mem = makeMemory();
    for (let i = 0; i < 8; i++) writeSplitDesc(mem, 0, i, 0x10000, 4, 0, 0);
    const q2 = createVirtqueue(mem, makeConfig());
    let idx = publish(mem, AVAIL, 8, 0, [0, 1, 2, 3, 4, 5, 6, 7]);
    const held = [];
    for (let c = q2.pop(); c !== null; c = q2.pop()) held.push(c);
    expect(held.length).toBe(8);
    q2.addUsed(held.pop()!, 0);
    idx = publish(mem, AVAIL, 8, idx, [7]); // fine: one was used
    held.push(q2.pop()!);
    publish(mem, AVAIL, 8, idx, [3]);
    expect(errorName(() => q2.pop())).toBe('Queue.QueueSizeExceededError');
    expectBroken(q2, 'Queue.QueueSizeExceededError', mem, held);
    // The saved state of a queue that refused stays restorable.
    const fresh = createVirtqueue(mem, makeConfig());
    fresh.restoreState(q2.saveState());
  });
});

describe('configuration attacks (checklist §2.1)', () => {
  const mem = makeMemory(0x10000);
  const cfg = (o: ConfigOptions) => () => makeConfig(o).validate(mem);
  it('ring areas overlapping each other, by one byte, in every pair', () => {
    // size 8: desc 128 B, avail 22 B, used 70 B
    expect(errorName(cfg({ desc: 0x1000, driver: 0x1000 + 126, device: 0x2000 }))).toBe('Queue.OverlappingAreasError');
    expect(errorName(cfg({ desc: 0x1000, driver: 0x3000, device: 0x1000 + 124 }))).toBe('Queue.OverlappingAreasError');
    expect(errorName(cfg({ desc: 0x1000, driver: 0x2fe8, device: 0x3000 }))).toBe('no error'); // avail ends at 0x2ffe
    expect(errorName(cfg({ desc: 0x1000, driver: 0x2fe8, device: 0x2ffc }))).toBe('Queue.OverlappingAreasError');
    expect(errorName(cfg({ desc: 0x1000, driver: 0x1080, device: 0x1098 }))).toBe('no error'); // back to back
    // Packed: 4-byte event structures right after the ring are fine, inside it are not.
    expect(errorName(cfg({ packed: true, desc: 0x1000, driver: 0x1080, device: 0x1084 }))).toBe('no error');
    expect(errorName(cfg({ packed: true, desc: 0x1000, driver: 0x107c, device: 0x1084 }))).toBe('Queue.OverlappingAreasError');
    expect(errorName(cfg({ packed: true, desc: 0x1000, driver: 0x1080, device: 0x1080 }))).toBe('Queue.OverlappingAreasError');
  });

  it('areas past the end of memory, near 2^64, or the used ring in read-only memory', () => {
    expect(errorName(cfg({ device: 0x10000 - 68 }))).toBe('Queue.AreaOutOfMemoryError');
    expect(errorName(cfg({ device: 0x10000 - 72 }))).toBe('no error');
    const c = makeConfig();
    c.setAreaHigh('descTable', 0xffffffff);
    c.setAreaLow('descTable', 0xfffffff0);
    expect(errorName(() => c.validate(mem))).toBe('Queue.AreaOutOfMemoryError');
    const ro = GuestMemory.fromRegions([
      { start: 0, backing: new ArrayBuffer(0x2000), readOnly: true },
      { start: 0x2000, backing: new ArrayBuffer(0x2000) },
    ]);
    expect(errorName(() => makeConfig({ desc: 0, driver: 0x1000, device: 0x1800 }).validate(ro))).toBe('Queue.AreaOutOfMemoryError');
    // Split: the device only reads the descriptor table and the available ring.
    expect(errorName(() => makeConfig({ desc: 0, driver: 0x1000, device: 0x2000 }).validate(ro))).toBe('no error');
  });

  it('a misaligned low half then a fixing high half stays misaligned; every setter keeps the bad value', () => {
    const c = makeConfig();
    expect(errorName(() => c.setAreaLow('deviceArea', 0x2002))).toBe('Queue.MisalignedAreaError');
    c.setAreaHigh('deviceArea', 0);
    expect(errorName(() => c.validate(mem))).toBe('Queue.MisalignedAreaError');
    expect(errorName(() => createVirtqueue(mem, c))).toBe('Queue.MisalignedAreaError');
    for (const size of [0, 3, 512, 32769, 65535]) {
      const s = makeConfig();
      expect(errorName(() => s.setSize(size))).toBe('Queue.InvalidSizeError');
      expect(s.size).toBe(size);
      expect(errorName(() => createVirtqueue(mem, s))).toBe('Queue.InvalidSizeError');
    }
  });

  it('restore with next_avail far ahead of (or behind) avail.idx, or next_used off used.idx: InvalidStateError', () => {
    const m = makeMemory();
    for (let i = 0; i < 8; i++) writeSplitDesc(m, 0, i, 0x10000, 4, 0, 0);
    const q = createVirtqueue(m, makeConfig());
    m.writeU16(AVAIL + 2, 100);
    m.writeU16(USED + 2, 92);
    const s = q.saveState();
    const ok = (nextAvail: number, nextUsed?: number) => errorName(() => q.restoreState({ ...s, nextAvail, nextUsed }));
    expect(ok(92)).toBe('no error'); // 8 available: exactly the size
    expect(ok(96)).toBe('no error'); // 4 in flight, 4 available
    expect(ok(100)).toBe('no error'); // 8 in flight
    expect(ok(91)).toBe('Queue.InvalidStateError'); // 9 available (and behind used.idx)
    expect(ok(101)).toBe('Queue.InvalidStateError'); // ahead of avail.idx
    expect(ok(100 + 0x8000)).toBe('Queue.InvalidStateError');
    expect(ok(96, 93)).toBe('Queue.InvalidStateError'); // next_used is not used.idx
    m.writeU16(AVAIL + 2, 101);
    expect(ok(101)).toBe('Queue.InvalidStateError'); // 9 in flight
    expect(ok(100)).toBe('no error'); // 8 in flight and one more available: popping it is refused
    expect(errorName(() => q.pop())).toBe('Queue.QueueSizeExceededError');
    expect(ok(96)).toBe('no error'); // a restore clears the broken state
    expect(q.pop()!.head).toBe(0);
  });
});

// ------------------------------------------------------------------------------------- packed

function packedAttack(name: string, setup: (m: GuestMemory) => void, o: ConfigOptions = {}): Virtqueue {
  const mem = makeMemory(0x200000);
  setup(mem);
  const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4, indirect: true, ...o }));
  let err = 'no error';
  try {
    for (let k = 0; k <= q.size; k++) if (q.pop() === null) break;
  } catch (e) {
    err = (e as Error).name;
  }
  expect(err).toBe(name);
  expectBroken(q, name, mem);
  q.reset();
  mem.fill(0, 16 * q.size, 0);
  av(mem, 0, 0x10000, 8, 0, WRITE);
  const c = q.pop()!;
  expect([c.head, c.writableBytes]).toEqual([0, 8]);
  q.addUsed(c, 8);
  return q;
}

describe('packed ring attacks (§2.8)', () => {
  it('wrap-counter games on the first descriptor: not available, so nothing is popped', () => {
    for (const [a, u] of [
      [1, 1], // looks used
      [0, 0], // looks used (other lap)
      [0, 1], // available for the other lap
    ] as const) {
      const mem = makeMemory();
      const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4 }));
      pput(mem, 0, 0x10000, 4, 0, 0, a, u);
      expect(q.pop()).toBeNull();
      expect(q.enableNotification()).toBe(false);
    }
  });

  it('a later descriptor of a list not available: DescriptorNotAvailableError (VIRTIO 1.2 §2.8.15)', () => {
    // The driver made the head available before the rest of the list.
    packedAttack('Queue.DescriptorNotAvailableError', (m) => {
      av(m, 0, 0x10000, 4, 0, NEXT);
      pput(m, 1, 0x11000, 4, 0, 0, 0, 0);
    });
    // The second descriptor marked for the wrong lap.
    packedAttack('Queue.DescriptorNotAvailableError', (m) => {
      av(m, 0, 0x10000, 4, 0, NEXT);
      av(m, 1, 0x11000, 4, 0, 0, 0);
    });
    // Looks used (AVAIL == USED == wrap).
    packedAttack('Queue.DescriptorNotAvailableError', (m) => {
      av(m, 0, 0x10000, 4, 0, NEXT);
      pput(m, 1, 0x11000, 4, 0, 0, 1, 1);
    });
    // A list crossing the end of the ring: its wrapped part must be available for lap 0.
    for (const tail of ['used', 'lap1', 'lap0'] as const) {
      const mem = makeMemory();
      const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4 }));
      for (let p = 0; p < 3; p++) av(mem, p, 0x10000, 4, 9 - p, 0);
      for (let k = 0; k < 3; k++) q.addUsed(q.pop()!, 0); // position 0 now holds a used descriptor
      if (tail === 'lap1') av(mem, 0, 0x11000, 4, 1, 0, 1);
      if (tail === 'lap0') av(mem, 0, 0x11000, 4, 1, 0, 0);
      av(mem, 3, 0x10000, 4, 1, NEXT);
      if (tail === 'lap0') {
        const c = q.pop()!;
        expect([c.head, c.descriptorCount, q.nextAvail, q.saveState().availWrapCounter]).toEqual([1, 2, 1, 0]);
      } else {
        expect(errorName(() => q.pop())).toBe('Queue.DescriptorNotAvailableError');
        expectBroken(q, 'Queue.DescriptorNotAvailableError', mem);
      }
    }
  });

  it('buffer ID reuse while in flight: DuplicateBufferIdError; after use it is fine', () => {
    packedAttack('Queue.DuplicateBufferIdError', (m) => {
      av(m, 0, 0x10000, 4, 5, 0);
      av(m, 1, 0x10000, 4, 3, NEXT);
      av(m, 2, 0x10000, 4, 5, 0);
    });
    const mem = makeMemory();
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4 }));
    av(mem, 0, 0x10000, 4, 0xffff, 0);
    av(mem, 1, 0x10000, 4, 0xffff, 0);
    q.addUsed(q.pop()!, 0);
    expect(q.pop()!.head).toBe(0xffff);
  });

  it('a list longer than the free ring slots: QueueSizeExceededError', () => {
    const mem = makeMemory();
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4 }));
    av(mem, 0, 0x10000, 4, 0, 0);
    av(mem, 1, 0x10000, 4, 1, 0);
    const held = [q.pop()!, q.pop()!];
    // The driver overwrites an in-flight slot with the tail of a 3-descriptor list: 2 + 3 > 4.
    av(mem, 2, 0x10000, 4, 2, NEXT);
    av(mem, 3, 0x10000, 4, 2, NEXT);
    av(mem, 0, 0x10000, 4, 2, 0, 0);
    expect(errorName(() => q.pop())).toBe('Queue.QueueSizeExceededError');
    expectBroken(q, 'Queue.QueueSizeExceededError', mem, held);
    // Its saved state is still consistent (restorable).
    createVirtqueue(mem, makeConfig({ packed: true, size: 4 })).restoreState(q.saveState());
    // With two slots free, a 2-descriptor list fits.
    q.reset();
    mem.fill(0, 64, 0);
    av(mem, 0, 0x10000, 4, 0, 0);
    av(mem, 1, 0x10000, 4, 1, 0);
    q.pop();
    q.pop();
    av(mem, 2, 0x10000, 4, 2, NEXT);
    av(mem, 3, 0x10000, 4, 2, 0);
    expect(q.pop()!.descriptorCount).toBe(2);
  });

  it('indirect rules: not negotiated, NEXT on it, inside a NEXT list, length 0 / 17 / 2^20 + 16, table outside memory', () => {
    packedAttack('Queue.InvalidIndirectDescriptorError', (m) => av(m, 0, TABLE, 16, 0, INDIRECT), { indirect: false });
    packedAttack('Queue.InvalidIndirectDescriptorError', (m) => {
      av(m, 1, 0x10000, 4, 0, 0);
      av(m, 0, TABLE, 16, 0, INDIRECT | NEXT);
    });
    packedAttack('Queue.InvalidIndirectDescriptorError', (m) => {
      av(m, 1, TABLE, 16, 0, INDIRECT);
      av(m, 0, 0x10000, 4, 0, NEXT);
    });
    for (const len of [0, 17, 16 * 65536 + 16]) packedAttack('Queue.InvalidIndirectTableError', (m) => av(m, 0, TABLE, len, 0, INDIRECT));
    packedAttack('Queue.BufferOutOfMemoryError', (m) => av(m, 0, 2n ** 64n - 16n, 32, 0, INDIRECT));
    packedAttack('Queue.ReadableAfterWritableError', (m) => {
      m.writeU64(TABLE, 0x10000);
      m.writeU32(TABLE + 8, 4);
      m.writeU16(TABLE + 14, WRITE);
      m.writeU64(TABLE + 16, 0x10000);
      m.writeU32(TABLE + 24, 4);
      av(m, 0, TABLE, 32, 0, INDIRECT);
    });
  });

  it('descriptor-specific event offsets beyond the ring never throw and follow the spec formula', () => {
    const mem = makeMemory();
    const q = createVirtqueue(mem, makeConfig({ packed: true, size: 4, eventIdx: true }));
    mem.writeU16(0x1000 + 2, EventFlags.DESC);
    let abs = 0;
    for (const off of [4, 5, 0x7fff, 0x7ffe, 100, 3, 0]) {
      for (const w of [0, 1]) {
        mem.writeU16(0x1000, off | (w << 15));
        const wrap = Math.floor(abs / 4) % 2 === 0 ? 1 : 0;
        av(mem, abs % 4, 0x10000, 4, 0, 0, wrap);
        q.addUsed(q.pop()!, 0);
        abs++;
        const n = abs % 4;
        const usedWrap = Math.floor(abs / 4) % 2 === 0 ? 1 : 0;
        const event = off - (w === usedWrap ? 0 : 4);
        expect(q.needsNotification()).toBe(n - 1 <= event && event < n);
      }
    }
  });
});

describe('notification races (checklist §2.5 rule 26)', () => {
  type Fmt = 'split' | 'packed';
  const mk = (format: Fmt, eventIdx: boolean) => {
    const mem = makeMemory();
    const lay = format === 'split' ? SplitDriver.layout(8, 0) : PackedDriver.layout(8, 0);
    const o = { size: 8, ...lay, eventIdx };
    const drv = format === 'split' ? new SplitDriver<number>(mem, o) : new PackedDriver<number>(mem, o);
    const q = createVirtqueue(mem, drv.queueConfig());
    return { drv, q };
  };
  const ONE = [{ addr: 0x10000, len: 4 }];

  for (const format of ['split', 'packed'] as const) {
    for (const eventIdx of [false, true]) {
      it(`${format}, event idx ${eventIdx}: a buffer added at any point of disable -> drain -> enable is never lost`, () => {
        // The driver adds at `point`; afterwards either the device's loop popped it, or the
        // driver's kick decision says to notify.
        for (const point of ['afterDisable', 'afterPop', 'afterNull', 'afterEnable'] as const) {
          const { drv, q } = mk(format, eventIdx);
          drv.add(ONE, [], 1);
          drv.kickPrepare();
          let raced = false;
          let kick = false;
          let popped = 0;
          const race = (p: string) => {
            if (p === point && !raced) {
              raced = true;
              drv.add(ONE, [], 2);
              kick = drv.kickPrepare();
            }
          };
          do {
            q.disableNotification();
            race('afterDisable');
            for (let c = q.pop(); c !== null; c = q.pop()) {
              popped++;
              race('afterPop');
              q.addUsed(c, 0);
            }
            race('afterNull');
          } while (q.enableNotification());
          race('afterEnable');
          expect(raced).toBe(true);
          // Lost kick: the device sleeps with a buffer it has not popped, and no notification.
          if (popped < 2) expect(kick).toBe(true);
          if (!kick) expect(popped).toBe(2);
        }
      });
    }
  }
});

describe('growing WebAssembly.Memory during a chain lifetime', () => {
  it('cursors and the used ring keep working after grow() detaches the old buffer', () => {
    const { WebAssembly: Wasm } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(n: number): number } } };
    for (const packed of [false, true]) {
      const wasm = new Wasm.Memory({ initial: 2, maximum: 8 });
      const mem = GuestMemory.fromRegions([{ start: 0, backing: wasm }]);
      const q = createVirtqueue(mem, makeConfig({ packed, size: 4 }));
      mem.writeU32(0x10000, 0xdeadbeef);
      if (packed) {
        av(mem, 0, 0x10000, 8, 3, NEXT);
        av(mem, 1, 0x11000, 16, 3, WRITE);
      } else {
        writeSplitDesc(mem, 0, 0, 0x10000, 8, NEXT, 1);
        writeSplitDesc(mem, 0, 1, 0x11000, 16, WRITE, 0);
        publish(mem, AVAIL, 4, 0, [0]);
      }
      const c = q.pop()!;
      const r = c.reader();
      const w = c.writer();
      const old = wasm.buffer;
      wasm.grow(1);
      expect(old.byteLength).toBe(0); // detached
      expect(r.readU32()).toBe(0xdeadbeef);
      w.writeU32(0x01020304);
      wasm.grow(1);
      expect(Array.from(w.view(4)!)).toEqual([0, 0, 0, 0]);
      wasm.grow(1);
      w.fill(8, 0xaa);
      wasm.grow(1);
      expect(mem.readU32(0x11000)).toBe(0x01020304);
      expect(mem.readU8(0x11000 + 15)).toBe(0xaa);
      q.addUsed(c, w.written);
      expect(q.needsNotification()).toBe(true);
      expect(q.error).toBeNull();
    }
  });
});

describe('chains popped before a reset or a restore', () => {
  it('their cursors no longer touch guest memory, and their completion is dropped', () => {
    for (const packed of [false, true]) {
      for (const how of ['reset', 'restore'] as const) {
        const mem = makeMemory();
        const q = createVirtqueue(mem, makeConfig({ packed, size: 4 }));
        if (packed) {
          av(mem, 0, 0x10000, 4, 1, NEXT);
          av(mem, 1, 0x11000, 4, 1, WRITE);
        } else {
          writeSplitDesc(mem, 0, 0, 0x10000, 4, NEXT, 1);
          writeSplitDesc(mem, 0, 1, 0x11000, 4, WRITE, 0);
          publish(mem, AVAIL, 4, 0, [0]);
        }
        const c = q.pop()!;
        const r = c.reader();
        const w = c.writer();
        const state = q.saveState();
        if (how === 'reset') q.reset();
        else q.restoreState(state);
        expect(() => r.readU8()).toThrow(TypeError);
        expect(() => w.writeU32(0xffffffff)).toThrow(TypeError);
        expect(() => c.writer().fill(4, 0xff)).toThrow(TypeError);
        const rings = mem.view(0, 0x3000).slice();
        q.addUsed(c, 0); // late: dropped, nothing written into the ring
        expect(Buffer.from(mem.view(0, 0x3000)).equals(Buffer.from(rings))).toBe(true);
        expect(() => q.addUsed(c, 0)).toThrow(/already used/); // its one completion was that one
        expect(mem.readU32(0x11000)).toBe(0); // the guest may own that buffer again
      }
    }
  });
});

describe('QueueConfig features feed the ring rules', () => {
  it('INDIRECT without VIRTIO_F_INDIRECT_DESC is refused in both formats; with it, accepted', () => {
    for (const packed of [false, true]) {
      for (const indirect of [false, true]) {
        const mem = makeMemory();
        const cfg = new QueueConfig(8);
        let f = 0n;
        if (packed) f |= 1n << BigInt(Feature.RING_PACKED);
        if (indirect) f |= 1n << BigInt(Feature.INDIRECT_DESC);
        cfg.setFeatures(f);
        cfg.setSize(8);
        cfg.setArea('descTable', 0);
        cfg.setArea('driverArea', AVAIL);
        cfg.setArea('deviceArea', USED);
        cfg.ready = true;
        writeSplitDesc(mem, TABLE, 0, 0x10000, 4, 0, 0);
        if (packed) av(mem, 0, TABLE, 16, 0, INDIRECT);
        else {
          writeSplitDesc(mem, 0, 0, TABLE, 16, INDIRECT, 0);
          publish(mem, AVAIL, 8, 0, [0]);
        }
        const q = createVirtqueue(mem, cfg);
        expect(errorName(() => q.pop())).toBe(indirect ? 'no error' : 'Queue.InvalidIndirectDescriptorError');
      }
    }
  });
});
