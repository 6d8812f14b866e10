/**
 * serveQueue against the Linux-modelled driver (@vmv/queue/driver), split and packed, EVENT_IDX on
 * and off, requests completed at once or later in any order (fast-check). The driver kicks only
 * when its ring says so (virtqueue_kick_prepare) and takes used buffers only from its interrupt
 * handler, re-enabling callbacks as virtio_blk's virtblk_done does. Whatever happens:
 * - every request is completed exactly once and reaches the driver (no lost kick, no lost interrupt);
 * - the device asks for no more interrupts than completions, and with EVENT_IDX no more kicks than
 *   the driver's submissions;
 * - a queue the guest corrupts ends in ctx.needsReset, never an exception.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { serveQueue } from '@vmv/device-trait';
import type { DescriptorChain, ServedQueue } from '@vmv/device-trait';
import { EVENT_IDX, EchoDevice, RING_PACKED, VERSION_1, sessionRig } from './support/session';

type Op = { readonly op: 'submit'; readonly n: number } | { readonly op: 'complete'; readonly pick: number; readonly k: number } | { readonly op: 'mode'; readonly deferred: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('submit' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('complete' as const), pick: fc.nat(), k: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mode' as const), deferred: fc.boolean() }) },
);

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
            const got: number[] = [];
            let interruptsTaken = 0;
            // The driver's interrupt handler (virtblk_done): drain with callbacks off, re-enable, re-check.
            const onInterrupt = (): void => {
              while (rig.transport.usedInterrupts.length > interruptsTaken) {
                interruptsTaken++;
                do {
                  ring.driver.disableCb();
                  for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) got.push(u.token);
                } while (!ring.driver.enableCb());
              }
            };
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
              } else if (device.held.length > 0) {
                // Complete k held requests, out of order.
                for (let i = 0; i < op.k && device.held.length > 0; i++) {
                  const [chain, served] = device.held.splice(op.pick % device.held.length, 1)[0]!;
                  served.complete(chain, 0);
                }
              }
              onInterrupt();
            }
            device.completeHeld();
            onInterrupt();
            expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: submitted }, (_, i) => i));
            expect(rig.transport.usedInterrupts.length).toBeLessThanOrEqual(submitted);
            if (eventIdx) expect(kicks).toBeLessThanOrEqual(submitOps);
            expect(rig.session.status & 0x40).toBe(0);
          }),
          { numRuns: 150 },
        );
      });
    }
  }

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
