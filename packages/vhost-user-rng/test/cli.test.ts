/**
 * The command line against rust-vmm vhost-device-rng's (its src/main.rs): the same flags, short
 * forms and defaults (-s, -c default 1, -f /dev/urandom, -p 65536 in 1..65536, -m usize::MAX),
 * the socket path suffixed 0..c-1 even for one socket, and one clear line and exit code for bad
 * host input.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags, daemonFlags, type DaemonIo } from '@vmv/vhost-user/daemon';
import { HELP, MAX_PERIOD_MS, createRngDaemon, parseMaxBytes, runCli } from '@vmv/vhost-user-rng';

function capture() {
  const r = { out: '', err: '' };
  const io: DaemonIo = { out: (t) => void (r.out += t), err: (t) => void (r.err += t), onSignal: () => undefined, offSignal: () => undefined, exit: () => undefined };
  return { r, io };
}

const flags = daemonFlags(createRngDaemon());

describe('flags', () => {
  it('has vhost-device-rng\'s names, short forms and defaults', () => {
    const v = parseFlags(flags, ['-s', '/x/rng.sock']);
    expect(v).toMatchObject({ 'socket-path': '/x/rng.sock', 'rng-source': '/dev/urandom', period: 65536, 'max-bytes': undefined });
    const w = parseFlags(flags, ['-s', 'P', '-c', '3', '-f', '/dev/hwrng', '-p', '1000', '-m', '4096']);
    expect(w).toMatchObject({ 'socket-path': 'P', 'socket-count': 3, 'rng-source': '/dev/hwrng', period: 1000, 'max-bytes': 4096 });
    const x = parseFlags(flags, ['--socket-path=P', '--socket-count=2', '--rng-source=/f', '--period=1', '--max-bytes=18446744073709551615']);
    expect(x).toMatchObject({ 'socket-count': 2, 'rng-source': '/f', period: 1, 'max-bytes': Infinity });
    expect(MAX_PERIOD_MS).toBe(65536);
    expect(parseMaxBytes('9007199254740993')).toBe(Infinity); // beyond a byte count: no limit, as usize::MAX
  });

  it('refuses what vhost-device-rng refuses (period 0 or above 65536) and a zero budget, in one line', () => {
    for (const argv of [['-p', '0'], ['-p', '65537'], ['-m', '0'], ['-m', '-1'], ['-m', 'x'], ['-m', '18446744073709551616'], ['-c', '0']]) {
      expect(() => parseFlags(flags, ['-s', 'P', ...argv])).toThrow(/must be/);
    }
  });

  it('--help lists the flags; --version; --print-capabilities says rng', async () => {
    for (const f of ['--rng-source', '--period', '--max-bytes', '--socket-path', '--socket-count', '-f, ', '-p, ', '-m, ']) expect(HELP).toContain(f);
    const h = capture();
    expect(await runCli(['--version'], h.io)).toBe(0);
    expect(h.r.out).toBe(`vmv-vhost-user-rng ${(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version}\n`);
    const c = capture();
    expect(await runCli(['--print-capabilities'], c.io)).toBe(0);
    expect(JSON.parse(c.r.out)).toEqual({ type: 'rng', features: [] });
  });
});

describe('bad host input: one line, an exit code, no socket left', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmv-vur-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a source that does not exist or is a directory: exit 1, no socket created', async () => {
    mkdirSync(join(dir, 'd'));
    for (const [src, why] of [[join(dir, 'missing'), 'does not exist'], [join(dir, 'd'), 'is a directory']] as const) {
      const c = capture();
      const p = join(dir, 'bad.sock');
      expect(await runCli(['-s', p, '-f', src], c.io)).toBe(1);
      const lines = c.r.err.trim().split('\n');
      expect(lines.length).toBe(1);
      expect(lines[0]!.startsWith(`vmv-vhost-user-rng: error: The entropy source failed (${src} ${why}`)).toBe(true);
      expect(existsSync(`${p}0`)).toBe(false);
    }
  });

  it('a bad flag value or a missing socket path: exit 2', async () => {
    for (const argv of [['-s', join(dir, 'x'), '-p', '70000'], ['-f', '/dev/urandom'], ['-s', join(dir, 'x'), '--bogus']]) {
      const c = capture();
      expect(await runCli(argv, c.io)).toBe(2);
      expect(c.r.err.trim().split('\n').length).toBe(1);
    }
  });
});
