/**
 * The command line of vmv-vhost-user-blk: `--socket PATH --image FILE [--readonly] [--queues N]
 * [--serial ID] ...`, parsed into {@link DaemonOptions} with a clear {@link UsageError} for
 * anything wrong. Values may follow their option (`--queues 2`) or be joined to it (`--queues=2`).
 * @module
 */

import { DEFAULT_COALESCE_MAX_DELAY_US, DEFAULT_COALESCE_QUIET_US, DEFAULT_POLL_MAX_GAP_US, DEFAULT_POLL_SPIN_US } from '@vmv/vhost-user';
import { UsageError } from './errors.js';

/** Log verbosity: each level includes the ones before it. @example `LogLevel.debug > LogLevel.info // true` */
export const LogLevel = { error: 0, warn: 1, info: 2, debug: 3 } as const;
/** One of the {@link LogLevel} names. @example `const l: LogLevelName = 'warn';` */
export type LogLevelName = keyof typeof LogLevel;

/**
 * What the daemon serves and how. {@link parseArgs} fills every field; programs calling
 * {@link BlockDaemon.start} may leave the optional ones out.
 * @example
 * ```ts
 * const o: DaemonOptions = { socket: '/run/vmv/blk0.sock', image: 'disk.img', queues: 2 };
 * ```
 */
export interface DaemonOptions {
  /** Unix socket path QEMU connects to (`-chardev socket,path=...`). */
  socket: string;
  /** Raw disk image (a regular file or a block device). */
  image: string;
  /** Export read-only: the device offers VIRTIO_BLK_F_RO and the image is opened O_RDONLY. Default false. */
  readonly?: boolean;
  /** Request queues, 1..256 (QEMU's `num-queues` must not exceed it). Default 1. */
  queues?: number;
  /** Largest ring size per queue, a power of two in 2..32768 (QEMU's `queue-size` must not exceed it). Default 1024. */
  queueSize?: number;
  /** GET_ID answer (the guest's /sys/block/vda/serial): printable ASCII, at most 20 bytes. Default none (GET_ID unsupported). */
  serial?: string;
  /** Bypass the host page cache with O_DIRECT (like qemu-storage-daemon's cache.direct=on). Default false. */
  direct?: boolean;
  /** Requests in flight per queue, 1..queueSize. Default 64. */
  maxInflight?: number;
  /**
   * Largest read served inline (a synchronous pread on the event loop, straight into guest memory)
   * while the host page cache serves reads fast; 0 turns inline reads off. Buffered images only
   * (not with `direct`). Default {@link DEFAULT_INLINE_READ_MAX}.
   */
  inlineReadMax?: number;
  /**
   * Interrupt coalescing (see @vmv/vhost-user's `interruptCoalescing`): while the driver keeps
   * several requests in flight, completions share interrupts; a hold ends when the driver has not
   * kicked for `quietUs` or after `maxDelayUs`. A driver waiting on one request at a time is
   * signalled at once. `false` sends every interrupt at once. Default
   * `{ quietUs: DEFAULT_COALESCE_QUIET_US, maxDelayUs: DEFAULT_COALESCE_MAX_DELAY_US }`.
   */
  coalesce?: { readonly quietUs: number; readonly maxDelayUs: number } | false;
  /**
   * Predictive polling (see @vmv/vhost-user's `kickPolling`): after each interrupt the ring is
   * looked at in a busy loop of at most `spinUs`, kicks off, around when the guest's next request
   * is expected, for a guest whose next request comes within `maxGapUs`. `false`: the ring is
   * looked at only on kicks. Default
   * `{ spinUs: DEFAULT_POLL_SPIN_US, maxGapUs: DEFAULT_POLL_MAX_GAP_US }`.
   */
  poll?: { readonly spinUs: number; readonly maxGapUs: number } | false;
  /** Log verbosity on stderr. Default `info`. */
  logLevel?: LogLevelName;
}

/**
 * What {@link parseArgs} found: a daemon to run, or a request for help or the version.
 * @example
 * ```ts
 * const p: ParsedCommand = parseArgs(process.argv.slice(2));
 * if (p.command === 'help') console.log(HELP);
 * ```
 */
export type ParsedCommand =
  | { readonly command: 'run'; readonly options: Required<Omit<DaemonOptions, 'serial'>> & { serial: string | undefined } }
  | { readonly command: 'help' }
  | { readonly command: 'version' };

/** The program name used in messages. @example `console.error(`${PROGRAM}: error: ...`)` */
export const PROGRAM = 'vmv-vhost-user-blk';

/** Default ring size: QEMU's vhost-user-blk accepts `queue-size` up to 1024 (its default is 128). @example `parseArgs([...]).options.queueSize === DEFAULT_QUEUE_SIZE` */
export const DEFAULT_QUEUE_SIZE = 1024;

