/**
 * @packageDocumentation
 * Pseudo-terminals (pty(7)): a master fd for the program that serves a terminal, and the slave
 * path (/dev/pts/N) a user opens with `screen`, `picocom` or `cat`.
 */
import { assertOptions } from './assert.js';
import { fail } from './errors.js';
import { native } from './native.js';

/**
 * Options of {@link openPty}.
 * @example
 * ```ts
 * openPty({ raw: false }); // a cooked terminal: echo, line editing, signals
 * ```
 */
export interface OpenPtyOptions {
  /** Raw mode (cfmakeraw on the pair: no echo, no line editing, no signals, bytes unchanged). Default true. */
  raw?: boolean;
}

/**
 * A pty opened by {@link openPty}.
 * @example
 * ```ts
 * const { fd, path } = openPty();
 * ```
 */
export interface Pty {
  /** The master fd: non-blocking, close-on-exec, owned by the caller (close it with {@link closeFd}). */
  readonly fd: number;
  /** The slave's path, e.g. `/dev/pts/3`. */
  readonly path: string;
}

/**
 * Opens a pseudo-terminal: posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), grantpt, unlockpt,
 * ptsname_r, then O_NONBLOCK on the master. Read and write the master fd (e.g. `fs.readSync`,
 * readiness with {@link watchFd}); while no slave is open, a read of the master fails with `EIO`
 * and poll reports a hang-up: keep a slave fd open (O_NOCTTY) to wait for users without that.
 *
 * @param options - raw mode
 * @returns the master fd and the slave path
 * @throws {@link SysError} `ENOENT` (no /dev/ptmx), `EMFILE`, `ENOSPC` (out of ptys), `EACCES`
 * @throws TypeError when `options` is not an object
 * @example
 * ```ts
 * const pty = openPty();
 * console.log(`terminal at ${pty.path}`);
 * closeFd(pty.fd);
 * ```
 */
export function openPty(options?: OpenPtyOptions): Pty {
  assertOptions(options, 'openPty');
  const r = native.openPty(options?.raw !== false);
  if (typeof r === 'number') throw fail(r);
  return { fd: r[0], path: r[1] };
}
