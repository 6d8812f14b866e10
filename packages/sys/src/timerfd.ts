/**
 * @packageDocumentation
 * timerfd(2): a CLOCK_MONOTONIC timer behind an fd, with nanosecond resolution, that fires on
 * Node's event loop through a watcher. Node's own timers have millisecond resolution; this one
 * serves the microsecond delays of interrupt coalescing and polling back-offs.
 */
import { assertFunction, assertInteger, assertOptions } from './assert.js';
import { closedError, fail } from './errors.js';
import { native } from './native.js';
import { watchEventFd } from './watcher.js';
import type { FdWatcher } from './watcher.js';

/**
 * Options of {@link TimerFd}.
 * @example
 * ```ts
 * const t = new TimerFd(() => flush(), { ref: false });
 * ```
 */
export interface TimerFdOptions {
  /** false: an armed timer does not keep the process alive. Default true. */
  ref?: boolean;
}

/** Largest delay accepted by {@link TimerFd.arm}: 2^53-1 ns (about 104 days). @example `t.arm(TIMERFD_MAX_NS)` */
export const TIMERFD_MAX_NS = Number.MAX_SAFE_INTEGER;

/**
 * A one-shot (or periodic) monotonic timer on Node's event loop, backed by a non-blocking,
 * close-on-exec timerfd. {@link TimerFd.arm} sets (or resets) the expiry relative to now; the
 * callback runs on the loop with the number of expirations since the last callback (1 for a
 * one-shot timer). Re-arming before expiry replaces the pending expiry; {@link TimerFd.disarm}
 * cancels it.
 *
 * @example
 * ```ts
 * import { TimerFd } from '@vmv/sys';
 * const t = new TimerFd((expirations) => console.log('fired', expirations));
 * t.arm(50_000); // in 50 µs
 * // ... later, when done:
 * t.close();
 * ```
 */
export class TimerFd {
  #fd: number;
  #watcher: FdWatcher | null;
  #armed = false;
  #interval = false;
  readonly #ref: boolean;

  /**
   * Creates the timerfd (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC) and its watcher, disarmed.
   * @param callback - runs on the loop at each expiry with the expiration count (at least 1)
   * @param options - ref
   * @throws {@link SysError} `EMFILE`, `ENFILE`, `ENOMEM`
   * @throws TypeError on a bad callback or options
   * @example
   * ```ts
   * const t = new TimerFd(() => signal());
   * ```
   */
  constructor(callback: (expirations: number) => void, options?: TimerFdOptions) {
    assertFunction(callback, 'TimerFd: callback');
    assertOptions(options, 'TimerFd');
    const fd = native.timerfdCreate();
    if (fd < 0) throw fail(fd, 'timerfd_create');
    this.#fd = fd;
    try {
      this.#watcher = watchEventFd(fd, (err, count) => {
        if (err !== null) return; // only EBADF after close; nothing to report
        if (!this.#interval) {
          this.#armed = false;
          this.#watcher?.unref();
        }
        callback(count);
      });
    } catch (e) {
      native.close(fd);
      throw e;
    }
    this.#ref = options?.ref !== false;
    this.#watcher.unref(); // it keeps the process alive only while armed
  }

  /**
   * The fd, or -1 after {@link TimerFd.close}.
   * @returns the fd number
   * @example
   * ```ts
   * console.log(t.fd);
   * ```
   */
  get fd(): number {
    return this.#fd;
  }

  /**
   * Whether an expiry is pending.
   * @returns true between {@link TimerFd.arm} and the expiry (always for a periodic timer), false otherwise
   * @example
   * ```ts
   * if (!t.armed) t.arm(20_000);
   * ```
   */
  get armed(): boolean {
    return this.#armed;
  }

  /**
   * Arms the timer `delayNs` nanoseconds from now, replacing any pending expiry; with
   * `intervalNs`, it then fires every `intervalNs` until disarmed. An expiry that happened but
   * whose callback has not run yet still runs.
   * @param delayNs - delay, at least 1 ns (an integer up to {@link TIMERFD_MAX_NS})
   * @param intervalNs - period after the first expiry; 0 (default) for one shot
   * @throws {@link SysError} `EBADF` once closed
   * @throws RangeError on a bad delay or interval
   * @example
   * ```ts
   * t.arm(100_000);          // once, in 100 µs
   * t.arm(1_000_000, 1_000_000); // every millisecond
   * ```
   */
  arm(delayNs: number, intervalNs = 0): void {
    if (this.#fd < 0) throw closedError('TimerFd.arm');
    assertInteger(delayNs, 'TimerFd.arm: delayNs', 1, TIMERFD_MAX_NS);
    assertInteger(intervalNs, 'TimerFd.arm: intervalNs', 0, TIMERFD_MAX_NS);
    const r = native.timerfdSet(this.#fd, delayNs, intervalNs);
    if (r < 0) throw fail(r);
    this.#armed = true;
    this.#interval = intervalNs > 0;
    if (this.#ref) this.#watcher?.ref();
  }

  /**
   * Cancels a pending expiry (no-op when disarmed).
   * @throws {@link SysError} `EBADF` once closed
   * @example
   * ```ts
   * t.disarm();
   * ```
   */
  disarm(): void {
    if (this.#fd < 0) throw closedError('TimerFd.disarm');
    if (!this.#armed) return;
    const r = native.timerfdSet(this.#fd, 0, 0);
    if (r < 0) throw fail(r);
    this.#armed = false;
    this.#interval = false;
    this.#watcher?.unref();
  }

  /**
   * Closes the watcher and the fd; a pending expiry never runs. Idempotent.
   * @example
   * ```ts
   * t.close();
   * ```
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.#armed = false;
    this.#watcher?.close();
    this.#watcher = null;
    native.close(fd);
  }
}
