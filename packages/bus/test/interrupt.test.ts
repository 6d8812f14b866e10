import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InMemoryInterruptController, isBusError } from '@vmv/bus';
import type { BusError, InterruptDelivery, InterruptManager, LegacyInterruptGroup, MsiConfig, MsiInterruptGroup } from '@vmv/bus';

function thrown(f: () => unknown): BusError {
  try {
    f();
  } catch (e) {
    return e as BusError;
  }
  throw new Error('did not throw');
}

const irqs = (c: InMemoryInterruptController) => c.takeDeliveries().map((d) => d.irq);

describe('legacy edge lines', () => {
  it('deliver one interrupt per trigger, hold one pending bit while masked', () => {
    const ctl = new InMemoryInterruptController();
    const g: LegacyInterruptGroup = ctl.createLegacyGroup(10, 2, 'edge');
    expect([g.kind, g.mode, g.base, g.count, g.enabled]).toEqual(['legacy', 'edge', 10, 2, true]);
    expect(g.trigger(0)).toBe('delivered');
    expect(g.trigger(0)).toBe('delivered');
    expect(g.trigger(1)).toBe('delivered');
    expect(ctl.takeDeliveries()).toEqual([
      { seq: 0, kind: 'legacy', irq: 10, index: 0, mode: 'edge' },
      { seq: 1, kind: 'legacy', irq: 10, index: 0, mode: 'edge' },
      { seq: 2, kind: 'legacy', irq: 11, index: 1, mode: 'edge' },
    ]);
    g.mask(1);
    expect(g.isMasked(1)).toBe(true);
    expect(g.trigger(1)).toBe('pending');
    expect(g.trigger(1)).toBe('pending');
    expect(g.isPending(1)).toBe(true);
    expect(irqs(ctl)).toEqual([]);
    expect(g.unmask(1)).toBe('delivered');
    expect(g.isPending(1)).toBe(false);
    expect(g.unmask(1)).toBe('unchanged');
    expect(irqs(ctl)).toEqual([11]);
    g.deassert(0); // no-op on edge lines
    expect(g.isAsserted(0)).toBe(false);
    expect(ctl.ack(10)).toBe(false);
  });

  it('drop triggers while the group is disabled and clear pending bits', () => {
    const ctl = new InMemoryInterruptController();
    const g = ctl.createLegacyGroup(3, 1, 'edge');
    g.mask(0);
    g.trigger(0);
    g.disable();
    expect(g.enabled).toBe(false);
    expect(g.isPending(0)).toBe(false);
    expect(g.trigger(0)).toBe('dropped');
    g.enable();
    g.enable();
    expect(g.unmask(0)).toBe('unchanged');
    expect(g.trigger(0)).toBe('delivered');
    expect(ctl.deliveryCount).toBe(1);
  });
});

