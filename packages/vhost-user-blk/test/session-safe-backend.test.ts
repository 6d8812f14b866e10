/**
 * SessionSafeBackend: reads and writes through private buffers, so that I/O still running when a
 * session's guest memory goes away neither touches that memory nor throws.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBackend, type BlockBackend } from '@vmv/block';
import { SessionSafeBackend, openImage, syncReader } from '@vmv/vhost-user-blk';

/** A backend whose operations wait until `release()`. */
class SlowBackend implements BlockBackend {
  readonly size = 1 << 20;
  readonly store = new Uint8Array(this.size);
  private waiting: (() => void)[] = [];
  private gate(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
  async read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    await this.gate();
    let at = offset;
    for (const b of buffers) {
      b.set(this.store.subarray(at, at + b.length));
      at += b.length;
    }
  }
  async write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    await this.gate();
    let at = offset;
    for (const b of buffers) {
      this.store.set(b, at);
      at += b.length;
    }
  }
  flush(): void {}
}

const detach = (buf: ArrayBuffer): void => void structuredClone(buf, { transfer: [buf] });
const flushPromises = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SessionSafeBackend', () => {
  it('reads and writes scattered buffers like the wrapped backend (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 1000 }),
        async (lengths, sector) => {
          const inner = new MemoryBackend(1 << 20);
          const safe = new SessionSafeBackend(inner);
          const offset = sector * 512;
          const data = lengths.map((n, i) => new Uint8Array(n).map((_, j) => (i * 31 + j * 7) & 0xff));
          await safe.write(offset, data);
          const back = lengths.map((n) => new Uint8Array(n));
          await safe.read(offset, back);
          expect(back).toEqual(data);
          const direct = lengths.map((n) => new Uint8Array(n));
          await inner.read(offset, direct);
          expect(direct).toEqual(data);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('takes a write\'s data when the request starts', async () => {
    const slow = new SlowBackend();
    const safe = new SessionSafeBackend(slow);
    const guest = new Uint8Array(4096).fill(0xaa);
    const done = safe.write(0, [guest]);
    guest.fill(0x55); // the guest reuses its buffer (or the memory goes away)
    slow.release();
    await done;
    expect(slow.store.subarray(0, 4096).every((b) => b === 0xaa)).toBe(true);
  });

  it('a read whose guest memory was unmapped completes without touching it or throwing', async () => {
    const slow = new SlowBackend();
    slow.store.fill(0x42, 0, 8192);
    const safe = new SessionSafeBackend(slow);
    const guestRam = new ArrayBuffer(16384);
    const views = [new Uint8Array(guestRam, 0, 4096), new Uint8Array(guestRam, 8192, 4096)];
    const done = safe.read(0, views);
    await flushPromises();
    detach(guestRam); // what Mapping.close() does before munmap
    slow.release();
    await expect(done).resolves.toBeUndefined();
    expect(views[0]!.length).toBe(0);
  });

  it('a write whose guest memory was unmapped after it started still writes the data taken', async () => {
    const slow = new SlowBackend();
    const safe = new SessionSafeBackend(slow);
    const guestRam = new ArrayBuffer(4096);
    new Uint8Array(guestRam).fill(7);
    const done = safe.write(512, [new Uint8Array(guestRam)]);
    detach(guestRam);
    slow.release();
    await done;
    expect(slow.store.subarray(512, 512 + 4096).every((b) => b === 7)).toBe(true);
  });

  it('passes size, flags, flush, discard and write-zeroes through', async () => {
    const inner = new MemoryBackend(1 << 16);
    const safe = new SessionSafeBackend(inner);
    expect(safe.size).toBe(1 << 16);
    expect(safe.readOnly).toBe(false);
    expect(typeof safe.discard).toBe(typeof inner.discard);
    expect(typeof safe.writeZeroes).toBe(typeof inner.writeZeroes);
    await safe.write(0, [new Uint8Array(1024).fill(9)]);
    await safe.writeZeroes?.(0, 512, false);
    const back = new Uint8Array(1024);
    await safe.read(0, [back]);
    expect(back.subarray(0, 512).every((b) => b === 0)).toBe(true);
    expect(back.subarray(512).every((b) => b === 9)).toBe(true);
    await safe.flush();
    const bare = new SessionSafeBackend({ size: 512, read: () => undefined, write: () => undefined, flush: () => undefined });
    expect(bare.discard).toBeUndefined();
    expect(bare.writeZeroes).toBeUndefined();
    expect(() => new SessionSafeBackend({} as BlockBackend)).toThrow(TypeError);
  });
});

