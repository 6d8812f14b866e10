/**
 * @packageDocumentation
 * Readiness of fds on Node's own event loop (one libuv uv_poll_t per watcher). Callbacks run on
 * the main JS thread like any I/O callback (microtasks run after each), never on another thread.
 *
 * Readiness is level-triggered: while an fd stays readable the callback runs on every loop turn,
 * so a callback must drain the fd (read until it would block) or stop the watcher.
 * libuv puts a watched fd into non-blocking mode. At most one watcher may watch an fd at a time
 * (a second one fails with `EEXIST`). Close the watcher before closing the fd; {@link closeFd} and
 * the `close()` of this package's fd-owning objects do that for you.
 */
import { assertFd, assertFunction, assertInteger, assertOptions } from './assert.js';
import { closedError, fail } from './errors.js';
import type { SysError } from './errors.js';
import { native } from './native.js';
import type { NativeWatcher } from './native.js';

/**
 * libuv poll event bits, as passed to {@link FdWatcher.start} and to callbacks.
 * @example
 * ```ts
 * watchFd(fd, cb, { events: PollEvents.READABLE | PollEvents.DISCONNECT });
 * ```
 */
export const PollEvents = {
  /** The fd is readable (or at end of file, or has an error pending). */
  READABLE: 1,
  /** The fd is writable. */
  WRITABLE: 2,
  /** The peer closed its end (EPOLLRDHUP); reading would return end of file. */
  DISCONNECT: 4,
  /** Urgent/priority data (EPOLLPRI). */
  PRIORITIZED: 8,
} as const;
/**
 * One of {@link PollEvents}.
 * @example
 * ```ts
 * const e: PollEvent = PollEvents.WRITABLE;
 * ```
 */
export type PollEvent = (typeof PollEvents)[keyof typeof PollEvents];

/**
 * Called when a watched fd is ready: `events` is a mask of {@link PollEvents}. On an error
 * (`err` set, `events` 0) the watcher has already stopped.
 * @example
 * ```ts
 * const cb: WatchCallback = (err, events) => { if (events & PollEvents.READABLE) drain(); };
 * ```
 */
export type WatchCallback = (err: SysError | null, events: number) => void;

/**
 * Called when a watched eventfd has been read: `count` is the counter value read in native code
 * (at least 1; values above 2^53 lose precision). On an error (`err` set, `count` 0) the watcher has
 * already stopped.
 * @example
 * ```ts
 * const onKick: EventFdCallback = (err, count) => { if (!err) processQueue(); };
 * ```
 */
export type EventFdCallback = (err: SysError | null, count: number) => void;

/**
 * Options of {@link watchFd}.
 * @example
 * ```ts
 * watchFd(fd, cb, { events: PollEvents.WRITABLE, ref: false, start: false });
 * ```
 */
export interface WatchOptions {
  /** Event mask of {@link PollEvents}. Default READABLE. */
  events?: number;
  /** false: do not keep the process alive for this watcher (like `unref()`). Default true. */
  ref?: boolean;
  /** false: create stopped; call {@link FdWatcher.start} later. Default true. */
  start?: boolean;
}

/**
 * Options of {@link watchEventFd}.
 * @example
 * ```ts
 * watchEventFd(kickFd, cb, { ref: false });
 * ```
 */
export interface WatchEventFdOptions {
  /** false: do not keep the process alive for this watcher. Default true. */
  ref?: boolean;
  /** false: create stopped. Default true. */
  start?: boolean;
}

const ALL_EVENTS = 15;
const MODE_PLAIN = 0;
const MODE_EVENTFD = 1;
const kCreate = Symbol('FdWatcher.create');

/**
 * Watches one fd for readiness. Create with {@link watchFd} or {@link watchEventFd}. A started
 * watcher keeps itself alive (and, unless unref'd, the process); a closed or stopped one that is no
 * longer referenced is released by the garbage collector. The watcher never closes its fd.
 *
 * @example
 * ```ts
 * const w = watchFd(stream.fd, (err, events) => {
 *   if (err) throw err;
 *   if (events & PollEvents.READABLE) drain(stream);
 * });
 * w.unref();
 * // later
 * w.close();
 * ```
 */
export class FdWatcher {
  /** The watched fd. */
  readonly fd: number;
  #native: NativeWatcher;
  #events: number;

  /**
   * Internal: use {@link watchFd} or {@link watchEventFd}.
   * @param token - internal
   * @param fd - watched fd
   * @param nativeWatcher - the native half
   * @param events - default event mask
   * @throws TypeError when called from outside the package
   * @example
   * ```ts
   * const w = watchFd(fd, cb); // not new FdWatcher(...)
   * ```
   */
  constructor(token: symbol, fd: number, nativeWatcher: NativeWatcher, events: number) {
    if (token !== kCreate) throw new TypeError('FdWatcher: use watchFd() or watchEventFd()');
    this.fd = fd;
    this.#native = nativeWatcher;
    this.#events = events;
  }

  /**
   * Whether the watcher is started (and not closed).
   * @returns true while started
   * @example
   * ```ts
   * w.stop(); w.active; // false
   * ```
   */
  get active(): boolean {
    return this.#native.isActive();
  }

