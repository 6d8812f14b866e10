/**
 * Reader / Writer against a flat byte model (VIRTIO 1.2 §2.7.4.1 "Message Framing": a device
 * must accept any descriptor layout): random buffer lengths (zero-length ones included), buffers
 * straddling two adjacent memory regions, random operation sequences. Every read returns the
 * model's bytes, every write lands where the model says, `remaining` / `consumed` / `written`
 * follow the model, and an operation that does not fit throws Queue.BufferTooShortError and
 * consumes nothing.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue, DescFlags } from '@vmv/queue';
import type { DescriptorChain, Reader, Writer } from '@vmv/queue';
import { makeConfig, publish, writeSplitDesc } from './helpers';

const { NEXT, WRITE } = DescFlags;
const BOUNDARY = 0x20000; // two adjacent regions meet here

interface Layout {
  chain: DescriptorChain;
  mem: GuestMemory;
  /** Guest address of every byte of the readable (resp. writable) stream. */
  rAddr: number[];
  wAddr: number[];
  /** Per stream byte: the index of the buffer it is in. */
  rBuf: number[];
  wBuf: number[];
}

function build(rl: number[], wl: number[], straddle: boolean): Layout {
  const mem = GuestMemory.fromRegions([
    { start: 0, backing: new ArrayBuffer(BOUNDARY) },
    { start: BOUNDARY, backing: new ArrayBuffer(0x20000) },
  ]);
  const all = [...rl.map((l) => [l, 0]), ...wl.map((l) => [l, WRITE])] as [number, number][];
  let addr = straddle ? BOUNDARY - 40 : 0x10000;
  const rAddr: number[] = [];
  const wAddr: number[] = [];
  const rBuf: number[] = [];
  const wBuf: number[] = [];
  all.forEach(([len, f], i) => {
    writeSplitDesc(mem, 0, i, addr, len, f | (i + 1 < all.length ? NEXT : 0), i + 1);
    for (let k = 0; k < len; k++) {
      (f ? wAddr : rAddr).push(addr + k);
      (f ? wBuf : rBuf).push(i);
      if (!f) mem.writeU8(addr + k, (addr + k * 7) & 0xff);
    }
    addr += len + (i % 2); // adjacent or one byte apart
  });
  publish(mem, 0x1000, 16, 0, [0]);
  const chain = createVirtqueue(mem, makeConfig({ size: 16 })).pop()!;
  return { chain, mem, rAddr, wAddr, rBuf, wBuf };
}

/** Whether stream bytes [p, p+n) lie in one buffer and one region (a zero-copy view exists). */
function contiguous(addrs: number[], bufs: number[], p: number, n: number): boolean {
  if (n === 0) return true;
  const a = addrs[p]!;
  const b = addrs[p + n - 1]!;
  return bufs[p] === bufs[p + n - 1] && (a < BOUNDARY) === (b < BOUNDARY);
}

const nameOf = (f: () => unknown): string => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as Error).name;
  }
};

type ROp = { op: 'u8' | 'u16' | 'u32' | 'u64' | 'u64n' } | { op: 'bytes' | 'read' | 'view' | 'views' | 'skip' | 'split'; n: number };
type WOp = { op: 'u8' | 'u16' | 'u32' | 'u64'; v: number } | { op: 'write' | 'fill' | 'view' | 'views' | 'skip' | 'split'; n: number; v: number };

const lensArb = (min: number) => fc.array(fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 40 })), { minLength: min, maxLength: 7 });
const rOpArb: fc.Arbitrary<ROp> = fc.oneof(
  fc.constantFrom<ROp>({ op: 'u8' }, { op: 'u16' }, { op: 'u32' }, { op: 'u64' }, { op: 'u64n' }),
  fc.record({ op: fc.constantFrom('bytes' as const, 'read' as const, 'view' as const, 'views' as const, 'skip' as const, 'split' as const), n: fc.nat(48) }),
);
const wOpArb: fc.Arbitrary<WOp> = fc.oneof(
  fc.record({ op: fc.constantFrom('u8' as const, 'u16' as const, 'u32' as const, 'u64' as const), v: fc.nat(0xffffffff) }),
  fc.record({ op: fc.constantFrom('write' as const, 'fill' as const, 'view' as const, 'views' as const, 'skip' as const, 'split' as const), n: fc.nat(48), v: fc.nat(255) }),
);

const le = (bytes: number[]): bigint => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);

