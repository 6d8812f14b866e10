/**
 * Saved cases replay as tests: every committed seed input (inputs that found a new error name in a
 * campaign) must replay clean, and every saved crash, hang or out-of-bounds case under crashes/
 * fails here until it is fixed (the directory is absent when there are none). Replays are
 * deterministic: the same input gives the same outcome twice.
 */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from '../lib/targets/index.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'fuzz.mjs');

function replay(files) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, '--replay', ...files], { maxBuffer: 64 << 20 }, (error, stdout) => resolve({ code: error ? error.code : 0, stdout }));
  });
}

const seeds = readdirSync(join(ROOT, 'seeds')).map((f) => join(ROOT, 'seeds', f));
const crashDir = join(ROOT, 'crashes');
const knownDir = join(ROOT, 'known');
const known = existsSync(knownDir) ? readdirSync(knownDir).filter((f) => f.endsWith('.json')).map((f) => join(knownDir, f)) : [];
const crashes = existsSync(crashDir) ? readdirSync(crashDir).filter((f) => f.endsWith('.json')).map((f) => join(crashDir, f)) : [];

describe('replay', () => {
  it('every target has committed seeds, and they replay clean, the same way twice', async () => {
    expect(seeds.map((f) => JSON.parse(readFileSync(f, 'utf8')).target).sort()).toEqual(Object.keys(TARGETS).sort());
    const first = await replay(seeds);
    expect(first.stdout).not.toMatch(/CRASH|HANG|OOB/);
    expect(first.code).toBe(0);
    const inputs = seeds.reduce((n, f) => n + JSON.parse(readFileSync(f, 'utf8')).inputs.length, 0);
    expect(first.stdout).toContain(`${seeds.length} files, 0 failing inputs`);
    expect(first.stdout.split('\n').filter((l) => / ok \(/.test(l))).toHaveLength(inputs);
    // typed errors come out of the replays: the seeds reach the parsers
    expect(first.stdout).toMatch(/ok \(.*(Queue|VhostUser)\.\w+Error/);
    const second = await replay(seeds);
    // the session target's outcome can depend on when the device polls; the others are exact
    const exact = (s) => s.split('\n').filter((l) => !l.includes('vhost-user-session'));
    expect(exact(second.stdout)).toEqual(exact(first.stdout));
  });

  it.each(crashes.length ? crashes : ['(no saved crashes)'])('saved case %s replays clean', async (file) => {
    if (crashes.length === 0) {
      expect(existsSync(crashDir) ? readdirSync(crashDir).filter((f) => f.endsWith('.json')) : []).toEqual([]);
      return;
    }
    const r = await replay([file]);
    expect(r.stdout).toContain('1 files, 0 failing inputs');
    expect(r.code).toBe(0);
  });

  // jest refuses an empty table: with no known bug there is nothing to run here
  (known.length > 0 ? it.each(known) : it.skip.each([['(none)']]))('known bug %s still reproduces (once fixed, move its input into the seeds)', async (file) => {
    const r = await replay([file]);
    expect(r.stdout).toContain('1 files, 1 failing inputs');
    expect(r.code).toBe(1);
  });
});
