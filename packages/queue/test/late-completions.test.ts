/**
 * Late completions (the `Virtqueue` contract, "Errors" and "Late completions"): a completion that
 * arrives after the ring broke, or for a chain popped before a reset or a restore, is dropped
 * without writing guest memory and without throwing; misuse stays an error. Both ring formats,
 * driven by the driver model.
 */
import { describe, expect, it } from '@jest/globals';
import { createVirtqueue } from '@vmv/queue';
import type { DescriptorChain, Virtqueue } from '@vmv/queue';
import { drivenRing, errorName } from './helpers';

/** Pops until the ring error; returns its name. */
function popUntilBroken(q: Virtqueue): string {
  for (let k = 0; k <= q.size; k++) {
    try {
      if (q.pop() === null) return 'no error';
    } catch (e) {
      return (e as Error).name;
    }
  }
  return 'no error';
}

describe.each(['split', 'packed'] as const)('late completions, %s ring', (format) => {
  const brokenName = format === 'split' ? 'Queue.InvalidAvailIndexError' : 'Queue.InvalidIndirectDescriptorError';

  /** A ring with requests 1..n popped and held by the device. */
  function holding(n: number) {
    const r = drivenRing(format);
    for (let t = 1; t <= n; t++) expect(r.add(t)).toBe(true);
    const held: DescriptorChain[] = [];
    for (let t = 1; t <= n; t++) held.push(r.queue.pop()!);
    return { ...r, q: r.queue, held };
  }

  it('on a broken queue, pop() keeps throwing Queue.BrokenError and a held chain\'s completion is dropped: nothing written, the chain object back to the pool', () => {
    const { q, held, corrupt, rings, renew, add, used } = holding(2);
    corrupt();
    expect(popUntilBroken(q)).toBe(brokenName);
    expect(errorName(() => q.pop())).toBe('Queue.BrokenError');
    const w = held[0]!.writer();
    const before = rings();
    expect(errorName(() => q.addUsed(held[0]!, 4))).toBe('no error');
    expect(errorName(() => q.addUsedBatch([held[1]!], [8]))).toBe('no error');
    expect(rings().equals(before)).toBe(true);
    expect(q.nextUsed).toBe(0);
    expect(() => w.writeU8(1)).toThrow(TypeError); // released: its cursors are dead
    expect(() => q.addUsed(held[0]!, 0)).toThrow(/already used/);
    expect(errorName(() => q.pop())).toBe('Queue.BrokenError');
    // After the reset the pool hands the dropped chain objects out again, and completions land.
    q.reset();
    renew();
    add(7);
    const again = q.pop()!;
    expect(held).toContain(again);
    q.addUsed(again, 3);
    expect(used()).toEqual([[7, 3]]);
  });

  it('on a broken queue, the notification calls answer false, write nothing and never throw', () => {
    const { q, corrupt, rings } = holding(1);
    corrupt();
    expect(popUntilBroken(q)).toBe(brokenName);
    const before = rings();
    expect(q.needsNotification()).toBe(false);
    expect(q.enableNotification()).toBe(false);
    q.disableNotification();
    expect(q.enableNotification()).toBe(false);
    expect(rings().equals(before)).toBe(true);
  });

  it('misuse is still an error on a broken queue', () => {
    const { q, held, corrupt, mem } = holding(1);
    const other = createVirtqueue(mem, drivenRing(format).driver.queueConfig());
    corrupt();
    expect(popUntilBroken(q)).toBe(brokenName);
    expect(() => q.addUsed(held[0]!, -1)).toThrow(RangeError);
    expect(() => q.addUsed(held[0]!, 65)).toThrow(RangeError); // 64 writable bytes
    expect(() => other.addUsed(held[0]!, 0)).toThrow(/does not belong/);
    expect(() => q.addUsedBatch([held[0]!, held[0]!], [0, 0])).toThrow(TypeError);
  });

  it.each(['reset', 'restore'] as const)('a chain popped before %s() is stale: its completion is dropped silently', (how) => {
    const { q, held, rings, renew, add, used } = holding(2);
    q.addUsed(held[1]!, 5); // completed in time: delivered
    expect(used()).toEqual([[2, 5]]);
    if (how === 'reset') {
      q.reset();
      renew(); // the driver sets the ring up again
    } else {
      q.restoreState(q.saveState()); // same driver, same ring
    }
    const before = rings();
    expect(errorName(() => q.addUsed(held[0]!, 16))).toBe('no error');
    expect(rings().equals(before)).toBe(true);
    expect(() => q.addUsed(held[0]!, 16)).toThrow(/already used/);
    // the ring goes on; the stale request never comes back to the driver
    expect(add(3)).toBe(true);
    const c = q.pop()!;
    expect(held).toContain(c); // the stale chain object was recycled
    q.addUsed(c, 1);
    expect(used()).toEqual([[3, 1]]);
  });

  it('a stale chain with a writtenLen beyond its buffers is dropped too (only a live chain\'s length is checked)', () => {
    const { q, held } = holding(1);
    q.reset();
    expect(errorName(() => q.addUsed(held[0]!, 1000))).toBe('no error');
  });

  it('a batch drops its stale chains and publishes the live ones at once', () => {
    const { q, held, renew, add, used, rings } = holding(2);
    q.reset();
    renew();
    for (let t = 10; t < 13; t++) add(t);
    const live = [q.pop()!, q.pop()!, q.pop()!];
    expect(live.every((c) => !held.includes(c))).toBe(true);
    // stale first (the packed ring publishes the batch through its first live entry), same buffer
    // IDs as live ones (the IDs are in use again after the reset)
    q.addUsedBatch([held[0]!, live[0]!, held[1]!, live[1]!], [9, 1, 9, 2]);
    expect(used()).toEqual([[10, 1], [11, 2]]);
    expect(() => q.addUsed(held[0]!, 0)).toThrow(/already used/);
    q.addUsedBatch([live[2]!], [3]);
    expect(used()).toEqual([[12, 3]]);
    // a batch of stale chains only writes nothing
    add(13);
    const c = q.pop()!;
    q.reset();
    renew();
    const before = rings();
    q.addUsedBatch([c], [0]);
    expect(rings().equals(before)).toBe(true);
  });

  it('misuse within one epoch stays an error: a second completion, a chain of another queue, a bad length', () => {
    const { q, held, mem } = holding(2);
    const other = createVirtqueue(mem, drivenRing(format).driver.queueConfig());
    q.addUsed(held[0]!, 0);
    expect(() => q.addUsed(held[0]!, 0)).toThrow(/already used/);
    expect(() => other.addUsed(held[1]!, 0)).toThrow(/does not belong/);
    expect(() => q.addUsed(held[1]!, 65)).toThrow(RangeError);
    expect(() => q.addUsed(held[1]!, 1.5)).toThrow(RangeError);
    expect(() => q.addUsedBatch([held[1]!, held[1]!], [0, 0])).toThrow(TypeError);
    q.addUsed(held[1]!, 64);
  });

  it('a ring whose memory cannot be mapped again breaks without throwing from completions and notifications; pop() reports it', () => {
    // WebAssembly is a global of Node, typed by the DOM lib only.
    const { WebAssembly: Wasm } = globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer; grow(n: number): number } } };
    for (const op of ['addUsed', 'needsNotification', 'enableNotification', 'disableNotification'] as const) {
      const wasm = new Wasm.Memory({ initial: 2, maximum: 4 });
      const r = drivenRing(format, 8, wasm);
      r.add(1);
      const c = r.queue.pop()!;
      wasm.grow(1); // detaches the ring views
      // the memory no longer maps the ring (a region that went away)
      const view = r.mem.view.bind(r.mem);
      r.mem.view = ((addr, length, access) => (Number(addr) < r.layout.bytes ? view(0x7fff_0000, length, access) : view(addr, length, access))) as typeof r.mem.view;
      const q = r.queue;
      if (op === 'addUsed') q.addUsed(c, 1);
      if (op === 'needsNotification') expect(q.needsNotification()).toBe(false);
      if (op === 'enableNotification') expect(q.enableNotification()).toBe(true); // pop again: it reports the break
      if (op === 'disableNotification') q.disableNotification();
      expect(q.error?.name).toBe('Queue.RingAccessError');
      expect(errorName(() => q.pop())).toBe('Queue.BrokenError');
      if (op !== 'addUsed') q.addUsed(c, 0);
      expect(() => q.addUsed(c, 0)).toThrow(/already used/); // dropped, back to the pool
      expect(q.needsNotification()).toBe(false);
    }
  });
});
