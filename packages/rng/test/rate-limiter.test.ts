/**
 * The rate limit on a fake clock (vhost-device-rng's --period / --max-bytes): grants up to what is
 * left, waits for the next period when nothing is, first come first served across sharers, never
 * drops or fails a request; and through devices: two devices sharing one budget, a reset while a
 * chain waits, and the rate over whole periods.
 */
import { describe, expect, it } from '@jest/globals';
import { RateLimiter } from '@vmv/rng';
import { FakeClock, Harness, counterSource } from './support/harness';

describe('RateLimiter', () => {
  it('grants what is left of the period, then waits for the next period', () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ periodMs: 1000, maxBytes: 100, clock });
    const got: number[] = [];
    l.request(60, (n) => got.push(n));
    l.request(60, (n) => got.push(n)); // 40 left: a partial grant
    expect(got).toEqual([60, 40]);
    l.request(10, (n) => got.push(n));
    expect(got).toEqual([60, 40]); // nothing left: waits
    expect(l.waits).toBe(1);
    clock.advance(999);
    expect(got).toEqual([60, 40]);
    clock.advance(1);
    expect(got).toEqual([60, 40, 10]);
    expect(l.remaining).toBe(90);
    expect(l.granted).toBe(110);
  });

  it('a new period starts with the first request after the last one ended (rust-vmm semantics)', () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ periodMs: 1000, maxBytes: 100, clock });
    l.request(100, () => undefined);
    clock.advance(5000); // idle: no budget accumulates
    const got: number[] = [];
    l.request(500, (n) => got.push(n));
    expect(got).toEqual([100]);
    l.request(1, (n) => got.push(n));
    clock.advance(999);
    expect(got).toEqual([100]);
    clock.advance(1);
    expect(got).toEqual([100, 1]);
  });

  it('waiters are served in order, several per period while the budget lasts, none dropped', () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ periodMs: 100, maxBytes: 10, clock });
    const got: [string, number][] = [];
    l.request(10, (n) => got.push(['first', n]));
    for (const [name, want] of [['a', 4], ['b', 4], ['c', 4], ['d', 20]] as const) l.request(want, (n) => got.push([name, n]));
    clock.advance(100);
    expect(got).toEqual([['first', 10], ['a', 4], ['b', 4], ['c', 2]]);
    clock.advance(100);
    expect(got.slice(4)).toEqual([['d', 10]]);
    expect(clock.pending).toBe(0);
  });

  it('a withdrawn request is not granted and cancels the timer when nobody waits', () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ periodMs: 100, maxBytes: 10, clock });
    l.request(10, () => undefined);
    let granted = false;
    const cancel = l.request(5, () => (granted = true));
    expect(clock.pending).toBe(1);
    cancel();
    expect(clock.pending).toBe(0);
    clock.advance(500);
    expect(granted).toBe(false);
  });

  it('refuses bad arguments', () => {
    expect(() => new RateLimiter({ periodMs: 0, maxBytes: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ periodMs: 1, maxBytes: 1.5 })).toThrow(/maxBytes/);
    expect(() => new RateLimiter({ periodMs: 1, maxBytes: 1 }).request(0, () => undefined)).toThrow(/want/);
  });
});

describe('devices under a rate limit', () => {
  it('a chain beyond the budget waits for the next period; it is never dropped, failed or filled with zero bytes', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ periodMs: 1000, maxBytes: 64, clock });
    const h = new Harness({ device: { source: counterSource().source, rateLimiter: limiter } });
    const lens: number[] = [];
    const ps = [48, 48, 48].map((len) => h.add([{ len, writable: true }]).then((d) => lens.push(d.len)));
    h.kick();
    await Promise.resolve();
    expect(lens).toEqual([48, 16]); // the second gets what is left of the period
    clock.advance(1000);
    await Promise.all(ps);
    expect(lens).toEqual([48, 16, 48]);
    expect(h.device.stats).toMatchObject({ bytes: 112, short: 1 });
  });

  it('two devices share one budget: together they never get more than maxBytes per period', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ periodMs: 1000, maxBytes: 256, clock });
    const a = new Harness({ device: { rateLimiter: limiter } });
    const b = new Harness({ device: { rateLimiter: limiter } });
    let total = 0;
    const perPeriod: number[] = [];
    const loop = (h: Harness) => {
      const go = (): void => void h.submit([{ len: 64, writable: true }]).then((d) => { total += d.len; go(); });
      go();
    };
    loop(a);
    loop(b);
    for (let p = 0; p < 10; p++) {
      const before = total;
      for (let i = 0; i < 10; i++) await Promise.resolve();
      perPeriod.push(total - before);
      if (p < 9) clock.advance(1000);
    }
    expect(perPeriod).toEqual(new Array(10).fill(256));
    expect(a.device.stats.bytes + b.device.stats.bytes).toBe(total);
    expect(a.device.stats.bytes).toBeGreaterThan(0);
    expect(b.device.stats.bytes).toBeGreaterThan(0);
  });

  it('the rate over whole periods equals the limit, a 64-byte reader as Linux\'s hwrng reads', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ periodMs: 1000, maxBytes: 4096, clock });
    const h = new Harness({ device: { rateLimiter: limiter } });
    let bytes = 0;
    const stamps: number[] = [];
    const go = (): void => void h.submit([{ len: 64, writable: true }]).then((d) => { bytes += d.len; if (bytes % 4096 === 0) stamps.push(clock.now()); go(); });
    go();
    for (let p = 0; p < 8; p++) {
      for (let i = 0; i < 300; i++) await Promise.resolve();
      clock.advance(1000);
    }
    // every 4096 bytes take one period: stamps at 0, 1000, 2000, ...
    expect(stamps.slice(0, 8)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000]);
  });

  it('a reset while a chain waits on the limit withdraws it; the next activation is served', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ periodMs: 1000, maxBytes: 8, clock });
    const h = new Harness({ device: { rateLimiter: limiter } });
    expect((await h.submit([{ len: 8, writable: true }])).len).toBe(8);
    void h.submit([{ len: 8, writable: true }], { fill: 0xee });
    expect(clock.pending).toBe(1);
    h.reset();
    expect(clock.pending).toBe(0); // withdrawn: it spends no budget
    h.activate();
    const next = h.submit([{ len: 8, writable: true }]);
    clock.advance(1000);
    expect((await next).len).toBe(8);
    expect(limiter.granted).toBe(16);
  });
});
