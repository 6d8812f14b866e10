/**
 * The command line of vmv-vfio-user: `--socket PATH --device blk|rng [device flags]`, as flag
 * specs of the daemon kit (`@vmv/vhost-user/daemon`), which parses them and writes `--help`.
 * @module
 */
import { UsageError, type FlagSpecs, type FlagValues, type LogLevel } from '@vmv/vhost-user/daemon';
import { checkSerial } from '@vmv/vhost-user-blk';

/** The executable's name. @example `PROGRAM === 'vmv-vfio-user'` */
export const PROGRAM = 'vmv-vfio-user';

/** The devices served. @example `DEVICES.includes('blk')` */
export const DEVICES = ['blk', 'rng'] as const;
/** One of {@link DEVICES}. @example `const d: DeviceName = 'rng';` */
export type DeviceName = (typeof DEVICES)[number];

/** Every flag. @example `parseFlags(FLAGS, argv, PROGRAM)` */
export const FLAGS: FlagSpecs = {
  socket: { short: 's', type: 'string', value: 'PATH', aliases: ['socket-path'], help: 'unix socket QEMU connects to (a stale socket file is replaced); required' },
  device: {
    type: 'string',
    value: 'TYPE',
    help: `the virtio device: ${DEVICES.join(' or ')}; required`,
    validate: (t) => {
      if (!(DEVICES as readonly string[]).includes(t)) throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(t)}`);
      return t;
    },
  },
  image: { type: 'string', value: 'FILE', help: 'blk: the raw disk image (a regular file or a block device); required for blk' },
  'read-only': { type: 'boolean', aliases: ['readonly'], help: 'blk: serve the image read-only (VIRTIO_BLK_F_RO, opened O_RDONLY)' },
  queues: { type: 'integer', min: 1, max: 64, default: 1, value: 'N', help: 'blk: request queues (each gets its own MSI-X vector)' },
  serial: { type: 'string', value: 'ID', help: 'blk: the disk serial (printable ASCII, at most 20 bytes)' },
  verbose: { short: 'v', type: 'boolean', help: 'log debug lines too (every access the function refused)' },
  quiet: { short: 'q', type: 'boolean', help: 'log errors only' },
  'log-format': { type: 'string', value: 'FORMAT', default: 'text', help: 'text or json (one JSON object a line)' },
  help: { short: 'h', type: 'boolean', standalone: true, help: 'this text' },
  version: { short: 'V', type: 'boolean', standalone: true, help: 'the version' },
};

/**
 * The options of a parsed command line.
 * @example `const o: DaemonOptions = { socket: '/tmp/blk.sock', device: 'blk', image: 'disk.img', readOnly: false, queues: 1, logLevel: 'info', logFormat: 'text' };`
 */
export interface DaemonOptions {
  /** The socket path. */
  readonly socket: string;
  /** The device. */
  readonly device: DeviceName;
  /** blk: the image. */
  readonly image?: string;
  /** blk: read-only. */
  readonly readOnly: boolean;
  /** blk: request queues. */
  readonly queues: number;
  /** blk: the serial. */
  readonly serial?: string;
  /** The log level. */
  readonly logLevel: LogLevel;
  /** The log format. */
  readonly logFormat: 'text' | 'json';
}

/**
 * Checks parsed flags together and returns the options.
 * @param values - what `parseFlags(FLAGS, ...)` returned
 * @returns the options
 * @throws VhostUser.UsageError for a missing or contradictory flag
 * @example `const o = daemonOptions(parseFlags(FLAGS, ['--socket', 's', '--device', 'rng']));`
 */
export function daemonOptions(values: FlagValues): DaemonOptions {
  const more = { details: `Run ${PROGRAM} --help for the options` };
  const socket = values['socket'];
  if (typeof socket !== 'string') throw new UsageError('--socket PATH is required', more);
  const device = values['device'] as DeviceName | undefined;
  if (device === undefined) throw new UsageError(`--device ${DEVICES.join('|')} is required`, more);
  const format = values['log-format'];
  if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format must be text or json, got ${JSON.stringify(format)}`);
  if (values['verbose'] === true && values['quiet'] === true) throw new UsageError('--verbose and --quiet exclude each other');
  const image = values['image'] as string | undefined;
  const serial = values['serial'] as string | undefined;
  if (device === 'blk') {
    if (image === undefined || image.length === 0) throw new UsageError('--device blk needs --image FILE', more);
    if (serial !== undefined) checkSerial(serial);
  } else {
    for (const f of ['image', 'serial'] as const) if (values[f] !== undefined) throw new UsageError(`--${f} is a blk flag, not one of --device ${device}`);
    if (values['read-only'] === true) throw new UsageError(`--read-only is a blk flag, not one of --device ${device}`);
  }
  return {
    socket,
    device,
    ...(image === undefined ? {} : { image }),
    readOnly: values['read-only'] === true,
    queues: values['queues'] as number,
    ...(serial === undefined ? {} : { serial }),
    logLevel: values['verbose'] === true ? 'debug' : values['quiet'] === true ? 'error' : 'info',
    logFormat: format,
  };
}