  /**
   * Whether the watcher is closed (by {@link FdWatcher.close}, or by closing its fd through this package).
   * @returns true once closed
   * @example
   * ```ts
   * closeFd(w.fd); w.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#native.isClosed();
  }

  /**
   * The event mask used by the last {@link FdWatcher.start}.
   * @returns a mask of {@link PollEvents}
   * @example
   * ```ts
   * w.events & PollEvents.READABLE;
   * ```
   */
  get events(): number {
    return this.#events;
  }

  /**
   * Starts (or restarts with a new mask) watching.
   * @param events - mask of {@link PollEvents}; default: the mask given at creation
   * @returns this
   * @throws {@link SysError} `EBADF` if the watcher is closed
   * @throws RangeError on a bad mask
   * @example
   * ```ts
   * w.start(PollEvents.READABLE | PollEvents.WRITABLE);
   * ```
   */
  start(events: number = this.#events): this {
    assertInteger(events, 'FdWatcher.start: events', 1, ALL_EVENTS);
    if (this.#native.isClosed()) throw closedError('FdWatcher.start');
    const r = this.#native.start(events);
    if (r < 0) throw fail(r, 'uv_poll_start');
    this.#events = events;
    return this;
  }

  /**
   * Stops watching; the watcher can be started again. No-op when stopped or closed.
   * @returns this
   * @example
   * ```ts
   * w.stop();
   * ```
   */
  stop(): this {
    this.#native.stop();
    return this;
  }

  /**
   * Lets the process exit while this watcher is active (uv_unref).
   * @returns this
   * @example
   * ```ts
   * watchFd(fd, cb).unref();
   * ```
   */
  unref(): this {
    this.#native.unref();
    return this;
  }

  /**
   * Keeps the process alive while this watcher is active (the default; uv_ref).
   * @returns this
   * @example
   * ```ts
   * w.ref();
   * ```
   */
  ref(): this {
    this.#native.ref();
    return this;
  }

  /**
   * Whether the watcher keeps the process alive when active.
   * @returns true unless {@link FdWatcher.unref} was called
   * @example
   * ```ts
   * w.unref(); w.hasRef(); // false
   * ```
   */
  hasRef(): boolean {
    return this.#native.hasRef();
  }

  /**
   * Stops and releases the watcher (its callback never runs again). Does not close the fd. Idempotent.
   * @example
   * ```ts
   * w.close(); closeFd(w.fd);
   * ```
   */
  close(): void {
    this.#native.close();
  }
}

function createWatcher(fd: number, mode: number, callback: (status: number, value: number) => void, events: number, ref: boolean, start: boolean): FdWatcher {
  const nw = new native.Watcher();
  const r = nw.init(fd, mode, callback);
  if (r < 0) throw fail(r, 'uv_poll_init', `fd ${fd}`);
  const watcher = new FdWatcher(kCreate, fd, nw, events);
  if (!ref) nw.unref();
  if (start) {
    const s = nw.start(events);
    if (s < 0) {
      nw.close();
      throw fail(s, 'uv_poll_start', `fd ${fd}`);
    }
  }
  return watcher;
}

/**
 * Watches `fd` for readiness on Node's event loop.
 *
 * @param fd - an fd that epoll supports (socket, pipe, eventfd, tty...; not a regular file)
 * @param callback - called with the ready {@link PollEvents} mask
 * @param options - events (default READABLE), ref, start
 * @returns the started watcher
 * @throws {@link SysError} `EEXIST` (fd already watched), `EBADF`, `EPERM` (fd not pollable)
 * @throws TypeError / RangeError on bad arguments
 * @example
 * ```ts
 * const w = watchFd(listener.fd, (err) => { if (!err) onConnection(listener.accept()); });
 * ```
 */
export function watchFd(fd: number, callback: WatchCallback, options?: WatchOptions): FdWatcher {
  assertFd(fd, 'watchFd');
  assertFunction(callback, 'watchFd: callback');
  assertOptions(options, 'watchFd');
  const events = options?.events ?? PollEvents.READABLE;
  assertInteger(events, 'watchFd: events', 1, ALL_EVENTS);
  const dispatch = (status: number, value: number): void => {
    if (status < 0) callback(fail(status, undefined, `fd ${fd}`), 0);
    else callback(null, value);
  };
  return createWatcher(fd, MODE_PLAIN, dispatch, events, options?.ref !== false, options?.start !== false);
}

/**
 * Watches an eventfd: when it becomes readable the native side reads (and so resets) the counter
 * and calls `callback` with its value, with no extra call from JavaScript. This is the path of a
 * virtqueue kick.
 *
 * @param fd - an eventfd (for example a vhost-user kick fd)
 * @param callback - called with the counter value read
 * @param options - ref, start
 * @returns the started watcher
 * @throws {@link SysError} `EEXIST` (fd already watched), `EBADF`
 * @throws TypeError / RangeError on bad arguments
 * @example
 * ```ts
 * const w = watchEventFd(kickFd, (err, count) => { if (!err) queue.process(); });
 * ```
 */
export function watchEventFd(fd: number, callback: EventFdCallback, options?: WatchEventFdOptions): FdWatcher {
  assertFd(fd, 'watchEventFd');
  assertFunction(callback, 'watchEventFd: callback');
  assertOptions(options, 'watchEventFd');
  const dispatch = (status: number, value: number): void => {
    if (status < 0) callback(fail(status, undefined, `eventfd ${fd}`), 0);
    else callback(null, value);
  };
  return createWatcher(fd, MODE_EVENTFD, dispatch, PollEvents.READABLE, options?.ref !== false, options?.start !== false);
}
