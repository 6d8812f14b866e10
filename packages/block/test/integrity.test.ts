/**
 * Data integrity under concurrency: overlapping reads and writes in flight together on several
 * queues, completed by the backend in an arbitrary order. The device may complete requests in
 * any order, but each request must read or write exactly its own bytes: every read returns the
 * disk as it was when the backend served it, the disk ends as the writes left it in the order the
 * backend applied them, and no guest byte outside a request's writable buffers changes (inside
 * them, only the read data and the status byte). Then the same on a real file with libuv's thread
 * pool choosing the order.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockStatus, MemoryBackend, RequestType } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { FileBackend } from '@vmv/block/node';
import { Harness, pattern, randomPieces, requestBytes, rng, sameBytes } from './harness';
import type { Completion } from './harness';

const SECTORS = 64;
const DATA_BASE = 0x20_0000;
const tick = () => new Promise((r) => setImmediate(r));

/** A backend whose operations wait until the test releases them; each names its byte range. */
class ReleasedBackend implements BlockBackend {
  readonly inner = new MemoryBackend(SECTORS * 512);
  readonly pending: { op: 'read' | 'write'; offset: number; length: number; run: () => void }[] = [];
  maxPending = 0;

  get size(): number {
    return this.inner.size;
  }

  private defer(op: 'read' | 'write', offset: number, buffers: readonly Uint8Array[], fn: () => void): Promise<void> {
    const length = buffers.reduce((s, b) => s + b.length, 0);
    return new Promise((resolve) => {
      this.pending.push({ op, offset, length, run: () => (fn(), resolve()) });
      this.maxPending = Math.max(this.maxPending, this.pending.length);
    });
  }

  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    // Fills the guest's buffers only when released, as a real read lands late.
    return this.defer('read', offset, buffers, () => this.inner.read(offset, buffers));
  }

  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    // Takes the guest's bytes only when released, as a real write may read them late.
    return this.defer('write', offset, buffers, () => this.inner.write(offset, buffers));
  }

  flush(): void {}
}

interface Op {
  write: boolean;
  sector: number;
  count: number;
  queue: number;
  seed: number;
}

