/**
 * @packageDocumentation
 * Plain file descriptors. @vmv/sys hands out fds as numbers and never closes one behind the
 * caller's back (no garbage-collection finaliser closes fds: a late close could hit a reused
 * number). Whoever holds an fd closes it exactly once, with {@link closeFd} or the owning object's
 * `close()`.
 */
import { assertFd, assertInteger } from './assert.js';
import { EAGAIN, fail } from './errors.js';
import { native } from './native.js';

/**
 * Closes an fd. A {@link FdWatcher} still watching this fd is closed first (its callback never
 * runs again), so epoll never keeps a registration for a closed or reused fd number.
 * EINTR counts as success (Linux has released the fd by then).
 *
 * @param fd - the fd to close; the caller must own it
 * @throws {@link SysError} `EBADF` if `fd` is not open
 * @throws TypeError / RangeError if `fd` is not an fd number
 * @example
 * ```ts
 * const fd = memfdCreate('ram', 4096);
 * closeFd(fd);
 * ```
 */
export function closeFd(fd: number): void {
  assertFd(fd, 'closeFd');
  const r = native.close(fd);
  if (r < 0) throw fail(r);
}

/**
 * Duplicates an fd (F_DUPFD_CLOEXEC). The copy refers to the same open file and must be closed
 * separately.
 *
 * @param fd - an open fd
 * @returns the new fd
 * @throws {@link SysError} `EBADF`, `EMFILE`
 * @example
 * ```ts
 * const copy = dupFd(fd); // keep the file open after passing `fd` on
 * ```
 */
export function dupFd(fd: number): number {
  assertFd(fd, 'dupFd');
  const r = native.dup(fd);
  if (r < 0) throw fail(r);
  return r;
}

/**
 * Sets or clears O_NONBLOCK. The flag belongs to the open file description, so it is shared with
 * every process holding the same file (for example the frontend that sent the fd).
 *
 * @param fd - an open fd
 * @param nonBlocking - true to set O_NONBLOCK
 * @throws {@link SysError} `EBADF`
 * @example
 * ```ts
 * setNonBlocking(kickFd, true);
 * ```
 */
export function setNonBlocking(fd: number, nonBlocking: boolean): void {
  assertFd(fd, 'setNonBlocking');
  const r = native.setNonBlocking(fd, nonBlocking === true);
  if (r < 0) throw fail(r);
}

/**
 * The size in bytes of the file behind an fd (fstat st_size).
 *
 * @param fd - an open fd
 * @returns st_size
 * @throws {@link SysError} `EBADF`
 * @example
 * ```ts
 * fdSize(memfdCreate('ram', 8192)); // 8192
 * ```
 */
export function fdSize(fd: number): number {
  assertFd(fd, 'fdSize');
  const r = native.fstatSize(fd);
  if (r < 0) throw fail(r);
  return r;
}

/**
 * Sets the size of a file (ftruncate). Growing a memfd adds zero pages lazily.
 *
 * @param fd - an fd open for writing
 * @param size - the new size in bytes
 * @throws {@link SysError} `EBADF`, `EINVAL`, `EPERM` (a seal forbids it)
 * @throws RangeError if `size` is not a non-negative safe integer
 * @example
 * ```ts
 * ftruncate(fd, 1 << 20);
 * ```
 */
export function ftruncate(fd: number, size: number): void {
  assertFd(fd, 'ftruncate');
  assertInteger(size, 'ftruncate: size', 0, Number.MAX_SAFE_INTEGER);
  const r = native.ftruncate(fd, size);
  if (r < 0) throw fail(r);
}

/**
 * Deallocates a byte range of a file (`fallocate` with `FALLOC_FL_PUNCH_HOLE |
 * FALLOC_FL_KEEP_SIZE`): the range then reads as zeros and its blocks are freed; the file size
 * does not change. This is what a virtio-blk DISCARD or WRITE_ZEROES with UNMAP wants from a raw
 * image file. Synchronous (a metadata operation on the filesystems that support it).
 *
 * @param fd - an fd open for writing
 * @param offset - first byte of the range
 * @param length - bytes in the range (at least 1)
 * @throws {@link SysError} `EOPNOTSUPP` where the filesystem cannot punch holes (tmpfs and ext4
 *   can), `EBADF`, `EINVAL`, `ENODEV` (not a regular file)
 * @throws RangeError if `offset` or `length` is not a safe integer in range
 * @example
 * ```ts
 * punchHole(fd, 1 << 20, 64 << 10); // free 64 KiB at 1 MiB
 * ```
 */
export function punchHole(fd: number, offset: number, length: number): void {
  assertFd(fd, 'punchHole');
  assertInteger(offset, 'punchHole: offset', 0, Number.MAX_SAFE_INTEGER);
  assertInteger(length, 'punchHole: length', 1, Number.MAX_SAFE_INTEGER - offset);
  const r = native.punchHole(fd, offset, length);
  if (r < 0) throw fail(r);
}

/**
 * The system page size (mmap offsets are aligned to it internally).
 *
 * @returns the page size in bytes, e.g. 4096
 * @example
 * ```ts
 * pageSize(); // 4096
 * ```
 */
export function pageSize(): number {
  return native.pageSize();
}

/** Most buffers one {@link preadv} takes (IOV_MAX). @example `if (bufs.length > PREADV_MAX_BUFFERS) readInParts();` */
export const PREADV_MAX_BUFFERS = 1024;

/**
 * Reads from `offset` into `buffers`, in order (preadv2(2)), synchronously. With `nowait`
 * (RWF_NOWAIT) the read never waits for the disk: it returns what the page cache holds at once,
 * possibly a short count, or null when the first byte is not cached, so an event loop can serve
 * cached data inline and send the rest to a thread pool.
 *
 * @param fd - an open, readable fd (a regular file or a block device)
 * @param buffers - where the bytes go (at most {@link PREADV_MAX_BUFFERS})
 * @param offset - file offset (a safe integer)
 * @param options - `nowait`: RWF_NOWAIT
 * @returns the bytes read (0 at end of file), or null with `nowait` when it would have waited (EAGAIN)
 * @throws {@link SysError} `EBADF`, `EIO`, `EINVAL`, `EOPNOTSUPP` (`nowait` on a file system without it)
 * @throws TypeError / RangeError on bad arguments
 * @example
 * ```ts
 * const n = preadv(fd, [header, data], 4096, { nowait: true });
 * if (n === null) await readInThreadPool();
 * ```
 */
export function preadv(fd: number, buffers: readonly Uint8Array[], offset: number, options?: { nowait?: boolean }): number | null {
  assertFd(fd, 'preadv');
  if (!Array.isArray(buffers)) throw new TypeError('preadv: buffers must be an array of Uint8Array');
  if (buffers.length > PREADV_MAX_BUFFERS) throw new RangeError(`preadv: at most ${PREADV_MAX_BUFFERS} buffers`);
  for (const b of buffers) if (!(b instanceof Uint8Array)) throw new TypeError('preadv: buffers must be Uint8Arrays');
  assertInteger(offset, 'preadv: offset', 0, Number.MAX_SAFE_INTEGER);
  const nowait = options?.nowait === true;
  const r = native.preadv(fd, buffers, offset, nowait);
  if (r < 0) {
    if (nowait && r === -EAGAIN) return null;
    throw fail(r);
  }
  return r;
}
