/**
 * Predictive ring polling for one ring ("hybrid polling", as Linux's block layer does for
 * completions): after the device has notified the driver, it sleeps until just before the driver
 * is expected to add its next request, then looks at the ring in a short busy loop with the
 * driver's kicks switched off.
 *
 * Why: a driver that waits for each request before it submits the next (one request in flight)
 * pays a kick for every request, and the kick is the slow part of the round trip: the vCPU exits
 * to write the kick eventfd and the device's thread, asleep on an idle CPU, has to be woken
 * through an inter-processor interrupt (tens of µs in a VM) and then enters JavaScript with cold
 * caches. A device that is already looking at the ring when the request arrives sees it within
 * a microsecond, and the driver does not kick at all.
 *
 * How: the time from a notification to the driver's next request (the *gap*) is learnt per ring.
 * After each notification a one-shot timer is set to fire `lead` µs before the window
 * `[estimate - spinUs/2, estimate + spinUs/2]` opens (`lead`, the timer's own lateness, is learnt
 * too). In the window, kicks are off and the ring is looked at until a request arrives (a *hit*)
 * or the window closes (*late*: kicks back on, the ring looked at once more, the estimate moves
 * later by `spinUs/8`). A kick that arrives before the window opens (*early*) moves the estimate
 * earlier by `spinUs/8`, a request that was already waiting when the window opened by half that
 * (its kick was still on the way: a kick reaches the device tens of µs after the driver's write).
 * So the window settles where requests that come too early are about as many as those that come
 * too late. Outside windows the ring behaves as without polling: kicks on, the device woken by them.
 *
 * Bounds: at most `spinUs` of busy looking per notification, and only when the learnt gap is
 * below `maxGapUs` (a driver that submits rarely is never polled for). When fewer than one
 * window in four has caught its request, the poller pauses for 1, 2, 4 … up to
 * {@link MAX_POLL_BACKOFF} notifications before it tries again. A driver that keeps many requests
 * in flight rarely leaves the ring empty, so its windows end at once with a hit.
 *
 * Correctness does not depend on any of this: kicks are off only while the loop looks at the
 * ring, and they are switched on, and the ring looked at once more, before the loop ends.
 *
 * @module
 */

/**
 * Predictive polling settings of {@link VhostUserBackendOptions.kickPolling}.
 * @example
 * ```ts
 * new VhostUserBackend(device, { kickPolling: { spinUs: 60, maxGapUs: 1000 } });
 * ```
 */
export interface KickPollOptions {
  /** Longest busy look at the ring per notification (µs, default {@link DEFAULT_POLL_SPIN_US}). */
  readonly spinUs?: number;
  /** Do not poll when the driver's next request is expected later than this after a notification (µs, default {@link DEFAULT_POLL_MAX_GAP_US}). */
  readonly maxGapUs?: number;
}

/** Default {@link KickPollOptions.spinUs} (µs). @example `new KickPoller(host, DEFAULT_POLL_SPIN_US, DEFAULT_POLL_MAX_GAP_US)` */
export const DEFAULT_POLL_SPIN_US = 50;
/** Default {@link KickPollOptions.maxGapUs} (µs). @example `new KickPoller(host, DEFAULT_POLL_SPIN_US, DEFAULT_POLL_MAX_GAP_US)` */
export const DEFAULT_POLL_MAX_GAP_US = 2000;
/** Longest pause (in notifications) of a poller whose windows keep missing. @example `MAX_POLL_BACKOFF === 256` */
export const MAX_POLL_BACKOFF = 256;

/**
 * What a {@link KickPoller} needs from its ring: a one-shot timer, a clock, kick suppression and a
 * look at the ring.
 * @example
 * ```ts
 * const host: KickPollerHost = {
 *   armTimer: (us) => timer.arm(us * 1000), disarmTimer: () => timer.disarm(),
 *   now: () => performance.now() * 1000, suppress: (on) => { queue.suppressKicks = on; },
 *   poll: () => processRing(), busy: () => false,
 * };
 * ```
 */
export interface KickPollerHost {
  /** Arms (or re-arms) the one-shot timer `us` µs from now; its expiry calls {@link KickPoller.onTimer}. */
  armTimer(us: number): void;
  disarmTimer(): void;
  /** Monotonic time in µs. */
  now(): number;
  /** Kicks off (`true`) for a window, back on (`false`) when it ends. */
  suppress(on: boolean): void;
  /** Looks at the ring (processes what the driver added); returns true when it found new buffers. */
  poll(): boolean;
  /**
   * Whether someone else owns the ring's kicks now (an interrupt coalescer's hold): no window
   * then, and a kick that started a hold teaches nothing.
   */
  busy(): boolean;
}

/**
 * Counters of the kick poller the backend keeps per ring (cumulative; see
 * {@link VhostUserBackendOptions.kickPolling} and {@link VhostUserBackend.pollStats}).
 * @example
 * ```ts
 * const { windows, hits } = poller.stats;
 * console.log(`${hits}/${windows} requests found by polling`);
 * ```
 */
