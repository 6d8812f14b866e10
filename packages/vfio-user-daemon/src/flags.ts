/**
 * The command line of vmv-vfio-user: `--socket PATH --device blk|rng|console [device flags]`, as flag
 * specs of the daemon kit (`@vmv/vhost-user/daemon`), which parses them and writes `--help`. Each
 * device's flags are the ones its vhost-user daemon takes (the console's are vmv-vhost-user-console's
 * `CONSOLE_FLAGS`); a flag of another device than `--device` is refused.
 * @module
 */
import { UsageError, type FlagSpec, type FlagSpecs, type FlagValues, type LogLevel } from '@vmv/vhost-user/daemon';
import { checkSerial } from '@vmv/vhost-user-blk';
import { CONSOLE_FLAGS, consoleOptions, type ConsoleOptions } from '@vmv/vhost-user-console';

/** The executable's name. @example `PROGRAM === 'vmv-vfio-user'` */
export const PROGRAM = 'vmv-vfio-user';

/** The devices served. @example `DEVICES.includes('console')` */
export const DEVICES = ['blk', 'rng', 'console'] as const;
/** One of {@link DEVICES}. @example `const d: DeviceName = 'rng';` */
export type DeviceName = (typeof DEVICES)[number];

/** The flags every device takes, before and after the device flags in `--help`. */
const HEAD: FlagSpecs = {
  socket: { short: 's', type: 'string', value: 'PATH', aliases: ['socket-path'], help: 'unix socket QEMU connects to (a stale socket file is replaced); required' },
  device: {
    type: 'string',
    value: 'TYPE',
    help: `the virtio device: ${DEVICES.join(', ')}; required`,
    validate: (t) => {
      if (!(DEVICES as readonly string[]).includes(t)) throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(t)}`);
      return t;
    },
  },
};
const TAIL: FlagSpecs = {
  verbose: { short: 'v', type: 'boolean', help: 'log debug lines too (every access the function refused)' },
  quiet: { short: 'q', type: 'boolean', help: 'log errors only' },
  'log-format': { type: 'string', value: 'FORMAT', default: 'text', help: 'text or json (one JSON object a line)' },
  help: { short: 'h', type: 'boolean', standalone: true, help: 'this text' },
  version: { short: 'V', type: 'boolean', standalone: true, help: 'the version' },
};

/** Each device's own flags with their defaults (a common flag of the same name is the common one). */
const DEVICE_FLAGS: { readonly [D in DeviceName]: FlagSpecs } = {
  blk: {
    image: { type: 'string', value: 'FILE', help: 'the raw disk image (a regular file or a block device); required' },
    'read-only': { type: 'boolean', aliases: ['readonly'], help: 'serve the image read-only (VIRTIO_BLK_F_RO, opened O_RDONLY)' },
    queues: { type: 'integer', min: 1, max: 64, default: 1, value: 'N', help: 'request queues (each gets its own MSI-X vector)' },
    serial: { type: 'string', value: 'ID', help: 'the disk serial (printable ASCII, at most 20 bytes)' },
  },
  rng: {},
  // vmv-vhost-user-console's host ends of the ports; `-q` stays --quiet here.
  console: CONSOLE_FLAGS,
};

/**
 * A device's flags for the whole command line: the help says which device, the default moves into
 * the help (it is applied by {@link daemonOptions} for the chosen device only, so that a flag given
 * to another device can be told from an absent one), and a name or letter the common flags use is left out.
 */
function scoped(device: DeviceName, specs: FlagSpecs): FlagSpecs {
  const common = { ...HEAD, ...TAIL };
  const letters = new Set(Object.values(common).map((s) => s.short));
  const out: Record<string, FlagSpec> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (name in common) continue;
    const { default: value, short, ...rest } = spec as FlagSpec & { default?: unknown };
    out[name] = {
      ...rest,
      ...(short === undefined || letters.has(short) ? {} : { short }),
      help: `${device}: ${spec.help}${value === undefined ? '' : `; default ${String(value)}`}`,
    } as FlagSpec;
  }
  return out;
}

/** Every flag. @example `parseFlags(FLAGS, argv, PROGRAM)` */
export const FLAGS: FlagSpecs = {
  ...HEAD,
  ...Object.assign({}, ...DEVICES.map((d) => scoped(d, DEVICE_FLAGS[d]))),
  ...TAIL,
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
  /** console: the ports and their host ends, as vmv-vhost-user-console's (one socket). */
  readonly console?: ConsoleOptions;
  /** The log level. */
  readonly logLevel: LogLevel;
  /** The log format. */
  readonly logFormat: 'text' | 'json';
}

/**
 * Checks parsed flags together and returns the options.
 * @param values - what `parseFlags(FLAGS, ...)` returned
 * @returns the options
 * @throws VhostUser.UsageError for a missing or contradictory flag, or a flag of another device
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
  for (const other of DEVICES) {
    if (other === device) continue;
    for (const name of Object.keys(scoped(other, DEVICE_FLAGS[other]))) {
      const v = values[name];
      if (v !== undefined && v !== false) throw new UsageError(`--${name} is a ${other} flag, not one of --device ${device}`);
    }
  }
  // The chosen device's flags with their defaults.
  const own: Record<string, unknown> = { ...values };
  for (const [name, spec] of Object.entries(DEVICE_FLAGS[device])) if (own[name] === undefined && 'default' in spec) own[name] = spec.default;
  const image = own['image'] as string | undefined;
  const serial = own['serial'] as string | undefined;
  if (device === 'blk') {
    if (image === undefined || image.length === 0) throw new UsageError('--device blk needs --image FILE', more);
    if (serial !== undefined) checkSerial(serial);
  }
  return {
    socket,
    device,
    ...(image === undefined ? {} : { image }),
    readOnly: own['read-only'] === true,
    queues: (own['queues'] as number | undefined) ?? 1,
    ...(serial === undefined ? {} : { serial }),
    // One socket: the console's ports are those of socket 0 of vmv-vhost-user-console.
    ...(device === 'console' ? { console: consoleOptions({ ...own, 'socket-path': socket }) } : {}),
    logLevel: values['verbose'] === true ? 'debug' : values['quiet'] === true ? 'error' : 'info',
    logFormat: format,
  };
}
