import { describe, expect, it } from '@jest/globals';
import { readSync, writeSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { createRequire } from 'node:module';
import { closeFd, fdSize, ftruncate, isSysError, Mapping, MAX_MAPPING_LENGTH, memfdAddSeals, memfdCreate, mmap, mmapAnonymous, pageSize } from '@vmv/sys';
import { readFileSync } from 'node:fs';
import { mapCount, PREBUILT_ADDON, until } from './helpers';

describe('memfdCreate', () => {
  it('creates a sized, zeroed, close-on-exec memory file', () => {
    const fd = memfdCreate('vmv-create', 12345);
    try {
      expect(fdSize(fd)).toBe(12345);
      const probe = Buffer.alloc(16, 0xff);
      expect(readSync(fd, probe, 0, 16, 0)).toBe(16);
      expect([...probe]).toEqual(new Array(16).fill(0));
      ftruncate(fd, 1 << 20);
      expect(fdSize(fd)).toBe(1 << 20);
    } finally {
      closeFd(fd);
    }
  });

  it('allows size 0 and rejects bad arguments', () => {
    const fd = memfdCreate('vmv-empty', 0);
    expect(fdSize(fd)).toBe(0);
    closeFd(fd);
    expect(() => memfdCreate(5 as unknown as string, 1)).toThrow(TypeError);
    expect(() => memfdCreate('a\0b', 1)).toThrow(RangeError);
    expect(() => memfdCreate('x', -1)).toThrow(RangeError);
    expect(() => memfdCreate('x', 1.5)).toThrow(RangeError);
  });

  it('seals: a sealed memfd can no longer shrink or grow', () => {
    const fd = memfdCreate('vmv-sealed', 8192, { allowSealing: true });
    memfdAddSeals(fd, { shrink: true });
    expect(() => ftruncate(fd, 4096)).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'ftruncate' }));
    ftruncate(fd, 16384); // growing is still allowed
    memfdAddSeals(fd, { grow: true, seal: true });
    expect(() => ftruncate(fd, 32768)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => memfdAddSeals(fd, { write: true })).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'fcntl' }));
    expect(fdSize(fd)).toBe(16384);
    closeFd(fd);
    const unsealable = memfdCreate('vmv-unsealable', 4096);
    expect(() => memfdAddSeals(unsealable, { shrink: true })).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => memfdAddSeals(unsealable, null as unknown as object)).toThrow(TypeError);
    closeFd(unsealable);
  });

  it('reports a name the kernel refuses as SysError EINVAL', () => {
    expect(() => memfdCreate('n'.repeat(300), 1)).toThrow(expect.objectContaining({ name: 'Sys.Error', code: 'EINVAL', syscall: 'memfd_create' }));
  });
});