/** Default largest inline read: 1 MiB. @example `parseArgs([...]).options.inlineReadMax === DEFAULT_INLINE_READ_MAX` */
export const DEFAULT_INLINE_READ_MAX = 1 << 20;
/** Largest value of `--inline-read-max`: 16 MiB. @example `MAX_INLINE_READ_MAX === 16 << 20` */
export const MAX_INLINE_READ_MAX = 16 << 20;

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP = `Usage: ${PROGRAM} --socket PATH --image FILE [options]

Serves a raw disk image as a virtio-blk device over vhost-user (like qemu-storage-daemon's
vhost-user-blk export). QEMU connects with:
  -chardev socket,id=c0,path=PATH -device vhost-user-blk-pci,chardev=c0,num-queues=N
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem

Options:
  --socket PATH       unix socket to listen on (a stale socket file is replaced)
  --image FILE        raw disk image: a regular file or a block device
  --readonly          export read-only (VIRTIO_BLK_F_RO); the image is opened O_RDONLY
  --queues N          request queues, 1..256 (default 1); QEMU's num-queues must be <= N
  --serial ID         device serial (GET_ID), printable ASCII, at most 20 bytes
  --queue-size N      largest ring size, a power of two 2..32768 (default ${DEFAULT_QUEUE_SIZE})
  --max-inflight N    requests in flight per queue, 1..queue-size (default 64)
  --direct            O_DIRECT: bypass the host page cache (falls back to buffered I/O
                      on filesystems without O_DIRECT)
  --inline-read-max B serve reads of up to B bytes inline (a synchronous read on the event
                      loop: no thread pool round trip) while the page cache serves them fast;
                      0 turns this off (default ${DEFAULT_INLINE_READ_MAX}; buffered images only)
  --coalesce Q,M      interrupt coalescing: while the guest keeps several requests in flight,
                      hold completion interrupts until it has not kicked for Q µs, at most
                      M µs, and send them as one (default ${DEFAULT_COALESCE_QUIET_US},${DEFAULT_COALESCE_MAX_DELAY_US}); a guest waiting on one
                      request at a time is interrupted at once; off: never hold
  --poll S,G          predictive polling: after each interrupt, look at the ring for at most
                      S µs (kicks off) around when the guest's next request is expected, for a
                      guest whose next request comes within G µs (default ${DEFAULT_POLL_SPIN_US},${DEFAULT_POLL_MAX_GAP_US});
                      costs up to S µs of CPU per interrupt; off: wait for kicks only
  --log-level LEVEL   error | warn | info | debug (default info); logs go to stderr
  -h, --help          this text
  -V, --version       the version

Behaviour: one frontend at a time; when it disconnects the daemon flushes the image and waits
for the next connection. SIGINT or SIGTERM: stop listening (the socket file is removed), finish
the requests in flight, fdatasync the image, exit 0.
Exit status: 0 after a clean stop, 1 when the image or socket cannot be used, 2 for a bad
command line.`;

const VALUE_OPTIONS = new Set(['--socket', '--image', '--queues', '--serial', '--queue-size', '--max-inflight', '--inline-read-max', '--coalesce', '--poll', '--log-level']);
const FLAG_OPTIONS = new Set(['--readonly', '--read-only', '--direct', '--help', '-h', '--version', '-V']);

