/**
 * Property tests against the reference model: random sequences of requests (well-formed and
 * malformed) on random descriptor layouts, on random device configurations, give the same
 * statuses, used lengths, guest buffers and disk image as the model.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BlockDevice, BlockFeature, encodeSegments, MemoryBackend } from '@vmv/block';
import type { BlockBackend, BlockDeviceOptions, BlockLifetime } from '@vmv/block';
import { Feature, featureBit } from '@vmv/device-trait';
import { Harness, randomPieces, rng } from './harness';
import { BlockModel } from './model';
import type { ModelConfig, ModelLimits } from './model';

const CAPACITY = 128; // sectors: a 64 KiB disk

const TYPES = [0, 1, 4, 8, 10, 11, 13, 14];


/** How a sector is chosen relative to the request's length: valid, at the capacity edge, or wild. */
const sectorArb = fc.record({
  mode: fc.oneof({ weight: 10, arbitrary: fc.constant('valid') }, { weight: 3, arbitrary: fc.constant('edge') }, { weight: 2, arbitrary: fc.constantFrom('wild', 'special') }),
  pick: fc.integer({ min: 0, max: 0x7fff_ffff }),
  edge: fc.integer({ min: -1, max: 2 }),
  wild: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  special: fc.constantFrom((1n << 64n) - 1n, (1n << 63n) + 2n, 1n << 63n, 0xffff_ffffn << 32n, (1n << 55n) + 1n, (1n << 53n) + 3n, 1n << 53n, 1n << 32n, (1n << 64n) - 4n, (1n << 64n) - BigInt(CAPACITY)),
});
type SectorGen = { mode: string; pick: number; edge: number; wild: bigint; special: bigint };

function sectorFor(g: SectorGen, count: number, align = 1): bigint {
  const room = Math.max(0, CAPACITY - count);
  switch (g.mode) {
    case 'valid':
      return BigInt(Math.floor((g.pick % (room + 1)) / align) * align);
    case 'edge':
      return BigInt(Math.max(0, room + g.edge));
    case 'wild':
      return g.wild;
    default:
      return g.special;
  }
}

interface GenRequest {
  type: number;
  sector: SectorGen;
  dataLen: number;
  segments: { sector: SectorGen; numSectors: number; flags: number }[];
  perturb: 'none' | 'shortHeader' | 'extraRead' | 'extraWrite' | 'noStatus' | 'oddLen' | 'bigStatus';
  extra: number;
  layoutSeed: number;
  maxPieces: number;
  indirect: boolean;
  reserved: number;
  /** SECURE_ERASE only: place the segments device-writable, before the status, as Linux does. */
  segmentsWritable: boolean;
}

const requestArb: fc.Arbitrary<GenRequest> = fc.record({
  type: fc.oneof({ weight: 16, arbitrary: fc.constantFrom(...TYPES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) }),
  sector: sectorArb,
  dataLen: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 8 }).map((x) => x * 512) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 4200 }) }),
  segments: fc.array(
    fc.record({
      sector: sectorArb,
      numSectors: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 9 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 70 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      flags: fc.oneof({ weight: 20, arbitrary: fc.constantFrom(0, 0, 1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  perturb: fc.oneof(
    { weight: 14, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constantFrom('shortHeader' as const, 'extraRead' as const, 'extraWrite' as const, 'noStatus' as const, 'oddLen' as const, 'bigStatus' as const) },
  ),
  extra: fc.integer({ min: 1, max: 600 }),
  layoutSeed: fc.integer({ min: 1, max: 0x7fff_ffff }),
  maxPieces: fc.integer({ min: 1, max: 6 }),
  indirect: fc.boolean(),
  reserved: fc.integer({ min: 0, max: 0xffff_ffff }),
  segmentsWritable: fc.boolean(),
});

interface GenConfig {
  readOnly: boolean;
  serial: string | null;
  lifetime: BlockLifetime | null;
  discard: ModelLimits | null;
  writeZeroes: ModelLimits | null;
  secureErase: ModelLimits | null;
  flush: boolean;
  segMax: number;
  sizeMax: number;
  dropFeatures: number[];
  packed: boolean;
  asyncBackend: boolean;
}

const limitsArb = fc.option(
  fc.record({ maxSectors: fc.constantFrom(1, 2, 4, 8, 8, 64, 64), maxSegments: fc.integer({ min: 1, max: 6 }), alignment: fc.constantFrom(1, 1, 1, 2, 8) }),
  { nil: null, freq: 4 },
);

const configArb: fc.Arbitrary<GenConfig> = fc.record({
  readOnly: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  serial: fc.option(fc.stringMatching(/^[ -~]{0,20}$/), { nil: null }),
  lifetime: fc.option(fc.record({ preEolInfo: fc.integer({ min: 0, max: 3 }), deviceLifetimeEstTypA: fc.integer({ min: 0, max: 11 }), deviceLifetimeEstTypB: fc.integer({ min: 0, max: 11 }) }), { nil: null }),
  discard: limitsArb,
  writeZeroes: limitsArb,
  secureErase: limitsArb,
  flush: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  segMax: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 62) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3) }),
  sizeMax: fc.constantFrom(0, 0, 4096),
  dropFeatures: fc.oneof({ weight: 3, arbitrary: fc.constant([] as number[]) }, { weight: 1, arbitrary: fc.subarray<number>([BlockFeature.DISCARD, BlockFeature.WRITE_ZEROES, BlockFeature.SECURE_ERASE, BlockFeature.LIFETIME, BlockFeature.FLUSH]) }),
  packed: fc.boolean(),
  asyncBackend: fc.boolean(),
});

