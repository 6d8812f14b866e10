/**
 * Driver-to-device-and-back round trips for both ring formats: random chain shapes (direct and
 * indirect), random queue sizes, out-of-order completion, written lengths reported exactly, and
 * every notification decision (both directions) compared with a reference implementation of the
 * spec formulas, plus the "no lost kick / no lost interrupt" invariant of the
 * disable -> drain -> enable pattern.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { GuestMemory } from '@vmv/memory';
import { createVirtqueue, EventFlags } from '@vmv/queue';
import type { DescriptorChain, Virtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';
import { makeMemory } from './helpers';

type Format = 'split' | 'packed';
interface Shape {
  out: DriverBuffer[];
  in: DriverBuffer[];
  indirect: boolean | undefined;
}
interface Token {
  n: number;
  shape: Shape;
}
type Driver = SplitDriver<Token> | PackedDriver<Token>;

const RING = 0x0;
const INDIRECT_AREA = 0x8000;
const DATA = 0x20000;

/** Reference: does moving an absolute counter from `oldAbs` to `newAbs` pass absolute event `e`? */
const passes = (e: number, oldAbs: number, newAbs: number): boolean => oldAbs <= e && e < newAbs;

/** The absolute value congruent to `ev` mod 2^16 in [newAbs - 65536, newAbs). */
const absFromU16 = (ev: number, newAbs: number): number => newAbs - 1 - ((newAbs - 1 - ev) & 0xffff);

/** Packed reference: absolute position of an (offset, wrap) event relative to the lap holding `newAbs`. */
function absFromOffWrap(offWrap: number, newAbs: number, size: number): number {
  const lap = Math.floor(newAbs / size);
  const lapWrap = lap % 2 === 0 ? 1 : 0; // wrap counters start at 1 and flip every lap
  return lap * size + (offWrap & 0x7fff) - ((offWrap >>> 15) === lapWrap ? 0 : size);
}

class Harness {
  readonly mem: GuestMemory;
  readonly drv: Driver;
  readonly q: Virtqueue;
  deviceAwake = false;
  driverAwake = false;
  added = 0; // chains added (absolute)
  popped: { chain: DescriptorChain; token: Token }[] = [];
  expected: Shape[] = []; // added, not yet popped (FIFO)
  reported = new Map<number, number>(); // token.n -> written length
  returned = 0;
  // absolute counters for the reference formulas
  availAbs = 0; // split: chains; packed: ring slots made available
  usedAbs = 0; // split: used entries; packed: ring slots used
  driverAvailAbsAtLastKick = 0;
  usedSlots = new Map<number, number>(); // token.n -> ring slots (packed)
  consumedAbs = 0; // ring slots (packed) or chains (split) the device popped
  readonly driverArea: number;
  readonly deviceArea: number;

  constructor(
    readonly format: Format,
    readonly size: number,
    readonly eventIdx: boolean,
    readonly indirect: boolean,
  ) {
    this.mem = makeMemory(0x100000);
    const o = {
      size,
      ...(format === 'split' ? SplitDriver.layout(size, RING) : PackedDriver.layout(size, RING)),
      eventIdx,
      indirectDesc: indirect,
      indirectArea: indirect ? { address: INDIRECT_AREA, entriesPerChain: 8 } : undefined,
    };
    this.drv = format === 'split' ? new SplitDriver<Token>(this.mem, o) : new PackedDriver<Token>(this.mem, o);
    this.q = createVirtqueue(this.mem, this.drv.queueConfig(format === 'split' ? size : 16));
    this.driverArea = o.driverArea;
    this.deviceArea = o.deviceArea;
  }

  // ------------------------------------------------------------------ driver

  add(shape: Shape): void {
    const total = shape.out.length + shape.in.length;
    let useIndirect = shape.indirect;
    if (useIndirect === true && (!this.indirect || total > 8)) useIndirect = false;
    const slots = useIndirect === true || (useIndirect === undefined && this.indirect && total > 1 && total <= 8) ? 1 : total;
    if (this.drv.numFree < slots) return;
    const token = { n: this.added, shape };
    const r = this.drv.add(shape.out, shape.in, token, useIndirect);
    if (r < 0) throw new Error(`add refused with ${this.drv.numFree} free`);
    this.added++;
    this.expected.push(shape);
    this.usedSlots.set(token.n, this.format === 'packed' ? slots : 1);
    this.availAbs += this.format === 'packed' ? slots : 1;
    this.kick();
  }

  kick(): void {
    const ref = this.kickReference();
    const kick = this.drv.kickPrepare();
    if (kick !== ref) throw new Error(`kick decision ${kick}, the spec formula says ${ref}`);
    this.driverAvailAbsAtLastKick = this.availAbs;
    if (kick) this.deviceAwake = true;
  }