export interface KickPollStats {
  /** Windows opened (busy looks at the ring). */
  windows: number;
  /** Windows that found a request. */
  hits: number;
  /** Windows that closed without one. */
  late: number;
  /** Kicks that arrived before the window opened. */
  early: number;
  /** Time spent looking at the ring (µs). */
  spinUs: number;
}

/**
 * Adds the counters of `from` to `to` (totals over rings and connections).
 * @param to - the totals, updated
 * @param from - one poller's counters
 * @example
 * ```ts
 * const total: KickPollStats = { windows: 0, hits: 0, late: 0, early: 0, spinUs: 0 };
 * for (const p of pollers) addPollStats(total, p.stats);
 * ```
 */
export function addPollStats(to: KickPollStats, from: KickPollStats): void {
  to.windows += from.windows;
  to.hits += from.hits;
  to.late += from.late;
  to.early += from.early;
  to.spinUs += from.spinUs;
}

/** All-zero polling counters, to add others to. @internal */
export function noPollStats(): KickPollStats {
  return { windows: 0, hits: 0, late: 0, early: 0, spinUs: 0 };
}

/** How far the estimate moves on an early kick or a late window, as a fraction of the window. */
const STEP = 1 / 8;
/** Weight of a kick's gap in the estimate (while not polling), and of a new lateness in the timer's lead. */
const WEIGHT = 1 / 8;
/** Below this fraction of windows with a hit, the poller pauses. */
const MIN_HIT_RATE = 0.25;

/**
 * Predictive polling for one ring (see the module documentation).
 * @example
 * ```ts
 * const poller = new KickPoller(host, DEFAULT_POLL_SPIN_US, DEFAULT_POLL_MAX_GAP_US);
 * // after each call eventfd write: poller.signalled();
 * // on each kick:                   poller.kicked(); process(); poller.kickHandled(found);
 * // timer expiry:                   poller.onTimer();
 * ```
 */
export class KickPoller {
  /** When the last notification went out (NaN: no request expected). */
  private signalledAt = NaN;
  /** A window happened (or is happening) for the current gap. */
  private windowed = false;
  private armed = false;
  private spinning = false;
  /** A notification went out during the window: arm again once it ends. */
  private rearm = false;
  /** When the timer was meant to fire. */
  private wakeAt = 0;
  /** Learnt gap from a notification to the next request (µs; 0: nothing learnt yet). */
  private estimate = 0;
  /** Learnt lateness of the timer (µs). */
  private lead = 0;
  /** Recent fraction of windows with a hit. */
  private hitRate = 1;
  private skip = 0;
  private backoff = 0;
  /** Notifications so far. */
  private signals = 0;
  /** The state when the last kick arrived. */
  private readonly kick = { at: 0, armed: false, windowed: false, since: NaN, seq: 0 };
  /** Counters since creation. */
  readonly stats: KickPollStats = noPollStats();

  /**
   * @param host - the ring's timer, clock, kick switch and poll
   * @param spinUs - longest busy look per notification (µs, > 0)
   * @param maxGapUs - no polling when the expected gap is longer (µs, at least `spinUs`)
   * @throws RangeError on bad values
   * @example
   * ```ts
   * new KickPoller(host, 50, 2000);
   * ```
   */
  constructor(
    private readonly host: KickPollerHost,
    private readonly spinUs: number,
    private readonly maxGapUs: number,
  ) {
    if (!(spinUs > 0) || !(maxGapUs >= spinUs) || !Number.isFinite(maxGapUs)) {
      throw new RangeError(`KickPoller: need 0 < spinUs <= maxGapUs (finite), got ${spinUs}, ${maxGapUs}`);
    }
  }

  /**
   * The learnt gap from a notification to the driver's next request.
   * @returns µs, or 0 before anything was learnt
   * @example
   * ```ts
   * console.log(`next request expected ${poller.expectedGapUs} µs after an interrupt`);
   * ```
   */
  get expectedGapUs(): number {
    return this.estimate;
  }

  /**
   * A used-buffer notification was written: the driver's next request is now expected.
   * @example
   * ```ts
   * eventfdWrite(callFd, 1); poller.signalled();
   * ```
   */
  signalled(): void {
    this.signals++;
    this.signalledAt = this.host.now();
    this.windowed = false;
    if (this.spinning) {
      this.rearm = true;
      return;
    }
    this.schedule();
  }

  /**
   * A kick arrived; call it before the device processes the ring, and
   * {@link KickPoller.kickHandled} after.
   * @example
   * ```ts
   * const before = queue.nextAvail;
   * poller.kicked(); device.queueNotify(0); poller.kickHandled(queue.nextAvail !== before);
   * ```
   */
  kicked(): void {
    this.kick.at = this.host.now();
    this.kick.armed = this.armed;
    this.kick.windowed = this.windowed;
    this.kick.since = this.signalledAt;
    this.kick.seq = this.signals;
  }

