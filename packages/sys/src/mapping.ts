/**
 * @packageDocumentation
 * Memory mappings of fds exposed as ArrayBuffers (mmap(2)/munmap(2)).
 *
 * A mapping's ArrayBuffer points straight at the mapped pages: writes through it are visible to
 * every other mapping of the same file (MAP_SHARED), in this process or another one. Unmapping
 * memory that JavaScript can still reach would crash the process (SIGSEGV), so {@link Mapping.close}
 * first detaches the ArrayBuffer: afterwards `buffer.byteLength` is 0, every view over it has length
 * 0, reads give `undefined` and writes are ignored; only then are the pages unmapped. A mapping that
 * is never closed is unmapped by a finaliser after its ArrayBuffer is garbage collected.
 */
import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { assertFd, assertInteger, assertOptions } from './assert.js';
import { fail } from './errors.js';
import { native } from './native.js';
import type { NativeMappingHandle } from './native.js';

/**
 * The longest single mapping this Node can expose as one ArrayBuffer (`buffer.constants.MAX_LENGTH`:
 * 2^32 bytes on Node 20, 2^53-1 on Node 22). Map larger regions as several consecutive mappings.
 * @example
 * ```ts
 * for (let off = 0; off < size; off += MAX_MAPPING_LENGTH) parts.push(mmap(fd, Math.min(MAX_MAPPING_LENGTH, size - off), { offset: off }));
 * ```
 */
export const MAX_MAPPING_LENGTH: number = Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER);

/**
 * Options of {@link mmap}.
 * @example
 * ```ts
 * mmap(fd, size, { offset: 4096 + 12, shared: true });
 * ```
 */
export interface MmapOptions {
  /**
   * Byte offset into the file. It need not be page aligned: the addon maps from the page below
   * and the ArrayBuffer starts exactly at `offset`. Default 0.
   */
  offset?: number | bigint;
  /**
   * true (default): MAP_SHARED, writes reach the file and every other mapping of it.
   * false: MAP_PRIVATE, copy-on-write; works on fds opened read-only.
   */
  shared?: boolean;
}

const kCreate = Symbol('Mapping.create');
const ENXIO = osConstants.errno.ENXIO;

/**
 * A mapping of `length` bytes of a file at `offset`, readable and writable through {@link Mapping.buffer}.
 * Create one with {@link mmap}. The mapping does not own the fd: closing the fd leaves the mapping valid.
 *
 * There is no read-only mapping on purpose: JavaScript can write any ArrayBuffer, and a write to
 * a PROT_READ page would kill the process. Use `shared: false` for a private copy-on-write view.
 *
 * @example
 * ```ts
 * const fd = memfdCreate('ram', 4096);
 * const m = mmap(fd, 4096);
 * new Uint8Array(m.buffer)[0] = 1;
 * m.close(); // m.buffer.byteLength === 0 now
 * closeFd(fd);
 * ```
 */
export class Mapping {
  /** The fd this mapping was made from (not owned; may already be closed); -1 for {@link mmapAnonymous}. */
  readonly fd: number;
  /** The mapped length in bytes (stays the same after close). */
  readonly length: number;
  /** The file offset of the first byte of {@link Mapping.buffer}. */
  readonly offset: number;
  /** Whether writes reach the file (MAP_SHARED). */
  readonly shared: boolean;
  #buffer: ArrayBuffer;
  #handle: NativeMappingHandle | undefined;

  /**
   * Internal: use {@link mmap}.
   * @param token - internal
   * @param fd - the mapped fd
   * @param length - mapped length
   * @param offset - file offset
   * @param shared - MAP_SHARED
   * @param buffer - the external ArrayBuffer
   * @param handle - the native owner record
   * @throws TypeError when called from outside the package
   * @example
   * ```ts
   * const m = mmap(fd, 4096); // not new Mapping(...)
   * ```
   */
  constructor(token: symbol, fd: number, length: number, offset: number, shared: boolean, buffer: ArrayBuffer, handle: NativeMappingHandle) {
    if (token !== kCreate) throw new TypeError('Mapping: use mmap() to create a mapping');
    this.fd = fd;
    this.length = length;
    this.offset = offset;
    this.shared = shared;
    this.#buffer = buffer;
    this.#handle = handle;
  }

