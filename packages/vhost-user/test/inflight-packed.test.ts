import { afterEach, describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { mmap } from '@vmv/sys';
import { VhostUserBackend, type VhostUserBackendEvent } from '@vmv/vhost-user';
import { PackedUpperDevice } from './devices';
import { HANG_MS, until as waitUntil } from './frontend';
import { PackedGuest, requestNumber } from './support/packed-guest';

const WAIT_MS = 5_000;
const until = (cond: () => boolean, _ms: number, what: string): Promise<void> => waitUntil(cond, WAIT_MS, what);

let counter = 0;
const cleanups: (() => void)[] = [];

afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function track<T extends { close(): void }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

interface Served {
  readonly backend: VhostUserBackend;
  readonly device: PackedUpperDevice;
  readonly events: VhostUserBackendEvent[];
}

function serve(path: string): Served {
  const device = new PackedUpperDevice(1, 256);
  const events: VhostUserBackendEvent[] = [];
  const backend = new VhostUserBackend(device, { onEvent: (e) => events.push(e) });
  backend.listen(path, { removeStale: true });
  cleanups.push(() => backend.close());
  return { backend, device, events };
}

function socketPath(): string {
  return join(tmpdir(), `vmv-vu-ifp-${process.pid}-${counter++}.sock`);
}

/**
 * One crash and restart: `total` requests go in (some after earlier ones completed, so the ring
 * wraps), the device completes those `completeNow` picks, and the backend dies with the rest in
 * flight. A second backend on the same socket gets the same inflight buffer.
 */
async function crashAndRestart(size: number, total: number, completeNow: (n: number) => boolean, warmup: number, remap = false): Promise<void> {
  const path = socketPath();
  const guest = track(new PackedGuest(size));
  const first = serve(path);
  const fe1 = await guest.connect(path);
  // warm-up: completed at once, moves the ring positions and wrap counters
  first.device.mode = 'sync';
  for (let n = 0; n < warmup; n++) {
    guest.submit(n);
    await until(() => (guest.reap(), guest.done.size === n + 1), HANG_MS, `warm-up request ${n}`);
    // a new memory table rebuilds the running ring over new mappings (the old ones go when idle)
    if (remap && n % 7 === 3) await fe1.setMemTable(guest.ram);
  }
  first.device.mode = 'hold';
  for (let n = warmup; n < warmup + total; n++) guest.submit(n);
  await until(() => first.device.held.length === total, HANG_MS, 'the device holding every request');
  const keep: number[] = [];
  for (const h of first.device.held) {
    // the device does not see the driver's token: the request bytes name the request
    const n = requestNumber(h.chain.reader().readBytes(h.chain.readableBytes));
    if (completeNow(n)) first.device.complete(0, h.chain);
    else keep.push(n);
  }
  first.device.held = [];
  await until(() => (guest.reap(), guest.done.size === warmup + total - keep.length), HANG_MS, 'the completed requests');
  // the backend "dies" with `keep` in flight
  first.backend.close();
  fe1.close();
  const second = serve(path);
  second.device.mode = 'sync';
  const fe2 = await guest.connect(path);
  await until(() => (guest.reap(), guest.done.size === warmup + total), HANG_MS, 'the resubmitted requests');
  expect(second.events.filter((e) => e.type === 'ring-error' || e.type === 'needs-reset')).toEqual([]);
  // the second backend reports what it resubmitted (the daemons log it)
  expect(second.events.filter((e) => e.type === 'inflight-resubmitted')).toEqual(keep.length === 0 ? [] : [{ type: 'inflight-resubmitted', index: 0, count: keep.length }]);
  // and new requests continue after the resubmitted ones
  for (let n = warmup + total; n < warmup + total + 3; n++) guest.submit(n);
  await until(() => (guest.reap(), guest.done.size === warmup + total + 3), HANG_MS, 'requests after the restart');
  expect([...guest.done.values()].every((c) => c === 1)).toBe(true);
  // the second device saw exactly the requests left in flight, then the new ones
  expect(second.device.popped).toBe(keep.length + 3);
  fe2.close();
}

describe('inflight tracking on a packed ring (INFLIGHT_SHMFD): a restarted backend resubmits what was in flight', () => {
  it('GET_INFLIGHT_FD gives packed-sized queue regions when the device offers RING_PACKED', async () => {
    const path = socketPath();
    serve(path);
    const guest = track(new PackedGuest(128));
    const fe = await guest.connect(path);
    // QueueRegionPacked: a 32-byte header and 32 bytes per descriptor, rounded up to 64
    expect(guest.inflight!.mmapSize).toBe(BigInt(Math.ceil((32 + 32 * 128) / 64) * 64));
    fe.close();
  });

  it('a restarted backend sends one call once the ring runs, with nothing in flight (its predecessor may have died holding one)', async () => {
    const path = socketPath();
    const guest = track(new PackedGuest(32));
    const first = serve(path);
    const fe1 = await guest.connect(path);
    first.device.mode = 'sync';
    for (let n = 0; n < 3; n++) guest.submit(n);
    await until(() => (guest.reap(), guest.done.size === 3), HANG_MS, 'three requests');
    first.backend.close();
    fe1.close();
    guest.call.read(); // whatever the first backend sent
    const second = serve(path);
    const fe2 = await guest.connect(path);
    await until(() => second.backend.callStats.sent === 1, HANG_MS, 'the restarted backend\'s call');
    expect(guest.call.read()).toBe(1);
    expect(second.device.popped).toBe(0);
    fe2.close();
  });

  it('every request in flight at the crash completes exactly once, with its data', async () => {
    await crashAndRestart(32, 12, (n) => n % 2 === 0, 45);
  });

  it('a memory table change under the running ring keeps tracking it', async () => {
    await crashAndRestart(16, 6, (n) => n % 3 === 1, 30, true);
  });

  it('whatever was in flight, and wherever the ring was (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 8 }), fc.func(fc.boolean()), async (warmup, total, pick) => {
        await crashAndRestart(16, total, (n) => pick(n), warmup);
        while (cleanups.length > 0) cleanups.pop()!();
      }),
      { numRuns: 12 },
    );
  });

  it('a corrupt region fails the ring with VhostUser.InvalidInflightError; the connection stays', async () => {
    const path = socketPath();
    const guest = track(new PackedGuest(16));
    const first = serve(path);
    (await guest.connect(path)).close();
    first.backend.close();
    const m = mmap(guest.inflightFd, Number(guest.inflight!.mmapSize));
    const v = new DataView(m.buffer);
    v.setUint16(12, 0x7777, true); // free_head outside the ring
    m.close();
    const second = serve(path);
    const fe = await guest.connect(path);
    await until(() => second.events.some((e) => e.type === 'ring-error'), HANG_MS, 'the ring error');
    const failed = second.events.find((e) => e.type === 'ring-error') as { error: unknown };
    expect((failed.error as Error).name).toBe('VhostUser.InvalidInflightError');
    expect(await fe.getFeatures()).toBeGreaterThan(0n);
    fe.close();
  });

  it('the region shows the chains in flight in the documented layout', async () => {
    const path = socketPath();
    const guest = track(new PackedGuest(8));
    const s = serve(path);
    const fe = await guest.connect(path);
    s.device.mode = 'hold';
    guest.submit(1);
    guest.submit(3); // indirect: one ring descriptor
    await until(() => s.device.held.length === 2, HANG_MS, 'two requests held');
    const m = mmap(guest.inflightFd, Number(guest.inflight!.mmapSize));
    const v = new DataView(m.buffer);
    expect(v.getUint16(8, true)).toBe(1); // version
    expect(v.getUint16(10, true)).toBe(8); // desc_num
    expect(v.getUint16(12, true)).toBe(3); // free_head: entries 0, 1 (request 1) and 2 (request 3) taken
    expect(v.getUint16(14, true)).toBe(3); // old_free_head
    const e = (i: number, off: number): number => v.getUint16(32 + 32 * i + off, true);
    expect([v.getUint8(32), e(0, 4), e(0, 6)]).toEqual([1, 1, 2]); // inflight, last, num
    expect([v.getUint8(32 + 64), e(2, 4), e(2, 6)]).toEqual([1, 2, 1]);
    expect(e(2, 18) & 4).toBe(4); // the indirect descriptor's flags were kept
    m.close();
    fe.close();
  });
});
