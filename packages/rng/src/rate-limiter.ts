/**
 * {@link RateLimiter}: at most `maxBytes` of entropy per period of `periodMs`, the limit of
 * rust-vmm's vhost-device-rng (`--period`, `--max-bytes`): a period starts with the first request
 * after the previous one ended; a request gets what is left of the period's budget, up to what
 * it asks for; when nothing is left it waits for the next period. Nothing is dropped or failed.
 * One limiter may be shared by several devices (a daemon's sockets): they draw on one budget,
 * served first come, first served. Time comes from a {@link RateClock}, so tests run on a fake one.
 * @module
 */

/**
 * Where a {@link RateLimiter} reads the time and sets its timer (milliseconds).
 * @example
 * ```ts
 * const clock: RateClock = { now: () => Date.now(), setTimer: (ms, fn) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); } };
 * ```
 */
export interface RateClock {
  /** The current time in milliseconds (monotonic). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The runtime's clock: `performance.now()` and `setTimeout`. @example `new RateLimiter({ periodMs: 1000, maxBytes: 4096, clock: systemClock })` */
export const systemClock: RateClock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/**
 * Options of a {@link RateLimiter}.
 * @example
 * ```ts
 * const opts: RateLimiterOptions = { periodMs: 1000, maxBytes: 4096 };
 * ```
 */
export interface RateLimiterOptions {
  /** Length of a period in milliseconds (an integer from 1). */
  periodMs: number;
  /** Bytes granted per period (an integer from 1). */
  maxBytes: number;
  /** Default {@link systemClock}. */
  clock?: RateClock;
}

interface Waiter {
  readonly want: number;
  readonly grant: (bytes: number) => void;
}

function positiveInt(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`RateLimiter: ${label} must be a positive integer, got ${String(value)}`);
  return value;
}

/**
 * A byte budget per period, shared by whoever holds the limiter.
 * @example
 * ```ts
 * const limiter = new RateLimiter({ periodMs: 1000, maxBytes: 4096 });
 * const a = new RngDevice({ rateLimiter: limiter }), b = new RngDevice({ rateLimiter: limiter }); // 4 KiB/s together
 * ```
 */
export class RateLimiter {
  /** Length of a period in milliseconds. */
  readonly periodMs: number;
  /** Bytes granted per period. */
  readonly maxBytes: number;
  private readonly clock: RateClock;
  private periodStart = -Infinity;
  private left = 0;
  private readonly waiters: Waiter[] = [];
  private cancelTimer: (() => void) | null = null;
  /** Bytes granted since creation. */
  granted = 0;
  /** Requests that had to wait for a later period. */
  waits = 0;

  /**
   * @param options - see {@link RateLimiterOptions}.
   * @throws RangeError when `periodMs` or `maxBytes` is not a positive integer.
   */
  constructor(options: RateLimiterOptions) {
    this.periodMs = positiveInt(options.periodMs, 'periodMs');
    this.maxBytes = positiveInt(options.maxBytes, 'maxBytes');
    this.clock = options.clock ?? systemClock;
  }

  /** Bytes left in the current period (the full budget when the period has ended). */
  get remaining(): number {
    return this.clock.now() - this.periodStart >= this.periodMs ? this.maxBytes : this.left;
  }

  /**
   * Asks for up to `want` bytes: `grant(n)` is called with 1..`want` bytes, at once when the
   * period has budget left and nobody waits before this request, else when a later period starts.
   * @param want - bytes wanted (an integer from 1).
   * @param grant - receives the bytes granted (they are spent).
   * @returns a function that withdraws the request if it has not been granted yet.
   * @throws RangeError when `want` is not a positive integer.
   * @example
   * ```ts
   * const cancel = limiter.request(512, (n) => fill(n));
   * ```
   */
  request(want: number, grant: (bytes: number) => void): () => void {
    positiveInt(want, 'want');
    this.refresh();
    if (this.waiters.length === 0 && this.left > 0) {
      grant(this.take(want));
      return () => undefined;
    }
    const w: Waiter = { want, grant };
    this.waiters.push(w);
    this.waits++;
    this.arm();
    return () => {
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
      if (this.waiters.length === 0 && this.cancelTimer !== null) {
        this.cancelTimer();
        this.cancelTimer = null;
      }
    };
  }

  private take(want: number): number {
    const n = Math.min(want, this.left);
    this.left -= n;
    this.granted += n;
    return n;
  }

  /** A period that has ended gives way to a new one starting now, with the full budget. */
  private refresh(): void {
    const now = this.clock.now();
    if (now - this.periodStart >= this.periodMs) {
      this.periodStart = now;
      this.left = this.maxBytes;
    }
  }

  private arm(): void {
    if (this.cancelTimer !== null) return;
    const wait = Math.max(0, this.periodStart + this.periodMs - this.clock.now());
    this.cancelTimer = this.clock.setTimer(wait, () => {
      this.cancelTimer = null;
      this.refresh();
      // A grant may request again (the next chain): it queues behind those still waiting.
      while (this.waiters.length > 0 && this.left > 0) {
        const w = this.waiters.shift()!;
        w.grant(this.take(w.want));
      }
      if (this.waiters.length > 0) this.arm();
    });
  }
}
