/**
 * Properties over hostile guests: any transfers (heads of any bytes, tx and rx of any lengths,
 * buffers cut anywhere) on split or packed rings, against a flash, a loopback and a peripheral
 * that fails at random: the device never throws, answers every request with a known result in its
 * last writable byte and the used length of its writable bytes, leaves a failed transfer's rx
 * zeroed, and reports nothing but allowlisted errors. And: what well-formed spi-nor commands do
 * to the flash is what a model of the chip says.
 */
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { LoopbackPeripheral, MemoryFlashStorage, SpiNorFlash, SpiResult } from '@vmv/spi';
import { GUEST_MEMORY_ERROR_NAMES, QUEUE_ERROR_NAMES } from '@vmv/device-trait';
import { Harness, head, memOp } from './support/harness';
import { cut } from '../../device-trait/test/support/driven';

const ALLOWED = new Set<string>([...QUEUE_ERROR_NAMES, ...GUEST_MEMORY_ERROR_NAMES]);

const transfer = fc.record({
  head: fc.oneof(
    fc.record({ cs: fc.integer({ min: 0, max: 3 }), bpw: fc.constantFrom(8, 8, 16, 32, 0, 7, 33), csChange: fc.constantFrom(0, 0, 1, 2), mode: fc.oneof(fc.constantFrom(0, 3, 0x10), fc.nat()), freq: fc.constantFrom(0, 0, 2_000_000) }).map((h) => head(h)),
    fc.uint8Array({ minLength: 0, maxLength: 40 }),
  ),
  tx: fc.uint8Array({ maxLength: 12 }),
  rxLen: fc.integer({ min: 0, max: 12 }),
  result: fc.constantFrom(1, 1, 1, 1, 0, 2),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
});

it('hostile transfers: a known result, used length = writable bytes, a failed rx zeroed, never an exception', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), fc.array(transfer, { minLength: 1, maxLength: 24 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (packed, indirect, xs, fails) => {
      let n = 0;
      const h = new Harness({ chipSelects: [new SpiNorFlash('w25q80bl'), new LoopbackPeripheral(), { transfer: () => !fails[n++ % fails.length] }], packed, indirect, maxFreqHz: 1_000_000 });
      const rooms: number[] = [];
      for (const x of xs) {
        const out = cut(Uint8Array.from([...x.head, ...x.tx]), x.cuts);
        const inLens = [x.rxLen, x.result].filter((v) => v > 0);
        if (out.length + inLens.length === 0) continue;
        h.raw(0, out, inLens);
        rooms.push(x.rxLen + x.result);
      }
      h.kick();
      expect(h.answers.length).toBe(rooms.length);
      h.answers.forEach((a, i) => {
        expect(a.len).toBe(rooms[i]!);
        if (a.len > 0) expect([SpiResult.TRANS_OK, SpiResult.PARAM_ERR, SpiResult.TRANS_ERR]).toContain(a.result);
        if (a.len > 0 && a.result !== SpiResult.TRANS_OK) expect(a.rx.every((b) => b === 0)).toBe(true);
      });
      for (const r of h.resets) expect(ALLOWED.has((r as Error).name)).toBe(true);
      const s = h.device.stats;
      expect(s.paramErrors + s.transferErrors).toBeLessThanOrEqual(s.requests);
    }),
    { numRuns: 300 },
  );
});

it("spi-nor's commands (WREN, PAGE PROGRAM, SECTOR ERASE, READ) leave exactly what a model of the chip says", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('program' as const), at: fc.integer({ min: 0, max: 0x3fff }), data: fc.uint8Array({ minLength: 1, maxLength: 300 }), wren: fc.boolean() }),
    fc.record({ kind: fc.constant('erase' as const), at: fc.integer({ min: 0, max: 0x3fff }), wren: fc.boolean() }),
    fc.record({ kind: fc.constant('read' as const), at: fc.integer({ min: 0, max: 0x3fff }), len: fc.integer({ min: 1, max: 600 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
      const size = 1 << 20;
      const model = new Uint8Array(size).fill(0xff);
      const storage = new MemoryFlashStorage(size);
      const h = new Harness({ chipSelects: [new SpiNorFlash('w25q80bl', { storage, busyReads: 1 })] });
      const waitReady = () => {
        while (memOp(h, 0, 0x05, { read: 1 }).at(-1)!.rx[0]! & 1);
      };
      for (const o of ops) {
        if (o.kind === 'read') {
          expect(memOp(h, 0, 0x03, { addr: o.at, read: o.len }).at(-1)!.rx).toEqual([...model.subarray(o.at, o.at + o.len)]);
          continue;
        }
        if (o.wren) memOp(h, 0, 0x06);
        if (o.kind === 'program') {
          memOp(h, 0, 0x02, { addr: o.at, write: o.data });
          if (o.wren) {
            const base = o.at & ~0xff;
            const page = new Uint8Array(256).fill(0xff);
            o.data.forEach((b, i) => (page[(o.at + i) & 0xff] = b));
            for (let i = 0; i < 256; i++) model[base + i]! &= page[i]!;
          }
        } else {
          memOp(h, 0, 0x20, { addr: o.at });
          if (o.wren) model.fill(0xff, o.at & ~0xfff, (o.at & ~0xfff) + 0x1000);
        }
        waitReady();
      }
      expect(Buffer.compare(storage.bytes, model)).toBe(0);
    }),
    { numRuns: 150 },
  );
});
