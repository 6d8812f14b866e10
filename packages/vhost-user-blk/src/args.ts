/**
 * The command line of vmv-vhost-user-blk: `--socket PATH --image FILE [--readonly] [--queues N]
 * [--serial ID] ...`, parsed into {@link DaemonOptions} with a clear {@link UsageError} for
 * anything wrong. Values may follow their option (`--queues 2`) or be joined to it (`--queues=2`).
 * @module
 */

import { DEFAULT_COALESCE_MAX_DELAY_US, DEFAULT_COALESCE_QUIET_US, DEFAULT_POLL_MAX_GAP_US, DEFAULT_POLL_SPIN_US } from '@vmv/vhost-user';
import { UsageError, daemonFlags, parseFlags, parseInteger, type FlagSpecs, type FlagValues } from '@vmv/vhost-user/daemon';

/** Log verbosity: each level includes the ones before it. @example `LogLevel.debug > LogLevel.info // true` */
export const LogLevel = {
  /** Only failures: a device that needs a reset, a stopped queue, a failed resize or hook. */
  error: 0,
  /** Also what went wrong but was survived: I/O errors, refused requests and connections. */
  warn: 1,
  /** Also the daemon's life: listening, connections, DRIVER_OK, signals, the final counts (the default). */
  info: 2,
  /** Also device resets, flushes and inline-read counters. */
  debug: 3,
} as const;
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
  coalesce?:
    | {
        /** A held interrupt is sent once the driver has not kicked for this long (µs). */
        readonly quietUs: number;
        /** A held interrupt is sent after this long at most (µs). */
        readonly maxDelayUs: number;
      }
    | false;
  /**
   * Predictive polling (see @vmv/vhost-user's `kickPolling`): after each interrupt the ring is
   * looked at in a busy loop of at most `spinUs`, kicks off, around when the guest's next request
   * is expected, for a guest whose next request comes within `maxGapUs`. `false`: the ring is
   * looked at only on kicks. Default
   * `{ spinUs: DEFAULT_POLL_SPIN_US, maxGapUs: DEFAULT_POLL_MAX_GAP_US }`.
   */
  poll?:
    | {
        /** Longest busy look at the ring after an interrupt (µs). */
        readonly spinUs: number;
        /** Guests whose requests come further apart than this (µs) are not polled for. */
        readonly maxGapUs: number;
      }
    | false;
  /**
   * Worker threads serving the queues (0..64): queue `i` runs in worker `i mod workers`, each with
   * its own device over the image, on its own core (see @vmv/vhost-user's `queueWorkers`). 0 serves
   * every queue in the main thread. Default 0.
   */
  workers?: number;
  /**
   * The script queue workers run: default the package's `queue-worker.js` next to this module
   * (CommonJS build); give it in an ES module build (`dist/cjs/queue-worker.js` of the package).
   */
  workerScript?: string;
  /** Log verbosity on stderr. Default `info`. */
  logLevel?: LogLevelName;
}

/** Every option filled in, as {@link parseArgs} returns them. @example `const o: RunOptions = blockOptions(values);` */
export type RunOptions = Required<Omit<DaemonOptions, 'serial' | 'workerScript'>> & {
  /** The GET_ID serial, or undefined for none. */
  serial: string | undefined;
};

/**
 * What {@link parseArgs} found: a daemon to run, or a request for help or the version.
 * @example
 * ```ts
 * const p: ParsedCommand = parseArgs(process.argv.slice(2));
 * if (p.command === 'help') console.log(HELP);
 * ```
 */
export type ParsedCommand =
  | {
      /** Serve the image. */
      readonly command: 'run';
      /** Every option, defaults filled in. */
      readonly options: RunOptions;
    }
  | {
      /** `--help`: print the usage text and exit. */
      readonly command: 'help';
    }
  | {
      /** `--version`: print the version and exit. */
      readonly command: 'version';
    };

/** The program name used in messages. @example `console.error(`${PROGRAM}: error: ...`)` */
export const PROGRAM = 'vmv-vhost-user-blk';

/** Default ring size: QEMU's vhost-user-blk accepts `queue-size` up to 1024 (its default is 128). @example `parseArgs([...]).options.queueSize === DEFAULT_QUEUE_SIZE` */
export const DEFAULT_QUEUE_SIZE = 1024;

/** Default largest inline read: 1 MiB. @example `parseArgs([...]).options.inlineReadMax === DEFAULT_INLINE_READ_MAX` */
export const DEFAULT_INLINE_READ_MAX = 1 << 20;
/** Largest value of `--inline-read-max`: 16 MiB. @example `MAX_INLINE_READ_MAX === 16 << 20` */
export const MAX_INLINE_READ_MAX = 16 << 20;

/**
 * The daemon's own flags (the kit adds `--socket-path`/`--socket`, `--verbose`, `--quiet`,
 * `--log-format`, `--print-capabilities`, `--help`, `--version`).
 * @example
 * ```ts
 * Object.keys(BLOCK_FLAGS); // ['image', 'readonly', 'queues', ...]
 * ```
 */
