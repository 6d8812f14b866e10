/**
 * Property test: random register and configuration accesses (random offsets, widths and values)
 * from random starting states, with random ring contents in guest memory and random device-side
 * events, never make the transport throw, report only documented diagnostics, and keep the
 * invariants of the status state machine, feature negotiation and interrupt line.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InMemoryInterruptController } from '@vmv/bus';
import { ConfigSpace, Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import type { MmioDiagnostic, MmioDiagnosticKind } from '@vmv/transport-mmio';
import { TestDevice, VERSION_1, echoNotify } from './helpers/devices';

const KINDS: readonly MmioDiagnosticKind[] = ['bad-access', 'reserved', 'read-only', 'write-only', 'refused', 'features-refused', 'invalid-queue-value', 'config-range', 'needs-reset', 'device-error'];
const CAUSES: readonly string[] = QUEUE_ERROR_NAMES;
/** Diagnostics that mean "nothing was done". */
const REFUSALS: readonly MmioDiagnosticKind[] = ['bad-access', 'reserved', 'read-only', 'write-only', 'refused', 'config-range'];
const OFFERED = VERSION_1 | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.RING_RESET) | featureBit(Feature.NOTIFICATION_DATA) | 0x3n;
const REGISTERS = Object.values(R).filter((o) => o < R.CONFIG);
const MEM = 0x1_0000;

type Op =
  | { kind: 'access'; write: boolean; offset: number; width: number; value: number }
  | { kind: 'device'; what: 'used' | 'config' | 'error' | 'host'; queue: number };

const value = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3, 0xb, 0xf, 0x4f, 0x8b, 0x80, 4, 8, 16, 0x1000, 0x2000, 0x3000, 0x4000, 0xffff_ffff) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);
const access = fc.record({
  kind: fc.constant('access' as const),
  write: fc.boolean(),
  offset: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...REGISTERS) }, { weight: 2, arbitrary: fc.integer({ min: 0x100, max: 0x10c }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1ff }) }),
  width: fc.oneof({ weight: 8, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 8) }),
  value,
});
const deviceEvent = fc.record({ kind: fc.constant('device' as const), what: fc.constantFrom('used' as const, 'config' as const, 'error' as const, 'host' as const), queue: fc.integer({ min: 0, max: 1 }) });
const notify = fc.record({
  kind: fc.constant('access' as const),
  write: fc.constant(true),
  offset: fc.constant(R.QUEUE_NOTIFY as number),
  width: fc.constant(4),
  value: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 0xffff_ffff }).map((v) => (v & 0xffff_0000) | (v & 1))),
});
/** Writes a driver would make, with values that matter for each register (and some that are wrong). */
const MEANINGFUL: readonly [number, readonly number[]][] = [
  [R.STATUS, [0, 1, 3, 0xb, 0xf, 0x8b, 0x4f, 0x83]],
  [R.DRIVER_FEATURES_SEL, [0, 1, 2]],
  [R.DRIVER_FEATURES, [0, 1, 3, 0x2000_0003, 0x3000_0003, 0x47, 0x140]],
  [R.QUEUE_SEL, [0, 1, 2]],
  [R.QUEUE_NUM, [4, 8, 16, 100, 0]],
  [R.QUEUE_READY, [0, 1, 2]],
  [R.QUEUE_DESC_LOW, [0x1000, 0x4000, 0x1008, 0xfff0, 0x2_0000]],
  [R.QUEUE_DRIVER_LOW, [0x1100, 0x4100, 0x1101]],
  [R.QUEUE_DEVICE_LOW, [0x1200, 0x4200, 0x1202]],
  [R.QUEUE_DESC_HIGH, [0, 1]],
  [R.INTERRUPT_ACK, [1, 2, 3]],
  [R.QUEUE_RESET, [1, 0]],
];
const meaningful = fc.constantFrom(...MEANINGFUL).chain(([offset, values]) =>
  fc.record({ kind: fc.constant('access' as const), write: fc.constant(true), offset: fc.constant(offset as number), width: fc.constant(4), value: fc.constantFrom(...values) }),
);
const op: fc.Arbitrary<Op> = fc.oneof({ weight: 8, arbitrary: access }, { weight: 8, arbitrary: meaningful }, { weight: 2, arbitrary: notify }, { weight: 1, arbitrary: deviceEvent });

