import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventQueue, EventType, Syn } from '@vmv/input';
import type { InputEvent } from '@vmv/input';

const REPORT = { type: EventType.EV_SYN, code: Syn.SYN_REPORT, value: 0 };
const DROPPED = { type: EventType.EV_SYN, code: Syn.SYN_DROPPED, value: 0 };
const rel = (v: number): InputEvent => ({ type: EventType.EV_REL, code: 0, value: v });
function pushPacket(q: EventQueue, ...values: number[]) {
  for (const v of values) q.push(rel(v).type, 0, v);
  q.push(EventType.EV_SYN, Syn.SYN_REPORT, 0);
}
function drain(q: EventQueue, n = Infinity): InputEvent[] {
  const out: InputEvent[] = [];
  for (let e = out.length < n ? q.shift() : null; e; e = out.length < n ? q.shift() : null) out.push(e);
  return out;
}

describe('EventQueue: bounded, whole packets, evdev overflow', () => {
  it('a packet is deliverable only once its SYN_REPORT arrives', () => {
    const q = new EventQueue(16);
    q.push(EventType.EV_REL, 0, 1);
    expect([q.length, q.shift()]).toEqual([0, null]);
    q.push(EventType.EV_SYN, Syn.SYN_REPORT, 0);
    expect(drain(q)).toEqual([rel(1), REPORT]);
  });

  it('overflow: every packet not started is dropped, then SYN_DROPPED, then the new packet (counted)', () => {
    const q = new EventQueue(8); // maxPacket 3
    pushPacket(q, 1, 2); // 3
    pushPacket(q, 3, 4); // 6
    pushPacket(q, 5); // 8: full
    pushPacket(q, 6, 7); // does not fit
    expect(q.stats).toEqual({ queued: 11, droppedPackets: 3, droppedEvents: 8, synDropped: 1 });
    expect(drain(q)).toEqual([DROPPED, rel(6), rel(7), REPORT]);
  });

  it('a packet partly delivered is finished, never torn', () => {
    const q = new EventQueue(8);
    pushPacket(q, 1, 2);
    pushPacket(q, 3, 4);
    expect(drain(q, 1)).toEqual([rel(1)]); // the guest had one buffer
    pushPacket(q, 5);
    pushPacket(q, 6, 7); // overflows: keeps rel(2), REPORT
    expect(drain(q)).toEqual([rel(2), REPORT, DROPPED, rel(6), rel(7), REPORT]);
    expect(q.stats.droppedPackets).toBe(2);
  });

  it('a packet too long for the queue is refused before anything is added', () => {
    const q = new EventQueue(8);
    q.push(EventType.EV_REL, 0, 1);
    q.push(EventType.EV_REL, 0, 2);
    expect(() => q.push(EventType.EV_REL, 0, 3)).toThrow(RangeError);
    q.push(EventType.EV_SYN, Syn.SYN_REPORT, 0);
    expect(drain(q)).toEqual([rel(1), rel(2), REPORT]);
    expect(() => new EventQueue(3)).toThrow(RangeError);
  });

  it('clear drops and counts everything, the unfinished packet too', () => {
    const q = new EventQueue(16);
    pushPacket(q, 1);
    q.push(EventType.EV_REL, 0, 9);
    q.clear();
    expect([q.length, q.pendingLength, q.stats.droppedPackets, q.stats.droppedEvents]).toEqual([0, 0, 1, 3]);
  });

  it('property: bounded memory; what the reader gets is whole packets in order, each gap marked by SYN_DROPPED; every event accounted for', () => {
    const op = fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 6 }) }), fc.record({ take: fc.integer({ min: 0, max: 20 }) }));
    fc.assert(fc.property(fc.integer({ min: 4, max: 40 }), fc.array(op, { maxLength: 80 }), (capacity, ops) => {
      const q = new EventQueue(capacity);
      let id = 0;
      const got: InputEvent[] = [];
      for (const o of ops) {
        if ('push' in o) {
          const n = Math.min(o.push, q.maxPacket - 1);
          const p = ++id;
          for (let i = 0; i < n; i++) q.push(EventType.EV_REL, i, p);
          q.push(EventType.EV_SYN, Syn.SYN_REPORT, p); // the packet's id in the value, to follow it
        } else got.push(...drain(q, o.take));
        expect(q.length).toBeLessThanOrEqual(capacity);
      }
      got.push(...drain(q));
      // split into packets: SYN_DROPPED stands alone
      let last = 0;
      let cur: InputEvent[] = [];
      let delivered = 0;
      for (const e of got) {
        if (e.type === EventType.EV_SYN && e.code === Syn.SYN_DROPPED) {
          expect(cur).toEqual([]);
          continue;
        }
        cur.push(e);
        if (e.type === EventType.EV_SYN) {
          const p = e.value;
          expect(p).toBeGreaterThan(last); // in order
          expect(cur.every((x) => x.value === p)).toBe(true); // whole, not mixed
          expect(cur.map((x) => x.code)).toEqual([...cur.slice(0, -1).map((_, i) => i), 0]);
          const gap = p - last - 1;
          const before = got.indexOf(cur[0]!) - 1;
          if (gap > 0) expect(got[before]).toEqual(DROPPED); // a gap is always marked
          last = p;
          delivered += cur.length;
          cur = [];
        }
      }
      const s = q.stats;
      expect(delivered + s.droppedEvents).toBe(s.queued);
    }), { numRuns: 300 });
  });
});
