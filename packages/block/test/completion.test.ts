/**
 * Completion paths: backends that complete through callbacks (`submitRead`, `submitWrite`), within
 * the call or later, failing, throwing or calling back twice; completions delivered together (as
 * FileBackend delivers an event-loop turn's) under one interrupt; pooled request objects that are
 * never completed by a callback meant for an earlier request.
 */
import { describe, expect, it } from '@jest/globals';
import { BlockDevice, BlockStatus, MemoryBackend, RequestType } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { SplitDriver } from '@vmv/queue/driver';
import { CallbackBackend } from './callback-backend';
import { Harness, pattern, requestBytes, sameBytes } from './harness';

const OK = BlockStatus.OK;
const IOERR = BlockStatus.IOERR;
const tick = () => new Promise((r) => setImmediate(r));
const NO_EVENT_IDX = ~(1n << 29n);

describe('backends with completion callbacks', () => {
  it('reads and writes go through submitRead and submitWrite, never the promise forms; data moves at completion', async () => {
    const backend = new CallbackBackend(1 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const w = h.submit({ readable: requestBytes(RequestType.OUT, 8, pattern(4096, 1)), writable: 1 });
    expect(backend.pending.map((p) => [p.op, p.offset])).toEqual([['write', 4096]]);
    expect(h.device.inFlight).toBe(1);
    backend.complete();
    expect((await w).status).toBe(OK);
    expect(sameBytes(backend.inner.data.subarray(4096, 8192), pattern(4096, 1))).toBe(true);
    const r = h.submit({ readable: requestBytes(RequestType.IN, 8), writable: 4097, layout: { writePieces: [1000, 3096, 1] } });
    await tick();
    backend.complete();
    const c = await r;
    expect([c.status, c.len]).toEqual([OK, 4097]);
    expect(sameBytes(c.writable.subarray(0, 4096), pattern(4096, 1))).toBe(true);
    expect(backend.promiseCalls).toBe(0);
    expect(h.device.stats).toMatchObject({ requests: 2, ok: 2, backendErrors: 0 });
  });

  it('a callback within the call completes the request inside the notification, as a synchronous backend does', async () => {
    const backend = new CallbackBackend(1 << 20);
    backend.inner.data.set(pattern(512, 4), 512);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    backend.next.push('sync', 'sync');
    const ps = [h.add({ readable: requestBytes(RequestType.IN, 1), writable: 513 }), h.add({ readable: requestBytes(RequestType.OUT, 2, pattern(512, 5)), writable: 1 })];
    h.kick();
    expect(h.device.inFlight).toBe(0);
    expect(h.interrupts[0]).toBe(1); // one for both, at the end of the pass
    const [r, w] = await Promise.all(ps);
    expect(r!.status).toBe(OK);
    expect(sameBytes(r!.writable.subarray(0, 512), pattern(512, 4))).toBe(true);
    expect(w!.status).toBe(OK);
    expect(sameBytes(backend.inner.data.subarray(1024, 1536), pattern(512, 5))).toBe(true);
    expect(await h.device.drain()).toBeUndefined();
  });

  it('done(error) and a throw fail the request with IOERR; a throw after done leaves the completion standing', async () => {
    const backend = new CallbackBackend(1 << 20);
    backend.inner.data.fill(0x33);
    const errors: unknown[] = [];
    const h = new Harness({ device: { backend, onBackendError: (e) => errors.push(e) }, memSize: 4 << 20 });
    backend.next.push('syncError', 'throw', 'syncThenThrow', 'wait');
    const ps = [0, 1, 2, 3].map((i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
    h.kick();
    backend.complete(0, new Error('async failure'));
    const cs = await Promise.all(ps);
    expect(cs.map((c) => c.status)).toEqual([IOERR, IOERR, OK, IOERR]);
    expect(cs.map((c) => c.len)).toEqual([1, 1, 513, 1]);
    // A failed read leaves the guest's buffer as it was.
    expect(cs[0]!.writable.subarray(0, 512).every((x) => x === 0xee)).toBe(true);
    expect(cs[3]!.writable.subarray(0, 512).every((x) => x === 0xee)).toBe(true);
    expect(cs[2]!.writable.subarray(0, 512).every((x) => x === 0x33)).toBe(true);
    expect(errors.map((e) => (e as Error).message)).toEqual(['injected failure', 'injected throw', 'async failure']);
    expect(h.device.stats).toMatchObject({ ok: 1, ioerr: 3, backendErrors: 3 });
    expect(h.resets).toEqual([]);
  });

  it('a second call of done, or a late one meant for an earlier request, completes nothing', async () => {
    const backend = new CallbackBackend(1 << 20);
    backend.inner.data.set(pattern(1024, 7));
    const h = new Harness({ device: { backend, maxInflight: 1 }, memSize: 4 << 20 });
    const a = h.submit({ readable: requestBytes(RequestType.IN, 0), writable: 513 });
    backend.complete();
    expect((await a).status).toBe(OK);
    const doneA = backend.handedOut[0]!;
    doneA(null); // again
    doneA(new Error('late'));
    expect(h.device.stats).toMatchObject({ requests: 1, ok: 1, ioerr: 0 });
    // The next request reuses the pooled request object of the first: A's callback must not complete it.
    let bDone = false;
    const b = h.submit({ readable: requestBytes(RequestType.IN, 1), writable: 513 });
    void b.then(() => (bDone = true));
    expect(backend.pending.length).toBe(1);
    doneA(null);
    doneA(new Error('late'));
    await tick();
    expect(bDone).toBe(false);
    expect(h.device.inFlight).toBe(1);
    backend.complete();
    const cb = await b;
    expect(cb.status).toBe(OK);
    expect(sameBytes(cb.writable.subarray(0, 512), pattern(1024, 7).subarray(512))).toBe(true);
    backend.handedOut[1]!(new Error('after completion'));
    await tick();
    expect(h.device.stats).toMatchObject({ requests: 2, ok: 2, ioerr: 0, backendErrors: 0 });
    expect(h.resets).toEqual([]);
  });

  it('writethrough: a write completed through its callback is flushed before its status', async () => {
    const backend = new CallbackBackend(1 << 20);
    const h = new Harness({ device: { backend, writeback: false }, memSize: 4 << 20 });
    const w = h.submit({ readable: requestBytes(RequestType.OUT, 0, pattern(512, 2)), writable: 1 });
    expect(backend.flushes).toBe(0);
    backend.complete();
    expect((await w).status).toBe(OK);
    expect(backend.flushes).toBe(1);
  });

  it('after a reset, a callback that comes late touches neither guest memory nor the queue; drain waits for it', async () => {
    const backend = new CallbackBackend(1 << 20);
    backend.inner.data.fill(0x11);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    let resolved = false;
    void h.add({ readable: requestBytes(RequestType.IN, 0), writable: 513 }).then(() => (resolved = true));
    h.kick();
    const mem = h.read(0x20_0000, 0x1000);
    h.resetDevice();
    let drained = false;
    const drain = h.device.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    backend.complete();
    await drain;
    h.reap();
    expect(resolved).toBe(false);
    expect(h.memory.readU16(SplitDriver.layout(64, 0x10_0000).deviceArea + 2)).toBe(0);
    expect(sameBytes(h.read(0x20_0000, 0x1000), mem)).toBe(true);
  });
});

/** A promise backend whose operations the test settles, several at once if it likes. */
class BatchPromiseBackend implements BlockBackend {
  readonly inner = new MemoryBackend(1 << 20);
  readonly pending: (() => void)[] = [];
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve) => this.pending.push(() => {
      this.inner.read(offset, buffers);
      resolve();
    }));
  }
  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve) => this.pending.push(() => {
      this.inner.write(offset, buffers);
      resolve();
    }));
  }
  flush(): void {}
}

