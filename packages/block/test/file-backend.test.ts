/**
 * The file backend on real files: requests through the device, durability checked by reading the
 * file independently of the device, O_DIRECT, scatter-gather beyond IOV_MAX, reads past the end
 * of the file, hole punching through an injected function, and failures of the host.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs';
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockDevice, BlockFeature, BlockStatus, IoError, ReadOnlyError, RequestType, encodeSegments } from '@vmv/block';
import { FileBackend } from '@vmv/block/node';
import { hasFeature } from '@vmv/device-trait';
import { Harness, pattern, requestBytes, sameBytes } from './harness';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-block-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Reads the file through a fresh descriptor, not through the backend. */
function independentRead(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

async function run(h: Harness, req: Parameters<Harness['add']>[0]) {
  const p = h.add(req);
  h.kick();
  await h.settle();
  return p;
}

describe('FileBackend through the device', () => {
  it.each([false, true])('writes, flushes and reads back a real file (O_DIRECT %s); the data is in the file', async (direct) => {
    const path = join(dir, `disk-${direct}.img`);
    const backend = await FileBackend.open(path, { create: true, size: 1 << 20, direct });
    expect(backend.size).toBe(1 << 20);
    if (direct) expect(backend.direct).toBe(true); // ext4/xfs here; tmpfs would fall back
    const h = new Harness({ device: { backend, serial: 'file0' }, memSize: 8 << 20 });
    const writes: [number, Uint8Array][] = [
      [0, pattern(4096, 1)],
      [9, pattern(512, 2)], // unaligned to 4 KiB
      [100, pattern(1 << 17, 3)], // 128 KiB
    ];
    for (const [sector, data] of writes) {
      const c = await run(h, { readable: requestBytes(RequestType.OUT, sector, data), writable: 1, layout: { readPieces: [16, data.length / 2, data.length / 2] } });
      expect(c.status).toBe(BlockStatus.OK);
    }
    const f = await run(h, { readable: requestBytes(RequestType.FLUSH, 0), writable: 1 });
    expect(f.status).toBe(BlockStatus.OK);
    for (const [sector, data] of writes) expect(sameBytes(independentRead(path, sector * 512, data.length), data)).toBe(true);
    const r = await run(h, { readable: requestBytes(RequestType.IN, 100), writable: (1 << 17) + 1, layout: { writePieces: [1000, 3096, (1 << 17) - 4096, 1] } });
    expect(r.status).toBe(BlockStatus.OK);
    expect(sameBytes(r.writable.subarray(0, 1 << 17), writes[2]![1])).toBe(true);
    await backend.close();
  });

  it('FLUSH is fdatasync on the file: it fails with the errno when the descriptor is gone', async () => {
    const path = join(dir, 'sync.img');
    const backend = await FileBackend.open(path, { create: true, size: 64 << 10 });
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const w = await run(h, { readable: requestBytes(RequestType.OUT, 0, pattern(512, 9)), writable: 1 });
    expect(w.status).toBe(BlockStatus.OK);
    expect((await run(h, { readable: requestBytes(RequestType.FLUSH, 0), writable: 1 })).status).toBe(BlockStatus.OK);
    expect(sameBytes(readFileSync(path).subarray(0, 512), pattern(512, 9))).toBe(true);
    closeSync(backend.fd);
    await expect(backend.flush()).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError', errno: 'EBADF' }));
    expect((await run(h, { readable: requestBytes(RequestType.FLUSH, 0), writable: 1 })).status).toBe(BlockStatus.IOERR);
  });

  it('WRITE_ZEROES writes zeroes; DISCARD without a hole puncher changes nothing (allowed)', async () => {
    const path = join(dir, 'wz.img');
    writeFileSync(path, Buffer.alloc(64 << 10, 0xab));
    const backend = await FileBackend.open(path);
    expect(backend.canUnmap).toBe(false);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    expect(hasFeature(h.device.deviceFeatures, BlockFeature.DISCARD)).toBe(true);
    const wz = await run(h, { readable: requestBytes(RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 2n, numSectors: 3, flags: 1 }])), writable: 1 });
    expect(wz.status).toBe(BlockStatus.OK);
    const d = await run(h, { readable: requestBytes(RequestType.DISCARD, 0, encodeSegments([{ sector: 20n, numSectors: 4, flags: 0 }])), writable: 1 });
    expect(d.status).toBe(BlockStatus.OK);
    const file = readFileSync(path);
    expect(file.subarray(1024, 2560).every((x) => x === 0)).toBe(true);
    expect(file[1023]).toBe(0xab);
    expect(file[2560]).toBe(0xab);
    expect(file.subarray(20 * 512, 24 * 512).every((x) => x === 0xab)).toBe(true);
    await backend.close();
  });

  it('punches holes through an injected punchHole, and falls back to zero writes on EOPNOTSUPP', async () => {
    const path = join(dir, 'punch.img');
    writeFileSync(path, Buffer.alloc(64 << 10, 0xcd));
    const calls: [number, number][] = [];
    let supported = true;
    const backend = await FileBackend.open(path, {
      punchHole: (fd, offset, length) => {
        calls.push([offset, length]);
        if (!supported) throw Object.assign(new Error('not supported'), { code: 'EOPNOTSUPP' });
        // Emulate a punched hole: zeroes in place.
        fs.writeSync(fd, Buffer.alloc(length), 0, length, offset);
      },
    });
    expect(backend.canUnmap).toBe(true);
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    const cfg = new Uint8Array(96);
    h.device.readConfig(0, cfg);
    expect(cfg[56]).toBe(1); // write_zeroes_may_unmap
    await run(h, { readable: requestBytes(RequestType.DISCARD, 0, encodeSegments([{ sector: 0n, numSectors: 2, flags: 0 }])), writable: 1 });
    await run(h, { readable: requestBytes(RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 4n, numSectors: 2, flags: 1 }])), writable: 1 });
    await run(h, { readable: requestBytes(RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 8n, numSectors: 2, flags: 0 }])), writable: 1 });
    expect(calls).toEqual([
      [0, 1024],
      [2048, 1024],
    ]);
    supported = false;
    const c = await run(h, { readable: requestBytes(RequestType.WRITE_ZEROES, 0, encodeSegments([{ sector: 12n, numSectors: 2, flags: 1 }])), writable: 1 });
    expect(c.status).toBe(BlockStatus.OK);
    expect(backend.canUnmap).toBe(false);
    const file = readFileSync(path);
    for (const s of [0, 4, 8, 12]) expect(file.subarray(s * 512, (s + 2) * 512).every((x) => x === 0)).toBe(true);
    expect(file[14 * 512]).toBe(0xcd);
    await backend.close();
  });

  it('a read-only file gives a read-only device', async () => {
    const path = join(dir, 'ro.img');
    writeFileSync(path, Buffer.alloc(4096, 1));
    const backend = await FileBackend.open(path, { readOnly: true });
    const h = new Harness({ device: { backend }, memSize: 4 << 20 });
    expect(h.device.readOnly).toBe(true);
    const c = await run(h, { readable: requestBytes(RequestType.OUT, 0, new Uint8Array(512)), writable: 1 });
    expect(c.status).toBe(BlockStatus.IOERR);
    await expect(backend.write(0, [new Uint8Array(512)])).rejects.toThrow(expect.objectContaining({ name: 'Block.ReadOnlyError' }));
    await expect(backend.writeZeroes(0, 512)).rejects.toThrow(expect.objectContaining({ name: 'Block.ReadOnlyError' }));
    expect(readFileSync(path).every((x) => x === 1)).toBe(true);
    await backend.close();
  });

  it('truncate grows the file; the device resizes', async () => {
    const path = join(dir, 'grow.img');
    const backend = await FileBackend.open(path, { create: true, size: 4096 });
    const d = new BlockDevice({ backend });
    expect(d.capacity).toBe(8);
    await backend.truncate(8192);
    d.resize();
    expect(d.capacity).toBe(16);
    truncateSync(path, 16384);
    expect(await backend.refreshSize()).toBe(16384);
    await expect(backend.truncate(100)).rejects.toThrow(RangeError);
    await backend.close();
    await backend.close();
  });
});

