/**
 * The command line of vmv-vfio-user: `--socket PATH --device blk|rng|console|gpio [device flags]`, as
 * flag specs of the daemon kit (`@vmv/vhost-user/daemon`), which parses them and writes `--help`.
 * Each device's flags are those of {@link DEVICE_KINDS} (console and gpio: their vhost-user daemons'
 * own); a flag of another device than `--device` is refused.
 * @module
 */
import { UsageError, type FlagSpec, type FlagSpecs, type FlagValues, type LogLevel } from '@vmv/vhost-user/daemon';
import { DEVICES, DEVICE_KINDS, type DeviceName } from './devices.js';

/** The executable's name. @example `PROGRAM === 'vmv-vfio-user'` */
export const PROGRAM = 'vmv-vfio-user';

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
const WITH_CONTROL = DEVICES.filter((d) => DEVICE_KINDS[d].control !== undefined);
const TAIL: FlagSpecs = {
  'control-socket': { type: 'string', value: 'PATH', help: `${WITH_CONTROL.join(', ')}: unix socket for the device's control commands, one JSON request a line (see the device's vhost-user daemon); a stale socket file is replaced` },
  verbose: { short: 'v', type: 'boolean', help: 'log debug lines too (every access the function refused)' },
  quiet: { short: 'q', type: 'boolean', help: 'log errors only' },
  'log-format': { type: 'string', value: 'FORMAT', default: 'text', help: 'text or json (one JSON object a line)' },
  help: { short: 'h', type: 'boolean', standalone: true, help: 'this text' },
  version: { short: 'V', type: 'boolean', standalone: true, help: 'the version' },
};
const COMMON: FlagSpecs = { ...HEAD, ...TAIL };

/**
 * A device's flags for the whole command line: the help says which device; the default and `required`
 * move into the help (both are applied by {@link daemonOptions} for the chosen device only, so that a
 * flag given to another device can be told from an absent one); a name or letter the common flags use
 * is left out (the console's `quiet`, and its `-q`).
 */
function scoped(device: DeviceName): FlagSpecs {
  const letters = new Set(Object.values(COMMON).map((s) => s.short));
  const out: Record<string, FlagSpec> = {};
  for (const [name, spec] of Object.entries(DEVICE_KINDS[device].flags)) {
    if (name in COMMON) continue;
    const { default: value, short, required, ...rest } = spec as FlagSpec & { default?: unknown };
    const notes = [...(required === true ? ['required'] : []), ...(value === undefined ? [] : [`default ${String(value)}`])];
    out[name] = {
      ...rest,
      ...(short === undefined || letters.has(short) ? {} : { short }),
      help: `${device}: ${spec.help}${notes.length === 0 ? '' : `; ${notes.join('; ')}`}`,
    } as FlagSpec;
  }
  return out;
}

/** Every flag. @example `parseFlags(FLAGS, argv, PROGRAM)` */
export const FLAGS: FlagSpecs = {
  ...HEAD,
  ...Object.assign({}, ...DEVICES.map(scoped)),
  ...TAIL,
};

/**
 * The options of a parsed command line.
 * @example `const o: DaemonOptions = { socket: '/tmp/rng.sock', device: 'rng', flags: {}, logLevel: 'info', logFormat: 'text' };`
 */
export interface DaemonOptions {
  /** The socket path. */
  readonly socket: string;
  /** The device. */
  readonly device: DeviceName;
  /**
   * The device's own flags, with their defaults, as its vhost-user daemon takes them (`socket-path`
   * is the socket): `image`, `queues`... for blk, `backend`, `tcp-port`... for console.
   */
  readonly flags: FlagValues;
  /** The control socket of a device with control commands. */
  readonly controlSocket?: string;
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
  const control = values['control-socket'] as string | undefined;
  if (control !== undefined && DEVICE_KINDS[device].control === undefined) throw new UsageError(`--control-socket is a flag of --device ${WITH_CONTROL.join(', ')}, not of --device ${device}`);
  for (const other of DEVICES) {
    if (other === device) continue;
    for (const name of Object.keys(scoped(other))) {
      const v = values[name];
      if (v !== undefined && v !== false && !(name in DEVICE_KINDS[device].flags)) throw new UsageError(`--${name} is a ${other} flag, not one of --device ${device}`);
    }
  }
  const flags: Record<string, unknown> = { 'socket-path': socket };
  for (const [name, spec] of Object.entries(DEVICE_KINDS[device].flags)) {
    if (name in COMMON) continue;
    const v = values[name] ?? ('default' in spec ? spec.default : undefined);
    if (v === undefined && spec.required === true) throw new UsageError(`--device ${device} needs --${name} ${spec.value ?? 'VALUE'}`, more);
    flags[name] = v;
  }
  DEVICE_KINDS[device].check?.(flags);
  return {
    socket,
    device,
    flags,
    ...(control === undefined ? {} : { controlSocket: control }),
    logLevel: values['verbose'] === true ? 'debug' : values['quiet'] === true ? 'error' : 'info',
    logFormat: format,
  };
}
