/**
 * End to end, in process, as a Linux guest drives it: the virtio-mmio driver model (Linux 6.1's
 * virtio_mmio.c and virtio core) on an IoManager, the VirtioMmioTransport, and the BlockDevice over
 * a memory disk and a real file. Probe, negotiation with virtio_blk's feature table, config reads
 * (capacity, seg_max, writeback), requests with interrupts, a writeback switch, a resize with its
 * config-change interrupt, and a reset with I/O in flight.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryInterruptController, IoManager, MmioRange } from '@vmv/bus';
import { BlockConfigOffset as O, BlockDevice, BlockFeature as B, BlockStatus, MemoryBackend, RequestType, decodeId, encodeSegments } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { FileBackend } from '@vmv/block/node';
import { DeviceId, Feature, featureBit } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { MMIO_DEFAULT_REGION_SIZE, MmioRegister as R, VirtioMmioTransport } from '@vmv/transport-mmio';
import { VirtioMmioDriver } from '@vmv/transport-mmio/driver';
import type { DriverQueue } from '@vmv/transport-mmio/driver';
import { encodeRequestHeader } from '@vmv/block';
import { pattern, sameBytes } from './harness';

const BASE = 0xd000_0000;
const IRQ = 7;
/** virtio_blk's feature table (Linux 6.1 drivers/block/virtio_blk.c `features[]`). */
const LINUX_BLK_FEATURES = [B.SEG_MAX, B.SIZE_MAX, B.GEOMETRY, B.RO, B.BLK_SIZE, B.FLUSH, B.TOPOLOGY, B.CONFIG_WCE, B.MQ, B.DISCARD, B.WRITE_ZEROES, B.SECURE_ERASE];

const dir = mkdtempSync(join(tmpdir(), 'vmv-block-mmio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Req {
  id: number;
  status: number;
}

/** Every transport feature bit (28..40) kept by the driver model: it accepts whatever the device offers. */
const ALL_TRANSPORT_FEATURES = Array.from({ length: 13 }, (_, i) => 28 + i);

function machine(backend: BlockBackend, opts: Partial<ConstructorParameters<typeof BlockDevice>[0]> = {}, transportFeatures?: number[]) {
  const memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(8 << 20) }]);
  const irqs = new InMemoryInterruptController({});
  const device = new BlockDevice({ backend, serial: 'mmio-disk', ...opts });
  const transport = new VirtioMmioTransport(device, { memory, interrupt: irqs.createLegacyGroup(IRQ, 1, 'level') });
  const io = new IoManager();
  io.registerMmio(new MmioRange(BASE, MMIO_DEFAULT_REGION_SIZE), transport);
  let configChanges = 0;
  const driver = new VirtioMmioDriver({ bus: io, base: BASE, memory, ringMemory: { base: 0x10_0000, size: 0x10_0000 }, onConfigChange: () => configChanges++, ...(transportFeatures ? { transportFeatures } : {}) });
  const done = new Map<number, number>();
  const drain = (q: DriverQueue<unknown>) => {
    for (let u = q.getBuf(); u !== null; u = q.getBuf()) {
      const r = u.token as Req;
      done.set(r.id, u.len);
    }
  };
  let next = 0x40_0000;
  let ids = 0;
  /** Places a Linux-shaped request (header, data, status) and kicks; returns its id and status address. */
  const submit = (q: DriverQueue<unknown>, type: number, sector: number, data: Uint8Array | number) => {
    const hdr = next;
    memory.write(hdr, encodeRequestHeader({ type, sector: BigInt(sector) }));
    const buf = hdr + 64;
    const len = typeof data === 'number' ? data : data.length;
    if (typeof data !== 'number') memory.write(buf, data);
    const status = buf + len + 64;
    memory.writeU8(status, 0xff);
    next = status + 64;
    const req: Req = { id: ids++, status };
    const out = [{ addr: hdr, len: 16 }];
    const inBufs = [{ addr: status, len: 1 }];
    if (len > 0) (typeof data === 'number' ? inBufs : out).splice(typeof data === 'number' ? 0 : 1, 0, { addr: buf, len });
    q.add(out, inBufs, req);
    q.kick();
    return { req, buf, len };
  };
  return { memory, irqs, device, transport, driver, drain, done, submit, configChanges: () => configChanges };
}

