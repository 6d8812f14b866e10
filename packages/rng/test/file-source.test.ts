/**
 * @vmv/rng/node's FileSource: bad paths as one-line Rng.SourceError, reads in order (also when
 * several callers share it), a character device, and a regular file that runs out: empty reads,
 * and a device on it holds the guest's request and reports Rng.SourceExhaustedError.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRngError } from '@vmv/rng';
import type { RngError } from '@vmv/rng';
import { FileSource } from '@vmv/rng/node';
import { Harness, counterBytes, flush } from './support/harness';

const dir = mkdtempSync(join(tmpdir(), 'vmv-rng-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileSource', () => {
  it('refuses what cannot be a source, with a line naming the path and the reason', async () => {
    mkdirSync(join(dir, 'd'));
    const cases: [string, RegExp][] = [
      [join(dir, 'missing'), /missing does not exist/],
      [join(dir, 'd'), /is a directory/],
    ];
    for (const [p, re] of cases) {
      const e = await FileSource.open(p).catch((x: unknown) => x);
      expect(isRngError(e, 'Rng.SourceError')).toBe(true);
      expect((e as RngError).details).toMatch(re);
      expect((e as RngError).details).not.toMatch(/\n/);
    }
    await expect(FileSource.open('')).rejects.toThrow(TypeError);
  });

  it('reads a file in order, also with concurrent callers, then gives empty reads at its end', async () => {
    const p = join(dir, 'counter.bin');
    writeFileSync(p, counterBytes(0, 1000));
    const f = await FileSource.open(p);
    expect(f.regularFile).toBe(true);
    const parts = await Promise.all([f.read(300), f.read(300), f.read(300), f.read(300), f.read(300)]);
    expect(parts.map((x) => x.length)).toEqual([300, 300, 300, 100, 0]);
    expect(Buffer.compare(Buffer.concat(parts), counterBytes(0, 1000))).toBe(0);
    expect(f.bytesRead).toBe(1000);
    await f.close();
    await f.close();
    await expect(f.read(1)).rejects.toThrow(/closed/);
  });

  it('reads /dev/urandom (a character device)', async () => {
    const f = await FileSource.open('/dev/urandom');
    expect(f.regularFile).toBe(false);
    const b = await f.read(65536);
    expect(b.length).toBe(65536);
    expect(new Set(b).size).toBe(256);
    await f.close();
  });

  it('on a device: a file that runs out holds the request (never a fake fill) and reports it', async () => {
    const p = join(dir, 'short.bin');
    writeFileSync(p, counterBytes(0, 100));
    const f = await FileSource.open(p);
    const errors: RngError[] = [];
    const h = new Harness({ device: { source: f.read, onSourceError: (e) => errors.push(e) } });
    const first = await h.submit([{ len: 64, writable: true }]);
    expect(first.len).toBe(64);
    const second = await h.submit([{ len: 64, writable: true }]);
    expect(second.len).toBe(36); // the last real bytes, counted as they are
    expect(Buffer.compare(Buffer.concat([first.written, second.written.subarray(0, 36)]), counterBytes(0, 100))).toBe(0);
    let done = false;
    void h.submit([{ len: 64, writable: true }]).then(() => (done = true));
    // The file is read on libuv's threadpool: wait for the second report (a bound for a hang, not a time).
    for (let i = 0; i < 100_000 && errors.length < 2; i++) await flush();
    for (let i = 0; i < 5; i++) await flush(); // and a few turns more, in which the held request must stay held
    expect(done).toBe(false);
    expect(errors.map((e) => e.name)).toEqual(['Rng.SourceExhaustedError', 'Rng.SourceExhaustedError']);
    expect(errors[1]!.details).toMatch(/after 100 served/);
    await f.close();
  });
});
