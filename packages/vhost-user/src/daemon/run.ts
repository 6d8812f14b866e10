/**
 * {@link runDaemon}: the runtime every vmv-vhost-user-* daemon is built on. A daemon declares
 * its device and its own flags ({@link DaemonDefinition}); the kit adds the common flags, parses
 * the command line, answers `--help`, `--version` and `--print-capabilities` (QEMU
 * docs/interop/vhost-user.rst, "Backend program conventions"), listens on every socket (one
 * device and one frontend at a time per socket, the next frontend after a disconnect), logs,
 * and stops on SIGINT/SIGTERM: stop accepting, drain the devices, remove the socket files.
 * A second stop signal exits at once. SIGHUP is logged and ignored (nothing to reload).
 * Exit status: 0 clean stop / help / version / capabilities, 1 runtime failure, 2 usage error.
 * @module
 */
import type { VirtioDevice } from '@vmv/device-trait';
import type { UnixListener } from '@vmv/sys';
import { VhostUserBackend, type VhostUserBackendEvent, type VhostUserBackendOptions } from '../backend/backend.js';
import { isVhostUserError, type DisconnectedError } from '../errors.js';
import { requestName } from '../protocol/constants.js';
import { UsageError } from './errors.js';
import { formatHelp, parseFlags, type FlagSpec, type FlagSpecs, type FlagValues } from './flags.js';
import { createLogger, type DaemonLog, type LogLevel } from './log.js';
import { ControlServer, controlHelp, type ControlCommand } from './control.js';
import { adoptListener, checkSocketPath, listenError, socketPaths } from './socket.js';

/**
 * What {@link DaemonDefinition.createDevice} returns: the device and optional hooks.
 * @example
 * ```ts
 * const served: ServedDevice = { device: new RngDevice(), drain: () => Promise.resolve() };
 * ```
 */
export interface ServedDevice {
  /** The device served on one socket. */
  readonly device: VirtioDevice;
  /** Backend options (interrupt coalescing, polling); `onEvent` is the kit's. */
  readonly backendOptions?: Omit<VhostUserBackendOptions, 'onEvent'>;
  /** Called with every backend event after the kit has logged it. */
  onEvent?(event: VhostUserBackendEvent): void;
  /** Called at stop after the socket is closed: finish the requests in flight, flush. */
  drain?(): Promise<void>;
  /** Called last at stop, or when the start fails: release host resources. */
  close?(): Promise<void>;
}

/**
 * A daemon: its program name, device type, description, own flags and device.
 * @example
 * ```ts
 * const code = await runDaemon({ program: 'vmv-vhost-user-rng', deviceType: 'rng', description: 'virtio-rng', flags: {}, createDevice: () => ({ device: new RngDevice() }) });
 * ```
 */
export interface DaemonDefinition<D extends ServedDevice = ServedDevice> {
  /** The executable's name, in messages and logs. */
  readonly program: string;
  /** The `type` of vhost-user.json (`block`, `rng`, `input`, `gpu`, ...). */
  readonly deviceType: string;
  /** The `features` of `--print-capabilities` (default none). */
  readonly features?: readonly string[];
  /** What the daemon serves; the head of `--help`. */
  readonly description: string;
  /** The version for `--version`. */
  readonly version: string;
  /** The daemon's own flags. */
  readonly flags: FlagSpecs;
  /** Other long names of `--socket-path` (`socket` for vmv-vhost-user-blk's older command line). */
  readonly socketPathAliases?: readonly string[];
  /** Most sockets the device allows (default unlimited; a disk image: 1). */
  readonly maxSockets?: number;
  /**
   * `always`: `-s P` listens on `P0` even without `--socket-count`, as rust-vmm's vhost-device
   * daemons do (set it on a daemon that must be swappable with one). `with-count` (default): `P`
   * itself unless `--socket-count` is given.
   */
  readonly socketSuffix?: 'always' | 'with-count';
  /**
   * The sockets, when the daemon's own flags name them (vhost-device-vsock's `--vm socket=...`):
   * return them (each gets its own device) or `undefined` to take `--socket-path` as usual.
   * Called after `check`. Named sockets exclude `--socket-path`, `--socket-count` and `--fd`.
   */
  sockets?(values: FlagValues): readonly string[] | undefined;
  /** Overrides the log level from the daemon's own flags (a `--log-level`). */
  logLevel?(values: FlagValues): LogLevel | undefined;
  /** Checks the daemon's flags together (throw a UsageError). */
  check?(values: FlagValues): void;
  /** Builds the device for one socket. */
  createDevice(values: FlagValues, log: DaemonLog, socket: string): D | Promise<D>;
  /**
   * Commands of the control socket (`--control-socket PATH`, added to the flags when there are
   * any): how a running daemon is changed (see `ControlServer` for the protocol).
   */
  readonly control?: Readonly<Record<string, ControlCommand<D>>>;
  /** Extra signals: handler gets the devices served. */
  readonly signals?: Readonly<Partial<Record<NodeJS.Signals, (devices: readonly D[], log: DaemonLog) => void>>>;
}