describe('byte cursors against a flat model', () => {
  it('Reader: values, views, skips and splits over any layout', () => {
    fc.assert(
      fc.property(lensArb(1), lensArb(0), fc.boolean(), fc.array(rOpArb, { maxLength: 30, size: 'max' }), (rl, wl, straddle, ops) => {
        const L = build(rl, wl, straddle);
        const flat = L.rAddr.map((a) => L.mem.readU8(a));
        let r: Reader = L.chain.reader();
        let pos = 0;
        let end = flat.length;
        let base = 0; // where the current reader started (consumed = pos - base)
        for (const o of ops) {
          const rem = end - pos;
          const need = 'n' in o ? o.n : o.op === 'u8' ? 1 : o.op === 'u16' ? 2 : o.op === 'u32' ? 4 : 8;
          const fits = need <= rem;
          const bytes = flat.slice(pos, pos + need);
          let name: string;
          switch (o.op) {
            case 'u8':
            case 'u16':
            case 'u32':
              name = nameOf(() => expect(o.op === 'u8' ? r.readU8() : o.op === 'u16' ? r.readU16() : r.readU32()).toBe(Number(le(bytes))));
              break;
            case 'u64':
              name = nameOf(() => expect(r.readU64()).toBe(le(bytes)));
              break;
            case 'u64n': {
              const v = le(bytes);
              name = nameOf(() => expect(r.readU64Number()).toBe(Number(v)));
              if (fits && v > BigInt(Number.MAX_SAFE_INTEGER)) {
                expect(name).toBe('GuestMemory.ValueTooLargeError');
                continue; // nothing consumed
              }
              break;
            }
            case 'bytes':
              name = nameOf(() => expect(Array.from(r.readBytes(o.n))).toEqual(bytes));
              break;
            case 'read':
              name = nameOf(() => {
                const d = new Uint8Array(o.n);
                r.read(d);
                expect(Array.from(d)).toEqual(bytes);
              });
              break;
            case 'view': {
              const contig = fits && contiguous(L.rAddr, L.rBuf, pos, o.n);
              name = nameOf(() => {
                const v = r.view(o.n);
                if (contig) expect(Array.from(v!)).toEqual(bytes);
                else expect(v).toBeNull();
              });
              if (fits && !contig) {
                expect(r.remaining).toBe(rem); // nothing consumed
                continue;
              }
              break;
            }
            case 'views':
              name = nameOf(() => expect(r.views(o.n).flatMap((v) => Array.from(v))).toEqual(bytes));
              break;
            case 'skip':
              name = nameOf(() => r.skip(o.n));
              break;
            case 'split': {
              let rest: Reader | null = null;
              name = nameOf(() => (rest = r.split(o.n)));
              if (fits) {
                expect(name).toBe('no error');
                expect(rest!.consumed).toBe(0);
                expect(Array.from(rest!.readBytes(rest!.remaining))).toEqual(flat.slice(pos + o.n, end));
                end = pos + o.n;
                expect(r.remaining).toBe(end - pos);
                continue;
              }
              break;
            }
          }
          if (fits) {
            expect(name).toBe('no error');
            pos += need;
          } else {
            expect(name).toBe('Queue.BufferTooShortError');
          }
          expect(r.remaining).toBe(end - pos);
          expect(r.consumed).toBe(pos - base);
          if (pos === end && end < flat.length) {
            // Continue on a fresh reader positioned here, to keep exercising the tail.
            r = L.chain.reader();
            r.skip(pos);
            base = 0;
            end = flat.length;
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('Writer: values, fills, views and splits land exactly where the layout says', () => {
    fc.assert(
      fc.property(lensArb(0), lensArb(1), fc.boolean(), fc.array(wOpArb, { maxLength: 30, size: 'max' }), (rl, wl, straddle, ops) => {
        const L = build(rl, wl, straddle);
        const model = L.wAddr.map(() => 0);
        let w: Writer = L.chain.writer();
        let pos = 0;
        let end = model.length;
        let base = 0;
        const put = (bytes: number[]) => bytes.forEach((b, k) => (model[pos + k] = b));
        for (const o of ops) {
          const rem = end - pos;
          const need = 'n' in o ? o.n : o.op === 'u8' ? 1 : o.op === 'u16' ? 2 : o.op === 'u32' ? 4 : 8;
          const fits = need <= rem;
          const v = o.v;
          const leBytes = (n: number, x: bigint) => Array.from({ length: n }, (_, k) => Number((x >> BigInt(8 * k)) & 0xffn));
          let bytes: number[] = [];
          let name: string;
          switch (o.op) {
            case 'u8':
              bytes = [v & 0xff];
              name = nameOf(() => w.writeU8(v & 0xff));
              break;
            case 'u16':
              bytes = leBytes(2, BigInt(v & 0xffff));
              name = nameOf(() => w.writeU16(v & 0xffff));
              break;
            case 'u32':
              bytes = leBytes(4, BigInt(v));
              name = nameOf(() => w.writeU32(v));
              break;
            case 'u64': {
              const x = (BigInt(v) << 29n) | 0x1234n;
              bytes = leBytes(8, x);
              name = nameOf(() => w.writeU64(x));
              break;
            }
            case 'write':
              bytes = Array.from({ length: o.n }, (_, k) => (v + k) & 0xff);
              name = nameOf(() => w.write(Uint8Array.from(bytes)));
              break;
            case 'fill':
              bytes = new Array<number>(o.n).fill(v);
              name = nameOf(() => w.fill(o.n, v));
              break;
            case 'view': {
              const contig = fits && contiguous(L.wAddr, L.wBuf, pos, o.n);
              bytes = new Array<number>(o.n).fill(v);
              name = nameOf(() => {
                const view = w.view(o.n);
                if (contig) view!.fill(v);
                else expect(view).toBeNull();
              });
              if (fits && !contig) continue;
              break;
            }
            case 'views':
              bytes = new Array<number>(o.n).fill(v);
              name = nameOf(() => w.views(o.n).forEach((x) => x.fill(v)));
              break;
            case 'skip':
              bytes = model.slice(pos, pos + o.n);
              name = nameOf(() => w.skip(o.n));
              break;
            case 'split': {
              let rest: Writer | null = null;
              name = nameOf(() => (rest = w.split(o.n)));
              if (fits) {
                expect(rest!.written).toBe(0);
                rest!.fill(rest!.remaining, 0xee);
                for (let k = pos + o.n; k < end; k++) model[k] = 0xee;
                end = pos + o.n;
                continue;
              }
              break;
            }
          }
          if (fits) {
            expect(name).toBe('no error');
            put(bytes);
            pos += need;
          } else {
            expect(name).toBe('Queue.BufferTooShortError');
          }
          expect(w.remaining).toBe(end - pos);
          expect(w.written).toBe(pos - base);
          if (pos === end && end < model.length) {
            w = L.chain.writer();
            w.skip(pos);
            base = 0;
            end = model.length;
          }
        }
        expect(L.wAddr.map((a) => L.mem.readU8(a))).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });
});
