/**
 * The Linux host of a session: DMA windows mapped from the client's fds with @vmv/sys (shared,
 * in chunks of at most 4 GiB, the most one ArrayBuffer holds on Node 20), fds closed with
 * closeFd, interrupts written to the client's eventfds.
 *
 * @module
 */
import { closeFd, eventfdWrite, isSysError, mmap, MAX_MAPPING_LENGTH, type Mapping } from '@vmv/sys';
import { Errno } from '../constants.js';
import { MapFailedError } from '../errors.js';
import type { VfioUserMapping } from '../dma.js';
import type { VfioUserHost } from '../session.js';

const CHUNK = Math.min(MAX_MAPPING_LENGTH, 2 ** 32);

/**
 * Maps `size` bytes of `fd` from `offset`, shared, in chunks of at most 4 GiB.
 * @param fd - the fd (stays the caller's)
 * @param offset - file offset of the window
 * @param size - bytes
 * @returns the mapping (its chunks' ArrayBuffers; `release` unmaps them)
 * @throws VfioUser.MapFailedError with the errno of mmap (EINVAL when the window is too large to address)
 * @example
 * ```ts
 * const window = mapWindow(memfd, 0n, 0x10000n);
 * new Uint8Array(window.chunks[0]!)[0] = 1;
 * window.release();
 * ```
 */
export function mapWindow(fd: number, offset: bigint, size: bigint): VfioUserMapping {
  const facts = { fd, offset, size };
  if (offset + size > BigInt(Number.MAX_SAFE_INTEGER)) throw new MapFailedError(facts, Errno.EINVAL);
  const total = Number(size);
  const parts: Mapping[] = [];
  const release = (): void => {
    for (const m of parts) {
      try {
        m.close();
      } catch {
        // a mapping that cannot be detached stays mapped; nothing more can be done
      }
    }
  };
  try {
    for (let at = 0; at < total; at += CHUNK) parts.push(mmap(fd, Math.min(CHUNK, total - at), { offset: Number(offset) + at, shared: true }));
  } catch (e) {
    release();
    throw new MapFailedError(facts, isSysError(e) ? e.errnoNumber : Errno.EFAULT, e);
  }
  return { chunks: parts.map((m) => m.buffer), release };
}

/**
 * The Linux host of a session (mmap, close, eventfd writes) whose messages go to `send`: for a
 * session over a transport of your own.
 * @param send - writes one message to the client
 * @returns the host
 * @example
 * ```ts
 * const session = new VfioUserSession(device, linuxHost((message) => stream.sendmsg(message)));
 * ```
 */
export function linuxHost(send: (message: Uint8Array) => void): VfioUserHost {
  return {
    map: mapWindow,
    close: (fd) => closeFd(fd),
    // A full counter (false) still has the client's interrupt pending: nothing is lost.
    signal: (fd) => void eventfdWrite(fd, 1),
    send,
  };
}
