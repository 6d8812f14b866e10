import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Feature, Status, VirtioDeviceState, featureBit, features, isDeviceError } from '@vmv/device-trait';

const V1 = featureBit(Feature.VERSION_1);
const OFFERED = V1 | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) | featureBit(9);
const { ACKNOWLEDGE: A, DRIVER: D, FEATURES_OK: FO, DRIVER_OK: DO, FAILED, DEVICE_NEEDS_RESET: NR } = Status;

/** Drive the state as Linux's virtio_dev_probe does, accepting `accept`. */
function negotiate(state: VirtioDeviceState, accept: bigint): void {
  expect(state.writeStatus(A).kind).toBe('accepted');
  expect(state.writeStatus(A | D).kind).toBe('accepted');
  expect(state.writeDriverFeatures(0, Number(accept & 0xffff_ffffn))).toBe(true);
  expect(state.writeDriverFeatures(1, Number((accept >> 32n) & 0xffff_ffffn))).toBe(true);
  state.writeStatus(A | D | FO);
}

describe('VirtioDeviceState', () => {
  it('refuses a device without VERSION_1 and bad feature sets (embedder misuse)', () => {
    expect(() => new VirtioDeviceState(featureBit(9))).toThrow(RangeError);
    expect(() => new VirtioDeviceState(-1n)).toThrow(TypeError);
    expect(() => new VirtioDeviceState(1 as unknown as bigint)).toThrow(TypeError);
  });

  it('walks the Linux probe sequence to DRIVER_OK and asks for activation once', () => {
    const s = new VirtioDeviceState(OFFERED);
    expect(s.deviceFeatureWord(0)).toBe(Number(OFFERED & 0xffff_ffffn));
    expect(s.deviceFeatureWord(1)).toBe(1);
    expect(s.deviceFeatureWord(2)).toBe(0);
    negotiate(s, V1 | featureBit(Feature.EVENT_IDX));
    expect(s.status).toBe(A | D | FO);
    expect(s.negotiatedFeatures).toBe(V1 | featureBit(Feature.EVENT_IDX));
    const r = s.writeStatus(A | D | FO | DO);
    expect(r).toEqual({ kind: 'accepted', activate: true, featuresRefused: false });
    expect(s.isLive).toBe(true);
    expect(s.writeStatus(A | D | FO | DO)).toEqual({ kind: 'accepted', activate: false, featuresRefused: false });
  });

  it('refuses FEATURES_OK without VERSION_1 (legacy drivers are refused)', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, featureBit(9));
    expect(s.status & FO).toBe(0);
    expect(s.negotiatedFeatures).toBe(0n);
    // DRIVER_OK cannot follow a refused FEATURES_OK.
    expect(s.writeStatus(A | D | FO | DO).kind).toBe('accepted');
    expect(s.status & (FO | DO)).toBe(0);
  });

  it('refuses FEATURES_OK when the driver accepted a feature that was not offered', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, V1 | featureBit(Feature.RING_PACKED));
    expect(s.status & FO).toBe(0);
    const r = s.writeStatus(A | D | FO);
    expect(r).toEqual({ kind: 'accepted', activate: false, featuresRefused: true });
  });

  it('applies the device-specific check, and treats a throwing check as a refusal', () => {
    const s = new VirtioDeviceState(OFFERED, (f) => (f & featureBit(9)) !== 0n);
    negotiate(s, V1);
    expect(s.status & FO).toBe(0);
    const t = new VirtioDeviceState(OFFERED, () => {
      throw new Error('boom');
    });
    negotiate(t, V1);
    expect(t.status & FO).toBe(0);
  });

  it('ignores feature writes outside DRIVER..FEATURES_OK', () => {
    const s = new VirtioDeviceState(OFFERED);
    expect(s.writeDriverFeatures(1, 1)).toBe(false);
    negotiate(s, V1);
    expect(s.writeDriverFeatures(0, 0xffff_ffff)).toBe(false);
    expect(s.driverFeatures).toBe(V1);
    expect(() => s.writeDriverFeatures(0, 2 ** 32)).toThrow(RangeError);
  });

  it('ignores clearing bits, out-of-order bits, NEEDS_RESET from the driver and writes after FAILED', () => {
    const s = new VirtioDeviceState(OFFERED);
    expect(s.writeStatus(D).kind).toBe('ignored');
    expect(s.writeStatus(A | FO).kind).toBe('ignored');
    expect(s.writeStatus(NR | A).kind).toBe('ignored');
    expect(s.writeStatus(0x100).kind).toBe('ignored');
    expect(s.writeStatus(0x10 | A).kind).toBe('ignored');
    expect(s.writeStatus(A | D).kind).toBe('accepted');
    expect(s.writeStatus(A).kind).toBe('ignored');
    expect(s.writeStatus(A | D | FAILED).kind).toBe('accepted');
    expect(s.writeStatus(A | D | FAILED | FO).kind).toBe('ignored');
    expect(s.status).toBe(A | D | FAILED);
    expect(s.writeStatus(0)).toEqual({ kind: 'reset' });
    expect(s.status).toBe(0);
    expect(s.driverFeatures).toBe(0n);
  });

  it('sets NEEDS_RESET, asks for a config interrupt only when running, and keeps it through driver writes', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, V1);
    expect(s.setNeedsReset()).toBe(false);
    expect(s.setNeedsReset()).toBe(false);
    s.writeStatus(0);
    negotiate(s, V1);
    s.writeStatus(A | D | FO | DO);
    expect(s.setNeedsReset()).toBe(true);
    expect(s.isLive).toBe(false);
    expect(s.writeStatus(A | D | FO | DO).kind).toBe('accepted');
    expect(s.status & NR).toBe(NR);
  });

  it('does not ask to activate a device that entered DEVICE_NEEDS_RESET before DRIVER_OK (or is FAILED)', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, V1);
    expect(s.setNeedsReset()).toBe(false); // no interrupt: the driver is not running yet
    expect(s.writeStatus(A | D | FO | DO)).toEqual({ kind: 'accepted', activate: false, featuresRefused: false });
    expect(s.status).toBe(A | D | FO | DO | NR);
    expect(s.isLive).toBe(false);
    s.writeStatus(0);
    negotiate(s, V1);
    expect(s.writeStatus(A | D | FO | DO | FAILED)).toEqual({ kind: 'accepted', activate: false, featuresRefused: false });
    // Control: the same sequence without the error activates.
    s.writeStatus(0);
    negotiate(s, V1);
    expect(s.writeStatus(A | D | FO | DO)).toEqual({ kind: 'accepted', activate: true, featuresRefused: false });
  });

  it('counts config generations and keeps them across reset', () => {
    const s = new VirtioDeviceState(OFFERED);
    expect(s.configGeneration).toBe(0);
    s.bumpConfigGeneration();
    s.writeStatus(0);
    expect(s.configGeneration).toBe(1);
    s.restore({ status: 0, driverFeatures: '0x0', configGeneration: 0xffff_ffff });
    expect(s.bumpConfigGeneration()).toBe(0);
  });

  it('snapshots and restores, validating every field', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, V1 | featureBit(9));
    s.writeStatus(A | D | FO | DO);
    const saved = JSON.parse(JSON.stringify(s.snapshot()));
    const t = new VirtioDeviceState(OFFERED);
    t.restore(saved);
    expect(t.snapshot()).toEqual(s.snapshot());
    const bad: unknown[] = [
      null,
      { ...saved, status: 0x100 },
      { ...saved, status: D },
      { ...saved, status: 0x10 },
      { ...saved, driverFeatures: 'zz' },
      { ...saved, driverFeatures: '0x' + (1n << 34n).toString(16) },
      { ...saved, driverFeatures: '0x200' },
      { ...saved, configGeneration: -1 },
      { ...saved, configGeneration: 2 ** 32 },
      { ...saved, status: A, driverFeatures: '0x1' }, // driver features need DRIVER
      { ...saved, driverFeatures: '0x' + '0'.repeat(20000) + '1' }, // past bit 65535
      { ...saved, status: '15' },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        t.restore(b);
      } catch (e) {
        err = e;
      }
      expect(isDeviceError(err, 'Device.InvalidSnapshotError')).toBe(true);
    }
    expect(t.snapshot()).toEqual(s.snapshot());
  });

  it('restores every state the driver can reach, including features written but not yet accepted', () => {
    const s = new VirtioDeviceState(OFFERED);
    s.writeStatus(A);
    s.writeStatus(A | D);
    s.writeDriverFeatures(1, 0xffff_ffff); // not offered: FEATURES_OK would be refused
    const t = new VirtioDeviceState(OFFERED);
    t.restore(JSON.parse(JSON.stringify(s.snapshot())));
    expect(t.driverFeatures).toBe(s.driverFeatures);
    expect(t.writeStatus(A | D | FO)).toEqual({ kind: 'accepted', activate: false, featuresRefused: true });
  });

  it('refuses a restored FEATURES_OK that the device\'s own check would refuse', () => {
    const s = new VirtioDeviceState(OFFERED);
    negotiate(s, V1);
    const picky = new VirtioDeviceState(OFFERED, (f) => (f & featureBit(9)) !== 0n);
    let err: unknown;
    try {
      picky.restore(s.snapshot());
    } catch (e) {
      err = e;
    }
    expect(isDeviceError(err, 'Device.InvalidSnapshotError')).toBe(true);
    expect(picky.status).toBe(0);
  });

  it('never throws on arbitrary guest writes and keeps its invariants (property)', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('status' as const), v: fc.oneof(fc.integer({ min: 0, max: 0xff }), fc.constantFrom(1, 3, 0xb, 0xf, 0x8b), fc.integer({ min: 0, max: 0xffff_ffff })) }),
      fc.record({ t: fc.constant('feat' as const), sel: fc.integer({ min: 0, max: 4 }), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      fc.record({ t: fc.constant('nr' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s = new VirtioDeviceState(OFFERED);
        let activations = 0;
        for (const o of ops) {
          const before = s.status;
          if (o.t === 'status') {
            const r = s.writeStatus(o.v);
            if (r.kind === 'accepted' && r.activate) activations++;
            if (r.kind === 'reset') activations = 0;
            if (r.kind === 'ignored') expect(s.status).toBe(before);
          } else if (o.t === 'feat') {
            s.writeDriverFeatures(o.sel, o.v);
          } else {
            s.setNeedsReset();
          }
          const st = s.status;
          // Invariants: ordered bits; FEATURES_OK implies an acceptable feature set.
          if (st & D) expect(st & A).toBeTruthy();
          if (st & FO) {
            expect(st & D).toBeTruthy();
            expect(s.negotiatedFeatures & ~OFFERED).toBe(0n);
            expect(s.negotiatedFeatures & V1).toBe(V1);
          }
          if (st & DO) expect(st & FO).toBeTruthy();
          expect(activations).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('builds feature sets from bit lists', () => {
    expect(features(Feature.VERSION_1, 9)).toBe(V1 | 512n);
  });
});
