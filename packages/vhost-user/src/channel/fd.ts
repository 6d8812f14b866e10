/**
 * Closing fds received from or owned for a peer, where a second close (the peer's fd was
 * already released with its stream) is not an error.
 *
 * @module
 */

import { closeFd } from '@vmv/sys';

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
