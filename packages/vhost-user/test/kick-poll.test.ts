import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { KickPoller, MAX_POLL_BACKOFF, type KickPollerHost } from '@vmv/vhost-user/internal/backend/kick-poll';

interface Served {
  arrival: number;
  at: number;
  by: 'kick' | 'poll';
}

/**
 * A ring with a driver that waits for each request (depth 1), on a simulated clock.
 *
 * After each notification the driver adds its next request `gap()` µs later; a request added
 * while kicks are on is announced by a kick that reaches the device `kickDelay` µs later (the
 * wake-up). Each look at the ring costs `lookCost` µs. The device completes what it finds at once
 * and notifies.
 */
class Sim implements KickPollerHost {
  t = 0;
  timerAt: number | null = null;
  suppressed = false;
  /** When the driver adds its next request (null: it waits for a notification). */
  nextArrival: number | null = null;
  /** Requests on the ring, not yet taken (arrival times). */
  ring: number[] = [];
  kicks: number[] = [];
  served: Served[] = [];
  /** Suppression was on while the timer callback was not running (must never happen). */
  leaks = 0;
  inTimer = false;
  windowsUs: number[] = [];
  readonly poller: KickPoller;

  constructor(
    readonly gap: () => number,
    spinUs = 50,
    maxGapUs = 2000,
    readonly kickDelay = 40,
    readonly lookCost = 1,
  ) {
    this.poller = new KickPoller(this, spinUs, maxGapUs);
  }

  armTimer(us: number): void {
    expect(us).toBeGreaterThan(0);
    this.timerAt = this.t + us;
  }
  disarmTimer(): void {
    this.timerAt = null;
  }
  now(): number {
    return this.t;
  }
  suppress(on: boolean): void {
    expect(this.inTimer).toBe(true);
    this.suppressed = on;
  }
  /** An interrupt coalescer's hold, as the poller sees it. */
  holding = false;
  busy(): boolean {
    return this.holding;
  }
  poll(): boolean {
    this.t += this.lookCost;
    this.arrive();
    return this.take('poll');
  }

  /** The driver adds its request if it is due. */
  private arrive(): void {
    if (this.nextArrival === null || this.nextArrival > this.t) return;
    const a = this.nextArrival;
    this.nextArrival = null;
    this.ring.push(a);
    if (!this.suppressed) this.kicks.push(this.t + this.kickDelay);
  }

  /** The device takes what is on the ring, completes it and notifies. */
  private take(by: 'kick' | 'poll'): boolean {
    if (this.ring.length === 0) return false;
    for (const arrival of this.ring) this.served.push({ arrival, at: this.t, by });
    this.ring = [];
    this.notify();
    return true;
  }

  /** A notification: the driver's next request comes `gap()` later. */
  notify(): void {
    this.nextArrival = this.t + this.gap();
    this.poller.signalled();
  }

  /** Runs until `n` requests were served. */
  run(n: number): void {
    this.notify();
    while (this.served.length < n) {
      const next = Math.min(this.timerAt ?? Infinity, this.nextArrival ?? Infinity, this.kicks[0] ?? Infinity);
      expect(next).toBeLessThan(Infinity); // never stuck: something is always due
      this.t = next;
      if (this.suppressed) this.leaks++;
      if (this.nextArrival === next) {
        this.arrive();
      } else if (this.kicks[0] === next) {
        this.kicks.shift();
        this.poller.kicked();
        this.poller.kickHandled(this.take('kick'));
      } else {
        this.timerAt = null;
        const before = this.t;
        this.inTimer = true;
        this.poller.onTimer();
        this.inTimer = false;
        if (this.t > before) this.windowsUs.push(this.t - before);
      }
    }
  }

  get polled(): number {
    return this.served.filter((s) => s.by === 'poll').length;
  }
}