function setup(seed: number, stage: number) {
  const backing = new Uint8Array(MEM);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < MEM; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    backing[i] = x & 0xff;
  }
  const memory = GuestMemory.fromRegions([{ start: 0, backing: backing.buffer }]);
  const irqs = new InMemoryInterruptController({ recordLimit: 0 });
  const config = new ConfigSpace(8);
  config.allowWrite(4, 4);
  const device = new TestDevice({ features: OFFERED, queueMaxSizes: [16, 8], config, onNotify: (d, i) => echoNotify(d, i) });
  const diagnostics: MmioDiagnostic[] = [];
  const t = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(9, 1, 'level'), onDiagnostic: (d) => diagnostics.push(d) });
  const w = (off: number, v: number) => t.mmioWrite(0n, off, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24));
  // Starting states: reset (0), DRIVER (1), FEATURES_OK (2), live with both queues (3).
  if (stage >= 1) {
    w(R.STATUS, 1);
    w(R.STATUS, 3);
  }
  if (stage >= 2) {
    w(R.DRIVER_FEATURES_SEL, 1);
    w(R.DRIVER_FEATURES, Number(OFFERED >> 32n));
    w(R.DRIVER_FEATURES_SEL, 0);
    w(R.DRIVER_FEATURES, Number(OFFERED & 0xffff_ffffn));
    w(R.STATUS, 0xb);
  }
  if (stage >= 3) {
    for (const [q, base] of [[0, 0x1000], [1, 0x4000]] as const) {
      w(R.QUEUE_SEL, q);
      w(R.QUEUE_NUM, 8);
      w(R.QUEUE_DESC_LOW, base);
      w(R.QUEUE_DRIVER_LOW, base + 0x100);
      w(R.QUEUE_DEVICE_LOW, base + 0x200);
      w(R.QUEUE_READY, 1);
    }
    w(R.STATUS, 0xf);
  }
  return { t, device, irqs, diagnostics };
}

function checkInvariants(s: ReturnType<typeof setup>): void {
  const { t, device, irqs, diagnostics } = s;
  const st = t.status;
  expect(st & ~0xcf).toBe(0);
  if (st & 2) expect(st & 1).toBe(1);
  if (st & 8) expect(st & 2).toBe(2);
  if (st & 4) expect(st & 8).toBe(8);
  const isr = t.interruptStatus;
  expect(isr & ~3).toBe(0);
  expect(irqs.isAsserted(9)).toBe(isr !== 0);
  if (isr !== 0) expect(st & 4).toBe(4); // no interrupt before DRIVER_OK
  expect(t.negotiatedFeatures & ~t.offeredFeatures).toBe(0n);
  if (st & 8) expect(t.negotiatedFeatures & VERSION_1).toBe(VERSION_1);
  if (!(st & 8)) for (let i = 0; i < t.queueCount; i++) expect(t.queueInfo(i).ready).toBe(false);
  if (t.activated) expect(st & 4).toBe(4);
  // DRIVER_OK accepted on a device in neither DEVICE_NEEDS_RESET nor FAILED always starts it.
  if ((st & 0xc4) === 4) expect(t.activated).toBe(true);
  expect(device.ctx !== null).toBe(t.activated);
  for (const d of diagnostics) {
    expect(KINDS).toContain(d.kind);
    if (d.cause !== undefined) expect(CAUSES).toContain((d.cause as Error).name);
  }
}

