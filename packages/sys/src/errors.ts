/**
 * @packageDocumentation
 * Errors of @vmv/sys. Every failed system call surfaces as one {@link SysError} carrying the errno
 * name (`'EAGAIN'`, `'ENOENT'`, ...) and the name of the call that failed. Misuse of the API by the
 * embedder (a wrong type, an out-of-range size) throws TypeError or RangeError instead.
 */
import { constants } from 'node:os';
import { native } from './native.js';

/**
 * Options of {@link SysError}.
 * @example
 * ```ts
 * new SysError(13, 'open', { details: '/dev/kvm', cause: e });
 * ```
 */
export interface SysErrorOptions {
  /** Extra context appended to the message (a path, a size). */
  details?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * A failed Linux system call (or a libuv call that reports an errno).
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
export class SysError extends Error {
  /** Stable name used by {@link isSysError}. */
  override readonly name = 'Sys.SysError' as const;
  /** The errno name, e.g. `'EAGAIN'` (same value as {@link SysError.errno}). */
  readonly code: string;
  /** The errno name, e.g. `'EAGAIN'`. */
  readonly errno: string;
  /** The positive errno number, e.g. 11 for EAGAIN on Linux. */
  readonly errnoNumber: number;
  /** The system call that failed, e.g. `'mmap'`, `'recvmsg'`. */
  readonly syscall: string;
  /** The message without details. */
  readonly shortMessage: string;
  /** Extra context, if any. */
  readonly details: string | undefined;

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
    const shortMessage = `${syscall} failed: ${native.strerror(errnoNumber)} (${code})`;
    super(options.details === undefined ? shortMessage : `${shortMessage}: ${options.details}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = code;
    this.errnoNumber = errnoNumber;
    this.syscall = syscall;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/**
 * Whether `e` is a {@link SysError}, optionally with the given errno name.
 *
 * @param e - any caught value
 * @param code - an errno name to match, e.g. `'EAGAIN'`
 * @returns true if `e.name` is `'Sys.SysError'` (and its code matches)
 * @example
 * ```ts
 * if (isSysError(err, 'EPIPE')) stream.close();
 * ```
 */
export function isSysError(e: unknown, code?: string): e is SysError {
  if (typeof e !== 'object' || e === null || (e as { name?: unknown }).name !== 'Sys.SysError') return false;
  return code === undefined || (e as { code?: unknown }).code === code;
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
