/**
 * The command-line program: flags parsed and `--help` written by the daemon kit
 * (`@vmv/vhost-user/daemon`), its log, and its stop signals: SIGINT/SIGTERM stop (close the socket,
 * drain, flush, exit 0), a second one exits at once, SIGHUP is logged and ignored.
 * Exit status: 0 clean stop / help / version; 1 the device cannot be served; 2 bad command line or socket.
 * @module
 */
import { isVhostUserError } from '@vmv/vhost-user';
import { createLogger, formatHelp, packageVersion, parseFlags, processIo, type DaemonIo } from '@vmv/vhost-user/daemon';
import { VfioUserDaemon, describe } from './daemon.js';
import { FLAGS, PROGRAM, daemonOptions, type DaemonOptions } from './flags.js';

/** What the program does; the head of `--help`. */
const DESCRIPTION = `Serves a virtio device as a virtio-pci function (VIRTIO 1.2 §4.1, MSI-X) over vfio-user, so that the
guest's own virtio_pci driver drives it. QEMU (10.1 or later) connects with:
  -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"PATH"}}'
  -object memory-backend-memfd,id=mem,size=<RAM>,share=on -machine memory-backend=mem
One client at a time; when it leaves, the image is flushed and the next one is served.`;

/** The `--help` text. @example `process.stdout.write(HELP + '\n')` */
export const HELP: string = `${formatHelp(PROGRAM, DESCRIPTION, FLAGS)}

Signals: SIGINT/SIGTERM stop (drain, flush, remove the socket, exit 0; a second one exits at once);
SIGHUP is logged and ignored.
Exit status: 0 clean stop, help or version; 1 the device cannot be served; 2 bad command line or socket.`;

/**
 * Runs the program until a stop signal.
 * @param argv - arguments without `node` and the script
 * @param io - streams, signals and exit (default: the process's)
 * @returns the exit status
 * @example `runCli(process.argv.slice(2)).then((code) => process.exit(code));`
 */
export async function runCli(argv: readonly string[], io: DaemonIo = processIo): Promise<number> {
  let options: DaemonOptions;
  try {
    const values = parseFlags(FLAGS, argv, PROGRAM);
    if (values['help'] === true) {
      io.out(`${HELP}\n`);
      return 0;
    }
    if (values['version'] === true) {
      io.out(`${PROGRAM} ${packageVersion('@vmv/vfio-user-daemon', typeof __dirname === 'string' ? __dirname : undefined)}\n`);
      return 0;
    }
    options = daemonOptions(values);
  } catch (e) {
    return usage(e, io);
  }
  const log = createLogger(PROGRAM, options.logLevel, options.logFormat, (t) => io.err(t));
  let daemon: VfioUserDaemon;
  try {
    daemon = await VfioUserDaemon.start(options, log);
  } catch (e) {
    if (isVhostUserError(e, 'VhostUser.SocketError') || isVhostUserError(e, 'VhostUser.UsageError')) return usage(e, io);
    io.err(`${PROGRAM}: error: ${describe(e)}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onStop = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        log.warn(`${signal} again: exiting without waiting`);
        io.exit(signal === 'SIGINT' ? 130 : 143);
        return;
      }
      log.info(`${signal}: stopping`);
      // The closed socket no longer holds the event loop while the image drains.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      daemon.stop().then(
        () => 0,
        (e: unknown) => {
          log.error(`stop failed: ${describe(e)}`);
          return 1;
        },
      ).then((code) => {
        clearInterval(keepAlive);
        for (const [s, h] of handlers) io.offSignal(s, h);
        log.info('stopped');
        resolve(code);
      });
    };
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGINT', () => onStop('SIGINT')],
      ['SIGTERM', () => onStop('SIGTERM')],
      ['SIGHUP', () => log.info('SIGHUP ignored (nothing to reload)')],
    ];
    for (const [s, h] of handlers) io.onSignal(s, h);
  });
}

function usage(e: unknown, io: DaemonIo): number {
  if (!isVhostUserError(e, 'VhostUser.UsageError') && !isVhostUserError(e, 'VhostUser.SocketError')) throw e;
  const d = (e as { details?: string }).details;
  io.err(`${PROGRAM}: error: ${(e as { shortMessage: string }).shortMessage}${d === undefined ? '' : `. ${d}`}\n`);
  return 2;
}
