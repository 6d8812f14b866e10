// Test helpers: child processes and /proc counters.
import { spawn } from 'node:child_process';
import type { StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PEER = join(__dirname, 'fixtures', 'peer.py');
export const PACKAGE_ROOT = join(__dirname, '..');
/** The prebuilt addon for this machine (made by the package build), for tests that load it bare. */
export const PREBUILT_ADDON = join(PACKAGE_ROOT, 'prebuilds', `linux-${process.arch}`, 'vmv_sys.node');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a child process to completion, collecting its output. */
export function run(command: string, args: string[], stdio: StdioOptions, cwd = PACKAGE_ROOT, env?: NodeJS.ProcessEnv): Promise<ChildResult> & { pid: number } {
  const child = spawn(command, args, { stdio, cwd, env });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(done, { pid: child.pid ?? -1 });
}

/** Open fds of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Lines of /proc/self/maps, optionally only those naming `match`. */
export function mapCount(match?: string): number {
  const lines = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.length > 0);
  return match === undefined ? lines.length : lines.filter((l) => l.includes(match)).length;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * How long a test waits for something that must happen before it reports a hang: far beyond what
 * a loaded machine needs, below jest's 30 s test timeout so the failure says what was awaited.
 */
export const HANG_MS = 20_000;

/** Polls `cond` on the event loop until it holds, failing only after `ms` (a hang). */
export async function until(cond: () => boolean, ms = HANG_MS, what = 'a condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Things a test opened; {@link closeAll} closes them (in reverse) even when the test failed. */
const opened: Array<{ close(): void }> = [];

/** Registers `thing` for {@link closeAll} and returns it. */
export function track<T extends { close(): void }>(thing: T): T {
  opened.push(thing);
  return thing;
}

/** Closes everything registered with {@link track}; call from afterEach. */
export function closeAll(): void {
  for (let t = opened.pop(); t !== undefined; t = opened.pop()) {
    try {
      t.close();
    } catch {
      // already closed by the test
    }
  }
}
