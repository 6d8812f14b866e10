// 10,000 open/close cycles of every kind of resource (memfd, mappings, eventfd, timerfd, watchers, sockets): the fd table and the address space must
// come back to where they started.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, EventFd, memfdCreate, mmap, TimerFd, UnixListener, UnixStream, watchFd } from '@vmv/sys';
import { fdCount, mapCount, sleep } from './helpers';

const CYCLES = 10_000;
const LABEL = 'vmv-leak';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-sys-leak-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function cycle(i: number, path: string, buf: Uint8Array): void {
  const memfd = memfdCreate(LABEL, 8192);
  const whole = mmap(memfd, 8192);
  const part = mmap(memfd, 100, { offset: 4096 + (i % 7) }); // unaligned
  new Uint8Array(whole.buffer)[4096 + (i % 7)] = i & 0xff;
  if (new Uint8Array(part.buffer)[0] !== (i & 0xff)) throw new Error(`cycle ${i}: mappings disagree`);
  whole.close();
  part.close();

  const ev = new EventFd();
  const watcher = ev.watch(() => undefined);
  ev.write(i + 1);
  if (ev.read() !== i + 1) throw new Error(`cycle ${i}: eventfd`);
  if (i % 2 === 0) watcher.close();
  ev.close(); // closes the watcher too when it is still open

  const timer = new TimerFd(() => undefined, { ref: false });
  timer.arm(1_000_000_000);
  if (i % 3 === 0) timer.disarm();
  timer.close();

  const [a, b] = UnixStream.pair();
  const w = watchFd(b.fd, () => undefined, { start: false });
  a.sendmsg(buf, [memfd]);
  const got = b.recvmsg(buf);
  if (got === null || got.fds.length !== 1) throw new Error(`cycle ${i}: no fd received`);
  closeFd(got.fds[0]!);
  closeFd(memfd);
  w.close();
  a.close();
  b.close();

  if (i % 10 === 0) {
    const listener = UnixListener.listen(path);
    const client = UnixStream.connect(path);
    const server = listener.accept();
    if (server === null) throw new Error(`cycle ${i}: accept`);
    server.close();
    client.close();
    listener.close();
  }
}

describe('resource leaks', () => {
  it(`${CYCLES} open/close cycles of memfd, mmap, eventfd, watchers and sockets leak no fd and no mapping`, async () => {
    const path = join(dir, 'leak.sock');
    const buf = new Uint8Array(16);
    cycle(0, path, buf); // warm-up: lazily created state of Node and of the addon
    await sleep(5);
    const fds = fdCount();
    const maps = mapCount();
    const started = Date.now();
    for (let i = 1; i <= CYCLES; i++) cycle(i, path, buf);
    const elapsed = Date.now() - started;
    const fdsAfter = fdCount();
    expect(mapCount(`/memfd:${LABEL}`)).toBe(0);
    expect(fdsAfter).toBe(fds);
    await sleep(5); // lets libuv finish closing the watcher handles
    expect(fdCount()).toBe(fds);
    // Every mapping made here is of a memfd named LABEL, checked exactly above. The total may still
    // move by some dozens (the JS heap and malloc map memory of their own); a leak of one mapping
    // per cycle would add 20,000 lines, since no two of these mappings can merge.
    expect(mapCount() - maps).toBeLessThan(500);
    process.stdout.write(`leak test: ${CYCLES} cycles in ${elapsed} ms; fds ${fds} -> ${fdsAfter}; maps ${maps} -> ${mapCount()}\n`);
  }, 60_000);
});
