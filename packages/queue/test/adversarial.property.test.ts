/**
 * Hostile guest: random bytes in the descriptor table/ring, the driver area, the device area and
 * a region used for indirect tables, random features and sizes. Only names from the allowlist may
 * come out; every call returns within a bounded number of steps; every popped chain's buffers are
 * fully readable/writable (so no access can fall outside guest memory); a broken queue stays
 * broken until reset.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue, QueueConfig, Feature } from '@vmv/queue';
import type { DescriptorChain, Virtqueue } from '@vmv/queue';

const RING_ERRORS = [
  'Queue.InvalidAvailIndexError',
  'Queue.InvalidDescriptorIndexError',
  'Queue.ChainTooLongError',
  'Queue.ChainLengthOverflowError',
  'Queue.InvalidIndirectDescriptorError',
  'Queue.InvalidIndirectTableError',
  'Queue.ReadableAfterWritableError',
  'Queue.BufferOutOfMemoryError',
  'Queue.DuplicateBufferIdError',
  'Queue.DescriptorNotAvailableError',
  'Queue.QueueSizeExceededError',
];
const ALLOWED = new Set([...RING_ERRORS, 'Queue.BrokenError', 'Queue.BufferTooShortError', 'GuestMemory.ValueTooLargeError']);

const MEM = 0x40000; // 256 KiB: random 64-bit addresses mostly fall outside, small ones inside
const DESC = 0x0;
const DRIVER = 0x8000;
const DEVICE = 0x9000;
const TABLES = 0x10000;

function nameOf(e: unknown): string {
  return typeof e === 'object' && e !== null ? String((e as Error).name) : typeof e;
}

/** Exercises a popped chain fully: every readable byte read, every writable byte written. */
function exercise(c: DescriptorChain): void {
  const r = c.reader();
  while (r.remaining >= 8) r.readU64();
  if (r.remaining > 0) r.readBytes(r.remaining);
  const w = c.writer();
  if (w.remaining > 0) w.fill(Math.min(w.remaining, 1 << 16), 0x5a);
  w.skip(w.remaining);
}