/** Wraps a backend so that every operation completes later (a macrotask), like real I/O. */
function delayed(inner: MemoryBackend): BlockBackend {
  const later = <T>(f: () => T): Promise<T> => new Promise((res, rej) => setImmediate(() => {
    try {
      res(f());
    } catch (e) {
      rej(e);
    }
  }));
  return {
    get size() {
      return inner.size;
    },
    read: (o, b) => later(() => inner.read(o, b)),
    write: (o, b) => later(() => inner.write(o, b)),
    flush: () => later(() => inner.flush()),
    discard: (o, l) => later(() => inner.discard(o, l)),
    writeZeroes: (o, l) => later(() => inner.writeZeroes(o, l)),
  };
}

function build(req: GenRequest, cfg: GenConfig): { readable: Uint8Array; writable: number; writableInit: Uint8Array } {
  const r = rng(req.layoutSeed);
  const header = new Uint8Array(16);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, req.type, true);
  dv.setUint32(4, req.reserved, true);
  const count = req.type === 0 || req.type === 1 ? Math.floor(req.dataLen / 512) : 0;
  const sector = req.type === 4 ? (req.sector.mode === 'valid' ? 0n : sectorFor(req.sector, 0)) : sectorFor(req.sector, count);
  dv.setBigUint64(8, sector, true);
  let data: Uint8Array;
  let writable = 1;
  let writableInit: Uint8Array = new Uint8Array(0);
  switch (req.type) {
    case 0:
      data = new Uint8Array(0);
      writable = req.dataLen + 1;
      break;
    case 1:
      data = new Uint8Array(req.dataLen);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
      break;
    case 8:
      data = new Uint8Array(0);
      writable = 21;
      break;
    case 10:
      data = new Uint8Array(0);
      writable = 7;
      break;
    case 11:
    case 13:
    case 14: {
      const lim = req.type === 11 ? cfg.discard : req.type === 13 ? cfg.writeZeroes : cfg.secureErase;
      const align = lim?.alignment ?? 1;
      data = encodeSegments(req.segments.map((g) => ({ sector: sectorFor(g.sector, Math.min(g.numSectors, CAPACITY), align), numSectors: g.numSectors, flags: req.type === 13 || g.numSectors % 4 === 0 ? g.flags : g.flags === 1 ? 0 : g.flags })));
      if (req.type === 14 && req.segmentsWritable) {
        writableInit = data;
        writable = data.length + 1;
        data = new Uint8Array(0);
      }
      break;
    }
    default:
      data = new Uint8Array(0);
  }
  let readable = new Uint8Array(16 + data.length);
  readable.set(header);
  readable.set(data, 16);
  switch (req.perturb) {
    case 'shortHeader':
      readable = readable.subarray(0, req.extra % 16);
      break;
    case 'extraRead': {
      const x = new Uint8Array(readable.length + req.extra);
      x.set(readable);
      readable = x;
      break;
    }
    case 'extraWrite':
    case 'bigStatus':
      writable += req.extra;
      break;
    case 'noStatus':
      writable = 0;
      break;
    case 'oddLen':
      if (req.type === 0) writable += 1 + (req.extra % 511);
      else {
        const x = new Uint8Array(readable.length + 1 + (req.extra % 511));
        x.set(readable);
        readable = x;
      }
      break;
    default:
  }
  return { readable, writable, writableInit };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