describe('fuzz: random accesses from random states', () => {
  it('never throw, report only documented outcomes and keep the invariants', () => {
    const seen = new Map<string, number>();
    const count = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fff_ffff }), fc.integer({ min: 0, max: 3 }), fc.array(op, { maxLength: 80 }), (seed, stage, ops) => {
        const s = setup(seed, stage);
        checkInvariants(s);
        for (const o of ops) {
          if (o.kind === 'device') {
            const ctx = s.device.ctx;
            if (o.what === 'host') s.device.host!.configChanged();
            else if (ctx !== null) {
              if (o.what === 'used') ctx.interrupt.signalUsedBuffer(o.queue);
              else if (o.what === 'config') ctx.interrupt.signalConfigChange();
              else ctx.needsReset(new (class extends Error {
                override name = 'Queue.BrokenError';
              })('fuzz'));
            }
          } else {
            const data = new Uint8Array(o.width);
            for (let i = 0; i < Math.min(4, o.width); i++) data[i] = (o.value >>> (8 * i)) & 0xff;
            const before = JSON.stringify(s.t.snapshot());
            const reported = s.diagnostics.length;
            const configWrites = s.device.configWrites.length;
            if (o.write) s.t.mmioWrite(0n, o.offset, data);
            else s.t.mmioRead(0n, o.offset, data);
            // A read changes nothing; a write the transport refused is never applied, not even in part.
            const news = s.diagnostics.slice(reported).map((d) => d.kind);
            if (!o.write || (news.length > 0 && news.every((k) => REFUSALS.includes(k)))) {
              expect(JSON.stringify(s.t.snapshot())).toBe(before);
              expect(s.device.configWrites.length).toBe(configWrites);
              if (o.write) count('refused write checked');
            }
            if (o.write && o.offset === R.STATUS && o.width === 4 && o.value === 0) {
              expect(s.t.status).toBe(0);
              expect(s.t.interruptStatus).toBe(0);
            }
            if (!o.write && o.offset < R.CONFIG && (o.width !== 4 || (o.offset & 3) !== 0)) expect([...data]).toEqual(new Array<number>(o.width).fill(0));
          }
          checkInvariants(s);
        }
        // Every state the driver can reach snapshots, and restores onto a new transport as the same state.
        // (The memory holds random bytes: where a running split ring's indices there disagree with
        // the device's positions, the copy comes back in DEVICE_NEEDS_RESET, as documented.)
        const copy = setup(seed, 0);
        copy.t.restore(JSON.parse(JSON.stringify(s.t.snapshot())));
        expect(copy.device.ctx !== null).toBe(s.t.activated);
        if (copy.diagnostics.length === 0) {
          expect(copy.t.snapshot()).toEqual(s.t.snapshot());
          expect(copy.irqs.isAsserted(9)).toBe(s.t.interruptStatus !== 0);
          count('restored exactly');
        } else {
          expect(copy.diagnostics.map((d) => [d.kind, (d.cause as Error).name])).toEqual(copy.diagnostics.map(() => ['needs-reset', 'Queue.InvalidStateError']));
          expect(copy.t.status & 0x40).toBe(0x40);
          checkInvariants(copy);
          count('restored in needs-reset');
        }
        for (const d of s.diagnostics) count(d.kind);
        if (s.device.notifies.length > 0) count('notified');
        if (s.device.activations > 0) count('activated');
        if (s.t.interruptStatus !== 0) count('interrupt pending');
      }),
      { numRuns: 200 },
    );
    // The runs reached the deep states, not only refusals at the door.
    for (const k of ['notified', 'activated', 'interrupt pending', 'needs-reset', 'refused', 'features-refused', 'invalid-queue-value', 'bad-access', 'config-range', 'refused write checked', 'restored exactly', 'restored in needs-reset']) {
      expect([k, seen.get(k) ?? 0]).toEqual([k, expect.any(Number)]);
      expect(seen.get(k) ?? 0).toBeGreaterThan(0);
    }
  });
});
