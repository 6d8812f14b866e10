/**
 * A {@link BlockBackend} over a file or block device, for Node: asynchronous positioned I/O on
 * libuv's thread pool, straight between the file and guest memory (no intermediate copy), with
 * fdatasync on flush and optional O_DIRECT.
 *
 * What each command does here:
 * - read / write: `pread`/`preadv` and `pwrite`/`pwritev` on the views of guest memory the device
 *   hands over; partial transfers are continued, reads past the end of the file return zeroes.
 *   The device calls them through their callback forms (`submitRead`, `submitWrite`); completions
 *   that arrive while other operations run are delivered together at the end of the event-loop
 *   turn, so that the device answers them under one interrupt and submits the next ones together.
 * - flush: `fdatasync`.
 * - O_DIRECT (`direct: true`): JavaScript cannot align guest memory, so data goes through
 *   page-aligned bounce buffers (WebAssembly.Memory pages); an operation the kernel refuses with
 *   EINVAL (alignment) is redone through a second, buffered descriptor. If the file cannot be
 *   opened with O_DIRECT at all (tmpfs, some network filesystems) the backend is buffered and
 *   `direct` reads false.
 * - discard and write-zeroes with UNMAP: deallocating takes fallocate(2), which Node's `fs` does
 *   not offer and this pure-JavaScript package cannot call. With an injected `punchHole` function
 *   (for example from a native addon) the range is deallocated (FALLOC_FL_PUNCH_HOLE); without
 *   one, DISCARD does nothing (allowed: discarded sectors read back unspecified) and WRITE_ZEROES
 *   writes zeroes.
 * @module
 */
import { constants, fdatasync, fstat, ftruncate, open, close, read, readv, write, writev } from 'node:fs';
import type { BlockBackend } from '../backend.js';
import { SECTOR_SIZE } from '../constants.js';
import { IoError, ReadOnlyError } from '../errors.js';

/** Options of {@link FileBackend.open}. @example `await FileBackend.open('disk.img', { create: true, size: 1 << 30, direct: true })` */
export interface FileBackendOptions {
  /** Open read-only (the device then offers VIRTIO_BLK_F_RO). Default false. */
  readOnly?: boolean;
  /** Create the file if it does not exist (requires `size`). Default false. */
  create?: boolean;
  /** Set the file's length to this many bytes (a multiple of 512) after opening. */
  size?: number;
  /** Bypass the host page cache with O_DIRECT (Linux), through aligned bounce buffers. Default false. */
  direct?: boolean;
  /**
   * Deallocates `[offset, offset+length)` of the open file `fd`, so that it reads back as zeroes
   * (fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE). Node cannot make that call,
   * so without this function the backend never deallocates (DISCARD does nothing, WRITE_ZEROES
   * writes zeroes). Throw an error with code EOPNOTSUPP (or ENOTSUP, ENOSYS) when the filesystem
   * cannot: the backend then writes zeroes instead, for good. Any other error fails the request.
   * May return a promise. The package README has a complete N-API implementation.
   * @example
   * ```ts
   * // `punch` from a native addon: fallocate(fd, PUNCH_HOLE | KEEP_SIZE, offset, length), 0 or -errno
   * punchHole: (fd, offset, length) => {
   *   const r = punch(fd, offset, length);
   *   if (r === -95) throw Object.assign(new Error('EOPNOTSUPP'), { code: 'EOPNOTSUPP' });
   *   if (r < 0) throw Object.assign(new Error(`fallocate: errno ${-r}`), { code: 'EIO' });
   * }
   * ```
   */
  punchHole?: (fd: number, offset: number, length: number) => void | Promise<void>;
}

/** Largest single system call transfer (Node and Linux cap one call below 2 GiB). */
const MAX_CHUNK = 1 << 30;
/** Most buffers in one preadv/pwritev (IOV_MAX on Linux). */
const MAX_IOV = 1024;
/** Size of one O_DIRECT bounce buffer (a whole number of 64 KiB wasm pages). */
const BOUNCE_SIZE = 1 << 20;
const ZERO_CHUNK = 256 * 1024;

let zeroChunk: Uint8Array | null = null;

function checkSize(size: number, label: string): void {
  if (!Number.isSafeInteger(size) || size < 0 || size % SECTOR_SIZE !== 0) throw new RangeError(`${label}: size must be a non-negative multiple of ${SECTOR_SIZE}, got ${size}`);
}