const settle = async (m: ReturnType<typeof machine>) => {
  for (let i = 0; i < 5; i++) {
    await m.device.drain();
    await new Promise((r) => setImmediate(r));
    if (m.irqs.isAsserted(IRQ)) m.driver.interrupt();
  }
};

describe('BlockDevice behind the virtio-mmio transport, driven like Linux', () => {
  it.each(['memory', 'file'] as const)('probes, negotiates, reads config, and serves requests (%s backend)', async (kind) => {
    const backend = kind === 'memory' ? new MemoryBackend(4 << 20) : await FileBackend.open(join(dir, 'mmio.img'), { create: true, size: 4 << 20 });
    const m = machine(backend, { blkSize: 4096 });
    const { driver } = m;
    expect(driver.probe().deviceId).toBe(DeviceId.BLOCK);
    const negotiated = driver.negotiate(LINUX_BLK_FEATURES);
    for (const f of [B.SEG_MAX, B.FLUSH, B.CONFIG_WCE, B.BLK_SIZE, B.DISCARD, B.WRITE_ZEROES, Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC]) expect((negotiated >> BigInt(f)) & 1n).toBe(1n);
    expect(driver.cread64(O.capacity)).toBe(BigInt((4 << 20) / 512));
    expect(driver.cread32(O.segMax)).toBe(254);
    expect(driver.cread32(O.blkSize)).toBe(4096);
    expect(driver.cread8(O.writeback)).toBe(1);
    const q = driver.setupQueue(0, { callback: m.drain, indirectEntries: 8 });
    driver.ready();

    const data = pattern(64 << 10, 11);
    const w = m.submit(q, RequestType.OUT, 2048, data);
    await settle(m);
    expect(m.done.get(w.req.id)).toBe(1);
    expect(m.memory.readU8(w.req.status)).toBe(BlockStatus.OK);
    const f = m.submit(q, RequestType.FLUSH, 0, 0);
    await settle(m);
    expect(m.memory.readU8(f.req.status)).toBe(BlockStatus.OK);
    if (kind === 'file') expect(sameBytes(readFileSync(join(dir, 'mmio.img')).subarray(2048 * 512, 2048 * 512 + data.length), data)).toBe(true);
    const r = m.submit(q, RequestType.IN, 2048, data.length);
    const id = m.submit(q, RequestType.GET_ID, 0, 20);
    await settle(m);
    expect(m.done.get(r.req.id)).toBe(data.length + 1);
    const back = new Uint8Array(data.length);
    m.memory.read(r.buf, back);
    expect(sameBytes(back, data)).toBe(true);
    const idBytes = new Uint8Array(20);
    m.memory.read(id.buf, idBytes);
    expect(decodeId(idBytes)).toBe('mmio-disk');
    expect(m.device.stats.ioerr + m.device.stats.unsupp).toBe(0);
    if (backend instanceof FileBackend) await backend.close();
  });

  it('switches to writethrough through the writeback field, and resizes with a config-change interrupt', async () => {
    const backend = new MemoryBackend(1 << 20);
    let flushes = 0;
    const counting: BlockBackend = { get size() { return backend.size; }, read: (o, b) => backend.read(o, b), write: (o, b) => backend.write(o, b), flush: () => void flushes++ };
    const m = machine(counting);
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    m.driver.cwrite8(O.writeback, 0);
    expect(m.driver.cread8(O.writeback)).toBe(0);
    m.submit(q, RequestType.OUT, 0, new Uint8Array(512));
    await settle(m);
    expect(flushes).toBe(1);

    const gen = m.driver.generation();
    backend.resize(2 << 20);
    m.device.resize();
    expect(m.irqs.isAsserted(IRQ)).toBe(true);
    expect(m.driver.interrupt() & 2).toBe(2); // configuration change
    expect(m.configChanges()).toBe(1);
    expect(m.driver.generation()).not.toBe(gen);
    expect(m.driver.cread64(O.capacity)).toBe(4096n);
  });

  it('a kick with nothing available is harmless: no used entry, no interrupt, no error (§2.7.10.2)', async () => {
    const m = machine(new MemoryBackend(1 << 20));
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    for (let i = 0; i < 3; i++) q.notify();
    await settle(m);
    expect(m.irqs.isAsserted(IRQ)).toBe(false);
    expect(m.done.size).toBe(0);
    expect(m.driver.needsReset()).toBe(false);
    expect(m.device.stats.requests).toBe(0);
    // One request, then the same kick again with nothing new: exactly one completion.
    const r = m.submit(q, RequestType.IN, 0, 512);
    await settle(m);
    q.notify();
    q.notify();
    await settle(m);
    expect([...m.done]).toEqual([[r.req.id, 513]]);
    expect(m.device.stats.requests).toBe(1);
    expect(m.driver.needsReset()).toBe(false);
  });

  it('a read-only device: the driver sees RO; writes fail, reads work', async () => {
    const m = machine(new MemoryBackend(1 << 20, { readOnly: true }));
    m.driver.probe();
    const negotiated = m.driver.negotiate(LINUX_BLK_FEATURES);
    expect((negotiated >> BigInt(B.RO)) & 1n).toBe(1n);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const w = m.submit(q, RequestType.OUT, 0, new Uint8Array(512));
    const r = m.submit(q, RequestType.IN, 0, 512);
    await settle(m);
    expect(m.memory.readU8(w.req.status)).toBe(BlockStatus.IOERR);
    expect(m.memory.readU8(r.req.status)).toBe(BlockStatus.OK);
  });

  it('a driver reset with a request in flight: the late completion touches nothing, the device serves again', async () => {
    let release: (() => void) | null = null;
    const inner = new MemoryBackend(1 << 20);
    const slow: BlockBackend = {
      size: inner.size,
      read: (o, b) => new Promise<void>((res) => (release = () => {
        inner.read(o, b);
        res();
      })),
      write: (o, b) => inner.write(o, b),
      flush: () => undefined,
    };
    const m = machine(slow);
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const r = m.submit(q, RequestType.IN, 0, 512);
    expect(release).not.toBeNull();
    m.driver.reset();
    release!();
    await m.device.drain();
    expect(m.memory.readU8(r.req.status)).toBe(0xff);
    expect(m.done.has(r.req.id)).toBe(false);
    // Probe again and serve.
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q2 = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const w = m.submit(q2, RequestType.OUT, 0, new Uint8Array(512).fill(3));
    await settle(m);
    expect(m.memory.readU8(w.req.status)).toBe(BlockStatus.OK);
    expect(inner.data[0]).toBe(3);
  });
});

