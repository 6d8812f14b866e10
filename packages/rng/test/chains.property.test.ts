/**
 * Property: on any descriptor layout (split or packed ring, direct or indirect, the writable bytes
 * cut into buffers at any boundary, readable buffers before them, gaps between) and with a source
 * that answers in pieces of any size, synchronously or not, every writable byte is the next byte
 * of the source's stream, the used length is the writable total, readable buffers and the bytes
 * around the chain are untouched, and no exception comes out of the device.
 */
import { expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DATA_BASE, Harness, counterBytes } from './support/harness';

const piece = fc.record({ len: fc.integer({ min: 1, max: 300 }), gap: fc.integer({ min: 0, max: 8 }) });

it('fills every writable byte, in order, on any layout, and touches nothing else', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(
        fc.record({ readable: fc.array(piece, { maxLength: 3 }), writable: fc.array(piece, { maxLength: 6 }), indirect: fc.boolean() }).filter((c) => c.readable.length + c.writable.length > 0),
        { minLength: 1, maxLength: 6 },
      ),
      fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      async (packed, chains, answers, async) => {
        let pos = 0;
        let call = 0;
        const give = (n: number) => {
          const k = Math.min(n, answers[call++ % answers.length]!);
          const b = counterBytes(pos, k);
          pos += k;
          return b;
        };
        const h = new Harness({ packed, device: { source: async ? (n) => Promise.resolve(give(n)) : give } });
        h.memory.fill(DATA_BASE, 0x10_0000, 0xee);
        const ps = chains.map((c) =>
          h.add([...c.readable.map((p) => ({ ...p, writable: false })), ...c.writable.map((p) => ({ ...p, writable: true }))], { indirect: c.indirect }),
        );
        h.kick();
        const ds = await Promise.all(ps);
        let at = 0;
        ds.forEach((d, i) => {
          const total = chains[i]!.writable.reduce((s, p) => s + p.len, 0);
          expect(d.len).toBe(total);
          expect(Buffer.compare(d.written, counterBytes(at, total))).toBe(0);
          expect(d.readable.every((b) => b === 0xee)).toBe(true);
          at += total;
        });
        // outside the writable buffers the data area is as the driver left it: the bytes that changed
        // are the bytes written (less those the stream happened to write as 0xee)
        let changed = 0;
        for (const b of h.read(DATA_BASE, 0x10_0000)) if (b !== 0xee) changed++;
        const sameAsFill = ds.reduce((s, d) => s + d.written.filter((b) => b === 0xee).length, 0);
        expect(changed).toBe(at - sameAsFill);
        expect(h.needsReset).toEqual([]);
      },
    ),
    { numRuns: 150 },
  );
});