describe('adversarial guest memory', () => {
  it('random rings and tables: only allowlisted errors, bounded work, buffers inside memory', () => {
    let totalPops = 0;
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.record({
          packed: fc.boolean(),
          eventIdx: fc.boolean(),
          indirect: fc.boolean(),
          sizeLog: fc.integer({ min: 0, max: 6 }),
          packedSize: fc.integer({ min: 1, max: 64 }),
          desc: fc.uint8Array({ minLength: 16 * 64, maxLength: 16 * 64 }),
          driver: fc.uint8Array({ minLength: 136, maxLength: 136 }),
          device: fc.uint8Array({ minLength: 520, maxLength: 520 }),
          tables: fc.uint8Array({ minLength: 512, maxLength: 512 }),
          // Make some descriptors point into guest memory and into the tables region.
          patches: fc.array(
            fc.record({
              i: fc.nat(63),
              addr: fc.integer({ min: 0, max: MEM - 1 }),
              len: fc.integer({ min: 0, max: 0x2000 }),
              table: fc.boolean(),
              flags: fc.integer({ min: 0, max: 0xffff }),
              next: fc.nat(0xffff),
              tame: fc.boolean(),
            }),
            { maxLength: 64, size: 'max' },
          ),
          // Often a plausible avail.idx and in-range heads, so that chain walks are reached.
          availIdx: fc.option(fc.integer({ min: 0, max: 64 })),
          saneHeads: fc.boolean(),
          tameAll: fc.boolean(),
          steps: fc.array(fc.constantFrom('pop', 'pop', 'pop', 'used', 'notify', 'enable', 'disable'), { minLength: 10, maxLength: 80, size: 'max' }),
        }),
        (t) => {
          const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
          mem.write(DESC, t.desc);
          mem.write(DRIVER, t.driver);
          mem.write(DEVICE, t.device);
          mem.write(TABLES, t.tables);
          const size = t.packed ? t.packedSize : 1 << t.sizeLog;
          if (t.tameAll) {
            // Every descriptor plausible (buffers in memory, flags NEXT/WRITE, rare INDIRECT,
            // in-range next), built from the random bytes: walks go deep before anything breaks.
            for (let i = 0; i < 64; i++) {
              const at = DESC + 16 * i;
              const r = mem.readU32(at);
              const indirect = (r & 0xf0) === 0xf0;
              const addr = indirect ? TABLES + (r % 32) * 16 : (r >>> 8) % (MEM - 0x2000);
              mem.writeU64(at, addr);
              mem.writeU32(at + 8, indirect ? 16 * (1 + (r % 8)) : mem.readU32(at + 8) % 0x2000);
              const f = (r & 3) | (indirect ? 4 : 0) | (t.packed ? 1 << 7 : 0);
              if (t.packed) mem.writeU16(at + 14, f);
              else {
                mem.writeU16(at + 12, f);
                mem.writeU16(at + 14, mem.readU16(at + 14) % size);
              }
            }
          }
          for (const p of t.patches) {
            const at = DESC + 16 * p.i;
            mem.writeU64(at, p.table ? TABLES + (p.addr % 512) : p.addr);
            mem.writeU32(at + 8, p.table ? p.len % 512 : p.len);
            if (p.tame) {
              // Mostly well-formed flags (available for the first lap, in-range next), so that
              // walks go deep before something goes wrong.
              const f = (p.flags & (1 | 2 | (p.table ? 4 : 0))) | (t.packed ? 1 << 7 : 0);
              mem.writeU16(at + 14, t.packed ? f : p.next % size);
              if (!t.packed) mem.writeU16(at + 12, f);
            }
          }
          if (!t.packed && t.availIdx !== null) mem.writeU16(DRIVER + 2, t.availIdx % (size + 1));
          if (!t.packed && t.saneHeads) for (let i = 0; i < size; i++) mem.writeU16(DRIVER + 4 + 2 * i, mem.readU16(DRIVER + 4 + 2 * i) % size);
          const cfg = new QueueConfig(64);
          let f = 0n;
          if (t.packed) f |= 1n << BigInt(Feature.RING_PACKED);
          if (t.eventIdx) f |= 1n << BigInt(Feature.EVENT_IDX);
          if (t.indirect) f |= 1n << BigInt(Feature.INDIRECT_DESC);
          cfg.setFeatures(f);
          cfg.setSize(size);
          cfg.setArea('descTable', DESC);
          cfg.setArea('driverArea', DRIVER);
          cfg.setArea('deviceArea', DEVICE);
          cfg.ready = true;
          const q: Virtqueue = createVirtqueue(mem, cfg);
          const held: DescriptorChain[] = [];
          let pops = 0;
          for (const step of t.steps) {
            try {
              if (step === 'pop') {
                // Drain: bounded because each pop consumes ring entries; at most 2 laps of the ring.
                for (let k = 0; k <= 2 * size + 1; k++) {
                  const c = q.pop();
                  if (c === null) break;
                  pops++;
                  expect(k).toBeLessThan(2 * size + 1);
                  exercise(c);
                  held.push(c);
                }
              } else if (step === 'used') {
                const c = held.shift();
                if (c) q.addUsed(c, Math.min(c.writableBytes, 7));
              } else if (step === 'notify') {
                expect(typeof q.needsNotification()).toBe('boolean');
              } else if (step === 'enable') {
                expect(typeof q.enableNotification()).toBe('boolean');
              } else {
                q.disableNotification();
              }
            } catch (e) {
              const name = nameOf(e);
              if (!ALLOWED.has(name)) throw e;
              seen.add(name);
              if (RING_ERRORS.includes(name)) {
                // Broken until reset: every ring operation now says so.
                expect(q.error?.name).toBe(name);
                expect(() => q.pop()).toThrow(expect.objectContaining({ name: 'Queue.BrokenError' }));
                q.reset();
                held.length = 0;
              }
            }
          }
          totalPops += pops;
        },
      ),
      { numRuns: 300 },
    );
    // The fuzzing reached real chain walks and most of the error kinds.
    expect(totalPops).toBeGreaterThan(500);
    expect(seen.size).toBeGreaterThanOrEqual(6);
  });

  it('random saved states: restore accepts or throws Queue.InvalidStateError only', () => {
    const mem = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
    const cfgOf = (packed: boolean): QueueConfig => {
      const c = new QueueConfig(64);
      c.setFeatures(packed ? 1n << 34n : 0n);
      c.setSize(16);
      c.setArea('descTable', DESC);
      c.setArea('driverArea', DRIVER);
      c.setArea('deviceArea', DEVICE);
      c.ready = true;
      return c;
    };
    const split = createVirtqueue(mem, cfgOf(false));
    const packed = createVirtqueue(mem, cfgOf(true));
    const valueArb = fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.constantFrom(0, 1, 15, 16, true, false, 'x', null, '123', [[1, 1]], [[1, 1], [1, 1]]));
    fc.assert(
      fc.property(
        fc.constantFrom(split, packed),
        fc.dictionary(fc.constantFrom('nextAvail', 'nextUsed', 'numAdded', 'availWrapCounter', 'usedWrapCounter', 'inflight', 'size', 'eventIdx', 'format', 'descTable'), valueArb),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (q, patch, ringBytes) => {
          mem.write(DRIVER, ringBytes.subarray(0, 4));
          mem.write(DEVICE, ringBytes.subarray(4));
          const state = { ...q.saveState(), ...patch };
          try {
            q.restoreState(state);
          } catch (e) {
            expect(nameOf(e)).toBe('Queue.InvalidStateError');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
