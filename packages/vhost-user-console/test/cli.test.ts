/**
 * The command line: rust-vmm vhost-device-console's flags and ours, bad input as one line and exit 2,
 * and a running daemon whose TCP port carries bytes to port 0 (held until a guest takes them).
 */
import { describe, expect, it } from '@jest/globals';
import { createConnection } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags, daemonFlags, type DaemonIo } from '@vmv/vhost-user/daemon';
import { consoleDaemon, consoleOptions, runCli, tcpPortOf, HELP } from '@vmv/vhost-user-console';

const parse = (argv: string[]) => consoleOptions(parseFlags(daemonFlags(consoleDaemon), argv, 'x'));

describe('flags', () => {
  it("takes rust-vmm's short and long flags with their meanings", () => {
    const o = parse(['-s', '/tmp/c.sock', '-c', '2', '-b', 'network', '-p', '2000', '-q', '256']);
    expect(o).toMatchObject({ socketPath: '/tmp/c.sock', socketCount: 2, backend: 'network', tcpPort: 2000, maxQueueSize: 256 });
    expect(parse(['--socket-path=/tmp/c.sock', '--backend=nested'])).toMatchObject({ backend: 'nested', tcpPort: 12345, maxQueueSize: 128, socketCount: 1 });
    expect(tcpPortOf(o, 1, 0)).toBe(2001); // rust-vmm: port + i
    expect(tcpPortOf({ tcpPort: 2000, ports: ['a', 'b'] }, 1, 2)).toBe(2005);
  });

  it('takes --backend pty with several sockets and named ports', () => {
    expect(parse(['-s', 'p', '-b', 'pty', '-c', '2', '--ports', 'a'])).toMatchObject({ backend: 'pty', socketCount: 2, ports: ['a'] });
  });

  it('takes ours: --ports, --size, --console-socket, --buffer-size', () => {
    expect(parse(['-s', 'p', '-b', 'unix', '--console-socket', '/tmp/con', '--ports', 'a.b,c', '--size', '80x25', '--buffer-size', '4096']))
      .toMatchObject({ backend: 'unix', consoleSocket: '/tmp/con', ports: ['a.b', 'c'], size: { cols: 80, rows: 25 }, bufferSize: 4096 });
  });

  it.each([
    [['-s', 'p', '-b', 'nested', '-c', '2'], /nested serves one socket/],
    [['-s', 'p', '--ports', 'a'], /named ports need/],
    [['-s', 'p', '-b', 'tty'], /--backend must be one of/],
    [['-s', 'p', '-b', 'unix'], /needs --console-socket/],
    [['-s', 'p', '-q', '100'], /power of two/],
    [['-s', 'p', '-b', 'network', '--ports', 'a,a'], /same name/],
    [['-s', 'p', '--size', '80'], /COLSxROWS/],
    [['-s', 'p', '-b', 'network', '-p', '65535', '--ports', 'a'], /past 65535/],
  ])('refuses %j with one line and exit 2', async (argv, message) => {
    let err = '';
    const io: DaemonIo = { out: () => {}, err: (t) => { err += t; }, onSignal: () => {}, offSignal: () => {}, exit: () => {} };
    expect(await runCli(argv, io)).toBe(2);
    expect(err).toMatch(message);
    expect(err.trim().split('\n').length).toBe(1);
  });

  it('--help lists every flag', () => {
    for (const f of ['--socket-path', '--socket-count', '--backend', '--tcp-port', '--max-queue-size', '--ports', '--size', '--console-socket', '--buffer-size']) expect(HELP).toContain(f);
  });
});

describe('running', () => {
  it('listens on PATH0 and the TCP port, bytes from a client wait for the guest, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmv-console-'));
    const stops: (() => void)[] = [];
    let log = '';
    const io: DaemonIo = { out: () => {}, err: (t) => { log += t; }, onSignal: (s, h) => { if (s === 'SIGTERM') stops.push(h); }, offSignal: () => {}, exit: () => {} };
    const port = 20000 + (process.pid % 20000);
    const done = runCli(['-s', join(dir, 'c.sock'), '-b', 'network', '-p', String(port)], io);
    for (let i = 0; i < 2000 && !log.includes('port listening'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(log).toMatch(/port listening .*port=0/);
    const sock = createConnection(port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write('hello');
    for (let i = 0; i < 2000 && !log.includes('client connected'); i++) await new Promise((r) => setTimeout(r, 5));
    expect(log).toContain('client connected');
    sock.destroy();
    stops.forEach((s) => s());
    expect(await done).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
