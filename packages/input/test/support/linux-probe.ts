/**
 * What Linux's virtio_input probe (drivers/virtio/virtio_input.c, virtinput_probe) asks of the
 * config space, in its order, and what it makes of the answers: the evdev device it registers.
 */
import { ConfigLayout, ConfigSelect, EventType } from '@vmv/input';

export interface ConfigPort {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

export interface ProbedDevice {
  name: string;
  serial: string;
  ids: { bustype: number; vendor: number; product: number; version: number };
  props: number[];
  events: Map<number, number[]>;
  abs: Map<number, { min: number; max: number; fuzz: number; flat: number; res: number }>;
  selects: [number, number][];
}

const COUNTS: [number, number][] = [[EventType.EV_KEY, 0x300], [EventType.EV_REL, 0x10], [EventType.EV_ABS, 0x40], [EventType.EV_MSC, 8], [EventType.EV_SW, 0x11], [EventType.EV_LED, 0x10], [EventType.EV_SND, 8]];

export function linuxProbe(cfg: ConfigPort): ProbedDevice {
  const selects: [number, number][] = [];
  const u8 = (o: number) => { const b = new Uint8Array(1); cfg.read(o, b); return b[0]!; };
  const bytes = (o: number, n: number) => { const b = new Uint8Array(n); cfg.read(o, b); return b; };
  const select = (s: number, sub: number) => { selects.push([s, sub]); cfg.write(ConfigLayout.SELECT, Uint8Array.of(s)); cfg.write(ConfigLayout.SUBSEL, Uint8Array.of(sub)); return u8(ConfigLayout.SIZE); };
  const str = (s: number) => { const size = select(s, 0); const b = bytes(ConfigLayout.UNION, Math.min(size, 64)); const z = b.indexOf(0); return String.fromCharCode(...(z < 0 ? b : b.subarray(0, z))); };
  const bits = (s: number, sub: number, count: number): number[] | null => {
    const size = select(s, sub);
    if (size === 0) return null;
    const b = bytes(ConfigLayout.UNION, size);
    const out: number[] = [];
    for (let bit = 0; bit < Math.min(count, size * 8); bit++) if (b[bit >> 3]! & (1 << (bit & 7))) out.push(bit);
    return out;
  };
  const name = str(ConfigSelect.ID_NAME);
  const serial = str(ConfigSelect.ID_SERIAL);
  let ids = { bustype: 6, vendor: 0, product: 0, version: 0 };
  if (select(ConfigSelect.ID_DEVIDS, 0) >= 8) {
    const v = new DataView(bytes(ConfigLayout.UNION, 8).buffer);
    ids = { bustype: v.getUint16(0, true), vendor: v.getUint16(2, true), product: v.getUint16(4, true), version: v.getUint16(6, true) };
  }
  const props = bits(ConfigSelect.PROP_BITS, 0, 0x20) ?? [];
  const events = new Map<number, number[]>();
  if (select(ConfigSelect.EV_BITS, EventType.EV_REP) !== 0) events.set(EventType.EV_REP, []);
  for (const [t, n] of COUNTS) {
    const b = bits(ConfigSelect.EV_BITS, t, n);
    if (b !== null) events.set(t, b);
  }
  const abs = new Map<number, { min: number; max: number; fuzz: number; flat: number; res: number }>();
  for (const a of events.get(EventType.EV_ABS) ?? []) {
    select(ConfigSelect.ABS_INFO, a);
    const v = new DataView(bytes(ConfigLayout.UNION, 20).buffer);
    abs.set(a, { min: v.getInt32(0, true), max: v.getInt32(4, true), fuzz: v.getInt32(8, true), flat: v.getInt32(12, true), res: v.getInt32(16, true) });
  }
  return { name, serial, ids, props, events, abs, selects };
}
