/**
 * The campaign's judges, each shown to fire: typed errors pass, any other exception is a crash, a
 * slow or unsettled input is a hang, a guard check failure is out-of-bounds; the guarded memory
 * sees a write outside guest memory and host bytes leaking into it; inputs and mutations are
 * reproducible from the seed.
 */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASYNC_HANG_MS, Rng, SYNC_HANG_MS, freshInput, mutate, replayOne, runOne, saveCase, unhex } from '../lib/engine.mjs';
import { CANARY, GuardedMemory } from '../lib/guarded.mjs';

class TypedError extends Error {
  name = 'Fake.TypedError';
}

const fake = (run) => ({ name: 'fake', maxLen: 64, allowed: new Set(['Fake.TypedError']), setup: () => ({}), run });

describe('runOne classifies', () => {
  it('a typed error reported or thrown as expected, with the features', async () => {
    const reported = await runOne(fake((_s, src, report) => {
      report.feature(`first:${src.u8()}`);
      report.error(new TypedError('x'));
      return null;
    }), {}, Uint8Array.of(7));
    expect(reported).toMatchObject({ kind: null, names: ['Fake.TypedError'], features: ['first:7'] });
    const thrown = await runOne(fake(() => {
      throw new TypedError('x');
    }), {}, new Uint8Array(0));
    expect(thrown).toMatchObject({ kind: null, names: ['Fake.TypedError'] });
  });

  it('any other exception as a crash, reported or thrown, sync or async', async () => {
    const reported = await runOne(fake((_s, _src, report) => report.error(new TypeError('x'))), {}, new Uint8Array(0));
    expect(reported.kind).toBe('crash');
    expect(reported.message).toBe('TypeError: x');
    const thrown = await runOne(fake(async () => {
      throw new RangeError('y');
    }), {}, new Uint8Array(0));
    expect(thrown).toMatchObject({ kind: 'crash', message: 'RangeError: y' });
    const notAnError = await runOne(fake(() => {
      throw 'a string';
    }), {}, new Uint8Array(0));
    expect(notAnError.kind).toBe('crash');
  });

  it('a synchronous input over the bound, and an unsettled async one, as hangs', async () => {
    // over the bound in CPU time (the busy loop is timed by the CPU it used, so a loaded machine cannot shorten it)
    const slow = await runOne(fake(() => {
      const c0 = process.cpuUsage();
      for (;;) {
        const c = process.cpuUsage(c0);
        if (c.user + c.system > (SYNC_HANG_MS + 100) * 1000) return null;
      }
    }), {}, new Uint8Array(0));
    expect(slow.kind).toBe('hang');
    const never = await runOne(fake(() => new Promise(() => {})), {}, new Uint8Array(0));
    expect(never).toMatchObject({ kind: 'hang', message: `the input did not settle within ${ASYNC_HANG_MS} ms` });
  }, 60000);

  it('an input slow in wall time only (it waited, as on a loaded machine) is not a hang', async () => {
    const waited = await runOne(fake(() => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SYNC_HANG_MS + 200);
      return null;
    }), {}, new Uint8Array(0));
    expect(waited.ms).toBeGreaterThan(SYNC_HANG_MS);
    expect(waited.kind).toBeNull();
  }, 60000);

  it('an unexpected error reported after the input settled as late, and replay as a crash', async () => {
    const lateReporter = fake((_s, _src, report) => {
      setTimeout(() => report.error(new TypeError('late')), 5);
      setTimeout(() => report.error(new TypedError('late but typed')), 5);
      return null;
    });
    const late = [];
    const r = await runOne(lateReporter, {}, new Uint8Array(0), (e) => late.push(e));
    expect(r.kind).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(late.map((e) => e.message)).toEqual(['late']);
    const replayed = await replayOne(lateReporter, {}, new Uint8Array(0));
    expect(replayed).toMatchObject({ kind: 'crash', message: 'late: TypeError: late' });
  });

  it('a guard check message as out-of-bounds', async () => {
    const r = await runOne(fake(async () => 'write outside guest memory: ...'), {}, new Uint8Array(0));
    expect(r).toMatchObject({ kind: 'oob', message: 'write outside guest memory: ...' });
  });
});

describe('GuardedMemory', () => {
  it('is clean after guest writes anywhere inside guest memory', () => {
    const g = new GuardedMemory();
    g.memory.fill(0, g.lowSize, 0xff);
    g.memory.fill(g.highStart, g.highSize, 0xff);
    expect(g.check()).toBeNull();
    expect(() => g.memory.writeU8(g.lowSize, 1)).toThrow(expect.objectContaining({ name: 'GuestMemory.OutOfBoundsError' }));
    expect(g.check()).toBeNull();
  });

  it('sees a host byte written outside the regions (before, between, after)', () => {
    for (const at of [(g) => g.lowAt - 1, (g) => g.lowAt + g.lowSize, (g) => g.highAt - 3, (g) => g.highAt + g.highSize + 100]) {
      const g = new GuardedMemory();
      g.bytes[at(g)] ^= 1;
      expect(g.check()).toMatch(/^write outside guest memory/);
    }
  });

  it('sees guard bytes that reached guest memory or another store', () => {
    const g = new GuardedMemory();
    g.high.set(g.bytes.subarray(g.lowAt - 16, g.lowAt), 40); // 16 host bytes from before the low region
    expect(g.check()).toMatch(/^read outside guest memory: .* in the guest region at GPA 0x20000/);
    const h = new GuardedMemory();
    const disk = new Uint8Array(1024);
    disk.set(CANARY, 512);
    expect(h.check([disk])).toMatch(/^read outside guest memory: .* store 0 at offset 512/);
  });
});

describe('inputs', () => {
  it('are reproducible from the seed and stay within the length bound', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    for (let i = 0; i < 200; i++) {
      const x = freshInput(a, 300);
      expect(freshInput(b, 300)).toEqual(x);
      expect(x.length).toBeLessThanOrEqual(300);
      const m = mutate(a, x, x, 300);
      expect(mutate(b, x, x, 300)).toEqual(m);
      expect(m.length).toBeLessThanOrEqual(300);
    }
  });

  it('a saved case holds the input, replayable as hex', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-case-'));
    try {
      const input = Uint8Array.of(1, 2, 250);
      const file = saveCase(dir, { name: 'fake' }, input, { kind: 'crash', message: 'TypeError: x', error: new TypeError('x') });
      expect(file).toMatch(/fake-[0-9a-f]{12}\.json$/);
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      expect(saved).toMatchObject({ target: 'fake', kind: 'crash', message: 'TypeError: x' });
      expect(unhex(saved.input)).toEqual(input);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