describe('FileBackend directly', () => {
  it('transfers more buffers than IOV_MAX in one call', async () => {
    const path = join(dir, 'iov.img');
    const backend = await FileBackend.open(path, { create: true, size: 2 << 20 });
    const data = pattern(1500 * 512, 4);
    const bufs = Array.from({ length: 1500 }, (_, i) => data.subarray(i * 512, (i + 1) * 512));
    await backend.write(4096, bufs);
    expect(sameBytes(independentRead(path, 4096, data.length), data)).toBe(true);
    const back = Array.from({ length: 1500 }, () => new Uint8Array(512));
    await backend.read(4096, back);
    expect(sameBytes(Buffer.concat(back), data)).toBe(true);
    await backend.close();
  });

  it('O_DIRECT: an operation the kernel refuses for alignment (EINVAL) is redone buffered; multi-MiB requests go through the bounce buffer in pieces', async () => {
    const path = join(dir, 'direct.img');
    const backend = await FileBackend.open(path, { create: true, size: 8 << 20, direct: true });
    expect(backend.direct).toBe(true);
    const odd = pattern(1000, 5);
    await backend.write(100, [odd.subarray(0, 300), odd.subarray(300)]); // not sector-aligned: EINVAL with O_DIRECT
    expect(sameBytes(independentRead(path, 100, 1000), odd)).toBe(true);
    const back = new Uint8Array(1000);
    await backend.read(100, [back]);
    expect(sameBytes(back, odd)).toBe(true);
    const big = pattern(3 << 20, 6);
    const parts = [big.subarray(0, 4096), big.subarray(4096, (2 << 20) + 512), big.subarray((2 << 20) + 512)];
    await backend.write(1 << 20, parts);
    expect(sameBytes(independentRead(path, 1 << 20, big.length), big)).toBe(true);
    const into = [new Uint8Array(1 << 20), new Uint8Array(2 << 20)];
    await backend.read(1 << 20, into);
    expect(sameBytes(Buffer.concat(into), big)).toBe(true);
    await backend.close();
  });

  it('reads zeroes past the end of the file (it shrank behind the device)', async () => {
    const path = join(dir, 'short.img');
    writeFileSync(path, Buffer.alloc(8192, 7));
    const backend = await FileBackend.open(path);
    truncateSync(path, 4096 + 100);
    const one = new Uint8Array(8192).fill(0xff);
    await backend.read(0, [one]);
    expect(one[4095]).toBe(7);
    expect(one[4096 + 99]).toBe(7);
    expect(one.subarray(4096 + 100).every((x) => x === 0)).toBe(true);
    const parts = [new Uint8Array(4096).fill(0xff), new Uint8Array(4096).fill(0xff)];
    await backend.read(0, parts);
    expect(parts[1]!.subarray(100).every((x) => x === 0)).toBe(true);
    await backend.close();
  });

  it('fails with Block.IoError carrying the errno', async () => {
    await expect(FileBackend.open(join(dir, 'missing.img'))).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError', errno: 'ENOENT' }));
    await expect(FileBackend.open(join(dir, 'x.img'), { create: true })).rejects.toThrow(RangeError);
    await expect(FileBackend.open(join(dir, 'x.img'), { size: 100 })).rejects.toThrow(RangeError);
  });

  it('a host failure (ENOSPC, injected) fails that request with IOERR; the device carries on', async () => {
    const path = join(dir, 'enospc.img');
    const file = await FileBackend.open(path, { create: true, size: 64 << 10 });
    let failNext = false;
    const backend = {
      get size() {
        return file.size;
      },
      read: (o: number, b: readonly Uint8Array[]) => file.read(o, b),
      write: (o: number, b: readonly Uint8Array[]) => {
        if (!failNext) return file.write(o, b);
        failNext = false;
        return Promise.reject(new IoError(`pwrite at ${o}`, Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })));
      },
      flush: () => file.flush(),
    };
    const errors: unknown[] = [];
    const h = new Harness({ device: { backend, onBackendError: (e) => errors.push(e) }, memSize: 4 << 20 });
    failNext = true;
    const bad = await run(h, { readable: requestBytes(RequestType.OUT, 0, pattern(512, 1)), writable: 1 });
    const good = await run(h, { readable: requestBytes(RequestType.OUT, 1, pattern(512, 2)), writable: 1 });
    const flush = await run(h, { readable: requestBytes(RequestType.FLUSH, 0), writable: 1 });
    expect([bad.status, good.status, flush.status]).toEqual([BlockStatus.IOERR, BlockStatus.OK, BlockStatus.OK]);
    expect(errors.length).toBe(1);
    expect((errors[0] as { errno: string }).errno).toBe('ENOSPC');
    expect(independentRead(path, 0, 512).every((x) => x === 0)).toBe(true);
    expect(sameBytes(independentRead(path, 512, 512), pattern(512, 2))).toBe(true);
    await file.close();
  });

  it('fails the request (never throws from the fs callback) when the guest buffer is detached while the transfer runs', async () => {
    const path = join(dir, 'detach.img');
    writeFileSync(path, Buffer.alloc(8192, 3));
    const backend = await FileBackend.open(path);
    for (const op of ['read', 'write'] as const) {
      const ab = new ArrayBuffer(4096);
      const p = backend[op](0, [new Uint8Array(ab)]);
      // Guest memory unmapped under the request (the backing store stays alive in `kept`).
      const kept = structuredClone(ab, { transfer: [ab] });
      await expect(p).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError' }));
      expect(kept.byteLength).toBe(4096);
    }
    await backend.close();
  });

  it('maps system errors of reads and writes to Block.IoError with the errno', async () => {
    const path = join(dir, 'ebadf.img');
    const backend = await FileBackend.open(path, { create: true, size: 4096 });
    closeSync(backend.fd);
    await expect(backend.read(0, [new Uint8Array(512)])).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError', errno: 'EBADF' }));
    await expect(backend.write(0, [new Uint8Array(512)])).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError', errno: 'EBADF' }));
    await expect(backend.read(0, [new Uint8Array(512), new Uint8Array(512)])).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError' }));
    await expect(backend.writeZeroes(0, 512)).rejects.toThrow(expect.objectContaining({ name: 'Block.IoError' }));
  });
});

