/**
 * Errors of the daemon kit (`@vmv/vhost-user/daemon`): a bad command line and a socket that
 * cannot be listened on. Each message is one line naming the problem; `details` names the fix.
 * Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Base class of the daemon kit's errors.
 * @example
 * ```ts
 * try { parseFlags(spec, argv); } catch (e) { if (isDaemonError(e)) console.error(e.shortMessage); }
 * ```
 */
export class DaemonError extends VmvError {
  override readonly name: string = 'VhostUserDaemon.Error';
}

/** A bad command line (exit status 2). */
export class UsageError extends DaemonError {
  override readonly name = 'VhostUserDaemon.UsageError' as const;
  /** @param shortMessage - the problem, one line @param options - `details`: the fix */
  constructor(shortMessage: string, options: VmvErrorOptions = {}) {
    super('USAGE', shortMessage, options);
  }
}

/** A socket path or handed-over descriptor that cannot be listened on (exit status 2). */
export class SocketError extends DaemonError {
  override readonly name = 'VhostUserDaemon.SocketError' as const;
  /** The socket path (or `fd N`). */
  readonly path: string;
  /** @param path - the socket @param shortMessage - the problem @param options - `details`: the fix */
  constructor(path: string, shortMessage: string, options: VmvErrorOptions = {}) {
    super('SOCKET', shortMessage, options);
    this.path = path;
  }
}

/** Every error name of the daemon kit. @example `DAEMON_ERROR_NAMES.includes(e.name)` */
export const DAEMON_ERROR_NAMES = ['VhostUserDaemon.Error', 'VhostUserDaemon.UsageError', 'VhostUserDaemon.SocketError'] as const;
/** One of {@link DAEMON_ERROR_NAMES}. @example `const n: DaemonErrorName = 'VhostUserDaemon.UsageError';` */
export type DaemonErrorName = (typeof DAEMON_ERROR_NAMES)[number];

/**
 * True when `e` is an error of the daemon kit (optionally of the given `name`).
 * @param e - anything caught
 * @param name - optional exact name
 * @returns whether it is one
 * @example
 * ```ts
 * if (isDaemonError(e, 'VhostUserDaemon.UsageError')) process.exitCode = 2;
 * ```
 */
export const isDaemonError: ErrorGuard<DaemonError, DaemonErrorName> = errorGuard('VhostUserDaemon', DAEMON_ERROR_NAMES);
