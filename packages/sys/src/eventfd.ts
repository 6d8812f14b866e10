/**
 * @packageDocumentation
 * eventfd(2): a 64-bit counter behind an fd, the notification primitive of vhost-user (kick and
 * call fds). Reads return and reset the counter (or decrement it by one in semaphore mode);
 * writes add to it. Nothing here blocks: a read of a zero counter returns null.
 */
import { assertFd, assertInteger, assertOptions } from './assert.js';
import { closedError, EAGAIN, fail } from './errors.js';
import { native } from './native.js';
import { watchEventFd } from './watcher.js';
import type { EventFdCallback, FdWatcher, WatchEventFdOptions } from './watcher.js';

/**
 * Largest value a single eventfd write may add: 2^64 - 2.
 * @example
 * ```ts
 * ev.write(EVENTFD_MAX); // the counter is now full
 * ```
 */
export const EVENTFD_MAX = 0xfffffffffffffffen;

/** The fd {@link EventFd.from} hands to the constructor (-1 otherwise). */
let adopting = -1;

/**
 * Options of {@link EventFd}.
 * @example
 * ```ts
 * new EventFd({ initval: 1, semaphore: true });
 * ```
 */
export interface EventFdOptions {
  /** Initial counter value (0 to 2^32-1). Default 0. */
  initval?: number;
  /** EFD_SEMAPHORE: each read returns 1 and decrements the counter by 1. Default false. */
  semaphore?: boolean;
}

function checkWriteValue(value: number | bigint, label: string): void {
  if (typeof value === 'bigint') {
    if (value < 0n || value > EVENTFD_MAX) throw new RangeError(`${label}: value must be in [0, 2^64-2], got ${value}`);
  } else {
    assertInteger(value, `${label}: value`, 0, Number.MAX_SAFE_INTEGER);
  }
}

/**
 * Reads (and resets) an eventfd counter without blocking, if the fd is non-blocking. An fd in
 * blocking mode with a zero counter blocks: use {@link setNonBlocking} on fds you did not create.
 *
 * @param fd - an eventfd
 * @returns the counter (at least 1; values above 2^53 lose precision), or null if it was 0 (EAGAIN)
 * @throws {@link SysError} `EBADF`, `EINVAL` (not an eventfd)
 * @example
 * ```ts
 * const n = eventfdRead(kickFd); // null when nothing was signalled
 * ```
 */
export function eventfdRead(fd: number): number | null {
  assertFd(fd, 'eventfdRead');
  const r = native.eventfdRead(fd);
  if (r < 0) {
    if (r === -EAGAIN) return null;
    throw fail(r);
  }
  return r;
}

/**
 * Adds `value` to an eventfd counter, waking its readers.
 *
 * @param fd - an eventfd
 * @param value - amount to add, default 1 (a number up to 2^53-1, or a bigint up to 2^64-2)
 * @returns true, or false if the counter would overflow and the fd is non-blocking (EAGAIN)
 * @throws {@link SysError} `EBADF`, `EINVAL`
 * @throws RangeError on a bad value
 * @example
 * ```ts
 * eventfdWrite(callFd); // interrupt the driver
 * ```
 */
export function eventfdWrite(fd: number, value: number | bigint = 1): boolean {
  assertFd(fd, 'eventfdWrite');
  checkWriteValue(value, 'eventfdWrite');
  const r = native.eventfdWrite(fd, value);
  if (r < 0) {
    if (r === -EAGAIN) return false;
    throw fail(r);
  }
  return true;
}

/**
 * An owned, non-blocking, close-on-exec eventfd.
 *
 * @example
 * ```ts
 * const ev = new EventFd();
 * ev.write(3);
 * ev.read(); // 3
 * ev.read(); // null
 * ev.close();
 * ```
 */
export class EventFd {
  #fd: number;

