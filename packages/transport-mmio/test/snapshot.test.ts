/**
 * Snapshot and restore of the transport (register file, status and features, queue positions,
 * the device's own state): a guest "migrates" from one transport to a new one mid-flight and its
 * driver carries on; snapshots that cannot be right are refused without changing anything.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, MMIO_SNAPSHOT_FORMAT, MmioRegister as R, VirtioMmioTransport, isTransportMmioError } from '@vmv/transport-mmio';
import type { MmioDiagnostic, MmioTransportSnapshot } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { DriverQueue } from '@vmv/transport-mmio/driver';
import { TestDevice, VERSION_1, echoNotify } from './helpers/devices';
import type { TestDeviceOptions } from './helpers/devices';
import { harness } from './helpers/harness';

const BASE = 0xd000_0000;
const IRQ = 5;
const EVENT_IDX = featureBit(Feature.EVENT_IDX);
const RING_RESET = featureBit(Feature.RING_RESET);

type Json = ReturnType<typeof JSON.parse>;
const roundTrip = (s: MmioTransportSnapshot): Json => JSON.parse(JSON.stringify(s));

/** A guest: memory, a driver model on an IoManager, and a transport + device at BASE that can be swapped. */
function guest(features: bigint, deviceOptions: TestDeviceOptions = {}) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(0x20_0000) }]);
  const io = new IoManager();
  const diagnostics: MmioDiagnostic[] = [];
  const mount = () => {
    const irqs = new InMemoryInterruptController();
    const device = new TestDevice({ features, queueMaxSizes: [256, 256], snapshots: true, onNotify: (d, i) => echoNotify(d, i), ...deviceOptions });
    const transport = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level'), onDiagnostic: (d) => diagnostics.push(d) });
    io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
    return { irqs, device, transport };
  };
  const completed: { token: unknown; len: number }[] = [];
  const drain = (q: DriverQueue<unknown>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) completed.push({ token: u.token, len: u.len });
  };
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 } });
  /** The current machine goes away; a new transport and device take its place on the bus. */
  const migrate = (saved: Json) => {
    io.unregisterMmio(BASE);
    const next = mount();
    next.transport.restore(saved);
    return next;
  };
  return { memory, io, driver, diagnostics, completed, drain, mount, migrate };
}

/** One request on `q`: a 4-byte readable header (its first byte is echoed), 32 writable bytes. */
function request(g: ReturnType<typeof guest>, q: DriverQueue<unknown>, n: number): void {
  const req = 0x8_0000 + n * 0x100;
  g.memory.write(req, Uint8Array.of(n & 0xff, 0, 0, 0));
  q.add([{ addr: req, len: 4 }], [{ addr: req + 0x40, len: 32 }], `r${n}`);
  q.kick();
}

function expectSnapshotError(f: () => void): string {
  try {
    f();
  } catch (e) {
    expect(isTransportMmioError(e, 'TransportMmio.InvalidSnapshotError')).toBe(true);
    return (e as { field: string }).field;
  }
  throw new Error('restore accepted the snapshot');
}

