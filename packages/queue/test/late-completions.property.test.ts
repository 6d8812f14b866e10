/**
 * Late completions under random interleavings (both ring formats, the driver model on the other
 * side): pops, completions (single and batched, in time or after a reset or a restore), a hostile
 * driver breaking the ring, notification calls, resets and restores. Whatever the order:
 * - `addUsed` / `addUsedBatch` never throw for a stale chain or a broken queue;
 * - nothing is written into the rings by a completion of a stale chain, nor by any device
 *   operation while the queue is broken;
 * - every live completion lands: the driver gets exactly that buffer with that length.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { DescriptorChain } from '@vmv/queue';
import { drivenRing } from './helpers';

type Op =
  | { readonly op: 'add' }
  | { readonly op: 'pop' }
  | { readonly op: 'complete'; readonly pick: number; readonly len: number }
  | { readonly op: 'batch'; readonly picks: readonly number[]; readonly len: number }
  | { readonly op: 'notify'; readonly which: 0 | 1 | 2 }
  | { readonly op: 'corrupt' }
  | { readonly op: 'reset' }
  | { readonly op: 'restore' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ op: 'add' } as const) },
  { weight: 4, arbitrary: fc.constant({ op: 'pop' } as const) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('complete' as const), pick: fc.nat(), len: fc.integer({ min: 0, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('batch' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), len: fc.integer({ min: 0, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('notify' as const), which: fc.constantFrom(0 as const, 1 as const, 2 as const) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'corrupt' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' } as const) },
  { weight: 1, arbitrary: fc.constant({ op: 'restore' } as const) },
);

/** The token of a request, from its readable buffer's address (see drivenRing's `add`). */
const tokenOf = (c: DescriptorChain): number => (Number(c.address(0)) - 0x10000) / 0x100;

describe('late completions: random interleavings (fast-check)', () => {
  it.each(['split', 'packed'] as const)('%s: stale and broken completions are dropped without a write or a throw; live ones land', (format) => {
    const seen = { live: 0, stale: 0, broken: 0 };
    fc.assert(
      fc.property(fc.constantFrom(4, 8), fc.array(opArb, { minLength: 10, maxLength: 80 }), (size, ops) => {
        const r = drivenRing(format, size);
        const q = r.queue;
        let token = 0;
        let epoch = 0;
        /** The driver broke the ring and adds nothing more until it resets the device. */
        let hostile = false;
        const held: { chain: DescriptorChain; epoch: number }[] = [];
        for (const o of ops) {
          const broken = q.error !== null;
          const before = r.rings();
          const unchanged = (): void => expect(r.rings().equals(before)).toBe(true);
          switch (o.op) {
            case 'add':
              if (!hostile && token < 0xff) r.add(++token);
              break;
            case 'pop':
              if (broken) {
                expect(() => q.pop()).toThrow(expect.objectContaining({ name: 'Queue.BrokenError', cause: q.error }));
                unchanged();
                break;
              }
              try {
                const c = q.pop();
                if (c !== null) held.push({ chain: c, epoch });
              } catch (e) {
                // the hostile driver's corruption: the first error, and the queue is broken now
                expect(q.error).toBe(e);
                unchanged();
              }
              break;
            case 'complete': {
              if (held.length === 0) break;
              const h = held.splice(o.pick % held.length, 1)[0]!;
              const len = Math.min(o.len, h.chain.writableBytes);
              const t = tokenOf(h.chain);
              q.addUsed(h.chain, len); // never throws here
              if (broken || h.epoch !== epoch) {
                seen[broken ? 'broken' : 'stale']++;
                unchanged();
                expect(r.used()).toEqual([]);
              } else {
                seen.live++;
                expect(r.used()).toEqual([[t, len]]);
              }
              break;
            }
            case 'batch': {
              const picked = new Set(o.picks.map((p) => (held.length === 0 ? -1 : p % held.length)));
              picked.delete(-1);
              const batch = [...picked].sort((a, b) => b - a).map((i) => held.splice(i, 1)[0]!);
              const lens = batch.map((h) => Math.min(o.len, h.chain.writableBytes));
              q.addUsedBatch(
                batch.map((h) => h.chain),
                lens,
              );
              const live = broken ? [] : batch.flatMap((h, i): [number, number][] => (h.epoch === epoch ? [[tokenOf(h.chain), lens[i]!]] : []));
              seen.live += live.length;
              if (broken) seen.broken += batch.length;
              else seen.stale += batch.length - live.length;
              if (live.length === 0) unchanged();
              expect(r.used()).toEqual(live);
              break;
            }
            case 'notify':
              if (o.which === 0) {
                const wanted = q.needsNotification();
                if (broken) expect(wanted).toBe(false);
              }
              if (o.which === 1) q.disableNotification();
              if (o.which === 2) {
                const more = q.enableNotification();
                if (broken) expect(more).toBe(false);
              }
              if (broken) unchanged();
              break;
            case 'corrupt':
              r.corrupt();
              hostile = true;
              break;
            case 'reset':
              q.reset();
              r.renew(); // the driver sets the ring up again
              hostile = false;
              token = 0;
              epoch++;
              break;
            case 'restore':
              try {
                q.restoreState(q.saveState());
                epoch++;
              } catch (e) {
                // the hostile driver's corruption makes the ring disagree with the positions
                expect((e as Error).name).toBe('Queue.InvalidStateError');
              }
              break;
          }
        }
      }),
      { numRuns: 500 },
    );
    // every kind of completion happened (each kind some 30 to 230 times in 500 runs)
    expect(seen.live).toBeGreaterThan(0);
    expect(seen.stale).toBeGreaterThan(0);
    expect(seen.broken).toBeGreaterThan(0);
  });
});
