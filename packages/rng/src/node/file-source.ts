/**
 * {@link FileSource}: entropy from a file or character device (`/dev/urandom`, `/dev/hwrng`, a
 * FIFO, or a regular file of known bytes for tests), read in order with asynchronous reads, one
 * at a time even when several devices share it. A regular file that reaches its end gives no
 * more bytes: the device then reports `Rng.SourceExhaustedError` and the guest's request waits;
 * it is never handed a short or empty buffer passed off as random.
 * @module
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SourceError } from '../errors.js';
import type { EntropySource } from '../source.js';

function reason(e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/**
 * A file or device as an entropy source.
 * @example
 * ```ts
 * const file = await FileSource.open('/dev/urandom');
 * const device = new RngDevice({ source: file.read });
 * ```
 */
export class FileSource {
  /** The path opened. */
  readonly path: string;
  /** Bytes read so far. */
  bytesRead = 0;
  /** Whether it is a regular file (which can run out). */
  readonly regularFile: boolean;
  private readonly handle: FileHandle;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(path: string, handle: FileHandle, regularFile: boolean) {
    this.path = path;
    this.handle = handle;
    this.regularFile = regularFile;
  }

  /**
   * Opens `path` for reading.
   * @param path - a regular file, a character device or a FIFO.
   * @returns the source.
   * @throws Rng.SourceError (one line: the path and why) when it does not exist, cannot be read,
   *   or is a directory, a block device or a socket.
   * @example
   * ```ts
   * const src = await FileSource.open('/dev/urandom');
   * ```
   */
  static async open(path: string): Promise<FileSource> {
    if (typeof path !== 'string' || path === '') throw new TypeError('FileSource.open: path must be a non-empty string');
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw new SourceError(`${path} ${reason(e)}`, e);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile() && !st.isCharacterDevice() && !st.isFIFO()) {
        const what = st.isDirectory() ? 'a directory' : st.isBlockDevice() ? 'a block device' : 'not a file or character device';
        throw new SourceError(`${path} is ${what}; give a character device such as /dev/urandom or a regular file`);
      }
      return new FileSource(path, handle, st.isFile());
    } catch (e) {
      await handle.close();
      throw e instanceof SourceError ? e : new SourceError(`${path} ${reason(e)}`, e);
    }
  }

  /**
   * The {@link EntropySource}: the next bytes of the file, at most `length` (an empty array at the
   * end of a regular file). Calls are served one after another, in order.
   * @param length - bytes wanted.
   * @returns the bytes read.
   */
  readonly read: EntropySource = (length: number): Promise<Uint8Array> => {
    const next = this.tail.then(async () => {
      if (this.closed) throw new SourceError(`${this.path} is closed`);
      const buf = new Uint8Array(length);
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(buf, 0, length, null));
      } catch (e) {
        throw new SourceError(`reading ${this.path} failed: ${reason(e)}`, e);
      }
      this.bytesRead += bytesRead;
      return buf.subarray(0, bytesRead);
    });
    this.tail = next.catch(() => undefined);
    return next;
  };

  /**
   * Closes the file once the reads already asked for are done.
   * @returns when closed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.tail;
    this.closed = true;
    await this.handle.close();
  }
}
