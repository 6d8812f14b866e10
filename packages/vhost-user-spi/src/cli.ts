/**
 * The command-line program: the daemon kit's `runDaemon` over {@link createSpiDaemon}. `bin.ts`
 * is a thin wrapper around {@link runCli}.
 * @module
 */
import { processIo, runDaemon, type DaemonIo } from '@vmv/vhost-user/daemon';
import { createSpiDaemon } from './program.js';

/**
 * Runs the program: `--help`, `--version`, `--print-capabilities`, or the daemon until a stop
 * signal.
 * @param argv - arguments without `node` and the script (`process.argv.slice(2)`).
 * @param io - streams, signals and exit (default: the process's).
 * @returns the exit status: 0 after a clean stop (or help/version/capabilities), 2 for a bad
 *   command line or socket.
 * @example
 * ```ts
 * runCli(process.argv.slice(2)).then((code) => process.exit(code));
 * ```
 */
export function runCli(argv: readonly string[], io: DaemonIo = processIo): Promise<number> {
  return runDaemon(createSpiDaemon(), argv, io);
}