/** A backend whose reads wait until the test releases them. */
function slowReads(inner: MemoryBackend): { backend: BlockBackend; release: () => void; pending: () => number } {
  const waiting: (() => void)[] = [];
  const backend: BlockBackend = {
    size: inner.size,
    read: (o, b) =>
      new Promise<void>((res) =>
        waiting.push(() => {
          inner.read(o, b);
          res();
        }),
      ),
    write: (o, b) => inner.write(o, b),
    flush: () => undefined,
  };
  return { backend, release: () => waiting.splice(0).forEach((w) => w()), pending: () => waiting.length };
}

const RING_RESET = featureBit(Feature.RING_RESET);
const DEFAULT_RING = featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX);

describe('a device reset with a read in flight (VIRTIO 1.2 §2.4.1)', () => {
  it.each([false, true])('Status reads 0 at once; the read lands in guest memory only with directReads (directReads: %s)', async (directReads) => {
    const inner = new MemoryBackend(1 << 20);
    inner.data.fill(0x5a, 0, 4096);
    const slow = slowReads(inner);
    const m = machine(slow.backend, { directReads });
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const r = m.submit(q, RequestType.IN, 0, 4096);
    m.memory.write(r.buf, new Uint8Array(4096).fill(0xee));
    expect(slow.pending()).toBe(1);
    // Linux 6.1's vm_reset writes 0, and virtio_add_status reads Status once: it must be 0.
    m.driver.writeRegister(R.STATUS, 0);
    expect(m.driver.getStatus()).toBe(0);
    slow.release();
    await m.device.drain();
    const after = new Uint8Array(4096);
    m.memory.read(r.buf, after);
    // Default: the pages Linux reuses after the reset keep what it put there.
    expect(after.every((x) => x === (directReads ? 0x5a : 0xee))).toBe(true);
    expect(m.memory.readU8(r.req.status)).toBe(0xff);
    expect(m.done.size).toBe(0);
  });

  it('serves reads through its own buffer into any descriptor layout', async () => {
    const inner = new MemoryBackend(1 << 20);
    for (let i = 0; i < 3 * 4096; i++) inner.data[i] = (i * 7) & 0xff;
    const m = machine(inner);
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    // Three data descriptors of different lengths (Linux splits at page boundaries).
    const hdr = 0x60_0000;
    m.memory.write(hdr, encodeRequestHeader({ type: RequestType.IN, sector: 0n }));
    const bufs = [
      { addr: 0x61_0000, len: 512 },
      { addr: 0x62_0000, len: 4096 * 2 },
      { addr: 0x63_0000, len: 4096 - 512 },
    ];
    q.add([{ addr: hdr, len: 16 }], [...bufs, { addr: 0x64_0000, len: 1 }], { id: 99, status: 0x64_0000 });
    q.kick();
    await settle(m);
    expect(m.done.get(99)).toBe(3 * 4096 + 1);
    expect(m.memory.readU8(0x64_0000)).toBe(BlockStatus.OK);
    const got = new Uint8Array(3 * 4096);
    let at = 0;
    for (const b of bufs) {
      m.memory.read(b.addr, got.subarray(at, at + b.len));
      at += b.len;
    }
    expect(sameBytes(got, inner.data.subarray(0, 3 * 4096))).toBe(true);
  });
});

