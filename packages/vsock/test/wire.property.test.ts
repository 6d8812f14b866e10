/**
 * The packet header (§5.10.6) under arbitrary bytes: `decodeHeader` inverts `encodeHeader`, and
 * `checkTxHeader` judges any bytes and any chain length with a typed outcome, never an exception,
 * accepting exactly the packets whose source is the guest and whose len fits the chain and the
 * payload bound.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HEADER_SIZE, MAX_PAYLOAD, checkTxHeader, decodeHeader, encodeHeader, type VsockHeader } from '@vmv/vsock';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const header: fc.Arbitrary<VsockHeader> = fc.record({
  srcCid: u32, dstCid: u32, srcPort: u32, dstPort: u32, len: u32, type: u16, op: u16, flags: u32, bufAlloc: u32, fwdCnt: u32,
});

describe('header', () => {
  it('decodeHeader(encodeHeader(h)) is h, in 44 little-endian bytes', () => {
    fc.assert(
      fc.property(header, (h) => {
        const bytes = encodeHeader(h);
        expect(bytes.length).toBe(HEADER_SIZE);
        expect(decodeHeader(bytes)).toEqual(h);
        expect(new DataView(bytes.buffer).getUint32(24, true)).toBe(h.len);
      }),
    );
  });

  it('checkTxHeader: any bytes, any readable count: a verdict that matches the header, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.nat(0x2_0000), fc.integer({ min: 3, max: 0xffff_fffe }), fc.boolean(), (bytes, readable, guestCid, own) => {
        if (own && bytes.length >= 8) {
          const v = new DataView(bytes.buffer, bytes.byteOffset);
          v.setUint32(0, guestCid, true);
          v.setUint32(4, 0, true);
        }
        const c = checkTxHeader(bytes, readable, guestCid);
        if (bytes.length < HEADER_SIZE || readable < HEADER_SIZE) return void expect(c).toEqual({ ok: false, reason: 'short' });
        const h = decodeHeader(bytes);
        const expected = h.srcCid !== guestCid ? 'bad-src-cid' : h.len > MAX_PAYLOAD ? 'too-long' : h.len > readable - HEADER_SIZE ? 'length' : null;
        if (expected === null) expect(c).toEqual({ ok: true, header: h });
        else expect(c).toEqual({ ok: false, reason: expected, header: h });
      }),
    );
  });

  it('encodeHeader refuses fields out of range with RangeError', () => {
    fc.assert(
      fc.property(header, fc.constantFrom<keyof VsockHeader>('srcCid', 'dstPort', 'len', 'type', 'op', 'fwdCnt'), fc.constantFrom(-1, 0.5, 2 ** 32, Number.NaN), (h, field, bad) => {
        expect(() => encodeHeader({ ...h, [field]: bad })).toThrow(RangeError);
      }),
    );
    expect(() => encodeHeader({ srcCid: 0, dstCid: 0, srcPort: 0, dstPort: 0, len: 0, type: 0x1_0000, op: 0, flags: 0, bufAlloc: 0, fwdCnt: 0 })).toThrow(RangeError);
  });
});