describe('snapshot and restore: a running guest moves to a new transport', () => {
  for (const [name, ring] of [
    ['split ring', 0n],
    ['packed ring', featureBit(Feature.RING_PACKED)],
  ] as const) {
    it(`carries on mid-flight: ring positions, a pending interrupt, the device's state (${name} with EVENT_IDX)`, () => {
      const g = guest(VERSION_1 | EVENT_IDX | ring);
      const a = g.mount();
      g.driver.probe();
      g.driver.negotiate([]);
      const q0 = g.driver.setupQueue(0, { callback: g.drain });
      const q1 = g.driver.setupQueue(1, { callback: g.drain });
      g.driver.ready();
      for (let n = 0; n < 5; n++) {
        request(g, q0, n);
        g.driver.interrupt();
      }
      request(g, q1, 5);
      request(g, q0, 6); // completed, its interrupt not yet handled
      expect(a.irqs.isAsserted(IRQ)).toBe(true);
      a.device.note = 'resized';
      const saved = roundTrip(a.transport.snapshot());
      expect(saved).toMatchObject({ format: MMIO_SNAPSHOT_FORMAT, deviceId: 4, interruptStatus: 1, activated: true, device: { note: 'resized' } });
      expect(saved.queues[0].ring.nextAvail).toBe(ring ? 6 * 2 : 6); // packed: ring position of 2 descriptors per request
      a.transport.dispose();

      const b = g.migrate(saved);
      expect(JSON.parse(JSON.stringify(b.transport.snapshot()))).toEqual(saved);
      expect(b.device.note).toBe('resized');
      expect(b.device.activations).toBe(1);
      expect(b.device.ctx!.features).toBe(VERSION_1 | EVENT_IDX | ring);
      expect(b.device.ctx!.queues.map((q) => q?.nextAvail)).toEqual([saved.queues[0].ring.nextAvail, saved.queues[1].ring.nextAvail]);
      expect(b.irqs.isAsserted(IRQ)).toBe(true); // the pending interrupt is still there
      expect(g.driver.interrupt()).toBe(1);
      expect(b.irqs.isAsserted(IRQ)).toBe(false);
      // vm_interrupt runs the queues' callbacks in queue order: q0's r6, then q1's r5.
      expect(g.completed.map((c) => c.token)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r6', 'r5']);
      // The driver goes on with both queues, on the new machine.
      for (let n = 7; n < 12; n++) {
        request(g, n % 2 ? q1 : q0, n);
        expect(b.irqs.isAsserted(IRQ)).toBe(true);
        expect(g.driver.interrupt()).toBe(1);
      }
      expect(g.completed.slice(7)).toEqual([7, 8, 9, 10, 11].map((n) => ({ token: `r${n}`, len: 32 })));
      const answer = new Uint8Array(32);
      g.memory.read(0x8_0000 + 11 * 0x100 + 0x40, answer);
      expect([...answer]).toEqual(new Array<number>(32).fill(11));
      expect(g.diagnostics).toEqual([]);
    });
  }

  it('restores a guest in the middle of initialisation, which then finishes it', () => {
    const g = guest(VERSION_1);
    const a = g.mount();
    g.driver.probe();
    g.driver.negotiate([]);
    const q0 = g.driver.setupQueue(0, { callback: g.drain });
    const saved = roundTrip(a.transport.snapshot());
    expect(saved).toMatchObject({ activated: false, state: { status: 0xb }, queueSel: 0, queues: [{ ready: true, ring: null }, { ready: false, ring: null }] });
    const b = g.migrate(saved);
    expect(b.device.activations).toBe(0);
    expect(b.transport.status).toBe(0xb);
    g.driver.setupQueue(1, { callback: g.drain });
    g.driver.ready();
    expect(b.device.activations).toBe(1);
    request(g, q0, 1);
    g.driver.interrupt();
    expect(g.completed).toEqual([{ token: 'r1', len: 32 }]);
    expect(g.diagnostics).toEqual([]);
  });

  it('keeps a queue the driver reset (VIRTIO_F_RING_RESET) open to configuration', () => {
    const a = harness({ features: VERSION_1 | RING_RESET, queueMaxSizes: [256, 256] });
    a.toLive();
    a.wr(R.QUEUE_SEL, 1);
    a.wr(R.QUEUE_RESET, 1);
    const saved = roundTrip(a.t.snapshot());
    expect(saved.queues[1]).toMatchObject({ ready: false, resettable: true, ring: null });
    const b = harness({ features: VERSION_1 | RING_RESET, queueMaxSizes: [256, 256] }, { memory: a.memory });
    b.t.restore(saved);
    expect(b.device.ctx!.queues[1]).toBeNull();
    b.setupQueue(1, 0x8_0000, 64); // QueueSel was restored too, but setupQueue writes it
    expect(b.device.ctx!.queues[1]!.size).toBe(64);
    expect(b.diagnostics).toEqual([]);
    // Without the reset, the same writes would be refused after DRIVER_OK.
    const c = harness({ features: VERSION_1 | RING_RESET, queueMaxSizes: [256, 256] }, { memory: a.memory });
    c.t.restore({ ...saved, queues: [saved.queues[0], { ...saved.queues[1], resettable: false }] });
    c.setupQueue(1, 0x8_0000, 64);
    expect(c.kinds()).toContain('refused');
    expect(c.device.ctx!.queues[1]).toBeNull();
  });

  it('restores values the driver wrote that are invalid, as the registers held them', () => {
    const a = harness();
    a.toFeaturesOk();
    a.wr(R.QUEUE_NUM, 100); // not a power of two: recorded, reported
    a.wr(R.QUEUE_DESC_LOW, 0x1008); // misaligned: recorded, reported
    const saved = roundTrip(a.t.snapshot());
    expect(saved.queues[0]).toMatchObject({ size: 100, descTable: 0x1008 });
    const b = harness();
    b.t.restore(saved);
    expect(b.t.queueInfo(0)).toMatchObject({ size: 100, descTable: 0x1008 });
    b.wr(R.QUEUE_READY, 1);
    b.wr(R.STATUS, 0xf); // the queue still cannot start
    expect(b.rd(R.STATUS)).toBe(0x4f);
  });

  it('restores DEVICE_NEEDS_RESET: notifications stay refused until the driver resets', () => {
    const a = harness({ snapshots: true });
    a.toLive();
    a.device.ctx!.needsReset(new Error('backend gone'));
    a.wr(R.INTERRUPT_ACK, 2);
    const saved = roundTrip(a.t.snapshot());
    const b = harness({ snapshots: true });
    b.t.restore(saved);
    expect(b.rd(R.STATUS)).toBe(0x4f);
    expect(b.line()).toBe(false);
    b.wr(R.QUEUE_NOTIFY, 0);
    expect(b.device.notifies).toEqual([]);
    expect(b.kinds()).toEqual(['refused']);
  });

  it('restore onto a running transport replaces its session: the old device context is dead', () => {
    const a = harness({ snapshots: true });
    a.toFeaturesOk();
    const early = roundTrip(a.t.snapshot());
    a.setupQueue(0, 0x1_0000);
    a.wr(R.STATUS, 0xf);
    const stale = a.device.ctx!;
    a.t.restore(early);
    expect(a.device.resets).toBe(2); // toFeaturesOk's reset, then the restore's
    expect(a.device.ctx).toBeNull();
    expect(stale.queues).toEqual([null]);
    stale.interrupt.signalUsedBuffer(0);
    expect(a.t.interruptStatus).toBe(0);
    expect(a.t.status).toBe(0xb);
  });
});

describe('snapshots that cannot be right are refused, and nothing changes', () => {
  /** A live source with a pending interrupt, and a target in another state (FEATURES_OK, one queue set up). */
  function pair(targetOptions: TestDeviceOptions = { snapshots: true }) {
    const a = harness({ snapshots: true, queueMaxSizes: [256, 256], features: VERSION_1 | EVENT_IDX, onNotify: (d, i) => echoNotify(d, i) });
    a.toLive();
    a.device.ctx!.interrupt.signalUsedBuffer(0);
    const saved = roundTrip(a.t.snapshot());
    const b = harness({ queueMaxSizes: [256, 256], features: VERSION_1 | EVENT_IDX, ...targetOptions }, { memory: a.memory });
    b.toFeaturesOk();
    b.setupQueue(0, 0x3_0000);
    const before = JSON.stringify(b.t.snapshot());
    const unchanged = () => {
      expect(JSON.stringify(b.t.snapshot())).toBe(before);
      expect([b.device.resets, b.device.activations]).toEqual([1, 0]);
      expect(b.line()).toBe(false);
    };
    return { a, saved, b, unchanged };
  }

  it('refuses a malformed or inconsistent snapshot, naming the field', () => {
    const { saved, b, unchanged } = pair();
    const q0 = saved.queues[0];
    const cases: [string, unknown][] = [
      ['snapshot', null],
      ['snapshot', [saved]],
      ['format', { ...saved, format: 'vmv-virtio-mmio/0' }],
      ['deviceId', { ...saved, deviceId: 2 }],
      ['queues', { ...saved, queues: [q0] }],
      ['queues', { ...saved, queues: 'none' }],
      ['state', { ...saved, state: null }],
      ['state.status', { ...saved, state: { ...saved.state, status: 0x100 } }],
      ['state', { ...saved, state: { ...saved.state, status: 0x0d } }], // DRIVER_OK without DRIVER
      ['state', { ...saved, state: { ...saved.state, driverFeatures: '0x100000001' } }], // feature 0 not offered
      ['state', { ...saved, state: { ...saved.state, driverFeatures: '0x20000000' } }], // FEATURES_OK without VERSION_1
      ['interruptStatus', { ...saved, interruptStatus: 4 }],
      ['interruptStatus', { ...saved, interruptStatus: 1, activated: false, state: { ...saved.state, status: 0xb }, queues: saved.queues.map((q: Json) => ({ ...q, ring: null })) }],
      ['activated', { ...saved, activated: 'yes' }],
      ['activated', { ...saved, activated: false, interruptStatus: 0, queues: saved.queues.map((q: Json) => ({ ...q, ring: null })) }], // DRIVER_OK, working, not running
      ['activated', { ...saved, interruptStatus: 0, state: { ...saved.state, status: 0xb } }],
      ['queues[0]', { ...saved, queues: [null, saved.queues[1]] }],
      ['queues[0].size', { ...saved, queues: [{ ...q0, size: 0x1_0000 }, saved.queues[1]] }],
      ['queues[0].ready', { ...saved, queues: [{ ...q0, ready: 1 }, saved.queues[1]] }],
      ['queues[0].ready', { ...saved, activated: false, interruptStatus: 0, state: { ...saved.state, status: 3 }, queues: saved.queues.map((q: Json) => ({ ...q, ring: null })) }], // enabled before FEATURES_OK
      ['queues[0].descTable', { ...saved, queues: [{ ...q0, descTable: -16 }, saved.queues[1]] }],
      ['queues[0].descTable', { ...saved, queues: [{ ...q0, descTable: '18446744073709551616' }, saved.queues[1]] }],
      ['queues[0].driverArea', { ...saved, queues: [{ ...q0, driverArea: 0.5 }, saved.queues[1]] }],
      ['queues[0].resettable', { ...saved, queues: [{ ...q0, resettable: true, ring: null }, saved.queues[1]] }], // no RING_RESET
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: 'x' }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ready: false }, saved.queues[1]] }], // positions for a disabled queue
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, format: 'packed' } }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, size: 128 } }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, nextAvail: 0x1_0000 } }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, nextUsed: q0.ring.nextAvail + 300 } }, saved.queues[1]] }], // more in flight than the ring holds
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, eventIdx: false } }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, ring: { ...q0.ring, driverArea: q0.ring.driverArea + 2 } }, saved.queues[1]] }],
      ['queues[0].ring', { ...saved, queues: [{ ...q0, descTable: 0x40_0000, ring: { ...q0.ring, descTable: 0x40_0000 } }, saved.queues[1]] }], // outside guest memory
      ['deviceFeaturesSel', { ...saved, deviceFeaturesSel: -1 }],
      ['queueSel', { ...saved, queueSel: 2 ** 32 }],
    ];
    for (const [field, bad] of cases) {
      expect([field, expectSnapshotError(() => b.t.restore(bad))]).toEqual([field, field]);
      unchanged();
    }
    // Control: the unmodified snapshot is accepted.
    b.t.restore(saved);
    expect(b.t.status).toBe(0xf);
  });

  it('a guest that wrote over its ring indices cannot make the snapshot unrestorable: DEVICE_NEEDS_RESET instead', () => {
    const { a, saved, b } = pair();
    const q0 = saved.queues[0];
    // Both ways a guest can disagree with the saved positions: avail.idx far ahead, used.idx moved.
    for (const [field, offset, value] of [['avail.idx', q0.driverArea + 2, q0.ring.nextAvail + 1000], ['used.idx', q0.deviceArea + 2, q0.ring.nextUsed + 1]] as const) {
      const old = a.memory.readU16(offset);
      a.memory.writeU16(offset, value & 0xffff);
      const t = harness({ snapshots: true, queueMaxSizes: [256, 256], features: VERSION_1 | EVENT_IDX }, { memory: a.memory });
      t.t.restore(saved);
      expect([field, t.t.status]).toEqual([field, 0x4f]);
      expect(t.device.activations).toBe(1);
      expect(t.device.ctx!.queues[0]).toBeNull(); // the device does not get the queue
      expect(t.device.ctx!.queues[1]).not.toBeNull();
      expect(t.rd(R.INTERRUPT_STATUS)).toBe(3); // the pending used-buffer bit, and the configuration change
      expect(t.kinds()).toEqual(['needs-reset']);
      expect((t.diagnostics[0]!.cause as Error).name).toBe('Queue.InvalidStateError');
      a.memory.writeU16(offset, old);
    }
    // Control: with the guest's memory as saved, the same snapshot restores cleanly.
    b.t.restore(saved);
    expect(b.t.status).toBe(0xf);
    expect(b.diagnostics).toEqual([]);
  });

  it('refuses device state for a device that cannot restore, and features the device refuses', () => {
    const plain = pair({});
    expect(expectSnapshotError(() => plain.b.t.restore(plain.saved))).toBe('device');
    plain.unchanged();
    const picky = pair({ snapshots: true, validateFeatures: (f) => (f & EVENT_IDX) === 0n });
    expect(expectSnapshotError(() => picky.b.t.restore(picky.saved))).toBe('state');
    picky.unchanged();
  });

  it('when the device refuses its own state, the error says so and the transport is left reset', () => {
    const { saved, b } = pair();
    b.device.throwOn = 'restore';
    let err: unknown;
    try {
      b.t.restore(saved);
    } catch (e) {
      err = e;
    }
    expect(isTransportMmioError(err, 'TransportMmio.InvalidSnapshotError')).toBe(true);
    expect((err as { field: string }).field).toBe('device');
    expect(((err as Error).cause as Error).message).toBe('restore exploded');
    expect(b.t.status).toBe(0);
    expect(b.t.queueInfo(0).ready).toBe(false);
    expect(b.device.activations).toBe(0);
  });

  it('a device whose feature check changes with its restored state: refused after the reset, left reset', () => {
    const a = harness({ snapshots: true });
    a.toLive();
    a.device.note = 'picky';
    const saved = roundTrip(a.t.snapshot());
    let device: TestDevice | null = null;
    const b = harness({ snapshots: true, validateFeatures: () => device?.note !== 'picky' }, { memory: a.memory });
    device = b.device;
    expect(expectSnapshotError(() => b.t.restore(saved))).toBe('state');
    expect(b.t.status).toBe(0);
    expect(b.device.activations).toBe(0);
  });

  it('any corruption of a snapshot yields a restore or TransportMmio.InvalidSnapshotError, never anything else (property)', () => {
    const { a } = pair();
    const base = roundTrip(a.t.snapshot());
    const paths: string[][] = [];
    const walk = (v: unknown, path: string[]) => {
      paths.push(path);
      if (typeof v === 'object' && v !== null) for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
    };
    walk(base, []);
    const value = fc.oneof(
      fc.constantFrom(null, true, false, 0, 1, 2, 3, 0xf, 0x4f, 0xff, -1, 256, 65536, 2 ** 32, 1.5, '', '0x0', '0x100000000', '0x1300000000', '1', 'split', 'packed', [], {}),
      fc.integer({ min: 0, max: 0xffff }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...paths), value), { minLength: 1, maxLength: 3 }), (edits) => {
        const snap: Json = structuredClone(base);
        for (const [path, v] of edits) {
          if (path.length === 0) continue;
          let o = snap;
          for (const k of path.slice(0, -1)) o = typeof o === 'object' && o !== null ? o[k] : undefined;
          if (typeof o === 'object' && o !== null) o[path.at(-1)!] = v;
        }
        const target = harness({ snapshots: true, queueMaxSizes: [256, 256], features: VERSION_1 | EVENT_IDX }, { memory: a.memory });
        try {
          target.t.restore(snap);
        } catch (e) {
          expect(isTransportMmioError(e, 'TransportMmio.InvalidSnapshotError')).toBe(true);
          outcomes.refused++;
          return;
        }
        outcomes.accepted++;
        // Accepted: the result is a state the register file can be in, and it snapshots again.
        const st = target.t.status;
        if (st & 8) expect(target.t.negotiatedFeatures & VERSION_1).toBe(VERSION_1);
        expect(target.line()).toBe(target.t.interruptStatus !== 0);
        const again = harness({ snapshots: true, queueMaxSizes: [256, 256], features: VERSION_1 | EVENT_IDX }, { memory: a.memory });
        again.t.restore(roundTrip(target.t.snapshot()));
        expect(again.t.snapshot()).toEqual(target.t.snapshot());
      }),
      { numRuns: 300 },
    );
    // Both ways out were taken: the corruptions were not all caught at the door, nor all harmless.
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