  /** What the spec says the driver must decide, from the device's suppression fields. */
  private kickReference(): boolean {
    const old = this.driverAvailAbsAtLastKick;
    const now = this.availAbs;
    if (this.format === 'split') {
      const used = this.deviceArea;
      if (this.eventIdx) return passes(absFromU16(this.mem.readU16(used + 4 + 8 * this.size), now), old, now);
      return (this.mem.readU16(used) & 1) === 0;
    }
    const dev = this.deviceArea;
    const flags = this.mem.readU16(dev + 2);
    if (flags === EventFlags.DISABLE) return false;
    if (flags !== EventFlags.DESC) return true;
    return passes(absFromOffWrap(this.mem.readU16(dev), now, this.size), old, now);
  }

  /**
   * The driver handles an interrupt. With `race`, the device completes a buffer after the driver
   * drained the used ring and before it re-enables interrupts.
   */
  driverRun(race?: { p: number; f: number }): void {
    if (!this.driverAwake) return;
    this.driverAwake = false; // consumed; an interrupt during the run sets it again
    let raced = race === undefined;
    for (;;) {
      this.drv.disableCb();
      this.drainUsed();
      if (!raced) {
        raced = true;
        this.complete(race!.p, race!.f);
      }
      if (this.drv.enableCb()) return;
    }
  }

  drainUsed(): void {
    for (let u = this.drv.getBuf(); u !== null; u = this.drv.getBuf()) {
      if (this.reported.get(u.token.n) !== u.len) throw new Error(`driver got len ${u.len}, device reported ${this.reported.get(u.token.n)}`);
      this.reported.delete(u.token.n);
      this.returned++;
    }
  }

  // ------------------------------------------------------------------ device

  /**
   * The device handles a notification. With `race`, the driver adds that buffer (and decides on
   * a kick) after the device found the ring empty and before it re-enables notifications: the
   * window the enable-then-re-check pattern exists for.
   */
  deviceRun(race?: Shape): void {
    if (!this.deviceAwake) return;
    this.deviceAwake = false; // the notification is consumed; a kick during the run sets it again
    let raced = race === undefined;
    do {
      this.q.disableNotification();
      for (let c = this.q.pop(); c !== null; c = this.q.pop()) this.check(c);
      if (!raced) {
        raced = true;
        this.add(race!);
      }
    } while (this.q.enableNotification());
  }

  private check(c: DescriptorChain): void {
    const shape = this.expected.shift();
    if (shape === undefined) throw new Error('the device popped a chain the driver never added');
    const all = [...shape.out, ...shape.in];
    let ok = c.descriptorCount === all.length && c.readableCount === shape.out.length;
    for (let i = 0; ok && i < all.length; i++) ok = c.address(i) === all[i]!.addr && c.length(i) === all[i]!.len;
    if (!ok) expect(c.descriptors().map((d) => [d.address, d.length, d.writable])).toEqual([...shape.out.map((b) => [b.addr, b.len, false]), ...shape.in.map((b) => [b.addr, b.len, true])]);
    const n = this.added - this.expected.length - 1;
    this.popped.push({ chain: c, token: { n, shape } });
    this.consumedAbs += this.usedSlots.get(n)!;
  }

  complete(pick: number, lenFraction: number): void {
    if (this.popped.length === 0) return;
    const [{ chain, token }] = this.popped.splice(pick % this.popped.length, 1) as [{ chain: DescriptorChain; token: Token }];
    const len = Math.floor(chain.writableBytes * lenFraction);
    // The device writes what it reports, through its writer.
    if (len > 0) chain.writer().fill(len, 0xa5);
    const oldAbs = this.usedAbs;
    this.q.addUsed(chain, len);
    this.reported.set(token.n, len);
    this.usedAbs += this.format === 'packed' ? this.usedSlots.get(token.n)! : 1;
    const ref = this.interruptReference(oldAbs, this.usedAbs);
    const need = this.q.needsNotification();
    if (need !== ref) throw new Error(`interrupt decision ${need}, the spec formula says ${ref}`);
    if (need) this.driverAwake = true;
  }

  /** What the spec says the device must decide, from the driver's suppression fields. */
  private interruptReference(oldAbs: number, newAbs: number): boolean {
    if (this.format === 'split') {
      const avail = this.driverArea;
      if (this.eventIdx) return passes(absFromU16(this.mem.readU16(avail + 4 + 2 * this.size), newAbs), oldAbs, newAbs);
      return (this.mem.readU16(avail) & 1) === 0;
    }
    const drv = this.driverArea;
    const flags = this.mem.readU16(drv + 2);
    if (flags === EventFlags.DISABLE) return false;
    if (flags !== EventFlags.DESC) return true;
    return passes(absFromOffWrap(this.mem.readU16(drv), newAbs, this.size), oldAbs, newAbs);
  }