describe('queues the driver takes back (VIRTIO 1.2 §2.6.1, §4.2.2.1)', () => {
  it('QueueReady = 0 with a read in flight: no status, no used element, no interrupt; the other queue goes on', async () => {
    const inner = new MemoryBackend(1 << 20);
    inner.data.fill(7, 0, 512);
    const slow = slowReads(inner);
    const m = machine(slow.backend, { numQueues: 2 });
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q0 = m.driver.setupQueue(0, { callback: m.drain });
    const q1 = m.driver.setupQueue(1, { callback: m.drain });
    m.driver.ready();
    const r = m.submit(q0, RequestType.IN, 0, 512);
    expect(slow.pending()).toBe(1);
    m.driver.writeRegister(R.QUEUE_SEL, 0);
    m.driver.writeRegister(R.QUEUE_READY, 0);
    expect(m.driver.readRegister(R.QUEUE_READY)).toBe(0);
    slow.release();
    await m.device.drain();
    expect(m.irqs.isAsserted(IRQ)).toBe(false);
    m.drain(q0); // reads the used ring whether or not an interrupt came
    expect(m.memory.readU8(r.req.status)).toBe(0xff);
    expect(m.memory.readU8(r.buf)).toBe(0); // the data did not land either
    expect(m.done.has(r.req.id)).toBe(false);
    expect(m.device.inFlight).toBe(0);
    // A kick of the queue taken back is refused by the transport; the other queue serves.
    const w = m.submit(q1, RequestType.OUT, 8, new Uint8Array(512).fill(9));
    await settle(m);
    expect(m.memory.readU8(w.req.status)).toBe(BlockStatus.OK);
    expect(inner.data[8 * 512]).toBe(9);
    expect(m.driver.needsReset()).toBe(false);
  });

  it('QueueReady = 0 while requests wait for the in-flight budget: the freed slot does not read the queue again', async () => {
    const inner = new MemoryBackend(1 << 20);
    inner.data.fill(0x77, 0, 8192);
    const slow = slowReads(inner);
    const m = machine(slow.backend, { maxInflight: 1 });
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const reqs = [m.submit(q, RequestType.IN, 0, 512), m.submit(q, RequestType.IN, 8, 512)];
    expect([slow.pending(), m.device.stats.requests]).toEqual([1, 1]); // the second waits for the slot
    m.driver.writeRegister(R.QUEUE_SEL, 0);
    m.driver.writeRegister(R.QUEUE_READY, 0);
    slow.release();
    await m.device.drain();
    await settle(m);
    expect([slow.pending(), m.device.stats.requests]).toEqual([0, 1]);
    m.drain(q);
    expect(m.done.size).toBe(0);
    for (const r of reqs) expect([m.memory.readU8(r.req.status), m.memory.readU8(r.buf)]).toEqual([0xff, 0]);
  });

  it('with VIRTIO_F_RING_RESET: a queue reset drops the request in flight; the queue set up again serves from its start', async () => {
    const inner = new MemoryBackend(1 << 20);
    const slow = slowReads(inner);
    const m = machine(slow.backend, { ringFeatures: DEFAULT_RING | RING_RESET }, ALL_TRANSPORT_FEATURES);
    m.driver.probe();
    const negotiated = m.driver.negotiate(LINUX_BLK_FEATURES);
    expect(negotiated & RING_RESET).toBe(RING_RESET);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const r1 = m.submit(q, RequestType.IN, 0, 512);
    const r2 = m.submit(q, RequestType.IN, 8, 512);
    expect(slow.pending()).toBe(2);
    m.driver.writeRegister(R.QUEUE_SEL, 0);
    m.driver.writeRegister(R.QUEUE_RESET, 1);
    expect(m.driver.readRegister(R.QUEUE_RESET)).toBe(0);
    expect(m.driver.readRegister(R.QUEUE_READY)).toBe(0);
    slow.release();
    await m.device.drain();
    expect(m.irqs.isAsserted(IRQ)).toBe(false);
    m.drain(q);
    for (const rq of [r1, r2]) expect(m.memory.readU8(rq.req.status)).toBe(0xff);
    expect(m.done.size).toBe(0);
    // Set up again (new ring memory, positions from 0): served as at activation.
    const q2 = m.driver.setupQueue(0, { callback: m.drain });
    const w = m.submit(q2, RequestType.OUT, 16, new Uint8Array(512).fill(5));
    const r3 = m.submit(q2, RequestType.IN, 16, 512);
    expect(slow.pending()).toBe(1);
    slow.release();
    await settle(m);
    expect(m.memory.readU8(w.req.status)).toBe(BlockStatus.OK);
    expect(m.memory.readU8(r3.req.status)).toBe(BlockStatus.OK);
    expect(m.memory.readU8(r3.buf)).toBe(5);
    expect([...m.done.keys()].sort()).toEqual([w.req.id, r3.req.id].sort());
    expect(m.driver.needsReset()).toBe(false);
  });
});

