/**
 * Property tests: random region layouts (adjacent regions, holes, read-only regions, addresses
 * near 2^53 and 2^64) and random accesses, checked against a plain reference model (a map of
 * byte address -> value). Every access must give the same bytes or the same error name, and a
 * failed write must change nothing.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GUEST_MEMORY_ERROR_NAMES, GuestMemory, type RegionSpec } from '@vmv/memory';
import { WasmMemoryCtor, type WasmMemory } from './helpers';

const TOP = 2n ** 64n;
const ALLOWED = new Set<string>(GUEST_MEMORY_ERROR_NAMES);

interface ModelRegion {
  start: bigint;
  size: number;
  readOnly: boolean;
}

/** The reference model: regions and a byte map. */
class Model {
  bytes = new Map<bigint, number>();
  constructor(readonly regions: ModelRegion[]) {
    for (const r of regions) for (let i = 0; i < r.size; i++) this.bytes.set(r.start + BigInt(i), 0);
  }
  regionOf(a: bigint): number {
    return this.regions.findIndex((r) => a >= r.start && a < r.start + BigInt(r.size));
  }
  /** Error name for an access, or null, following the documented precedence. */
  check(a: bigint, len: number, kind: 'read' | 'write', opts: { contiguous?: boolean; align?: number } = {}): string | null {
    if (len === 0) return null;
    if (a + BigInt(len) > TOP) return 'GuestMemory.AddressOverflowError';
    if (opts.align !== undefined && a % BigInt(opts.align) !== 0n) return 'GuestMemory.MisalignedError';
    const idx = new Set<number>();
    for (let i = 0; i < len; i++) {
      const k = this.regionOf(a + BigInt(i));
      if (k < 0) return 'GuestMemory.OutOfBoundsError';
      idx.add(k);
    }
    if (kind === 'write' && [...idx].some((k) => this.regions[k]!.readOnly)) return 'GuestMemory.ReadOnlyError';
    if (opts.contiguous && idx.size > 1) return 'GuestMemory.NotContiguousError';
    if (opts.align !== undefined && this.regions[[...idx][0]!]!.start % BigInt(opts.align) !== 0n) return 'GuestMemory.MisalignedError';
    return null;
  }
  read(a: bigint, len: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < len; i++) out.push(this.bytes.get(a + BigInt(i))!);
    return out;
  }
  write(a: bigint, data: number[]): void {
    data.forEach((v, i) => this.bytes.set(a + BigInt(i), v));
  }
}

const leBytes = (v: bigint, n: number): number[] => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const fromLe = (b: number[]): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);

/** A random layout: base mode, then regions separated by gaps (0 = adjacent). */
const layoutArb = fc
  .record({
    base: fc.oneof(
      fc.bigInt({ min: 0n, max: 4096n }),
      fc.bigInt({ min: 2n ** 53n - 200n, max: 2n ** 53n + 50n }),
      fc.bigInt({ min: 2n ** 32n - 100n, max: 2n ** 32n + 100n }),
      fc.constant(-1n), // -1: packed against 2^64
    ),
    regions: fc.array(
      fc.record({
        gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 24 })),
        size: fc.integer({ min: 1, max: 48 }),
        readOnly: fc.boolean(),
        backing: fc.constantFrom('ab', 'sab', 'u8', 'window', 'wasm'),
      }),
      { minLength: 1, maxLength: 5 },
    ),
  })
  .map(({ base, regions }) => {
    const total = regions.reduce((s, r) => s + r.gap + r.size, 0);
    let at = base < 0n ? TOP - BigInt(total) : base;
    const out = [];
    for (const r of regions) {
      at += BigInt(r.gap);
      out.push({ ...r, start: at });
      at += BigInt(r.size);
    }
    return out;
  });

type Op =
  | { kind: 'read' | 'view' | 'viewW' | 'check' | 'checkW'; at: AddrPick; len: number }
  | { kind: 'write'; at: AddrPick; data: number[] }
  | { kind: 'fill'; at: AddrPick; len: number; byte: number }
  | { kind: 'readU' | 'atomicLoad'; at: AddrPick; size: number }
  | { kind: 'writeU' | 'atomicStore'; at: AddrPick; size: number; value: bigint }
  | { kind: 'grow'; at: AddrPick };

interface AddrPick {
  region: number;
  /** Address relative to the region's start, or to its end. */
  fromEnd: boolean;
  delta: number;
  wild: bigint | null;
  asBigint: boolean;
  /** Prime the last-region cache with this region first (so fast paths get exercised). */
  prime: boolean;
}