  /**
   * The mapped memory. After {@link Mapping.close} it is detached (byteLength 0).
   * @returns the ArrayBuffer over the mapping
   * @example
   * ```ts
   * const u8 = new Uint8Array(mapping.buffer);
   * ```
   */
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }

  /**
   * Whether {@link Mapping.close} has run.
   * @returns true once closed
   * @example
   * ```ts
   * mapping.close(); mapping.closed; // true
   * ```
   */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Detaches {@link Mapping.buffer} (all views over it become empty), then unmaps the pages.
   * Idempotent. Never crashes the process, whatever views are still alive.
   *
   * @throws {@link SysError} `EINVAL` if the buffer could not be detached (the pages stay mapped)
   * @example
   * ```ts
   * const view = new Uint8Array(mapping.buffer);
   * mapping.close();
   * view.length; // 0
   * ```
   */
  close(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    const r = native.munmap(handle, this.#buffer);
    if (r < 0) {
      // A failed munmap still leaves the buffer detached and the record spent; a failed detach
      // leaves everything mapped and usable.
      if (native.lastSyscall() === 'munmap') this.#handle = undefined;
      throw fail(r);
    }
    this.#handle = undefined;
  }
}

/**
 * Maps `length` bytes of `fd`, from `offset`, into a new {@link Mapping} (PROT_READ|PROT_WRITE,
 * MAP_SHARED by default).
 *
 * For a regular file, memfd or block device the whole range must lie inside it: touching a page
 * past the end of a file raises SIGBUS, so such a request fails with `ENXIO` instead. A file that
 * another process shrinks after mapping (a vhost-user frontend truncating the memory it shared)
 * does not crash this process either: a SIGBUS handler, installed by the first `mmap`, replaces the
 * page of the mapping that faulted with a private zero page, so reads of the lost range give zeros
 * and writes to it stay private (see {@link truncatedPageFaults}). SIGBUS from anywhere else keeps
 * its previous disposition. Seal shared memfds (`memfdAddSeals(fd, { shrink: true })`) to rule the
 * case out.
 *
 * @param fd - an fd open for reading (and writing, for a shared mapping)
 * @param length - bytes to map, 1 to {@link MAX_MAPPING_LENGTH}
 * @param options - offset (any byte offset) and sharing
 * @returns the mapping
 * @throws {@link SysError} `ENXIO` (range past the end of the file), `EACCES` (fd not writable for
 *   a shared mapping), `EBADF`, `ENODEV` (fd cannot be mapped), `ENOMEM`
 * @throws TypeError / RangeError on bad arguments, or a length above {@link MAX_MAPPING_LENGTH}
 * @example
 * ```ts
 * // a vhost-user region: mmap_offset need not be page aligned
 * const region = mmap(fd, Number(memorySize), { offset: mmapOffset });
 * ```
 */
export function mmap(fd: number, length: number, options?: MmapOptions): Mapping {
  assertFd(fd, 'mmap');
  assertInteger(length, 'mmap: length', 1, Number.MAX_SAFE_INTEGER);
  if (length > MAX_MAPPING_LENGTH) throw new RangeError(`mmap: length ${length} exceeds MAX_MAPPING_LENGTH (${MAX_MAPPING_LENGTH}), the largest ArrayBuffer of this Node; map the range in parts`);
  assertOptions(options, 'mmap');
  let offset = options?.offset ?? 0;
  if (typeof offset === 'bigint') {
    if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`mmap: offset must be in [0, 2^53-1], got ${offset}`);
    offset = Number(offset);
  }
  assertInteger(offset, 'mmap: offset', 0, Number.MAX_SAFE_INTEGER);
  if (offset + length > Number.MAX_SAFE_INTEGER) throw new RangeError('mmap: offset + length must not exceed 2^53-1');
  const shared = options?.shared ?? true;
  const r = native.mmap(fd, length, offset, shared);
  if (typeof r === 'number') {
    let details = `fd ${fd}, length ${length}, offset ${offset}`;
    if (r === -ENXIO && native.lastSyscall() === 'mmap') details += `: the range ends past the end of the file (size ${native.fstatSize(fd)})`;
    throw fail(r, undefined, details);
  }
  return new Mapping(kCreate, fd, length, offset, shared, r[0], r[1]);
}

