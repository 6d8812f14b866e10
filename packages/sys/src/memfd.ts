/**
 * @packageDocumentation
 * Anonymous shared memory files (memfd_create(2)): the usual backing of guest RAM that is shared
 * with another process (a vhost-user frontend maps the same file).
 */
import { assertFd, assertInteger, assertOptions, assertString } from './assert.js';
import { fail } from './errors.js';
import { native } from './native.js';

/**
 * Options of {@link memfdCreate}.
 * @example
 * ```ts
 * memfdCreate('ram', 2 << 20, { hugetlb: true });
 * ```
 */
export interface MemfdOptions {
  /** MFD_ALLOW_SEALING: allow fcntl(F_ADD_SEALS) later. Default false. */
  allowSealing?: boolean;
  /** MFD_HUGETLB: back the file with huge pages (size must be a multiple of the huge page size). Default false. */
  hugetlb?: boolean;
}

/**
 * Creates an anonymous memory file of `size` bytes (memfd_create with MFD_CLOEXEC, then ftruncate).
 * Its pages are zero and allocated on first touch. The caller owns the returned fd.
 *
 * @param name - a label shown in /proc/PID/fd and /proc/PID/maps as `/memfd:<name>` (at most 249 bytes, no NUL)
 * @param size - the size in bytes (0 is allowed; grow it later with {@link ftruncate})
 * @param options - sealing and huge pages
 * @returns the new fd (close-on-exec)
 * @throws {@link SysError} `EMFILE`, `ENOMEM`, `EINVAL` (name too long, bad huge page size)
 * @throws TypeError / RangeError on a bad name or size
 * @example
 * ```ts
 * const fd = memfdCreate('guest-ram', 64 << 20);
 * const ram = mmap(fd, 64 << 20);
 * ```
 */
export function memfdCreate(name: string, size: number, options?: MemfdOptions): number {
  assertString(name, 'memfdCreate: name');
  if (name.includes('\0')) throw new RangeError('memfdCreate: name must not contain NUL');
  assertInteger(size, 'memfdCreate: size', 0, Number.MAX_SAFE_INTEGER);
  assertOptions(options, 'memfdCreate');
  const fd = native.memfdCreate(name, options?.allowSealing === true, options?.hugetlb === true);
  if (fd < 0) throw fail(fd, 'memfd_create', JSON.stringify(name));
  if (size > 0) {
    const r = native.ftruncate(fd, size);
    if (r < 0) {
      native.close(fd);
      throw fail(r, 'ftruncate', `size ${size}`);
    }
  }
  return fd;
}

/**
 * Seals to add with {@link memfdAddSeals} (fcntl F_ADD_SEALS). Each one is permanent.
 * @example
 * ```ts
 * const seals: MemfdSeals = { shrink: true, grow: true };
 * ```
 */
export interface MemfdSeals {
  /** F_SEAL_SHRINK: the file can no longer shrink (so nobody can make a mapping raise SIGBUS). */
  shrink?: boolean;
  /** F_SEAL_GROW: the file can no longer grow. */
  grow?: boolean;
  /** F_SEAL_WRITE: the contents can no longer change (fails while a shared writable mapping exists). */
  write?: boolean;
  /** F_SEAL_SEAL: no further seals can be added. */
  seal?: boolean;
}

/**
 * Adds seals to a memfd created with `allowSealing` (fcntl F_ADD_SEALS). Seal guest RAM with
 * `shrink` before sharing it, so that no process holding the fd can truncate it under a mapping.
 *
 * @param fd - a memfd created with `{ allowSealing: true }`
 * @param seals - which seals to add
 * @throws {@link SysError} `EPERM` (sealing not allowed, or F_SEAL_SEAL already set), `EBUSY`
 *   (`write` while a shared writable mapping exists), `EINVAL` (not a memfd)
 * @example
 * ```ts
 * const fd = memfdCreate('guest-ram', size, { allowSealing: true });
 * memfdAddSeals(fd, { shrink: true, grow: true });
 * ```
 */
export function memfdAddSeals(fd: number, seals: MemfdSeals): void {
  assertFd(fd, 'memfdAddSeals');
  if (typeof seals !== 'object' || seals === null) throw new TypeError('memfdAddSeals: seals must be an object');
  const r = native.addSeals(fd, seals.shrink === true, seals.grow === true, seals.write === true, seals.seal === true);
  if (r < 0) throw fail(r);
}
