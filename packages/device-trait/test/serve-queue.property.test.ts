/**
 * serveQueue against the Linux-modelled driver (@vmv/queue/driver), split and packed, EVENT_IDX on
 * and off, requests completed at once or later in any order (fast-check). The driver kicks only
 * when its ring says so (virtqueue_kick_prepare) and takes used buffers only from its interrupt
 * handler, re-enabling callbacks as virtio_blk's virtblk_done does. Whatever happens:
 * - every request is completed exactly once and reaches the driver (no lost kick, no lost interrupt);
 * - the device asks for no more interrupts than completions, and with EVENT_IDX no more kicks than
 *   the driver's submissions;
 * - a queue the guest corrupts ends in ctx.needsReset, never an exception;
 * - under an InFlightBudget, chains in flight (those of reset activations included) never exceed
 *   its limit, and the queue goes on by itself when completions free a slot.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InFlightBudget, serveQueue } from '@vmv/device-trait';
import type { DescriptorChain, ServedQueue } from '@vmv/device-trait';
import { EVENT_IDX, EchoDevice, RING_PACKED, VERSION_1, sessionRig } from './support/session';

type Op =
  | { readonly op: 'submit'; readonly n: number }
  | { readonly op: 'complete'; readonly pick: number; readonly k: number }
  | { readonly op: 'mode'; readonly deferred: boolean }
  | { readonly op: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('submit' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('complete' as const), pick: fc.nat(), k: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mode' as const), deferred: fc.boolean() }) },
);
const withResets: fc.Arbitrary<Op> = fc.oneof({ weight: 12, arbitrary: opArb }, { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) });

/**
 * The driver's interrupt handler on queue 0 (virtblk_done): for each used-buffer interrupt not
 * yet taken, drain with callbacks off, re-enable, re-check. `restart()` after a device reset.
 */
function driverInterrupts(rig: ReturnType<typeof sessionRig>) {
  const h = {
    got: [] as number[],
    taken: 0,
    take(): void {
      const ring = rig.rings[0]!;
      while (rig.transport.usedInterrupts.length > h.taken) {
        h.taken++;
        do {
          ring.driver.disableCb();
          for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) h.got.push(u.token);
        } while (!ring.driver.enableCb());
      }
    },
    restart(): void {
      h.taken = rig.transport.usedInterrupts.length;
      h.got = [];
    },
  };
  return h;
}