/**
 * Options of {@link mmapAnonymous}.
 * @example
 * ```ts
 * mmapAnonymous(64 << 20, { hugePages: true });
 * ```
 */
export interface MmapAnonymousOptions {
  /**
   * Ask for transparent huge pages: the mapping starts on a 2 MiB boundary and is advised
   * MADV_HUGEPAGE, so the kernel backs it with 2 MiB pages when
   * `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise` (with `never`, it stays
   * on 4 KiB pages). One TLB entry then covers 2 MiB instead of 4 KiB: random small accesses over a
   * large guest memory (descriptors, packet headers) miss the TLB far less, most of all inside a
   * VM, where every miss walks two page tables. Default false.
   */
  hugePages?: boolean;
}

/**
 * Maps `length` bytes of private anonymous memory (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
 * into a new {@link Mapping}: zero-filled, allocated on first touch, visible to this process only
 * (its `fd` is -1, `shared` false). This is what rust-vmm's `GuestMemoryMmap::from_ranges` uses for
 * guest RAM that no other process needs to map; with `hugePages` it is the fast configuration for
 * guest memory (see {@link MmapAnonymousOptions.hugePages}). Guest RAM shared with a vhost-user
 * peer needs a file: use {@link memfdCreate} and {@link mmap}.
 *
 * @param length - bytes to map, 1 to {@link MAX_MAPPING_LENGTH}
 * @param options - huge pages
 * @returns the mapping
 * @throws {@link SysError} `ENOMEM`; `EINVAL` from madvise when `hugePages` is asked of a kernel
 *   built without transparent huge pages
 * @throws TypeError / RangeError on bad arguments, or a length above {@link MAX_MAPPING_LENGTH}
 * @example
 * ```ts
 * const ram = mmapAnonymous(64 << 20, { hugePages: true });
 * const mem = GuestMemory.fromRegions([{ start: 0, backing: ram.buffer }]);
 * ```
 */
export function mmapAnonymous(length: number, options?: MmapAnonymousOptions): Mapping {
  assertInteger(length, 'mmapAnonymous: length', 1, Number.MAX_SAFE_INTEGER);
  if (length > MAX_MAPPING_LENGTH) throw new RangeError(`mmapAnonymous: length ${length} exceeds MAX_MAPPING_LENGTH (${MAX_MAPPING_LENGTH}), the largest ArrayBuffer of this Node; map the range in parts`);
  assertOptions(options, 'mmapAnonymous');
  const huge = options?.hugePages ?? false;
  if (typeof huge !== 'boolean') throw new TypeError(`mmapAnonymous: hugePages must be a boolean, got ${typeof huge}`);
  const r = native.mmapAnonymous(length, huge);
  if (typeof r === 'number') throw fail(r, undefined, `anonymous, length ${length}${huge ? ', huge pages' : ''}`);
  return new Mapping(kCreate, -1, length, 0, false, r[0], r[1]);
}

/**
 * How many times, process-wide, an access to a mapping made by {@link mmap} touched a page past the
 * end of its (shrunk) file and was answered with a private zero page instead of a SIGBUS crash.
 * Nonzero means some peer truncated a file it had shared: the data in the lost range is gone.
 *
 * @returns the count since the process started
 * @example
 * ```ts
 * if (truncatedPageFaults() > seen) console.warn('a shared memory file was truncated under us');
 * ```
 */
export function truncatedPageFaults(): number {
  return native.recoveredFaults();
}
