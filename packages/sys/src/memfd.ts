/**
 * @packageDocumentation
 * Anonymous shared memory files (memfd_create(2)): the usual backing of guest RAM that is shared
 * with another process (a vhost-user frontend maps the same file).
 */
import { assertInteger, assertOptions, assertString } from './assert.js';
import { fail } from './errors.js';
import { native } from './native.js';

/** Options of {@link memfdCreate}. */
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