const addrArb: fc.Arbitrary<AddrPick> = fc.record({
  region: fc.nat({ max: 4 }),
  fromEnd: fc.boolean(),
  prime: fc.boolean(),
  delta: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 8 }), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 47 }), weight: 2 },
    { arbitrary: fc.integer({ min: -10, max: 60 }), weight: 1 },
  ),
  // Mostly addresses around a region; sometimes anywhere in the 64-bit space or near its top.
  wild: fc.oneof(
    { arbitrary: fc.constant(null), weight: 10 },
    { arbitrary: fc.oneof(fc.bigInt({ min: 0n, max: TOP - 1n }), fc.bigInt({ min: TOP - 64n, max: TOP - 1n })), weight: 1 },
  ),
  asBigint: fc.boolean(),
});

const lenArb = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 9 }), weight: 2 }, { arbitrary: fc.integer({ min: 0, max: 70 }), weight: 1 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('grow'), at: addrArb }),
  fc.record({ kind: fc.constantFrom('read', 'view', 'viewW', 'check', 'checkW'), at: addrArb, len: lenArb }),
  fc.record({ kind: fc.constant('write'), at: addrArb, data: lenArb.chain((n) => fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n })) }),
  fc.record({ kind: fc.constant('fill'), at: addrArb, len: lenArb, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constantFrom('readU', 'atomicLoad'), at: addrArb, size: fc.constantFrom(1, 2, 4, 8) }),
  fc.record({
    kind: fc.constantFrom('writeU', 'atomicStore'),
    at: addrArb,
    size: fc.constantFrom(1, 2, 4, 8),
    value: fc.bigInt({ min: 0n, max: TOP - 1n }),
  }),
) as fc.Arbitrary<Op>;

/** WebAssembly memories of the layout being tested: a 'grow' op grows them by 0 pages (which detaches their buffer). */
let wasmMemories: WasmMemory[] = [];

function buildSpecs(layout: { start: bigint; size: number; readOnly: boolean; backing: string }[]): RegionSpec[] {
  wasmMemories = [];
  return layout.map((r) => {
    const start = r.start < 2n ** 53n ? Number(r.start) : r.start;
    switch (r.backing) {
      case 'wasm': {
        const m = new WasmMemoryCtor({ initial: 1, maximum: 1 });
        wasmMemories.push(m);
        return { start, backing: m, offset: 64, size: r.size, readOnly: r.readOnly };
      }
      case 'sab':
        return { start, backing: new SharedArrayBuffer(r.size), readOnly: r.readOnly };
      case 'u8':
        return { start, backing: new Uint8Array(new ArrayBuffer(r.size + 16), 8, r.size), readOnly: r.readOnly };
      case 'window':
        return { start, backing: new ArrayBuffer(r.size + 24), offset: 16, size: r.size, readOnly: r.readOnly };
      default:
        return { start, backing: new ArrayBuffer(r.size), readOnly: r.readOnly };
    }
  });
}

function resolve(model: Model, p: AddrPick): bigint {
  if (p.wild !== null) return p.wild;
  const r = model.regions[p.region % model.regions.length]!;
  const a = p.fromEnd ? r.start + BigInt(r.size) - BigInt(p.delta) : r.start + BigInt(p.delta);
  return a < 0n ? 0n : a >= TOP ? TOP - 1n : a;
}

const asArg = (a: bigint, asBigint: boolean): number | bigint => (asBigint || a >= 2n ** 53n ? a : Number(a));

function outcome(f: () => unknown): { ok: true; value: unknown } | { ok: false; name: string } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    const name = (e as Error).name;
    if (!ALLOWED.has(name)) throw e; // anything else is a bug
    return { ok: false, name };
  }
}

function snapshot(mem: GuestMemory, model: Model): void {
  for (const r of model.regions) {
    const got = new Uint8Array(r.size);
    mem.read(asArg(r.start, false), got);
    expect([...got]).toEqual(model.read(r.start, r.size));
  }
}

