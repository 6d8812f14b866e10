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
 *
 * Inline reads: given a synchronous read function (`inlineRead`, a `preadv2` with RWF_NOWAIT on
 * the image: it returns a short count instead of waiting for the disk), small reads are served on
 * the spot, straight into the guest buffers; a short count sends the request down the
 * asynchronous path. A synchronous call cannot
 * outlive the session, so it needs no private buffer, and a read from the host page cache takes
 * a few microseconds, against tens for a round trip through libuv's thread pool (two thread
 * wake-ups) plus a promise, and it copies once where the asynchronous path copies twice (into the
 * private buffer, then on the event loop into the guest's).
 *
 * A reader that may wait for the disk (no RWF_NOWAIT on the image's file system: its `nowait` is
 * not true) blocks the event loop while it runs, so it is only used while it proves fast. A read
 * slower than `inlineSlowUs` plus 0.5 µs per KiB (the page cache copies at several GB/s; this
 * allows 2) means the data came from the disk, not the page cache, or that the process was
 * preempted (on a loaded host that happens every few thousand reads, and the first reads of a
 * process are slow while the code warms up and the guest's pages are first touched). Slow reads
 * feed a moving average over about the last 32 inline reads; three slow reads in a row, or about
 * four in 32, pause inline reads for `inlineCooldownMs`, doubling (up to 10 s) each time they are
 * paused again soon after resuming. A cold image therefore costs a few blocking reads per pause; a
 * stray preemption costs nothing. A `nowait` reader never pauses: it cannot wait for the disk, so
 * a slow read was a preemption or first-touch page faults, which the asynchronous path's copy into
 * the guest's buffers would pay too (they are still counted as slow). On a loaded 2-core host the
 * pauses had kept all but 13 of a guest's 65,414 1 MiB reads off the inline path.
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

/**
 * Options of {@link SessionSafeBackend}.
 * @example
 * ```ts
 * const o: SessionSafeOptions = { inlineRead: syncReader(fd) }; // preadv2 with RWF_NOWAIT
 * ```
 */
export interface SessionSafeOptions {
  /** Serves reads inline, synchronously ({@link InlineReader}; {@link syncReader} gives one). Without it every read is asynchronous. */
  readonly inlineRead?: InlineReader;
  /** Largest read served inline, in bytes. Default 1 MiB. */
  readonly inlineMaxBytes?: number;
  /** An inline read taking longer than this (microseconds) plus 0.5 µs per KiB counts as slow (and may pause inline reads, see the module notes). Default 100. */
  readonly inlineSlowUs?: number;
  /** How long inline reads first stay paused when too many are slow (milliseconds). Default 100. */
  readonly inlineCooldownMs?: number;
  /** Clock in milliseconds (tests). Default `performance.now`. */
  readonly now?: () => number;
}

/**
 * A synchronous read for {@link SessionSafeOptions.inlineRead}.
 * @example
 * ```ts
 * const r: InlineReader = syncReader(fd); // r.nowait: true while RWF_NOWAIT works
 * ```
 */
export interface InlineReader {
  /**
   * Reads `buffers` at `offset`. Fewer bytes than asked (or -1): the end of the file, or data not in
   * the page cache when the reader does not wait for the disk; the request then goes down the
   * asynchronous path. Throws on an I/O error.
   */
  (offset: number, buffers: readonly Uint8Array[]): number;
  /** True while the reader never waits for the disk (RWF_NOWAIT): slow reads then do not pause inline reads. */
  readonly nowait?: boolean;
}

/** Counters of a {@link SessionSafeBackend}. @example `const { inline, deferred } = backend.stats;` */
export interface SessionSafeStats {
  /** Reads served inline. */
  readonly inline: number;
  /** Reads and writes that went through a private buffer asynchronously. */
  readonly deferred: number;
  /** Inline reads slower than the threshold (counted for a `nowait` reader too, which they do not pause). */
  readonly slow: number;
  /** Times inline reads were paused. */
  readonly pauses: number;
}

const DEFAULT_INLINE_MAX = 1 << 20;
const DEFAULT_INLINE_SLOW_US = 100;
const DEFAULT_INLINE_COOLDOWN_MS = 100;
const MAX_COOLDOWN_MS = 10_000;
/** Time allowed per byte of an inline read on top of `inlineSlowUs`: 0.5 µs per KiB (2 GB/s). */
const MS_PER_BYTE = 0.0005 / 1024;
/** Weight of the latest inline read in the moving slow fraction (about the last 32 reads). */
const SLOW_WEIGHT = 1 / 32;
/** Slow fraction above which inline reads are paused: three slow reads in a row, or about four in 32. */
const PAUSE_FRACTION = 1 / 12;
/** A pause within this many inline reads of the previous one doubles the cooldown. */
const RELAPSE_READS = 64;

function positive(value: number | undefined, def: number, label: string): number {
  if (value === undefined) return def;
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) throw new RangeError(`SessionSafeBackend: ${label} must be a finite number >= 0, got ${String(value)}`);
  return value;
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
  private readonly inlineRead: InlineReader | null;
  private readonly inlineMax: number;
  private readonly slowMs: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  /** Inline reads are paused until this time (ms). */
  private inlineAfter = 0;
  /** Moving fraction of slow inline reads. */
  private slowFraction = 0;
  /** The current pause length (ms) and the inline reads done since the last pause. */
  private cooldown: number;
  private sincePause = Infinity;
  private inlineCount = 0;
  private deferredCount = 0;
  private slowCount = 0;
  private pauseCount = 0;

  /**
   * @param inner - the backend doing the I/O.
   * @param options - inline reads (see {@link SessionSafeOptions}).
   * @throws TypeError when `inner` lacks read, write or flush, or `inlineRead` is not a function.
   * @throws RangeError for a negative or non-finite threshold.
   * @example
   * ```ts
   * new SessionSafeBackend(fileBackend, { inlineRead: (offset, bufs) => readvSync(fileBackend.fd, bufs, offset) })
   * ```
   */
  constructor(inner: BlockBackend, options: SessionSafeOptions = {}) {
    if (typeof inner !== 'object' || inner === null || typeof inner.read !== 'function' || typeof inner.write !== 'function' || typeof inner.flush !== 'function') {
      throw new TypeError('SessionSafeBackend: inner must implement read, write and flush');
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('SessionSafeBackend: options must be an object');
    if (options.inlineRead !== undefined && typeof options.inlineRead !== 'function') throw new TypeError('SessionSafeBackend: inlineRead must be a function');
    this.inlineRead = options.inlineRead ?? null;
    this.inlineMax = positive(options.inlineMaxBytes, DEFAULT_INLINE_MAX, 'inlineMaxBytes');
    this.slowMs = positive(options.inlineSlowUs, DEFAULT_INLINE_SLOW_US, 'inlineSlowUs') / 1000;
    this.cooldownMs = positive(options.inlineCooldownMs, DEFAULT_INLINE_COOLDOWN_MS, 'inlineCooldownMs');
    this.cooldown = this.cooldownMs;
    this.now = options.now ?? (() => performance.now());
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
   * Counters: reads served inline, operations deferred through private buffers, slow inline reads.
   * @returns a snapshot.
   * @example
   * ```ts
   * console.log(backend.stats.inline);
   * ```
   */
  get stats(): SessionSafeStats {
    return { inline: this.inlineCount, deferred: this.deferredCount, slow: this.slowCount, pauses: this.pauseCount };
  }

  /**
   * Reads inline when it may (see the module notes): nothing is returned then, the data is in
   * place. Otherwise reads into a private buffer and copies into `buffers` if they are still
   * attached when the read completes.
   * @param offset - byte offset.
   * @param buffers - guest buffers (views of guest memory).
   * @returns nothing for an inline read, else a promise that settles when the data is in place
   *   (or dropped, for a dead session).
   * @throws whatever the wrapped backend (or the inline read) throws or rejects with.
   * @example
   * ```ts
   * await backend.read(0, [view]);
   * ```
   */
  read(offset: number, buffers: readonly Uint8Array[]): void | Promise<void> {
    const inline = this.inlineRead;
    if (inline !== null) {
      const total = totalLength(buffers);
      if (total <= this.inlineMax) {
        const t0 = this.now();
        if (t0 >= this.inlineAfter) {
          const n = inline(offset, buffers);
          if (n === total) {
            const t1 = this.now();
            this.sincePause++;
            if (t1 - t0 > this.slowMs + total * MS_PER_BYTE) {
              this.slowCount++;
              if (inline.nowait !== true) {
                this.slowFraction += (1 - this.slowFraction) * SLOW_WEIGHT;
                if (this.slowFraction > PAUSE_FRACTION) this.pause(t1);
              }
            } else {
              this.slowFraction -= this.slowFraction * SLOW_WEIGHT;
            }
            this.inlineCount++;
            return;
          }
          // A short read: not all in the page cache (a reader with RWF_NOWAIT returns at once
          // then), or the end of a file that shrank. The asynchronous path reads it all.
        }
      }
    }
    return this.deferredRead(offset, buffers);
  }

  /** Too many slow inline reads: asynchronous reads only for a while. */
  private pause(now: number): void {
    this.cooldown = this.sincePause <= RELAPSE_READS ? Math.min(this.cooldown * 2, MAX_COOLDOWN_MS) : this.cooldownMs;
    this.inlineAfter = now + this.cooldown;
    this.sincePause = 0;
    this.pauseCount++;
  }

  private async deferredRead(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    this.deferredCount++;
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
    this.deferredCount++;
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