function integer(option: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${option} must be a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${option} must be in ${min}..${max}, got ${text}`);
  return n;
}

/**
 * Checks a serial number for GET_ID: printable ASCII, at most 20 bytes (VIRTIO 1.2 §5.2.6,
 * VIRTIO_BLK_ID_BYTES).
 * @param serial - the candidate.
 * @returns the serial.
 * @throws VhostUserBlk.UsageError when it is too long or not printable ASCII.
 * @example
 * ```ts
 * checkSerial('disk0'); // 'disk0'
 * ```
 */
export function checkSerial(serial: string): string {
  if (serial.length > 20) throw new UsageError(`--serial must be at most 20 bytes, got ${serial.length}`);
  if (!/^[\x20-\x7e]*$/.test(serial)) throw new UsageError('--serial must be printable ASCII');
  return serial;
}

/**
 * Parses the daemon's command line (without `node` and the script: `process.argv.slice(2)`).
 * @param argv - the arguments.
 * @returns `{command: 'run', options}` with every option filled in, or `{command: 'help'}` /
 *   `{command: 'version'}`.
 * @throws VhostUserBlk.UsageError for an unknown option, a missing or repeated option, a
 *   missing value, or a value out of range.
 * @example
 * ```ts
 * const p = parseArgs(['--socket', '/tmp/vub.sock', '--image', 'disk.img', '--queues=2']);
 * if (p.command === 'run') console.log(p.options.queues); // 2
 * ```
 */
export function parseArgs(argv: readonly string[]): ParsedCommand {
  if (!Array.isArray(argv)) throw new TypeError('parseArgs: argv must be an array of strings');
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (typeof arg !== 'string') throw new TypeError('parseArgs: argv must be an array of strings');
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (FLAG_OPTIONS.has(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      flags.add(name === '--read-only' ? '--readonly' : name === '-h' ? '--help' : name === '-V' ? '--version' : name);
      continue;
    }
    if (VALUE_OPTIONS.has(name)) {
      let value: string;
      if (eq > 0) {
        value = arg.slice(eq + 1);
      } else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${name} needs a value`);
        value = next;
        i++;
      }
      if (values.has(name)) throw new UsageError(`${name} given twice`);
      values.set(name, value);
      continue;
    }
    if (arg.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(name)}`, { details: `Run ${PROGRAM} --help for the options.` });
    throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`, { details: `Run ${PROGRAM} --help for the options.` });
  }
  if (flags.has('--help')) return { command: 'help' };
  if (flags.has('--version')) return { command: 'version' };

  const socket = values.get('--socket');
  const image = values.get('--image');
  if (socket === undefined) throw new UsageError('--socket PATH is required', { details: `Usage: ${PROGRAM} --socket PATH --image FILE [--readonly] [--queues N] [--serial ID]` });
  if (image === undefined) throw new UsageError('--image FILE is required', { details: `Usage: ${PROGRAM} --socket PATH --image FILE [--readonly] [--queues N] [--serial ID]` });
  if (socket === '') throw new UsageError('--socket must not be empty');
  if (image === '') throw new UsageError('--image must not be empty');

  const queues = integer('--queues', values.get('--queues') ?? '1', 1, 256);
  const queueSizeText = values.get('--queue-size');
  const queueSize = queueSizeText === undefined ? DEFAULT_QUEUE_SIZE : integer('--queue-size', queueSizeText, 2, 32768);
  if ((queueSize & (queueSize - 1)) !== 0) throw new UsageError(`--queue-size must be a power of two, got ${queueSize}`);
  const inflightText = values.get('--max-inflight');
  const maxInflight = inflightText === undefined ? Math.min(64, queueSize) : integer('--max-inflight', inflightText, 1, queueSize);
  const inlineText = values.get('--inline-read-max');
  const inlineReadMax = inlineText === undefined ? DEFAULT_INLINE_READ_MAX : integer('--inline-read-max', inlineText, 0, MAX_INLINE_READ_MAX);
  const serialText = values.get('--serial');
  const serial = serialText === undefined ? undefined : checkSerial(serialText);
  const coalesce = parseCoalesce(values.get('--coalesce'));
  const poll = parsePoll(values.get('--poll'));
  const level = values.get('--log-level') ?? 'info';
  if (!Object.prototype.hasOwnProperty.call(LogLevel, level)) {
    throw new UsageError(`--log-level must be one of ${Object.keys(LogLevel).join(', ')}, got ${JSON.stringify(level)}`);
  }
  return {
    command: 'run',
    options: {
      socket,
      image,
      readonly: flags.has('--readonly'),
      queues,
      queueSize,
      serial,
      direct: flags.has('--direct'),
      maxInflight,
      inlineReadMax,
      coalesce,
      poll,
      logLevel: level as LogLevelName,
    },
  };
}

/**
 * `OPTION off` or `OPTION A,B`: two µs values, each 1..1000000, B at least A. `undefined` gives the
 * defaults.
 */
function parseMicrosecondPair(option: string, text: string | undefined, [a, aLabel, aDefault]: readonly [string, string, number], [b, bLabel, bDefault]: readonly [string, string, number]): Record<string, number> | false {
  if (text === undefined) return { [a]: aDefault, [b]: bDefault };
  if (text === 'off') return false;
  const m = /^(\d+),(\d+)$/.exec(text);
  if (m === null) throw new UsageError(`${option} must be "off" or ${aLabel},${bLabel} (for example ${aDefault},${bDefault}), got ${JSON.stringify(text)}`);
  const x = integer(`${option} ${aLabel}`, m[1]!, 1, 1_000_000);
  const y = integer(`${option} ${bLabel}`, m[2]!, 1, 1_000_000);
  if (y < x) throw new UsageError(`${option}: ${bLabel} (${y}) must be at least ${aLabel} (${x})`);
  return { [a]: x, [b]: y };
}

/** `--coalesce off` or `--coalesce QUIET_US,MAX_US`. */
function parseCoalesce(text: string | undefined): { quietUs: number; maxDelayUs: number } | false {
  const r = parseMicrosecondPair('--coalesce', text, ['quietUs', 'QUIET_US', DEFAULT_COALESCE_QUIET_US], ['maxDelayUs', 'MAX_US', DEFAULT_COALESCE_MAX_DELAY_US]);
  return r === false ? false : { quietUs: r.quietUs!, maxDelayUs: r.maxDelayUs! };
}

/** `--poll off` or `--poll SPIN_US,MAX_GAP_US`. */
function parsePoll(text: string | undefined): { spinUs: number; maxGapUs: number } | false {
  const r = parseMicrosecondPair('--poll', text, ['spinUs', 'SPIN_US', DEFAULT_POLL_SPIN_US], ['maxGapUs', 'MAX_GAP_US', DEFAULT_POLL_MAX_GAP_US]);
  return r === false ? false : { spinUs: r.spinUs!, maxGapUs: r.maxGapUs! };
}
