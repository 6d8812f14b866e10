/**
 * Golden byte layouts (VIRTIO 1.2 §2.7.5 struct virtq_desc, §2.7.6 virtq_avail, §2.7.8
 * virtq_used, §2.8.13 struct pvirtq_desc, §2.8.14 pvirtq_event_suppress): the bytes the driver
 * and the device write, checked against hand-written vectors.
 */
import { describe, expect, it } from '@jest/globals';
import type { GuestMemory } from '@vmv/memory';
import { createVirtqueue, packedRingSizes, splitRingSizes, vringNeedEvent } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { makeMemory } from './helpers';

const hex = (mem: GuestMemory, addr: number, len: number): string => {
  const b = new Uint8Array(len);
  mem.read(addr, b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
};
const h = (s: string): string => s.trim().split(/\s+/).join(' ');

const A_OUT = [{ addr: 0x10000, len: 16 }];
const A_IN = [
  { addr: 0x11000, len: 0x200 },
  { addr: 0x12000, len: 1 },
];
const B_IN = [{ addr: 0x13000, len: 0x1000 }];

describe('golden layouts', () => {
  it('split ring: descriptors, available ring, used ring, used_event/avail_event', () => {
    const mem = makeMemory();
    const lay = SplitDriver.layout(4, 0);
    expect(lay).toEqual({ descTable: 0, driverArea: 64, deviceArea: 4096, bytes: 4134 });
    const drv = new SplitDriver<string>(mem, { size: 4, ...lay, eventIdx: true });
    expect(drv.add(A_OUT, A_IN, 'A')).toBe(0);
    expect(drv.add([], B_IN, 'B')).toBe(3);
    expect(hex(mem, 0, 64)).toBe(
      h(`
      00 00 01 00 00 00 00 00  10 00 00 00  01 00  01 00
      00 10 01 00 00 00 00 00  00 02 00 00  03 00  02 00
      00 20 01 00 00 00 00 00  01 00 00 00  02 00  03 00
      00 30 01 00 00 00 00 00  00 10 00 00  02 00  00 00`),
    );
    expect(hex(mem, 64, 14)).toBe(h('00 00  02 00  00 00 03 00 00 00 00 00  00 00'));
    const q = createVirtqueue(mem, drv.queueConfig());
    const a = q.pop()!;
    expect(q.enableNotification()).toBe(true);
    const b = q.pop()!;
    q.addUsed(b, 0x80);
    q.addUsed(a, 0x201);
    expect(drv.getBuf()).toEqual({ token: 'B', len: 0x80, id: 3 });
    expect(drv.getBuf()).toEqual({ token: 'A', len: 0x201, id: 0 });
    expect(hex(mem, 4096, 38)).toBe(
      h(`
      00 00  02 00
      03 00 00 00  80 00 00 00
      00 00 00 00  01 02 00 00
      00 00 00 00  00 00 00 00
      00 00 00 00  00 00 00 00
      01 00`),
    );
    expect(hex(mem, 64 + 12, 2)).toBe('02 00'); // used_event = last_used_idx
  });

  it('packed ring: descriptors, used descriptors, event suppression structures', () => {
    const mem = makeMemory();
    const lay = PackedDriver.layout(4, 0);
    expect(lay).toEqual({ descTable: 0, driverArea: 64, deviceArea: 68, bytes: 72 });
    const drv = new PackedDriver<string>(mem, { size: 4, ...lay, eventIdx: true });
    expect(drv.add(A_OUT, A_IN, 'A')).toBe(0);
    expect(drv.add([], B_IN, 'B')).toBe(3);
    expect(hex(mem, 0, 64)).toBe(
      h(`
      00 00 01 00 00 00 00 00  10 00 00 00  00 00  81 00
      00 10 01 00 00 00 00 00  00 02 00 00  00 00  83 00
      00 20 01 00 00 00 00 00  01 00 00 00  00 00  82 00
      00 30 01 00 00 00 00 00  00 10 00 00  03 00  82 00`),
    );
    const q = createVirtqueue(mem, drv.queueConfig());
    const a = q.pop()!;
    expect(q.enableNotification()).toBe(true);
    expect(hex(mem, 68, 4)).toBe('03 80 02 00'); // off_wrap = 3 | wrap 1 << 15, flags = DESC
    const b = q.pop()!;
    q.disableNotification();
    expect(hex(mem, 68, 4)).toBe('03 80 01 00');
    q.addUsed(b, 0x80);
    q.addUsed(a, 0x201);
    expect(hex(mem, 0, 32)).toBe(
      h(`
      00 00 01 00 00 00 00 00  80 00 00 00  03 00  82 80
      00 10 01 00 00 00 00 00  01 02 00 00  00 00  82 80`),
    );
    drv.disableCb();
    expect(hex(mem, 64, 4)).toBe('00 00 01 00');
    expect(drv.getBuf()).toEqual({ token: 'B', len: 0x80, id: 3 });
    drv.enableCbPrepare();
    expect(hex(mem, 64, 4)).toBe('01 80 02 00'); // next used at 1, wrap 1, flags = DESC
    expect(drv.getBuf()).toEqual({ token: 'A', len: 0x201, id: 0 });
    expect(hex(mem, 64, 4)).toBe('00 00 02 00'); // position 0 of the next lap (wrap 0)
  });

  it('area sizes and vring_need_event vectors', () => {
    expect(splitRingSizes(256)).toEqual({ descTable: 4096, availRing: 518, usedRing: 2054 });
    expect(packedRingSizes(256)).toEqual({ descRing: 4096, driverEvent: 4, deviceEvent: 4 });
    // [event, new, old, expected]
    const vectors: [number, number, number, boolean][] = [
      [0, 1, 0, true],
      [1, 1, 0, false],
      [0xffff, 0, 0xffff, true],
      [0xfffe, 0, 0xffff, false],
      [0xfffd, 2, 0xfffc, true],
      [3, 2, 0xfffc, false],
      [5, 10, 0, true],
      [10, 10, 0, false],
      [0, 0, 0, false],
    ];
    for (const [e, n, o, want] of vectors) expect(vringNeedEvent(e, n, o)).toBe(want);
  });
});
