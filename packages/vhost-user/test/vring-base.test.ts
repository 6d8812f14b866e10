import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  VhostUserRequest as Q,
  decodeVringBase,
  encodeVringBase,
  encodeVringStateReply,
  replyCarriesData,
  type VringBase,
} from '@vmv/vhost-user/protocol';
import { hex, toHex } from './helpers';

/** The name of what `fn` throws, or null. */
function thrownName(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof Error ? e.name : typeof e;
  }
}

describe('vring base values (SET_VRING_BASE / GET_VRING_BASE num)', () => {
  it('golden: a packed GET_VRING_BASE reply (avail 5 wrap 1, used 3 wrap 0) on ring 1', () => {
    const num = encodeVringBase({ format: 'packed', nextAvail: 5, availWrapCounter: 1, nextUsed: 3, usedWrapCounter: 0 });
    expect(num).toBe(0x0003_8005);
    expect(toHex(encodeVringStateReply(Q.GET_VRING_BASE, { index: 1, num }))).toBe(toHex(hex('0b000000 05000000 08000000  01000000 05800300')));
  });

  it('golden: packed wrap counters both set, positions 0 (a fresh packed ring)', () => {
    expect(encodeVringBase({ format: 'packed', nextAvail: 0, availWrapCounter: 1, nextUsed: 0, usedWrapCounter: 1 })).toBe(0x8000_8000);
    expect(decodeVringBase(0x8000_8000, 'packed', 256)).toEqual({ format: 'packed', nextAvail: 0, availWrapCounter: 1, nextUsed: 0, usedWrapCounter: 1 });
  });

  it('golden: a split base is the next available index (u16 free-running)', () => {
    expect(encodeVringBase({ format: 'split', nextAvail: 0xfffe })).toBe(0xfffe);
    expect(toHex(encodeVringStateReply(Q.GET_VRING_BASE, { index: 0, num: 0xfffe }))).toBe(toHex(hex('0b000000 05000000 08000000  00000000 feff0000')));
    expect(decodeVringBase(0x1_0005, 'split', 256)).toEqual({ format: 'split', nextAvail: 5 });
  });

  it('packed: without a used half the used side equals the available one (nothing in flight)', () => {
    expect(decodeVringBase(0x8005, 'packed', 256)).toEqual({ format: 'packed', nextAvail: 5, availWrapCounter: 1, nextUsed: 5, usedWrapCounter: 1 });
  });

  it('packed: positions are taken modulo the ring size', () => {
    expect(decodeVringBase(0x0009_0012, 'packed', 16)).toEqual({ format: 'packed', nextAvail: 2, availWrapCounter: 0, nextUsed: 9, usedWrapCounter: 0 });
  });

  it('decode inverts encode for every packed position inside the ring', () => {
    const sizeArb = fc.integer({ min: 0, max: 15 }).map((k) => 1 << k);
    fc.assert(
      fc.property(sizeArb, fc.nat(), fc.nat(), fc.constantFrom<0 | 1>(0, 1), fc.constantFrom<0 | 1>(0, 1), (size, a, u, aw, uw) => {
        const base: VringBase = { format: 'packed', nextAvail: a % size, availWrapCounter: aw, nextUsed: u % size, usedWrapCounter: uw };
        const num = encodeVringBase(base);
        // an all-zero used half means "same as available" on the wire
        const expected = num >>> 16 === 0 ? { ...base, nextUsed: base.nextAvail, usedWrapCounter: aw } : base;
        expect(decodeVringBase(num, 'packed', size)).toEqual(expected);
      }),
    );
  });

  it('embedder misuse is a RangeError', () => {
    expect(thrownName(() => decodeVringBase(-1, 'split', 256))).toBe('RangeError');
    expect(thrownName(() => decodeVringBase(2 ** 32, 'packed', 256))).toBe('RangeError');
    expect(thrownName(() => decodeVringBase(0, 'packed', 0))).toBe('RangeError');
    expect(thrownName(() => encodeVringBase({ format: 'split', nextAvail: 0x1_0000 }))).toBe('RangeError');
    expect(thrownName(() => encodeVringBase({ format: 'packed', nextAvail: 0x8000, availWrapCounter: 0, nextUsed: 0, usedWrapCounter: 0 }))).toBe('RangeError');
    expect(thrownName(() => encodeVringBase({ format: 'packed', nextAvail: 0, availWrapCounter: 2 as 0, nextUsed: 0, usedWrapCounter: 0 }))).toBe('RangeError');
  });
});

describe('replyCarriesData', () => {
  it('is true exactly for the eight requests whose reply has a payload of its own', () => {
    const withData = Object.entries(Q)
      .filter(([, code]) => replyCarriesData(code))
      .map(([name]) => name)
      .sort();
    expect(withData).toEqual(
      ['GET_CONFIG', 'GET_FEATURES', 'GET_INFLIGHT_FD', 'GET_MAX_MEM_SLOTS', 'GET_PROTOCOL_FEATURES', 'GET_QUEUE_NUM', 'GET_STATUS', 'GET_VRING_BASE'].sort(),
    );
  });

  it('is false for codes that are not requests', () => {
    for (const code of [0, -1, 1.5, 41, 2 ** 32, Number.NaN]) expect(replyCarriesData(code)).toBe(false);
  });
});
