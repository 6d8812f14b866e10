/**
 * The storage interface behind a {@link BlockDevice}: implement it to serve a disk from anywhere
 * (a file, memory, a network or object store). Provided: {@link MemoryBackend} (any JavaScript
 * runtime), `FileBackend` (Node, from `@vmv/block/node`) and the {@link readOnlyBackend} wrapper.
 * @module
 */
import type { BlockLifetime } from './wire.js';

/**
 * What a block device needs from its storage. Offsets and lengths are bytes; the device only
 * issues operations that are multiples of 512 bytes and lie within `size`. Every method may be
 * synchronous (return nothing) or asynchronous (return a promise); a thrown error or a rejected
 * promise fails that one request with VIRTIO_BLK_S_IOERR and nothing else.
 *
 * **Buffers alias guest memory.** `read` fills and `write` takes `buffers` that are zero-copy
 * views of the guest's buffers: use them before the returned promise settles and never keep them.
 *
 * **Durability.** A write that has completed (its promise resolved, or `submitWrite` called back
 * without an error) must be covered by the next `flush`: once `flush` resolves, every write that
 * completed before `flush` was called is on stable storage.
 *
 * **Concurrency.** The device issues up to its in-flight depth of operations at once, on several
 * queues; operations on overlapping ranges may be in flight together (the guest orders them, not
 * the device), so a backend needs no locking beyond what its storage needs.
 *
 * @example
 * ```ts
 * // A backend over an object store with 1 MiB objects.
 * const backend: BlockBackend = {
 *   size: 1 << 30,
 *   async read(offset, buffers) { for (const b of buffers) { await store.readInto(offset, b); offset += b.length; } },
 *   async write(offset, buffers) { for (const b of buffers) { await store.write(offset, b); offset += b.length; } },
 *   async flush() { await store.sync(); },
 * };
 * ```
 */
export interface BlockBackend {
  /** Size in bytes: a multiple of 512. Read when the device is created and by `resize()`. */
  readonly size: number;
  /** The storage cannot be written: the device then offers VIRTIO_BLK_F_RO. */
  readonly readOnly?: boolean;
  /**
   * WRITE_ZEROES with UNMAP may deallocate sectors (sets `write_zeroes_may_unmap`). It may turn
   * false later (FileBackend after EOPNOTSUPP): the device checks it after each DISCARD and
   * WRITE_ZEROES, clears the field and notifies the driver.
   */
  readonly canUnmap?: boolean;
  /**
   * Fills `buffers`, in order, with the bytes from `offset` on.
   * @param offset - byte offset, a multiple of 512.
   * @param buffers - destination views (their total length is a multiple of 512).
   */
  read(offset: number, buffers: readonly Uint8Array[]): void | Promise<void>;
  /**
   * Writes `buffers`, in order, from `offset` on.
   * @param offset - byte offset, a multiple of 512.
   * @param buffers - source views (their total length is a multiple of 512).
   */
  write(offset: number, buffers: readonly Uint8Array[]): void | Promise<void>;
  /**
   * Optional: `read` with a completion callback instead of a promise. When a backend has it, the
   * device calls it instead of `read`, which saves a promise and a microtask per request (what a
   * backend over callback-style I/O, like FileBackend over `fs`, completes through anyway).
   * Call `done` once: `done(null)` when every byte is in place, `done(error)` to fail the request
   * (IOERR). It may be called within the call or later; a synchronous throw fails the request
   * unless `done` came first; calls after the first are ignored.
   * @param offset - byte offset, a multiple of 512.
   * @param buffers - destination views (their total length is a multiple of 512), valid until `done`.
   * @param done - the completion callback.
   */
  submitRead?(offset: number, buffers: readonly Uint8Array[], done: (error: unknown) => void): void;
  /**
   * Optional: `write` with a completion callback instead of a promise, as `submitRead`.
   * @param offset - byte offset, a multiple of 512.
   * @param buffers - source views (their total length is a multiple of 512), valid until `done`.
   * @param done - the completion callback: `done(null)` once written, `done(error)` to fail.
   */
  submitWrite?(offset: number, buffers: readonly Uint8Array[], done: (error: unknown) => void): void;
  /** Makes every write that completed before this call stable (fdatasync for a file). */
  flush(): void | Promise<void>;
  /**
   * DISCARD: the range's contents become unspecified; the backend may deallocate it, or do nothing.
   * Without this method the device does not offer VIRTIO_BLK_F_DISCARD unless told to (and then
   * a discard does nothing).
   * @param offset - byte offset, a multiple of 512.
   * @param length - bytes, a multiple of 512.
   */
  discard?(offset: number, length: number): void | Promise<void>;
  /**
   * WRITE_ZEROES: the range reads as zeroes afterwards. Without this method the device writes
   * zero buffers through `write`.
   * @param offset - byte offset, a multiple of 512.
   * @param length - bytes, a multiple of 512.
   * @param unmap - the driver allows deallocation (hole punching) instead of writing zeroes.
   */
  writeZeroes?(offset: number, length: number, unmap: boolean): void | Promise<void>;
  /**
   * SECURE_ERASE: the range's previous contents become unrecoverable. Without this method the
   * device offers VIRTIO_BLK_F_SECURE_ERASE only when told to, and then writes zeroes and flushes.
   * @param offset - byte offset, a multiple of 512.
   * @param length - bytes, a multiple of 512.
   */
  secureErase?(offset: number, length: number): void | Promise<void>;
  /**
   * GET_LIFETIME: the wear report of the storage (eMMC/UFS style). With this method the device
   * offers VIRTIO_BLK_F_LIFETIME.
   * @returns the report; reserved values fail the request with IOERR.
   */
  lifetime?(): BlockLifetime | Promise<BlockLifetime>;
}
