/**
 * Opening the disk image the daemon serves, with an {@link ImageError} that says what is wrong
 * and how to fix it: a missing file, a directory, a permission problem, a size that is not a
 * whole number of 512-byte sectors (VIRTIO 1.2 §5.2.4: capacity is in sectors), a qcow2 file.
 * Block devices are sized from sysfs, since fstat reports 0 bytes for them.
 * @module
 */

import { readFileSync, readSync, statSync, type Stats } from 'node:fs';
import type { BlockBackend } from '@vmv/block';
import { FileBackend } from '@vmv/block/node';
import { PREADV_MAX_BUFFERS, isSysError, preadv, punchHole } from '@vmv/sys';
import { ImageError } from './errors.js';
import type { InlineReader } from './session-safe-backend.js';

/** How to open an image: see {@link openImage}. @example `const o: OpenImageOptions = { image: 'disk.img', readonly: true };` */
export interface OpenImageOptions {
  /** The path. */
  readonly image: string;
  /** Open O_RDONLY and refuse writes. */
  readonly readonly?: boolean;
  /** Use O_DIRECT when the filesystem allows it. */
  readonly direct?: boolean;
  /** How messages name the program and its read-only flag (default vmv-vhost-user-blk's: `--readonly`). */
  readonly program?: {
    /** The program's name (`vmv-vhost-user-scsi`). */
    readonly name: string;
    /** Its flag that serves an image read-only (`--read-only`). */
    readonly readOnlyFlag: string;
  };
}

/**
 * An open image: the backend to give the block device, and facts for the logs.
 * @example
 * ```ts
 * const img = await openImage({ image: 'disk.img' });
 * console.log(img.kind, img.size, img.direct);
 * await img.close();
 * ```
 */
export interface OpenImage {
  /** The storage, for `new BlockDevice({ backend })`. */
  readonly backend: BlockBackend;
  /** The underlying file backend (fd, flush, close). */
  readonly file: FileBackend;
  /** Size in bytes (a multiple of 512). */
  readonly size: number;
  /** A regular file or a block device. */
  readonly kind: 'file' | 'block-device';
  /** Whether O_DIRECT is in use. */
  readonly direct: boolean;
  /** Read-only. */
  readonly readonly: boolean;
  /** Flushes (fdatasync) and closes the file. */
  close(): Promise<void>;
}

/** First bytes of a qcow2 image: "QFI\xfb". */
const QCOW2_MAGIC = 0x514649fb;

function errnoOf(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; typeof c === 'object' && c !== null && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    for (const code of [(c as { code?: unknown }).code, (c as { errno?: unknown }).errno]) {
      if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    }
  }
  return undefined;
}

function statImage(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT') {
      throw new ImageError(path, `image ${path} does not exist`, {
        details: `Create a raw image first, e.g.: truncate -s 1G ${path}   (or: qemu-img create -f raw ${path} 1G)`,
        cause: e,
      });
    }
    if (code === 'ENOTDIR') throw new ImageError(path, `image ${path}: a component of the path is not a directory`, { cause: e });
    if (code === 'EACCES') throw new ImageError(path, `image ${path}: permission denied (a directory on the path cannot be searched)`, { cause: e });
    throw new ImageError(path, `image ${path} cannot be examined: ${code ?? String(e)}`, { cause: e });
  }
}

/** Size of a block device from /sys/dev/block/MAJOR:MINOR/size (in 512-byte sectors). */
function blockDeviceSize(path: string, st: Stats): number {
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  try {
    const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
    if (!Number.isSafeInteger(sectors) || sectors < 0) throw new Error(`bad size ${sectors}`);
    return sectors * 512;
  } catch (e) {
    throw new ImageError(path, `cannot find the size of block device ${path} (${major}:${minor}) in /sys/dev/block`, { cause: e });
  }
}

/** A backend with a size taken from elsewhere (block devices: fstat says 0). */
class SizedBackend implements BlockBackend {
  readonly readOnly: boolean;
  readonly canUnmap: boolean;
  constructor(
    private readonly inner: FileBackend,
    readonly size: number,
  ) {
    this.readOnly = inner.readOnly;
    this.canUnmap = inner.canUnmap;
  }
  read(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.inner.read(offset, buffers);
  }
  write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.inner.write(offset, buffers);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  discard(offset: number, length: number): Promise<void> {
    return this.inner.discard(offset, length);
  }
  writeZeroes(offset: number, length: number, unmap: boolean): Promise<void> {
    return this.inner.writeZeroes(offset, length, unmap);
  }
}

/**
 * A synchronous positioned read on `fd` for {@link SessionSafeBackend}'s inline reads: preadv2
 * with RWF_NOWAIT, so it returns at once with what the host page cache holds and never waits for
 * the disk (a cache miss gives a short count, and the caller reads the request asynchronously).
 * On a file system without RWF_NOWAIT it falls back to a plain preadv (its `nowait` turns false),
 * and the caller's timing of slow reads takes over.
 * @param fd - an open file descriptor.
 * @returns a function reading `buffers` at `offset` and returning the bytes read: fewer than asked
 *   (0 or -1) when the data is not all in the page cache or there are more buffers than one preadv
 *   takes; the caller then reads asynchronously.
 * @throws (from the returned function) the system call's error (EIO, ...).
 * @example
 * ```ts
 * const read = syncReader(image.file.fd);
 * const n = read(0, [new Uint8Array(4096)]);
 * ```
 */