describe('legacy level lines', () => {
  it('deliver on the rising edge, stay raised until deassert or ack, then resample', () => {
    const ctl = new InMemoryInterruptController();
    const g = ctl.createLegacyGroup(4, 1, 'level');
    let busy = true;
    const resampled: number[] = [];
    const off = g.onResample((i) => {
      resampled.push(i);
      if (busy) g.trigger(i);
    });
    expect(g.trigger(0)).toBe('delivered');
    expect(g.trigger(0)).toBe('unchanged');
    expect(ctl.isAsserted(4)).toBe(true);
    expect(irqs(ctl)).toEqual([4]);
    // EOI while the device is still busy: the line drops, the device raises it again
    expect(ctl.ack(4)).toBe(true);
    expect(resampled).toEqual([0]);
    expect(irqs(ctl)).toEqual([4]);
    expect(g.isAsserted(0)).toBe(true);
    busy = false;
    expect(ctl.ack(4)).toBe(true);
    expect(g.isAsserted(0)).toBe(false);
    expect(irqs(ctl)).toEqual([]);
    expect(ctl.ack(4)).toBe(false);
    off();
    g.trigger(0);
    ctl.ack(4);
    expect(resampled).toEqual([0, 0]);
    expect(ctl.ack(99)).toBe(false);
    expect(ctl.isAsserted(99)).toBe(false);
  });

  it('masking holds a raised line pending; deassert clears it; enable delivers a raised line', () => {
    const ctl = new InMemoryInterruptController();
    const g = ctl.createLegacyGroup(4, 1, 'level');
    g.mask(0);
    expect(g.trigger(0)).toBe('pending');
    expect(g.isPending(0)).toBe(true);
    g.deassert(0);
    expect(g.isPending(0)).toBe(false);
    expect(g.unmask(0)).toBe('unchanged');
    expect(irqs(ctl)).toEqual([]);
    g.mask(0);
    g.trigger(0);
    expect(g.unmask(0)).toBe('delivered');
    expect(irqs(ctl)).toEqual([4]);
    g.deassert(0);
    g.disable();
    expect(g.trigger(0)).toBe('dropped');
    expect(g.isAsserted(0)).toBe(true);
    expect(irqs(ctl)).toEqual([]);
    g.enable();
    expect(irqs(ctl)).toEqual([4]);
  });

  it('a line raised while the group is disabled and the line masked is delivered at unmask after enable', () => {
    const ctl = new InMemoryInterruptController();
    const g = ctl.createLegacyGroup(4, 1, 'level');
    g.mask(0);
    g.disable();
    expect(g.trigger(0)).toBe('dropped');
    g.enable();
    expect(irqs(ctl)).toEqual([]);
    expect(g.isPending(0)).toBe(true);
    expect(g.unmask(0)).toBe('delivered');
    expect(irqs(ctl)).toEqual([4]);
  });

  it('property: deliveries of a level line match a model of line, mask and enable', () => {
    type Op = 'trigger' | 'deassert' | 'mask' | 'unmask' | 'ack' | 'disable' | 'enable';
    fc.assert(
      fc.property(fc.array(fc.constantFrom<Op>('trigger', 'deassert', 'mask', 'unmask', 'ack', 'disable', 'enable'), { maxLength: 60 }), (ops) => {
        const ctl = new InMemoryInterruptController();
        const g = ctl.createLegacyGroup(9, 1, 'level');
        let level = false;
        let masked = false;
        let pending = false;
        let on = true;
        let expected = 0;
        for (const op of ops) {
          switch (op) {
            case 'trigger': {
              let outcome = 'unchanged';
              if (!level) {
                level = true;
                outcome = 'dropped';
                if (on) {
                  if (masked) {
                    pending = true;
                    outcome = 'pending';
                  } else {
                    expected++;
                    outcome = 'delivered';
                  }
                }
              }
              expect(g.trigger(0)).toBe(outcome);
              break;
            }
            case 'deassert':
              level = false;
              pending = false;
              g.deassert(0);
              break;
            case 'mask':
              masked = true;
              g.mask(0);
              break;
            case 'unmask': {
              masked = false;
              let outcome = 'unchanged';
              if (pending) {
                pending = false;
                if (on && level) {
                  expected++;
                  outcome = 'delivered';
                }
              }
              expect(g.unmask(0)).toBe(outcome);
              break;
            }
            case 'ack':
              expect(ctl.ack(9)).toBe(level);
              level = false;
              pending = false;
              break;
            case 'disable':
              on = false;
              pending = false;
              g.disable();
              break;
            case 'enable':
              if (!on) {
                on = true;
                if (level && !masked) expected++;
                if (level && masked) pending = true;
              }
              g.enable();
              break;
          }
          expect(g.isAsserted(0)).toBe(level);
          expect(g.isPending(0)).toBe(pending);
          expect(ctl.deliveryCount).toBe(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('edge lines and MSI vectors against a model', () => {
  type Op = { t: 'trigger' | 'mask' | 'unmask' | 'disable' | 'enable' | 'configure' | 'unconfigure' };
  const ops = fc.array(fc.record({ t: fc.constantFrom<Op['t']>('trigger', 'mask', 'unmask', 'disable', 'enable', 'configure', 'unconfigure') }), { maxLength: 60 });

  it('property: outcomes, pending bits and deliveries of an edge line and an MSI vector follow the model', () => {
    fc.assert(
      fc.property(ops, (seq) => {
        const ctl = new InMemoryInterruptController();
        const edge = ctl.createLegacyGroup(3, 2, 'edge');
        const msi = ctl.createMsiGroup(40, 2);
        const cfg: MsiConfig = { addressLo: 0xfee0_0000, addressHi: 0, data: 0x31 };
        // model state per group: [masked, pending, on, configured]
        const m = { edge: { masked: false, pending: false, on: true, cfg: true }, msi: { masked: false, pending: false, on: true, cfg: false } };
        const expected: number[] = [];
        for (const { t } of seq) {
          for (const [name, g] of [['edge', edge], ['msi', msi]] as const) {
            const s = m[name];
            switch (t) {
              case 'trigger': {
                let outcome: string;
                if (!s.on || !s.cfg) outcome = 'dropped';
                else if (s.masked) {
                  s.pending = true;
                  outcome = 'pending';
                } else {
                  expected.push(g.base + 1);
                  outcome = 'delivered';
                }
                expect(g.trigger(1)).toBe(outcome);
                break;
              }
              case 'mask':
                s.masked = true;
                g.mask(1);
                break;
              case 'unmask': {
                s.masked = false;
                let outcome = 'unchanged';
                if (s.pending) {
                  s.pending = false;
                  if (s.on && s.cfg) {
                    expected.push(g.base + 1);
                    outcome = 'delivered';
                  }
                }
                expect(g.unmask(1)).toBe(outcome);
                break;
              }
              case 'disable':
                s.on = false;
                s.pending = false;
                g.disable();
                break;
              case 'enable':
                s.on = true;
                g.enable();
                break;
              case 'configure':
                if (name === 'msi') {
                  s.cfg = true;
                  msi.update(1, cfg);
                }
                break;
              case 'unconfigure':
                if (name === 'msi') {
                  s.cfg = false;
                  msi.update(1, undefined);
                }
                break;
            }
            expect(g.isPending(1)).toBe(s.pending);
            expect(g.isMasked(1)).toBe(s.masked);
            expect(g.enabled).toBe(s.on);
            expect(g.isPending(0)).toBe(false);
          }
        }
        const got = ctl.takeDeliveries();
        expect(got.map((d) => d.irq)).toEqual(expected);
        for (const d of got) expect(d.kind === 'msi' ? d.config : d.mode).toEqual(d.kind === 'msi' ? cfg : 'edge');
      }),
      { numRuns: 200 },
    );
  });
});

describe('MSI vectors', () => {
  const cfg: MsiConfig = { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 };

  it('deliver their configured message; unconfigured vectors drop', () => {
    const ctl = new InMemoryInterruptController();
    const g: MsiInterruptGroup = ctl.createMsiGroup(32, 4);
    expect([g.kind, g.base, g.count]).toEqual(['msi', 32, 4]);
    expect(g.trigger(0)).toBe('dropped');
    g.update(0, cfg);
    g.update(3, { ...cfg, data: 0x44, devid: 7 });
    expect(g.getConfig(0)).toEqual(cfg);
    expect(g.trigger(0)).toBe('delivered');
    expect(g.trigger(3)).toBe('delivered');
    expect(ctl.takeDeliveries()).toEqual([
      { seq: 0, kind: 'msi', irq: 32, index: 0, config: cfg },
      { seq: 1, kind: 'msi', irq: 35, index: 3, config: { ...cfg, data: 0x44, devid: 7 } },
    ]);
    g.mask(0);
    expect(g.trigger(0)).toBe('pending');
    expect(g.unmask(0)).toBe('delivered');
    g.mask(0);
    g.trigger(0);
    g.update(0, undefined);
    expect(g.getConfig(0)).toBeUndefined();
    expect(g.unmask(0)).toBe('unchanged');
    g.update(0, cfg);
    g.disable();
    expect(g.trigger(0)).toBe('dropped');
    g.enable();
    expect(g.trigger(0)).toBe('delivered');
  });

  it('refuses configurations that are not u32 with Bus.InvalidMsiConfigError', () => {
    const g = new InMemoryInterruptController().createMsiGroup(0, 1);
    for (const bad of [{ ...cfg, addressLo: -1 }, { ...cfg, addressHi: 2 ** 32 }, { ...cfg, data: 1.5 }, { ...cfg, devid: -3 }, { addressLo: 0, addressHi: 0 } as unknown as MsiConfig]) {
      expect(thrown(() => g.update(0, bad)).name).toBe('Bus.InvalidMsiConfigError');
    }
    expect(g.getConfig(0)).toBeUndefined();
  });
});

describe('InMemoryInterruptController', () => {
  it('types bad indices and busy numbers; destroys groups', () => {
    const ctl: InterruptManager = new InMemoryInterruptController();
    const g = ctl.createLegacyGroup(4, 2, 'level');
    for (const i of [2, -1, 0.5, NaN, '0' as unknown as number]) {
      const e = thrown(() => g.trigger(i));
      expect(e.name).toBe('Bus.InvalidInterruptIndexError');
      expect(isBusError(e, 'Bus.InvalidInterruptIndexError')).toBe(true);
    }
    expect(thrown(() => g.mask(2)).name).toBe('Bus.InvalidInterruptIndexError');
    expect(thrown(() => ctl.createLegacyGroup(5, 1, 'edge')).name).toBe('Bus.InterruptSourceBusyError');
    const m = ctl.createMsiGroup(4, 2); // MSI numbers are a separate space
    expect(thrown(() => ctl.createMsiGroup(5, 4)).name).toBe('Bus.InterruptSourceBusyError');
    expect(() => ctl.createLegacyGroup(0, 0, 'edge')).toThrow(RangeError);
    expect(() => ctl.createLegacyGroup(-1, 1, 'edge')).toThrow(RangeError);
    expect(() => ctl.createLegacyGroup(0xffff_ffff, 2, 'edge')).toThrow(RangeError);
    expect(() => ctl.createMsiGroup(0x1000_0000, 65537)).toThrow(/count must be in \[1, 65536\]/);
    expect(ctl.createMsiGroup(0x1000_0000, 65536).count).toBe(65536);
    expect(() => ctl.createLegacyGroup(0, 1, 'both' as 'edge')).toThrow(TypeError);
    ctl.destroyGroup(g);
    expect(g.trigger(0)).toBe('dropped');
    expect(() => ctl.destroyGroup(g)).toThrow(TypeError);
    ctl.createLegacyGroup(4, 1, 'edge');
    ctl.destroyGroup(m);
    expect(() => new InMemoryInterruptController({ recordLimit: -1 })).toThrow(RangeError);
    expect(() => new InMemoryInterruptController({ onDeliver: 1 as unknown as () => void })).toThrow(TypeError);
    expect(() => (g as LegacyInterruptGroup).onResample(null as unknown as () => void)).toThrow(TypeError);
  });

  it('hands every delivery to onDeliver and records up to recordLimit', () => {
    const seen: InterruptDelivery[] = [];
    const ctl = new InMemoryInterruptController({ onDeliver: (d) => seen.push(d), recordLimit: 2 });
    const g = ctl.createLegacyGroup(1, 1, 'edge');
    for (let i = 0; i < 5; i++) g.trigger(0);
    expect(seen.map((d) => d.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(ctl.deliveries.length).toBe(2);
    expect(ctl.unrecorded).toBe(3);
    expect(ctl.deliveryCount).toBe(5);
  });
});
