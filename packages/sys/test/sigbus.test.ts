// A peer that shrinks a file it shared after we mapped it (a hostile vhost-user frontend truncating
// its memory file) must not crash this process with SIGBUS; any other SIGBUS keeps its usual effect.
// Without the handler, the first test kills this jest worker (the file fails loudly).
import { describe, expect, it } from '@jest/globals';
import { closeFd, fdSize, ftruncate, memfdCreate, mmap, truncatedPageFaults } from '@vmv/sys';
import { PACKAGE_ROOT, PREBUILT_ADDON, mapCount, run } from './helpers';

describe('SIGBUS from a file that shrank under a mapping', () => {
  it('reads of the lost pages give zeros, writes stay private, the process goes on', () => {
    const page = 4096;
    const fd = memfdCreate('vmv-shrunk', 3 * page);
    const m = mmap(fd, 3 * page);
    const u8 = new Uint8Array(m.buffer);
    u8[10] = 1;
    u8[page + 10] = 2;
    u8[2 * page + 10] = 3;
    const before = truncatedPageFaults();
    ftruncate(fd, page); // the peer takes the last two pages away
    expect(u8[10]).toBe(1); // still in the file
    expect(u8[page + 10]).toBe(0); // a fault, answered with a zero page
    u8[2 * page + 10] = 9; // a write fault: kept privately
    expect(u8[2 * page + 10]).toBe(9);
    expect(truncatedPageFaults() - before).toBe(2);
    expect(fdSize(fd)).toBe(page); // nothing reached the file
    u8[page + 11] = 5; // the page is ours now: no new fault
    expect(truncatedPageFaults() - before).toBe(2);
    m.close();
    expect(mapCount('/memfd:vmv-shrunk')).toBe(0); // the zero pages went with the mapping
    closeFd(fd);
  });

  it('a SIGBUS that is not about our mappings still ends the process', async () => {
    const addon = PREBUILT_ADDON;
    // the handler is installed (a mapping exists), then a SIGBUS arrives from outside
    const code = `const a = require('${addon}'); const fd = a.memfdCreate('x', false, false); a.ftruncate(fd, 4096); a.mmap(fd, 4096, 0, true); process.kill(process.pid, 'SIGBUS'); setTimeout(() => console.log('survived'), 200);`;
    const r = await run(process.execPath, ['-e', code], ['ignore', 'pipe', 'pipe'], PACKAGE_ROOT);
    expect(r.signal).toBe('SIGBUS');
    expect(r.stdout).toBe('');
  });

  it('the native layer covers a shrunk file in a fresh process too, and counts it', async () => {
    const addon = PREBUILT_ADDON;
    const code = `const a = require('${addon}'); const fd = a.memfdCreate('x', false, false); a.ftruncate(fd, 8192);
      const [ab] = a.mmap(fd, 8192, 0, true); const u8 = new Uint8Array(ab); u8[5000] = 7; a.ftruncate(fd, 0);
      console.log(u8[5000], u8[0], a.recoveredFaults());`;
    const r = await run(process.execPath, ['-e', code], ['ignore', 'pipe', 'pipe'], PACKAGE_ROOT);
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe('0 0 2');
  });
});