/** Runs one op on the memory and on the model and checks they agree. Returns whether it wrote. */
function applyOp(mem: GuestMemory, model: Model, op: Op, a: bigint, arg: number | bigint): void {
    switch (op.kind) {
      case 'read': {
        const want = model.check(a, op.len, 'read');
        const buf = new Uint8Array(op.len);
        const got = outcome(() => mem.read(arg, buf));
        expect(got.ok ? null : got.name).toBe(want);
        if (want === null) expect([...buf]).toEqual(model.read(a, op.len));
        break;
      }
      case 'view':
      case 'viewW': {
        const kind = op.kind === 'view' ? 'read' : 'write';
        const want = model.check(a, op.len, kind, { contiguous: true });
        const got = outcome(() => mem.view(arg, op.len, kind));
        expect(got.ok ? null : got.name).toBe(want);
        if (got.ok) {
          const v = got.value as Uint8Array;
          expect([...v]).toEqual(model.read(a, op.len));
          if (kind === 'write' && op.len > 0) {
            v[0] = (v[0]! + 1) & 0xff; // writes through the view land in guest memory
            model.write(a, [v[0]!]);
          }
        }
        break;
      }
      case 'check':
      case 'checkW': {
        const kind = op.kind === 'check' ? 'read' : 'write';
        expect(mem.checkRange(arg, op.len, kind)).toBe(model.check(a, op.len, kind) === null);
        break;
      }
      case 'write': {
        const want = model.check(a, op.data.length, 'write');
        const got = outcome(() => mem.write(arg, Uint8Array.from(op.data)));
        expect(got.ok ? null : got.name).toBe(want);
        if (want === null) model.write(a, op.data);
        break;
      }
      case 'fill': {
        const want = model.check(a, op.len, 'write');
        const got = outcome(() => mem.fill(arg, op.len, op.byte));
        expect(got.ok ? null : got.name).toBe(want);
        if (want === null) model.write(a, new Array<number>(op.len).fill(op.byte));
        break;
      }
      case 'readU': {
        const want = model.check(a, op.size, 'read');
        const f =
          op.size === 1 ? () => mem.readU8(arg) : op.size === 2 ? () => mem.readU16(arg) : op.size === 4 ? () => mem.readU32(arg) : () => mem.readU64(arg);
        const got = outcome(f);
        expect(got.ok ? null : got.name).toBe(want);
        if (got.ok) expect(BigInt(got.value as number | bigint)).toBe(fromLe(model.read(a, op.size)));
        if (op.size === 8) {
          const n = outcome(() => mem.readU64Number(arg));
          const expectName = want ?? (fromLe(model.read(a, 8)) > BigInt(Number.MAX_SAFE_INTEGER) ? 'GuestMemory.ValueTooLargeError' : null);
          expect(n.ok ? null : n.name).toBe(expectName);
          if (n.ok) expect(BigInt(n.value as number)).toBe(fromLe(model.read(a, 8)));
        }
        break;
      }
      case 'writeU': {
        const want = model.check(a, op.size, 'write');
        const v = op.value & ((1n << BigInt(op.size * 8)) - 1n);
        const f =
          op.size === 1
            ? () => mem.writeU8(arg, Number(v))
            : op.size === 2
              ? () => mem.writeU16(arg, Number(v))
              : op.size === 4
                ? () => mem.writeU32(arg, Number(v))
                : () => mem.writeU64(arg, v <= BigInt(Number.MAX_SAFE_INTEGER) && op.at.asBigint ? Number(v) : v);
        const got = outcome(f);
        expect(got.ok ? null : got.name).toBe(want);
        if (want === null) model.write(a, leBytes(v, op.size));
        break;
      }
      case 'atomicLoad': {
        if (op.size !== 2 && op.size !== 4) break;
        const want = model.check(a, op.size, 'read', { contiguous: true, align: op.size });
        const got = outcome(() => (op.size === 2 ? mem.atomicLoadU16(arg) : mem.atomicLoadU32(arg)));
        expect(got.ok ? null : got.name).toBe(want);
        if (got.ok) expect(BigInt(got.value as number)).toBe(fromLe(model.read(a, op.size)));
        break;
      }
      case 'atomicStore': {
        if (op.size !== 2 && op.size !== 4) break;
        const want = model.check(a, op.size, 'write', { contiguous: true, align: op.size });
        const v = Number(op.value & ((1n << BigInt(op.size * 8)) - 1n));
        const got = outcome(() => (op.size === 2 ? mem.atomicStoreU16(arg, v) : mem.atomicStoreU32(arg, v)));
        expect(got.ok ? null : got.name).toBe(want);
        if (want === null) model.write(a, leBytes(BigInt(v), op.size));
        break;
      }
    }
}

