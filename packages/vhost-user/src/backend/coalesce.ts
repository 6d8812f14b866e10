/**
 * Interrupt coalescing for one ring: decides when a used-buffer notification the device asked for
 * is written to the call eventfd.
 *
 * Why: under emulation (QEMU's TCG, JavaScript emulators) an interrupt costs the guest far more
 * than a request: the vCPU leaves its translated code, the interrupt controller and the
 * transport's status and acknowledge registers are emulated, the frontend's main loop wakes to
 * inject it, and the completion is often passed to another vCPU. A driver that keeps several
 * requests in flight needs one interrupt per batch, not one per request.
 *
 * How: a notification is *held* while the driver keeps kicking (it is busy submitting, not waiting
 * for us) and sent once it has not kicked for {@link CoalesceOptions.quietUs}, or after
 * {@link CoalesceOptions.maxDelayUs} at most. With a host that can `poll` the queue, kicks are
 * also switched off for the hold (`suppress`): the driver adds requests without notifying (under
 * emulation a kick is an exit from translated code, a locked MMIO dispatch and an eventfd write),
 * and the timer looks at the queue every `quietUs` instead; new buffers found count as kicks.
 * Notifications are switched back on, and the queue looked at once more, before the hold ends. A driver that waits for each request before it
 * submits the next (one request in flight) never kicks during a hold; such an *idle* hold only
 * delays it, so after one the coalescer sends the next notifications at once and tries holding
 * again only after 1, 2, 4 … up to {@link MAX_BACKOFF} of them. A hold during which the driver
 * kicked resets the back-off. At one request in flight the cost is thus one delayed completion
 * in {@link MAX_BACKOFF}; with many in flight most completions share an interrupt.
 *
 * Correctness does not depend on any of this: a held notification is always sent (by the timer,
 * when the ring stops, or when the connection ends), and the driver reads every used element
 * when it is finally interrupted (VIRTIO 1.2 §2.7.10 asks the device to notify, not to notify
 * immediately).
 *
 * @module
 */

/**
 * Interrupt coalescing settings of {@link VhostUserBackendOptions.interruptCoalescing}.
 * @example
 * ```ts
 * new VhostUserBackend(device, { interruptCoalescing: { quietUs: 30, maxDelayUs: 200 } });
 * ```
 */
export interface CoalesceOptions {
  /** Send a held notification once the driver has not kicked for this long (µs, default {@link DEFAULT_COALESCE_QUIET_US}). */
  readonly quietUs?: number;
  /** Never hold a notification longer than this (µs, default {@link DEFAULT_COALESCE_MAX_DELAY_US}). */
  readonly maxDelayUs?: number;
}

/** Default {@link CoalesceOptions.quietUs}: 30 µs. @example `DEFAULT_COALESCE_QUIET_US === 30` */
export const DEFAULT_COALESCE_QUIET_US = 30;
/** Default {@link CoalesceOptions.maxDelayUs}: 150 µs. @example `DEFAULT_COALESCE_MAX_DELAY_US === 150` */
export const DEFAULT_COALESCE_MAX_DELAY_US = 150;
/** After idle holds, at most this many notifications are sent at once before the next hold. @example `MAX_BACKOFF === 256` */
export const MAX_BACKOFF = 256;

/**
 * What an {@link InterruptCoalescer} works with: the notification itself (a call eventfd write, an
 * interrupt line), a one-shot timer and a clock.
 * @example
 * ```ts
 * const host: CoalescerHost = {
 *   signal: () => callFd.write(1),
 *   armTimer: (us) => timer.arm(Math.round(us * 1000)),
 *   disarmTimer: () => timer.disarm(),
 *   now: () => performance.now() * 1000,
 * };
 * ```
 */
export interface CoalescerHost {
  /** Writes the call eventfd. */
  signal(): void;
  /** Arms (or re-arms) the one-shot timer `us` µs from now; its expiry calls {@link InterruptCoalescer.onTimer}. */
  armTimer(us: number): void;
  disarmTimer(): void;
  /** Monotonic time in µs. */
  now(): number;
  /**
   * Optional kick suppression during holds: `suppress(true)` when a hold starts (the driver stops
   * kicking), `suppress(false)` before it ends. Requires `poll`.
   */
  suppress?(on: boolean): void;
  /** Looks at the queue (processes what the driver added); returns true when it found new buffers. */
  poll?(): boolean;
}

/**
 * Counters of the interrupt coalescer the backend keeps per ring (see
 * {@link VhostUserBackendOptions.interruptCoalescing}).
 * @example
 * ```ts
 * const { requests, signals } = coalescer.stats;
 * ```
 */
export interface CoalesceStats {
  /** Call eventfd writes. */
  signals: number;
  /** Notifications held. */
  holds: number;
  /** Holds during which the driver kicked. */
  busyHolds: number;
  /** Notifications the device asked for. */
  requests: number;
}

/**
 * Per-queue interrupt coalescer (see the module text). The vhost-user backend creates one per ring
 * when {@link VhostUserBackendOptions.interruptCoalescing} is set; any transport can use it: call
 * {@link InterruptCoalescer.kicked} on each driver notification that added buffers during a hold, {@link InterruptCoalescer.request}
 * where the device asks for a used-buffer notification, and {@link InterruptCoalescer.onTimer} when
 * the host's timer expires.
 * @example
 * ```ts
 * const timer = new TimerFd(() => c.onTimer());
 * const c = new InterruptCoalescer({
 *   signal: () => callFd.write(1),
 *   armTimer: (us) => timer.arm(Math.round(us * 1000)),
 *   disarmTimer: () => timer.disarm(),
 *   now: () => performance.now() * 1000,
 * }, 30, 150);
 * kickFd.watch(() => { const held = c.holding, before = queue.nextAvail; device.queueNotify(0); if (held && queue.nextAvail !== before) c.kicked(); });
 * const interrupt = { signalUsedBuffer: () => c.request(), signalConfigChange: () => undefined };
 * ```
 */
