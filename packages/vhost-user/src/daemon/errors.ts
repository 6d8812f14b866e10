/**
 * Errors of the daemon kit (`@vmv/vhost-user/daemon`): a bad command line and a socket that
 * cannot be listened on. Each message is one line naming the problem; `details` names the fix.
 * They are @vmv/vhost-user errors (`VhostUser.UsageError`, `VhostUser.SocketError`), recognised
 * by `isVhostUserError`.
 * @module
 */
import type { VmvErrorOptions } from '@vmv/errors';
import { VhostUserError } from '../errors.js';

/**
 * A bad command line (exit status 2).
 * @example
 * ```ts
 * throw new UsageError('--queues must be in 1..8, got 9');
 * ```
 */
export class UsageError extends VhostUserError {
  override readonly name = 'VhostUser.UsageError' as const;
  /** @param shortMessage - the problem, one line @param options - `details`: the fix */
  constructor(shortMessage: string, options: VmvErrorOptions = {}) {
    super('USAGE', shortMessage, options);
  }
}

/**
 * A socket path that cannot be listened on (exit status 2).
 * @example
 * ```ts
 * throw new SocketError('/run/x.sock', '/run/x.sock exists and is not a socket');
 * ```
 */
export class SocketError extends VhostUserError {
  override readonly name = 'VhostUser.SocketError' as const;
  /** The socket path. */
  readonly path: string;
  /** @param path - the socket @param shortMessage - the problem @param options - `details`: the fix */
  constructor(path: string, shortMessage: string, options: VmvErrorOptions = {}) {
    super('SOCKET', shortMessage, options);
    this.path = path;
  }
}
