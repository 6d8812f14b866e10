/**
 * Dirty-page log of one guest memory region: one bit per page, set by every write made through
 * the {@link GuestMemory} API, read and cleared atomically for live migration (the same role as
 * vm-memory's `Bitmap`, and the source of a vhost-user `VHOST_USER_SET_LOG_BASE` log).
 *
 * Concurrency: the bitmap is an `Int32Array`. Markers set bits with `Atomics.or` after the data
 * is written; {@link DirtyPageLog.take} clears each word with `Atomics.exchange`. So a page dirtied
 * concurrently with a take is either in the words that take returns or still set for the next
 * take: it is never lost. When the backing is a SharedArrayBuffer the bitmap is allocated in a
 * SharedArrayBuffer too, so it can be handed to other threads (see `RegionSpec.dirtyBitmap`).
 *
 * @module
 */

/**
 * The dirty-page bitmap of one region. Bit `p % 32` of word `p >> 5` is page `p`, which covers
 * region offsets `p * pageSize .. (p + 1) * pageSize - 1`.
 *
 * @example
 * ```ts
 * const log = mem.regions[0].dirtyLog!;
 * mem.writeU32(0x1000, 1);
 * log.isDirty(0x1000); // true
 * const words = log.take(); // read and clear
 * ```
 */
export class DirtyPageLog {
  /** Bytes per page: a power of two, at least 64. */
  readonly pageSize: number;
  /** Number of pages (the last one may be partial). */
  readonly pageCount: number;
  /** The live bitmap (shared with every user of the region). Prefer {@link take} to reading it. */
  readonly bitmap: Int32Array;

  /**
   * @param regionSize - bytes in the region.
   * @param pageSize - bytes per page, a power of two at least 64.
   * @param shared - allocate the bitmap in a SharedArrayBuffer when one is available.
   * @param bitmap - an existing bitmap to use (for a log shared between threads).
   * @throws RangeError if the page size is not a power of two >= 64 or the bitmap is too small.
   */
  constructor(regionSize: number, pageSize: number, shared = false, bitmap?: Int32Array) {
    if (!Number.isSafeInteger(pageSize) || pageSize < 64 || pageSize > 2 ** 30 || (pageSize & (pageSize - 1)) !== 0) {
      throw new RangeError(`DirtyPageLog: dirtyPageSize must be a power of two in 64..2^30, got ${pageSize}`);
    }
    this.pageSize = pageSize;
    this.pageCount = Math.ceil(regionSize / pageSize);
    const words = Math.ceil(this.pageCount / 32);
    if (bitmap !== undefined) {
      if (Object.prototype.toString.call(bitmap) !== '[object Int32Array]' || bitmap.length < words) {
        throw new RangeError(`DirtyPageLog: dirtyBitmap must be an Int32Array of at least ${words} words`);
      }
      this.bitmap = bitmap;
    } else if (shared && typeof SharedArrayBuffer === 'function') {
      this.bitmap = new Int32Array(new SharedArrayBuffer(words * 4));
    } else {
      this.bitmap = new Int32Array(words);
    }
  }

  /**
   * Marks the pages covering `length` bytes at region offset `offset` as dirty.
   * @param offset - region offset of the first byte.
   * @param length - bytes written (0 marks nothing).
   * @example
   * ```ts
   * log.mark(0, 4096);
   * ```
   */
  mark(offset: number, length: number): void {
    if (length <= 0) return;
    const ps = this.pageSize;
    let p = Math.floor(offset / ps);
    const last = Math.floor((offset + length - 1) / ps);
    const bm = this.bitmap;
    // Reading first skips the read-modify-write when the bit is already set (repeated writes to
    // a hot page). Safe: a set bit seen after our data write means a later take() copies the data.
    for (; p <= last; p++) {
      const w = p >>> 5;
      const bit = 1 << (p & 31);
      if ((Atomics.load(bm, w) & bit) === 0) Atomics.or(bm, w, bit);
    }
  }

  /**
   * Whether the page holding region offset `offset` is dirty (without clearing it).
   * @param offset - a region offset.
   * @returns true if the page is marked.
   * @example
   * ```ts
   * log.isDirty(0x1000);
   * ```
   */
  isDirty(offset: number): boolean {
    const p = Math.floor(offset / this.pageSize);
    if (!(p >= 0 && p < this.pageCount)) return false;
    return (Atomics.load(this.bitmap, p >>> 5) & (1 << (p & 31))) !== 0;
  }

  /**
   * Reads and clears the log, word by word with `Atomics.exchange`, so that no concurrent mark
   * is lost: a page is either in the returned words or still marked afterwards.
   * @returns a new Uint32Array copy of the bitmap (bit `p % 32` of word `p >> 5` = page `p`).
   * @example
   * ```ts
   * const words = log.take();
   * ```
   */
  take(): Uint32Array {
    const bm = this.bitmap;
    const n = Math.ceil(this.pageCount / 32);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = Atomics.load(bm, i) === 0 ? 0 : Atomics.exchange(bm, i, 0);
    return out;
  }

  /**
   * Reads and clears the log like {@link take}, returning the dirty page numbers.
   * @returns the indexes of the dirty pages, ascending.
   * @example
   * ```ts
   * for (const page of log.takePages()) copyPage(page * log.pageSize);
   * ```
   */
  takePages(): number[] {
    const words = this.take();
    const pages: number[] = [];
    for (let i = 0; i < words.length; i++) {
      let w = words[i]!;
      while (w !== 0) {
        const b = 31 - Math.clz32(w & -w);
        pages.push(i * 32 + b);
        w = (w & (w - 1)) >>> 0;
      }
    }
    return pages;
  }

  /**
   * Clears every bit.
   * @example
   * ```ts
   * log.clear();
   * ```
   */
  clear(): void {
    const bm = this.bitmap;
    const n = Math.ceil(this.pageCount / 32);
    for (let i = 0; i < n; i++) Atomics.store(bm, i, 0);
  }
}
