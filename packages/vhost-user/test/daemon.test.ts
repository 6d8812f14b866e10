import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventFd, UnixListener, UnixStream } from '@vmv/sys';
import {
  COMMON_FLAGS,
  DAEMON_ERROR_NAMES,
  createLogger,
  daemonHelp,
  packageVersion,
  parseFlags,
  runDaemon,
  socketPaths,
  type DaemonDefinition,
  type FlagSpecs,
} from '@vmv/vhost-user/daemon';
import { VHOST_USER_ERROR_NAMES, isVhostUserError } from '@vmv/vhost-user';
import { UpperDevice } from './devices';
import { captureIo } from './support/daemon-process';
import { HANG_MS, until } from './frontend';

const flags: FlagSpecs = {
  image: { type: 'string', value: 'FILE', help: 'disk image', required: true },
  queues: { type: 'integer', short: 'n', min: 1, max: 8, default: 1, value: 'N', help: 'queues' },
  readonly: { type: 'boolean', help: 'read-only', aliases: ['read-only'] },
  serial: { type: 'string', value: 'ID', help: 'serial', validate: (s) => s.toUpperCase() },
};

function def(over: Partial<DaemonDefinition> = {}): DaemonDefinition {
  return {
    program: 'vmv-test',
    deviceType: 'test',
    description: 'A test daemon.',
    version: '1.2.3',
    flags: {},
    features: ['x'],
    createDevice: () => ({ device: new UpperDevice() }),
    ...over,
  };
}

const io = captureIo;

function formatHelpLine(specs: FlagSpecs): string {
  return daemonHelp(def({ flags: specs })).split('\n').find((l) => l.includes('--vm'))!;
}

describe('parseFlags', () => {
  it('takes values after the flag, joined with =, and by short alias; fills defaults; validates', () => {
    expect(parseFlags(flags, ['--image', 'a.img', '-n', '3', '--serial=ab'])).toEqual({ image: 'a.img', queues: 3, readonly: false, serial: 'AB' });
    expect(parseFlags(flags, ['--image=a.img', '--read-only'])).toEqual({ image: 'a.img', queues: 1, readonly: true, serial: undefined });
  });

  it.each([
    [['--image', 'a', '--bogus'], /unknown option "--bogus"/],
    [['--image'], /--image needs a value/],
    [['--image', 'a', '--queues', '--readonly'], /--queues needs a value/],
    [['--image', 'a', '--queues=9'], /--queues must be in 1\.\.8, got 9/],
    [['--image', 'a', '--queues=x'], /--queues must be a whole number/],
    [['--image', 'a', '--readonly=1'], /--readonly takes no value/],
    [['--image', 'a', '--image', 'b'], /--image given twice/],
    [['--queues', '2'], /--image FILE is required/],
    [['--image', 'a', 'stray'], /unexpected argument "stray"/],
  ])('refuses %j with one UsageError line', (argv, message) => {
    let caught: unknown;
    try {
      parseFlags(flags, argv);
    } catch (e) {
      caught = e;
    }
    expect(isVhostUserError(caught, 'VhostUser.UsageError')).toBe(true);
    expect((caught as Error & { shortMessage: string }).shortMessage).toMatch(message);
    expect((caught as Error & { shortMessage: string }).shortMessage).not.toContain('\n');
  });

  it('a repeatable flag: every value validated, in order; [] when absent; an empty one refused', () => {
    const specs: FlagSpecs = { vm: { type: 'string', repeatable: true, help: 'a vm', validate: (t) => t.toUpperCase() } };
    expect(parseFlags(specs, ['--vm', 'a', '--vm=b', '--vm', 'c'])).toEqual({ vm: ['A', 'B', 'C'] });
    expect(parseFlags(specs, [])).toEqual({ vm: [] });
    expect(() => parseFlags(specs, ['--vm', 'a', '--vm='])).toThrow(/--vm must not be empty/);
    expect(formatHelpLine(specs)).toContain('(repeatable)');
  });

  it('socketPaths: the path alone, or PATH0..PATH(N-1) with a count (rust-vmm vhost-device naming)', () => {
    expect(socketPaths('/run/x.sock', undefined)).toEqual(['/run/x.sock']);
    expect(socketPaths('/run/x.sock', 3)).toEqual(['/run/x.sock0', '/run/x.sock1', '/run/x.sock2']);
    expect(socketPaths('/run/x.sock', 1)).toEqual(['/run/x.sock0']); // rust-vmm: -s P is P0 even alone
  });
});

