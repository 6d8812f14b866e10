/**
 * The command-line program: the daemon kit's `runDaemon` over {@link scsiDaemon}, the images
 * given as arguments turned into `--image` first.
 * @module
 */
import { daemonFlags, processIo, runDaemon, type DaemonIo } from '@vmv/vhost-user/daemon';
import { imageArguments } from './args.js';
import { scsiDaemon } from './program.js';

/**
 * Runs the program: `--help`, `--version`, `--print-capabilities`, or the daemon until a stop signal.
 * @param argv - arguments without `node` and the script.
 * @param io - streams, signals and exit (default: the process's).
 * @returns the exit status: 0 clean stop, 1 an image that cannot be served, 2 bad command line.
 * @example `runCli(process.argv.slice(2)).then((code) => process.exit(code));`
 */
export function runCli(argv: readonly string[], io: DaemonIo = processIo): Promise<number> {
  return runDaemon(scsiDaemon, imageArguments(daemonFlags(scsiDaemon), argv), io);
}
