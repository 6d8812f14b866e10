/**
 * fillQueue against the Linux-modelled driver (@vmv/queue/driver), split and packed, EVENT_IDX on
 * and off (fast-check): the driver posts 16-byte receive buffers (kicking only when its ring says
 * so) while the device produces 4-byte items in any interleaving. Whatever happens:
 * - items arrive in order, one per buffer, each buffer with exactly its item (no buffer is taken
 *   without an item, none is lost, no lost kick or interrupt): at the end min(produced, posted)
 *   buffers came back;
 * - without EVENT_IDX the device wants no kick while nothing waits;
 * - a corrupted ring ends in DEVICE_NEEDS_RESET, never an exception; a device's own exception
 *   from `fill` propagates.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { fillQueue } from '@vmv/device-trait';
import type { Writer } from '@vmv/device-trait';
import { EVENT_IDX, EchoDevice, RING_PACKED, VERSION_1, breakAvailIndex, sessionRig } from './support/session';

/** A device whose queue 0 carries items to the driver (an event queue). */
class SourceDevice extends EchoDevice {
  readonly items: number[] = [];
  next = 0;
  shortBuffers = 0;
  pumped = false;
  failWith: Error | null = null;

  override queueNotify(index: number): void {
    if (index === 0) this.pump();
  }

  produce(k: number): void {
    for (let i = 0; i < k; i++) this.items.push(this.next++);
    this.pump();
  }

  pump(): void {
    if (this.ctx === null) return;
    this.pumped = true;
    fillQueue(this.ctx, 0, () => this.items.length > 0, this.fill);
  }

  private readonly fill = (out: Writer): void => {
    if (this.failWith !== null) throw this.failWith;
    if (out.remaining < 4) {
      this.shortBuffers++;
      return;
    }
    out.writeU32(this.items.shift()!);
  };
}

type Op = { readonly op: 'post'; readonly n: number } | { readonly op: 'produce'; readonly k: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('post' as const), n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('produce' as const), k: fc.integer({ min: 1, max: 5 }) }),
);

function live(packed: boolean, eventIdx: boolean) {
  const device = new SourceDevice(VERSION_1 | EVENT_IDX | RING_PACKED, [8]);
  const rig = sessionRig(device);
  rig.toLive(VERSION_1 | (eventIdx ? EVENT_IDX : 0n) | (packed ? RING_PACKED : 0n));
  return { device, rig };
}

describe('fillQueue (fast-check, against the driver model)', () => {
  for (const packed of [false, true]) {
    for (const eventIdx of [false, true]) {
      const name = `${packed ? 'packed' : 'split'}, EVENT_IDX ${eventIdx ? 'on' : 'off'}`;
      it(`${name}: items in order, one per buffer, none lost, no buffer taken without an item`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
            const { device, rig } = live(packed, eventIdx);
            const ring = rig.rings[0]!;
            const got: number[] = [];
            let taken = 0;
            // The driver's interrupt handler: take used buffers with callbacks off, re-enable, re-check.
            const interrupts = (): void => {
              while (rig.transport.usedInterrupts.length > taken) {
                taken++;
                do {
                  ring.driver.disableCb();
                  for (let u = ring.driver.getBuf(); u !== null; u = ring.driver.getBuf()) {
                    expect(u.len).toBe(4);
                    got.push(rig.memory.readU32(0x8_0000 + 0x40 * (u.token % 256)));
                  }
                } while (!ring.driver.enableCb());
              }
            };
            let posted = 0;
            for (const op of ops) {
              if (op.op === 'produce') device.produce(op.k);
              else {
                const n = Math.min(op.n, ring.driver.numFree);
                if (n === 0) continue;
                const idleBefore = device.pumped && device.items.length === 0;
                posted += n;
                const kicked = rig.submit(0, n);
                if (!eventIdx && idleBefore) expect(kicked).toBe(false);
              }
              interrupts();
            }
            const want = Math.min(device.next, posted);
            expect(got).toEqual(Array.from({ length: want }, (_, i) => i));
            expect(device.items.length).toBe(device.next - want);
            expect(device.shortBuffers).toBe(0);
            expect(rig.session.status & 0x40).toBe(0);
          }),
          { numRuns: 150 },
        );
      });
    }
  }

  it('a corrupted ring sets DEVICE_NEEDS_RESET, without an exception', () => {
    const { device, rig } = live(false, false);
    rig.submit(0, 2);
    breakAvailIndex(rig.memory, rig.rings[0]!.driverArea);
    expect(() => device.produce(1)).not.toThrow();
    expect(rig.session.status & 0x40).toBe(0x40);
  });

  it("the device's own exception from fill propagates (a bug is not the guest's doing)", () => {
    const { device, rig } = live(true, true);
    rig.submit(0, 1);
    device.failWith = new Error('device bug');
    expect(() => device.produce(1)).toThrow('device bug');
    expect(rig.session.status & 0x40).toBe(0);
  });

  it('a queue that is not running is skipped: nothing popped, false', () => {
    const { device, rig } = live(false, true);
    rig.submit(0, 1);
    device.items.push(7);
    const ctx = { ...device.ctx!, queues: [null] };
    expect(fillQueue(ctx, 0, () => true, () => undefined)).toBe(false);
    expect(device.items).toEqual([7]);
  });
});