export const BLOCK_FLAGS: FlagSpecs = {
  image: { type: 'string', value: 'FILE', required: true, aliases: ['blk-file'], help: 'raw disk image: a regular file or a block device' },
  readonly: { type: 'boolean', aliases: ['read-only'], help: 'export read-only (VIRTIO_BLK_F_RO); the image is opened O_RDONLY' },
  queues: { type: 'integer', min: 1, max: 256, default: 1, value: 'N', help: "request queues; QEMU's num-queues must be <= N" },
  serial: { type: 'string', value: 'ID', help: 'device serial (GET_ID), printable ASCII, at most 20 bytes', validate: checkSerial },
  'queue-size': {
    type: 'integer', min: 2, max: 32768, default: DEFAULT_QUEUE_SIZE, value: 'N', help: 'largest ring size, a power of two',
    validate: (n) => {
      if ((n & (n - 1)) !== 0) throw new UsageError(`--queue-size must be a power of two, got ${n}`);
      return n;
    },
  },
  'max-inflight': { type: 'integer', min: 1, max: 32768, value: 'N', help: 'requests in flight per queue, at most queue-size (default min(64, queue-size))' },
  direct: { type: 'boolean', help: 'O_DIRECT: bypass the host page cache (buffered on filesystems without O_DIRECT)' },
  'inline-read-max': { type: 'integer', min: 0, max: MAX_INLINE_READ_MAX, default: DEFAULT_INLINE_READ_MAX, value: 'B', help: 'serve reads of up to B bytes inline on the event loop while the page cache is fast; 0: off' },
  coalesce: { type: 'string', value: 'Q,M', help: `interrupt coalescing: hold interrupts until no kick for Q µs, at most M µs (default ${DEFAULT_COALESCE_QUIET_US},${DEFAULT_COALESCE_MAX_DELAY_US}); off`, validate: parseCoalesce },
  poll: { type: 'string', value: 'S,G', help: `predictive polling: spin up to S µs after an interrupt for guests kicking within G µs (default ${DEFAULT_POLL_SPIN_US},${DEFAULT_POLL_MAX_GAP_US}); off`, validate: parsePoll },
  workers: { type: 'integer', min: 0, max: 64, default: 0, value: 'N', help: 'serve the queues in N worker threads, queue i in worker i mod N, each on its own core; 0: all in the main thread' },
  'log-level': { type: 'string', value: 'LEVEL', help: 'error | warn | info | debug (default info; overrides --verbose/--quiet)', validate: (t) => {
    if (!Object.prototype.hasOwnProperty.call(LogLevel, t)) throw new UsageError(`--log-level must be one of ${Object.keys(LogLevel).join(', ')}, got ${JSON.stringify(t)}`);
    return t;
  } },
};

/**
 * Checks a serial number for GET_ID: printable ASCII, at most 20 bytes (VIRTIO 1.2 §5.2.6,
 * VIRTIO_BLK_ID_BYTES).
 * @param serial - the candidate.
 * @returns the serial.
 * @throws VhostUser.UsageError when it is too long or not printable ASCII.
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
 * The daemon's options from the parsed flags (the kit's and {@link BLOCK_FLAGS}).
 * @param values - what `parseFlags` returned.
 * @returns every option filled in.
 * @throws VhostUser.UsageError when --max-inflight exceeds --queue-size.
 * @example
 * ```ts
 * const o = blockOptions(parseFlags({ ...COMMON_FLAGS, ...BLOCK_FLAGS }, argv));
 * ```
 */
export function blockOptions(values: FlagValues): RunOptions {
  const queueSize = values['queue-size'] as number;
  const inflight = values['max-inflight'] as number | undefined;
  if (inflight !== undefined && inflight > queueSize) throw new UsageError(`--max-inflight must be in 1..${queueSize}, got ${inflight}`);
  const level = (values['log-level'] as LogLevelName | undefined) ?? (values['verbose'] === true ? 'debug' : values['quiet'] === true ? 'error' : 'info');
  return {
    socket: values['socket-path'] as string,
    image: values['image'] as string,
    readonly: values['readonly'] === true,
    queues: values['queues'] as number,
    queueSize,
    serial: values['serial'] as string | undefined,
    direct: values['direct'] === true,
    maxInflight: inflight ?? Math.min(64, queueSize),
    inlineReadMax: values['inline-read-max'] as number,
    coalesce: (values['coalesce'] as RunOptions['coalesce'] | undefined) ?? parseCoalesce(undefined),
    poll: (values['poll'] as RunOptions['poll'] | undefined) ?? parsePoll(undefined),
    workers: values['workers'] as number,
    logLevel: level,
  };
}

/**
 * Parses the daemon's command line (without `node` and the script: `process.argv.slice(2)`).
 * @param argv - the arguments.
 * @returns `{command: 'run', options}` with every option filled in, or `{command: 'help'}` /
 *   `{command: 'version'}`.
 * @throws VhostUser.UsageError for an unknown option, a missing or repeated option, a
 *   missing value, or a value out of range.
 * @example
 * ```ts
 * const p = parseArgs(['--socket', '/tmp/vub.sock', '--image', 'disk.img', '--queues=2']);
 * if (p.command === 'run') console.log(p.options.queues); // 2
 * ```
 */
export function parseArgs(argv: readonly string[]): ParsedCommand {
  const values = parseFlags(daemonFlags({ flags: BLOCK_FLAGS, socketPathAliases: ['socket'] }), argv, PROGRAM);
  if (values['help'] === true) return { command: 'help' };
  if (values['version'] === true) return { command: 'version' };
  if (values['socket-path'] === undefined) throw new UsageError('--socket-path PATH is required', { details: `Run ${PROGRAM} --help for the options` });
  return { command: 'run', options: blockOptions(values) };
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
  const x = parseInteger(`${option} ${aLabel}`, m[1]!, 1, 1_000_000);
  const y = parseInteger(`${option} ${bLabel}`, m[2]!, 1, 1_000_000);
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