describe('completions delivered together', () => {
  it.each([
    ['callbacks', true],
    ['callbacks, no EVENT_IDX', false],
  ])('share one interrupt, raised once every used element is in place (%s)', async (_, eventIdx) => {
    const backend = new CallbackBackend(1 << 20);
    for (let i = 0; i < 8; i++) backend.inner.data.fill(i + 1, i * 512, (i + 1) * 512);
    const offered = new BlockDevice({ backend }).deviceFeatures;
    const h = new Harness({ device: { backend }, memSize: 4 << 20, features: eventIdx ? offered : offered & NO_EVENT_IDX });
    const ps = Array.from({ length: 8 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
    h.kick();
    expect(backend.pending.length).toBe(8);
    backend.completeAll([5, 2, 7, 0, 1, 6, 3, 4]);
    expect(h.interrupts[0]).toBe(0); // held until the burst is over...
    await tick();
    expect(h.interrupts[0]).toBe(1); // ...then one, whose handler reaped all eight
    const cs = await Promise.all(ps);
    cs.forEach((c, i) => {
      expect(c.status).toBe(OK);
      expect(c.writable.subarray(0, 512).every((x) => x === i + 1)).toBe(true);
    });
  });

  it('promises settled in one go share one interrupt too; settled one per turn, one each', async () => {
    const backend = new BatchPromiseBackend();
    const offered = new BlockDevice({ backend }).deviceFeatures;
    const h = new Harness({ device: { backend }, memSize: 4 << 20, features: offered & NO_EVENT_IDX });
    const burst = Array.from({ length: 6 }, (_, i) => h.add({ readable: requestBytes(RequestType.OUT, i, pattern(512, i)), writable: 1 }));
    h.kick();
    for (const settle of backend.pending.splice(0)) settle();
    await Promise.all(burst);
    expect(h.interrupts[0]).toBe(1);
    const apart = Array.from({ length: 3 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, i), writable: 513 }));
    h.kick();
    while (backend.pending.length > 0) {
      backend.pending.shift()!();
      await tick();
    }
    expect((await Promise.all(apart)).map((c) => c.status)).toEqual([OK, OK, OK]);
    expect(h.interrupts[0]).toBe(4);
  });

  it('an interrupt the transport fails on puts the device in DEVICE_NEEDS_RESET, as before', async () => {
    const backend = new CallbackBackend(1 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20, interruptError: new RangeError('transport failure') });
    void h.submit({ readable: requestBytes(RequestType.IN, 0), writable: 513 });
    backend.complete();
    await tick();
    expect(h.resets.map((e) => (e as Error).message)).toEqual(['transport failure']);
  });
});