/** A MemoryBackend plus a synchronous read over the same bytes, with a scripted clock. */
const PATTERN = new Uint8Array(1 << 18).map((_, i) => (i * 13 + 5) & 0xff);

function inlineSetup(options: { durationMs?: (call: number) => number; short?: (call: number) => boolean } = {}) {
  const inner = new MemoryBackend(PATTERN.length);
  const store = PATTERN;
  void inner.write(0, [store]);
  let clock = 1000;
  let calls = 0;
  const innerReads: number[] = [];
  const innerRead = inner.read.bind(inner);
  inner.read = (offset: number, buffers: readonly Uint8Array[]) => {
    innerReads.push(offset);
    return innerRead(offset, buffers);
  };
  const inlineRead = (offset: number, buffers: readonly Uint8Array[]): number => {
    const call = calls++;
    clock += options.durationMs?.(call) ?? 0.002;
    let at = offset;
    for (const b of buffers) {
      b.set(store.subarray(at, at + b.length));
      at += b.length;
    }
    const total = at - offset;
    return options.short?.(call) === true ? total - 512 : total;
  };
  const tick = (ms: number): void => void (clock += ms);
  return { inner, store, inlineRead, innerReads, tick, now: () => clock, calls: () => calls };
}

describe('SessionSafeBackend inline reads', () => {
  it('serves small reads synchronously into the guest buffers, large ones through a private buffer', async () => {
    const s = inlineSetup();
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineMaxBytes: 8192, now: s.now });
    const views = [new Uint8Array(1024), new Uint8Array(3072)];
    expect(safe.read(4096, views)).toBeUndefined(); // done on the spot
    expect(Buffer.concat(views)).toEqual(Buffer.from(s.store.subarray(4096, 8192)));
    expect(s.innerReads).toEqual([]);
    const big = new Uint8Array(16384);
    const p = safe.read(0, [big]);
    expect(p).toBeInstanceOf(Promise);
    await p;
    expect(Buffer.from(big)).toEqual(Buffer.from(s.store.subarray(0, 16384)));
    expect(s.innerReads).toEqual([0]);
    expect(safe.stats).toEqual({ inline: 1, deferred: 1, slow: 0, pauses: 0 });
  });

  it('finishes a short inline read asynchronously, with the right data', async () => {
    const s = inlineSetup({ short: (call) => call === 0 });
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, now: s.now });
    const view = new Uint8Array(4096);
    await safe.read(8192, [view]);
    expect(Buffer.from(view)).toEqual(Buffer.from(s.store.subarray(8192, 12288)));
    expect(s.innerReads).toEqual([8192]);
  });

  it('an inline read error is the read\'s error', () => {
    const inner = new MemoryBackend(1 << 16);
    const safe = new SessionSafeBackend(inner, {
      inlineRead: () => {
        throw Object.assign(new Error('EIO'), { code: 'EIO' });
      },
    });
    expect(() => safe.read(0, [new Uint8Array(512)])).toThrow('EIO');
  });

  it('three slow inline reads in a row pause inline reads for the cooldown; a stray slow one does not', async () => {
    let slow = new Set([0, 40, 41, 42]);
    const s = inlineSetup({ durationMs: (call) => (slow.has(call) ? 5 : 0.002) });
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineSlowUs: 100, inlineCooldownMs: 50, now: s.now });
    const read = () => safe.read(0, [new Uint8Array(512)]);
    for (let i = 0; i < 43; i++) expect(read()).toBeUndefined();
    expect(safe.stats).toMatchObject({ inline: 43, slow: 4, pauses: 1 });
    // paused: reads are asynchronous until 50 ms have passed
    await read();
    expect(s.innerReads.length).toBe(1);
    s.tick(49);
    await read();
    expect(s.innerReads.length).toBe(2);
    s.tick(2);
    expect(read()).toBeUndefined();
    // right after resuming the average is still high: one slow read pauses again, for twice as long
    slow = new Set([s.calls()]);
    expect(read()).toBeUndefined();
    expect(safe.stats.pauses).toBe(2);
    s.tick(60);
    await read();
    expect(s.innerReads.length).toBe(3); // still paused: the cooldown is 100 ms now
    s.tick(41);
    expect(read()).toBeUndefined();
    // once the average has decayed, a single slow read no longer pauses, and the cooldown is back to 50 ms
    for (let i = 0; i < 200; i++) read();
    slow = new Set([s.calls()]);
    expect(read()).toBeUndefined();
    expect(safe.stats.pauses).toBe(2);
    slow = new Set([s.calls(), s.calls() + 1, s.calls() + 2]);
    for (let i = 0; i < 3; i++) read();
    expect(safe.stats.pauses).toBe(3);
    s.tick(51);
    expect(read()).toBeUndefined();
  });

  it('a read may take inlineSlowUs plus 0.5 µs per KiB before it counts as slow', () => {
    const durations = [0.22, 0.24, 0.099, 0.101]; // ms: 256 KiB twice (allowed 0.228), then 512 B twice (allowed 0.10025)
    const s = inlineSetup({ durationMs: (call) => durations[call]! });
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineSlowUs: 100, now: s.now });
    expect(safe.read(0, [new Uint8Array(256 << 10)])).toBeUndefined();
    expect(safe.stats.slow).toBe(0);
    expect(safe.read(0, [new Uint8Array(256 << 10)])).toBeUndefined();
    expect(safe.stats.slow).toBe(1);
    expect(safe.read(0, [new Uint8Array(512)])).toBeUndefined();
    expect(safe.stats.slow).toBe(1);
    expect(safe.read(0, [new Uint8Array(512)])).toBeUndefined();
    expect(safe.stats).toEqual({ inline: 4, deferred: 0, slow: 2, pauses: 0 });
  });

  it('about four slow reads in 32 pause inline reads, one in 16 or two in a row never do', () => {
    const pausesWith = (isSlow: (call: number) => boolean, reads: number): { pauses: number; inline: number } => {
      const s = inlineSetup({ durationMs: (call) => (isSlow(call) ? 5 : 0.002) });
      const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineCooldownMs: 1e9, now: s.now });
      for (let i = 0; i < reads; i++) void safe.read(0, [new Uint8Array(512)]);
      return { pauses: safe.stats.pauses, inline: safe.stats.inline };
    };
    // one in 8: the fourth slow read (the 32nd read) pauses; every read after it is deferred
    expect(pausesWith((c) => c % 8 === 7, 200)).toEqual({ pauses: 1, inline: 32 });
    expect(pausesWith((c) => c % 16 === 15, 2000)).toEqual({ pauses: 0, inline: 2000 });
    expect(pausesWith((c) => c === 10 || c === 11, 200)).toEqual({ pauses: 0, inline: 200 });
    expect(pausesWith((c) => c >= 10 && c <= 12, 200)).toEqual({ pauses: 1, inline: 13 });
  });

  it('a pause soon after the last one doubles the cooldown, up to 10 s; one much later starts again from inlineCooldownMs', () => {
    let slowFrom = Infinity;
    const s = inlineSetup({ durationMs: (call) => (call >= slowFrom ? 5 : 0.002) });
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineCooldownMs: 100, now: s.now });
    const inlineNow = (): boolean => {
      const calls = s.calls();
      void safe.read(0, [new Uint8Array(512)]);
      return s.calls() > calls; // the inline reader was tried: not paused
    };
    /** Slow reads until inline reads pause; returns how long the pause lasts (ms), probed with the clock. */
    const pauseLength = (): number => {
      slowFrom = s.calls();
      const before = safe.stats.pauses;
      while (safe.stats.pauses === before) expect(inlineNow()).toBe(true);
      slowFrom = Infinity;
      let waited = 0;
      while (!inlineNow()) {
        s.tick(50);
        waited += 50;
      }
      return waited;
    };
    const lengths = Array.from({ length: 9 }, () => pauseLength());
    expect(lengths).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    // 64 fast inline reads after resuming: the next pause is a first one again
    for (let i = 0; i < 64; i++) expect(inlineNow()).toBe(true);
    expect(pauseLength()).toBe(100);
  });

  it('a reader that never waits for the disk (nowait) is never paused by slow reads, which are still counted', () => {
    for (const nowait of [true, false]) {
      const s = inlineSetup({ durationMs: () => 5 });
      const inlineRead = Object.assign((o: number, b: readonly Uint8Array[]) => s.inlineRead(o, b), { nowait });
      const safe = new SessionSafeBackend(s.inner, { inlineRead, inlineSlowUs: 100, now: s.now });
      for (let i = 0; i < 100; i++) void safe.read(0, [new Uint8Array(512)]);
      // without nowait, three slow reads in a row pause inline reads for 100 ms (the clock moves 5 ms per read)
      expect(safe.stats).toMatchObject(nowait ? { inline: 100, slow: 100, pauses: 0 } : { inline: 3, slow: 3, pauses: 1 });
    }
  });

  it('a short inline read counts as one deferred read, neither inline nor slow', async () => {
    const s = inlineSetup({ short: () => true, durationMs: () => 5 });
    const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, now: s.now });
    await safe.read(0, [new Uint8Array(4096)]);
    expect(safe.stats).toEqual({ inline: 0, deferred: 1, slow: 0, pauses: 0 });
  });

  it('reads the same bytes inline or not, whatever the clock does (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ sector: fc.integer({ min: 0, max: 400 }), lengths: fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 4 }), slow: fc.boolean(), wait: fc.integer({ min: 0, max: 300 }) }),
          { minLength: 1, maxLength: 40 },
        ),
        async (ops) => {
          const durations = ops.map((o) => (o.slow ? 1 : 0.001));
          const s = inlineSetup({ durationMs: (call) => durations[call % durations.length]! });
          const safe = new SessionSafeBackend(s.inner, { inlineRead: s.inlineRead, inlineMaxBytes: 4096, now: s.now });
          for (const op of ops) {
            s.tick(op.wait);
            const views = op.lengths.map((n) => new Uint8Array(n * 512));
            await safe.read(op.sector * 512, views);
            expect(Buffer.concat(views)).toEqual(Buffer.from(s.store.subarray(op.sector * 512, op.sector * 512 + views.reduce((a, v) => a + v.length, 0))));
          }
          const st = safe.stats;
          expect(st.inline + st.deferred).toBe(ops.length);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('checks its options', () => {
    const inner = new MemoryBackend(1 << 16);
    expect(() => new SessionSafeBackend(inner, { inlineRead: 5 as unknown as () => number })).toThrow(TypeError);
    expect(() => new SessionSafeBackend(inner, { inlineSlowUs: -1 })).toThrow(RangeError);
    expect(() => new SessionSafeBackend(inner, { inlineMaxBytes: Number.NaN })).toThrow(RangeError);
    expect(() => new SessionSafeBackend(inner, null as unknown as object)).toThrow(TypeError);
  });
});

