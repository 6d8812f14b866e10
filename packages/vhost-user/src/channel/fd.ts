/**
 * Closing fds received from or owned for a peer, where a second close (the peer's fd was
 * already released with its stream) is not an error.
 *
 * @module
 */

import { closeFd, memfdCreate, mmap, type Mapping } from '@vmv/sys';

/**
 * Closes `fd`, ignoring null, negative numbers and an fd that is already closed.
 * @param fd - the fd, or null/undefined for none
 * @internal
 */
export function safeClose(fd: number | null | undefined): void {
  if (fd === null || fd === undefined || fd < 0) return;
  try {
    closeFd(fd);
  } catch {
    // already closed
  }
}

/**
 * A new memfd of `size` bytes, mapped shared: what the backend shares as an inflight buffer and
 * the frontend as guest memory. The fd is closed again when the mapping fails.
 * @param name - the memfd's name
 * @param size - bytes
 * @returns the fd and its mapping (both the caller's)
 * @throws Sys.SysError from memfd_create or mmap
 * @internal
 */
export function createMappedMemfd(name: string, size: number): { fd: number; mapping: Mapping } {
  const fd = memfdCreate(name, size);
  try {
    return { fd, mapping: mmap(fd, size) };
  } catch (e) {
    safeClose(fd);
    throw e;
  }
}
