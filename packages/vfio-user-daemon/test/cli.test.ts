/** The command line: help, version, usage errors (status 2), an image that cannot be served (status 1), stop signals. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELP, PROGRAM, runCli } from '@vmv/vfio-user-daemon';
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
    [['--socket', 's'], '--device blk|rng is required'],
    [['--socket', 's', '--device', 'gpu'], '--device must be one of blk, rng, got "gpu"'],
    [['--socket', 's', '--device', 'blk'], '--device blk needs --image FILE'],
    [['--socket', 's', '--device', 'rng', '--image', 'x'], '--image is a blk flag'],
    [['--socket', 's', '--device', 'rng', '--read-only'], '--read-only is a blk flag'],
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
