import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSysError, preadv, PREADV_MAX_BUFFERS } from '@vmv/sys';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-sys-preadv-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function pattern(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('preadv', () => {
  it('reads into several buffers in order, at any offset, and short at the end of the file', () => {
    const path = join(dir, 'data.bin');
    const data = pattern(10_000);
    writeFileSync(path, data);
    const fd = openSync(path, 'r');
    try {
      const a = new Uint8Array(3);
      const b = new Uint8Array(0);
      const c = new Uint8Array(5000);
      expect(preadv(fd, [a, b, c], 1234)).toBe(5003);
      expect([...a]).toEqual([...data.subarray(1234, 1237)]);
      expect(c).toEqual(data.subarray(1237, 6237));
      const tail = new Uint8Array(100);
      expect(preadv(fd, [tail], 9950)).toBe(50);
      expect(tail.subarray(0, 50)).toEqual(data.subarray(9950));
      expect(preadv(fd, [tail], 10_000)).toBe(0);
      expect(preadv(fd, [], 0)).toBe(0);
      // cached (just written): nowait serves it
      const d = new Uint8Array(4096);
      expect(preadv(fd, [d], 4096, { nowait: true })).toBe(4096);
      expect(d).toEqual(data.subarray(4096, 8192));
    } finally {
      closeSync(fd);
    }
  });

  it('with nowait, returns null instead of waiting for the disk', () => {
    const path = join(dir, 'cold.bin');
    // written with O_DIRECT: nothing of it is in the page cache
    try {
      execFileSync('dd', ['if=/dev/urandom', `of=${path}`, 'bs=1M', 'count=2', 'oflag=direct'], { stdio: 'ignore' });
    } catch {
      // a file system without O_DIRECT (tmpfs) keeps everything in memory: nothing can be cold
      expect(execFileSync('stat', ['-f', '-c', '%T', dir]).toString().trim()).toBe('tmpfs');
      return;
    }
    const fd = openSync(path, 'r');
    try {
      const b = new Uint8Array(4096);
      expect(preadv(fd, [b], 1 << 20, { nowait: true })).toBeNull();
      expect(preadv(fd, [b], 1 << 20)).toBe(4096); // now it is cached
      const again = new Uint8Array(4096);
      expect(preadv(fd, [again], 1 << 20, { nowait: true })).toBe(4096);
      expect(again).toEqual(b);
    } finally {
      closeSync(fd);
    }
  });

  it('fails with errno names and rejects bad arguments', () => {
    const path = join(dir, 'w.bin');
    writeFileSync(path, pattern(64));
    const wfd = openSync(path, 'w');
    try {
      expect(() => preadv(wfd, [new Uint8Array(4)], 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(wfd);
    }
    try {
      preadv(wfd, [new Uint8Array(4)], 0);
      throw new Error('unreachable');
    } catch (e) {
      expect(isSysError(e, 'EBADF')).toBe(true);
    }
    const fd = openSync(path, 'r');
    try {
      expect(() => preadv(fd, new Array(PREADV_MAX_BUFFERS + 1).fill(new Uint8Array(1)), 0)).toThrow(RangeError);
      expect(() => preadv(fd, [new Uint8Array(1)], -1)).toThrow(RangeError);
      expect(() => preadv(fd, [new Uint8Array(1)], 2 ** 53)).toThrow(RangeError);
      expect(() => preadv(fd, 'x' as unknown as Uint8Array[], 0)).toThrow(TypeError);
      expect(() => preadv(fd, [new Uint16Array(2) as unknown as Uint8Array], 0)).toThrow(TypeError);
      expect(() => preadv(fd, [new Uint8Array(1)], 1.5)).toThrow(RangeError);
    } finally {
      closeSync(fd);
    }
  });
});
