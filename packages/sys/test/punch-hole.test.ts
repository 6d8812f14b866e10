import { describe, expect, it } from '@jest/globals';
import { closeSync, fstatSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, fdSize, isSysError, memfdCreate, mmap, punchHole } from '@vmv/sys';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('punchHole', () => {
  it('frees the blocks of a range of a real file, which then reads as zeros, without changing its size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-punch-'));
    const path = join(dir, 'disk.raw');
    const fd = openSync(path, 'w+');
    try {
      const data = new Uint8Array(1 << 20).fill(0xa5);
      writeSync(fd, data, 0, data.length, 0);
      fsyncSync(fd);
      const before = fstatSync(fd);
      let err: unknown;
      try {
        punchHole(fd, 256 << 10, 512 << 10);
      } catch (e) {
        err = e;
      }
      if (isSysError(err, 'EOPNOTSUPP')) return; // a filesystem without hole punching: nothing to measure
      expect(err).toBeUndefined();
      const after = fstatSync(fd);
      expect(after.size).toBe(before.size);
      expect(after.blocks).toBeLessThan(before.blocks);
      const back = new Uint8Array(1 << 20);
      readSync(fd, back, 0, back.length, 0);
      expect(back.subarray(0, 256 << 10).every((b) => b === 0xa5)).toBe(true);
      expect(back.subarray(256 << 10, 768 << 10).every((b) => b === 0)).toBe(true);
      expect(back.subarray(768 << 10).every((b) => b === 0xa5)).toBe(true);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('zeroes a range of a memfd seen through a mapping', () => {
    const fd = memfdCreate('punch', 64 << 10);
    const m = mmap(fd, 64 << 10);
    try {
      const u8 = new Uint8Array(m.buffer);
      u8.fill(7);
      punchHole(fd, 4096, 8192);
      expect(u8[4095]).toBe(7);
      expect(u8.subarray(4096, 12288).every((b) => b === 0)).toBe(true);
      expect(u8[12288]).toBe(7);
      expect(fdSize(fd)).toBe(64 << 10);
    } finally {
      m.close();
      closeFd(fd);
    }
  });

  it('fails with errno names and refuses bad arguments', () => {
    expect(isSysError(errorOf(() => punchHole(1 << 20, 0, 1)), 'EBADF')).toBe(true);
    const fd = memfdCreate('punch-args', 4096);
    try {
      expect(() => punchHole(fd, -1, 1)).toThrow(RangeError);
      expect(() => punchHole(fd, 0, 0)).toThrow(RangeError);
      expect(() => punchHole(fd, 0.5, 1)).toThrow(RangeError);
    } finally {
      closeFd(fd);
    }
  });
});
