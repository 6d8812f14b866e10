import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { InterruptCoalescer, MAX_BACKOFF, type CoalescerHost } from '@vmv/vhost-user/internal/backend/coalesce';
import { kickRing, type Vring } from '@vmv/vhost-user/internal/backend/vring';

/** A host with a manual clock and a timer that fires exactly when armed (when the test advances time). */
class FakeHost implements CoalescerHost {
  t = 0;
  timerAt: number | null = null;
  signals: number[] = [];
  coalescer: InterruptCoalescer | null = null;

  signal(): void {
    this.signals.push(this.t);
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
  /** Advances the clock to `to`, firing the timer on the way (as often as it is re-armed). */
  advance(to: number): void {
    while (this.timerAt !== null && this.timerAt <= to) {
      this.t = this.timerAt;
      this.timerAt = null;
      this.coalescer!.onTimer();
    }
    this.t = to;
  }
}

function make(quiet = 30, max = 150): { host: FakeHost; c: InterruptCoalescer } {
  const host = new FakeHost();
  const c = new InterruptCoalescer(host, quiet, max);
  host.coalescer = c;
  return { host, c };
}

describe('InterruptCoalescer', () => {
  it('holds a notification while the driver keeps kicking and sends one when it goes quiet', () => {
    const { host, c } = make(30, 1000);
    c.kicked();
    c.request(); // held: nothing sent yet
    expect(host.signals).toEqual([]);
    expect(c.holding).toBe(true);
    for (let t = 10; t <= 100; t += 10) {
      host.advance(t);
      c.kicked(); // the driver is busy submitting
      c.request(); // covered by the held one
    }
    expect(host.signals).toEqual([]);
    host.advance(129);
    expect(host.signals).toEqual([]);
    host.advance(130); // 30 µs after the last kick
    expect(host.signals).toEqual([130]);
    expect(c.stats).toEqual({ signals: 1, holds: 1, busyHolds: 1, requests: 11 });
  });

  it('never holds longer than maxDelayUs, however busy the driver is', () => {
    const { host, c } = make(30, 150);
    c.request();
    for (let t = 5; t <= 400; t += 5) {
      host.advance(t);
      c.kicked();
      c.request();
    }
    // the hold ends at its maximum, 150; the request right after starts the next one, which ends at 300
    expect(host.signals).toEqual([150, 300]);
  });

  it('backs off after idle holds, so a driver waiting on each request is signalled at once', () => {
    const { host, c } = make(30, 150);
    // a driver at depth 1: request, (no kick while waiting), the next kick comes after the signal
    let t = 0;
    const delays: number[] = [];
    for (let i = 0; i < 1200; i++) {
      host.advance(t);
      c.kicked();
      const before = host.signals.length;
      c.request();
      const asked = t;
      if (host.signals.length === before) host.advance(t + 1000); // held: wait for it
      delays.push(host.signals[host.signals.length - 1]! - asked);
      t = host.t + 200; // the driver's turnaround
    }
    const held = delays.map((d, i) => [d, i] as const).filter(([d]) => d > 0).map(([, i]) => i);
    // holds at requests 0, 2, 5, 10, 19, 36, 69, 134, 263, 520, 777, 1034 (back-off 1, 2, 4 ... 256, 256)
    const expected = [0];
    for (let b = 1, i = 0; expected.length < 20; b = Math.min(b * 2, MAX_BACKOFF)) {
      i += b + 1;
      if (i >= 1200) break;
      expected.push(i);
    }
    expect(held).toEqual(expected);
    for (const i of held) expect(delays[i]).toBe(30); // an idle hold costs quietUs
    expect(c.stats.signals).toBe(1200);
    expect(c.stats.busyHolds).toBe(0);
  });

  it('a hold during which the driver kicked resets the back-off', () => {
    const { host, c } = make(30, 150);
    c.request();
    host.advance(100); // idle hold: back-off 1
    expect(host.signals).toEqual([30]);
    c.request(); // sent at once (back-off)
    expect(host.signals).toEqual([30, 100]);
    c.request(); // held again
    host.advance(110);
    c.kicked(); // busy
    host.advance(200);
    expect(host.signals).toEqual([30, 100, 140]);
    c.request(); // back-off reset: held
    expect(host.signals.length).toBe(3);
    expect(c.holding).toBe(true);
  });

  it('kickRing: a kick that finds nothing new (a look took its buffers) leaves the hold idle; one that brings buffers makes it busy', () => {
    const { host, c } = make(30, 1000);
    const queue = { nextAvail: 0 };
    const ring = { coalescer: c, poller: null, queue } as unknown as Vring;
    c.request(); // held
    host.advance(10);
    kickRing(ring, () => undefined); // late: its request was taken by a poller's window
    host.advance(40); // quiet since the hold began: sent, idle, back-off
    expect(host.signals).toEqual([30]);
    expect(c.stats.busyHolds).toBe(0);
    c.request(); // at once (back-off)
    expect(host.signals).toEqual([30, 40]);
    c.request(); // held again
    host.advance(50);
    kickRing(ring, () => void queue.nextAvail++); // the driver added a request
    host.advance(80);
    expect(host.signals).toEqual([30, 40, 80]); // 30 µs after that kick
    expect(c.stats.busyHolds).toBe(1);
  });

  it('flush and reset send a held notification at once; reset forgets the back-off', () => {
    const { host, c } = make(30, 150);
    c.request();
    c.flush();
    expect(host.signals).toEqual([0]);
    expect(host.timerAt).toBeNull();
    c.flush(); // nothing held: nothing sent
    expect(host.signals).toEqual([0]);
    c.request(); // back-off 1 from the idle flush: sent at once
    expect(host.signals).toEqual([0, 0]);
    c.reset();
    c.request(); // reset: held again
    expect(c.holding).toBe(true);
    c.reset();
    expect(host.signals).toEqual([0, 0, 0]);
  });

  it('re-arms a timer that fires early', () => {
    const { host, c } = make(30, 150);
    c.request();
    host.t = 10;
    c.onTimer(); // spurious early expiry
    expect(host.signals).toEqual([]);
    expect(host.timerAt).toBe(30);
    host.advance(30);
    expect(host.signals).toEqual([30]);
  });

  it('refuses bad delays', () => {
    const host = new FakeHost();
    expect(() => new InterruptCoalescer(host, 0, 10)).toThrow(RangeError);
    expect(() => new InterruptCoalescer(host, 20, 10)).toThrow(RangeError);
    expect(() => new InterruptCoalescer(host, 10, Infinity)).toThrow(RangeError);
    expect(() => new InterruptCoalescer(host, Number.NaN, 10)).toThrow(RangeError);
  });

  it('property: every request is signalled within maxDelayUs, and no signal comes without a request', () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('kick' as const), dt: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ kind: fc.constant('request' as const), dt: fc.integer({ min: 0, max: 80 }) }),
      fc.record({ kind: fc.constant('flush' as const), dt: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ kind: fc.constant('wait' as const), dt: fc.integer({ min: 0, max: 400 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 300 }), fc.array(event, { maxLength: 300 }), (quiet, extra, events) => {
        const max = quiet + extra;
        const { host, c } = make(quiet, max);
        /** time of the oldest request not yet covered by a signal, or null */
        let oldest: number | null = null;
        let signalled = host.signals.length;
        const check = (): void => {
          if (host.signals.length > signalled) {
            expect(oldest).not.toBeNull(); // a signal only answers a request
            expect(host.signals[host.signals.length - 1]! - oldest!).toBeLessThanOrEqual(max);
            expect(host.signals.length - signalled).toBe(1);
            signalled = host.signals.length;
            oldest = null;
          }
          if (oldest !== null) {
            expect(c.holding).toBe(true);
            expect(host.timerAt).not.toBeNull();
            expect(host.timerAt! - oldest).toBeLessThanOrEqual(max);
          } else {
            expect(c.holding).toBe(false);
          }
        };
        for (const e of events) {
          // time passes: a held notification may go out (checked after each step of the clock)
          const target = host.t + e.dt;
          while (host.timerAt !== null && host.timerAt <= target) {
            host.advance(host.timerAt);
            check();
          }
          host.advance(target);
          if (e.kind === 'kick') c.kicked();
          else if (e.kind === 'request') {
            c.request();
            if (host.signals.length === signalled) oldest ??= host.t;
            else oldest = host.t;
          } else if (e.kind === 'flush') c.flush();
          check();
        }
        // in the end the held notification always goes out
        host.advance(host.t + max + 1);
        check();
        expect(c.holding).toBe(false);
        expect(c.stats.signals).toBeLessThanOrEqual(c.stats.requests);
      }),
      { numRuns: 300 },
    );
  });

  it('with a host that polls: kicks are off during a hold, polls that find buffers extend it, and kicks are back on before the signal', () => {
    const log: string[] = [];
    const host = new FakeHost();
    let pending = 0; // buffers the driver added without kicking
    const polling: CoalescerHost = {
      signal: () => {
        log.push(`signal@${host.t}`);
        host.signal();
      },
      armTimer: (us) => host.armTimer(us),
      disarmTimer: () => host.disarmTimer(),
      now: () => host.now(),
      suppress: (on) => log.push(on ? 'off' : 'on'),
      poll: () => {
        log.push(`poll@${host.t}:${pending}`);
        const found = pending > 0;
        pending = 0;
        return found;
      },
    };
    const c = new InterruptCoalescer(polling, 30, 1000);
    host.coalescer = c;
    c.kicked();
    c.request();
    expect(log).toEqual(['off']);
    // the driver keeps adding buffers, without kicks, every 20 µs until t = 100
    for (let t = 20; t <= 100; t += 20) {
      host.advance(t);
      pending++;
    }
    host.advance(1000);
    // polls every 30 µs find what was added since (the timer fires before an add at the same instant); at 150 nothing: quiet
    expect(log).toEqual(['off', 'poll@30:1', 'poll@60:1', 'poll@90:2', 'poll@120:1', 'poll@150:0', 'on', 'poll@150:0', 'signal@150']);
    expect(c.stats.busyHolds).toBe(1);
    // flush (ring stopping) switches kicks back on without looking at the ring
    log.length = 0;
    c.request();
    c.flush();
    expect(log).toEqual(['off', 'on', 'signal@1000']);
  });

  it('property (polling host): never signals with kicks off, and kicks are always back on once nothing is held', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('kick', 'request', 'flush', 'add', 'wait'), fc.integer({ min: 0, max: 120 })), { maxLength: 200 }), (events) => {
        const host = new FakeHost();
        let off = false;
        let pending = 0;
        let lastRequest = -1;
        const polling: CoalescerHost = {
          signal: () => {
            expect(off).toBe(false);
            expect(host.t - lastRequest).toBeLessThanOrEqual(200);
            host.signal();
          },
          armTimer: (us) => host.armTimer(us),
          disarmTimer: () => host.disarmTimer(),
          now: () => host.now(),
          suppress: (on) => {
            expect(on).toBe(!off); // strictly alternating
            off = on;
          },
          poll: () => {
            const found = pending > 0;
            pending = 0;
            return found;
          },
        };
        const c = new InterruptCoalescer(polling, 20, 200);
        host.coalescer = c;
        for (const [kind, dt] of events) {
          host.advance(host.t + dt);
          if (kind === 'kick') c.kicked();
          else if (kind === 'request') {
            if (!c.holding) lastRequest = host.t;
            c.request();
          } else if (kind === 'flush') c.flush();
          else if (kind === 'add') pending++;
          expect(off).toBe(c.holding);
        }
        host.advance(host.t + 10_000);
        expect(c.holding).toBe(false);
        expect(off).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
