/**
 * SessionSafeBackend: reads and writes through private buffers, so that I/O still running when a
 * session's guest memory goes away neither touches that memory nor throws.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MemoryBackend, type BlockBackend } from '@vmv/block';
import { SessionSafeBackend } from '@vmv/vhost-user-blk';

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
