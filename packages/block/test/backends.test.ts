/**
 * Backends: the in-memory disk, the read-only wrapper, and how the device falls back when a
 * backend lacks an optional operation (WRITE_ZEROES as zero writes, SECURE_ERASE as zeroes plus a
 * flush) or implements it (secureErase, lifetime).
 */
import { describe, expect, it } from '@jest/globals';
import { BlockDevice, BlockStatus, MemoryBackend, RequestType, encodeSegments, isBlockError, readOnlyBackend } from '@vmv/block';
import type { BlockBackend } from '@vmv/block';
import { Harness, requestBytes } from './harness';

/** A backend with only read, write and flush, recording calls. */
function minimal(size: number) {
  const inner = new MemoryBackend(size);
  inner.data.fill(0x77);
  const calls: string[] = [];
  const backend: BlockBackend = {
    size,
    read: (o, b) => inner.read(o, b),
    write: async (o, b) => {
      calls.push(`write ${o} ${b.reduce((s, x) => s + x.length, 0)}`);
      inner.write(o, b);
    },
    flush: () => {
      calls.push('flush');
    },
  };
  return { inner, calls, backend };
}

async function run(h: Harness, readable: Uint8Array, writable = 1) {
  const p = h.add({ readable, writable });
  h.kick();
  await h.settle();
  return p;
}

describe('optional backend operations', () => {
  it('WRITE_ZEROES without writeZeroes: zero writes in 256 KiB pieces (UNMAP ignored)', async () => {
    const { inner, calls, backend } = minimal(2 << 20);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const c = await run(h, requestBytes(RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 8n, numSectors: 1200, flags: 1 }])));
    expect(c.status).toBe(BlockStatus.OK);
    expect(calls).toEqual([`write 4096 262144`, `write 266240 262144`, `write 528384 90112`]);
    expect(inner.data.subarray(4096, 4096 + 1200 * 512).every((x) => x === 0)).toBe(true);
    expect(inner.data[4095]).toBe(0x77);
    expect(inner.data[4096 + 1200 * 512]).toBe(0x77);
  });

  it('SECURE_ERASE forced on a backend without secureErase or writeZeroes: zero writes, then a flush', async () => {
    const { inner, calls, backend } = minimal(1 << 20);
    const h = new Harness({ device: { backend, secureErase: true }, memSize: 4 << 20 });
    const c = await run(h, requestBytes(RequestType.SECURE_ERASE, 0, encodeSegments([{ sector: 2n, numSectors: 2, flags: 0 }])));
    expect(c.status).toBe(BlockStatus.OK);
    expect(calls).toEqual(['write 1024 1024', 'flush']);
    expect(inner.data.subarray(1024, 2048).every((x) => x === 0)).toBe(true);
  });

  it('SECURE_ERASE with the backend’s secureErase: called per segment, no extra flush', async () => {
    const inner = new MemoryBackend(1 << 20);
    const calls: string[] = [];
    const backend: BlockBackend = {
      size: inner.size,
      read: (o, b) => inner.read(o, b),
      write: (o, b) => inner.write(o, b),
      flush: () => void calls.push('flush'),
      secureErase: (o, l) => void calls.push(`erase ${o} ${l}`),
    };
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const c = await run(h, requestBytes(RequestType.SECURE_ERASE, 0, encodeSegments([{ sector: 0n, numSectors: 1, flags: 0 }, { sector: 10n, numSectors: 3, flags: 0 }])));
    expect(c.status).toBe(BlockStatus.OK);
    expect(calls).toEqual(['erase 0 512', 'erase 5120 1536']);
  });

  it('a synchronous throw from flush, discard or write fails that request with IOERR', async () => {
    const boom = () => {
      throw new Error('EIO');
    };
    const backend: BlockBackend = { size: 1 << 20, read: () => undefined, write: boom, flush: boom, discard: boom };
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    expect((await run(h, requestBytes(RequestType.FLUSH, 0))).status).toBe(BlockStatus.IOERR);
    expect((await run(h, requestBytes(RequestType.DISCARD, 0, encodeSegments([{ sector: 0n, numSectors: 1, flags: 0 }])))).status).toBe(BlockStatus.IOERR);
    expect((await run(h, requestBytes(RequestType.OUT, 0, new Uint8Array(512)))).status).toBe(BlockStatus.IOERR);
    expect(h.device.stats.backendErrors).toBe(3);
  });

  it('writethrough: a flush that throws after a successful write fails the write with IOERR', async () => {
    const inner = new MemoryBackend(1 << 20);
    const backend: BlockBackend = {
      size: inner.size,
      read: (o, b) => inner.read(o, b),
      write: (o, b) => inner.write(o, b),
      flush: () => {
        throw new Error('EIO');
      },
    };
    const h = new Harness({ device: { backend, writeback: false }, memSize: 4 << 20, features: new BlockDevice({ backend }).deviceFeatures });
    expect(h.device.writeback).toBe(false);
    expect((await run(h, requestBytes(RequestType.OUT, 0, new Uint8Array(512)))).status).toBe(BlockStatus.IOERR);
  });
});

describe('MemoryBackend', () => {
  it('takes a size, a Uint8Array (in place), an ArrayBuffer or a SharedArrayBuffer', () => {
    const bytes = new Uint8Array(1024);
    const m = new MemoryBackend(bytes);
    m.write(512, [Uint8Array.of(9)]);
    expect(bytes[512]).toBe(9);
    expect(new MemoryBackend(new ArrayBuffer(512)).size).toBe(512);
    expect(new MemoryBackend(new SharedArrayBuffer(1024)).size).toBe(1024);
    expect(() => new MemoryBackend('x' as never)).toThrow(TypeError);
    expect(() => new MemoryBackend(100)).toThrow(RangeError);
    expect(() => new MemoryBackend(new Uint8Array(100))).toThrow(RangeError);
    m.resize(512);
    expect(m.size).toBe(512);
    expect(m.data[0]).toBe(0);
    expect(() => m.resize(3)).toThrow(RangeError);
  });
});

describe('readOnlyBackend', () => {
  it('passes reads, flushes and lifetime through; refuses every write-type operation by name', async () => {
    const inner = new MemoryBackend(4096);
    inner.data[0] = 5;
    let flushed = 0;
    const base: BlockBackend = { size: inner.size, read: (o, b) => inner.read(o, b), write: (o, b) => inner.write(o, b), flush: () => void flushed++, lifetime: () => ({ preEolInfo: 2, deviceLifetimeEstTypA: 1, deviceLifetimeEstTypB: 1 }) };
    const ro = readOnlyBackend(base);
    expect(ro.readOnly).toBe(true);
    expect(ro.canUnmap).toBe(false);
    expect(ro.size).toBe(4096);
    const b = new Uint8Array(512);
    await ro.read(0, [b]);
    expect(b[0]).toBe(5);
    await ro.flush();
    expect(flushed).toBe(1);
    expect(await ro.lifetime!()).toEqual({ preEolInfo: 2, deviceLifetimeEstTypA: 1, deviceLifetimeEstTypB: 1 });
    for (const op of [() => ro.write(0, [b]), () => ro.discard!(0, 512), () => ro.writeZeroes!(0, 512, false), () => ro.secureErase!(0, 512)]) {
      let caught: unknown;
      try {
        op();
      } catch (e) {
        caught = e;
      }
      expect(isBlockError(caught, 'Block.ReadOnlyError')).toBe(true);
    }
    expect(readOnlyBackend(new MemoryBackend(512)).lifetime).toBeUndefined();
    expect(() => readOnlyBackend({} as never)).toThrow(TypeError);
  });
});