function pOpen(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function pClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}

function pSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size))));
}

function pTruncate(fd: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => ftruncate(fd, size, (err) => (err ? reject(err) : resolve())));
}

function pSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** One positioned transfer of `buffers` (at most MAX_IOV, at most MAX_CHUNK bytes); resolves with the byte count. */
function pTransfer(fd: number, isWrite: boolean, buffers: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (err: NodeJS.ErrnoException | null, n: number) => (err ? reject(err) : resolve(n));
    if (buffers.length === 1) {
      const b = buffers[0]!;
      if (isWrite) write(fd, b, 0, b.length, position, done);
      else read(fd, b, 0, b.length, position, done);
    } else if (isWrite) {
      writev(fd, buffers, position, done);
    } else {
      readv(fd, buffers, position, done);
    }
  });
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
}

/**
 * Transfers all of `buffers` at `position`, continuing after partial transfers. A read that
 * meets the end of the file zero-fills the rest; a write that makes no progress fails.
 */
async function transferAll(fd: number, isWrite: boolean, position: number, buffers: readonly Uint8Array[]): Promise<void> {
  let i = 0;
  let skip = 0; // bytes of buffers[i] already done
  while (i < buffers.length) {
    const batch: Uint8Array[] = [];
    let total = 0;
    for (let j = i; j < buffers.length && batch.length < MAX_IOV && total < MAX_CHUNK; j++) {
      let b = buffers[j]!;
      if (j === i && skip > 0) b = b.subarray(skip);
      if (b.length > MAX_CHUNK - total) b = b.subarray(0, MAX_CHUNK - total);
      if (b.length > 0) batch.push(b);
      total += b.length;
    }
    if (total === 0) return;
    const n = await pTransfer(fd, isWrite, batch, position);
    if (n === 0) {
      if (isWrite) throw Object.assign(new Error('pwrite made no progress'), { code: 'EIO' });
      for (let j = i; j < buffers.length; j++) (j === i ? buffers[j]!.subarray(skip) : buffers[j]!).fill(0);
      return;
    }
    position += n;
    let left = n;
    while (left > 0 && i < buffers.length) {
      const room = buffers[i]!.length - skip;
      if (left < room) {
        skip += left;
        left = 0;
      } else {
        left -= room;
        i++;
        skip = 0;
      }
    }
    while (i < buffers.length && buffers[i]!.length === skip) {
      i++;
      skip = 0;
    }
  }
}

/**
 * Calls `done` when `op` settles: null, or the rejection (wrapped in a Block.IoError labelled
 * `label` when there is one; directIo's are already).
 */
function later(op: Promise<unknown>, done: (error: IoError | null) => void, label: string | null): void {
  op.then(
    () => done(null),
    (e: unknown) => done(label === null ? (e as IoError) : new IoError(label, e)),
  );
}

/** The WebAssembly.Memory constructor (typed here: the build has no DOM or wasm lib types). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/** Page-aligned scratch memory for O_DIRECT (a WebAssembly.Memory starts on a page boundary). */
class BouncePool {
  private readonly free: Uint8Array[] = [];
  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(new WasmMemory({ initial: BOUNCE_SIZE / 65536 }).buffer);
  }
  give(b: Uint8Array): void {
    if (this.free.length < 64) this.free.push(b);
  }
}

/**
 * A disk image file (or block device) as a {@link BlockBackend}. Node only: import it from
 * `@vmv/block/node`. The size comes from fstat, which reports 0 for a block device (Node has no
 * BLKGETSIZE64): wrap the backend with the device's real size in that case.
 * @example
 * ```ts
 * import { BlockDevice } from '@vmv/block';
 * import { FileBackend } from '@vmv/block/node';
 * const backend = await FileBackend.open('disk.img', { create: true, size: 1 << 30 });
 * const device = new BlockDevice({ backend, serial: 'disk0' });
 * // ... later
 * await backend.close();
 * ```
 */
