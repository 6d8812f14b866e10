import { afterEach, describe, expect, it } from '@jest/globals';
import { isSysError, TimerFd } from '@vmv/sys';
import { closeAll, fdCount, run, track, until } from './helpers';

afterEach(closeAll);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('TimerFd', () => {
  it('fires once on the event loop, after at least its delay', async () => {
    const fired: number[] = [];
    const t = track(new TimerFd((n) => fired.push(n)));
    expect(t.armed).toBe(false);
    const start = process.hrtime.bigint();
    let at = 0n;
    const done = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (fired.length > 0) {
          clearInterval(check);
          resolve();
        }
      }, 1);
    });
    t.arm(3_000_000); // 3 ms
    expect(t.armed).toBe(true);
    const t2 = track(new TimerFd(() => (at = process.hrtime.bigint())));
    t2.arm(3_000_000);
    await done;
    await until(() => at !== 0n);
    expect(fired).toEqual([1]);
    expect(Number(at - start)).toBeGreaterThanOrEqual(3_000_000);
    expect(t.armed).toBe(false);
    await sleep(10);
    expect(fired).toEqual([1]); // one shot
  });

  it('re-arming replaces the pending expiry; disarm cancels it', async () => {
    let fired = 0;
    const t = track(new TimerFd(() => fired++));
    t.arm(2_000_000);
    t.arm(3_600_000_000_000); // replaced: an hour away
    // A later timer fires: had the 2 ms expiry stayed, it would have been reported by the same
    // poll of the loop (or an earlier one), whatever the machine's load.
    let later = false;
    const probe = track(new TimerFd(() => (later = true)));
    probe.arm(5_000_000);
    await until(() => later, undefined, 'the 5 ms probe timer');
    await new Promise((r) => setImmediate(r)); // the rest of that poll's callbacks
    expect(fired).toBe(0);
    t.disarm();
    expect(t.armed).toBe(false);
    t.disarm(); // idempotent
    await sleep(10);
    expect(fired).toBe(0);
    t.arm(1000); // 1 µs
    await until(() => fired === 1);
  });

  it('fires periodically with an interval, counting missed expirations', async () => {
    const counts: number[] = [];
    const t = track(new TimerFd((n) => counts.push(n)));
    t.arm(1_000_000, 1_000_000);
    await until(() => counts.reduce((a, b) => a + b, 0) >= 5);
    expect(t.armed).toBe(true);
    t.disarm();
    const total = counts.reduce((a, b) => a + b, 0);
    await sleep(10);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
    // a blocked loop collapses expirations into one callback with their count
    counts.length = 0;
    t.arm(1_000_000, 1_000_000);
    const until10 = Date.now() + 10;
    while (Date.now() < until10) {
      // block the loop for 10 ms
    }
    await until(() => counts.length > 0);
    expect(counts[0]).toBeGreaterThanOrEqual(5);
    t.close();
  });

  it('close is idempotent, stops a pending expiry, and releases the fd', async () => {
    const before = fdCount();
    let fired = 0;
    const t = new TimerFd(() => fired++);
    expect(fdCount()).toBe(before + 1);
    t.arm(1_000_000);
    t.close();
    t.close();
    expect(t.fd).toBe(-1);
    expect(fdCount()).toBe(before);
    await sleep(10);
    expect(fired).toBe(0);
    for (const op of [() => t.arm(1), () => t.disarm()]) {
      try {
        op();
        throw new Error('unreachable');
      } catch (e) {
        expect(isSysError(e, 'EBADF')).toBe(true);
      }
    }
  });

  it('rejects bad delays and callbacks', () => {
    const t = track(new TimerFd(() => undefined));
    expect(() => t.arm(0)).toThrow(RangeError);
    expect(() => t.arm(-1)).toThrow(RangeError);
    expect(() => t.arm(1.5)).toThrow(RangeError);
    expect(() => t.arm(2 ** 53)).toThrow(RangeError);
    expect(() => t.arm(1, -1)).toThrow(RangeError);
    expect(() => t.arm('1' as unknown as number)).toThrow(TypeError);
    expect(() => new TimerFd(null as unknown as () => void)).toThrow(TypeError);
    expect(() => new TimerFd(() => undefined, 3 as unknown as object)).toThrow(TypeError);
  });

  it('an armed timer keeps the process alive unless ref is false; a disarmed one never does', async () => {
    const script = (ref: boolean, arm: boolean): string =>
      "const { TimerFd } = require('@vmv/sys');" +
      `const t = new TimerFd(() => { console.log('fired'); t.close(); }, { ref: ${ref} });` +
      (arm ? 't.arm(50_000_000);' : '') +
      `console.log('started');`;
    const alive = await run(process.execPath, ['-e', script(true, true)], ['ignore', 'pipe', 'pipe']);
    expect(alive.stdout.trim().split('\n')).toEqual(['started', 'fired']);
    const unref = await run(process.execPath, ['-e', script(false, true)], ['ignore', 'pipe', 'pipe']);
    expect(unref.stdout.trim()).toBe('started');
    const idle = await run(process.execPath, ['-e', script(true, false)], ['ignore', 'pipe', 'pipe']);
    expect(idle.stdout.trim()).toBe('started');
    expect([alive.code, unref.code, idle.code]).toEqual([0, 0, 0]);
  });

  it('an unref\'d timer that expires while the process exits is dropped, not a fatal error', async () => {
    // The exit handler outlasts the 1 ms timer: Node's last loop turn, which closes the handles,
    // finds the timerfd readable when JavaScript can no longer run (this aborted the process).
    const script =
      "const { TimerFd } = require('@vmv/sys');" +
      "const t = new TimerFd(() => console.log('fired'), { ref: false });" +
      't.arm(1_000_000);' +
      "process.on('exit', () => { const end = Date.now() + 20; while (Date.now() < end); });" +
      "console.log('started');";
    for (let i = 0; i < 3; i++) {
      const r = await run(process.execPath, ['-e', script], ['ignore', 'pipe', 'pipe']);
      expect({ code: r.code, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({ code: 0, signal: null, stdout: 'started', stderr: '' });
    }
  });
});
