/**
 * Every request type, on the layouts drivers use and on odd ones, and every malformed request:
 * the status the spec prescribes, the exact used length, and no guest byte changed outside the
 * request's writable buffers (on an error, only the status byte).
 */
import { describe, expect, it } from '@jest/globals';
import { BlockFeature, BlockStatus, encodeId, encodeSegments, MemoryBackend, RequestType, SegmentFlags, readOnlyBackend } from '@vmv/block';
import type { BlockBackend, BlockDeviceOptions, Segment } from '@vmv/block';
import { Feature, featureBit } from '@vmv/device-trait';
import { Harness, pattern, requestBytes, sameBytes } from './harness';
import type { Completion } from './harness';

const OK = BlockStatus.OK;
const IOERR = BlockStatus.IOERR;
const UNSUPP = BlockStatus.UNSUPP;
const CAP = 256; // sectors

function disk(): MemoryBackend {
  const m = new MemoryBackend(CAP * 512);
  m.data.set(pattern(CAP * 512, 99));
  return m;
}

function harness(opts: Partial<BlockDeviceOptions> = {}, extra: { features?: bigint; packed?: boolean } = {}) {
  const backend = opts.backend ?? disk();
  const h = new Harness({ device: { serial: 'vmv-test-disk', discard: true, secureErase: true, lifetime: { preEolInfo: 1, deviceLifetimeEstTypA: 2, deviceLifetimeEstTypB: 3 }, ...opts, backend }, memSize: 4 << 20, ...extra });
  return { h, backend: backend as MemoryBackend };
}

/** Asserts that the request changed only its status byte (the last writable byte). */
function onlyStatus(c: Completion & { changed: number[] }): void {
  const last = c.writablePieces[c.writablePieces.length - 1]!;
  expect(c.changed).toEqual([last.addr + last.len - 1]);
  expect(c.len).toBe(1);
}

/** Asserts that only bytes inside the writable pieces changed. */
function insideWritable(c: Completion & { changed: number[] }): void {
  const outside = c.changed.filter((a) => !c.writablePieces.some((p) => a >= p.addr && a < p.addr + p.len));
  expect(outside).toEqual([]);
}

function segs(list: Segment[]): Uint8Array {
  return encodeSegments(list);
}

describe('IN and OUT', () => {
  it.each([
    ['Linux layout: header, data, status in three descriptors', undefined, undefined],
    ['header split across three descriptors', [3, 5, 8, 4096], undefined],
    ['header and data in one descriptor', [16 + 4096], undefined],
    ['data in many small descriptors', [16, 512, 100, 412, 1000, 2072], undefined],
    ['header split inside a descriptor shared with data', [10, 6 + 4096], undefined],
  ])('writes then reads 4 KiB: %s', async (_name, readPieces, _w) => {
    const { h, backend } = harness();
    const data = pattern(4096, 7);
    const w = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 16, data), writable: 1, layout: { readPieces, gaps: [0, 3, 17] } });
    expect(w.status).toBe(OK);
    onlyStatus(w);
    expect(sameBytes(backend.data.subarray(16 * 512, 16 * 512 + 4096), data)).toBe(true);
    for (const writePieces of [[4097], [4096, 1], [1000, 3000, 97], [1, 4095, 1], [4095, 2]]) {
      const r = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 16), writable: 4097, layout: { writePieces, gaps: [5, 0] } });
      expect(r.status).toBe(OK);
      expect(r.len).toBe(4097);
      expect(sameBytes(r.writable.subarray(0, 4096), data)).toBe(true);
      insideWritable(r);
    }
  });

  it('serves the packed ring and indirect tables alike', async () => {
    const ring = featureBit(Feature.RING_PACKED) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX);
    const { h, backend } = harness({ ringFeatures: ring }, { packed: true });
    const data = pattern(8192, 3);
    const w = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0, data), writable: 1, layout: { readPieces: [16, 4096, 4096], indirect: true } });
    expect(w.status).toBe(OK);
    expect(sameBytes(backend.data.subarray(0, 8192), data)).toBe(true);
    const r = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0), writable: 8193, layout: { writePieces: [8192, 1] } });
    expect(r.status).toBe(OK);
    expect(sameBytes(r.writable.subarray(0, 8192), data)).toBe(true);
  });

  it('accepts zero-length reads and writes (status only)', async () => {
    const { h } = harness();
    expect((await h.submitGuarded({ readable: requestBytes(RequestType.IN, CAP), writable: 1 })).status).toBe(OK);
    const w = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, CAP), writable: 1 });
    expect(w.status).toBe(OK);
    onlyStatus(w);
  });

  it('reads and writes the last sector, refuses one past it', async () => {
    const { h, backend } = harness();
    const data = pattern(512, 1);
    expect((await h.submitGuarded({ readable: requestBytes(RequestType.OUT, CAP - 1, data), writable: 1 })).status).toBe(OK);
    expect(sameBytes(backend.data.subarray((CAP - 1) * 512), data)).toBe(true);
    const before = backend.data.slice();
    for (const [sector, n] of [
      [CAP, 1],
      [CAP - 1, 2],
      [CAP + 1, 0],
    ] as const) {
      const out = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, sector, new Uint8Array(512 * n)), writable: 1 });
      expect(out.status).toBe(IOERR);
      onlyStatus(out);
      const inn = await h.submitGuarded({ readable: requestBytes(RequestType.IN, sector), writable: 512 * n + 1 });
      expect(inn.status).toBe(IOERR);
      onlyStatus(inn);
    }
    expect(sameBytes(backend.data, before)).toBe(true);
  });
});

