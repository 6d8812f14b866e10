/**
 * Lookup through the last-hit check and the hint table against a naive linear scan. The hints
 * are guesses taken only when the address lies in the hinted range, so what could go wrong is a
 * stale guess: a range removed and its id reused for another range, a table grown (its fresh
 * slots all name node 0), two blocks sharing a set. These sequences make each of those happen
 * often: few distinct addresses looked up again and again (hints filled, then stale), ranges of
 * one byte to several hint blocks, registrations enough to grow the table several times, and
 * removals followed by registrations elsewhere (ids reused).
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isBusError, MMIO_ADDRESS_MAX, MmioBus, MmioRange, PioBus, PioRange } from '@vmv/bus';
import type { BusError, MutDeviceMmio, MutDevicePio } from '@vmv/bus';

/** A device that reports which device it is, and the base and offset it was given. */
class Probe implements MutDevicePio, MutDeviceMmio {
  seen: [number | bigint, number] | undefined;
  constructor(readonly id: number) {}
  pioRead(base: number, offset: number, data: Uint8Array): void {
    this.seen = [base, offset];
    data.fill(this.id & 0xff);
  }
  pioWrite(base: number, offset: number): void {
    this.seen = [base, offset];
  }
  mmioRead(base: bigint, offset: number, data: Uint8Array): void {
    this.seen = [base, offset];
    data.fill(this.id & 0xff);
  }
  mmioWrite(base: bigint, offset: number): void {
    this.seen = [base, offset];
  }
}

type Op = { t: 'reg'; base: bigint; size: bigint } | { t: 'unreg'; addr: bigint } | { t: 'look'; addrs: bigint[]; len: number; write: boolean; big: boolean };
type Live = { base: bigint; last: bigint; dev: Probe };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function errorName(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(isBusError(e)).toBe(true);
    return (e as BusError).name;
  }
  return undefined;
}

function run(space: 'pio' | 'mmio', ops: Op[]): void {
  const live: Live[] = [];
  const pio = new PioBus<Probe>();
  const mmio = new MmioBus<Probe>();
  const scan = (a: bigint): Live | undefined => live.find((l) => l.base <= a && a <= l.last);
  // MMIO addresses go in as numbers where they can (the hinted path), as bigints when asked.
  const addr = (a: bigint, big: boolean): number | bigint => (space === 'pio' || (!big && a <= MAX_SAFE) ? Number(a) : a);
  let next = 1;
  for (const op of ops) {
    if (op.t === 'reg') {
      const last = op.base + op.size - 1n;
      if (space === 'pio' ? last > 0xffffn : last > MMIO_ADDRESS_MAX) continue;
      const dev = new Probe(next++);
      const clash = live.some((l) => l.base <= last && op.base <= l.last);
      const err = errorName(() => (space === 'pio' ? pio.register(new PioRange(Number(op.base), Number(op.size)), dev) : mmio.register(new MmioRange(op.base, op.size), dev)));
      expect(err).toBe(clash ? 'Bus.DeviceOverlapError' : undefined);
      if (!clash) live.push({ base: op.base, last, dev });
    } else if (op.t === 'unreg') {
      const hit = scan(op.addr);
      let removed: Probe | undefined;
      const err = errorName(() => {
        removed = (space === 'pio' ? pio.unregister(Number(op.addr)) : mmio.unregister(addr(op.addr, false))).device;
      });
      if (!hit) expect(err).toBe('Bus.DeviceNotFoundError');
      else {
        expect(removed).toBe(hit.dev);
        live.splice(live.indexOf(hit), 1);
      }
    } else {
      for (const a of op.addrs) {
        const hit = scan(a);
        const expected = !hit ? 'Bus.DeviceNotFoundError' : a + BigInt(op.len) - 1n > hit.last ? 'Bus.AccessStraddlesRangeError' : undefined;
        for (const l of live) l.dev.seen = undefined;
        const data = new Uint8Array(op.len);
        const x = addr(a, op.big);
        const err = errorName(() => {
          if (space === 'pio') (op.write ? pio.write : pio.read).call(pio, Number(a), data);
          else (op.write ? mmio.write : mmio.read).call(mmio, x, data);
        });
        expect(err).toBe(expected);
        if (expected === undefined) {
          const base = space === 'pio' ? Number(hit!.base) : hit!.base;
          expect(hit!.dev.seen).toEqual([base, Number(a - hit!.base)]);
          if (!op.write) expect(data.every((v) => v === (hit!.dev.id & 0xff))).toBe(true);
        }
        // No other device was called.
        expect(live.filter((l) => l.dev.seen !== undefined).length).toBe(expected === undefined ? 1 : 0);
        const found = space === 'pio' ? pio.find(Number(a)) : mmio.find(x);
        expect(found?.device).toBe(hit?.dev);
        if (hit && a + BigInt(op.len) - 1n <= hit.last) expect((space === 'pio' ? pio.checkAccess(Number(a), op.len) : mmio.checkAccess(x, op.len)).device).toBe(hit.dev);
      }
    }
  }
  const entries = (space === 'pio' ? pio.entries() : mmio.entries()).map((e) => e.device);
  expect(entries).toEqual([...live].sort((a, b) => (a.base < b.base ? -1 : 1)).map((l) => l.dev));
}

