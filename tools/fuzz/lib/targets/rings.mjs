/**
 * Split and packed rings, device side (VIRTIO 1.2 §2.7, §2.8): random ring memory and descriptor
 * tables (chains with loops, out-of-range indices and addresses, indirect tables, nested
 * indirect, huge lengths), random ring placement and size, then a random sequence of pops (each
 * chain read and written in full), used entries, notification checks, saves and restores, and
 * resets. A pop loop that yields more than two laps of the ring is a hang.
 */
import { QUEUE_ERROR_NAMES, QueueConfig, Feature, createVirtqueue } from '@vmv/queue';
import { GuardedMemory } from '../guarded.mjs';

const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;
const F_AVAIL = 1 << 7;
const F_USED = 1 << 15;
const TABLES = 0x20000; // indirect tables live in the high region

/** Writes one descriptor drawn from the input at `at`. */
function descriptor(src, g, at, packed, size, inTable) {
  const m = g.memory;
  const kind = src.u8();
  let addr;
  let len;
  let flags;
  if ((kind & 0xe0) === 0xe0 && !inTable) {
    // an indirect descriptor, usually pointing at a plausible table
    addr = src.bool() ? TABLES + 16 * src.below(0x100) : g.address(src);
    len = src.bool() ? 16 * (1 + src.below(16)) : src.u32();
    flags = F_INDIRECT | (src.u8() & (F_NEXT | F_WRITE));
  } else {
    addr = g.address(src);
    len = kind & 1 ? src.u8() : kind & 2 ? src.u16() : src.u32();
    flags = kind & 0x10 ? src.u16() : src.u8() & (F_NEXT | F_WRITE | (inTable && src.u8() < 8 ? F_INDIRECT : 0));
  }
  m.writeU64(at, BigInt(addr));
  m.writeU32(at + 8, len >>> 0);
  if (packed) {
    // buffer id, then flags with the avail/used bits for the first lap (or random ones)
    m.writeU16(at + 12, src.below(size + 2));
    const wrap = src.u8() < 224 ? F_AVAIL : src.u16() & (F_AVAIL | F_USED);
    m.writeU16(at + 14, (flags & 0x7f) | wrap);
  } else {
    m.writeU16(at + 12, flags & 0xffff);
    m.writeU16(at + 14, src.u8() < 240 ? src.below(size) : src.u16());
  }
}

/** Exercises a popped chain fully: every readable byte read, every writable byte written. */
function exercise(c) {
  const r = c.reader();
  while (r.remaining >= 8) r.readU64();
  if (r.remaining > 0) r.readBytes(Math.min(r.remaining, 1 << 16));
  const w = c.writer();
  if (w.remaining > 0) w.fill(Math.min(w.remaining, 1 << 16), 0x5a);
  w.skip(w.remaining);
}

/** @param {'split' | 'packed'} format */
export function ringTarget(format) {
  const packed = format === 'packed';
  return {
    name: `${format}-ring`,
    description: `${format} virtqueue, device side: random rings, chains, indirect tables; pop/addUsed/notification/save/restore sequences`,
    maxLen: 4096,
    allowed: new Set([...QUEUE_ERROR_NAMES, 'GuestMemory.ValueTooLargeError']),
    setup() {
      return { g: new GuardedMemory() };
    },
    /** @param {{ g: GuardedMemory }} state */
    run(state, src, report) {
      const g = state.g;
      const m = g.memory;
      g.clear();
      const size = packed ? 1 + src.below(64) : 1 << src.below(7);
      // Ring placement: usually the canonical spots, sometimes anywhere (config errors are typed too).
      const odd = src.u8() < 16;
      const down = (a, n) => a - (a % n);
      const desc = odd ? down(g.address(src), 16) : 0;
      const driver = odd ? down(g.address(src), 4) : 0x8000;
      const device = odd ? down(g.address(src), 4) : 0x9000;
      const cfg = new QueueConfig(64);
      let f = 0n;
      if (packed) f |= 1n << BigInt(Feature.RING_PACKED);
      const fb = src.u8();
      if (fb & 1) f |= 1n << BigInt(Feature.EVENT_IDX);
      if (fb & 2) f |= 1n << BigInt(Feature.INDIRECT_DESC);
      let q;
      try {
        cfg.setFeatures(f);
        cfg.setSize(size);
        cfg.setArea('descTable', desc);
        cfg.setArea('driverArea', driver);
        cfg.setArea('deviceArea', device);
        cfg.ready = true;
        q = createVirtqueue(m, cfg);
      } catch (e) {
        report.error(e);
        return;
      }
      report.feature(`size:${size}`);
      const n = Math.min(size, 64);
      for (let i = 0; i < n; i++) descriptor(src, g, desc + 16 * i, packed, size, false);
      const tables = src.below(32);
      for (let i = 0; i < tables; i++) descriptor(src, g, TABLES + 16 * src.below(0x100), packed, size, true);
      if (!packed) {
        // avail.flags, avail.idx (mostly within one ring of 0), ring heads, used_event
        m.writeU16(driver, src.u8() & 1);
        m.writeU16(driver + 2, src.u8() < 200 ? src.below(size + 1) : src.u16());
        for (let i = 0; i < n; i++) m.writeU16(driver + 4 + 2 * i, src.u8() < 240 ? src.below(size) : src.u16());
        m.writeU16(driver + 4 + 2 * size, src.u16());
      } else {
        m.writeU32(driver, src.u32()); // driver event suppression
      }
      const held = [];
      const steps = 4 + src.below(40);
      for (let s = 0; s < steps; s++) {
        const op = src.u8() % 12;
        try {
          if (op < 5) {
            for (let k = 0; ; k++) {
              const c = q.pop();
              if (c === null) break;
              if (k > 2 * size + 1) throw new HangError(`pop yielded more than two laps of a ring of ${size}`);
              exercise(c);
              report.feature(`chain:${Math.min(c.readableBytes, 99)}:${Math.min(c.writableBytes, 99)}`);
              held.push(c);
            }
          } else if (op < 8) {
            const c = held.splice(src.below(held.length), 1)[0];
            if (c !== undefined) q.addUsed(c, Math.min(c.writableBytes, src.u8() < 128 ? c.writableBytes : src.u16()));
          } else if (op === 8) {
            report.feature(`notify:${q.needsNotification()}`);
          } else if (op === 9) {
            report.feature(`enable:${q.enableNotification()}`);
          } else if (op === 10) {
            q.disableNotification();
          } else {
            const saved = q.saveState();
            if (src.bool()) q.reset();
            held.length = 0;
            q.restoreState(src.u8() < 200 ? saved : { ...saved, nextAvail: src.u16(), nextUsed: src.u16() });
          }
        } catch (e) {
          if (e instanceof HangError) throw e;
          report.error(e);
          if (q.error !== null && q.error !== undefined) {
            q.reset();
            held.length = 0;
          }
        }
      }
      return g.check();
    },
  };
}

/** A loop that did not end when the ring said it must: reported as a hang, not a crash. */
export class HangError extends Error {
  name = 'Fuzz.HangError';
}