describe('runDaemon: help, version, capabilities, usage errors', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vmv-daemon-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--help: every flag (common and own) on one line, exit 0', async () => {
    const o = io();
    expect(await runDaemon(def({ flags }), ['--help'], o)).toBe(0);
    expect(o.outText).toBe(`${daemonHelp(def({ flags }))}\n`);
    const lines = o.outText.split('\n');
    for (const name of [...Object.keys(COMMON_FLAGS), ...Object.keys(flags)]) expect(lines.filter((l) => new RegExp(`^  (-\\w, |    )--${name}[ \\n]`).test(l))).toHaveLength(1);
    expect(o.outText).toMatch(/^ {2}-s, --socket-path PATH\s+unix socket/m);
    expect(o.outText).toMatch(/Exit status: 0 .*; 1 .*; 2 /);
  });

  it('--version and -V print the version; --print-capabilities prints vhost-user.json capabilities', async () => {
    const o = io();
    expect(await runDaemon(def(), ['-V'], o)).toBe(0);
    expect(o.outText).toBe('vmv-test 1.2.3\n');
    const c = io();
    expect(await runDaemon(def(), ['--print-capabilities'], c)).toBe(0);
    expect(JSON.parse(c.outText)).toEqual({ type: 'test', features: ['x'] });
  });

  async function usage(argv: string[], d = def()): Promise<string> {
    const o = io();
    expect(await runDaemon(d, argv, o)).toBe(2);
    expect(o.errText.trimEnd().split('\n')).toHaveLength(1);
    return o.errText;
  }

  it('exit 2 with one line naming the problem and the fix', async () => {
    expect(await usage(['--socket-path'])).toMatch(/^vmv-test: error: --socket-path needs a value\. Give it as --socket-path PATH/);
    expect(await usage(['--nope'])).toMatch(/unknown option "--nope"\. Run vmv-test --help/);
    expect(await usage([])).toMatch(/--socket-path PATH \(or --fd FDNUM\) is required/);
    expect(await usage(['-s', join(dir, 'x.sock'), '--log-format=xml'])).toMatch(/--log-format must be text or json/);
    expect(await usage(['-s', join(dir, 'x.sock'), '-v', '-q'])).toMatch(/--verbose and --quiet exclude each other/);
    expect(await usage(['-s', join(dir, 'x.sock'), '-c', '2'], def({ maxSockets: 1 }))).toMatch(/--socket-count must be at most 1/);
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    expect(await usage(['-s', file])).toMatch(/exists and is not a socket; refusing to replace it\. Remove the file or choose another --socket-path/);
    expect(await usage(['-s', join(dir, 'nodir', 'x.sock')])).toMatch(/directory .*nodir does not exist\. Create it first: mkdir -p/);
    mkdirSync(join(dir, 'sub'));
    expect(await usage(['-s', join(dir, 'sub')])).toMatch(/is a directory/);
    expect(await usage(['-s', join(file, 'x.sock')])).toMatch(/is not a directory/);
    expect(await usage(['-s', join(dir, 'x'.repeat(120))])).toMatch(/bytes long; a unix socket path can have at most 107/);
  });

  it('--fd: anything but an inherited listening unix socket is exit 2 with one line', async () => {
    const ev = new EventFd();
    const [a, b] = UnixStream.pair();
    const l = UnixListener.listen(join(dir, 'l.sock'));
    try {
      expect(await usage(['--fd', String(ev.fd)])).toMatch(new RegExp(`--fd ${ev.fd} is not a socket\\. Pass an fd the manager opened`));
      expect(await usage(['--fd', String(a.fd)])).toMatch(/is a socket that is not listening/);
      expect(await usage(['--fd', '999999'])).toMatch(/--fd 999999 is not open/);
      expect(await usage(['--fd', String(l.fd), '-s', join(dir, 'x.sock')])).toMatch(/--fd excludes --socket-path and --socket-count/);
      expect(await usage(['--fd', 'three'])).toMatch(/--fd/);
    } finally {
      for (const x of [ev, a, b, l]) x.close();
    }
  });

  it("socketSuffix 'always': -s P listens on P0 without --socket-count, as rust-vmm's vhost-device daemons do", async () => {
    const path = join(dir, 'rv.sock');
    const handlers = new Map<string, () => void>();
    const o = io();
    o.onSignal = (s, h) => void handlers.set(s, h);
    o.offSignal = (s) => void handlers.delete(s);
    const running = runDaemon(def({ socketSuffix: 'always' }), ['-s', path], o);
    await until(() => o.errText.includes('listening on'), HANG_MS, 'listening');
    expect(lstatSync(`${path}0`).isSocket()).toBe(true);
    expect(existsSync(path)).toBe(false);
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
  });

  it('sockets named by the daemon\'s own flags: one device each; --socket-path with them, none, or one twice: exit 2', async () => {
    const [a, b] = [join(dir, 'vm-a.sock'), join(dir, 'vm-b.sock')];
    const named = def({
      flags: { vm: { type: 'string', repeatable: true, help: 'a socket' } },
      sockets: (values) => ((values['vm'] as string[]).length === 0 ? undefined : (values['vm'] as string[])),
      createDevice: (_v, _l, socket) => {
        built.push(socket);
        return { device: new UpperDevice() };
      },
    });
    const built: string[] = [];
    const handlers = new Map<string, () => void>();
    const o = io();
    o.onSignal = (s, h) => void handlers.set(s, h);
    o.offSignal = (s) => void handlers.delete(s);
    const running = runDaemon(named, ['--vm', a, '--vm', b], o);
    await until(() => o.errText.split('listening on').length === 3, HANG_MS, 'listening twice');
    expect(built).toEqual([a, b]);
    expect(lstatSync(a).isSocket() && lstatSync(b).isSocket()).toBe(true);
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(await usage(['--vm', a, '-s', b], named)).toMatch(/--socket-path, --socket-count and --fd exclude sockets named by other flags/);
    expect(await usage(['--vm', a, '--vm', a], named)).toMatch(/two devices name the same socket/);
    expect(await usage([], named)).toMatch(/--socket-path PATH \(or --fd FDNUM\) is required/);
  });

  it('replaces a stale socket file (no listener behind it) and serves', async () => {
    const path = join(dir, 'stale.sock');
    // A socket file nobody listens on: listen, move the file away from the listener, close it.
    const first = UnixListener.listen(join(dir, 'moved.sock'));
    renameSync(join(dir, 'moved.sock'), path);
    first.close();
    expect(lstatSync(path).isSocket()).toBe(true);
    const handlers = new Map<string, () => void>();
    const o = io();
    o.onSignal = (s, h) => void handlers.set(s, h);
    o.offSignal = (s) => void handlers.delete(s);
    const running = runDaemon(def(), ['-s', path], o);
    await until(() => o.errText.includes('listening on'), HANG_MS, 'listening');
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('a socket another daemon listens on: exit 2, "already listening", the device closed', async () => {
    const path = join(dir, 'busy.sock');
    const other = UnixListener.listen(path);
    let closed = 0;
    try {
      expect(await usage(['-s', path], def({ createDevice: () => ({ device: new UpperDevice(), close: () => Promise.resolve(void closed++) }) }))).toMatch(/another process is already listening on .*busy\.sock\. Stop that daemon first/);
      expect(closed).toBe(1);
    } finally {
      other.close();
    }
  });

  it('a device that cannot be built: exit 1 with its message', async () => {
    const o = io();
    const code = await runDaemon(def({ createDevice: () => { throw new Error('no entropy source'); } }), ['-s', join(dir, 'x.sock')], o);
    expect(code).toBe(1);
    expect(o.errText).toBe('vmv-test: error: no entropy source\n');
  });

  it('error names are the documented ones', () => {
    expect(DAEMON_ERROR_NAMES).toEqual(['VhostUser.UsageError', 'VhostUser.SocketError', 'VhostUser.ControlError']);
    for (const n of DAEMON_ERROR_NAMES) expect(VHOST_USER_ERROR_NAMES).toContain(n);
  });
});

