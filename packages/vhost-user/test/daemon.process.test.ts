/**
 * The daemon kit in real processes (test/support/upper-daemon.ts): several sockets, a second
 * frontend after the first disconnects, SIGHUP ignored, SIGTERM draining and removing the socket
 * files, a second signal exiting at once, extra signal handlers, JSON logs.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixListener } from '@vmv/sys';
import { VhostUserRequest as Q } from '@vmv/vhost-user';
import { Frontend, withTimeout, HANG_MS } from './frontend';
import { killDaemon, removeDaemonProgram, spawnDaemon, waitForLog, waitForLogCount, waitForSocket, type DaemonProcess } from './support/daemon-process';

let dir: string;
let d: DaemonProcess | null = null;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-daemon-p-'));
});
afterEach(() => {
  killDaemon(d);
  d = null;
  rmSync(dir, { recursive: true, force: true });
});
afterAll(() => removeDaemonProgram());

async function features(path: string): Promise<bigint> {
  const fe = new Frontend(path);
  try {
    return await fe.u64({ request: Q.GET_FEATURES, needReply: false });
  } finally {
    fe.close();
  }
}

describe('a daemon on the kit', () => {
  it('--socket-count 2: serves sock0 and sock1, a second frontend after the first leaves; SIGHUP ignored; SIGTERM drains, removes the sockets, exits 0', async () => {
    const base = join(dir, 'up.sock');
    d = await spawnDaemon(['--socket-path', base, '-c', '2']);
    await waitForSocket(d, `${base}0`);
    await waitForSocket(d, `${base}1`);
    expect(existsSync(base)).toBe(false);
    expect(await features(`${base}0`)).toBeGreaterThan(0n);
    expect(await features(`${base}1`)).toBeGreaterThan(0n);
    await waitForLogCount(d, 'frontend disconnected', 2);
    // The next frontend on the same socket is served by a fresh session.
    expect(await features(`${base}0`)).toBeGreaterThan(0n);
    await waitForLogCount(d, 'frontend disconnected', 3);
    d.child.kill('SIGHUP');
    await waitForLog(d, 'SIGHUP ignored');
    d.child.kill('SIGUSR1');
    await waitForLog(d, 'SIGUSR1: 2 devices');
    d.child.kill('SIGTERM');
    const r = await withTimeout(d.exited, HANG_MS, 'daemon exit');
    expect(r).toEqual({ code: 0, signal: null });
    expect(d.stderr().match(/draining/g)).toHaveLength(2);
    expect(d.stderr().match(/: closed/g)).toHaveLength(2);
    expect(existsSync(`${base}0`)).toBe(false);
    expect(existsSync(`${base}1`)).toBe(false);
  });

  it('--fd 3: serves the listening socket a manager made and handed down, and leaves its file to the manager', async () => {
    const path = join(dir, 'managed.sock');
    const manager = UnixListener.listen(path);
    try {
      d = await spawnDaemon(['--fd', '3'], undefined, [manager.fd]);
      await waitForLog(d, 'listening on fd 3');
      expect(await features(path)).toBeGreaterThan(0n);
      await waitForLogCount(d, 'frontend disconnected', 1);
      expect(await features(path)).toBeGreaterThan(0n); // the next frontend too
      d.child.kill('SIGTERM');
      expect(await withTimeout(d.exited, HANG_MS, 'daemon exit')).toEqual({ code: 0, signal: null });
      expect(existsSync(path)).toBe(true);
    } finally {
      manager.close();
    }
  });

  it('a second SIGTERM while draining exits at once (143)', async () => {
    const path = join(dir, 'hang.sock');
    d = await spawnDaemon(['-s', path, '--hang-drain']);
    await waitForSocket(d, path);
    d.child.kill('SIGTERM');
    await waitForLog(d, 'draining');
    expect(d.child.exitCode).toBeNull();
    d.child.kill('SIGTERM');
    expect(await withTimeout(d.exited, HANG_MS, 'daemon exit')).toEqual({ code: 143, signal: null });
    expect(d.stderr()).toContain('SIGTERM again: exiting without waiting');
  });

  it('--log-format json: one JSON object a line', async () => {
    const path = join(dir, 'json.sock');
    d = await spawnDaemon(['-s', path, '--log-format=json', '--verbose']);
    await waitForSocket(d, path);
    await waitForLog(d, '"msg":"listening on');
    d.child.kill('SIGINT');
    expect((await withTimeout(d.exited, HANG_MS, 'daemon exit')).code).toBe(0);
    const lines = d.stderr().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: 'info', program: 'vmv-vhost-user-upper', msg: `listening on ${path}` });
    expect(lines.find((l) => l['msg'] === 'SIGINT: stopping')).toMatchObject({ level: 'info' });
    expect(typeof lines[0]!['time']).toBe('string');
  });
});