/**
 * What the runtime talks to: output streams, signals, exit (replaceable in tests).
 * @example
 * ```ts
 * await runDaemon(def, ['--help'], { ...processIo, out: (t) => captured.push(t) });
 * ```
 */
export interface DaemonIo {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Subscribes to a signal. */
  onSignal(signal: NodeJS.Signals, handler: () => void): void;
  /** Unsubscribes from a signal. */
  offSignal(signal: NodeJS.Signals, handler: () => void): void;
  /** Ends the process at once (second stop signal). */
  exit(code: number): void;
}

/** The process's streams and signals. @example `await runDaemon(def, process.argv.slice(2), processIo)` */
export const processIo: DaemonIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  onSignal: (signal, handler) => void process.on(signal, handler),
  offSignal: (signal, handler) => void process.off(signal, handler),
  exit: (code) => process.exit(code),
};

/** The flags every daemon has. @example `Object.keys(COMMON_FLAGS).includes('socket-path')` */
export const COMMON_FLAGS: FlagSpecs = {
  'socket-path': { short: 's', type: 'string', value: 'PATH', help: 'unix socket to listen on (a stale socket file is replaced); this or --fd is required' },
  'socket-count': { short: 'c', type: 'integer', min: 1, max: 64, value: 'N', help: 'listen on PATH0..PATH(N-1), one device each' },
  fd: { type: 'integer', min: 0, max: 0x7fffffff, value: 'FDNUM', help: 'serve an inherited, already listening unix socket (from a manager such as libvirt) instead of --socket-path' },
  'print-capabilities': { type: 'boolean', standalone: true, help: 'print the vhost-user.json capabilities as JSON and exit' },
  verbose: { short: 'v', type: 'boolean', help: 'log debug lines too' },
  quiet: { short: 'q', type: 'boolean', help: 'log errors only' },
  'log-format': { type: 'string', value: 'FORMAT', default: 'text', help: 'text or json (one JSON object a line)' },
  help: { short: 'h', type: 'boolean', standalone: true, help: 'this text' },
  version: { short: 'V', type: 'boolean', standalone: true, help: 'the version' },
};

/**
 * Every flag of a daemon: {@link COMMON_FLAGS} (with its `--socket-path` aliases) and its own.
 * @param def - the daemon.
 * @returns the flag specs.
 * @example
 * ```ts
 * parseFlags(daemonFlags(def), argv, def.program);
 * ```
 */
