/**
 * Property test: a hostile guest. Random configuration space and BAR accesses (any offset, width
 * and value, meaningful ones weighted up) from random starting states, with random device-side
 * events, never make the function throw, report only documented diagnostic kinds whose causes are
 * typed errors, and keep its invariants: status and features per the session, INTx high exactly
 * when ISR status is non-zero with MSI-X off and INTx enabled, vectors either mapped to a table
 * entry or NO_VECTOR, and every byte of the configuration space readable.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEVICE_ERROR_NAMES, Feature, featureBit } from '@vmv/device-trait';
import { QUEUE_ERROR_NAMES } from '@vmv/queue';
import { CommonCfg as C, MSIX_BAR, PciConfig as P, VIRTIO_MSI_NO_VECTOR, VirtioBarOffset as B } from '@vmv/transport-pci';
import type { PciDiagnosticKind } from '@vmv/transport-pci';
import { TestDevice, VERSION_1 } from './support/device';
import { bare } from './support/machine';

const KINDS: readonly PciDiagnosticKind[] = ['bad-access', 'reserved', 'read-only', 'refused', 'features-refused', 'invalid-queue-value', 'no-vector', 'needs-reset', 'device-error'];
const CAUSES = new Set<string>([...QUEUE_ERROR_NAMES, ...DEVICE_ERROR_NAMES]);
const FEATURES = VERSION_1 | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.RING_RESET) | featureBit(Feature.NOTIFICATION_DATA) | featureBit(Feature.RING_PACKED) | 3n;
const COMMON = Object.values(C).map((o) => B.COMMON + o);

const value = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 0xb, 0xf, 0x4f, 0x80, 0x8000, 0xc000, 0xffff, 0x1_0000, 0x2_0000, 0xffff_ffff) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);
const width = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 2, 4) }, { weight: 1, arbitrary: fc.constantFrom(0, 3, 8, 16) });
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('config' as const), write: fc.boolean(), offset: fc.oneof(fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: 0x40, max: 0xa0 }), fc.integer({ min: 0, max: 0x120 })), width, value }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('bar' as const), bar: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(MSIX_BAR) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }), write: fc.boolean(), offset: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...COMMON) }, { weight: 2, arbitrary: fc.constantFrom(B.ISR, B.DEVICE, B.DEVICE + 4, B.NOTIFY, B.NOTIFY + 4, 0, 12, 0x800) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x5000 }) }), width, value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('device' as const), what: fc.constantFrom('config-change', 'reset') }) },
);

describe('hostile guest (property)', () => {
  it('never throws; diagnostics documented; invariants hold', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 4 }), (stage, ops, vectors) => {
        const d = new TestDevice({ features: FEATURES, queueMaxSizes: [16, 8], configSize: 12 });
        const h = bare(d, { msixVectors: vectors });
        if (stage >= 1) h.toFeaturesOk(FEATURES & ~featureBit(Feature.RING_PACKED));
        if (stage >= 2) {
          h.setupQueue(0, 0x1_0000);
          h.setupQueue(1, 0x3_0000, 8);
        }
        if (stage >= 3) h.wr(C.DEVICE_STATUS, 0xf, 1);
        for (const o of ops) {
          if (o.kind === 'device') {
            if (o.what === 'config-change') d.host!.configChanged();
            else h.fn.reset();
            continue;
          }
          const data = new Uint8Array(o.width);
          for (let i = 0; i < o.width && i < 4; i++) data[i] = (o.value >>> (8 * i)) & 0xff;
          if (o.kind === 'config') {
            if (o.write) h.fn.configWrite(o.offset, data);
            else h.fn.configRead(o.offset, data);
          } else if (o.write) h.fn.barWrite(o.bar, o.offset, data);
          else h.fn.barRead(o.bar, o.offset, data);
        }
        for (const diag of h.diagnostics) {
          expect(KINDS).toContain(diag.kind);
          if (diag.cause !== undefined) expect(CAUSES.has((diag.cause as Error).name)).toBe(true);
        }
        // INTx follows ISR status, MSI-X enable and INTx disable.
        const command = h.cfgRead(P.COMMAND, 2);
        expect(h.fn.intxAsserted).toBe(h.fn.interruptStatus !== 0 && !h.fn.msixEnabled && (command & 0x400) === 0);
        if (h.intx.length > 0) expect(h.intx.at(-1)).toBe(h.fn.intxAsserted);
        for (let q = 0; q < 2; q++) {
          const v = h.fn.queueVector(q);
          expect(v === VIRTIO_MSI_NO_VECTOR || v < vectors).toBe(true);
        }
        for (const m of h.msix) expect(m.vector).toBeLessThan(vectors);
        const whole = new Uint8Array(256);
        h.fn.configRead(0, whole);
        expect(whole[0]! | (whole[1]! << 8)).toBe(0x1af4);
        expect(h.fn.status & ~0xcf).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