describe('mmap', () => {
  it('shares writes with a second mapping and with the file', () => {
    const fd = memfdCreate('vmv-share', 3 * 4096);
    const a = mmap(fd, 3 * 4096);
    const b = mmap(fd, 4096, { offset: 4096 });
    try {
      new Uint8Array(a.buffer).set([1, 2, 3], 4096);
      expect([...new Uint8Array(b.buffer, 0, 3)]).toEqual([1, 2, 3]);
      new DataView(b.buffer).setUint32(8, 0xdeadbeef, true);
      expect(new DataView(a.buffer).getUint32(4096 + 8, true)).toBe(0xdeadbeef);
      // and through the fd (pread / pwrite)
      const got = Buffer.alloc(3);
      readSync(fd, got, 0, 3, 4096);
      expect([...got]).toEqual([1, 2, 3]);
      writeSync(fd, Buffer.from('via-fd'), 0, 6, 2 * 4096);
      expect(Buffer.from(a.buffer, 2 * 4096, 6).toString()).toBe('via-fd');
      expect(a.length).toBe(3 * 4096);
      expect(b.offset).toBe(4096);
      expect(a.buffer.byteLength).toBe(3 * 4096);
    } finally {
      a.close();
      b.close();
      closeFd(fd);
    }
  });

  it('maps at offsets that are not page aligned (vhost-user mmap_offset)', () => {
    const page = pageSize();
    const fd = memfdCreate('vmv-unaligned', 4 * page);
    writeSync(fd, Buffer.from('ABCDEFGH'), 0, 8, page + 1000);
    for (const offset of [page + 1000, page + 1003, 1, BigInt(page + 1000)]) {
      const m = mmap(fd, 64, { offset });
      const expected = Buffer.alloc(8);
      readSync(fd, expected, 0, 8, Number(offset));
      expect(Buffer.from(m.buffer, 0, 8).equals(expected)).toBe(true);
      expect(m.buffer.byteLength).toBe(64);
      expect(m.offset).toBe(Number(offset));
      m.close();
    }
    // a range ending exactly at the end of the file is fine, one byte more is not
    const last = mmap(fd, 10, { offset: 4 * page - 10 });
    last.close();
    expect(() => mmap(fd, 11, { offset: 4 * page - 10 })).toThrow(expect.objectContaining({ code: 'ENXIO', syscall: 'mmap' }));
    closeFd(fd);
  });

  it('keeps the mapping valid after the fd is closed', () => {
    const fd = memfdCreate('vmv-outlive', 4096);
    const m = mmap(fd, 4096);
    closeFd(fd);
    new Uint8Array(m.buffer)[10] = 7;
    expect(new Uint8Array(m.buffer)[10]).toBe(7);
    m.close();
  });

  it('private mappings do not write through', () => {
    const fd = memfdCreate('vmv-private', 4096);
    const shared = mmap(fd, 4096);
    const priv = mmap(fd, 4096, { shared: false });
    new Uint8Array(shared.buffer)[0] = 1;
    expect(new Uint8Array(priv.buffer)[0]).toBe(1); // untouched private page still reads the file
    new Uint8Array(priv.buffer)[0] = 99;
    expect(new Uint8Array(shared.buffer)[0]).toBe(1);
    expect(priv.shared).toBe(false);
    shared.close();
    priv.close();
    closeFd(fd);
  });

  it('close detaches the buffer first: old views read as empty, nothing crashes', () => {
    const fd = memfdCreate('vmv-detach', 8192);
    const m = mmap(fd, 8192);
    const u8 = new Uint8Array(m.buffer);
    const dv = new DataView(m.buffer, 16);
    const f64 = new Float64Array(m.buffer, 8, 4);
    u8[0] = 5;
    const before = mapCount('/memfd:vmv-detach');
    m.close();
    expect(m.closed).toBe(true);
    expect(m.buffer.byteLength).toBe(0);
    expect(u8.length).toBe(0);
    expect(u8[0]).toBeUndefined();
    u8[0] = 1; // ignored, not a SIGSEGV
    expect(f64.length).toBe(0);
    expect(() => dv.getUint8(0)).toThrow(TypeError);
    expect(() => new Uint8Array(m.buffer)).toThrow(/detached/); // no new views over a detached buffer
    expect(mapCount('/memfd:vmv-detach')).toBe(before - 1);
    m.close(); // idempotent
    expect(m.length).toBe(8192);
    closeFd(fd);
  });

  it('the finaliser unmaps mappings that were never closed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const fd = memfdCreate('vmv-finaliser', 4096);
    const label = '/memfd:vmv-finaliser';
    const base = mapCount(label);
    (() => {
      for (let i = 0; i < 50; i++) new Uint8Array(mmap(fd, 4096).buffer)[0] = i;
    })();
    expect(mapCount(label)).toBe(base + 50);
    // finalisers run some loop turns after a collection: collect until they have (or a hang)
    await until(() => {
      gc();
      return mapCount(label) === base;
    }, undefined, 'the finaliser to unmap 50 mappings');
    expect(mapCount(label)).toBe(base);
    closeFd(fd);
  });

  it('maps up to MAX_MAPPING_LENGTH and refuses more with a RangeError', () => {
    const size = Math.min(MAX_MAPPING_LENGTH, 2 ** 33); // sparse: no memory is touched
    const fd = memfdCreate('vmv-large', size + 4096);
    const m = mmap(fd, size);
    expect(m.buffer.byteLength).toBe(size);
    new Uint8Array(m.buffer)[size - 1] = 1;
    m.close();
    expect(() => mmap(fd, MAX_MAPPING_LENGTH + 1)).toThrow(RangeError);
    closeFd(fd);
  });

  it('survives the runtime refusing an ArrayBuffer: unmaps once, no double free', () => {
    // Below the public API (which refuses such lengths up front): the addon's own failure path.
    const addon = createRequire(__filename)(PREBUILT_ADDON) as {
      mmap(fd: number, length: number, offset: number, shared: boolean): unknown;
      munmap(handle: unknown, buffer: unknown): number;
    };
    const fd = memfdCreate('vmv-refused', 2 ** 34);
    for (let i = 0; i < 3; i++) {
      const r = addon.mmap(fd, 2 ** 33, 0, true);
      if (Array.isArray(r)) expect(addon.munmap(r[1], r[0])).toBe(0); // a runtime with larger buffers
      else expect(r).toBeLessThan(0);
    }
    expect(mapCount('/memfd:vmv-refused')).toBe(0);
    closeFd(fd);
  });

  it('fails with errno names and rejects misuse', () => {
    const fd = memfdCreate('vmv-errors', 4096);
    expect(() => mmap(fd, 0)).toThrow(RangeError);
    expect(() => mmap(fd, 1.5)).toThrow(RangeError);
    expect(() => mmap(fd, 16, { offset: -1 })).toThrow(RangeError);
    expect(() => mmap(fd, 16, { offset: -1n })).toThrow(RangeError);
    expect(() => mmap(fd, 16, { offset: 2n ** 60n })).toThrow(RangeError);
    expect(() => mmap(-1, 16)).toThrow(RangeError);
    expect(() => mmap('3' as unknown as number, 16)).toThrow(TypeError);
    expect(() => mmap(fd, 16, 'x' as unknown as object)).toThrow(TypeError);
    closeFd(fd);
    try {
      mmap(fd, 16);
      throw new Error('unreachable');
    } catch (e) {
      expect(isSysError(e, 'EBADF')).toBe(true);
    }
    // a pipe cannot be mapped
    expect(() => mmap(0, 16)).toThrow(expect.objectContaining({ name: 'Sys.Error' }));
    expect(() => new (Mapping as unknown as new (t: symbol) => Mapping)(Symbol('x'))).toThrow(TypeError);
  });
});