describe('inline reads through syncReader (preadv2 with RWF_NOWAIT) on a real image', () => {
  it('serve cached blocks inline and send a cold block to the thread pool without blocking', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-vub-nowait-'));
    const path = join(dir, 'cold.img');
    try {
      try {
        // written with O_DIRECT: none of it is in the page cache
        execFileSync('dd', ['if=/dev/urandom', `of=${path}`, 'bs=1M', 'count=2', 'oflag=direct'], { stdio: 'ignore' });
      } catch {
        return; // tmpfs: no O_DIRECT, everything is cached; covered by @vmv/sys's own test
      }
      const img = await openImage({ image: path });
      try {
        const reader = syncReader(img.file.fd);
        expect(reader.nowait).toBe(true); // ext4 and tmpfs have RWF_NOWAIT
        const safe = new SessionSafeBackend(img.backend, { inlineRead: reader });
        const cold = new Uint8Array(4096);
        const r1 = safe.read((1 << 20) + 8192 * 16, [cold]);
        expect(r1).toBeInstanceOf(Promise); // not in the page cache: deferred, the loop never waited
        await r1;
        expect(safe.stats).toMatchObject({ inline: 0, deferred: 1, slow: 0, pauses: 0 });
        const warm = new Uint8Array(4096);
        expect(safe.read((1 << 20) + 8192 * 16, [warm])).toBeUndefined(); // cached now: inline
        expect(warm).toEqual(cold);
        expect(safe.stats).toMatchObject({ inline: 1, deferred: 1 });
        const file = readFileSync(path);
        expect(cold).toEqual(new Uint8Array(file.subarray((1 << 20) + 8192 * 16, (1 << 20) + 8192 * 16 + 4096)));
      } finally {
        await img.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