  /**
   * Creates an eventfd (EFD_CLOEXEC | EFD_NONBLOCK).
   * @param options - initial value, semaphore mode
   * @throws {@link SysError} `EMFILE`, `ENFILE`
   * @throws RangeError on a bad initval
   * @example
   * ```ts
   * const call = new EventFd();
   * ```
   */
  constructor(options?: EventFdOptions) {
    if (adopting >= 0) {
      this.#fd = adopting;
      adopting = -1;
      return;
    }
    assertOptions(options, 'EventFd');
    const initval = options?.initval ?? 0;
    assertInteger(initval, 'EventFd: initval', 0, 0xffffffff);
    const fd = native.eventfd(initval, options?.semaphore === true);
    if (fd < 0) throw fail(fd, 'eventfd');
    this.#fd = fd;
  }

  /**
   * Takes ownership of an existing eventfd (for example one received over a unix socket) and puts
   * it into non-blocking mode (which the sender sees too: the flag is shared).
   * @param fd - an eventfd; the returned object owns it
   * @returns the wrapper
   * @throws {@link SysError} `EBADF`
   * @example
   * ```ts
   * const call = EventFd.from(received.fds[0]!);
   * ```
   */
  static from(fd: number): EventFd {
    assertFd(fd, 'EventFd.from');
    const r = native.setNonBlocking(fd, true);
    if (r < 0) throw fail(r);
    adopting = fd;
    return new EventFd();
  }

  /**
   * The fd, or -1 after {@link EventFd.close}.
   * @returns the fd number
   * @example
   * ```ts
   * stream.sendmsg(header, [ev.fd]);
   * ```
   */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Whether {@link EventFd.close} has run.
   * @returns true once closed
   * @example
   * ```ts
   * ev.close(); ev.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Reads and resets the counter (semaphore mode: takes 1).
   * @returns the counter, or null if it was 0
   * @throws {@link SysError} `EBADF` if closed
   * @example
   * ```ts
   * const kicks = ev.read() ?? 0;
   * ```
   */
  read(): number | null {
    if (this.#fd < 0) throw closedError('EventFd.read');
    return eventfdRead(this.#fd);
  }

  /**
   * Like {@link EventFd.read}, exact for all 64-bit values.
   * @returns the counter as a bigint, or null if it was 0
   * @throws {@link SysError} `EBADF` if closed
   * @example
   * ```ts
   * ev.readBigInt(); // 5n
   * ```
   */
  readBigInt(): bigint | null {
    if (this.#fd < 0) throw closedError('EventFd.readBigInt');
    const r = native.eventfdReadBigInt(this.#fd);
    if (typeof r === 'number') {
      if (r === -EAGAIN) return null;
      throw fail(r);
    }
    return r;
  }

  /**
   * Adds to the counter.
   * @param value - default 1
   * @returns true, or false if the counter would overflow
   * @throws {@link SysError} `EBADF` if closed
   * @throws RangeError on a bad value
   * @example
   * ```ts
   * ev.write();
   * ```
   */
  write(value: number | bigint = 1): boolean {
    if (this.#fd < 0) throw closedError('EventFd.write');
    return eventfdWrite(this.#fd, value);
  }

  /**
   * Watches this eventfd (see {@link watchEventFd}). The watcher is closed by {@link EventFd.close}.
   * @param callback - receives each counter value read
   * @param options - ref, start
   * @returns the watcher
   * @throws {@link SysError} `EBADF` if closed, `EEXIST` if already watched
   * @example
   * ```ts
   * ev.watch((err, n) => console.log('kicked', n));
   * ```
   */
  watch(callback: EventFdCallback, options?: WatchEventFdOptions): FdWatcher {
    if (this.#fd < 0) throw closedError('EventFd.watch');
    return watchEventFd(this.#fd, callback, options);
  }

  /**
   * Closes the fd (and any watcher on it). Idempotent.
   * @throws {@link SysError} if close(2) fails
   * @example
   * ```ts
   * ev.close();
   * ```
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    const r = native.close(fd);
    if (r < 0) throw fail(r);
  }
}