describe('features offered only when done (VIRTIO 1.2 §2.2.2, §6.2)', () => {
  it('never offers VIRTIO_F_IN_ORDER: a driver that would take it never gets it; asking for it is refused', () => {
    const IN_ORDER = featureBit(Feature.IN_ORDER);
    const rings = [undefined, featureBit(Feature.RING_PACKED), DEFAULT_RING | featureBit(Feature.RING_PACKED) | RING_RESET];
    for (const ringFeatures of rings) {
      const m = machine(new MemoryBackend(1 << 20), ringFeatures === undefined ? {} : { ringFeatures }, ALL_TRANSPORT_FEATURES);
      m.driver.probe();
      m.driver.writeRegister(R.DEVICE_FEATURES_SEL, 1);
      expect(m.driver.readRegister(R.DEVICE_FEATURES) & (1 << (Feature.IN_ORDER - 32))).toBe(0);
      const negotiated = m.driver.negotiate(0xffff_ffff_ffff_ffffn);
      expect(negotiated & IN_ORDER).toBe(0n);
    }
    for (const bit of [Feature.IN_ORDER, Feature.ORDER_PLATFORM, Feature.SR_IOV, Feature.NOTIFICATION_DATA, Feature.NOTIF_CONFIG_DATA, 41, 63]) {
      expect(() => new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: DEFAULT_RING | featureBit(bit) })).toThrow(RangeError);
    }
    expect(() => new BlockDevice({ backend: new MemoryBackend(4096), ringFeatures: DEFAULT_RING | featureBit(Feature.IN_ORDER) })).toThrow(/IN_ORDER/);
  });
});

