/**
 * Inflight tracking on a packed ring across real process deaths: the test daemon
 * (test/support/upper-daemon.ts) is SIGKILLed, once idle and once with requests in flight, and
 * restarted on the same socket; the frontend keeps the inflight buffer, as QEMU does, and every
 * request completes exactly once with its data.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmap } from '@vmv/sys';
import { until } from './frontend';
import { PackedGuest } from './support/packed-guest';
import { killDaemon, removeDaemonProgram, spawnDaemon, waitForSocket, type DaemonProcess } from './support/daemon-process';

const WAIT_MS = 10_000;
let dir: string;
let guest: PackedGuest | null = null;
const daemons: DaemonProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-inflight-p-'));
});
afterEach(() => {
  for (const d of daemons.splice(0)) killDaemon(d);
  guest?.close();
  guest = null;
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => removeDaemonProgram());

async function start(path: string, hold: boolean): Promise<DaemonProcess> {
  const d = await spawnDaemon(['--socket-path', path, '--packed', ...(hold ? ['--hold'] : [])]);
  daemons.push(d);
  await waitForSocket(d, path);
  return d;
}

/** SIGKILL; the socket file it leaves is removed so that waitForSocket waits for the successor. */
async function kill(d: DaemonProcess, path: string): Promise<void> {
  d.child.kill('SIGKILL');
  expect((await d.exited).signal).toBe('SIGKILL');
  rmSync(path, { force: true });
}

/** Heads the inflight region marks in flight (QueueRegionPacked: 32-byte header, 32-byte entries). */
function inFlight(g: PackedGuest): number {
  const m = mmap(g.inflightFd, Number(g.inflight!.mmapSize));
  try {
    const bytes = new Uint8Array(m.buffer);
    let n = 0;
    for (let e = 0; e < g.size; e++) n += bytes[32 + 32 * e]!;
    return n;
  } finally {
    m.close();
  }
}

describe('packed inflight tracking across SIGKILL', () => {
  it('a daemon killed with requests in flight: its successor on the same socket completes each exactly once', async () => {
    const path = join(dir, 'up.sock');
    const g = (guest = new PackedGuest(32));
    // 1: a working daemon moves the ring past a wrap, then dies idle
    const first = await start(path, false);
    await g.connect(path);
    for (let n = 0; n < 45; n++) {
      g.submit(n);
      await until(() => (g.reap(), g.done.size === n + 1), WAIT_MS, `request ${n}`);
    }
    await kill(first, path);
    // 2: a daemon that never completes takes ten requests, then dies with them in flight
    const second = await start(path, true);
    await g.connect(path);
    for (let n = 45; n < 55; n++) g.submit(n);
    await until(() => inFlight(g) === 10, WAIT_MS, 'ten requests in flight');
    await kill(second, path);
    g.reap();
    expect(g.done.size).toBe(45);
    // 3: its successor resubmits them before anything new
    await start(path, false);
    await g.connect(path);
    await until(() => (g.reap(), g.done.size === 55), WAIT_MS, 'the resubmitted requests');
    for (let n = 55; n < 60; n++) g.submit(n);
    await until(() => (g.reap(), g.done.size === 60), WAIT_MS, 'requests after the restart');
    expect([...g.done.values()].every((c) => c === 1)).toBe(true);
    expect(inFlight(g)).toBe(0);
  });
});
