/**
 * @packageDocumentation
 * Errors of @vmv/sys. Every failed system call surfaces as one {@link SysError} carrying the errno
 * name (`'EAGAIN'`, `'ENOENT'`, ...) and the name of the call that failed. Misuse of the API by the
 * embedder (a wrong type, an out-of-range size) throws TypeError or RangeError instead.
 */
import { constants } from 'node:os';
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';
import { native } from './native.js';

/**
 * Options of {@link SysError}.
 * @example
 * ```ts
 * new SysError(13, 'open', { details: '/dev/kvm', cause: e });
 * ```
 */
export type SysErrorOptions = VmvErrorOptions;

/**
 * A failed Linux system call (or a libuv call that reports an errno). The one error of @vmv/sys:
 * its name is `'Sys.Error'`.
 *
 * `code` and `errno` are both the errno name, for example `'ENOENT'`; `errnoNumber` is the positive
 * errno value of this machine. Test errors with {@link isSysError}, which looks at `name`, not at
 * `instanceof` (two copies of the package would break `instanceof`).
 *
 * @example
 * ```ts
 * try { UnixStream.connect('/nonexistent.sock'); }
 * catch (e) { if (isSysError(e, 'ENOENT')) console.log(e.syscall); } // 'connect'
 * ```
 */
export class SysError extends VmvError {
  override readonly name = 'Sys.Error' as const;
  /** The errno name, e.g. `'EAGAIN'` (same value as {@link SysError.code}). */
  readonly errno: string;
  /** The positive errno number, e.g. 11 for EAGAIN on Linux. */
  readonly errnoNumber: number;
  /** The system call that failed, e.g. `'mmap'`, `'recvmsg'`. */
  readonly syscall: string;

  /**
   * @param errnoNumber - the positive errno value
   * @param syscall - the name of the call that failed
   * @param options - details and cause
   * @example
   * ```ts
   * new SysError(2, 'open', { details: '/tmp/x' }).code; // 'ENOENT'
   * ```
   */
  constructor(errnoNumber: number, syscall: string, options: SysErrorOptions = {}) {
    const code = errnoName(errnoNumber);
    super(code, `${syscall} failed: ${native.strerror(errnoNumber)} (${code})`, options);
    this.errno = code;
    this.errnoNumber = errnoNumber;
    this.syscall = syscall;
  }
}

/**
 * Every error name @vmv/sys can produce: its one error.
 * @example
 * ```ts
 * SYS_ERROR_NAMES.includes(e.name)
 * ```
 */
export const SYS_ERROR_NAMES = ['Sys.Error'] as const;

/** One of {@link SYS_ERROR_NAMES}. @example `const n: SysErrorName = 'Sys.Error';` */
export type SysErrorName = (typeof SYS_ERROR_NAMES)[number];

const isSysErrorName: ErrorGuard<SysError, SysErrorName> = errorGuard('Sys', SYS_ERROR_NAMES);

/**
 * Whether `e` is a {@link SysError}, optionally with the given name or errno name. @vmv/sys has
 * one error, so the second argument may also be an errno name to match `code` against.
 *
 * @param e - any caught value
 * @param nameOrErrno - `'Sys.Error'`, or an errno name to match, e.g. `'EAGAIN'`
 * @returns true if `e.name` is `'Sys.Error'` (and its code matches)
 * @example
 * ```ts
 * if (isSysError(err, 'EPIPE')) stream.close();
 * ```
 */
export function isSysError(e: unknown, nameOrErrno?: SysErrorName | (string & {})): e is SysError {
  if (!isSysErrorName(e)) return false;
  return nameOrErrno === undefined || nameOrErrno === e.name || e.code === nameOrErrno;
}

/**
 * The symbolic name of an errno value on this machine.
 *
 * @param errnoNumber - a positive errno value
 * @returns the name, e.g. `'EAGAIN'` for 11, or `'ERRNO_<n>'` when libc has no name for it
 * @example
 * ```ts
 * errnoName(2); // 'ENOENT'
 * ```
 */
export function errnoName(errnoNumber: number): string {
  return native.errnoName(errnoNumber);
}

/** @internal Builds the error for a negative return value of the addon. */
export function fail(negErrno: number, syscall?: string, details?: string): SysError {
  return new SysError(-negErrno, syscall ?? native.lastSyscall(), details === undefined ? {} : { details });
}

/** @internal The error for an operation on an object that was closed. */
export function closedError(what: string): SysError {
  return new SysError(EBADF, what, { details: 'already closed' });
}

/** @internal errno values of this machine. */
export const EBADF: number = constants.errno.EBADF;
/** @internal */
export const EAGAIN: number = constants.errno.EAGAIN;