/** Operations over addresses `pivot + offset`, offsets below `window`, sizes up to `maxSize`. */
function ops(pivots: bigint[], window: bigint, maxSize: bigint): fc.Arbitrary<Op[]> {
  const at = fc.tuple(fc.constantFrom(...pivots), fc.bigInt({ min: 0n, max: window - 1n })).map(([p, o]) => p + o);
  // A few addresses per sequence, looked up many times: hints are filled, then go stale.
  return fc.array(at, { minLength: 4, maxLength: 24 }).chain((hot) => {
    const hotAt = fc.constantFrom(...hot);
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ t: fc.constant('reg' as const), base: fc.oneof(at, hotAt), size: fc.oneof(fc.bigInt({ min: 1n, max: 4n }), fc.bigInt({ min: 1n, max: maxSize })) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('unreg' as const), addr: fc.oneof(at, hotAt) }) },
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant('look' as const),
          addrs: fc.array(fc.oneof(hotAt, hotAt, at), { minLength: 1, maxLength: 12 }),
          len: fc.integer({ min: 1, max: 8 }),
          write: fc.boolean(),
          big: fc.boolean(),
        }),
      },
    );
    return fc.array(op, { minLength: 20, maxLength: 150 });
  });
}

describe('lookup (last hit, hint table, tree) against a linear scan', () => {
  it('property: PIO, dense small ranges and ranges at 0xffff', () => {
    fc.assert(
      fc.property(ops([0n, 0x3f0n, 0xff00n], 0x100n, 0x30n), (o) => run('pio', o)),
      { numRuns: 60 },
    );
  });

  it('property: MMIO, ranges of one byte to several 512-byte hint blocks, near 0, 2^32, 2^53 and 2^64', () => {
    fc.assert(
      fc.property(ops([0n, 0xd000_0000n, 2n ** 53n - 0x1000n, MMIO_ADDRESS_MAX - 0x1fffn], 0x2000n, 0xa00n), (o) => run('mmio', o)),
      { numRuns: 60 },
    );
  });

  it('a hint or last hit to a removed range is not followed, nor to its id reused by another range', () => {
    for (const space of ['pio', 'mmio'] as const) {
      const addr = (a: number): never => a as never;
      const bus = space === 'pio' ? new PioBus<Probe>() : new MmioBus<Probe>();
      const range = (b: number, s: number): never => (space === 'pio' ? new PioRange(b, s) : new MmioRange(b, s)) as never;
      const a = new Probe(1);
      const b = new Probe(2);
      const c = new Probe(3);
      bus.register(range(0x100, 0x10), a);
      expect(bus.find(addr(0x105))?.device).toBe(a); // hint (and last hit) -> a's id
      bus.unregister(addr(0x100));
      expect(bus.find(addr(0x105))).toBeUndefined(); // a's id is free: its bounds are empty
      expect(errorName(() => bus.write(addr(0x105), new Uint8Array(1)))).toBe('Bus.DeviceNotFoundError');
      bus.register(range(0x200, 0x10), b); // takes a's id
      expect(bus.find(addr(0x105))).toBeUndefined();
      expect(errorName(() => bus.read(addr(0x105), new Uint8Array(1)))).toBe('Bus.DeviceNotFoundError');
      expect(bus.find(addr(0x205))?.device).toBe(b);
      bus.register(range(0x100, 0x8), c); // a new id, where a was
      expect(bus.find(addr(0x105))?.device).toBe(c);
      expect(bus.find(addr(0x109))).toBeUndefined();
      expect(errorName(() => bus.read(addr(0x107), new Uint8Array(2)))).toBe('Bus.AccessStraddlesRangeError');
    }
  });

  it('finds every range while the table grows from 1 to 2000 ranges, looking all up after each doubling', () => {
    const bus = new MmioBus<Probe>();
    const devs: Probe[] = [];
    for (let i = 0; i < 2000; i++) {
      devs.push(new Probe(i));
      bus.register(new MmioRange(0xd000_0000 + i * 0x200, 0x100), devs[i]!);
      if ((i & (i + 1)) === 0 || i === 1999) {
        for (let j = 0; j <= i; j++) {
          expect(bus.find(0xd000_0000 + j * 0x200 + 0x80)?.device).toBe(devs[j]);
          expect(bus.find(0xd000_0000 + j * 0x200 + 0x100)).toBeUndefined();
        }
      }
    }
  });
});