/** A deterministic pseudo-random generator (xorshift32) for gap sequences. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('KickPoller', () => {
  it('rejects bad settings', () => {
    const host = new Sim(() => 100);
    expect(() => new KickPoller(host, 0, 100)).toThrow(RangeError);
    expect(() => new KickPoller(host, 50, 49)).toThrow(RangeError);
    expect(() => new KickPoller(host, 50, Infinity)).toThrow(RangeError);
    expect(() => new KickPoller(host, NaN, 100)).toThrow(RangeError);
  });

  it('learns a steady driver and finds nearly all its requests without a kick', () => {
    const sim = new Sim(() => 200);
    sim.run(1000);
    expect(sim.polled).toBeGreaterThan(950);
    // a found request waits for at most one look
    const late = sim.served.slice(100).filter((s) => s.at - s.arrival > sim.lookCost);
    expect(late).toEqual([]);
    expect(sim.poller.expectedGapUs).toBeGreaterThan(190);
    expect(sim.poller.expectedGapUs).toBeLessThan(230);
    expect(sim.leaks).toBe(0);
  });

  it('centres its window on a jittery driver and catches most of its requests', () => {
    const r = rng(7);
    const sim = new Sim(() => 180 + 60 * r()); // 180..240 µs
    sim.run(3000);
    expect(sim.polled / 3000).toBeGreaterThan(0.9);
    const { windows, hits, late } = sim.poller.stats;
    expect(hits + late).toBe(windows);
    // a request that comes before the window opens is taken by the window's first look (its kick
    // is still on the way), which moves the window earlier; empty windows move it later
    expect(sim.poller.expectedGapUs).toBeGreaterThan(180);
    expect(sim.poller.expectedGapUs).toBeLessThan(240);
  });

  it('never looks longer than spinUs per notification', () => {
    const r = rng(3);
    const sim = new Sim(() => 100 + 400 * r(), 40);
    sim.run(2000);
    // each window: at most spinUs of looking plus the look that ends it and the last look with kicks on
    for (const w of sim.windowsUs) expect(w).toBeLessThanOrEqual(40 + 2 * sim.lookCost);
    expect(sim.poller.stats.spinUs).toBeLessThanOrEqual(sim.poller.stats.windows * (40 + sim.lookCost));
  });

  it('pauses when its windows keep missing (a driver with widely spread gaps)', () => {
    const r = rng(11);
    const sim = new Sim(() => 50 + 1900 * r()); // 50..1950 µs: a 50 µs window rarely hits
    sim.run(4000);
    const { windows, hits } = sim.poller.stats;
    expect(windows).toBeLessThan(4000 / 4); // the back-off skips most notifications
    expect(hits).toBeGreaterThan(0);
    expect(sim.leaks).toBe(0);
    expect(MAX_POLL_BACKOFF).toBe(256);
  });

  it('does not poll for a driver slower than maxGapUs', () => {
    const sim = new Sim(() => 5000, 50, 2000);
    sim.run(200);
    expect(sim.poller.stats.windows).toBe(0);
    expect(sim.polled).toBe(0);
    expect(sim.timerAt).toBeNull();
  });

  it('follows a driver that slows down, and again when it speeds up', () => {
    let gap = 200;
    const sim = new Sim(() => gap);
    sim.run(500);
    gap = 600;
    sim.run(1500);
    expect(sim.poller.expectedGapUs).toBeGreaterThan(550);
    const found = sim.served.slice(1300, 1500).filter((s) => s.by === 'poll').length;
    expect(found).toBeGreaterThan(150);
    gap = 150;
    sim.run(2500);
    expect(sim.poller.expectedGapUs).toBeLessThan(200);
  });

  it('a late kick for a request a window already took teaches nothing', () => {
    const sim = new Sim(() => 200);
    sim.run(300);
    const stats = { ...sim.poller.stats };
    const gap = sim.poller.expectedGapUs;
    sim.poller.kicked();
    sim.poller.kickHandled(false);
    expect(sim.poller.stats).toEqual(stats);
    expect(sim.poller.expectedGapUs).toBe(gap);
    expect(sim.timerAt).not.toBeNull(); // the next window is still due
  });

  it('kicks while a coalescer holds teach nothing, and no window opens during a hold', () => {
    const sim = new Sim(() => 200);
    sim.run(300);
    const gap = sim.poller.expectedGapUs;
    const windows = sim.poller.stats.windows;
    sim.holding = true; // a driver with many requests in flight: it kicks at once after each interrupt
    for (let i = 0; i < 100; i++) {
      sim.poller.signalled();
      sim.t += 3;
      sim.poller.kicked();
      sim.poller.kickHandled(true);
      sim.poller.onTimer();
    }
    expect(sim.poller.expectedGapUs).toBe(gap);
    expect(sim.poller.stats.windows).toBe(windows);
    sim.holding = false; // back to one request at a time: the learnt gap still holds
    const served = sim.served.length;
    sim.run(served + 100);
    expect(sim.served.slice(served).filter((x) => x.by === 'poll').length).toBeGreaterThan(90);
  });

  it('reset() disarms the timer and forgets the pending request', () => {
    const sim = new Sim(() => 200);
    sim.run(50);
    expect(sim.timerAt).not.toBeNull();
    sim.poller.reset();
    expect(sim.timerAt).toBeNull();
    sim.poller.onTimer(); // a timer that fired anyway does nothing
    expect(sim.suppressed).toBe(false);
  });

  it('property: every request is served, never later than a kick would serve it, kicks never left off', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 20, maxLength: 300 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 100 }),
        (gaps, spinUs, kickDelay) => {
          let i = 0;
          const sim = new Sim(() => gaps[i++ % gaps.length]!, spinUs, Math.max(spinUs, 2000), kickDelay);
          sim.run(gaps.length);
          expect(sim.leaks).toBe(0);
          expect(sim.suppressed).toBe(false);
          for (const s of sim.served) expect(s.at - s.arrival).toBeLessThanOrEqual(kickDelay + 2 * sim.lookCost);
          const { windows, hits, late } = sim.poller.stats;
          expect(hits + late).toBe(windows);
          expect(sim.poller.stats.spinUs).toBeLessThanOrEqual(windows * (spinUs + sim.lookCost));
        },
      ),
      { numRuns: 200 },
    );
  });
});