export class InterruptCoalescer {
  private held = false;
  private heldSince = 0;
  private lastKick = -Infinity;
  private kicksDuringHold = 0;
  /** Notifications still to send at once before the next hold. */
  private skip = 0;
  /** The current back-off (0 while holds are busy). */
  private backoff = 0;
  /** Counters since creation. */
  readonly stats: CoalesceStats = { signals: 0, holds: 0, busyHolds: 0, requests: 0 };

  /**
   * @param target - the notification, timer and clock
   * @param quietUs - quiet time that ends a hold (µs, > 0)
   * @param maxDelayUs - longest hold (µs, at least `quietUs`)
   * @throws RangeError on bad delays
   * @example
   * ```ts
   * new InterruptCoalescer(host, DEFAULT_COALESCE_QUIET_US, DEFAULT_COALESCE_MAX_DELAY_US);
   * ```
   */
  constructor(
    private readonly target: CoalescerHost,
    private readonly quietUs: number,
    private readonly maxDelayUs: number,
  ) {
    if (!(quietUs > 0) || !(maxDelayUs >= quietUs) || !Number.isFinite(maxDelayUs)) {
      throw new RangeError(`InterruptCoalescer: need 0 < quietUs <= maxDelayUs (finite), got ${quietUs}, ${maxDelayUs}`);
    }
  }

  /**
   * Whether a notification is held.
   * @returns true between a held {@link InterruptCoalescer.request} and its signal
   * @example
   * ```ts
   * if (c.holding) c.flush();
   * ```
   */
  get holding(): boolean {
    return this.held;
  }

  /**
   * The driver kicked during a hold and added buffers; call it after the device processed them. A
   * kick whose buffers a look at the queue already took (kicks arrive late), or one that came before
   * the hold (its own requests may have started it), says nothing of whether the driver is busy: do
   * not report it, or a driver with one request in flight has every completion held.
   * @example
   * ```ts
   * const held = c.holding, before = queue.nextAvail;
   * device.queueNotify(0);
   * if (held && queue.nextAvail !== before) c.kicked();
   * ```
   */
  kicked(): void {
    const now = this.target.now();
    this.lastKick = now;
    if (!this.held) return;
    this.kicksDuringHold++;
    // the hold now ends `quietUs` after this kick, or at its maximum
    const left = Math.min(this.quietUs, this.heldSince + this.maxDelayUs - now);
    if (left <= 0) this.release();
    else this.target.armTimer(left);
  }

  /**
   * The device asks for a used-buffer notification: signalled now, or held.
   * @example
   * ```ts
   * const interrupt = { signalUsedBuffer: () => c.request(), signalConfigChange: () => undefined };
   * ```
   */
  request(): void {
    this.stats.requests++;
    if (this.held) return; // the held one covers it
    if (this.skip > 0) {
      this.skip--;
      return this.fire();
    }
    this.held = true;
    this.kicksDuringHold = 0;
    this.heldSince = this.target.now();
    this.stats.holds++;
    if (this.target.poll !== undefined) this.target.suppress?.(true);
    this.target.armTimer(this.quietUs);
  }

  /**
   * The host's timer expired: ends the hold if the driver has been quiet long enough or the
   * maximum delay has passed, else re-arms the timer.
   * @example
   * ```ts
   * const timer = new TimerFd(() => c.onTimer());
   * ```
   */
  onTimer(): void {
    if (!this.held) return;
    if (this.target.poll?.() === true) {
      // the driver added buffers without kicking (suppressed): that is a kick
      this.lastKick = this.target.now();
      this.kicksDuringHold++;
    }
    const now = this.target.now();
    const quietLeft = Math.max(this.lastKick, this.heldSince) + this.quietUs - now;
    const maxLeft = this.heldSince + this.maxDelayUs - now;
    const left = Math.min(quietLeft, maxLeft);
    if (left > 0.5) return this.target.armTimer(left); // a timer that fired early (clock skew between sources)
    this.release();
  }

  /**
   * Sends a held notification now (the queue stops, the connection ends).
   * @example
   * ```ts
   * c.flush();
   * ```
   */
  flush(): void {
    if (this.held) this.release(false);
  }

  /**
   * Back to the initial state (no back-off), sending a held notification first.
   * @example
   * ```ts
   * c.reset();
   * ```
   */
  reset(): void {
    this.flush();
    this.skip = 0;
    this.backoff = 0;
    this.lastKick = -Infinity;
  }

  /** Ends a hold: the back-off learns whether it was worth it. */
  private release(final = true): void {
    if (this.target.poll !== undefined) {
      this.target.suppress?.(false);
      // notifications back on, and a last look (anything found joins this interrupt)
      if (final && this.target.poll()) this.kicksDuringHold++;
    }
    if (this.kicksDuringHold > 0) {
      this.stats.busyHolds++;
      this.backoff = 0;
      this.skip = 0;
    } else {
      this.backoff = this.backoff === 0 ? 1 : Math.min(this.backoff * 2, MAX_BACKOFF);
      this.skip = this.backoff;
    }
    this.fire();
  }

  private fire(): void {
    if (this.held) {
      this.held = false;
      this.target.disarmTimer();
    }
    this.stats.signals++;
    this.target.signal();
  }
}
