/**
 * One virtqueue as a vhost-user frontend drives it: the driver side of the ring in shared guest
 * memory (`@vmv/queue/driver`), the kick eventfd the backend watches and the call eventfd it
 * signals used buffers on (watched on Node's loop, each signal a callback).
 *
 * @module
 */

import type { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import { EventFd, type FdWatcher } from '@vmv/sys';

/**
 * The driver of a {@link FrontendVring}: split or packed, as chosen at setup.
 *
 * @example
 * ```ts
 * const d: FrontendDriver<number> = ring.driver;
 * d.add([{ addr: 0x10000, len: 16 }], [{ addr: 0x11000, len: 1 }], 7);
 * ```
 */
export type FrontendDriver<T> = SplitDriver<T> | PackedDriver<T>;

/**
 * A ring set up by `VhostUserFrontend.setupVring`. Owned by its frontend (closed with it).
 *
 * @example
 * ```ts
 * const ring = await fe.setupVring(0, { memory: ram, size: 128, address: 0x10000, onCall: () => drain() });
 * ring.driver.add(out, inBufs, token);
 * ring.kick();
 * ```
 */
export class FrontendVring<T = unknown> {
  /** The driver side of the ring. */
  readonly driver: FrontendDriver<T>;
  /** The kick eventfd (the backend reads it). */
  readonly kickFd: EventFd;
  /** The call eventfd (the backend writes it). */
  readonly callFd: EventFd;
  /** Used-buffer notifications received. */
  calls = 0;
  private watcher: FdWatcher | null = null;

  /**
   * @param index - the ring's index
   * @param driver - the driver over the ring's memory
   * @param onCall - called on each used-buffer notification, or undefined
   * @internal
   */
  constructor(
    readonly index: number,
    driver: FrontendDriver<T>,
    onCall: ((ring: FrontendVring<T>) => void) | undefined,
  ) {
    this.driver = driver;
    this.kickFd = new EventFd();
    this.callFd = new EventFd();
    this.watcher = this.callFd.watch((err) => {
      if (err !== null) return;
      this.calls++;
      onCall?.(this);
    });
  }

  /**
   * Kicks the backend when the driver says it wants one (event index / NO_NOTIFY honoured).
   * @returns whether the kick eventfd was written
   * @example
   * ```ts
   * ring.driver.add(out, inBufs, token);
   * ring.kick();
   * ```
   */
  kick(): boolean {
    if (!this.driver.kickPrepare()) return false;
    this.kickFd.write(1);
    return true;
  }

  /**
   * Closes both eventfds and the call watcher (the frontend does it on GET_VRING_BASE and on
   * close). Idempotent.
   * @example
   * ```ts
   * ring.close();
   * ```
   */
  close(): void {
    this.watcher?.close();
    this.watcher = null;
    this.kickFd.close();
    this.callFd.close();
  }
}
