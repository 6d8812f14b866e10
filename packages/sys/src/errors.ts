/**
 * @packageDocumentation
 * Errors of @vmv/sys. Every failed system call surfaces as one {@link SysError} carrying the errno
 * name (`'EAGAIN'`, `'ENOENT'`, ...) and the name of the call that failed. Misuse of the API by the
 * embedder (a wrong type, an out-of-range size) throws TypeError or RangeError instead.
 */
import { constants } from 'node:os';
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';
import loaded from './load-addon.cjs';
import type { AddonLoadResult } from './native.js';

// The addon as loaded, or undefined when it could not be (then native.ts throws AddonLoadError,
// which is built here without it). Not native.ts's export: native.ts imports this module.
const addon = (loaded as AddonLoadResult).addon;

/**
 * Options of {@link SysError}.
 * @example
 * ```ts
 * new SysError(13, 'open', { details: '/dev/kvm', cause: e });
 * ```
 */
export type SysErrorOptions = VmvErrorOptions;

/**
 * A failed Linux system call (or a libuv call that reports an errno). The base error of @vmv/sys:
 * its name is `'Sys.Error'`; its one subclass is {@link AddonLoadError}.
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
  override readonly name: string = 'Sys.Error';
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
    super(code, `${syscall} failed: ${strerror(errnoNumber)} (${code})`, options);
    this.errno = code;
    this.errnoNumber = errnoNumber;
    this.syscall = syscall;
  }
}

/**
 * Every error name @vmv/sys can produce: its base error and the addon loading error.
 * @example
 * ```ts
 * SYS_ERROR_NAMES.includes(e.name)
 * ```
 */
export const SYS_ERROR_NAMES = ['Sys.Error', 'Sys.AddonLoadError'] as const;

/** One of {@link SYS_ERROR_NAMES}. @example `const n: SysErrorName = 'Sys.Error';` */
export type SysErrorName = (typeof SYS_ERROR_NAMES)[number];

const isSysErrorName: ErrorGuard<SysError, SysErrorName> = errorGuard('Sys', SYS_ERROR_NAMES);

/**
 * Whether `e` is a {@link SysError}, optionally with the given name or errno name. Every error of
 * @vmv/sys carries an errno, so the second argument may also be an errno name to match `code` against.
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
  if (addon !== undefined) return addon.errnoName(errnoNumber);
  const name = Object.entries(constants.errno).find(([, n]) => n === errnoNumber)?.[0];
  return name ?? `ERRNO_${errnoNumber}`;
}

/** strerror(3), or for the errnos of {@link AddonLoadError} its text when the addon is missing. */
function strerror(errnoNumber: number): string {
  if (addon !== undefined) return addon.strerror(errnoNumber);
  return errnoNumber === ENOEXEC ? 'Exec format error' : errnoNumber === ENOENT ? 'No such file or directory' : errnoName(errnoNumber);
}

/** @internal Builds the error for a negative return value of the addon. */
export function fail(negErrno: number, syscall?: string, details?: string): SysError {
  return new SysError(-negErrno, syscall ?? addon!.lastSyscall(), details === undefined ? {} : { details });
}

/** @internal The error for an operation on an object that was closed. */
export function closedError(what: string): SysError {
  return new SysError(EBADF, what, { details: 'already closed' });
}

/** @internal errno values of this machine. */
export const EBADF: number = constants.errno.EBADF;
/** @internal */
export const EAGAIN: number = constants.errno.EAGAIN;
const ENOENT: number = constants.errno.ENOENT;
const ENOEXEC: number = constants.errno.ENOEXEC;

/**
 * The native addon could not be loaded: importing `@vmv/sys` throws this (and nothing else of the
 * package works). `errno` is `'ENOENT'` when no binary exists for this machine (a platform or
 * architecture without a prebuild, and no build from source), `'ENOEXEC'` when one exists but the
 * dynamic loader refused it (musl, a glibc older than the binary needs); `syscall` is `'dlopen'`.
 * The message names the platform, architecture and C library, every file tried with its loader
 * error, and how to build from source (README, "Building from source").
 */
export class AddonLoadError extends SysError {
  override readonly name = 'Sys.AddonLoadError' as const;
  /** `process.platform`, e.g. `'linux'`. */
  readonly platform: string;
  /** `process.arch`, e.g. `'arm64'`. */
  readonly arch: string;
  /** The C library found, e.g. `'glibc 2.36'` (empty off Linux). */
  readonly libc: string;
  /** Each file tried, with the loader's error. */
  readonly tried: readonly {
    /** The file the loader tried. */
    readonly file: string;
    /** Why it did not load (the dlopen message). */
    readonly error: string;
  }[];

  /**
   * @param platform - `process.platform`
   * @param arch - `process.arch`
   * @param libc - the C library found
   * @param tried - the files tried and why each did not load
   * @param options - details (replacing the generated explanation) and cause
   */
  constructor(platform: string, arch: string, libc: string, tried: readonly { file: string; error: string }[] = [], options: SysErrorOptions = {}) {
    const list = Array.isArray(tried) ? tried : [];
    super(list.length === 0 ? ENOENT : ENOEXEC, 'dlopen', { cause: options.cause, details: options.details ?? addonLoadDetails(platform, arch, libc, list) });
    this.platform = platform;
    this.arch = arch;
    this.libc = libc;
    this.tried = list;
  }
}

/** Prebuilt binaries in the package: the platform-arch pairs, all for glibc. */
const PREBUILT = ['linux-x64', 'linux-arm64'];

function addonLoadDetails(platform: string, arch: string, libc: string, tried: readonly { file: string; error: string }[]): string {
  if (platform !== 'linux') return `@vmv/sys is Linux only (this is ${platform}-${arch})`;
  const target = `${platform}-${arch} with ${libc}`;
  const what = tried.length === 0
    ? `no native addon for ${target}: prebuilt binaries ship for ${PREBUILT.join(' and ')} with glibc >= 2.34 only`
    : `the native addon does not load on ${target} (prebuilt binaries are for ${PREBUILT.join(' and ')} with glibc >= 2.34): ${tried.map((t) => `${t.file}: ${t.error}`).join('; ')}`;
  return `${what}. Build it from source for this machine (a C++17 compiler and Node's headers): npm install --save-dev node-addon-api@8, then node node_modules/@vmv/sys/scripts/build-native.mjs --from-source; see "Building from source" in its README`;
}
