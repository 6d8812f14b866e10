import { afterEach, describe, expect, it } from '@jest/globals';
import { closeFd, EventFd, EVENTFD_MAX, eventfdRead, eventfdWrite, isSysError } from '@vmv/sys';
import { closeAll, track } from './helpers';

afterEach(closeAll);

describe('EventFd', () => {
  it('adds writes and resets on read', () => {
    const ev = track(new EventFd());
    expect(ev.read()).toBeNull();
    expect(ev.write()).toBe(true);
    expect(ev.write(41)).toBe(true);
    expect(ev.write(0)).toBe(true);
    expect(ev.read()).toBe(42);
    expect(ev.read()).toBeNull();
    ev.close();
    expect(ev.closed).toBe(true);
    expect(ev.fd).toBe(-1);
    ev.close();
  });

  it('starts from initval and counts exactly in bigint', () => {
    const ev = track(new EventFd({ initval: 7 }));
    expect(ev.readBigInt()).toBe(7n);
    expect(ev.readBigInt()).toBeNull();
    expect(ev.write(EVENTFD_MAX - 1n)).toBe(true);
    expect(ev.write(1n)).toBe(true);
    expect(ev.write(1)).toBe(false); // would overflow: EAGAIN on a non-blocking eventfd
    expect(ev.readBigInt()).toBe(EVENTFD_MAX);
    ev.close();
  });

  it('semaphore mode takes one at a time', () => {
    const ev = track(new EventFd({ semaphore: true, initval: 2 }));
    expect(ev.read()).toBe(1);
    expect(ev.read()).toBe(1);
    expect(ev.read()).toBeNull();
    ev.close();
  });

  it('works on raw fds and adopted fds', () => {
    const ev = new EventFd(); // closed through `adopted`: not tracked
    expect(eventfdWrite(ev.fd, 3)).toBe(true);
    expect(eventfdRead(ev.fd)).toBe(3);
    const adopted = EventFd.from(ev.fd);
    adopted.write(2n);
    expect(ev.read()).toBe(2);
    adopted.close();
    expect(() => ev.read()).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('fails with errno names and rejects misuse', () => {
    const ev = track(new EventFd());
    ev.close();
    for (const op of [() => ev.read(), () => ev.readBigInt(), () => ev.write(), () => ev.watch(() => undefined)]) {
      try {
        op();
        throw new Error('unreachable');
      } catch (e) {
        expect(isSysError(e, 'EBADF')).toBe(true);
      }
    }
    const other = track(new EventFd());
    const fd = other.fd;
    other.close();
    expect(() => eventfdRead(fd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'read' }));
    expect(() => eventfdWrite(fd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'write' }));
    expect(() => closeFd(fd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(() => track(new EventFd({ initval: -1 }))).toThrow(RangeError);
    expect(() => track(new EventFd({ initval: 2 ** 32 }))).toThrow(RangeError);
    const live = track(new EventFd());
    expect(() => live.write(-1)).toThrow(RangeError);
    expect(() => live.write(EVENTFD_MAX + 1n)).toThrow(RangeError);
    expect(() => live.write(0.5)).toThrow(RangeError);
    expect(() => live.write('1' as unknown as number)).toThrow(TypeError);
    live.close();
  });
});