  // ------------------------------------------------------------------ invariants

  /** Nothing is lost: a sleeping side has no pending work. */
  invariants(): void {
    if (!this.deviceAwake) {
      if (this.format === 'split') {
        if (this.mem.readU16(this.driverArea + 2) !== this.q.nextAvail) throw new Error('lost kick: the device sleeps with buffers available');
      } else {
        const f = this.mem.readU16(16 * this.q.nextAvail + 14);
        const avail = (f >> 7) & 1;
        const deviceWrap = Math.floor(this.consumedAbs / this.size) % 2 === 0 ? 1 : 0;
        if (this.q.nextAvail !== this.consumedAbs % this.size) throw new Error('device position differs from the model');
        if (avail === deviceWrap && f >> 15 !== avail) throw new Error('lost kick: the device sleeps with buffers available');
      }
    }
    if (!this.driverAwake && this.drv.moreUsed()) throw new Error('lost interrupt: the driver sleeps with used buffers pending');
  }

  /** Finish: wake everyone, complete everything, check every token came back. */
  finish(): void {
    this.deviceAwake = true;
    this.deviceRun();
    while (this.popped.length > 0) this.complete(0, 1);
    this.driverAwake = true;
    this.drainUsed();
    expect(this.returned).toBe(this.added);
    expect(this.drv.numFree).toBe(this.size);
  }
}

const buf = fc.record({ addr: fc.integer({ min: DATA, max: 0xf0000 }), len: fc.integer({ min: 0, max: 0x1000 }) });
const shapeArb: fc.Arbitrary<Shape> = fc
  .record({ out: fc.array(buf, { maxLength: 4 }), in: fc.array(buf, { maxLength: 4 }), indirect: fc.constantFrom(undefined, true, false) })
  .filter((s) => s.out.length + s.in.length > 0);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: shapeArb.map((s) => ({ kind: 'add' as const, s })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'device' as const }) },
  { weight: 1, arbitrary: shapeArb.map((s) => ({ kind: 'device' as const, race: s })) },
  { weight: 4, arbitrary: fc.tuple(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })).map(([p, f]) => ({ kind: 'complete' as const, p, f })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'driver' as const }) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true })).map(([p, f]) => ({ kind: 'driver' as const, race: { p, f } })) },
);

type Op = { kind: 'add'; s: Shape } | { kind: 'device'; race?: Shape } | { kind: 'complete'; p: number; f: number } | { kind: 'driver'; race?: { p: number; f: number } };

function run(format: Format, size: number, eventIdx: boolean, indirect: boolean, ops: Op[]): void {
  const h = new Harness(format, size, eventIdx, indirect);
  for (const op of ops) {
    if (op.kind === 'add') h.add(op.s);
    else if (op.kind === 'device') h.deviceRun(op.race);
    else if (op.kind === 'complete') h.complete(op.p, op.f);
    else h.driverRun(op.race);
    h.invariants();
  }
  h.finish();
}

describe('round trips, driver -> device -> driver', () => {
  for (const format of ['split', 'packed'] as const) {
    it(`${format}: random chains, out-of-order completion, notification decisions match the spec formulas`, () => {
      const sizeArb = format === 'split' ? fc.constantFrom(1, 2, 4, 8, 16) : fc.integer({ min: 1, max: 11 });
      fc.assert(
        fc.property(sizeArb, fc.boolean(), fc.boolean(), fc.array(opArb, { maxLength: 120, size: 'max' }), (size, eventIdx, indirect, ops) => {
          run(format, size, eventIdx, indirect, ops);
        }),
        { numRuns: 300 },
      );
    });

    it(`${format}: indices wrap past 65535 with correct notifications`, () => {
      // 70 000 single-descriptor chains through a small ring, completions one behind.
      for (const eventIdx of [true, false]) {
        const h = new Harness(format, 4, eventIdx, false);
        const shape: Shape = { out: [{ addr: DATA, len: 4 }], in: [{ addr: DATA + 0x100, len: 4 }], indirect: false };
        for (let i = 0; i < 70000; i++) {
          h.add(shape);
          h.deviceRun();
          if (i % 2 === 1) {
            h.complete(1, 1);
            h.complete(0, 0.5);
          }
          h.driverRun();
          h.invariants();
        }
        h.finish();
        expect(h.added).toBe(70000);
      }
    });
  }
});
