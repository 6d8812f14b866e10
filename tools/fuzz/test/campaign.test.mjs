/**
 * CI's short campaign: every target, bounded by input count (not time, so the result does not
 * depend on machine load), through the real runner (workers, watchdog, seeds). Nothing may
 * crash, hang or reach outside guest memory, and each target must reach its parser: inputs tried
 * and typed errors seen.
 */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from '../lib/targets/index.mjs';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'fuzz.mjs');
/** Inputs per target; the session target pays a socket connection per input. */
const FAST = 5000;
const SLOW = 600;
const SLOW_TARGETS = ['vhost-user-session'];

function fuzz(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

describe('short campaign', () => {
  it('every target: inputs tried, typed errors seen, 0 crashes, 0 hangs, 0 out-of-bounds', async () => {
    const crashDir = mkdtempSync(join(tmpdir(), 'fuzz-ci-'));
    const fast = Object.keys(TARGETS).filter((t) => !SLOW_TARGETS.includes(t));
    const runs = [
      [FAST, await fuzz(['--inputs', String(FAST), '--target', fast.join(','), '--json', '--crash-dir', crashDir])],
      [SLOW, await fuzz(['--inputs', String(SLOW), '--target', SLOW_TARGETS.join(','), '--json', '--crash-dir', crashDir])],
    ];
    const seen = [];
    for (const [inputs, run] of runs) {
      expect(run.stderr.replace(/.*ExperimentalWarning.*\n?|.*--trace-warnings.*\n?/g, '')).toBe('');
      const report = JSON.parse(run.stdout);
      for (const t of report.targets) {
        seen.push(t.name);
        expect({ name: t.name, inputs: t.inputs, crashes: t.crashes, hangs: t.hangs, oob: t.oob, saved: t.saved }).toEqual({ name: t.name, inputs, crashes: 0, hangs: 0, oob: 0, saved: [] });
        expect([t.name, t.distinctErrors]).toEqual([t.name, expect.any(Number)]);
        expect(t.distinctErrors).toBeGreaterThanOrEqual(1);
        for (const name of Object.keys(t.errors)) expect(name).toMatch(/^(Queue|GuestMemory|Block|Rng|Device|TransportMmio|VhostUser|Sys|VfioUser)\.\w+Error$/);
      }
      expect(run.code).toBe(0);
    }
    expect(seen.sort()).toEqual(Object.keys(TARGETS).sort());
    expect(readdirSync(crashDir)).toEqual([]);
    rmSync(crashDir, { recursive: true, force: true });
  });
});
