/**
 * A {@link BlockBackend} over bytes in memory (an ArrayBuffer, a SharedArrayBuffer or a
 * Uint8Array): a RAM disk, a disk image fetched over the network in a browser, a test fixture.
 * Synchronous, so requests complete within the notification that submitted them.
 * @module
 */
import type { BlockBackend } from './backend.js';
import { SECTOR_SIZE } from './constants.js';
import { OutOfRangeError, ReadOnlyError } from './errors.js';

/** Options of a {@link MemoryBackend}. @example `new MemoryBackend(image, { readOnly: true })` */
export interface MemoryBackendOptions {
  /** Refuse writes (the device then offers VIRTIO_BLK_F_RO). Default false. */
  readOnly?: boolean;
}

function checkSize(size: number, label: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size % SECTOR_SIZE !== 0) throw new RangeError(`${label}: size must be a non-negative multiple of ${SECTOR_SIZE}, got ${size}`);
}

/**
 * An in-memory disk. Runs in browsers and in Node.
 * @example
 * ```ts
 * const disk = new MemoryBackend(16 << 20);           // 16 MiB of zeroes
 * const image = new MemoryBackend(new Uint8Array(await (await fetch('/disk.img')).arrayBuffer()));
 * const device = new BlockDevice({ backend: disk });
 * ```
 */
export class MemoryBackend implements BlockBackend {
  readonly readOnly: boolean;
  /** Discarded and zeroed ranges are simply zero-filled: nothing to deallocate. */
  readonly canUnmap = false;
  private bytes: Uint8Array;

  /**
   * @param sizeOrData - a size in bytes (zero-filled), or the disk contents (used in place, not copied).
   * @param options - see {@link MemoryBackendOptions}.
   * @throws RangeError when the size is not a multiple of 512.
   * @throws TypeError when `sizeOrData` is none of the accepted types.
   */
  constructor(sizeOrData: number | Uint8Array | ArrayBuffer | SharedArrayBuffer, options: MemoryBackendOptions = {}) {
    if (typeof sizeOrData === 'number') {
      checkSize(sizeOrData, 'MemoryBackend');
      this.bytes = new Uint8Array(sizeOrData);
    } else if (sizeOrData instanceof Uint8Array) {
      this.bytes = sizeOrData;
    } else if (sizeOrData instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && sizeOrData instanceof SharedArrayBuffer)) {
      this.bytes = new Uint8Array(sizeOrData);
    } else {
      throw new TypeError('MemoryBackend: expected a size, a Uint8Array, an ArrayBuffer or a SharedArrayBuffer');
    }
    checkSize(this.bytes.length, 'MemoryBackend');
    this.readOnly = options.readOnly === true;
  }

  /** Size in bytes. */
  get size(): number {
    return this.bytes.length;
  }

  /** The disk contents (live: replaced by `resize`). */
  get data(): Uint8Array {
    return this.bytes;
  }

  private range(op: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new OutOfRangeError(`${op}: ${length} bytes at ${offset} outside a ${this.bytes.length}-byte disk`);
    }
  }

  private writable(op: string): void {
    if (this.readOnly) throw new ReadOnlyError(op);
  }

  /**
   * Copies disk bytes into `buffers`.
   * @param offset - byte offset.
   * @param buffers - destinations.
   * @throws Block.OutOfRangeError when the range runs past the end.
   */
  read(offset: number, buffers: readonly Uint8Array[]): void {
    let total = 0;
    for (let i = 0; i < buffers.length; i++) total += buffers[i]!.length;
    this.range('read', offset, total);
    let at = offset;
    const src = this.bytes;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      b.set(src.subarray(at, at + b.length));
      at += b.length;
    }
  }

  /**
   * Copies `buffers` onto the disk.
   * @param offset - byte offset.
   * @param buffers - sources.
   * @throws Block.ReadOnlyError on a read-only backend; Block.OutOfRangeError past the end.
   */
  write(offset: number, buffers: readonly Uint8Array[]): void {
    this.writable('write');
    let total = 0;
    for (let i = 0; i < buffers.length; i++) total += buffers[i]!.length;
    this.range('write', offset, total);
    let at = offset;
    const dst = this.bytes;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      dst.set(b, at);
      at += b.length;
    }
  }

  /** Nothing to do: memory is as stable as it gets. */
  flush(): void {}

  /**
   * Zero-fills the range (a read after a discard is unspecified; zeroes are the simplest answer).
   * @param offset - byte offset.
   * @param length - bytes.
   * @throws Block.ReadOnlyError, Block.OutOfRangeError.
   */
  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  /**
   * Zero-fills the range.
   * @param offset - byte offset.
   * @param length - bytes.
   * @throws Block.ReadOnlyError, Block.OutOfRangeError.
   */
  writeZeroes(offset: number, length: number): void {
    this.writable('writeZeroes');
    this.range('writeZeroes', offset, length);
    this.bytes.fill(0, offset, offset + length);
  }

  /**
   * Changes the size: contents are kept up to the new size; new bytes are zero. Call the device's
   * `resize()` afterwards to tell the driver.
   * @param size - new size in bytes, a multiple of 512.
   * @throws RangeError when `size` is not a multiple of 512.
   * @example
   * ```ts
   * disk.resize(32 << 20); device.resize();
   * ```
   */
  resize(size: number): void {
    checkSize(size, 'MemoryBackend.resize');
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, Math.min(size, this.bytes.length)));
    this.bytes = next;
  }
}
