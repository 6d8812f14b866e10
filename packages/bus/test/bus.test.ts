import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isBusError, MMIO_ADDRESS_MAX, MmioBus, MmioRange, PioBus, PioRange } from '@vmv/bus';
import type { BusError, BusErrorName, MutDeviceMmio, MutDevicePio } from '@vmv/bus';

function thrown(f: () => unknown): BusError {
  try {
    f();
  } catch (e) {
    return e as BusError;
  }
  throw new Error('did not throw');
}

class Rec implements MutDevicePio, MutDeviceMmio {
  calls: Array<[string, number | bigint, number, number[]]> = [];
  constructor(readonly id = 0) {}
  pioRead(base: number, offset: number, data: Uint8Array): void {
    data.fill(this.id);
    this.calls.push(['pr', base, offset, [...data]]);
  }
  pioWrite(base: number, offset: number, data: Uint8Array): void {
    this.calls.push(['pw', base, offset, [...data]]);
  }
  mmioRead(base: bigint, offset: number, data: Uint8Array): void {
    data.fill(this.id);
    this.calls.push(['mr', base, offset, [...data]]);
  }
  mmioWrite(base: bigint, offset: number, data: Uint8Array): void {
    this.calls.push(['mw', base, offset, [...data]]);
  }
}

describe('PioBus', () => {
  it('registers, finds, dispatches (base, offset, data) and unregisters', () => {
    const bus = new PioBus<Rec>();
    const a = new Rec(1);
    const b = new Rec(2);
    bus.register(new PioRange(0x3f8, 8), a);
    bus.register(new PioRange(0x60, 1), b);
    expect(bus.size).toBe(2);
    expect(bus.entries().map((e) => e.range.base)).toEqual([0x60, 0x3f8]);
    expect(bus.find(0x3fc)?.device).toBe(a);
    expect(bus.find(0x61)).toBeUndefined();
    const buf = new Uint8Array(2);
    bus.read(0x3fe, buf);
    expect([...buf]).toEqual([1, 1]);
    bus.write(0x60, Uint8Array.of(0xf4));
    expect(a.calls).toEqual([['pr', 0x3f8, 6, [1, 1]]]);
    expect(b.calls).toEqual([['pw', 0x60, 0, [0xf4]]]);
    expect(bus.checkAccess(0x3f8, 8).device).toBe(a);
    expect(bus.unregister(0x3ff).device).toBe(a);
    expect(bus.find(0x3f8)).toBeUndefined();
    expect(isBusError(thrown(() => bus.unregister(0x3f8)), 'Bus.DeviceNotFoundError')).toBe(true);
  });

  it('refuses an overlapping registration naming both ranges', () => {
    const bus = new PioBus();
    bus.register(new PioRange(0x3f8, 8), new Rec());
    const e = thrown(() => bus.register(new PioRange(0x3fc, 8), new Rec()));
    expect(e.name).toBe('Bus.DeviceOverlapError');
    expect(e.code).toBe('DEVICE_OVERLAP');
    expect(e).toMatchObject({ range: 'pio[0x3fc..0x403]', existing: 'pio[0x3f8..0x3ff]' });
    expect(e.message).toContain('pio[0x3fc..0x403]');
    expect(e.message).toContain('pio[0x3f8..0x3ff]');
    expect(isBusError(thrown(() => bus.register(new PioRange(0x3f0, 9), new Rec())), 'Bus.DeviceOverlapError')).toBe(true);
    expect(isBusError(thrown(() => bus.register(new PioRange(0x3f9, 1), new Rec())), 'Bus.DeviceOverlapError')).toBe(true);
    bus.register(new PioRange(0x3f0, 8), new Rec());
    bus.register(new PioRange(0x400, 8), new Rec());
    expect(bus.size).toBe(3);
  });

  it('types every bad access', () => {
    const bus = new PioBus();
    bus.register(new PioRange(0x3f8, 8), new Rec());
    expect(thrown(() => bus.read(0x3f8, new Uint8Array(0))).name).toBe('Bus.EmptyAccessError');
    const s = thrown(() => bus.read(0x3fe, new Uint8Array(4)));
    expect(s.name).toBe('Bus.AccessStraddlesRangeError');
    expect(s).toMatchObject({ space: 'pio', addr: 0x3fe, length: 4, range: 'pio[0x3f8..0x3ff]' });
    expect(thrown(() => bus.write(0x3f7, new Uint8Array(2))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => bus.write(0x400, new Uint8Array(1))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => bus.checkAccess(0x3ff, 2)).name).toBe('Bus.AccessStraddlesRangeError');
    expect(thrown(() => bus.checkAccess(0x3ff, 0)).name).toBe('Bus.EmptyAccessError');
    // an access running past the end of the whole space straddles the last range
    bus.register(new PioRange(0xfffc, 4), new Rec());
    expect(thrown(() => bus.read(0xffff, new Uint8Array(2))).name).toBe('Bus.AccessStraddlesRangeError');
  });

  it('throws TypeError/RangeError for embedder misuse', () => {
    const bus = new PioBus();
    bus.register(new PioRange(0, 4), new Rec());
    expect(() => bus.read(0x10000, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.read(-1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.read(1.5, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.write(0, [1] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => bus.checkAccess(0, -1)).toThrow(RangeError);
    expect(() => bus.register({ base: 0, size: 1 } as unknown as PioRange, new Rec())).toThrow(TypeError);
    expect(() => bus.register(new PioRange(8, 1), {} as unknown as Rec)).toThrow(TypeError);
    expect(() => bus.find(0x10000)).toThrow(RangeError);
  });

  it('keeps the last-hit cache correct across unregistration', () => {
    const bus = new PioBus<Rec>();
    const a = new Rec(1);
    bus.register(new PioRange(0x10, 4), a);
    bus.read(0x10, new Uint8Array(1));
    bus.unregister(0x10);
    expect(thrown(() => bus.read(0x10, new Uint8Array(1))).name).toBe('Bus.DeviceNotFoundError');
    const b = new Rec(2);
    bus.register(new PioRange(0x8, 0x10), b);
    const buf = new Uint8Array(1);
    bus.read(0x10, buf);
    expect(buf[0]).toBe(2);
  });
});

describe('MmioBus', () => {
  it('dispatches number and bigint addresses with a bigint base and a number offset', () => {
    const bus = new MmioBus<Rec>();
    const a = new Rec(7);
    bus.register(new MmioRange(0xd000_0000, 0x200), a);
    bus.read(0xd000_0004, new Uint8Array(4));
    bus.write(0xd000_0050n, Uint8Array.of(1, 0, 0, 0));
    expect(a.calls).toEqual([
      ['mr', 0xd000_0000n, 4, [7, 7, 7, 7]],
      ['mw', 0xd000_0000n, 0x50, [1, 0, 0, 0]],
    ]);
    expect(bus.find(0xd000_01ff)?.device).toBe(a);
    expect(bus.find(0xd000_0200n)).toBeUndefined();
    expect(bus.checkAccess(0xd000_0000n, 0x200).device).toBe(a);
    expect(bus.unregister(0xd000_0100n).device).toBe(a);
    expect(bus.size).toBe(0);
  });

  it('serves ranges above 2^53 and at the top of the 64-bit space', () => {
    const bus = new MmioBus<Rec>();
    const hi = new Rec(1);
    const top = new Rec(2);
    const edge = new Rec(3);
    bus.register(new MmioRange(0x1_0000_0000_0000_0000n - 0x1000n, 0x1000n), top);
    bus.register(new MmioRange(1n << 60n, 0x1000n), hi);
    // straddles 2^53: starts at a safe number, ends above
    bus.register(new MmioRange(2n ** 53n - 8n, 16n), edge);
    bus.read(MMIO_ADDRESS_MAX, new Uint8Array(1));
    expect(top.calls).toEqual([['mr', MMIO_ADDRESS_MAX - 0xfffn, 0xfff, [2]]]);
    bus.write((1n << 60n) + 0x10n, Uint8Array.of(9));
    expect(hi.calls).toEqual([['mw', 1n << 60n, 0x10, [9]]]);
    bus.read(Number.MAX_SAFE_INTEGER - 1, new Uint8Array(4)); // ends above 2^53 - 1, inside the range
    bus.read(2n ** 53n + 4n, new Uint8Array(4));
    expect(edge.calls).toEqual([
      ['mr', 2n ** 53n - 8n, 6, [3, 3, 3, 3]],
      ['mr', 2n ** 53n - 8n, 12, [3, 3, 3, 3]],
    ]);
    expect(thrown(() => bus.read(2n ** 53n + 6n, new Uint8Array(4))).name).toBe('Bus.AccessStraddlesRangeError');
    expect(thrown(() => bus.read(MMIO_ADDRESS_MAX, new Uint8Array(2))).name).toBe('Bus.AccessStraddlesRangeError');
    expect(thrown(() => bus.read(2n ** 53n + 8n, new Uint8Array(1))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => bus.read(0, new Uint8Array(1))).name).toBe('Bus.DeviceNotFoundError');
    expect(thrown(() => bus.read(1n << 60n, new Uint8Array(0))).name).toBe('Bus.EmptyAccessError');
    expect(thrown(() => bus.read(0, new Uint8Array(0))).name).toBe('Bus.EmptyAccessError');
  });

  it('refuses overlaps, too-large device ranges and misuse', () => {
    const bus = new MmioBus();
    bus.register(new MmioRange(0x1000, 0x1000), new Rec());
    const e = thrown(() => bus.register(new MmioRange(0x1fff, 2), new Rec()));
    expect(e.name).toBe('Bus.DeviceOverlapError');
    expect(e).toMatchObject({ range: 'mmio[0x1fff..0x2000]', existing: 'mmio[0x1000..0x1fff]' });
    expect(thrown(() => bus.register(new MmioRange(1n << 60n, (1n << 53n) + 1n), new Rec())).name).toBe('Bus.InvalidRangeError');
    bus.register(new MmioRange(1n << 60n, 1n << 53n), new Rec());
    expect(() => bus.read(-1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.read(2 ** 53, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.read(0.5, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.read(1n << 64n, new Uint8Array(1))).toThrow(RangeError);
    expect(() => bus.write(0x1000, 'x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => bus.checkAccess(0x1000, 1.5)).toThrow(RangeError);
    expect(() => bus.register(new PioRange(0, 1) as unknown as MmioRange, new Rec())).toThrow(TypeError);
    expect(() => bus.register(new MmioRange(0x9000, 1), { mmioRead() {} } as unknown as Rec)).toThrow(TypeError);
  });
});

// Reference model: a list of [base, last, id] with linear scans.
type Op = { t: 'reg'; base: bigint; size: bigint } | { t: 'unreg'; addr: bigint } | { t: 'access'; addr: bigint; len: number };

function modelCheck(ops: Op[], space: 'pio' | 'mmio', spaceMax: bigint): void {
  const model: Array<{ base: bigint; last: bigint; id: number }> = [];
  const pio = new PioBus<Rec>();
  const mmio = new MmioBus<Rec>();
  let next = 1;
  const toAddr = (a: bigint): number | bigint => (space === 'pio' ? Number(a) : a <= BigInt(Number.MAX_SAFE_INTEGER) && a % 2n === 0n ? Number(a) : a);
  for (const op of ops) {
    if (op.t === 'reg') {
      const last = op.base + op.size - 1n;
      let err: BusErrorName | undefined;
      let range: PioRange | MmioRange | undefined;
      try {
        range = space === 'pio' ? new PioRange(Number(op.base), Number(op.size)) : new MmioRange(op.base, op.size);
      } catch (e) {
        expect(isBusError(e, 'Bus.InvalidRangeError')).toBe(true);
        expect(last > spaceMax || op.size === 0n).toBe(true);
        continue;
      }
      const clash = model.find((m) => m.base <= last && op.base <= m.last);
      const dev = new Rec(next);
      try {
        if (space === 'pio') pio.register(range as PioRange, dev);
        else mmio.register(range as MmioRange, dev);
      } catch (e) {
        err = (e as BusError).name as BusErrorName;
      }
      if (clash) expect(err).toBe('Bus.DeviceOverlapError');
      else {
        expect(err).toBeUndefined();
        model.push({ base: op.base, last, id: next++ });
      }
    } else if (op.t === 'unreg') {
      const i = model.findIndex((m) => m.base <= op.addr && op.addr <= m.last);
      const bus = space === 'pio' ? pio : mmio;
      if (i < 0) expect(isBusError(thrown(() => bus.unregister(toAddr(op.addr) as never)), 'Bus.DeviceNotFoundError')).toBe(true);
      else {
        expect((bus.unregister(toAddr(op.addr) as never).device as Rec).id).toBe(model[i]!.id);
        model.splice(i, 1);
      }
    } else {
      const hit = model.find((m) => m.base <= op.addr && op.addr <= m.last);
      const expected: BusErrorName | undefined = op.len === 0 ? 'Bus.EmptyAccessError' : !hit ? 'Bus.DeviceNotFoundError' : op.addr + BigInt(op.len) - 1n > hit.last ? 'Bus.AccessStraddlesRangeError' : undefined;
      const buf = new Uint8Array(op.len);
      let got: string | undefined;
      try {
        if (space === 'pio') pio.read(Number(op.addr), buf);
        else mmio.read(toAddr(op.addr), buf);
      } catch (e) {
        got = (e as BusError).name;
        expect(isBusError(e)).toBe(true);
      }
      expect(got).toBe(expected);
      if (!expected) expect([...buf]).toEqual(new Array(op.len).fill(hit!.id & 0xff));
      const found = space === 'pio' ? pio.find(Number(op.addr)) : mmio.find(toAddr(op.addr));
      expect(found ? (found.device as Rec).id : undefined).toBe(hit?.id);
    }
  }
  const entries = space === 'pio' ? pio.entries() : mmio.entries();
  expect(entries.map((e) => (e.device as Rec).id)).toEqual([...model].sort((a, b) => (a.base < b.base ? -1 : 1)).map((m) => m.id));
}

describe('MmioBus at the 2^53 boundary of exact numbers', () => {
  it('refuses an access that ends one byte past a range ending at 2^53 - 1 (float sum would round down)', () => {
    const bus = new MmioBus<Rec>();
    const dev = new Rec(1);
    bus.register(new MmioRange(2n ** 53n - 16n, 16n), dev);
    // 2^53 - 2 + 3 = 2^53 + 1, which rounds to 2^53 as a double: the access ends at 2^53, outside.
    for (const [addr, len] of [[2 ** 53 - 2, 3], [2 ** 53 - 4, 5], [2 ** 53 - 6, 7], [Number.MAX_SAFE_INTEGER, 2]] as const) {
      expect(thrown(() => bus.read(addr, new Uint8Array(len))).name).toBe('Bus.AccessStraddlesRangeError');
      expect(thrown(() => bus.write(addr, new Uint8Array(len))).name).toBe('Bus.AccessStraddlesRangeError');
      expect(thrown(() => bus.checkAccess(addr, len)).name).toBe('Bus.AccessStraddlesRangeError');
    }
    bus.read(2 ** 53 - 4, new Uint8Array(4));
    expect(dev.calls).toEqual([['mr', 2n ** 53n - 16n, 12, [1, 1, 1, 1]]]);
  });

  it('exhaustive: every access around 2^53, as a number and as a bigint, is judged exactly as bigint arithmetic says', () => {
    const TOP = 2n ** 53n;
    for (let last = TOP - 4n; last <= TOP + 4n; last++) {
      for (const size of [1n, 2n, 5n, 16n]) {
        const base = last - size + 1n;
        const bus = new MmioBus<Rec>();
        bus.register(new MmioRange(base, size), new Rec(5));
        for (let addr = last - 12n; addr <= last + 3n; addr++) {
          for (let len = 1; len <= 8; len++) {
            const inside = addr >= base && addr <= last;
            const expected = !inside ? 'Bus.DeviceNotFoundError' : addr + BigInt(len) - 1n > last ? 'Bus.AccessStraddlesRangeError' : 'ok';
            const forms: Array<number | bigint> = addr <= BigInt(Number.MAX_SAFE_INTEGER) ? [addr, Number(addr)] : [addr];
            for (const a of forms) {
              for (const f of [() => bus.read(a, new Uint8Array(len)), () => bus.write(a, new Uint8Array(len)), () => bus.checkAccess(a, len)]) {
                let got = 'ok';
                try {
                  f();
                } catch (e) {
                  got = (e as BusError).name;
                }
                if (got !== expected) throw new Error(`last=${last} size=${size} addr=${String(a)} len=${len}: ${got}, expected ${expected}`);
              }
            }
          }
        }
      }
    }
  });
});

describe('buses against a reference model', () => {
  it('property: random PIO registrations, unregistrations and accesses', () => {
    const addr = fc.bigInt({ min: 0n, max: 0xffffn });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ t: fc.constant('reg' as const), base: addr, size: fc.bigInt({ min: 0n, max: 0x40n }) }),
      fc.record({ t: fc.constant('unreg' as const), addr }),
      fc.record({ t: fc.constant('access' as const), addr, len: fc.integer({ min: 0, max: 8 }) }),
    );
    // A small window makes collisions frequent.
    const local = op.map((o) => ('base' in o ? { ...o, base: o.base % 0x200n } : { ...o, addr: o.addr % 0x240n }));
    fc.assert(fc.property(fc.array(local, { maxLength: 80 }), (ops) => modelCheck(ops, 'pio', 0xffffn)), { numRuns: 150 });
  });

  it('property: long random PIO sequences (a few hundred live ranges) against the model', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant('reg' as const), base: fc.bigInt({ min: 0n, max: 0xfffn }), size: fc.bigInt({ min: 1n, max: 8n }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('unreg' as const), addr: fc.bigInt({ min: 0n, max: 0xfffn }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('access' as const), addr: fc.bigInt({ min: 0n, max: 0x1007n }), len: fc.integer({ min: 1, max: 4 }) }) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 200, maxLength: 600 }), (ops) => modelCheck(ops, 'pio', 0xffffn)), { numRuns: 20 });
  });

  it('property: random MMIO operations near 2^53 and near 2^64', () => {
    const pivot = fc.constantFrom(0n, 2n ** 53n - 0x100n, MMIO_ADDRESS_MAX - 0x1ffn);
    const off = fc.bigInt({ min: 0n, max: 0x1ffn });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ t: fc.constant('reg' as const), base: fc.tuple(pivot, off).map(([p, o]) => p + o), size: fc.bigInt({ min: 0n, max: 0x40n }) }),
      fc.record({ t: fc.constant('unreg' as const), addr: fc.tuple(pivot, off).map(([p, o]) => p + o) }),
      fc.record({ t: fc.constant('access' as const), addr: fc.tuple(pivot, off).map(([p, o]) => p + o), len: fc.integer({ min: 0, max: 8 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => modelCheck(ops, 'mmio', MMIO_ADDRESS_MAX)), { numRuns: 150 });
  });

  it('finds among 10000 ranges registered in descending order', () => {
    const bus = new MmioBus<Rec>();
    for (let i = 9999; i >= 0; i--) bus.register(new MmioRange(0x1000_0000 + i * 0x1000, 0x100), new Rec(i));
    for (const i of [0, 1, 4999, 9998, 9999]) expect(bus.find(0x1000_0000 + i * 0x1000 + 0xff)?.device.id).toBe(i);
    expect(bus.find(0x1000_0000 + 5 * 0x1000 + 0x100)).toBeUndefined();
  });
});
