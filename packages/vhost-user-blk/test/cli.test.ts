/**
 * The command line: argument parsing, clear errors for a bad image or socket path, and the
 * program's exit status and messages (in process through runCli, and as a real child process).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixListener } from '@vmv/sys';
import { DEFAULT_COALESCE_MAX_DELAY_US, DEFAULT_COALESCE_QUIET_US, DEFAULT_POLL_MAX_GAP_US, DEFAULT_POLL_SPIN_US } from '@vmv/vhost-user';
import {
  BlockDaemon,
  DEFAULT_INLINE_READ_MAX,
  DEFAULT_QUEUE_SIZE,
  HELP,
  MAX_INLINE_READ_MAX,
  isVhostUserBlkError,
  openImage,
  parseArgs,
  runCli,
} from '@vmv/vhost-user-blk';
import { isVhostUserError } from '@vmv/vhost-user';
import { DAEMON_ERROR_NAMES } from '@vmv/vhost-user/daemon';
import { captureIo, daemonProgram, removeDaemonProgram, runDaemonToExit } from './support/daemon-process';
import { HANG_MS, until } from './support/frontend';

let dir = '';
let image = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmv-vub-cli-'));
  image = join(dir, 'disk.img');
  writeFileSync(image, new Uint8Array(1 << 20));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (e) {
    expect(isVhostUserError(e, 'VhostUser.UsageError')).toBe(true);
    return (e as Error).message;
  }
  throw new Error(`parseArgs(${JSON.stringify(argv)}) did not throw`);
}

describe('parseArgs', () => {
  it('fills in the defaults', () => {
    expect(parseArgs(['--socket', 's.sock', '--image', 'd.img'])).toEqual({
      command: 'run',
      options: { socket: 's.sock', image: 'd.img', readonly: false, queues: 1, queueSize: DEFAULT_QUEUE_SIZE, serial: undefined, direct: false, maxInflight: 64, inlineReadMax: DEFAULT_INLINE_READ_MAX, coalesce: { quietUs: DEFAULT_COALESCE_QUIET_US, maxDelayUs: DEFAULT_COALESCE_MAX_DELAY_US }, poll: { spinUs: DEFAULT_POLL_SPIN_US, maxGapUs: DEFAULT_POLL_MAX_GAP_US }, workers: 0, logLevel: 'info' },
    });
  });

  it('takes every option, in both --opt value and --opt=value forms', () => {
    const p = parseArgs(['--image=d.img', '--socket', '/run/x.sock', '--readonly', '--queues=4', '--serial', 'disk 0', '--queue-size', '256', '--max-inflight=8', '--direct', '--inline-read-max', '0', '--coalesce', 'off', '--poll', 'off', '--workers=2', '--log-level', 'debug']);
    expect(p).toEqual({
      command: 'run',
      options: { socket: '/run/x.sock', image: 'd.img', readonly: true, queues: 4, queueSize: 256, serial: 'disk 0', direct: true, maxInflight: 8, inlineReadMax: 0, coalesce: false, poll: false, workers: 2, logLevel: 'debug' },
    });
    expect(parseArgs(['--socket', 's', '--image', 'i', '--read-only'])).toMatchObject({ options: { readonly: true } });
    // vhost-user.rst's names for a vhost-user-blk backend program: --blk-file and --read-only
    expect(parseArgs(['--socket-path', 's', '--blk-file', 'i'])).toMatchObject({ options: { socket: 's', image: 'i' } });
    expect(parseArgs(['--socket', 's', '--image', 'i', '--queue-size', '4'])).toMatchObject({ options: { queueSize: 4, maxInflight: 4 } });
  });

  it('answers --help and --version whatever else is given', () => {
    expect(parseArgs(['--help'])).toEqual({ command: 'help' });
    expect(parseArgs(['-h', '--queues', '2'])).toEqual({ command: 'help' });
    expect(parseArgs(['--version'])).toEqual({ command: 'version' });
    expect(parseArgs(['-V'])).toEqual({ command: 'version' });
  });

  it('names what is wrong', () => {
    expect(usageError([])).toMatch(/--image FILE is required/);
    expect(usageError(['--image', 'i'])).toMatch(/--socket-path PATH is required/);
    expect(usageError(['--socket', 's'])).toMatch(/--image FILE is required/);
    expect(usageError(['--socket', 's', '--image'])).toMatch(/--image needs a value/);
    expect(usageError(['--socket', '--image', 'i'])).toMatch(/--socket-path needs a value/);
    expect(usageError(['--socket', 's', '--image', 'i', '--bogus'])).toMatch(/unknown option "--bogus"/);
    expect(usageError(['--socket', 's', '--image', 'i', 'extra'])).toMatch(/unexpected argument "extra"/);
    expect(usageError(['--socket', 's', '--socket', 't', '--image', 'i'])).toMatch(/--socket-path given twice/);
    expect(usageError(['--socket=', '--image', 'i'])).toMatch(/--socket-path must not be empty/);
    expect(usageError(['--socket', 's', '--image', 'i', '--readonly=yes'])).toMatch(/--readonly takes no value/);
    expect(usageError(['--socket', 's', '--image', 'i', '--log-level', 'loud'])).toMatch(/--log-level must be one of error, warn, info, debug/);
  });

  it('refuses a bad --queues, --queue-size, --max-inflight, --inline-read-max or --serial', () => {
    for (const q of ['0', '257', '-1', 'two', '1.5', '', '0x2']) {
      expect(usageError(['--socket', 's', '--image', 'i', `--queues=${q}`])).toMatch(/--queues must (be a whole number|be in 1\.\.256)/);
    }
    expect(usageError(['--socket', 's', '--image', 'i', '--queue-size', '100'])).toMatch(/--queue-size must be a power of two/);
    expect(usageError(['--socket', 's', '--image', 'i', '--queue-size', '65536'])).toMatch(/--queue-size must be in 2\.\.32768/);
    expect(usageError(['--socket', 's', '--image', 'i', '--queue-size', '8', '--max-inflight', '9'])).toMatch(/--max-inflight must be in 1\.\.8/);
    expect(usageError(['--socket', 's', '--image', 'i', '--inline-read-max', String(MAX_INLINE_READ_MAX + 1)])).toMatch(/--inline-read-max must be in 0\.\.16777216/);
    expect(usageError(['--socket', 's', '--image', 'i', '--inline-read-max', '4k'])).toMatch(/--inline-read-max must be a whole number/);
    expect(usageError(['--socket', 's', '--image', 'i', '--coalesce', 'on'])).toMatch(/--coalesce must be "off" or QUIET_US,MAX_US/);
    expect(usageError(['--socket', 's', '--image', 'i', '--coalesce', '0,100'])).toMatch(/QUIET_US must be in 1\.\.1000000/);
    expect(usageError(['--socket', 's', '--image', 'i', '--coalesce', '100,50'])).toMatch(/MAX_US \(50\) must be at least QUIET_US \(100\)/);
    expect(usageError(['--socket', 's', '--image', 'i', '--coalesce', '10,2000000'])).toMatch(/MAX_US must be in 1\.\.1000000/);
    const p = parseArgs(['--socket', 's', '--image', 'i', '--coalesce=20,400']);
    expect(p.command === 'run' && p.options.coalesce).toEqual({ quietUs: 20, maxDelayUs: 400 });
    expect(usageError(['--socket', 's', '--image', 'i', '--poll', 'on'])).toMatch(/--poll must be "off" or SPIN_US,MAX_GAP_US/);
    expect(usageError(['--socket', 's', '--image', 'i', '--poll', '0,100'])).toMatch(/SPIN_US must be in 1\.\.1000000/);
    expect(usageError(['--socket', 's', '--image', 'i', '--poll', '100,50'])).toMatch(/MAX_GAP_US \(50\) must be at least SPIN_US \(100\)/);
    const q = parseArgs(['--socket', 's', '--image', 'i', '--poll=80,5000']);
    expect(q.command === 'run' && q.options.poll).toEqual({ spinUs: 80, maxGapUs: 5000 });
    expect(usageError(['--socket', 's', '--image', 'i', '--serial', 'x'.repeat(21)])).toMatch(/--serial must be at most 20 bytes/);
    expect(usageError(['--socket', 's', '--image', 'i', '--serial', 'disk\u00e9'])).toMatch(/--serial must be printable ASCII/);
  });

  it('either parses or throws a UsageError, for any argument list (fast-check)', () => {
    const token = fc.oneof(
      fc.constantFrom('--socket', '--image', '--queues', '--serial', '--queue-size', '--max-inflight', '--inline-read-max', '--coalesce', '--poll', '--workers', '--log-level', '--readonly', '--direct', '-h', '--x', '-', '--'),
      fc.string({ maxLength: 12 }),
      fc.integer({ min: -5, max: 70000 }).map(String),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 10 }), (argv) => {
        try {
          const p = parseArgs(argv);
          if (p.command === 'run') {
            expect(p.options.queues).toBeGreaterThanOrEqual(1);
            expect(p.options.queues).toBeLessThanOrEqual(256);
            expect(p.options.maxInflight).toBeLessThanOrEqual(p.options.queueSize);
          }
        } catch (e) {
          expect(DAEMON_ERROR_NAMES).toContain((e as Error).name);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('rejects a non-array as embedder misuse', () => {
    expect(() => parseArgs('--help' as unknown as string[])).toThrow(TypeError);
  });
});

describe('image errors', () => {
  const imageError = async (path: string, readonly = false): Promise<string> => {
    try {
      const img = await openImage({ image: path, readonly });
      await img.close();
    } catch (e) {
      expect(isVhostUserBlkError(e, 'VhostUserBlk.ImageError')).toBe(true);
      return (e as Error).message;
    }
    throw new Error(`openImage(${path}) did not throw`);
  };

  it('a missing image: says so and how to create one', async () => {
    const msg = await imageError(join(dir, 'nope.img'));
    expect(msg).toMatch(/image .*nope\.img does not exist/);
    expect(msg).toMatch(/truncate -s 1G/);
  });

  it('a directory', async () => {
    expect(await imageError(dir)).toMatch(/is a directory, not a disk image/);
  });

  it('not a regular file or block device', async () => {
    expect(await imageError('/dev/null')).toMatch(/is not a regular file or a block device/);
  });

  it('a file that cannot be opened for writing: permission denied, with the --readonly hint', async () => {
    // a read-only sysctl refuses O_RDWR even to root; a 0400 file does to anyone else
    const msg = await imageError('/proc/sys/kernel/osrelease');
    expect(msg).toMatch(/cannot open image \/proc\/sys\/kernel\/osrelease for reading and writing: permission denied/);
    expect(msg).toMatch(/--readonly/);
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.img');
      writeFileSync(locked, new Uint8Array(512));
      chmodSync(locked, 0o400);
      expect(await imageError(locked)).toMatch(/permission denied/);
    }
  });

  it('a size that is not a whole number of sectors', async () => {
    const odd = join(dir, 'odd.img');
    writeFileSync(odd, new Uint8Array(1000));
    const msg = await imageError(odd);
    expect(msg).toMatch(/is 1000 bytes, not a whole number of 512-byte sectors/);
    expect(msg).toMatch(/truncate -s %512/);
  });

  it('a qcow2 image', async () => {
    const q = join(dir, 'disk.qcow2');
    const bytes = new Uint8Array(1024);
    bytes.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
    writeFileSync(q, bytes);
    expect(await imageError(q)).toMatch(/is a qcow2 image; vmv-vhost-user-blk serves raw images only/);
  });

  it('opens a good image read-write and read-only', async () => {
    const rw = await openImage({ image });
    expect(rw).toMatchObject({ size: 1 << 20, kind: 'file', readonly: false });
    await rw.close();
    await rw.close(); // idempotent
    const ro = await openImage({ image, readonly: true, direct: true });
    expect(ro.readonly).toBe(true);
    expect(ro.backend.readOnly).toBe(true);
    await ro.close();
    await expect(openImage({ image: '' })).rejects.toThrow(TypeError);
  });
});

describe('socket path errors', () => {
  it('a live listener: BlockDaemon.start fails with "another process is already listening"', async () => {
    const path = join(dir, 'live.sock');
    const other = UnixListener.listen(path);
    try {
      await expect(BlockDaemon.start({ socket: path, image })).rejects.toMatchObject({
        name: 'VhostUser.SocketError',
        message: expect.stringMatching(/another process is already listening on .*live\.sock/),
      });
    } finally {
      other.close();
    }
  });
});

describe('BlockDaemon.start / stop in process', () => {
  it('listens, logs, and stops idempotently', async () => {
    const socket = join(dir, 'inproc.sock');
    const lines: string[] = [];
    const daemon = await BlockDaemon.start({ socket, image, queues: 2, serial: 'abc' }, (level, msg) => lines.push(`${level}: ${msg}`));
    expect(daemon.backend.listening).toBe(true);
    expect(daemon.connected).toBe(false);
    expect(daemon.device.queueMaxSizes).toEqual([DEFAULT_QUEUE_SIZE, DEFAULT_QUEUE_SIZE]);
    expect(lines.join('\n')).toMatch(/serving .*disk\.img \(file, 1 MiB, read-write\) with 2 queues of up to 1024 entries, serial "abc"/);
    const a = daemon.stop();
    expect(daemon.stop()).toBe(a);
    await a;
    await daemon.stopped;
    expect(daemon.backend.listening).toBe(false);
    expect(daemon.stats).toEqual({ connections: 0, requests: 0, ok: 0, ioerr: 0, unsupp: 0 });
    expect(lines.at(-1)).toMatch(/stopped: 0 connections, 0 requests/);
    expect(lines).toContain('debug: reads served inline: 0; through private buffers: 0 reads and writes; slow inline reads: 0 (0 pauses)');
  });

  it('rejects bad programmatic options as embedder misuse', async () => {
    const socket = join(dir, 'bad.sock');
    await expect(BlockDaemon.start({ socket, image, queues: 0 })).rejects.toThrow(RangeError);
    await expect(BlockDaemon.start({ socket, image, queueSize: 100 })).rejects.toThrow(RangeError);
    await expect(BlockDaemon.start({ socket, image, inlineReadMax: -1 })).rejects.toThrow(RangeError);
    await expect(BlockDaemon.start({ socket: '', image })).rejects.toThrow(TypeError);
    await expect(BlockDaemon.start({ socket, image, serial: 'é' })).rejects.toMatchObject({ name: 'VhostUser.UsageError' });
  });
});

describe('runCli (in process)', () => {
  const io = captureIo;

  it('--help prints the usage and exits 0; --version prints the version', async () => {
    const h = io();
    expect(await runCli(['--help'], h)).toBe(0);
    expect(h.outText).toBe(`${HELP}\n`);
    expect(HELP).toMatch(/-s, --socket-path PATH .*alias --socket/);
    // `pnpm bench daemon` finds the worker mode by this flag in --help
    expect(HELP).toMatch(/--workers N +serve the queues in N worker threads/);
    const v = io();
    expect(await runCli(['--version'], v)).toBe(0);
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(v.outText).toBe(`vmv-vhost-user-blk ${version}\n`);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a usage error exits 2 with the message', async () => {
    const e = io();
    expect(await runCli(['--socket', 's', '--image', 'i', '--queues', '0'], e)).toBe(2);
    expect(e.errText).toBe('vmv-vhost-user-blk: error: --queues must be in 1..256, got 0\n');
  });

  it('an image error exits 1 with the message and the hint', async () => {
    const e = io();
    expect(await runCli(['--socket', join(dir, 'c.sock'), '--image', join(dir, 'missing.img')], e)).toBe(1);
    expect(e.errText).toMatch(/error: image .*missing\.img does not exist \(Create a raw image first/);
  });

  it('runs until a stop signal, then exits 0', async () => {
    const handlers = new Map<string, () => void>();
    const e = io();
    e.onSignal = (s, h) => void handlers.set(s, h);
    e.offSignal = (s) => void handlers.delete(s);
    const socket = join(dir, 'sig.sock');
    const running = runCli(['--socket', socket, '--image', image, '--log-level', 'warn'], e);
    await until(() => handlers.has('SIGTERM'), HANG_MS, 'the signal handlers');
    expect([...handlers.keys()].sort()).toEqual(['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGUSR1']);
    handlers.get('SIGHUP')!(); // logged (below warn) and ignored
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(handlers.size).toBe(0);
    expect(e.errText).toBe(''); // info lines are below --log-level warn
  });

  it('a stop signal that arrives while the daemon starts stops it once started (exit 0, socket removed)', async () => {
    const handlers = new Map<string, () => void>();
    const e = io();
    e.onSignal = (s, h) => void handlers.set(s, h);
    e.offSignal = (s) => void handlers.delete(s);
    const socket = join(dir, 'early.sock');
    const running = runCli(['--socket', socket, '--image', image], e);
    expect(handlers.has('SIGTERM')).toBe(true); // installed before the first await
    handlers.get('SIGTERM')!();
    expect(await running).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(e.errText).toMatch(/listening on .*early\.sock[\s\S]*SIGTERM: stopping[\s\S]*0 connections/);
  });

  it('a second signal exits at once', async () => {
    const handlers = new Map<string, () => void>();
    const exits: number[] = [];
    const e = io();
    e.onSignal = (s, h) => void handlers.set(s, h);
    e.offSignal = (s) => void handlers.delete(s);
    e.exit = (code) => void exits.push(code);
    const running = runCli(['--socket', join(dir, 'twice.sock'), '--image', image], e);
    handlers.get('SIGINT')!();
    handlers.get('SIGINT')!();
    expect(exits).toEqual([130]);
    expect(await running).toBe(0);
  });
});

describe('the program as a child process', () => {
  beforeAll(async () => {
    await daemonProgram();
  }, 60_000);
  afterAll(() => removeDaemonProgram());

  it('exits 2 on a bad command line', async () => {
    const r = await runDaemonToExit(['--socket', join(dir, 'a.sock'), '--image', image, '--queues', 'many']);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/--queues must be a whole number, got "many"/);
  });

  it('exits 1 on a missing image or a directory, 2 on a bad socket directory', async () => {
    const missing = await runDaemonToExit(['--socket', join(dir, 'b.sock'), '--image', join(dir, 'missing.img')]);
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/error: image .*missing\.img does not exist/);
    const directory = await runDaemonToExit(['--socket', join(dir, 'b.sock'), '--image', dir]);
    expect(directory.code).toBe(1);
    expect(directory.output).toMatch(/is a directory, not a disk image/);
    const badSocket = await runDaemonToExit(['--socket', join(dir, 'nowhere', 'b.sock'), '--image', image]);
    expect(badSocket.code).toBe(2);
    expect(badSocket.output).toMatch(/directory .*nowhere does not exist/);
  });

  it('prints --help', async () => {
    const r = await runDaemonToExit(['--help']);
    expect(r.code).toBe(0);
    expect(r.output).toContain('Usage: vmv-vhost-user-blk (--socket-path PATH | --fd FDNUM) --image FILE');
  });
});
