/**
 * Properties over hostile guests: any requests (types, lines, values, buffer sizes and cuts) on
 * requestq and any pairs on eventq, mixed with host changes, on split or packed rings: the device
 * never throws, answers every request with OK or ERR in a response of the sizes the spec allows,
 * returns eventq buffers only VALID or INVALID, and reports nothing but allowlisted errors. And
 * the interrupt model: for any sequence of host levels and interrupt type, a guest that unmasks
 * after each interrupt receives exactly the edges of that type, in order, when the host awaits.
 */
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GpioDirection, GpioIrqType, GpioMsg, GpioStatus } from '@vmv/gpio';
import { GUEST_MEMORY_ERROR_NAMES, QUEUE_ERROR_NAMES } from '@vmv/device-trait';
import { Harness } from './support/harness';

const ALLOWED = new Set<string>([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]);
const TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 0xffff];
const VALUES = [0, 1, 2, 3, 4, 8, 0x10, 0xffff_ffff];

/** A request cut into readable pieces at `cuts`. */
function pieces(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = Math.max(from, c);
  }
  return out;
}

const step = fc.oneof(
  fc.record({
    kind: fc.constant('request' as const),
    type: fc.constantFrom(...TYPES),
    line: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(0xffff)),
    value: fc.constantFrom(...VALUES),
    extra: fc.integer({ min: -8, max: 2 }),
    rx: fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('irq' as const), line: fc.integer({ min: 0, max: 5 }), reqLen: fc.constantFrom(2, 2, 2, 0, 1, 3), rx: fc.constantFrom([1], [1], [], [2], [0, 1]) }),
  fc.record({ kind: fc.constant('host' as const), line: fc.integer({ min: 0, max: 3 }), value: fc.constantFrom(0, 1, null) }),
  fc.record({ kind: fc.constant('reset' as const) }),
);

it('hostile requests and eventq pairs: OK or ERR in allowed sizes, VALID or INVALID, never an exception', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), fc.array(step, { maxLength: 40 }), (packed, indirect, steps) => {
      const h = new Harness({ packed, indirect });
      const namesLen = 1 + h.chip.namesBlock.length;
      for (const s of steps) {
        if (s.kind === 'request') {
          const req = new Uint8Array(Math.max(0, 8 + s.extra));
          const dv = new DataView(new ArrayBuffer(8));
          dv.setUint16(0, s.type, true);
          dv.setUint16(2, s.line, true);
          dv.setUint32(4, s.value, true);
          req.set(new Uint8Array(dv.buffer).subarray(0, req.length));
          const out = pieces(req, s.cuts);
          const rx = s.rx.filter((n) => n > 0);
          if (out.length + rx.length === 0) continue; // a chain has at least one buffer
          h.raw(0, out, rx);
          for (const u of h.reapRequests()) {
            const room = s.rx.reduce((a, b) => a + b, 0);
            expect([0, 1, 2, namesLen]).toContain(u.len);
            expect(u.len).toBeLessThanOrEqual(room);
            if (u.len > 0) expect([GpioStatus.OK, GpioStatus.ERR]).toContain(u.bytes[0]);
            if (u.len > 0 && u.bytes[0] === GpioStatus.ERR) expect(u.len === 1 || u.bytes[1] === 0).toBe(true);
          }
        } else if (s.kind === 'irq') {
          const out = s.reqLen > 0 ? [new Uint8Array([s.line, 0, 0]).subarray(0, s.reqLen)] : [];
          const rx = s.rx.filter((n) => n > 0);
          if (out.length + rx.length === 0) continue;
          h.raw(1, out, rx, s.line);
        } else if (s.kind === 'host') {
          void h.chip.setInput(s.line, s.value);
        } else {
          h.device.reset();
          h.device.activate({ memory: h.memory, queues: h.queues, features: h.device.deviceFeatures, interrupt: { signalUsedBuffer: () => undefined, signalConfigChange: () => undefined }, needsReset: (r) => void h.resets.push(r) });
          break; // the driver side is stale after a reset: the run ends here
        }
      }
      for (const e of h.events) {
        expect([0, 1]).toContain(e.len);
        if (e.len === 1) expect([0, 1]).toContain(e.bytes[0]);
      }
      for (const r of h.resets) expect(ALLOWED.has((r as Error).name)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

it('a guest that unmasks after each interrupt receives exactly the edges of its type the host made, in order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(GpioIrqType.EDGE_RISING, GpioIrqType.EDGE_FALLING, GpioIrqType.EDGE_BOTH), fc.array(fc.constantFrom<0 | 1 | null>(0, 1, null), { maxLength: 30 }), async (type, levels) => {
      const h = new Harness();
      h.msg(GpioMsg.SET_DIRECTION, 1, GpioDirection.IN);
      h.msg(GpioMsg.SET_IRQ_TYPE, 1, type);
      h.unmask(1);
      let level = 1; // line 1 is pulled up
      const expected: number[] = [];
      const seen: number[] = [];
      for (const v of levels) {
        const next = v ?? 1;
        const edge = next !== level && (type & (next === 1 ? 1 : 2)) !== 0;
        if (edge) expected.push(next);
        level = next;
        const done = h.chip.setInput(1, v);
        while (h.events.length > seen.length) {
          seen.push(h.msg(GpioMsg.GET_VALUE, 1)[1]);
          h.unmask(1);
        }
        expect(await done).toBe(edge ? 'delivered' : 'none');
      }
      expect(seen).toEqual(expected);
    }),
    { numRuns: 200 },
  );
});
