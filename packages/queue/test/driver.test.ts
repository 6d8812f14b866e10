import { describe, expect, it } from '@jest/globals';
import { createVirtqueue, DescFlags, EventFlags } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { errorName, makeMemory } from './helpers';

const ONE = [{ addr: 0x10000, len: 8 }];

describe.each([
  ['split', SplitDriver],
  ['packed', PackedDriver],
] as const)('%s driver', (format, Driver) => {
  const make = (o: { size?: number; eventIdx?: boolean; indirect?: boolean; callback?: boolean } = {}) => {
    const mem = makeMemory();
    const size = o.size ?? 4;
    const drv = new Driver<string>(mem, {
      size,
      ...Driver.layout(size, 0),
      eventIdx: o.eventIdx,
      indirectDesc: o.indirect,
      indirectArea: o.indirect ? { address: 0x8000, entriesPerChain: 4 } : undefined,
      callback: o.callback,
    });
    const q = createVirtqueue(mem, drv.queueConfig(format === 'split' ? size : 8));
    return { mem, drv, q };
  };

  it('returns -1 when the ring is full and frees descriptors on getBuf', () => {
    const { drv, q } = make();
    expect(drv.add(ONE, ONE, 'a')).toBeGreaterThanOrEqual(0);
    expect(drv.add(ONE, [], 'b')).toBeGreaterThanOrEqual(0);
    expect(drv.numFree).toBe(1);
    expect(drv.add(ONE, ONE, 'c')).toBe(-1);
    const a = q.pop()!;
    q.addUsed(a, 8);
    expect(drv.getBuf()).toMatchObject({ token: 'a', len: 8 });
    expect(drv.numFree).toBe(3);
    expect(drv.getBuf()).toBeNull();
  });

  it('refuses bad arguments as embedder misuse', () => {
    const { drv } = make();
    expect(() => drv.add([], [], 'x')).toThrow(RangeError);
    expect(() => drv.add(ONE, [], undefined as unknown as string)).toThrow(TypeError);
    expect(() => drv.add([{ addr: 0, len: -1 }], [], 'x')).toThrow(RangeError);
    expect(() => drv.add(ONE, ONE, 'x', true)).toThrow(RangeError); // no indirect area
    const mem = makeMemory();
    expect(() => new Driver(mem, { size: format === 'split' ? 3 : 0, descTable: 0, driverArea: 0x1000, deviceArea: 0x2000 })).toThrow(RangeError);
    expect(() => new Driver(mem, { size: 4, descTable: 8, driverArea: 0x1000, deviceArea: 0x2000 })).toThrow(RangeError);
  });

  it('uses indirect tables as Linux does (more than one buffer) and can be forced', () => {
    const { drv, q } = make({ indirect: true });
    drv.add(ONE, ONE, 'two');
    drv.add(ONE, [], 'one');
    drv.add(ONE, ONE, 'forced-direct', false);
    expect(drv.numFree).toBe(0);
    const c1 = q.pop()!;
    const c2 = q.pop()!;
    const c3 = q.pop()!;
    expect([c1.indirect, c2.indirect, c3.indirect]).toEqual([true, false, false]);
    expect(c1.descriptorCount).toBe(2);
    q.addUsed(c1, 0);
    expect(drv.getBuf()!.token).toBe('two');
  });

  it('breaks on a used element the device could not have written', () => {
    const { mem, drv, q } = make();
    drv.add(ONE, [], 'a');
    q.addUsed(q.pop()!, 0);
    if (format === 'split') mem.writeU32(drv.queueConfig().deviceArea as number + 4, 7);
    else mem.writeU16(12, 9);
    expect(errorName(() => drv.getBuf())).toBe('Queue.BadUsedElementError');
    expect(errorName(() => drv.getBuf())).toBe('Queue.BrokenError');
    expect(errorName(() => drv.add(ONE, [], 'b'))).toBe('Queue.BrokenError');
  });

  it('a used element for a buffer not in flight is refused', () => {
    const { mem, drv, q } = make();
    drv.add(ONE, [], 'a');
    const c = q.pop()!;
    q.addUsed(c, 0);
    drv.getBuf();
    // Replay the same used element.
    if (format === 'split') {
      mem.writeU16(drv.queueConfig().deviceArea as number + 2, 2);
      expect(errorName(() => drv.getBuf())).toBe('Queue.BadUsedElementError');
    } else {
      mem.writeU16(16 + 12, 0);
      mem.writeU16(16 + 14, DescFlags.AVAIL | DescFlags.USED);
      expect(errorName(() => drv.getBuf())).toBe('Queue.BadUsedElementError');
    }
  });

  it('detachUnusedBuf takes back buffers the device never saw', () => {
    const { drv } = make();
    drv.add(ONE, [], 'a');
    drv.add(ONE, ONE, 'b');
    const got = [drv.detachUnusedBuf(), drv.detachUnusedBuf(), drv.detachUnusedBuf()];
    expect(got.sort()).toEqual([null, 'a', 'b'].sort());
    expect(drv.numFree).toBe(4);
  });

  it('callback: false asks the device for no interrupts', () => {
    const { q, drv } = make({ callback: false });
    drv.add(ONE, [], 'a');
    q.addUsed(q.pop()!, 0);
    expect(q.needsNotification()).toBe(false);
  });

  it('disableCb / enableCb / enableCbDelayed drive the device decisions', () => {
    for (const eventIdx of [false, true]) {
      const { q, drv } = make({ eventIdx, size: 4 });
      drv.disableCb();
      for (const t of ['a', 'b', 'c', 'd']) drv.add(ONE, [], t);
      const quiet: boolean[] = [];
      for (let c = q.pop(); c; c = q.pop()) {
        q.addUsed(c, 0);
        quiet.push(q.needsNotification());
      }
      // Linux's split disable_cb with EVENT_IDX only writes used_event = 0 ("a hack"): the
      // first used entry still passes it.
      expect(quiet).toEqual(format === 'split' && eventIdx ? [true, false, false, false] : [false, false, false, false]);
      expect(drv.enableCb()).toBe(false); // four are pending
      while (drv.getBuf());
      expect(drv.enableCb()).toBe(true);
      for (const t of ['e', 'f', 'g', 'h']) drv.add(ONE, [], t);
      expect(drv.enableCbDelayed()).toBe(true);
      const decisions: boolean[] = [];
      for (let c = q.pop(); c; c = q.pop()) {
        q.addUsed(c, 0);
        decisions.push(q.needsNotification());
      }
      // With EVENT_IDX the interrupt comes after 3/4 of the 4 outstanding buffers.
      expect(decisions).toEqual(eventIdx ? [false, false, false, true] : [true, true, true, true]);
    }
  });

  it('kickPrepare follows the device suppression', () => {
    const { q, drv } = make();
    drv.add(ONE, [], 'a');
    expect(drv.kickPrepare()).toBe(true);
    q.disableNotification();
    drv.add(ONE, [], 'b');
    expect(drv.kickPrepare()).toBe(false);
    expect(q.enableNotification()).toBe(true);
    drv.add(ONE, [], 'c');
    expect(drv.kickPrepare()).toBe(true);
  });

  it('kickPrepare follows the device suppression with EVENT_IDX, also after notifications were enabled', () => {
    const { q, drv } = make({ eventIdx: true, size: 8 });
    drv.add(ONE, [], 'a');
    expect(drv.kickPrepare()).toBe(true);
    q.addUsed(q.pop()!, 0);
    expect(q.enableNotification()).toBe(false); // the device waits for the next one
    q.disableNotification(); // ... and changes its mind: it will look at the ring by itself
    for (const t of ['b', 'c']) {
      drv.add(ONE, [], t);
      expect(drv.kickPrepare()).toBe(false);
    }
    expect(q.pop()).not.toBeNull(); // found without a kick
    expect(q.enableNotification()).toBe(true); // 'c' is still there
    q.pop();
    expect(q.enableNotification()).toBe(false);
    drv.add(ONE, [], 'd');
    expect(drv.kickPrepare()).toBe(true);
  });
});