describe('malformed requests', () => {
  it('returns a chain without any device-writable byte unanswered (used length 0), touching nothing', async () => {
    const { h, backend } = harness();
    const before = backend.data.slice();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(512)), writable: 0 });
    expect(c.len).toBe(0);
    expect(c.changed).toEqual([]);
    expect(sameBytes(backend.data, before)).toBe(true);
    expect(h.device.stats.noStatus).toBe(1);
  });

  it.each([0, 1, 8, 15])('answers IOERR to a %i-byte header, writing only the status', async (n) => {
    const { h } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0).subarray(0, n), writable: 513 });
    expect(c.status).toBe(IOERR);
    onlyStatus(c);
  });

  it('reads the header across 16 one-byte descriptors', async () => {
    const { h } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: 21, layout: { readPieces: new Array(16).fill(1), gaps: [1] } });
    expect(c.status).toBe(OK);
    expect(c.writable.subarray(0, 20)).toEqual(encodeId('vmv-test-disk'));
    expect(c.len).toBe(21);
  });

  it('answers IOERR when IN data is device-readable (where it must be writable)', async () => {
    const { h } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0, new Uint8Array(512)), writable: 1 });
    expect(c.status).toBe(IOERR);
    onlyStatus(c);
  });

  it('answers IOERR when OUT data is device-writable (where it must be readable), writing nothing to disk', async () => {
    const { h, backend } = harness();
    const before = backend.data.slice();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0), writable: 513 });
    expect(c.status).toBe(IOERR);
    onlyStatus(c);
    expect(sameBytes(backend.data, before)).toBe(true);
  });

  it.each([1, 511, 513, 4095])('answers IOERR to a %i-byte data length (not a multiple of 512)', async (n) => {
    const { h, backend } = harness();
    const before = backend.data.slice();
    const w = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(n)), writable: 1 });
    expect(w.status).toBe(IOERR);
    onlyStatus(w);
    const r = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0), writable: n + 1 });
    expect(r.status).toBe(IOERR);
    onlyStatus(r);
    expect(sameBytes(backend.data, before)).toBe(true);
  });

  it.each([
    ['2^64-1', (1n << 64n) - 1n],
    ['2^64-8 (sector + count wraps u64)', (1n << 64n) - 8n],
    ['2^55 + 1 (sector * 512 loses its high bits)', (1n << 55n) + 1n],
    ['2^53 + 2 (not a safe integer)', (1n << 53n) + 2n],
    ['2^32 (only high bits set)', 1n << 32n],
    ['2^63', 1n << 63n],
  ])('answers IOERR to sector %s', async (_n, sector) => {
    const { h, backend } = harness();
    const before = backend.data.slice();
    for (const type of [RequestType.IN, RequestType.OUT]) {
      const c = await h.submitGuarded({ readable: requestBytes(type, sector, type === RequestType.OUT ? new Uint8Array(4096) : undefined), writable: type === RequestType.IN ? 4097 : 1 });
      expect(c.status).toBe(IOERR);
      onlyStatus(c);
    }
    expect(sameBytes(backend.data, before)).toBe(true);
  });

  it('FLUSH: OK with sector 0, IOERR with any other sector (low or high bits), UNSUPP when not offered', async () => {
    const { h } = harness();
    expect((await h.submitGuarded({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 })).status).toBe(OK);
    for (const s of [1n, 1n << 32n, (1n << 64n) - 1n]) {
      const c = await h.submitGuarded({ readable: requestBytes(RequestType.FLUSH, s), writable: 1 });
      expect(c.status).toBe(IOERR);
      onlyStatus(c);
    }
    // Data in a FLUSH is a SHOULD NOT: ignored, not refused.
    const d = await h.submitGuarded({ readable: requestBytes(RequestType.FLUSH, 0, new Uint8Array(512)), writable: 5 });
    expect(d.status).toBe(OK);
    onlyStatus(d);
    const { h: h2 } = harness({ flush: false, configWce: false });
    expect((await h2.submitGuarded({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 })).status).toBe(UNSUPP);
  });

  it('GET_ID: the serial NUL-padded to 20 bytes; 20 characters without a NUL; IOERR on other lengths; UNSUPP without a serial', async () => {
    const { h } = harness({ serial: 'abc' });
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: 21 });
    expect(c.status).toBe(OK);
    expect(c.len).toBe(21);
    expect([...c.writable.subarray(0, 20)]).toEqual([0x61, 0x62, 0x63, ...new Array(17).fill(0)]);
    const { h: h20 } = harness({ serial: '01234567890123456789' });
    const c20 = await h20.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: 21 });
    expect(String.fromCharCode(...c20.writable.subarray(0, 20))).toBe('01234567890123456789');
    for (const len of [1, 20, 22, 513]) {
      const bad = await h.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: len });
      expect(bad.status).toBe(IOERR);
      onlyStatus(bad);
    }
    const extra = await h.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0, new Uint8Array(4)), writable: 21 });
    expect(extra.status).toBe(IOERR);
    onlyStatus(extra);
    const { h: none } = harness({ serial: undefined });
    expect((await none.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: 21 })).status).toBe(UNSUPP);
  });

  it('GET_LIFETIME: the report when negotiated, IOERR on a wrong length, UNSUPP otherwise', async () => {
    const { h } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.GET_LIFETIME, 0), writable: 7, layout: { writePieces: [3, 4] } });
    expect(c.status).toBe(OK);
    expect(c.len).toBe(7);
    expect([...c.writable.subarray(0, 6)]).toEqual([1, 0, 2, 0, 3, 0]);
    for (const len of [1, 6, 8]) expect((await h.submitGuarded({ readable: requestBytes(RequestType.GET_LIFETIME, 0), writable: len })).status).toBe(IOERR);
    const noLife = harness({}, { features: harness().h.device.deviceFeatures & ~featureBit(BlockFeature.LIFETIME) }).h;
    expect((await noLife.submitGuarded({ readable: requestBytes(RequestType.GET_LIFETIME, 0), writable: 7 })).status).toBe(UNSUPP);
    const { h: plain } = harness({ lifetime: undefined });
    expect(plain.device.deviceFeatures & featureBit(BlockFeature.LIFETIME)).toBe(0n);
    expect((await plain.submitGuarded({ readable: requestBytes(RequestType.GET_LIFETIME, 0), writable: 7 })).status).toBe(UNSUPP);
  });

  it.each([2, 3, 5, 6, 7, 9, 12, 15, 16, 18, 20, 22, 24, 26, 0x8000_0000, 0x8000_0001, 0xffff_ffff])('answers UNSUPP to request type %i', async (type) => {
    const { h } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(type, 0, new Uint8Array(512)), writable: 513 });
    expect(c.status).toBe(UNSUPP);
    onlyStatus(c);
  });

  it('enforces seg_max and size_max on data segments', async () => {
    const { h } = harness({ segMax: 2, sizeMax: 4096 });
    const ok = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(8192)), writable: 1, layout: { readPieces: [16 + 4096, 4096] } });
    expect(ok.status).toBe(OK);
    const tooMany = await h.submitGuarded({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(1536)), writable: 1, layout: { readPieces: [16, 512, 512, 512] } });
    expect(tooMany.status).toBe(IOERR);
    const tooBig = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0), writable: 8193, layout: { writePieces: [8193] } });
    expect(tooBig.status).toBe(IOERR);
    onlyStatus(tooBig);
    // The status byte sharing the last data descriptor is not data.
    const shared = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0), writable: 4097, layout: { writePieces: [4097] } });
    expect(shared.status).toBe(OK);
  });
});