export function syncReader(fd: number): InlineReader {
  let nowait = true;
  const read = (offset: number, buffers: readonly Uint8Array[]): number => {
    if (buffers.length > PREADV_MAX_BUFFERS) return 0;
    if (nowait) {
      try {
        return preadv(fd, buffers, offset, { nowait: true }) ?? -1;
      } catch (e) {
        if (!isSysError(e, 'EOPNOTSUPP')) throw e;
        nowait = false;
      }
    }
    return preadv(fd, buffers, offset) ?? -1;
  };
  return Object.defineProperty(read, 'nowait', { get: () => nowait, enumerable: true }) as InlineReader;
}

/**
 * Opens a raw disk image for serving.
 * @param options - path, read-only, O_DIRECT.
 * @returns the open image.
 * @throws VhostUserBlk.ImageError when the path does not exist, is a directory or another kind of
 *   file, cannot be opened (EACCES, EROFS, ...), has a size that is not a multiple of 512 bytes,
 *   or is a qcow2 image.
 * @throws TypeError when `options.image` is not a non-empty string.
 * @example
 * ```ts
 * const img = await openImage({ image: '/var/lib/vm/disk.img', readonly: true });
 * const device = new BlockDevice({ backend: img.backend });
 * ```
 */
export async function openImage(options: OpenImageOptions): Promise<OpenImage> {
  const path = options.image;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('openImage: image must be a non-empty path');
  const readonly = options.readonly === true;
  const program = options.program ?? { name: 'vmv-vhost-user-blk', readOnlyFlag: '--readonly' };
  const st = statImage(path);
  if (st.isDirectory()) throw new ImageError(path, `image ${path} is a directory, not a disk image`, { details: 'Give the path of a raw image file or of a block device.' });
  const isBlock = st.isBlockDevice();
  if (!st.isFile() && !isBlock) throw new ImageError(path, `image ${path} is not a regular file or a block device`);

  let file: FileBackend;
  try {
    // DISCARD and WRITE_ZEROES with UNMAP free the image's blocks (fallocate PUNCH_HOLE) where the
    // filesystem can; elsewhere the file backend falls back to writing zeros.
    file = await FileBackend.open(path, { readOnly: readonly, direct: options.direct === true, punchHole });
  } catch (e) {
    const code = errnoOf(e);
    const mode = readonly ? 'reading' : 'reading and writing';
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ImageError(path, `cannot open image ${path} for ${mode}: permission denied`, {
        details: readonly ? 'Check the file permissions.' : `Check the file permissions, or export it read-only with ${program.readOnlyFlag}.`,
        cause: e,
      });
    }
    if (code === 'EROFS') {
      throw new ImageError(path, `cannot open image ${path} for writing: it is on a read-only filesystem`, { details: `Export it read-only with ${program.readOnlyFlag}.`, cause: e });
    }
    if (code === 'EBUSY' || code === 'ETXTBSY') throw new ImageError(path, `image ${path} is busy (${code})`, { cause: e });
    throw new ImageError(path, `cannot open image ${path}: ${code ?? (e instanceof Error ? e.message : String(e))}`, { cause: e });
  }

  try {
    const size = isBlock ? blockDeviceSize(path, st) : file.size;
    if (size % 512 !== 0) {
      throw new ImageError(path, `image ${path} is ${size} bytes, not a whole number of 512-byte sectors`, {
        details: `Pad it to a sector boundary, e.g.: truncate -s %512 ${path}`,
      });
    }
    if (size >= 4) {
      const head = new Uint8Array(4);
      let got = 0;
      try {
        got = readSync(file.fd, head, 0, 4, 0);
      } catch (e) {
        throw new ImageError(path, `cannot read image ${path}: ${errnoOf(e) ?? String(e)}`, { cause: e });
      }
      if (got === 4 && new DataView(head.buffer).getUint32(0) === QCOW2_MAGIC) {
        throw new ImageError(path, `image ${path} is a qcow2 image; ${program.name} serves raw images only`, {
          details: `Convert it: qemu-img convert -O raw ${path} ${path.replace(/\.qcow2$/, '')}.raw`,
        });
      }
    }
    const backend: BlockBackend = isBlock ? new SizedBackend(file, size) : file;
    let closed = false;
    return {
      backend,
      file,
      size,
      kind: isBlock ? 'block-device' : 'file',
      direct: file.direct,
      readonly,
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        try {
          if (!readonly) await file.flush();
        } finally {
          await file.close();
        }
      },
    };
  } catch (e) {
    await file.close().catch(() => undefined);
    throw e;
  }
}