describe('FileBackend completion callbacks (what the device uses)', () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const called = <T>(f: (done: (e: T) => void) => void) => new Promise<T>((resolve) => f(resolve));

  it('submitRead and submitWrite call back once, with null or a Block error; single buffers and scatter-gather alike', async () => {
    const path = join(dir, 'submit.img');
    const backend = await FileBackend.open(path, { create: true, size: 1 << 20 });
    const data = pattern(8192, 11);
    expect(await called((d) => backend.submitWrite(4096, [data.subarray(0, 4096)], d))).toBeNull();
    expect(await called((d) => backend.submitWrite(8192, [data.subarray(4096, 6000), data.subarray(6000)], d))).toBeNull();
    expect(sameBytes(independentRead(path, 4096, 8192), data)).toBe(true);
    const one = new Uint8Array(8192);
    expect(await called((d) => backend.submitRead(4096, [one], d))).toBeNull();
    expect(sameBytes(one, data)).toBe(true);
    const two = [new Uint8Array(100), new Uint8Array(8092)];
    expect(await called((d) => backend.submitRead(4096, two, d))).toBeNull();
    expect(sameBytes(Buffer.concat(two), data)).toBe(true);
    const ro = await FileBackend.open(path, { readOnly: true });
    let sync: unknown = 'not called';
    ro.submitWrite(0, [new Uint8Array(512)], (e) => (sync = e));
    expect(sync).toBeInstanceOf(ReadOnlyError); // at once, within the call
    await ro.close();
    closeSync(backend.fd);
    for (const bufs of [[new Uint8Array(512)], [new Uint8Array(512), new Uint8Array(512)]]) {
      expect(await called((d) => backend.submitRead(0, bufs, d))).toEqual(expect.objectContaining({ name: 'Block.IoError', errno: 'EBADF' }));
      expect(await called((d) => backend.submitWrite(0, bufs, d))).toEqual(expect.objectContaining({ name: 'Block.IoError' }));
    }
  });

  /** Spies on fs.read: how many of its callbacks have run. */
  function countFsCallbacks(): { ran: number } {
    const seen = { ran: 0 };
    const nodeFs = jest.requireActual<typeof fs>('node:fs'); // the module object FileBackend calls through
    const real = nodeFs.read;
    jest.spyOn(nodeFs, 'read').mockImplementation(((...args: unknown[]) => {
      const cb = args[args.length - 1] as (...a: unknown[]) => void;
      args[args.length - 1] = (...a: unknown[]) => {
        seen.ran++;
        cb(...a);
      };
      return (real as (...a: unknown[]) => void)(...args);
    }) as typeof fs.read);
    return seen;
  }

  it('a completion with nothing else running comes at once; those of concurrent operations come together, at the end of the turn', async () => {
    const path = join(dir, 'batch.img');
    writeFileSync(path, Buffer.alloc(64 << 10, 5));
    const backend = await FileBackend.open(path);
    const fsDone = countFsCallbacks();
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const order: string[] = [];
    backend.submitRead(0, [new Uint8Array(4096)], (e) => order.push(`alone ${String(e)}`));
    while (fsDone.ran < 1) await wait(1);
    expect(order).toEqual(['alone null']); // delivered in the fs callback itself
    expect(jest.getTimerCount()).toBe(0);
    for (const name of ['a', 'b', 'c']) backend.submitRead(4096, [new Uint8Array(4096)], (e) => order.push(`${name} ${String(e)}`));
    while (fsDone.ran < 4) await wait(1);
    expect(order).toEqual(['alone null']); // all three arrived, none delivered yet
    expect(jest.getTimerCount()).toBe(1);
    jest.runOnlyPendingTimers();
    expect(order.slice(1).sort()).toEqual(['a null', 'b null', 'c null']);
    await backend.close();
  });

  it('a callback that throws does not lose the completions delivered with it', async () => {
    const path = join(dir, 'throws.img');
    writeFileSync(path, Buffer.alloc(64 << 10, 5));
    const backend = await FileBackend.open(path);
    const fsDone = countFsCallbacks();
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const delivered: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      backend.submitRead(0, [new Uint8Array(512)], () => {
        delivered.push(name);
        if (name === 'b') throw new Error('a caller bug');
      });
    }
    while (fsDone.ran < 3) await wait(1);
    const thrown: unknown[] = [];
    for (let i = 0; i < 3 && jest.getTimerCount() > 0; i++) {
      try {
        jest.runOnlyPendingTimers();
      } catch (e) {
        thrown.push(e);
      }
    }
    expect(delivered.sort()).toEqual(['a', 'b', 'c']);
    expect(thrown).toEqual([new Error('a caller bug')]);
    await backend.close();
  });
});

describe('FileBackend under the device at queue depth 32', () => {
  it('reads and writes many requests at once on a real file; every one gets its own data', async () => {
    const path = join(dir, 'qd32.img');
    const backend = await FileBackend.open(path, { create: true, size: 4 << 20 });
    const h = new Harness({ device: { backend, maxInflight: 32 }, memSize: 16 << 20, queueSize: 128 });
    const writes = Array.from({ length: 48 }, (_, i) => h.add({ readable: requestBytes(RequestType.OUT, i * 8, pattern(4096, 100 + i)), writable: 1 }));
    h.kick();
    expect((await Promise.all(writes)).every((c) => c.status === BlockStatus.OK)).toBe(true);
    const reads = Array.from({ length: 48 }, (_, i) => h.add({ readable: requestBytes(RequestType.IN, ((i * 7) % 48) * 8), writable: 4097 }));
    h.kick();
    const got = await Promise.all(reads);
    got.forEach((c, i) => {
      expect(c.status).toBe(BlockStatus.OK);
      expect(sameBytes(c.writable.subarray(0, 4096), pattern(4096, 100 + ((i * 7) % 48)))).toBe(true);
    });
    expect(h.interrupts[0]).toBeLessThanOrEqual(96);
    await backend.close();
  });
});