describe('DISCARD, WRITE_ZEROES, SECURE_ERASE', () => {
  const zeroed = (b: MemoryBackend, sector: number, n: number) => b.data.subarray(sector * 512, (sector + n) * 512).every((x) => x === 0);

  it.each([
    ['DISCARD', RequestType.DISCARD, 0],
    ['WRITE_ZEROES', RequestType.WRITE_ZEROES, 0],
    ['WRITE_ZEROES with UNMAP', RequestType.WRITE_ZEROES, SegmentFlags.UNMAP],
    ['SECURE_ERASE', RequestType.SECURE_ERASE, 0],
  ])('%s applies every segment', async (_n, type, flags) => {
    const { h, backend } = harness();
    const c = await h.submitGuarded({ readable: requestBytes(type, 0, segs([{ sector: 4n, numSectors: 4, flags }, { sector: 100n, numSectors: 1, flags }, { sector: 8n, numSectors: 0, flags }])), writable: 1, layout: { readPieces: [16, 7, 9, 32] } });
    expect(c.status).toBe(OK);
    onlyStatus(c);
    expect(zeroed(backend, 4, 4) && zeroed(backend, 100, 1)).toBe(true);
    expect(zeroed(backend, 8, 1)).toBe(false);
  });

  it('UNSUPP for UNMAP on DISCARD and SECURE_ERASE, and for any reserved flag (even next to an out-of-range segment)', async () => {
    const { h, backend } = harness();
    const before = backend.data.slice();
    const cases: [number, number][] = [
      [RequestType.DISCARD, SegmentFlags.UNMAP],
      [RequestType.SECURE_ERASE, SegmentFlags.UNMAP],
      [RequestType.DISCARD, 2],
      [RequestType.WRITE_ZEROES, 2],
      [RequestType.WRITE_ZEROES, 0x8000_0001],
      [RequestType.SECURE_ERASE, 4],
    ];
    for (const [type, flags] of cases) {
      const c = await h.submitGuarded({ readable: requestBytes(type, 0, segs([{ sector: BigInt(CAP), numSectors: 8, flags: 0 }, { sector: 0n, numSectors: 1, flags }])), writable: 1 });
      expect(c.status).toBe(UNSUPP);
      onlyStatus(c);
    }
    expect(sameBytes(backend.data, before)).toBe(true);
  });

  it('IOERR for a segment past the capacity, above max sectors, misaligned, too many segments, or a bad data length', async () => {
    const { h, backend } = harness({ discard: { maxSectors: 16, maxSegments: 2, alignment: 8 }, writeZeroes: { maxSectors: 16, maxSegments: 2 } });
    const before = backend.data.slice();
    const bad: [number, Uint8Array, number?][] = [
      [RequestType.DISCARD, segs([{ sector: BigInt(CAP - 8), numSectors: 9, flags: 0 }])],
      [RequestType.DISCARD, segs([{ sector: (1n << 64n) - 8n, numSectors: 16, flags: 0 }])],
      [RequestType.DISCARD, segs([{ sector: 0n, numSectors: 17, flags: 0 }])],
      [RequestType.DISCARD, segs([{ sector: 4n, numSectors: 8, flags: 0 }])],
      [RequestType.DISCARD, segs([0, 8, 16].map((s) => ({ sector: BigInt(s), numSectors: 8, flags: 0 })))],
      [RequestType.WRITE_ZEROES, segs([{ sector: 0n, numSectors: 17, flags: 0 }])],
      [RequestType.WRITE_ZEROES, segs([{ sector: 0n, numSectors: 1, flags: 0 }]).subarray(0, 15)],
      [RequestType.WRITE_ZEROES, new Uint8Array(0)],
      [RequestType.WRITE_ZEROES, new Uint8Array(24)],
      [RequestType.WRITE_ZEROES, segs([{ sector: 0n, numSectors: 1, flags: 0 }]), 5],
    ];
    for (const [type, data, writable] of bad) {
      const c = await h.submitGuarded({ readable: requestBytes(type, 0, data), writable: writable ?? 1 });
      expect(c.status).toBe(IOERR);
      onlyStatus(c);
    }
    expect(sameBytes(backend.data, before)).toBe(true);
    // The same limits, respected:
    const good = await h.submitGuarded({ readable: requestBytes(RequestType.DISCARD, 0, segs([0, 8].map((s) => ({ sector: BigInt(s), numSectors: 16, flags: 0 })))), writable: 1 });
    expect(good.status).toBe(OK);
  });

  it('SECURE_ERASE as Linux sends it (segments device-writable, keyed on type & 1): served, segments read and left as they were', async () => {
    // virtio_blk.c virtblk_add_req(): `if (type & VIRTIO_BLK_T_OUT)` the data is device-readable,
    // else device-writable; SECURE_ERASE is 14, so its segments come in the writable half.
    const { h, backend } = harness();
    const list = segs([{ sector: 8n, numSectors: 2, flags: 0 }, { sector: 40n, numSectors: 1, flags: 0 }]);
    const c = await h.submitGuarded({ readable: requestBytes(RequestType.SECURE_ERASE, 0), writable: list.length + 1, writableInit: list, layout: { writePieces: [list.length, 1] } });
    expect(c.status).toBe(OK);
    onlyStatus(c);
    expect(sameBytes(c.writable.subarray(0, list.length), list)).toBe(true);
    expect(zeroed(backend, 8, 2) && zeroed(backend, 40, 1)).toBe(true);
    expect(zeroed(backend, 10, 1) || zeroed(backend, 39, 1)).toBe(false);
    // The same limits and flag rules apply there.
    const bad = segs([{ sector: BigInt(CAP), numSectors: 1, flags: 0 }]);
    const oob = await h.submitGuarded({ readable: requestBytes(RequestType.SECURE_ERASE, 0), writable: 17, writableInit: bad });
    expect(oob.status).toBe(IOERR);
    onlyStatus(oob);
    const flag = await h.submitGuarded({ readable: requestBytes(RequestType.SECURE_ERASE, 0), writable: 17, writableInit: segs([{ sector: 0n, numSectors: 1, flags: SegmentFlags.UNMAP }]) });
    expect(flag.status).toBe(UNSUPP);
    // Segments on both sides, or DISCARD / WRITE_ZEROES segments in the writable half: IOERR.
    const before = backend.data.slice();
    const both = await h.submitGuarded({ readable: requestBytes(RequestType.SECURE_ERASE, 0, list), writable: list.length + 1, writableInit: list });
    expect(both.status).toBe(IOERR);
    onlyStatus(both);
    for (const type of [RequestType.DISCARD, RequestType.WRITE_ZEROES]) {
      const w = await h.submitGuarded({ readable: requestBytes(type, 0), writable: list.length + 1, writableInit: list });
      expect(w.status).toBe(IOERR);
      onlyStatus(w);
    }
    expect(sameBytes(backend.data, before)).toBe(true);
  });

  it('UNSUPP when the feature was not negotiated', async () => {
    const offered = harness().h.device.deviceFeatures;
    for (const [type, bit] of [
      [RequestType.DISCARD, BlockFeature.DISCARD],
      [RequestType.WRITE_ZEROES, BlockFeature.WRITE_ZEROES],
      [RequestType.SECURE_ERASE, BlockFeature.SECURE_ERASE],
    ] as const) {
      const { h } = harness({}, { features: offered & ~featureBit(bit) });
      expect((await h.submitGuarded({ readable: requestBytes(type, 0, segs([{ sector: 0n, numSectors: 1, flags: 0 }])), writable: 1 })).status).toBe(UNSUPP);
    }
  });
});