describe('serveQueue (fast-check, against the driver model)', () => {
  for (const packed of [false, true]) {
    for (const eventIdx of [false, true]) {
      const name = `${packed ? 'packed' : 'split'}, EVENT_IDX ${eventIdx ? 'on' : 'off'}`;
      it(`${name}: every request completed exactly once, no lost kick or interrupt, notifications suppressed`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
            const device = new EchoDevice(VERSION_1 | EVENT_IDX | RING_PACKED, [8]);
            const rig = sessionRig(device);
            rig.toLive(VERSION_1 | (eventIdx ? EVENT_IDX : 0n) | (packed ? RING_PACKED : 0n));
            const ring = rig.rings[0]!;
            const irq = driverInterrupts(rig);
            let submitted = 0;
            let submitOps = 0;
            let kicks = 0;
            for (const op of ops) {
              if (op.op === 'mode') device.deferred = op.deferred;
              else if (op.op === 'submit') {
                const n = Math.min(op.n, ring.driver.numFree);
                if (n === 0) continue;
                submitOps++;
                submitted += n;
                if (rig.submit(0, n)) kicks++;
              } else if (op.op === 'complete' && device.held.length > 0) {
                // Complete k held requests, out of order.
                for (let i = 0; i < op.k && device.held.length > 0; i++) {
                  const [chain, served] = device.held.splice(op.pick % device.held.length, 1)[0]!;
                  served.complete(chain, 0);
                }
              }
              irq.take();
            }
            device.completeHeld();
            irq.take();
            expect([...irq.got].sort((a, b) => a - b)).toEqual(Array.from({ length: submitted }, (_, i) => i));
            expect(rig.transport.usedInterrupts.length).toBeLessThanOrEqual(submitted);
            if (eventIdx) expect(kicks).toBeLessThanOrEqual(submitOps);
            expect(rig.session.status & 0x40).toBe(0);
          }),
          { numRuns: 150 },
        );
      });
    }
  }

  for (const packed of [false, true]) {
    it(`${packed ? 'packed' : 'split'}, with an InFlightBudget and resets: in flight never above the limit, every request of the live ring answered`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.array(withResets, { maxLength: 80 }), (limit, eventIdx, ops) => {
          const device = new EchoDevice(VERSION_1 | EVENT_IDX | RING_PACKED, [8]);
          const budget = new InFlightBudget(limit);
          device.budgets = [budget];
          const rig = sessionRig(device);
          const features = VERSION_1 | (eventIdx ? EVENT_IDX : 0n) | (packed ? RING_PACKED : 0n);
          rig.toLive(features);
          const irq = driverInterrupts(rig);
          let live: number[] = []; // tokens submitted to the current rings
          let token = 0;
          for (const op of ops) {
            if (op.op === 'mode') device.deferred = op.deferred;
            else if (op.op === 'reset') {
              // The driver resets with requests in flight and starts again on fresh rings; the held
              // chains of the old activation still hold their slots until they complete.
              rig.toLive(features);
              irq.restart();
              live = [];
            } else if (op.op === 'submit') {
              const n = Math.min(op.n, rig.rings[0]!.driver.numFree);
              if (n === 0) continue;
              for (let i = 0; i < n; i++) live.push(token++);
              rig.submit(0, n);
            } else if (op.op === 'complete') {
              for (let i = 0; i < op.k && device.held.length > 0; i++) {
                const [chain, served] = device.held.splice(op.pick % device.held.length, 1)[0]!;
                served.complete(chain, 0);
              }
            }
            expect(device.held.length).toBeLessThanOrEqual(limit);
            expect(budget.inFlight).toBe(device.held.length);
            irq.take();
          }
          device.deferred = false;
          while (device.held.length > 0) device.completeHeld(); // each completion may let more in
          irq.take();
          expect(budget.inFlight).toBe(0);
          expect([...irq.got].sort((a, b) => a - b)).toEqual(live);
          expect(rig.session.status & 0x40).toBe(0);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('one budget shared by two queues: each goes on as the other completes; a bad limit is a RangeError', () => {
    const device = new EchoDevice(VERSION_1, [8, 8]);
    const budget = new InFlightBudget(1);
    device.budgets = [budget, budget];
    device.deferred = true;
    const rig = sessionRig(device);
    rig.toLive();
    rig.submit(0, 3);
    rig.submit(1, 3);
    expect(device.held.length).toBe(1);
    for (let round = 0; round < 6; round++) {
      expect(budget.inFlight).toBe(1);
      const [chain, served] = device.held.shift()!;
      served.complete(chain, 0); // frees the slot: a waiting queue takes it at once
    }
    expect(device.held.length).toBe(0);
    expect(rig.collect(0).length + rig.collect(1).length).toBe(6);
    expect(rig.collect(0).length).toBe(3);
    expect(budget.inFlight).toBe(0);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new InFlightBudget(bad)).toThrow(RangeError);
  });

  it('a corrupted ring becomes ctx.needsReset; the handler never runs on it and nothing is thrown', () => {
    const rig = sessionRig(new EchoDevice(VERSION_1, [8]));
    rig.toLive();
    const ring = rig.rings[0]!;
    rig.memory.writeU16(Number(ring.queue.saveState().driverArea) + 2, 1000); // avail.idx far ahead
    const seen: DescriptorChain[] = [];
    expect(() => serveQueue(rig.device.ctx!, 0, (c: DescriptorChain, s: ServedQueue) => (seen.push(c), s.complete(c, 0)))).not.toThrow();
    expect(rig.session.status & 0x40).toBe(0x40);
    expect((rig.session.needsResetCause as Error).name).toBe('Queue.InvalidAvailIndexError');
    expect(seen).toEqual([]);
  });

  it('a handler error that is not a Queue.* error propagates; serving a stopped queue does nothing', () => {
    const rig = sessionRig(new EchoDevice(VERSION_1, [8, 8]));
    rig.toLive();
    rig.rings[0]!.driver.add([], [{ addr: 0x8_0000, len: 4 }], 99);
    expect(() =>
      serveQueue(rig.device.ctx!, 0, () => {
        throw new TypeError('device bug');
      }),
    ).toThrow(TypeError);
    rig.session.resetQueue(1);
    expect(() => serveQueue(rig.device.ctx!, 1, () => undefined)).not.toThrow();
  });
});
