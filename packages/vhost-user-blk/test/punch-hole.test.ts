import { describe, expect, it } from '@jest/globals';
import { fstatSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImage } from '@vmv/vhost-user-blk';

describe('the image backend frees discarded ranges', () => {
  it('DISCARD punches a hole in the image file (blocks freed, size kept, range reads as zeros)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-vub-punch-'));
    const path = join(dir, 'disk.raw');
    writeFileSync(path, new Uint8Array(4 << 20).fill(0x5a));
    const img = await openImage({ image: path });
    try {
      await img.file.flush();
      const blocks = (): number => {
        const fd = openSync(path, 'r');
        try {
          return fstatSync(fd).blocks;
        } finally {
          closeSync(fd);
        }
      };
      const before = blocks();
      expect(typeof img.backend.discard).toBe('function');
      await img.backend.discard!(1 << 20, 2 << 20);
      await img.file.flush();
      expect(blocks()).toBeLessThan(before);
      const back = readFileSync(path);
      expect(back.length).toBe(4 << 20);
      expect(back.subarray(0, 1 << 20).every((b) => b === 0x5a)).toBe(true);
      expect(back.subarray(1 << 20, 3 << 20).every((b) => b === 0)).toBe(true);
      expect(back.subarray(3 << 20).every((b) => b === 0x5a)).toBe(true);
    } finally {
      await img.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