describe('write_zeroes_may_unmap follows the backend (VIRTIO 1.2 §5.2.6.2)', () => {
  it('goes to 0 with a configuration change when hole punching turns out unsupported', async () => {
    const path = join(dir, 'no-punch.img');
    writeFileSync(path, Buffer.alloc(1 << 20, 0xcd));
    const punches: number[] = [];
    const backend = await FileBackend.open(path, {
      punchHole: (fd, offset, length) => {
        punches.push(offset);
        if (punches.length > 1) throw Object.assign(new Error('not supported'), { code: 'EOPNOTSUPP' });
        writeSync(fd, Buffer.alloc(length), 0, length, offset);
      },
    });
    const m = machine(backend);
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    expect(m.driver.cread8(O.writeZeroesMayUnmap)).toBe(1);
    const gen = m.driver.generation();
    // Punching works: nothing changes.
    const a = m.submit(q, RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 0n, numSectors: 2, flags: 1 }]));
    await settle(m);
    expect(m.memory.readU8(a.req.status)).toBe(BlockStatus.OK);
    expect([m.driver.cread8(O.writeZeroesMayUnmap), m.driver.generation(), m.configChanges()]).toEqual([1, gen, 0]);
    // EOPNOTSUPP: zeroes are written instead, and the driver is told the device cannot unmap.
    const b = m.submit(q, RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 4n, numSectors: 2, flags: 1 }]));
    await settle(m);
    expect(m.memory.readU8(b.req.status)).toBe(BlockStatus.OK);
    expect(punches).toEqual([0, 2048]);
    expect(m.configChanges()).toBe(1);
    expect(m.driver.generation()).not.toBe(gen);
    expect(m.driver.cread8(O.writeZeroesMayUnmap)).toBe(0);
    const file = readFileSync(path);
    expect(file.subarray(2048, 3072).every((x) => x === 0)).toBe(true);
    // Told once: later requests change nothing.
    m.submit(q, RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 8n, numSectors: 1, flags: 1 }]));
    m.submit(q, RequestType.DISCARD, 0, encodeSegments([{ sector: 10n, numSectors: 1, flags: 0 }]));
    await settle(m);
    expect(m.configChanges()).toBe(1);
    await m.device.drain();
    await backend.close();
  });

  it('a value the embedder gave is kept', async () => {
    const m = machine(new MemoryBackend(1 << 20), { writeZeroes: { mayUnmap: true } });
    m.driver.probe();
    m.driver.negotiate(LINUX_BLK_FEATURES);
    const q = m.driver.setupQueue(0, { callback: m.drain });
    m.driver.ready();
    const a = m.submit(q, RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 0n, numSectors: 2, flags: 1 }]));
    await settle(m);
    expect(m.memory.readU8(a.req.status)).toBe(BlockStatus.OK);
    expect([m.driver.cread8(O.writeZeroesMayUnmap), m.configChanges()]).toEqual([1, 0]);
  });
});
