import { afterEach, describe, expect, it } from '@jest/globals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Feature, features } from '@vmv/device-trait';
import { PackedDriver } from '@vmv/queue/driver';
import { EventFd, closeFd, mmap } from '@vmv/sys';
import { VhostUserBackend, type VhostUserBackendEvent } from '@vmv/vhost-user';
import { SharedGuestMemory, VhostUserFrontend } from '@vmv/vhost-user/frontend';
import { ProtocolFeature, VhostUserRequest as Q, protocolFeatureMask, readInflight, type InflightDescription } from '@vmv/vhost-user/protocol';
import { UpperDevice } from './devices';
import { HANG_MS, until as waitUntil } from './frontend';

const WAIT_MS = 5_000;
const until = (cond: () => boolean, _ms: number, what: string): Promise<void> => waitUntil(cond, WAIT_MS, what);

/** UpperDevice that also offers VIRTIO_F_RING_PACKED. */
class PackedUpper extends UpperDevice {
  override readonly deviceFeatures = features(Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC, Feature.RING_PACKED);
}

const PROTOCOL_FEATURES_BIT = 1n << 30n;
const WANTED = features(Feature.VERSION_1, Feature.INDIRECT_DESC, Feature.RING_PACKED) | PROTOCOL_FEATURES_BIT;
const RING = 0x1000;
const REQ = 0x10000;
const RESP = 0x40000;
const SLOT = 64;
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
  readonly device: PackedUpper;
  readonly events: VhostUserBackendEvent[];
}

function serve(path: string): Served {
  const device = new PackedUpper(1, 256);
  const events: VhostUserBackendEvent[] = [];
  const backend = new VhostUserBackend(device, { onEvent: (e) => events.push(e) });
  backend.listen(path, { removeStale: true });
  cleanups.push(() => backend.close());
  return { backend, device, events };
}

/** The guest side that outlives backends: memory, the packed driver and the ring's eventfds. */
class Guest {
  readonly ram = track(SharedGuestMemory.create(1 << 20, { name: 'vu-inflight-packed' }));
  readonly kick = track(new EventFd());
  readonly call = track(new EventFd());
  readonly driver: PackedDriver<number>;
  readonly done = new Map<number, number>();
  inflight: InflightDescription | null = null;
  inflightFd = -1;

  constructor(readonly size: number) {
    const layout = PackedDriver.layout(size, RING);
    this.driver = new PackedDriver<number>(this.ram.memory, { size, descTable: layout.descTable, driverArea: layout.driverArea, deviceArea: layout.deviceArea, eventIdx: false, indirectDesc: true, indirectArea: { address: 0x80000, entriesPerChain: 2 } });
  }

  /** Connects and sets the ring up as QEMU does after a (re)connect. */
  async connect(path: string): Promise<VhostUserFrontend> {
    const fe = track(VhostUserFrontend.connect(path, { replyTimeoutMs: HANG_MS }));
    const offered = await fe.getFeatures();
    await fe.setOwner();
    await fe.setProtocolFeatures((await fe.getProtocolFeatures()) & protocolFeatureMask([ProtocolFeature.INFLIGHT_SHMFD, ProtocolFeature.REPLY_ACK]));
    await fe.setFeatures(offered & WANTED);
    if (this.inflight === null) {
      const r = await fe.request({ request: Q.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: this.size } });
      this.inflight = readInflight(r!.body);
      this.inflightFd = r!.fds[0]!;
      const fd = this.inflightFd;
      cleanups.push(() => closeFd(fd));
    }
    await fe.request({ request: Q.SET_INFLIGHT_FD, needReply: true, inflight: this.inflight, fd: this.inflightFd });
    await fe.setMemTable(this.ram);
    const layout = PackedDriver.layout(this.size, RING);
    await fe.setVringNum(0, this.size);
    await fe.setVringBase(0, 0x8000);
    await fe.setVringAddr(0, this.ram, layout);
    await fe.setVringFd('kick', 0, this.kick.fd);
    await fe.setVringFd('call', 0, this.call.fd);
    await fe.setVringEnable(0, true);
    return fe;
  }

  /** Request `n`: SLOT bytes of text out, SLOT bytes in; some go through an indirect table. */
  submit(n: number): void {
    const slot = n % 256;
    this.ram.memory.write(REQ + slot * SLOT, payload(n));
    this.ram.memory.write(RESP + slot * SLOT, new Uint8Array(SLOT));
    this.driver.add([{ addr: REQ + slot * SLOT, len: SLOT }], [{ addr: RESP + slot * SLOT, len: SLOT }], n, n % 3 === 0);
    this.kick.write(1);
  }

  /** Takes every used buffer; a request completed twice, or with wrong bytes, fails the test. */
  reap(): void {
    for (let u = this.driver.getBuf(); u !== null; u = this.driver.getBuf()) {
      const n = u.token;
      expect(this.done.has(n)).toBe(false);
      expect(u.len).toBe(SLOT);
      const want = payload(n).map((b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b));
      expect(this.ram.memory.view(RESP + (n % 256) * SLOT, SLOT)).toEqual(want);
      this.done.set(n, (this.done.get(n) ?? 0) + 1);
    }
  }
}

function payload(n: number): Uint8Array {
  const text = `request ${n} `.repeat(8).slice(0, SLOT);
  return new TextEncoder().encode(text);
}

function socketPath(): string {
  return join(tmpdir(), `vmv-vu-ifp-${process.pid}-${counter++}.sock`);
}

/**
 * One crash and restart: `total` requests go in (some after earlier ones completed, so the ring
 * wraps), the device completes those `completeNow` picks, and the backend dies with the rest in
 * flight. A second backend on the same socket gets the same inflight buffer.
 */
async function crashAndRestart(size: number, total: number, completeNow: (n: number) => boolean, warmup: number): Promise<void> {
  const path = socketPath();
  const guest = new Guest(size);
  const first = serve(path);
  const fe1 = await guest.connect(path);
  // warm-up: completed at once, moves the ring positions and wrap counters
  first.device.mode = 'sync';
  for (let n = 0; n < warmup; n++) {
    guest.submit(n);
    await until(() => (guest.reap(), guest.done.size === n + 1), HANG_MS, `warm-up request ${n}`);
  }
  first.device.mode = 'hold';
  for (let n = warmup; n < warmup + total; n++) guest.submit(n);
  await until(() => first.device.held.length === total, HANG_MS, 'the device holding every request');
  const keep: number[] = [];
  for (const h of first.device.held) {
    // the device does not see the driver's token: the request bytes name the request
    const text = new TextDecoder().decode(h.chain.reader().readBytes(h.chain.readableBytes));
    const n = Number(/request (\d+)/.exec(text)![1]);
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
    const guest = new Guest(128);
    const fe = await guest.connect(path);
    // QueueRegionPacked: a 32-byte header and 32 bytes per descriptor, rounded up to 64
    expect(guest.inflight!.mmapSize).toBe(BigInt(Math.ceil((32 + 32 * 128) / 64) * 64));
    fe.close();
  });

  it('every request in flight at the crash completes exactly once, with its data', async () => {
    await crashAndRestart(32, 12, (n) => n % 2 === 0, 45);
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
    const guest = new Guest(16);
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
    const guest = new Guest(8);
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