export class FileBackend implements BlockBackend {
  /** The path the file was opened from. */
  readonly path: string;
  readonly readOnly: boolean;
  /** Whether I/O bypasses the page cache (O_DIRECT was requested and the open succeeded). */
  readonly direct: boolean;
  /** WRITE_ZEROES with UNMAP deallocates (a `punchHole` function was given and has not failed). */
  canUnmap: boolean;
  /** The file descriptor (buffered). */
  readonly fd: number;
  private readonly directFd: number;
  private readonly punch: FileBackendOptions['punchHole'];
  private readonly bounce = new BouncePool();
  private bytes: number;
  private closed = false;
  /** Single-buffer operations submitted and not yet called back. */
  private running = 0;
  /** Completions waiting for the end of the event-loop turn: callback, error, callback, error... */
  private settling: unknown[] | null = null;

  private constructor(path: string, fd: number, directFd: number, size: number, options: FileBackendOptions) {
    this.path = path;
    this.fd = fd;
    this.directFd = directFd;
    this.direct = directFd >= 0;
    this.bytes = size;
    this.readOnly = options.readOnly === true;
    this.punch = options.punchHole;
    this.canUnmap = typeof options.punchHole === 'function' && !this.readOnly;
  }

  /**
   * Opens a file as a backend.
   * @param path - the file (or block device) path.
   * @param options - see {@link FileBackendOptions}.
   * @returns the backend.
   * @throws RangeError when `size` is not a multiple of 512; Block.IoError when the file cannot be
   *   opened or sized (ENOENT, EACCES, ...).
   */
  static async open(path: string, options: FileBackendOptions = {}): Promise<FileBackend> {
    if (typeof path !== 'string') throw new TypeError('FileBackend.open: path must be a string');
    if (options.size !== undefined) checkSize(options.size, 'FileBackend.open');
    if (options.create === true && options.size === undefined) throw new RangeError('FileBackend.open: create requires size');
    const ro = options.readOnly === true;
    const base = (ro ? constants.O_RDONLY : constants.O_RDWR) | (options.create === true && !ro ? constants.O_CREAT : 0);
    let fd: number;
    try {
      fd = await pOpen(path, base, 0o644);
    } catch (e) {
      throw new IoError(`open ${path}`, e);
    }
    let directFd = -1;
    try {
      if (options.size !== undefined && !ro) await pTruncate(fd, options.size);
      if (options.direct === true && typeof constants.O_DIRECT === 'number') {
        try {
          directFd = await pOpen(path, (ro ? constants.O_RDONLY : constants.O_RDWR) | constants.O_DIRECT, 0);
        } catch {
          directFd = -1; // the filesystem does not do O_DIRECT: stay buffered
        }
      }
      const size = await pSize(fd);
      return new FileBackend(path, fd, directFd, size, options);
    } catch (e) {
      await pClose(fd).catch(() => undefined);
      if (directFd >= 0) await pClose(directFd).catch(() => undefined);
      throw new IoError(`open ${path}`, e);
    }
  }

  /** Size in bytes (as of open, the last `truncate` or `refreshSize`). */
  get size(): number {
    return this.bytes;
  }

  private writable(op: string): void {
    if (this.readOnly) throw new ReadOnlyError(op);
  }

