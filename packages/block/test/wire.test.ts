/**
 * Wire structures: golden bytes, round trips, and decoders over arbitrary bytes. Then a fuzz of
 * the device with arbitrary request bytes: nothing escapes but a status.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  BLOCK_ERROR_NAMES,
  BlockError,
  BlockStatus,
  IoError,
  MemoryBackend,
  decodeBlockConfig,
  decodeId,
  decodeLifetime,
  decodeRequestHeader,
  decodeSegment,
  encodeBlockConfig,
  encodeId,
  encodeLifetime,
  encodeRequestHeader,
  encodeSegments,
  isBlockError,
  isValidLifetime,
} from '@vmv/block';
import { Harness, randomPieces, rng, sameBytes } from './harness';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('golden bytes', () => {
  it('request header: le32 type, le32 reserved, le64 sector', () => {
    expect(hex(encodeRequestHeader({ type: 1, reserved: 0x01020304, sector: 0x1122334455667788n }))).toBe('01000000' + '04030201' + '8877665544332211');
    expect(decodeRequestHeader(Buffer.from('0d0000000000000000010000000000ff', 'hex'))).toEqual({ type: 13, reserved: 0, sector: 0xff00000000000100n });
  });

  it('segment: le64 sector, le32 num_sectors, le32 flags', () => {
    const b = encodeSegments([
      { sector: 8n, numSectors: 16, flags: 1 },
      { sector: 0xfffffffffn, numSectors: 0xffffffff, flags: 0 },
    ]);
    expect(hex(b)).toBe('0800000000000000' + '10000000' + '01000000' + 'ffffffff0f000000' + 'ffffffff' + '00000000');
    expect(decodeSegment(b, 16)).toEqual({ sector: 0xfffffffffn, numSectors: 0xffffffff, flags: 0 });
  });

  it('GET_ID: NUL-padded to 20, no terminator at 20', () => {
    expect(hex(encodeId('ab'))).toBe('6162' + '00'.repeat(18));
    expect(decodeId(encodeId('01234567890123456789'))).toBe('01234567890123456789');
    expect(decodeId(encodeId(new Uint8Array([0x41, 0, 0x42])))).toBe('A');
    expect(() => encodeId(new Uint8Array(21))).toThrow(RangeError);
    expect(() => encodeId(3 as never)).toThrow(TypeError);
  });

  it('lifetime: three le16', () => {
    expect(hex(encodeLifetime({ preEolInfo: 3, deviceLifetimeEstTypA: 11, deviceLifetimeEstTypB: 10 }))).toBe('03000b000a00');
    expect(decodeLifetime(new Uint8Array([1, 0, 2, 0, 3, 0]))).toEqual({ preEolInfo: 1, deviceLifetimeEstTypA: 2, deviceLifetimeEstTypB: 3 });
    expect(() => encodeLifetime({ preEolInfo: 0, deviceLifetimeEstTypA: 12, deviceLifetimeEstTypB: 0 })).toThrow(RangeError);
    expect(isValidLifetime(null as never)).toBe(false);
  });

  it('config: round trip, and a range error for a field that does not fit', () => {
    const c = decodeBlockConfig(new Uint8Array(96));
    const full = { ...c, capacity: 5n, numQueues: 3, writeback: 1, geometry: { cylinders: 7, heads: 8, sectors: 9 } };
    expect(decodeBlockConfig(encodeBlockConfig(full))).toEqual(full);
    expect(() => encodeBlockConfig({ ...full, writeback: 2 })).toThrow(RangeError);
    expect(() => encodeBlockConfig({ ...full, capacity: -1n })).toThrow(RangeError);
    expect(() => decodeBlockConfig(new Uint8Array(71))).toThrow(RangeError);
  });

  it('encoders label bad fields with RangeError', () => {
    expect(() => encodeRequestHeader({ type: -1, sector: 0n })).toThrow(RangeError);
    expect(() => encodeRequestHeader({ type: 0, sector: 1n << 64n })).toThrow(RangeError);
    expect(() => encodeSegments([{ sector: 0n, numSectors: 1.5, flags: 0 }])).toThrow(RangeError);
    expect(() => decodeRequestHeader(new Uint8Array(15))).toThrow(RangeError);
    expect(() => decodeSegment('x' as never)).toThrow(TypeError);
  });
});

describe('round trips and arbitrary bytes', () => {
  it('header and segments round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (type, reserved, sector) => {
        expect(decodeRequestHeader(encodeRequestHeader({ type, reserved, sector }))).toEqual({ type, reserved, sector });
        const seg = { sector, numSectors: type, flags: reserved };
        expect(decodeSegment(encodeSegments([seg]))).toEqual(seg);
      }),
    );
  });

  it('decoders accept any bytes and throw only RangeError for too few', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 40 }), (bytes, offset) => {
        for (const f of [() => decodeRequestHeader(bytes, offset), () => decodeSegment(bytes, offset), () => decodeLifetime(bytes, offset), () => decodeBlockConfig(bytes), () => decodeId(bytes)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(RangeError);
          }
        }
      }),
    );
  });
});

describe('errors', () => {
  it('are named, coded and recognised by name', () => {
    const e = new IoError('pwrite 512 bytes at 0', Object.assign(new Error('x'), { code: 'ENOSPC' }));
    expect(e.name).toBe('Block.IoError');
    expect(e.errno).toBe('ENOSPC');
    expect(e.code).toBe('IO_ERROR');
    expect(e.shortMessage).toBe('Backend I/O failed (ENOSPC)');
    expect(e.message).toContain('pwrite 512 bytes at 0');
    expect(isBlockError(e)).toBe(true);
    expect(isBlockError(e, 'Block.IoError')).toBe(true);
    expect(isBlockError(e, 'Block.ReadOnlyError')).toBe(false);
    expect(isBlockError({ name: 'Queue.BrokenError' })).toBe(false);
    expect(isBlockError(null)).toBe(false);
    expect(new BlockError('X', 'y').name).toBe('Block.Error');
    expect(BLOCK_ERROR_NAMES).toContain('Block.InvalidSnapshotError');
    expect(new IoError('op', 'not an error').errno).toBeUndefined();
  });
});

describe('the device on arbitrary request bytes', () => {
  it('answers every chain with a status (or none when it has no writable byte) and never throws or needs a reset', async () => {
    const backend = new MemoryBackend(64 * 512);
    const h = new Harness({ device: { backend, serial: 'fuzz', discard: true, secureErase: true, lifetime: { preEolInfo: 0, deviceLifetimeEstTypA: 0, deviceLifetimeEstTypB: 0 } }, memSize: 8 << 20 });
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 0, max: 40 }).chain((t) => fc.constant(t < 16 ? t : [0, 1, 4, 8, 10, 11, 13, 14][t % 8]!)),
        fc.integer({ min: 0, max: 1100 }),
        fc.integer({ min: 1, max: 0x7fff_ffff }),
        async (bytes, type, writable, seed) => {
          const readable = bytes.slice();
          if (readable.length >= 4) new DataView(readable.buffer).setUint32(0, type, true);
          const r = rng(seed);
          const readPieces = randomPieces(readable.length, 5, r);
          const writePieces = randomPieces(writable, 5, r);
          if (readPieces.length + writePieces.length === 0) return;
          const p = h.add({ readable, writable, layout: { readPieces, writePieces, gaps: [0, 2] } });
          expect(() => h.kick()).not.toThrow();
          await h.settle();
          const c = await p;
          if (writable === 0) expect(c.len).toBe(0);
          else expect([BlockStatus.OK, BlockStatus.IOERR, BlockStatus.UNSUPP]).toContain(c.status);
          expect(c.len).toBeLessThanOrEqual(writable);
          expect(sameBytes(c.readable, readable)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    expect(h.resets).toEqual([]);
  });
});
