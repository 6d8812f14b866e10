import { afterEach, describe, expect, it } from '@jest/globals';
import { openSync, closeSync } from 'node:fs';
import { closeFd, EventFd, FdWatcher, isSysError, PollEvents, UnixStream, watchEventFd, watchFd } from '@vmv/sys';
import type { SysError } from '@vmv/sys';
import { closeAll, sleep, track, until } from './helpers';

afterEach(closeAll);

describe('watchFd', () => {
  it('calls back on readability, level-triggered, until drained', async () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    const seen: number[] = [];
    const w = track(watchFd(b.fd, (err, events) => {
      expect(err).toBeNull();
      seen.push(events);
      const got = b.recvmsg(new Uint8Array(2)); // read 2 bytes per callback
      if (got === null) return;
    }));
    expect(w.active).toBe(true);
    expect(w.events).toBe(PollEvents.READABLE);
    a.sendmsg(new Uint8Array(6));
    await until(() => seen.length >= 3);
    expect(seen.every((e) => (e & PollEvents.READABLE) !== 0)).toBe(true);
    await sleep(20);
    expect(seen.length).toBe(3); // drained after three callbacks: no more
    w.close();
    a.close();
    b.close();
  });

  it('stops, restarts and closes; never calls back when stopped or closed', async () => {
    const ev = track(new EventFd());
    let calls = 0;
    const w = track(watchFd(ev.fd, () => {
      calls++;
      ev.read();
    }));
    w.stop();
    expect(w.active).toBe(false);
    ev.write();
    await sleep(20);
    expect(calls).toBe(0);
    w.start();
    await until(() => calls === 1);
    w.close();
    expect(w.closed).toBe(true);
    expect(w.active).toBe(false);
    ev.write();
    await sleep(20);
    expect(calls).toBe(1);
    expect(() => w.start()).toThrow(expect.objectContaining({ code: 'EBADF' }));
    w.stop();
    w.close();
    ev.close();
  });

  it('reports writability and disconnect', async () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    let events = 0;
    const w = track(watchFd(a.fd, (_err, e) => {
      events |= e;
      if (e & PollEvents.DISCONNECT) w.stop();
    }, { events: PollEvents.WRITABLE | PollEvents.DISCONNECT }));
    await until(() => (events & PollEvents.WRITABLE) !== 0);
    w.start(PollEvents.DISCONNECT);
    expect(w.events).toBe(PollEvents.DISCONNECT);
    b.close();
    await until(() => (events & PollEvents.DISCONNECT) !== 0);
    w.close();
    a.close();
  });

  it('closing the fd through the package closes its watcher first', async () => {
    const ev = track(new EventFd());
    let calls = 0;
    const w = track(ev.watch(() => calls++));
    ev.close();
    expect(w.closed).toBe(true);
    // the fd number is free for a new watcher at once (no stale registration)
    const again = new EventFd(); // closed below through closeFd(again.fd): not tracked
    const w2 = track(again.watch(() => calls++));
    again.write();
    await until(() => calls === 1);
    closeFd(again.fd);
    expect(w2.closed).toBe(true);
  });

  it('creates stopped watchers and respects ref/unref', async () => {
    const ev = track(new EventFd());
    const counts: number[] = [];
    const w = track(ev.watch((_e, n) => counts.push(n), { start: false, ref: false }));
    expect(w.active).toBe(false);
    expect(w.hasRef()).toBe(false);
    w.ref();
    expect(w.hasRef()).toBe(true);
    w.unref();
    ev.write(4);
    await sleep(10);
    expect(counts).toEqual([]);
    w.start();
    await until(() => counts.length === 1);
    expect(counts).toEqual([4]);
    ev.close();
  });

  it('fails with errno names: double watch, bad fd, regular file', () => {
    const ev = track(new EventFd());
    const w = track(ev.watch(() => undefined));
    expect(() => watchFd(ev.fd, () => undefined)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    w.close();
    const again = track(watchFd(ev.fd, () => undefined)); // free after close
    again.close();
    const fd = ev.fd;
    ev.close();
    expect(() => watchFd(fd, () => undefined)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'uv_poll_init' }));
    const file = openSync(__filename, 'r');
    try {
      watchFd(file, () => undefined);
      throw new Error('unreachable');
    } catch (e) {
      expect(isSysError(e, 'EPERM')).toBe(true);
    } finally {
      closeSync(file);
    }
  });

  it('rejects misuse', () => {
    expect(() => watchFd(0, 'x' as unknown as () => void)).toThrow(TypeError);
    expect(() => watchFd(0, () => undefined, { events: 0 })).toThrow(RangeError);
    expect(() => watchFd(0, () => undefined, { events: 16 })).toThrow(RangeError);
    expect(() => watchEventFd(-2, () => undefined)).toThrow(RangeError);
    expect(() => new FdWatcher(Symbol('x'), 0, {} as never, 1)).toThrow(TypeError);
  });
});

describe('watchEventFd', () => {
  it('reads the counter natively and passes it to the callback', async () => {
    const ev = track(new EventFd());
    const counts: number[] = [];
    const w = track(watchEventFd(ev.fd, (err, n) => {
      expect(err).toBeNull();
      counts.push(n);
    }));
    ev.write(3);
    ev.write(4);
    await until(() => counts.length > 0);
    expect(counts).toEqual([7]); // writes before the loop turn coalesce, as kicks do
    expect(ev.read()).toBeNull(); // the watcher consumed it
    ev.write(1);
    await until(() => counts.length > 1);
    expect(counts).toEqual([7, 1]);
    w.close();
    ev.close();
  });

  it('reports a read error (not an eventfd) and stops', async () => {
    const [a, b] = UnixStream.pair().map(track) as [UnixStream, UnixStream];
    let error: SysError | null = null;
    const w = track(watchEventFd(b.fd, (err) => {
      error = err;
    }));
    a.sendmsg(new Uint8Array(3)); // a 3-byte read is a short read: EINVAL
    await until(() => error !== null);
    expect(error!.code).toBe('EINVAL');
    expect(error!.syscall).toBe('read');
    expect(w.active).toBe(false);
    w.close();
    a.close();
    b.close();
  });
});