describe('createLogger', () => {
  it('text: program, level, message, fields; filtered by level', () => {
    const lines: string[] = [];
    const log = createLogger('p', 'info', 'text', (t) => lines.push(t));
    log.debug('hidden');
    log.info('hello', { socket: '/s', n: 2 });
    expect(lines).toEqual(['p: info: hello socket="/s" n=2\n']);
  });

  it('json: one object a line with time, level, program, msg, fields', () => {
    const lines: string[] = [];
    const log = createLogger('p', 'error', 'json', (t) => lines.push(t), () => new Date(0));
    log.warn('hidden');
    log.error('bad', { k: 1 });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'error', program: 'p', msg: 'bad', fields: { k: 1 } });
  });
});

describe('packageVersion', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'vmv-version-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the named package\'s package.json above the directory, passing others on the way', () => {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@vmv/vhost-user-x', version: '1.2.3' }));
    mkdirSync(join(dir, 'dist', 'cjs'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    expect(packageVersion('@vmv/vhost-user-x', join(dir, 'dist', 'cjs'))).toBe('1.2.3');
  });

  it('is "unknown" with no directory (an ES module build), for another name, or past a malformed file', () => {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@vmv/vhost-user-x', version: '1.2.3' }));
    expect(packageVersion('@vmv/vhost-user-x', undefined)).toBe('unknown');
    expect(packageVersion('@vmv/vhost-user-y', dir)).toBe('unknown');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'package.json'), '{ not json');
    expect(packageVersion('@vmv/vhost-user-x', join(dir, 'sub'))).toBe('unknown');
  });
});