/** Requests with distinct (offset, length) pairs, so a backend operation names its request. */
function distinct(ops: Op[]): Op[] {
  const seen = new Set<string>();
  return ops.filter((o) => {
    const k = `${o.sector}:${o.count}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const opArb = fc.record({
  write: fc.boolean(),
  sector: fc.integer({ min: 0, max: SECTORS - 8 }),
  count: fc.integer({ min: 1, max: 8 }),
  queue: fc.integer({ min: 0, max: 2 }),
  seed: fc.integer({ min: 1, max: 0x7fff_ffff }),
});

describe('overlapping requests in flight on several queues', () => {
  it('each request reads or writes exactly its own bytes, whatever order the backend completes them in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 2, maxLength: 14 }).map(distinct),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        async (ops, picks, maxInflight) => {
          const backend = new ReleasedBackend();
          for (let i = 0; i < backend.inner.data.length; i++) backend.inner.data[i] = (i * 13 + 7) & 0xff;
          const h = new Harness({ device: { backend, numQueues: 3, maxInflight }, queueSize: 128, memSize: 4 << 20 });
          const model = backend.inner.data.slice();
          const expectedRead = new Map<number, Uint8Array>();
          const datas = ops.map((o, i) => pattern(o.count * 512, o.seed ^ i));
          const byRange = new Map(ops.map((o, i) => [`${o.sector * 512}:${o.count * 512}`, i]));
          const promises = ops.map((o, i) => {
            const r = rng(o.seed);
            const len = o.count * 512;
            return o.write
              ? h.add({ readable: requestBytes(RequestType.OUT, o.sector, datas[i]), writable: 1, layout: { readPieces: [16, ...randomPieces(len, 4, r)], gaps: [0, 7, 1] } }, o.queue)
              : h.add({ readable: requestBytes(RequestType.IN, o.sector), writable: len + 1, layout: { writePieces: randomPieces(len + 1, 4, r), gaps: [3, 0, 11] } }, o.queue);
          });
          const done: (Completion | null)[] = ops.map(() => null);
          promises.forEach((p, i) => void p.then((c) => (done[i] = c)));
          const end = DATA_BASE + (1 << 20);
          const before = h.read(DATA_BASE, end - DATA_BASE);
          for (let q = 0; q < 3; q++) h.kick(q);
          let step = 0;
          while (backend.pending.length > 0) {
            // Never more than maxInflight per queue, so never more than 3 * maxInflight in all.
            expect(backend.pending.length).toBeLessThanOrEqual(3 * maxInflight);
            const k = picks[step++ % picks.length]! % backend.pending.length;
            const p = backend.pending.splice(k, 1)[0]!;
            const i = byRange.get(`${p.offset}:${p.length}`)!;
            expect(ops[i]!.write).toBe(p.op === 'write');
            if (p.op === 'write') model.set(datas[i]!, p.offset);
            else expectedRead.set(i, model.slice(p.offset, p.offset + p.length));
            p.run();
            await tick();
          }
          await h.settle();
          expect(done.every((c) => c !== null)).toBe(true);
          expect(sameBytes(backend.inner.data, model)).toBe(true);
          const after = h.read(DATA_BASE, end - DATA_BASE);
          const inside = new Uint8Array(after.length);
          ops.forEach((o, i) => {
            const c = done[i]!;
            expect(c.status).toBe(BlockStatus.OK);
            expect(c.len).toBe(o.write ? 1 : o.count * 512 + 1);
            const want = new Uint8Array(c.writable.length).fill(0xee);
            if (!o.write) want.set(expectedRead.get(i)!);
            want[want.length - 1] = BlockStatus.OK;
            expect(sameBytes(c.writable, want)).toBe(true);
            expect(sameBytes(c.readable, o.write ? requestBytes(RequestType.OUT, o.sector, datas[i]) : requestBytes(RequestType.IN, o.sector))).toBe(true);
            for (const w of c.writablePieces) inside.fill(1, w.addr - DATA_BASE, w.addr - DATA_BASE + w.len);
          });
          for (let a = 0; a < after.length; a++) if (inside[a] === 0 && after[a] !== before[a]) throw new Error(`guest byte 0x${(DATA_BASE + a).toString(16)} outside every request changed`);
          expect(h.resets).toEqual([]);
          expect(h.device.inFlight).toBe(0);
        },
      ),
      { numRuns: Number(process.env.BLOCK_RUNS ?? 60) },
    );
  }, 60_000);
});

describe('a real file, libuv choosing the order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-block-integrity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([false, true])('64 writes then 64 reads in flight at once on two queues, scattered layouts (O_DIRECT %s): every byte where it belongs', async (direct) => {
    const path = join(dir, `disk-${direct}.img`);
    const SIZE = 4 << 20;
    const file = await FileBackend.open(path, { create: true, size: SIZE, direct });
    const h = new Harness({ device: { backend: file, numQueues: 2, maxInflight: 16 }, queueSize: 256, memSize: 16 << 20 });
    const r = rng(7);
    // 64 disjoint 16 KiB extents, each written by one request split over up to 6 descriptors.
    const order = Array.from({ length: 64 }, (_, i) => i).sort(() => r() - 0.5);
    const data = order.map((e) => pattern(16384, 1000 + e));
    const writes = order.map((e, i) => h.add({ readable: requestBytes(RequestType.OUT, e * 32, data[i]), writable: 1, layout: { readPieces: [16, ...randomPieces(16384, 5, r)], gaps: [0, 5] } }, i & 1));
    h.kick(0);
    h.kick(1);
    await h.settle();
    expect((await Promise.all(writes)).every((c) => c.status === BlockStatus.OK)).toBe(true);
    const flush = h.add({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 }, 1);
    h.kick(1);
    await h.settle();
    expect((await flush).status).toBe(BlockStatus.OK);
    // The file, read through a descriptor of its own.
    const fd = openSync(path, 'r');
    const onDisk = new Uint8Array(SIZE);
    readSync(fd, onDisk, 0, SIZE, 0);
    closeSync(fd);
    order.forEach((e, i) => expect(sameBytes(onDisk.subarray(e * 16384, (e + 1) * 16384), data[i]!)).toBe(true));
    // Reads of all extents at once, each into its own scattered buffers.
    const reads = order.map((e, i) => h.add({ readable: requestBytes(RequestType.IN, e * 32), writable: 16385, layout: { writePieces: randomPieces(16385, 6, r), gaps: [9, 0] } }, (i + 1) & 1));
    h.kick(0);
    h.kick(1);
    await h.settle();
    const got = await Promise.all(reads);
    got.forEach((c, i) => {
      expect(c.status).toBe(BlockStatus.OK);
      expect(c.len).toBe(16385);
      expect(sameBytes(c.writable.subarray(0, 16384), data[i]!)).toBe(true);
    });
    expect(h.resets).toEqual([]);
    await file.close();
  });
});
