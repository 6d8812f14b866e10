/**
 * Concurrency and lifecycle: out-of-order completion, the in-flight bound, reset with I/O still
 * running, multiqueue, interrupt coalescing, writethrough mode, backend errors, a corrupted ring.
 */
import { describe, expect, it } from '@jest/globals';
import { BlockDevice, BlockFeature, BlockStatus, MemoryBackend, RequestType, isBlockError } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { featureBit } from '@vmv/device-trait';
import { SplitDriver } from '@vmv/queue/driver';
import { Harness, pattern, requestBytes, sameBytes } from './harness';

const OK = BlockStatus.OK;
const IOERR = BlockStatus.IOERR;

/** A backend whose operations wait until the test releases them. */
class ControlledBackend implements BlockBackend {
  readonly inner: MemoryBackend;
  readonly pending: { op: string; offset: number; run: () => void; fail: (e: unknown) => void }[] = [];
  maxConcurrent = 0;
  flushes = 0;

  constructor(size: number) {
    this.inner = new MemoryBackend(size);
  }

  get size(): number {
    return this.inner.size;
  }

  private defer(op: string, offset: number, fn: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        op,
        offset,
        run: () => {
          fn();
          resolve();
        },
        fail: reject,
      });
      this.maxConcurrent = Math.max(this.maxConcurrent, this.pending.length);
    });
  }

  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.defer('read', offset, () => this.inner.read(offset, buffers));
  }

  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const copy = buffers.map((b) => b.slice());
    return this.defer('write', offset, () => this.inner.write(offset, copy));
  }

  flush(): Promise<void> {
    this.flushes++;
    return this.defer('flush', 0, () => undefined);
  }

  /** Completes pending operation `i` (default: the oldest). */
  release(i = 0, error?: unknown): void {
    const p = this.pending.splice(i, 1)[0]!;
    if (error === undefined) p.run();
    else p.fail(error);
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('concurrency', () => {
  it('completes requests in any order, each used element written as it completes', async () => {
    const backend = new ControlledBackend(1 << 20);
    backend.inner.data.set(pattern(1 << 20, 5));
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const done: number[] = [];
    const ps = [0, 1, 2, 3].map((i) => {
      const p = h.add({ readable: requestBytes(RequestType.IN, i * 8), writable: 4097 });
      void p.then(() => done.push(i));
      return p;
    });
    h.kick();
    expect(backend.pending.map((p) => p.offset)).toEqual([0, 4096, 8192, 12288]);
    backend.release(2); // request 2 first
    await tick();
    expect(done).toEqual([2]);
    expect(h.queues[0]!.nextUsed).toBe(1);
    backend.release(0); // request 0
    backend.release(1); // request 3
    backend.release(0); // request 1
    const results = await Promise.all(ps);
    expect(done).toEqual([2, 0, 3, 1]);
    results.forEach((r, i) => {
      expect(r.status).toBe(OK);
      expect(sameBytes(r.writable.subarray(0, 4096), backend.inner.data.subarray(i * 4096, (i + 1) * 4096))).toBe(true);
    });
  });

  it('keeps at most maxInflight requests running per queue and resumes as they complete', async () => {
    const backend = new ControlledBackend(1 << 20);
    const h = new Harness({ device: { backend, maxInflight: 3 }, memSize: 4 << 20 });
    const ps = Array.from({ length: 10 }, (_, i) => h.add({ readable: requestBytes(RequestType.OUT, i, pattern(512, i)), writable: 1 }));
    h.kick();
    expect(backend.pending.length).toBe(3);
    expect(h.device.inFlight).toBe(3);
    while (backend.pending.length > 0) {
      backend.release(backend.pending.length - 1);
      await tick();
      expect(backend.pending.length).toBeLessThanOrEqual(3);
    }
    expect((await Promise.all(ps)).every((r) => r.status === OK)).toBe(true);
    expect(backend.maxConcurrent).toBe(3);
    for (let i = 0; i < 10; i++) expect(sameBytes(backend.inner.data.subarray(i * 512, (i + 1) * 512), pattern(512, i))).toBe(true);
  });

  it('after a reset, completions of earlier requests touch neither guest memory nor the queue', async () => {
    const backend = new ControlledBackend(1 << 20);
    backend.inner.data.fill(0x11);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    let resolved = false;
    void h.add({ readable: requestBytes(RequestType.IN, 0), writable: 513 }).then(() => (resolved = true));
    void h.add({ readable: requestBytes(RequestType.OUT, 8, new Uint8Array(512)), writable: 1 });
    h.kick();
    expect(backend.pending.length).toBe(2);
    const usedIdx = () => h.memory.readU16(SplitDriver.layout(64, 0x10_0000).deviceArea + 2);
    const mem = h.read(0x20_0000, 0x1000);
    expect(usedIdx()).toBe(0);
    h.resetDevice();
    let drained = false;
    const drain = h.device.drain().then(() => (drained = true));
    backend.release(1); // the write lands in the backend (the host cannot take it back)...
    await tick();
    expect(drained).toBe(false);
    backend.release(0, new Error('late failure'));
    await drain;
    expect(drained).toBe(true);
    h.reap();
    expect(resolved).toBe(false); // ...but no used element was written
    expect(usedIdx()).toBe(0);
    expect(sameBytes(h.read(0x20_0000, 0x1000), mem)).toBe(true); // and no status byte
    expect(h.device.inFlight).toBe(0);
  });

  it('keeps the bound across resets: requests of a reset activation still running count against the new one until they settle', async () => {
    const backend = new ControlledBackend(1 << 20);
    const h = new Harness({ device: { backend, maxInflight: 3 }, memSize: 8 << 20 });
    const burst = () => {
      for (let i = 0; i < 5; i++) void h.add({ readable: requestBytes(RequestType.OUT, i, pattern(512, i)), writable: 1 });
      h.kick();
    };
    burst();
    expect(backend.pending.length).toBe(3);
    // A guest that resets with I/O in flight and submits again, over and over, cannot pile up
    // backend operations beyond the depth.
    for (let round = 0; round < 4; round++) {
      h.reactivate();
      burst();
      expect(backend.pending.length).toBe(3);
      expect(h.device.inFlight).toBe(0);
    }
    const done: number[] = [];
    for (let i = 0; i < 5; i++) void h.add({ readable: requestBytes(RequestType.OUT, 8 + i, pattern(512, 8 + i)), writable: 1 }).then((c) => done.push(c.status));
    h.reactivate();
    const fresh = Array.from({ length: 5 }, (_, i) => h.add({ readable: requestBytes(RequestType.OUT, 16 + i, pattern(512, 16 + i)), writable: 1 }));
    h.kick();
    expect(h.device.inFlight).toBe(0);
    // As the old operations settle, the new activation takes their places, one for one.
    backend.release();
    await tick();
    expect(h.device.inFlight).toBe(1);
    expect(backend.pending.length).toBe(3);
    while (backend.pending.length > 0) {
      backend.release();
      await tick();
      expect(backend.pending.length).toBeLessThanOrEqual(3);
    }
    expect((await Promise.all(fresh)).every((c) => c.status === OK)).toBe(true);
    expect(done).toEqual([]);
    expect(backend.maxConcurrent).toBe(3);
    await h.device.drain();
  });

  it('marks read data dirty again when it lands after the dirty log was taken', async () => {
    const backend = new ControlledBackend(1 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20, dirtyPageSize: 4096 });
    const p = h.add({ readable: requestBytes(RequestType.IN, 0), writable: 8193, layout: { writePieces: [8192, 1] } });
    h.kick();
    h.memory.takeDirtyLog(); // migration takes a round while the read is in flight
    backend.release();
    const c = await p;
    expect(c.status).toBe(OK);
    const pages = h.memory.takeDirtyLog().flatMap((e) => {
      const out: number[] = [];
      for (let p = 0; p < e.bitmap.length * 32; p++) if ((e.bitmap[p >> 5]! >>> (p & 31)) & 1) out.push(Number(e.start) + p * e.pageSize);
      return out;
    });
    const data = c.writablePieces[0]!;
    for (let a = data.addr & ~4095; a < data.addr + data.len; a += 4096) expect(pages).toContain(a);
  });

  it('serves several queues independently', async () => {
    const backend = new MemoryBackend(1 << 20);
    const h = new Harness({ device: { backend, numQueues: 3 }, memSize: 8 << 20 });
    expect(h.device.deviceFeatures & featureBit(BlockFeature.MQ)).not.toBe(0n);
    const ps = [0, 1, 2].map((q) => h.submit({ readable: requestBytes(RequestType.OUT, q * 8, pattern(4096, q)), writable: 1 }, q));
    expect((await Promise.all(ps)).map((r) => r.status)).toEqual([OK, OK, OK]);
    expect(h.interrupts).toEqual([1, 1, 1]);
    const r = await h.submit({ readable: requestBytes(RequestType.IN, 8), writable: 4097 }, 2);
    expect(sameBytes(r.writable.subarray(0, 4096), pattern(4096, 1))).toBe(true);
  });

  it('ignores queues the driver did not enable', () => {
    const h = new Harness({ device: { backend: new MemoryBackend(4096), numQueues: 2 }, queues: 1, memSize: 4 << 20 });
    expect(() => h.device.queueNotify(1)).not.toThrow();
    expect(() => h.device.queueNotify(7)).not.toThrow();
  });

  it('coalesces interrupts with EVENT_IDX: one for a batch completed in one notification', async () => {
    const backend = new MemoryBackend(1 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const ps = Array.from({ length: 16 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
    h.kick();
    await Promise.all(ps);
    expect(h.interrupts[0]).toBe(1);
    expect(h.device.stats.ok).toBe(16);
  });

  it('EVENT_IDX: completions that land one by one while the driver has not caught up raise one interrupt, not one each', async () => {
    for (const eventIdx of [true, false]) {
      const backend = new ControlledBackend(1 << 20);
      const offered = new BlockDevice({ backend }).deviceFeatures;
      const h = new Harness({ device: { backend }, memSize: 4 << 20, reapInInterrupt: false, features: eventIdx ? offered : offered & ~(1n << 29n) });
      const ps = Array.from({ length: 4 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
      h.kick();
      for (let i = 0; i < 4; i++) {
        backend.release();
        await tick();
      }
      // The driver's used_event still says "interrupt me after the first": the device stays quiet.
      expect(h.interrupts[0]).toBe(eventIdx ? 1 : 4);
      h.reap();
      expect((await Promise.all(ps)).every((c) => c.status === OK)).toBe(true);
    }
  });

  it('interrupts per completion when the driver keeps up (no EVENT_IDX)', async () => {
    const backend = new ControlledBackend(1 << 20);
    const offered = new BlockDevice({ backend }).deviceFeatures;
    const h = new Harness({ device: { backend }, memSize: 4 << 20, features: offered & ~(1n << 29n) });
    const ps = Array.from({ length: 4 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
    h.kick();
    for (let i = 0; i < 4; i++) {
      backend.release();
      await tick();
    }
    await Promise.all(ps);
    expect(h.interrupts[0]).toBe(4);
  });
});

describe('durability modes', () => {
  const writeOnce = async (h: Harness) => {
    const p = h.submit({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(512)), writable: 1 });
    await h.settle();
    return p;
  };

  it('writeback (FLUSH negotiated): a write completes without a flush', async () => {
    const backend = new ControlledBackend(1 << 20);
    const auto = async () => {
      while (backend.pending.length) backend.release();
    };
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const p = h.submit({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(512)), writable: 1 });
    await auto();
    expect((await p).status).toBe(OK);
    expect(backend.flushes).toBe(0);
    expect(h.device.writeback).toBe(true);
  });

  it('a FLUSH completes only once the backend flush has settled; in writethrough a write completes only after its flush', async () => {
    const backend = new ControlledBackend(1 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    let written = false;
    const w = h.submit({ readable: requestBytes(RequestType.OUT, 0, new Uint8Array(512).fill(9)), writable: 1 }).then((c) => ((written = true), c));
    backend.release();
    expect((await w).status).toBe(OK);
    expect(written).toBe(true);
    let flushed = false;
    const f = h.submit({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 }).then((c) => ((flushed = true), c));
    expect(backend.pending.map((p) => p.op)).toEqual(['flush']);
    await tick();
    expect(flushed).toBe(false);
    backend.release();
    expect((await f).status).toBe(OK);
    // Writethrough (the driver wrote 0 to writeback): write, then flush, then the status.
    h.device.writeConfig(32, new Uint8Array([0]));
    let done = false;
    const wt = h.submit({ readable: requestBytes(RequestType.OUT, 8, new Uint8Array(512).fill(7)), writable: 1 }).then((c) => ((done = true), c));
    backend.release();
    await tick();
    expect(backend.pending.map((p) => p.op)).toEqual(['flush']);
    expect(done).toBe(false);
    backend.release();
    expect((await wt).status).toBe(OK);
  });

  it('writethrough when FLUSH is offered but neither FLUSH nor CONFIG_WCE negotiated: flush before completing each write', async () => {
    const backend = new MemoryBackend(1 << 20);
    let flushes = 0;
    const b: BlockBackend = { size: backend.size, read: (o, x) => backend.read(o, x), write: (o, x) => backend.write(o, x), flush: () => void flushes++ };
    const offered = new BlockDevice({ backend: b }).deviceFeatures;
    const h = new Harness({ device: { backend: b }, memSize: 4 << 20, features: offered & ~featureBit(BlockFeature.FLUSH) & ~featureBit(BlockFeature.CONFIG_WCE) });
    expect((await writeOnce(h)).status).toBe(OK);
    expect(flushes).toBe(1);
  });

  it('CONFIG_WCE: the driver switches to writethrough by writing 0 to writeback; CONFIG_WCE without FLUSH starts writethrough', async () => {
    const backend = new MemoryBackend(1 << 20);
    let flushes = 0;
    const b: BlockBackend = { size: backend.size, read: (o, x) => backend.read(o, x), write: (o, x) => backend.write(o, x), flush: () => void flushes++ };
    const h = new Harness({ device: { backend: b }, memSize: 4 << 20 });
    await writeOnce(h);
    expect(flushes).toBe(0);
    h.device.writeConfig(32, new Uint8Array([0]));
    expect(h.device.writeback).toBe(false);
    await writeOnce(h);
    expect(flushes).toBe(1);
    h.device.writeConfig(32, new Uint8Array([1]));
    await writeOnce(h);
    expect(flushes).toBe(1);
    const offered = h.device.deviceFeatures;
    const h2 = new Harness({ device: { backend: b }, memSize: 4 << 20, features: offered & ~featureBit(BlockFeature.FLUSH) });
    expect(h2.device.writeback).toBe(false);
    await writeOnce(h2);
    expect(flushes).toBe(2);
  });
});

describe('backend failures', () => {
  it('answers IOERR to the failing request only; later requests succeed; the hook sees the error', async () => {
    const inner = new MemoryBackend(1 << 20);
    const seen: unknown[] = [];
    let failNext: 'sync' | 'async' | null = null;
    const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    const backend: BlockBackend = {
      size: inner.size,
      read: (o, b) => inner.read(o, b),
      write: (o, b) => {
        const f = failNext;
        failNext = null;
        if (f === 'sync') throw enospc;
        if (f === 'async') return Promise.reject(enospc);
        return inner.write(o, b);
      },
      flush: () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })),
    };
    const h = new Harness({ device: { backend, onBackendError: (e, info) => seen.push([e, info.type, info.sector]) }, memSize: 4 << 20 });
    failNext = 'sync';
    const a = await h.submit({ readable: requestBytes(RequestType.OUT, 3, new Uint8Array(512).fill(1)), writable: 1 });
    failNext = 'async';
    const bp = h.submit({ readable: requestBytes(RequestType.OUT, 4, new Uint8Array(512).fill(1)), writable: 1 });
    await h.settle();
    const b = await bp;
    const c = await h.submit({ readable: requestBytes(RequestType.OUT, 5, new Uint8Array(512).fill(1)), writable: 1 });
    const fp = h.submit({ readable: requestBytes(RequestType.FLUSH, 0), writable: 1 });
    await h.settle();
    const f = await fp;
    expect([a.status, b.status, c.status, f.status]).toEqual([IOERR, IOERR, OK, IOERR]);
    expect(seen.map((s) => (s as unknown[]).slice(1))).toEqual([
      [RequestType.OUT, 3],
      [RequestType.OUT, 4],
      [RequestType.FLUSH, 0],
    ]);
    expect(h.device.stats.backendErrors).toBe(3);
    expect(inner.data[5 * 512]).toBe(1);
    expect(inner.data[3 * 512]).toBe(0);
    expect(h.resets).toEqual([]);
  });

  it('a throwing error hook does not disturb the queue', async () => {
    const backend: BlockBackend = { size: 4096, read: () => Promise.reject(new Error('EIO')), write: () => undefined, flush: () => undefined };
    const h = new Harness({ device: { backend, onBackendError: () => { throw new Error('hook'); } }, memSize: 4 << 20 });
    const p = h.submit({ readable: requestBytes(RequestType.IN, 0), writable: 513 });
    await h.settle();
    expect((await p).status).toBe(IOERR);
  });

  it('GET_LIFETIME fails with IOERR when the backend reports reserved values or throws', async () => {
    for (const lifetime of [() => ({ preEolInfo: 4, deviceLifetimeEstTypA: 0, deviceLifetimeEstTypB: 0 }), () => Promise.reject(new Error('x'))]) {
      const backend: BlockBackend = { size: 4096, read: () => undefined, write: () => undefined, flush: () => undefined, lifetime };
      const h = new Harness({ device: { backend }, memSize: 4 << 20 });
      const p = h.submit({ readable: requestBytes(RequestType.GET_LIFETIME, 0), writable: 7 });
      await h.settle();
      const c = await p;
      expect(c.status).toBe(IOERR);
      expect(c.len).toBe(1);
    }
  });

  it('MemoryBackend refuses out-of-range and read-only use with named errors', () => {
    const m = new MemoryBackend(1024, { readOnly: true });
    expect(() => m.read(1024, [new Uint8Array(1)])).toThrow(expect.objectContaining({ name: 'Block.OutOfRangeError' }));
    try {
      m.write(0, [new Uint8Array(512)]);
    } catch (e) {
      expect(isBlockError(e, 'Block.ReadOnlyError')).toBe(true);
    }
    expect.assertions(2);
  });
});

describe('a corrupted ring', () => {
  it('reports DEVICE_NEEDS_RESET once and stops serving the queue', async () => {
    const h = new Harness({ device: { backend: new MemoryBackend(4096) }, memSize: 4 << 20 });
    // avail.idx jumps by more than the queue size: a ring error (VIRTIO 1.2 §2.7.6).
    h.memory.writeU16(0x10_0000 + 64 * 16 + 2, 1000);
    h.device.queueNotify(0);
    h.device.queueNotify(0);
    expect(h.resets.length).toBe(1);
    expect((h.resets[0] as Error).name).toMatch(/^Queue\./);
  });
});