  /**
   * The device has processed the ring after a kick.
   * @param found - whether it found new buffers: a kick for buffers a window already took (kicks
   *   are delivered late) teaches nothing
   * @example
   * ```ts
   * poller.kickHandled(true);
   * ```
   */
  kickHandled(found: boolean): void {
    if (!found) return;
    const k = this.kick;
    const first = this.estimate === 0;
    if (this.host.busy()) {
      // the request started an interrupt coalescer's hold: the driver keeps several requests in
      // flight, and its kicks say nothing of when it submits after an interrupt it waited for
    } else if (k.armed) {
      // the request came before the window opened: open it earlier next time
      this.stats.early++;
      this.estimate = Math.max(1, this.estimate - this.spinUs * STEP);
    } else if (!k.windowed && k.since === k.since) {
      // No window this time (nothing learnt yet, paused, or too slow a driver): learn from the
      // kick. It is late by its own delivery time, which the windows then correct; a driver that
      // was idle for long counts as merely slow.
      const gap = Math.min(k.at - k.since, 2 * this.maxGapUs);
      this.estimate = this.estimate === 0 ? Math.max(1, gap) : this.estimate + (gap - this.estimate) * WEIGHT;
    }
    if (this.signals === k.seq) {
      // no notification went out meanwhile (the request completes later): no window until it does
      this.disarm();
      this.signalledAt = NaN;
    } else if (this.armed || first) {
      // the request completed at once and its window was set before this kick taught us: set it again
      this.schedule();
    }
  }

  /**
   * The timer expired: looks at the ring for at most `spinUs` with kicks off.
   * @example
   * ```ts
   * const timer = new TimerFd(() => poller.onTimer());
   * ```
   */
  onTimer(): void {
    if (!this.armed) return;
    this.armed = false;
    const host = this.host;
    const start = host.now();
    this.lead += (Math.max(0, start - this.wakeAt) - this.lead) * WEIGHT;
    if (host.busy() || this.signalledAt !== this.signalledAt) return;
    this.windowed = true;
    this.stats.windows++;
    const end = start + this.spinUs;
    this.spinning = true;
    this.rearm = false;
    let hit: boolean;
    let now: number;
    let looks = 0;
    let off = false;
    try {
      host.suppress(true);
      off = true;
      for (;;) {
        looks++;
        hit = host.poll();
        now = host.now();
        if (hit || now >= end) break;
      }
      host.suppress(false);
      off = false;
      // kicks are back on: one more look, so nothing added as they came on is left waiting
      if (host.poll()) hit = true;
    } finally {
      if (off) host.suppress(false);
      this.spinning = false;
    }
    this.stats.spinUs += now - start;
    if (hit) {
      this.stats.hits++;
      // already waiting when the window opened: open it a little earlier next time
      if (looks === 1) this.estimate = Math.max(1, this.estimate - this.spinUs * STEP / 2);
    } else {
      this.stats.late++;
      this.estimate += this.spinUs * STEP;
    }
    this.learnHitRate(hit);
    if (this.rearm) {
      this.rearm = false;
      this.windowed = false;
      this.schedule();
    } else if (hit) {
      this.signalledAt = NaN;
    }
  }

  /**
   * Stops polling (the ring stops, the connection ends); what was learnt stays.
   * @example
   * ```ts
   * poller.reset();
   * ```
   */
  reset(): void {
    this.disarm();
    this.signalledAt = NaN;
    this.windowed = false;
    this.skip = 0;
    this.backoff = 0;
    this.hitRate = 1;
  }

  private learnHitRate(hit: boolean): void {
    this.hitRate += ((hit ? 1 : 0) - this.hitRate) * WEIGHT;
    if (hit || this.hitRate >= MIN_HIT_RATE) {
      if (hit && this.hitRate >= MIN_HIT_RATE) this.backoff = 0;
      return;
    }
    this.backoff = this.backoff === 0 ? 1 : Math.min(this.backoff * 2, MAX_POLL_BACKOFF);
    this.skip = this.backoff;
    this.hitRate = MIN_HIT_RATE; // after the pause, a hit or two gets it going again
  }

  private disarm(): void {
    if (this.armed) this.host.disarmTimer();
    this.armed = false;
  }

  /** Arms the timer for the window after the notification just sent, if one is due. */
  private schedule(): void {
    this.disarm();
    const estimate = this.estimate;
    if (estimate === 0 || estimate > this.maxGapUs) return;
    if (this.skip > 0) {
      this.skip--;
      return;
    }
    const now = this.host.now();
    const delay = Math.max(1, this.signalledAt + estimate - this.spinUs / 2 - this.lead - now);
    this.wakeAt = now + delay;
    this.armed = true;
    this.host.armTimer(delay);
  }
}