describe('GuestMemory against a reference model', () => {
  it('random layouts and accesses give the same bytes or the same error; failed writes change nothing', () => {
    fc.assert(
      fc.property(layoutArb, fc.array(opArb, { minLength: 1, maxLength: 30 }), (layout, ops) => {
        const mem = GuestMemory.fromRegions(buildSpecs(layout));
        const model = new Model(layout.map((r) => ({ start: r.start, size: r.size, readOnly: r.readOnly })));
        for (const op of ops) {
          const a = resolve(model, op.at);
          const arg = asArg(a, op.at.asBigint);
          if (op.at.prime) mem.readU8(model.regions[op.at.region % model.regions.length]!.start); // bigint: slow path, caches the region
          applyOp(mem, model, op, a, arg);
          snapshot(mem, model);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('every access kind at every small offset around every region boundary, cache cold and warm', () => {
    // Exhaustive near the edges, where off-by-one errors live: small offsets from each region's
    // start and end, lengths 0..9, with the last-region cache on the target region (fast paths)
    // or on another one (slow paths), addresses as numbers and as bigints.
    const at = (region: number, fromEnd: boolean, delta: number, asBigint: boolean, prime: boolean): AddrPick => ({ region, fromEnd, delta, wild: null, asBigint, prime });
    fc.assert(
      fc.property(layoutArb, (layout) => {
        const mem = GuestMemory.fromRegions(buildSpecs(layout));
        const model = new Model(layout.map((r) => ({ start: r.start, size: r.size, readOnly: r.readOnly })));
        let value = 1n;
        for (let ri = 0; ri < model.regions.length; ri++) {
          for (const fromEnd of [false, true]) {
            for (const delta of fromEnd ? [0, 1, 2, 3, 4, 5, 7, 8, 9] : [-1, 0, 1, 3, 4]) {
              for (const prime of [false, true]) {
                {
                  const asBigint = (delta & 1) === 1 && !prime;
                  const pick = at(ri, fromEnd, delta, asBigint, prime);
                  const a = resolve(model, pick);
                  const arg = asArg(a, asBigint);
                  const ops: Op[] = [];
                  for (const len of [0, 1, 2, 3, 8, 9]) {
                    ops.push({ kind: 'read', at: pick, len }, { kind: 'view', at: pick, len }, { kind: 'viewW', at: pick, len });
                    ops.push({ kind: 'check', at: pick, len }, { kind: 'checkW', at: pick, len }, { kind: 'fill', at: pick, len, byte: len });
                    ops.push({ kind: 'write', at: pick, data: Array.from({ length: len }, (_, i) => (i + len * 16) & 0xff) });
                  }
                  for (const size of [1, 2, 4, 8]) {
                    value = (value * 6364136223846793005n + 1442695040888963407n) & (TOP - 1n);
                    ops.push({ kind: 'readU', at: pick, size }, { kind: 'writeU', at: pick, size, value });
                    ops.push({ kind: 'atomicLoad', at: pick, size }, { kind: 'atomicStore', at: pick, size, value });
                  }
                  for (const op of ops) {
                    // prime: a bigint read goes through the slow path, which caches the region;
                    // cold: cache another region (or none, with a single region the cache is always warm)
                    const other = model.regions[(ri + 1) % model.regions.length]!;
                    mem.readU8(prime ? model.regions[ri]!.start : other.start);
                    if (op.kind === 'readU' || op.kind === 'write') for (const m of wasmMemories) m.grow(0);
                    applyOp(mem, model, op, a, arg);
                  }
                }
              }
            }
          }
        }
        snapshot(mem, model);
      }),
      { numRuns: 10 },
    );
  });

  it('fromRegions accepts exactly the valid layouts', () => {
    const specArb = fc.array(
      fc.record({
        start: fc.oneof(fc.bigInt({ min: 0n, max: 256n }), fc.bigInt({ min: TOP - 256n, max: TOP - 1n })),
        size: fc.integer({ min: 0, max: 64 }),
      }),
      { minLength: 0, maxLength: 5 },
    );
    fc.assert(
      fc.property(specArb, (specs) => {
        let want: string | null = null;
        if (specs.length === 0) want = 'GuestMemory.InvalidLayoutError';
        for (let i = 0; i < specs.length && want === null; i++) {
          const s = specs[i]!;
          if (s.size === 0 || s.start + BigInt(s.size) > TOP) want = 'GuestMemory.InvalidLayoutError';
          else if (i > 0 && s.start < specs[i - 1]!.start + BigInt(specs[i - 1]!.size)) want = 'GuestMemory.InvalidLayoutError';
        }
        const got = outcome(() => GuestMemory.fromRegions(specs.map((s) => ({ start: s.start, backing: new ArrayBuffer(s.size) }))));
        expect(got.ok ? null : got.name).toBe(want);
      }),
      { numRuns: 500 },
    );
  });
});
