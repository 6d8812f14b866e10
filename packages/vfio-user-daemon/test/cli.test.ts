/**
 * The command line: help, version, usage errors (status 2: a flag of another device among them), the
 * console's flags (vmv-vhost-user-console's) and defaults, a device that cannot be served (status 1), stop signals.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FLAGS, HELP, PROGRAM, daemonOptions, runCli } from '@vmv/vfio-user-daemon';
import { parseFlags } from '@vmv/vhost-user/daemon';
import { consoleOptions } from '@vmv/vhost-user-console';
import { captureIo } from '../../vhost-user/test/support/daemon-process';

let dir = '';
let image = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-vfud-cli-'));
  image = join(dir, 'disk.img');
  writeFileSync(image, new Uint8Array(1 << 16));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.outText, err: io.errText };
}

describe('vmv-vfio-user command line', () => {
  it('--help and --version', async () => {
    expect(await run(['--help'])).toMatchObject({ code: 0, out: `${HELP}\n` });
    expect(HELP).toContain('--device TYPE');
    expect(HELP).toContain('vfio-user-pci');
    const v = await run(['--version']);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(new RegExp(`^${PROGRAM} \\S+\\n$`));
  });

  it.each([
    [[], '--socket PATH is required'],
    [['--socket', 's'], '--device blk|rng|console|gpio is required'],
    [['--socket', 's', '--device', 'gpu'], '--device must be one of blk, rng, console, gpio, got "gpu"'],
    [['--socket', 's', '--device', 'blk'], '--device blk needs --image FILE'],
    [['--socket', 's', '--device', 'rng', '--image', 'x'], '--image is a blk flag'],
    [['--socket', 's', '--device', 'rng', '--read-only'], '--read-only is a blk flag'],
    [['--socket', 's', '--device', 'rng', '--queues', '1'], '--queues is a blk flag, not one of --device rng'],
    [['--socket', 's', '--device', 'rng', '--tcp-port', '2000'], '--tcp-port is a console flag, not one of --device rng'],
    [['--socket', 's', '--device', 'blk', '--image', 'x', '-b', 'network'], '--backend is a console flag, not one of --device blk'],
    [['--socket', 's', '--device', 'console', '--image', 'x'], '--image is a blk flag, not one of --device console'],
    [['--socket', 's', '--device', 'console', '--backend', 'serial'], '--backend must be one of nested, network, unix, pty'],
    [['--socket', 's', '--device', 'console', '--backend', 'unix'], '--backend unix needs --console-socket PREFIX'],
    [['--socket', 's', '--device', 'console', '--ports', 'a,b'], '--backend nested has one terminal for port 0'],
    [['--socket', 's', '--device', 'console', '-b', 'network', '-p', '65535', '--ports', 'a'], '--tcp-port 65535: 2 ports from it go past 65535'],
    [['--socket', 's', '--device', 'console', '--max-queue-size', '100'], '--max-queue-size must be a power of two'],
    [['--socket', 's', '--device', 'console', '--ports', 'a,a', '-b', 'network'], '--ports: two ports have the same name'],
    [['--socket', 's', '--device', 'gpio'], '--device gpio needs --device-list sN[:sN]'],
    [['--socket', 's', '--device', 'gpio', '-l', '0'], 'passthrough of host chips is not offered'],
    [['--socket', 's', '--device', 'gpio', '-l', 's4:s4'], '--device-list names 2 chip(s) for 1 socket(s)'],
    [['--socket', 's', '--device', 'gpio', '-l', 's2', '--line-names', 'a,a'], '--line-names'],
    [['--socket', 's', '--device', 'console', '--control-socket', 'c'], '--control-socket is a flag of --device gpio, not of --device console'],
    [['--socket', 's', '--device', 'rng', '-l', 's4'], '--device-list is a gpio flag, not one of --device rng'],
    [['--socket', 's', '--device', 'blk', '--image', 'x', '--serial', 'é'], '--serial must be printable ASCII'],
    [['--socket', 's', '--device', 'rng', '-v', '-q'], '--verbose and --quiet exclude each other'],
    [['--socket', 's', '--device', 'rng', '--log-format', 'xml'], '--log-format must be text or json'],
    [['--socket', 's', '--device', 'blk', '--image', 'x', '--queues', '0'], '--queues'],
    [['--socket', `${'x'.repeat(120)}.sock`, '--device', 'rng'], 'socket path is'],
    [['--socket', '/nonexistent-dir/s.sock', '--device', 'rng'], '/nonexistent-dir'],
  ])('%j: usage error (status 2)', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${PROGRAM}: error: `);
    expect(r.err).toContain(message);
  });

  it('device flags: the defaults of the device\'s vhost-user daemon for the one socket; -q stays --quiet', () => {
    const parse = (argv: string[]) => daemonOptions(parseFlags(FLAGS, ['--socket', 's', ...argv], PROGRAM));
    expect(consoleOptions(parse(['--device', 'console']).flags)).toMatchObject({ socketPath: 's', socketCount: 1, backend: 'nested', tcpPort: 12345, tcpHost: '127.0.0.1', maxQueueSize: 128, ports: [], bufferSize: 65536 });
    expect(consoleOptions(parse(['--device', 'console', '-b', 'network', '-p', '4000', '--ports', 'x,y', '--size', '80x25', '--max-queue-size', '256']).flags))
      .toMatchObject({ backend: 'network', tcpPort: 4000, ports: ['x', 'y'], size: { cols: 80, rows: 25 }, maxQueueSize: 256 });
    expect(parse(['--device', 'console', '-q'])).toMatchObject({ logLevel: 'error' });
    expect(parse(['--device', 'rng']).flags).toEqual({ 'socket-path': 's' });
    expect(parse(['--device', 'blk', '--image', 'x']).flags).toEqual({ 'socket-path': 's', image: 'x', queues: 1, 'read-only': false, serial: undefined });
    expect(parse(['--device', 'gpio', '-l', 's8', '--line-names', 'a,b', '--control-socket', 'c'])).toMatchObject({ flags: { 'device-list': [8], 'line-names': ['a', 'b'] }, controlSocket: 'c' });
    expect(HELP).toMatch(/-p, --tcp-port PORT +console: network: first TCP port.*; default 12345/);
    expect(HELP).toMatch(/-l, --device-list sN\[:sN\] +gpio: .*; required/);
  });

  it('a console TCP port in use: status 1, no socket left', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const socket = join(dir, 'busy.sock');
    const r = await run(['--socket', socket, '--device', 'console', '-b', 'network', '-p', String((busy.address() as AddressInfo).port)]);
    busy.close();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/vmv-vfio-user: error: .*EADDRINUSE/);
    expect(existsSync(socket)).toBe(false);
  });

  it('an image that cannot be served: status 1, no socket left', async () => {
    const socket = join(dir, 'missing.sock');
    const r = await run(['--socket', socket, '--device', 'blk', '--image', join(dir, 'nope.img')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/vmv-vfio-user: error: .*nope\.img/);
    expect(existsSync(socket)).toBe(false);
  });

  it('serves until SIGTERM (SIGHUP ignored), then drains, flushes and removes the socket; status 0', async () => {
    const socket = join(dir, 'run.sock');
    const handlers = new Map<string, () => void>();
    const io = captureIo();
    io.onSignal = (s: NodeJS.Signals, h: () => void) => void handlers.set(s, h);
    io.offSignal = (s: NodeJS.Signals) => void handlers.delete(s);
    const running = runCli(['--socket', socket, '--device', 'blk', '--image', image, '--log-format', 'json'], io);
    for (let i = 0; i < 500 && !handlers.has('SIGTERM'); i++) await new Promise((r) => setTimeout(r, 2));
    expect(existsSync(socket)).toBe(true);
    handlers.get('SIGHUP')!();
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(handlers.size).toBe(0);
    expect(existsSync(socket)).toBe(false);
    const lines = io.errText.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['SIGHUP ignored (nothing to reload)', 'SIGTERM: stopping', 'stopped']));
  });
});