export function daemonFlags<D extends ServedDevice>(def: Pick<DaemonDefinition<D>, 'flags' | 'socketPathAliases' | 'control'>): FlagSpecs {
  const socketPath = { ...COMMON_FLAGS['socket-path']!, aliases: def.socketPathAliases ?? [] } as FlagSpec;
  const control: FlagSpecs = def.control === undefined ? {} : { 'control-socket': CONTROL_SOCKET_FLAG };
  return { ...COMMON_FLAGS, 'socket-path': socketPath, ...control, ...def.flags };
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

const CONTROL_SOCKET_FLAG: FlagSpec = { type: 'string', value: 'PATH', help: 'unix socket for control commands, one JSON request a line (see below); a stale socket file is replaced' };

function describe(error: unknown): string {
  const { shortMessage, details } = (typeof error === 'object' && error !== null ? error : {}) as { shortMessage?: unknown; details?: unknown };
  if (typeof shortMessage === 'string') return typeof details === 'string' ? `${shortMessage} (${details.replace(/\s*\n\s*/g, ' ')})` : shortMessage;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/**
 * The `--help` text of a daemon: its flags and the common ones, one line each.
 * @param def - the daemon.
 * @returns the text.
 * @example
 * ```ts
 * console.log(daemonHelp(def));
 * ```
 */
export function daemonHelp<D extends ServedDevice>(def: DaemonDefinition<D>): string {
  // --socket-path or --fd: one of the two is required, which a flag spec cannot say
  const help = formatHelp(def.program, def.description, daemonFlags(def)).replace(`Usage: ${def.program} `, `Usage: ${def.program} (--socket-path PATH | --fd FDNUM) `);
  return `${help}

Signals: SIGINT/SIGTERM stop (drain, remove the socket files, exit 0; a second one exits at once);
SIGHUP is logged and ignored.${Object.keys(def.signals ?? {}).length === 0 ? '' : ` Also: ${Object.keys(def.signals ?? {}).join(', ')}.`}
Exit status: 0 clean stop, help, version or capabilities; 1 runtime failure; 2 bad command line.${def.control === undefined ? '' : `\n\n${controlHelp(def.control)}`}`;
}

/** A frontend that closed its end between messages (QEMU quitting) is not an error. */
function isCleanDisconnect(error: unknown): boolean {
  if (error === undefined) return true;
  return isVhostUserError(error, 'VhostUser.DisconnectedError') && (error as DisconnectedError).midMessage !== true;
}

/**
 * Logs a backend event as the kit does (one line; `socket` as a field).
 * @param log - the log.
 * @param socket - the socket the backend serves.
 * @param event - the event.
 * @param connection - the number of the frontend served on this socket (1 for the first).
 * @example
 * ```ts
 * new VhostUserBackend(device, { onEvent: (e) => logBackendEvent(log, path, e, 1) });
 * ```
 */
export function logBackendEvent(log: DaemonLog, socket: string, event: VhostUserBackendEvent, connection?: number): void {
  const f = { socket };
  switch (event.type) {
    case 'listening':
      return log.info(`listening on ${event.path}`);
    case 'connected':
      return log.info(`frontend connected${connection === undefined ? '' : ` (connection ${connection})`}`, f);
    case 'disconnected':
      return log.info(`frontend disconnected${isCleanDisconnect(event.error) ? '' : ` (${describe(event.error)})`}; waiting for the next one`, f);
    case 'rejected':
      return log.warn(`connection refused: ${event.reason}`, f);
    case 'activated':
      return log.info('guest driver ready (DRIVER_OK)', f);
    case 'device-reset':
      return log.debug('device reset', f);
    case 'request-failed':
      return log.warn(`vhost-user request ${requestName(event.request) ?? event.request} refused: ${describe(event.error)}`, f);
    case 'needs-reset':
      return log.error(`device needs reset: ${describe(event.reason)}`, f);
    case 'ring-error':
      return log.error(`queue ${event.index} stopped: ${describe(event.error)}`, f);
    case 'ring-lent':
      return log.debug(`queue ${event.index} served by worker ${event.worker}`, f);
    case 'inflight-resubmitted':
      return log.info(`queue ${event.index}: resubmitting ${event.count} request${event.count === 1 ? '' : 's'} a previous backend left in flight`, f);
  }
}

/**
 * Runs a daemon until a stop signal: parses `argv`, answers help/version/capabilities, or serves.
 * @param def - the daemon.
 * @param argv - the arguments (default `process.argv.slice(2)`).
 * @param io - streams and signals (default the process's).
 * @returns the exit status (0, 1 or 2; see the module header).
 * @example
 * ```ts
 * runDaemon(def).then((code) => process.exit(code));
 * ```
 */
export async function runDaemon<D extends ServedDevice>(def: DaemonDefinition<D>, argv: readonly string[] = process.argv.slice(2), io: DaemonIo = processIo): Promise<number> {
  const usage = (e: unknown): number => {
    if (!isVhostUserError(e, 'VhostUser.UsageError') && !isVhostUserError(e, 'VhostUser.SocketError')) throw e;
    const d = (e as { details?: string }).details;
    io.err(`${def.program}: error: ${(e as { shortMessage: string }).shortMessage}${d === undefined ? '' : `. ${d}`}\n`);
    return 2;
  };
  let values: FlagValues;
  let paths: string[];
  let listener: UnixListener | null = null;
  try {
    values = parseFlags(daemonFlags(def), argv, def.program);
    if (values['help'] === true) {
      io.out(`${daemonHelp(def)}\n`);
      return 0;
    }
    if (values['version'] === true) {
      io.out(`${def.program} ${def.version}\n`);
      return 0;
    }
    if (values['print-capabilities'] === true) {
      io.out(`${JSON.stringify({ type: def.deviceType, features: [...(def.features ?? [])] }, null, 2)}\n`);
      return 0;
    }
    const format = values['log-format'];
    if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format must be text or json, got ${JSON.stringify(format)}`);
    if (values['verbose'] === true && values['quiet'] === true) throw new UsageError('--verbose and --quiet exclude each other');
    const path = values['socket-path'];
    const count = values['socket-count'] as number | undefined;
    const fd = values['fd'] as number | undefined;
    def.check?.(values);
    const controlPath = values['control-socket'];
    if (typeof controlPath === 'string') checkSocketPath(controlPath);
    const named = def.sockets?.(values);
    if (named !== undefined) {
      if (path !== undefined || count !== undefined || fd !== undefined) throw new UsageError('--socket-path, --socket-count and --fd exclude sockets named by other flags', { details: `Run ${def.program} --help for the options` });
      if (named.length === 0) throw new UsageError('no socket to listen on', { details: `Run ${def.program} --help for the options` });
      if (new Set(named).size !== named.length) throw new UsageError('two devices name the same socket');
      paths = [...named];
      for (const p of paths) checkSocketPath(p);
    } else if (fd !== undefined) {
      if (path !== undefined || count !== undefined) throw new UsageError('--fd excludes --socket-path and --socket-count', { details: 'Give either the inherited listening socket (--fd) or a path to create one at.' });
      listener = adoptListener(fd);
      paths = [`fd ${fd}`];
    } else {
      if (typeof path !== 'string') throw new UsageError('--socket-path PATH (or --fd FDNUM) is required', { details: `Run ${def.program} --help for the options` });
      if (count !== undefined && def.maxSockets !== undefined && count > def.maxSockets) {
        throw new UsageError(`--socket-count must be at most ${def.maxSockets} for ${def.program}, got ${count}`);
      }
      paths = socketPaths(path, count ?? (def.socketSuffix === 'always' ? 1 : undefined));
      for (const p of paths) checkSocketPath(p);
    }
  } catch (e) {
    return usage(e);
  }
  const level: LogLevel = def.logLevel?.(values) ?? (values['verbose'] === true ? 'debug' : values['quiet'] === true ? 'error' : 'info');
  const log = createLogger(def.program, level, values['log-format'] as 'text' | 'json', (t) => io.err(t));

  const served: D[] = [];
  const backends: VhostUserBackend[] = [];
  let control: ControlServer<D> | null = null;
  let stopping: Promise<number> | null = null;
  let requested = false;
  let started = false;
  let signals = 0;
  let settle!: (code: number) => void;
  const done = new Promise<number>((resolve) => (settle = resolve));
  const stop = async (): Promise<number> => {
    let code = 0;
    await control?.close();
    for (const b of backends) b.close();
    // queue workers finish their requests and end before the devices drain and flush
    await Promise.all(backends.map((b) => b.stopped));
    // Every device drains before any closes; a failing hook is logged and makes the status 1.
    for (const hook of ['drain', 'close'] as const) {
      for (const d of served) {
        try {
          await d[hook]?.();
        } catch (e) {
          log.error(`${hook} failed: ${describe(e)}`);
          code = 1;
        }
      }
    }
    return code;
  };
  const beginStop = (signal: NodeJS.Signals): void => {
    log.info(`${signal}: stopping`);
    // Closed sockets no longer hold the event loop: without this a drain waiting on nothing the
    // loop sees would end the process with status 0 before the drain finished.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    stopping = stop();
    void stopping.then((code) => {
      clearInterval(keepAlive);
      removeHandlers();
      log.info('stopped');
      settle(code);
    });
  };
  const onStop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn(`${signal} again: exiting without waiting`);
      io.exit(signal === 'SIGINT' ? 130 : 143);
      return;
    }
    if (!started) requested = true;
    else beginStop(signal);
  };
  const handlers: (readonly [NodeJS.Signals, () => void])[] = [
    ...STOP_SIGNALS.map((s) => [s, () => onStop(s)] as const),
    ['SIGHUP', () => log.info('SIGHUP ignored (nothing to reload)')] as const,
    ...Object.entries(def.signals ?? {}).map(([s, h]) => [s as NodeJS.Signals, () => h!(served, log)] as const),
  ];
  const removeHandlers = (): void => {
    for (const [s, h] of handlers) io.offSignal(s, h);
  };
  for (const [s, h] of handlers) io.onSignal(s, h);

  try {
    for (const socket of paths) {
      const d = await def.createDevice(values, log, socket);
      served.push(d);
      let connections = 0;
      const backend = new VhostUserBackend(d.device, {
        ...d.backendOptions,
        onEvent: (event) => {
          if (event.type === 'connected') connections++;
          logBackendEvent(log, socket, event, connections);
          d.onEvent?.(event);
        },
      });
      try {
        if (listener !== null) backend.listenOn(listener, socket);
        else backend.listen(socket, { removeStale: true });
      } catch (e) {
        throw listenError(socket, e);
      }
      backends.push(backend);
    }
    const controlPath = values['control-socket'];
    if (def.control !== undefined && typeof controlPath === 'string') control = await ControlServer.listen(controlPath, def.control, () => served, log);
  } catch (e) {
    removeHandlers();
    await stop();
    if (isVhostUserError(e, 'VhostUser.SocketError') || isVhostUserError(e, 'VhostUser.UsageError')) return usage(e);
    io.err(`${def.program}: error: ${describe(e)}\n`);
    return 1;
  }
  started = true;
  if (requested) beginStop('SIGTERM');
  return done;
}