  /**
   * Reads into `buffers` (zero-copy unless O_DIRECT).
   * @param offset - byte offset.
   * @param buffers - destinations.
   * @returns a promise that settles when all bytes are in place.
   * @throws Block.IoError (as a rejection) when the system call fails.
   */
  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => this.submitRead(offset, buffers, (e) => (e === null ? resolve() : reject(e))));
  }

  /**
   * Writes `buffers` (zero-copy unless O_DIRECT).
   * @param offset - byte offset.
   * @param buffers - sources.
   * @returns a promise that settles when all bytes are written (not necessarily stable: see `flush`).
   * @throws Block.ReadOnlyError on a read-only backend, Block.IoError on ENOSPC, EIO, ... (both as rejections).
   */
  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return new Promise((resolve, reject) => this.submitWrite(offset, buffers, (e) => (e === null ? resolve() : reject(e))));
  }

  /**
   * `read` with a completion callback (what the device uses: no promise per request). Completions
   * that arrive while other operations are running are delivered together at the end of the
   * event-loop turn (see `settle`).
   * @param offset - byte offset.
   * @param buffers - destinations.
   * @param done - called once: with null when all bytes are in place, else with a Block.IoError.
   */
  submitRead(offset: number, buffers: readonly Uint8Array[], done: (error: IoError | null) => void): void {
    if (this.direct) return later(this.directIo(false, offset, buffers), done, null);
    if (buffers.length === 1 && buffers[0]!.length <= MAX_CHUNK) return this.single(false, offset, buffers[0]!, done);
    later(transferAll(this.fd, false, offset, buffers), done, `preadv at ${offset}`);
  }

  /**
   * `write` with a completion callback, as {@link FileBackend.submitRead}.
   * @param offset - byte offset.
   * @param buffers - sources.
   * @param done - called once: with null when all bytes are written, else with a Block.ReadOnlyError or Block.IoError.
   */
  submitWrite(offset: number, buffers: readonly Uint8Array[], done: (error: IoError | ReadOnlyError | null) => void): void {
    if (this.readOnly) return done(new ReadOnlyError('write'));
    if (this.direct) return later(this.directIo(true, offset, buffers), done, null);
    if (buffers.length === 1 && buffers[0]!.length <= MAX_CHUNK) return this.single(true, offset, buffers[0]!, done);
    later(transferAll(this.fd, true, offset, buffers), done, `pwritev at ${offset}`);
  }

  /** One buffer, one pread/pwrite (the common case: a 4 KiB request is one guest buffer). */
  private single(isWrite: boolean, offset: number, b: Uint8Array, done: (error: IoError | null) => void): void {
    const op = isWrite ? 'pwrite' : 'pread';
    this.running++;
    const cb = (err: NodeJS.ErrnoException | null, n: number): void => {
      this.running--;
      if (err) return this.settle(done, new IoError(`${op} ${b.length} bytes at ${offset}`, err));
      if (n === b.length) return this.settle(done, null);
      // The rest of a short transfer. The buffer may have been detached meanwhile (guest memory
      // unmapped when the frontend went away): fail this request, never throw out of the callback.
      try {
        later(transferAll(this.fd, isWrite, offset + n, [b.subarray(n)]), done, `${op} at ${offset}`);
      } catch (e) {
        done(new IoError(`${op} at ${offset}`, e));
      }
    };
    try {
      if (isWrite) write(this.fd, b, 0, b.length, offset, cb);
      else read(this.fd, b, 0, b.length, offset, cb);
    } catch (e) {
      this.running--;
      done(new IoError(`${op} ${b.length} bytes at ${offset}`, e));
    }
  }

  /**
   * Delivers a completion: at once when nothing else is running (no wait at queue depth 1), else
   * with the others at the end of this event-loop turn (setImmediate runs after libuv has delivered
   * every completion of its poll phase), so that the device completes the turn's requests together,
   * under one interrupt, and submits the next ones together.
   */
  private settle(done: (error: IoError | null) => void, error: IoError | null): void {
    if (this.running === 0 && this.settling === null) return done(error);
    if (this.settling === null) {
      this.settling = [];
      setImmediate(this.settleAll);
    }
    this.settling.push(done, error);
  }

  private readonly settleAll = (): void => {
    const batch = this.settling!;
    this.settling = null;
    let i = 0;
    try {
      for (; i < batch.length; i += 2) (batch[i] as (error: IoError | null) => void)(batch[i + 1] as IoError | null);
    } finally {
      // A callback threw: its exception goes on (as one from an fs callback would), and the
      // completions after it are still delivered, on the next turn.
      if (i + 2 < batch.length) {
        const rest = batch.slice(i + 2);
        const queued = this.settling as unknown[] | null; // completions that came in meanwhile
        if (queued === null) setImmediate(this.settleAll);
        this.settling = queued === null ? rest : rest.concat(queued);
      }
    }
  };

  /** O_DIRECT through bounce buffers, one MiB at a time; EINVAL falls back to the buffered fd. */
  private async directIo(isWrite: boolean, offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const bounce = this.bounce.take();
    try {
      let i = 0;
      let skip = 0;
      let position = offset;
      while (i < buffers.length) {
        // Gather up to BOUNCE_SIZE bytes of the request.
        let n = 0;
        const startI = i;
        const startSkip = skip;
        while (i < buffers.length && n < BOUNCE_SIZE) {
          const b = buffers[i]!;
          const take = Math.min(b.length - skip, BOUNCE_SIZE - n);
          if (isWrite) bounce.set(b.subarray(skip, skip + take), n);
          n += take;
          skip += take;
          if (skip === b.length) {
            i++;
            skip = 0;
          }
        }
        if (n === 0) break;
        const chunk = bounce.subarray(0, n);
        try {
          await transferAll(this.directFd, isWrite, position, [chunk]);
        } catch (e) {
          if (errCode(e) !== 'EINVAL') throw e;
          await transferAll(this.fd, isWrite, position, [chunk]);
        }
        if (!isWrite) {
          // Scatter the chunk back into the request's buffers.
          let at = 0;
          let k = startI;
          let s = startSkip;
          while (at < n) {
            const b = buffers[k]!;
            const take = Math.min(b.length - s, n - at);
            b.set(chunk.subarray(at, at + take), s);
            at += take;
            s += take;
            if (s === b.length) {
              k++;
              s = 0;
            }
          }
        }
        position += n;
      }
    } catch (e) {
      throw new IoError(`${isWrite ? 'pwrite' : 'pread'} (O_DIRECT) at ${offset}`, e);
    } finally {
      this.bounce.give(bounce);
    }
  }

  /**
   * fdatasync: every write that completed before the call is on stable storage when it resolves.
   * @returns a promise.
   * @throws Block.IoError (as a rejection) when the sync fails.
   */
  flush(): Promise<void> {
    return pSync(this.fd).catch((e: unknown) => {
      throw new IoError('fdatasync', e);
    });
  }

  /**
   * DISCARD: punches a hole with the `punchHole` function when there is one; otherwise does nothing.
   * @param offset - byte offset.
   * @param length - bytes.
   * @returns a promise.
   * @throws Block.ReadOnlyError on a read-only backend; Block.IoError when hole punching fails (other than EOPNOTSUPP).
   */
  async discard(offset: number, length: number): Promise<void> {
    this.writable('discard');
    if (!this.canUnmap) return;
    await this.tryPunch(offset, length);
  }

  /**
   * WRITE_ZEROES: punches a hole when `unmap` is allowed and a `punchHole` function works, else
   * writes zeroes.
   * @param offset - byte offset.
   * @param length - bytes.
   * @param unmap - deallocation allowed.
   * @returns a promise.
   * @throws Block.ReadOnlyError on a read-only backend; Block.IoError on a failed write.
   */
  async writeZeroes(offset: number, length: number, unmap = false): Promise<void> {
    this.writable('writeZeroes');
    if (unmap && this.canUnmap && (await this.tryPunch(offset, length))) return;
    if (zeroChunk === null) zeroChunk = new Uint8Array(ZERO_CHUNK);
    const z = zeroChunk;
    const iov: Uint8Array[] = [];
    for (let left = length; left > 0; left -= z.length) iov.push(left >= z.length ? z : z.subarray(0, left));
    try {
      await transferAll(this.fd, true, offset, iov);
    } catch (e) {
      throw new IoError(`write zeroes ${length} bytes at ${offset}`, e);
    }
  }

  /** Punches a hole; false when the filesystem cannot (then never tried again). */
  private async tryPunch(offset: number, length: number): Promise<boolean> {
    try {
      await this.punch!(this.fd, offset, length);
      return true;
    } catch (e) {
      const code = errCode(e);
      if (code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'ENOSYS') {
        this.canUnmap = false;
        return false;
      }
      throw new IoError(`punch hole ${length} bytes at ${offset}`, e);
    }
  }

  /**
   * Sets the file's length (grow or shrink). Call the device's `resize()` afterwards.
   * @param size - bytes, a multiple of 512.
   * @returns a promise.
   * @throws RangeError for a bad size; Block.ReadOnlyError; Block.IoError.
   */
  async truncate(size: number): Promise<void> {
    checkSize(size, 'FileBackend.truncate');
    this.writable('truncate');
    try {
      await pTruncate(this.fd, size);
    } catch (e) {
      throw new IoError(`ftruncate ${size}`, e);
    }
    this.bytes = size;
  }

  /**
   * Re-reads the file's length (after it changed outside this backend).
   * @returns the size in bytes.
   * @throws Block.IoError when fstat fails.
   */
  async refreshSize(): Promise<number> {
    try {
      this.bytes = await pSize(this.fd);
    } catch (e) {
      throw new IoError('fstat', e);
    }
    return this.bytes;
  }

  /**
   * Closes the file. Wait for the device's `drain()` first if requests may be running.
   * @returns a promise.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await pClose(this.fd);
    if (this.directFd >= 0) await pClose(this.directFd);
  }
}