function hex(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.length).toString('hex');
}

async function runSequence(cfg: GenConfig, reqs: GenRequest[]): Promise<void> {
  const mem = new MemoryBackend(CAPACITY * 512);
  for (let i = 0; i < mem.data.length; i++) mem.data[i] = (i * 7 + 3) & 0xff;
  const backend = cfg.asyncBackend ? delayed(mem) : mem;
  const opts: BlockDeviceOptions = {
    backend,
    readOnly: cfg.readOnly,
    flush: cfg.flush,
    configWce: cfg.flush,
    discard: cfg.discard ?? false,
    writeZeroes: cfg.writeZeroes ?? false,
    secureErase: cfg.secureErase ?? false,
    segMax: cfg.segMax,
    ...(cfg.sizeMax ? { sizeMax: cfg.sizeMax } : {}),
    ...(cfg.serial !== null ? { serial: cfg.serial } : {}),
    ...(cfg.lifetime !== null ? { lifetime: cfg.lifetime } : {}),
    ...(cfg.packed ? { ringFeatures: featureBit(Feature.RING_PACKED) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) } : {}),
  };
  let features = new BlockDevice(opts).deviceFeatures;
  for (const bit of cfg.dropFeatures) features &= ~featureBit(bit);
  // The driver accepts only part of the offer.
  const h = new Harness({ device: opts, packed: cfg.packed, memSize: 4 << 20, features });
  const has = (bit: number) => (features & featureBit(bit)) !== 0n;
  const dev = h.device.deviceFeatures;
  const offered = (bit: number) => (dev & featureBit(bit)) !== 0n;
  const mcfg: ModelConfig = {
    capacity: CAPACITY,
    readOnly: cfg.readOnly,
    flushOffered: cfg.flush,
    serial: cfg.serial,
    lifetime: has(BlockFeature.LIFETIME) ? cfg.lifetime : null,
    discard: has(BlockFeature.DISCARD) ? cfg.discard : null,
    writeZeroes: has(BlockFeature.WRITE_ZEROES) ? cfg.writeZeroes : null,
    secureErase: has(BlockFeature.SECURE_ERASE) ? cfg.secureErase : null,
    segMax: offered(BlockFeature.SEG_MAX) ? cfg.segMax : 0,
    sizeMax: offered(BlockFeature.SIZE_MAX) ? cfg.sizeMax : 0,
  };
  const model = new BlockModel(new Uint8Array(mem.data), mcfg);
  for (const req of reqs) {
    const { readable, writable, writableInit } = build(req, cfg);
    const r = rng(req.layoutSeed ^ 0x5555);
    const readPieces = randomPieces(readable.length, req.maxPieces, r);
    const writePieces = randomPieces(writable, req.maxPieces, r);
    const gaps = [0, Math.floor(r() * 64), 0, 1 + Math.floor(r() * 8)];
    const total = readPieces.length + writePieces.length;
    if (total === 0) continue; // a chain needs at least one buffer
    const expected = model.apply(readable, writable, 0xee, readPieces, writePieces, writableInit);
    const got = await Promise.race([
      h.submit({ readable, writable, fill: 0xee, writableInit, layout: { readPieces, writePieces, gaps, indirect: req.indirect && total > 1 && total <= 64 } }),
      h.settle().then(() => null),
    ]);
    expect(got).not.toBeNull();
    expect(got!.len).toBe(expected.len);
    expect(hex(got!.writable)).toBe(hex(expected.writable));
    expect(same(got!.readable, readable)).toBe(true);
    if (!same(mem.data, model.disk)) expect(firstDiff(mem.data, model.disk)).toBe(-1);
  }
  expect(h.resets).toEqual([]);
}

describe('BlockDevice against the reference model', () => {
  it('gives the model’s statuses, buffers and disk image for random requests on random layouts', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(requestArb, { minLength: 1, maxLength: 25 }), async (cfg, reqs) => {
        await runSequence(cfg, reqs);
      }),
      { numRuns: Number(process.env.BLOCK_RUNS ?? 200), endOnFailure: true },
    );
  }, 60_000);
});