describe('packed driver event suppression flags', () => {
  it('starts at ENABLE and switches to DESC with EVENT_IDX', () => {
    const mem = makeMemory();
    const drv = new PackedDriver(mem, { size: 4, ...PackedDriver.layout(4, 0), eventIdx: true });
    expect(mem.readU16(66)).toBe(EventFlags.ENABLE);
    drv.disableCb();
    expect(mem.readU16(66)).toBe(EventFlags.DISABLE);
    expect(drv.poll(drv.enableCbPrepare())).toBe(false);
    expect(mem.readU16(66)).toBe(EventFlags.DESC);
    expect(mem.readU16(64)).toBe(1 << 15);
  });

  it('handles a list that fills the whole ring (the wrap counter flips)', () => {
    const mem = makeMemory();
    const drv = new PackedDriver<string>(mem, { size: 3, ...PackedDriver.layout(3, 0) });
    const q = createVirtqueue(mem, drv.queueConfig());
    drv.add(ONE, [...ONE, ...ONE], 'full');
    const c = q.pop()!;
    expect(c.descriptorCount).toBe(3);
    q.addUsed(c, 0);
    expect(drv.getBuf()!.token).toBe('full');
    drv.add(ONE, [], 'next');
    expect(q.pop()!.descriptorCount).toBe(1);
  });
});
