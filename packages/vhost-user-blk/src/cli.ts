/**
 * The command-line program: parses the arguments, starts a {@link BlockDaemon}, logs to stderr,
 * and stops cleanly on SIGINT, SIGTERM or SIGHUP (flush, socket file removed, exit 0). A second
 * signal while stopping exits at once. `bin.ts` is a thin wrapper around {@link runCli}.
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HELP, LogLevel, PROGRAM, parseArgs, type LogLevelName } from './args.js';
import { BlockDaemon, type DaemonLogger } from './daemon.js';
import { isVhostUserBlkError } from './errors.js';

/**
 * What the CLI talks to: output streams, signals and the exit (replaceable in tests).
 * @example
 * ```ts
 * const io: CliIo = { ...processIo, out: (t) => captured.push(t) };
 * await runCli(['--help'], io);
 * ```
 */
export interface CliIo {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Subscribes to a process signal. */
  onSignal(signal: NodeJS.Signals, handler: () => void): void;
  /** Unsubscribes from a process signal. */
  offSignal(signal: NodeJS.Signals, handler: () => void): void;
  /** Ends the process at once (second signal, uncaught error). */
  exit(code: number): void;
}

/** Signals that stop the daemon cleanly. @example `STOP_SIGNALS.includes('SIGTERM') // true` */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The process's own streams and signals. @example `await runCli(argv, processIo)` */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  onSignal: (signal, handler) => void process.on(signal, handler),
  offSignal: (signal, handler) => void process.off(signal, handler),
  exit: (code) => process.exit(code),
};

/**
 * The package's version, read from its package.json (CommonJS builds and tests; `unknown` where
 * the file cannot be found).
 * @returns the version string.
 * @example
 * ```ts
 * console.log(packageVersion()); // "0.1.0"
 * ```
 */
export function packageVersion(): string {
  try {
    if (typeof __dirname === 'string') {
      for (let dir = __dirname; ; dir = dirname(dir)) {
        const file = join(dir, 'package.json');
        if (existsSync(file)) {
          const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
          if (pkg.name === '@vmv/vhost-user-blk' && typeof pkg.version === 'string') return pkg.version;
        }
        if (dirname(dir) === dir) break;
      }
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

/**
 * A logger writing `vmv-vhost-user-blk: <level>: <message>` lines at or above `level`.
 * @param level - the most verbose level printed.
 * @param write - where lines go (default standard error).
 * @returns the logger.
 * @example
 * ```ts
 * const log = stderrLogger('debug'); log('info', 'hello');
 * ```
 */
export function stderrLogger(level: LogLevelName, write: (text: string) => void = processIo.err): DaemonLogger {
  const max = LogLevel[level];
  return (lvl, message) => {
    if (LogLevel[lvl] <= max) write(`${PROGRAM}: ${lvl}: ${message}\n`);
  };
}

/**
 * Runs the program: `--help`, `--version`, or the daemon until a stop signal.
 * @param argv - arguments without `node` and the script (`process.argv.slice(2)`).
 * @param io - streams, signals and exit (default: the process's).
 * @returns the exit status: 0 after a clean stop (or help/version), 1 when the image or socket
 *   cannot be used or the final flush failed, 2 for a bad command line.
 * @example
 * ```ts
 * runCli(process.argv.slice(2)).then((code) => process.exit(code));
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (isVhostUserBlkError(e)) {
      io.err(`${PROGRAM}: error: ${e.shortMessage}\n${e.details === undefined ? `Run ${PROGRAM} --help for usage.` : e.details}\n`);
      return 2;
    }
    throw e;
  }
  if (parsed.command === 'help') {
    io.out(`${HELP}\n`);
    return 0;
  }
  if (parsed.command === 'version') {
    io.out(`${PROGRAM} ${packageVersion()}\n`);
    return 0;
  }
  const options = parsed.options;
  const log = stderrLogger(options.logLevel, (text) => io.err(text));

  // Signal handlers go in before the daemon starts: a stop requested while it starts is honoured
  // once it has (a signal must never kill it with the socket file left behind).
  let daemon: BlockDaemon | null = null;
  let requested: NodeJS.Signals | null = null;
  let signals = 0;
  let settle!: (code: number) => void;
  const done = new Promise<number>((resolve) => (settle = resolve));
  const beginStop = (d: BlockDaemon, signal: NodeJS.Signals): void => {
    log('info', `${signal}: stopping (finishing requests in flight, flushing the image)`);
    d.stop().then(
      () => finish(0),
      (e: unknown) => {
        log('error', `stop failed: ${e instanceof Error ? e.message : String(e)}`);
        finish(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log('warn', `${signal} again: exiting without waiting`);
      io.exit(signal === 'SIGINT' ? 130 : 143);
      return;
    }
    if (daemon === null) requested = signal;
    else beginStop(daemon, signal);
  };
  const handlers = STOP_SIGNALS.map((s) => [s, () => onSignal(s)] as const);
  const removeHandlers = (): void => {
    for (const [s, h] of handlers) io.offSignal(s, h);
  };
  const finish = (code: number): void => {
    removeHandlers();
    settle(code);
  };
  for (const [s, h] of handlers) io.onSignal(s, h);

  try {
    daemon = await BlockDaemon.start(options, log);
  } catch (e) {
    removeHandlers();
    if (isVhostUserBlkError(e)) {
      io.err(`${PROGRAM}: error: ${e.shortMessage}\n${e.details === undefined ? '' : `${e.details}\n`}`);
      return 1;
    }
    io.err(`${PROGRAM}: error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
  if (requested !== null) beginStop(daemon, requested);
  return done;
}