/** The VMAs of this process advised MADV_HUGEPAGE (VmFlags `hg`): [start, end) of each. */
function hugePageAdvisedRanges(): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  let range: [bigint, bigint] | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) range = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)];
    else if (line.startsWith('VmFlags:') && line.split(' ').includes('hg') && range) out.push(range);
  }
  return out;
}

describe('mmapAnonymous', () => {
  it('maps private zero-filled memory that close() detaches and unmaps', () => {
    const m = mmapAnonymous(3 * 4096 + 100);
    expect(m.fd).toBe(-1);
    expect(m.shared).toBe(false);
    expect(m.offset).toBe(0);
    expect(m.length).toBe(3 * 4096 + 100);
    const u8 = new Uint8Array(m.buffer);
    expect(u8.length).toBe(3 * 4096 + 100);
    expect(u8.every((b) => b === 0)).toBe(true);
    u8[u8.length - 1] = 0xab;
    expect(new DataView(m.buffer).getUint8(u8.length - 1)).toBe(0xab);
    m.close();
    expect(m.closed).toBe(true);
    expect(u8.length).toBe(0);
    m.close(); // idempotent
  });

  it('hugePages: a 2 MiB aligned mapping advised MADV_HUGEPAGE, exactly the length asked for', () => {
    const length = 5 * (2 << 20) + 3 * 4096;
    const before = hugePageAdvisedRanges();
    const m = mmapAnonymous(length, { hugePages: true });
    const added = hugePageAdvisedRanges().filter(([s, e]) => !before.some(([bs, be]) => bs === s && be === e));
    expect(added).toHaveLength(1);
    const [start, end] = added[0]!;
    expect(start % BigInt(2 << 20)).toBe(0n);
    expect(end - start).toBe(BigInt(length));
    const u8 = new Uint8Array(m.buffer);
    for (let off = 0; off < length; off += 4096) u8[off] = 1; // every page can be touched
    expect(u8[length - 4096]).toBe(1);
    m.close();
    expect(hugePageAdvisedRanges().filter(([s]) => s === start)).toHaveLength(0);
  });

  it('rejects bad lengths and options', () => {
    expect(() => mmapAnonymous(0)).toThrow(RangeError);
    expect(() => mmapAnonymous(1.5)).toThrow(RangeError);
    expect(() => mmapAnonymous(MAX_MAPPING_LENGTH + 1)).toThrow(RangeError);
    expect(() => mmapAnonymous(4096, null as never)).toThrow(TypeError);
    expect(() => mmapAnonymous(4096, { hugePages: 1 as never })).toThrow(TypeError);
  });
});
