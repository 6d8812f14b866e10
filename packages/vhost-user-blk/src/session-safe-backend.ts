/**
 * A {@link BlockBackend} wrapper that keeps asynchronous file I/O away from guest memory: a
 * write's data is copied out of the guest buffers when the request starts, and a read lands in a
 * private buffer that is copied into the guest buffers only when it completes, and only if they
 * still exist.
 *
 * Why: a vhost-user frontend can disconnect (QEMU killed, the daemon stopping) while requests are
 * in the thread pool, and the backend then unmaps the guest memory at once. With zero-copy I/O,
 * the kernel would then read from or write into an address range that is no longer the guest's
 * (and that the next connection's memory may already occupy), and a short transfer ends in a
 * TypeError on the detached view, thrown from an fs callback. Through private buffers, requests of
 * a dead session complete harmlessly (their results are dropped) and `BlockDevice.drain()` still
 * sees them finish. The copy costs one memcpy per request; buffers are pooled.
 * @module
 */

import type { BlockBackend } from '@vmv/block';

const MIN_CLASS = 12; // 4 KiB
const MAX_CLASS = 22; // 4 MiB: larger buffers are not pooled
const PER_CLASS = 32;

/** Power-of-two buffers by size class, reused across requests. */
class BufferPool {
  private readonly free: Uint8Array[][] = [];

  take(size: number): Uint8Array {
    const cls = Math.max(MIN_CLASS, 32 - Math.clz32(Math.max(1, size) - 1));
    if (cls > MAX_CLASS) return new Uint8Array(size);
    const list = (this.free[cls] ??= []);
    return list.pop() ?? new Uint8Array(1 << cls);
  }

  give(buf: Uint8Array): void {
    const cls = 31 - Math.clz32(buf.length);
    if (buf.length !== 1 << cls || cls < MIN_CLASS || cls > MAX_CLASS) return;
    const list = (this.free[cls] ??= []);
    if (list.length < PER_CLASS) list.push(buf);
  }
}

function totalLength(buffers: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of buffers) n += b.length;
  return n;
}

/**
 * Wraps a backend so that its asynchronous reads and writes use private buffers (see the module
 * notes). Every other operation is passed through.
 * @example
 * ```ts
 * const device = new BlockDevice({ backend: new SessionSafeBackend(await FileBackend.open('disk.img')) });
 * ```
 */
export class SessionSafeBackend implements BlockBackend {
  /** The wrapped backend. */
  readonly inner: BlockBackend;
  readonly readOnly: boolean;
  readonly canUnmap: boolean;
  private readonly pool = new BufferPool();

  /**
   * @param inner - the backend doing the I/O.
   * @throws TypeError when `inner` lacks read, write or flush.
   * @example
   * ```ts
   * new SessionSafeBackend(fileBackend)
   * ```
   */
  constructor(inner: BlockBackend) {
    if (typeof inner !== 'object' || inner === null || typeof inner.read !== 'function' || typeof inner.write !== 'function' || typeof inner.flush !== 'function') {
      throw new TypeError('SessionSafeBackend: inner must implement read, write and flush');
    }
    this.inner = inner;
    this.readOnly = inner.readOnly === true;
    this.canUnmap = inner.canUnmap === true;
    if (typeof inner.discard === 'function') this.discard = (offset, length) => inner.discard!(offset, length);
    if (typeof inner.writeZeroes === 'function') this.writeZeroes = (offset, length, unmap) => inner.writeZeroes!(offset, length, unmap);
  }

  /** Size in bytes, as the wrapped backend reports it. */
  get size(): number {
    return this.inner.size;
  }

  /** DISCARD, passed through (present when the wrapped backend has it). */
  readonly discard?: (offset: number, length: number) => void | Promise<void>;
  /** WRITE_ZEROES, passed through (present when the wrapped backend has it). */
  readonly writeZeroes?: (offset: number, length: number, unmap: boolean) => void | Promise<void>;

  /**
   * Reads into a private buffer, then copies into `buffers` if they are still attached.
   * @param offset - byte offset.
   * @param buffers - guest buffers (views of guest memory).
   * @returns a promise that settles when the data is in place (or dropped, for a dead session).
   * @throws whatever the wrapped backend rejects with.
   * @example
   * ```ts
   * await backend.read(0, [view]);
   * ```
   */
  async read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const total = totalLength(buffers);
    const lengths = buffers.map((b) => b.length);
    const tmp = this.pool.take(total);
    try {
      await this.inner.read(offset, [tmp.subarray(0, total)]);
      let at = 0;
      for (let i = 0; i < buffers.length; i++) {
        const b = buffers[i]!;
        const len = lengths[i]!;
        // A view of unmapped guest memory is detached (length 0): the session is gone, drop the data.
        if (b.length !== len) return;
        b.set(tmp.subarray(at, at + len));
        at += len;
      }
    } finally {
      this.pool.give(tmp);
    }
  }

  /**
   * Copies `buffers` now, then writes the copy.
   * @param offset - byte offset.
   * @param buffers - guest buffers (views of guest memory).
   * @returns a promise that settles when the write is done.
   * @throws whatever the wrapped backend throws or rejects with.
   * @example
   * ```ts
   * await backend.write(0, [view]);
   * ```
   */
  async write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    if (buffers.length === 1 && buffers[0]!.length === 0) return this.inner.write(offset, buffers);
    const total = totalLength(buffers);
    const tmp = this.pool.take(total);
    try {
      let at = 0;
      for (const b of buffers) {
        tmp.set(b, at);
        at += b.length;
      }
      await this.inner.write(offset, [tmp.subarray(0, total)]);
    } finally {
      this.pool.give(tmp);
    }
  }

  /**
   * Flush, passed through.
   * @returns the wrapped backend's result.
   * @example
   * ```ts
   * await backend.flush();
   * ```
   */
  flush(): void | Promise<void> {
    return this.inner.flush();
  }
}
