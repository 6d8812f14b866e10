import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  Abs, ConfigLayout, ConfigSelect, EventType, InputConfig, InputDevice, InputProp, Led, PRESETS, TOUCH_SLOTS, keyboard, mouse, tablet, touchscreen, validateDescription,
} from '@vmv/input';
import type { InputDescription } from '@vmv/input';
import { linuxProbe } from './support/linux-probe';

function ask(cfg: InputConfig, select: number, subsel: number): { size: number; union: Uint8Array } {
  cfg.write(0, Uint8Array.of(select, subsel));
  const b = new Uint8Array(136);
  cfg.read(0, b);
  return { size: b[2]!, union: b.slice(8) };
}
const cfgOf = (d: InputDescription) => new InputConfig(validateDescription(d));
const text = (u: Uint8Array, n: number) => String.fromCharCode(...u.subarray(0, n));

describe('config selects answered as evdev reports the device', () => {
  it('ID_NAME: the name without a NUL; ID_SERIAL: size 0 without a serial, the serial with one', () => {
    const c = cfgOf(keyboard({ name: 'kbd0' }));
    const n = ask(c, ConfigSelect.ID_NAME, 0);
    expect([n.size, text(n.union, n.size), n.union[n.size]]).toEqual([4, 'kbd0', 0]);
    expect(ask(c, ConfigSelect.ID_SERIAL, 0).size).toBe(0);
    const s = ask(cfgOf(keyboard({ serial: 'SN-42' })), ConfigSelect.ID_SERIAL, 0);
    expect([s.size, text(s.union, s.size)]).toEqual([5, 'SN-42']);
  });

  it('ID_DEVIDS: bustype, vendor, product, version as le16', () => {
    const d = ask(cfgOf(mouse({ ids: { vendor: 0x1234, product: 0xabcd, version: 0x0102 } })), ConfigSelect.ID_DEVIDS, 0);
    expect(d.size).toBe(8);
    expect([...d.union.subarray(0, 8)]).toEqual([0x06, 0, 0x34, 0x12, 0xcd, 0xab, 0x02, 0x01]);
  });

  it('PROP_BITS: the touchscreen is DIRECT; a keyboard has none (size 0)', () => {
    const p = ask(cfgOf(touchscreen()), ConfigSelect.PROP_BITS, 0);
    expect([p.size, p.union[0]]).toEqual([1, 1 << InputProp.DIRECT]);
    expect(ask(cfgOf(keyboard()), ConfigSelect.PROP_BITS, 0).size).toBe(0);
  });

  it('EV_BITS per type: bitmaps up to the highest code, EV_REP as one zero byte, unsupported types size 0', () => {
    const c = cfgOf(keyboard());
    const k = ask(c, ConfigSelect.EV_BITS, EventType.EV_KEY);
    expect(k.size).toBe(32); // KEY_MICMUTE 248 is in byte 31
    expect(k.union[0]).toBe(0xfe); // KEY_ESC (1) .. KEY_7 (8): not KEY_RESERVED
    expect(k.union[31]).toBe(0x01);
    expect(ask(c, ConfigSelect.EV_BITS, EventType.EV_REP)).toMatchObject({ size: 1 });
    expect(ask(c, ConfigSelect.EV_BITS, EventType.EV_REP).union[0]).toBe(0);
    const led = ask(c, ConfigSelect.EV_BITS, EventType.EV_LED);
    expect([led.size, led.union[0]]).toEqual([1, (1 << Led.NUML) | (1 << Led.CAPSL) | (1 << Led.SCROLLL)]);
    for (const t of [EventType.EV_REL, EventType.EV_ABS, EventType.EV_SYN, EventType.EV_FF, 0x1f, 0xff]) expect(ask(c, ConfigSelect.EV_BITS, t).size).toBe(0);
    const abs = ask(cfgOf(tablet()), ConfigSelect.EV_BITS, EventType.EV_ABS);
    expect([abs.size, abs.union[0]]).toEqual([1, 0x03]);
  });

  it('ABS_INFO per axis: min, max, fuzz, flat, res as le32; MT slots; a missing axis has size 0', () => {
    const c = cfgOf(touchscreen());
    const slot = ask(c, ConfigSelect.ABS_INFO, Abs.MT_SLOT);
    const v = new DataView(slot.union.buffer, slot.union.byteOffset);
    expect([slot.size, v.getInt32(0, true), v.getInt32(4, true)]).toEqual([20, 0, TOUCH_SLOTS - 1]);
    const x = ask(cfgOf({ name: 'j', events: { EV_ABS: [0] }, abs: { 0: { min: -100, max: 100, fuzz: 2, flat: 3, res: 4 } } }), ConfigSelect.ABS_INFO, 0);
    const xv = new DataView(x.union.buffer, x.union.byteOffset);
    expect([0, 4, 8, 12, 16].map((o) => xv.getInt32(o, true))).toEqual([-100, 100, 2, 3, 4]);
    expect(ask(c, ConfigSelect.ABS_INFO, Abs.MT_TOUCH_MAJOR).size).toBe(0);
  });

  it('unknown select or subsel: size 0 and a zeroed union, even after a supported answer', () => {
    const c = cfgOf(keyboard());
    ask(c, ConfigSelect.ID_NAME, 0);
    for (const [s, sub] of [[0, 0], [4, 0], [0x13, 0], [0xff, 0xff], [ConfigSelect.ID_NAME, 1], [ConfigSelect.ID_DEVIDS, 7], [ConfigSelect.PROP_BITS, 1]]) {
      const a = ask(c, s!, sub!);
      expect(a.size).toBe(0);
      expect(a.union.every((b) => b === 0)).toBe(true);
    }
  });

  it('select and subsel in either order; writes to size, reserved and the union are ignored', () => {
    const c = cfgOf(keyboard());
    c.write(ConfigLayout.SUBSEL, Uint8Array.of(EventType.EV_LED));
    c.write(ConfigLayout.SELECT, Uint8Array.of(ConfigSelect.EV_BITS));
    expect(c.bytes[ConfigLayout.SIZE]).toBe(1);
    c.write(ConfigLayout.SIZE, new Uint8Array(134).fill(0x55)); // what QEMU's vhost-user frontend forwards
    expect([c.bytes[ConfigLayout.SIZE], c.bytes[8], c.bytes[9]]).toEqual([1, 7, 0]);
    c.write(0, Uint8Array.of(ConfigSelect.ID_NAME, 0, 0x55, 0x55)); // the whole struct at once, as QEMU writes it
    expect(c.bytes[ConfigLayout.SIZE]).toBe('vmv virtio keyboard'.length);
  });

  it("Linux's probe sees each preset exactly as described", () => {
    for (const [kind, preset] of Object.entries(PRESETS)) {
      const d = validateDescription(preset());
      const dev = new InputDevice({ description: preset() });
      const seen = linuxProbe({ read: (o, b) => dev.readConfig(o, b), write: (o, b) => dev.writeConfig(o, b) });
      expect({ kind, ...seen, selects: undefined }).toEqual({ kind, ...d, props: d.properties, properties: undefined, selects: undefined } as never);
    }
  });

  it("property: any valid description survives Linux's probe unchanged", () => {
    const codesOf = (n: number) => fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: 12 }).map((a) => a.sort((x, y) => x - y));
    const axis = fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer(), fc.integer(), fc.integer()).map(([a, b, fuzz, flat, res]) => ({ min: Math.min(a, b), max: Math.max(a, b), fuzz: fuzz | 0, flat: flat | 0, res: res | 0 }));
    const arb = fc.record({
      name: fc.stringMatching(/^[ -~]{1,63}$/),
      serial: fc.stringMatching(/^[ -~]{0,63}$/),
      ids: fc.record({ bustype: fc.integer({ min: 0, max: 0xffff }), vendor: fc.integer({ min: 0, max: 0xffff }), product: fc.integer({ min: 0, max: 0xffff }), version: fc.integer({ min: 0, max: 0xffff }) }),
      properties: codesOf(0x20),
      key: codesOf(0x300), rel: codesOf(0x10), absAxes: codesOf(0x2f), led: codesOf(0x10), sw: codesOf(0x11), rep: fc.boolean(), axes: fc.array(axis, { minLength: 12, maxLength: 12 }),
    });
    fc.assert(fc.property(arb, (r) => {
      const events: Record<string, number[]> = { EV_KEY: r.key };
      if (r.rel.length) events['EV_REL'] = r.rel;
      if (r.absAxes.length) events['EV_ABS'] = r.absAxes;
      if (r.led.length) events['EV_LED'] = r.led;
      if (r.sw.length) events['EV_SW'] = r.sw;
      if (r.rep) events['EV_REP'] = [];
      const abs = Object.fromEntries(r.absAxes.map((a, i) => [a, r.axes[i]!]));
      const desc = { name: r.name, serial: r.serial, ids: r.ids, properties: r.properties, events, abs };
      const dev = new InputDevice({ description: desc });
      const seen = linuxProbe({ read: (o, b) => dev.readConfig(o, b), write: (o, b) => dev.writeConfig(o, b) });
      expect(seen.name).toBe(r.name);
      expect(seen.serial).toBe(r.serial);
      expect(seen.ids).toEqual(r.ids);
      expect(seen.props).toEqual(r.properties);
      // a type listed with no codes (EV_KEY: []) reads as supported with an empty bitmap, as in evdev
      expect(new Map([...seen.events].sort())).toEqual(new Map(Object.entries(events).map(([k, v]) => [EventType[k as keyof typeof EventType], v] as [number, number[]]).sort()));
      expect(Object.fromEntries(seen.abs)).toEqual(abs);
    }), { numRuns: 200 });
  });
});