describe('read-only devices', () => {
  it('refuse OUT, DISCARD, WRITE_ZEROES and SECURE_ERASE with IOERR without touching the backend; serve IN, FLUSH and GET_ID', async () => {
    const inner = disk();
    const before = inner.data.slice();
    const calls: string[] = [];
    const spy: BlockBackend = {
      get size() {
        return inner.size;
      },
      read: (o, b) => inner.read(o, b),
      write: (o, b) => {
        calls.push('write');
        inner.write(o, b);
      },
      flush: () => {
        calls.push('flush');
      },
      discard: () => {
        calls.push('discard');
      },
    };
    for (const backend of [readOnlyBackend(spy), spy]) {
      const { h } = harness({ backend, readOnly: true, discard: true, secureErase: true });
      expect(h.device.readOnly).toBe(true);
      expect(h.device.deviceFeatures & featureBit(BlockFeature.RO)).not.toBe(0n);
      for (const type of [RequestType.OUT, RequestType.DISCARD, RequestType.WRITE_ZEROES, RequestType.SECURE_ERASE]) {
        const data = type === RequestType.OUT ? new Uint8Array(512) : segs([{ sector: 0n, numSectors: 1, flags: 0 }]);
        const c = await h.submitGuarded({ readable: requestBytes(type, 0, data), writable: 1 });
        expect(c.status).toBe(IOERR);
        onlyStatus(c);
      }
      expect(calls).toEqual([]);
      expect((await h.submitGuarded({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 })).status).toBe(OK);
      expect((await h.submitGuarded({ readable: requestBytes(RequestType.GET_ID, 0), writable: 21 })).status).toBe(OK);
      const r = await h.submitGuarded({ readable: requestBytes(RequestType.IN, 0), writable: 513 });
      expect(r.status).toBe(OK);
      expect(sameBytes(r.writable.subarray(0, 512), before.subarray(0, 512))).toBe(true);
      calls.length = 0;
    }
    expect(sameBytes(inner.data, before)).toBe(true);
  });
});
