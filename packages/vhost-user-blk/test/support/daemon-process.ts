/**
 * Runs the real `vmv-vhost-user-blk` program (bundled from src/bin.ts) as a child process,
 * through the daemon kit's test helpers (one copy of that code, in @vmv/vhost-user's tests).
 */
import { join } from 'node:path';
import * as kit from '../../../vhost-user/test/support/daemon-process';

export { captureIo, killDaemon, waitForLog, waitForLogCount, waitForSocket } from '../../../vhost-user/test/support/daemon-process';
export type { DaemonProcess } from '../../../vhost-user/test/support/daemon-process';

// --workers threads run queue-worker.js, which the program finds beside itself
const blk = kit.bundledDaemon(join(__dirname, '..', '..', 'src', 'bin.ts'), { 'queue-worker.js': join(__dirname, '..', '..', 'src', 'queue-worker.ts') });

/** Builds (once per test file) the daemon program; resolves with the path of the bundle. */
export const daemonProgram = (): Promise<string> => blk.program();
/** Removes the bundle built by {@link daemonProgram} (call from afterAll). */
export const removeDaemonProgram = (): void => blk.remove();
/** Starts the program with `args`. */
export const spawnDaemon = (args: readonly string[]): Promise<kit.DaemonProcess> => kit.spawnDaemon(args, blk.program());
/** Runs the program to completion; resolves with its exit code and output. */
export const runDaemonToExit = (args: readonly string[], timeoutMs?: number): ReturnType<typeof kit.runDaemonToExit> => kit.runDaemonToExit(args, timeoutMs, blk.program());
