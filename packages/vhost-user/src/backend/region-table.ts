/**
 * The backend's view of the frontend's memory (vhost-user.rst "Memory access"): each region the
 * frontend shares (SET_MEM_TABLE, ADD_MEM_REG) is mapped from its fd with @vmv/sys and becomes a
 * region of a {@link GuestMemory} at its guest physical address. Ring addresses arrive as
 * frontend virtual addresses and are translated to guest physical addresses here.
 *
 * Safety: a mapping covers exactly `[mmap_offset, mmap_offset + memory_size)` of the fd the
 * frontend gave for that region (sys refuses a range past the end of the file), and every access
 * goes through GuestMemory's bounds checks, so nothing outside what the frontend gave is touched.
 * Removed or replaced regions are handed back to the connection, which unmaps them (detaching
 * their ArrayBuffers first) once the device no longer holds chains that may point into them.
 *
 * @module
 */

import { GuestMemory } from '@vmv/memory';
import { dupFd, mmap, type Mapping } from '@vmv/sys';
import { safeClose } from '../channel/fd.js';
import type { MemoryRegionDescription } from '../protocol/memory-table.js';
import { validateRegionLayout } from '../protocol/memory-table.js';
import { InvalidMemoryRegionError, InvalidOperationError, MapFailedError, MissingMemoryMappingError } from '../errors.js';

/** One mapped region: one mapping per chunk of at most {@link MAX_CHUNK} bytes. @internal */
export interface MappedRegion {
  readonly desc: MemoryRegionDescription;
  readonly chunks: readonly Mapping[];
  /** A copy of the region's fd, kept while it is mapped for queue workers to map it too; else null. */
  readonly fd: number | null;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/**
 * Largest single mapping. Node 20's external ArrayBuffers above 4 GiB are refused (and @vmv/sys
 * then aborts), so bigger regions are mapped as consecutive 4 GiB chunks: adjacent regions of one
 * GuestMemory, which reads and writes across.
 */
const MAX_CHUNK = 2 ** 32;

/**
 * The mapped regions of one connection. Not exported from the package.
 * @internal
 */
export class RegionTable {
  private regions: MappedRegion[] = [];
  private _memory: GuestMemory | null = null;
  private _generation = 0;

  /**
   * @param maxRegions - most regions at once (GET_MAX_MEM_SLOTS).
   * @param keepFds - keep a copy of each region's fd while it is mapped (queue workers map it too).
   */
  constructor(
    private readonly maxRegions: number,
    private readonly keepFds = false,
  ) {}

  /** The regions mapped now, in guest address order. */
  get mapped(): readonly MappedRegion[] {
    return this.regions;
  }

  /** The current guest memory, or null when no region is mapped. */
  get memory(): GuestMemory | null {
    return this._memory;
  }

  /** Bumped at every change of the table. */
  get generation(): number {
    return this._generation;
  }

  /** Number of regions mapped. */
  get count(): number {
    return this.regions.length;
  }

  /** Total bytes mapped. */
  get mappedBytes(): number {
    let n = 0;
    for (const r of this.regions) for (const c of r.chunks) n += c.length;
    return n;
  }

  /**
   * Replaces the whole table (SET_MEM_TABLE). Takes ownership of `fds` (closed here, mapped or
   * not). A region identical to a mapped one (same guest address, size, user address and mmap
   * offset: the same frontend mapping) keeps its mapping, so requests in flight over it are not
   * disturbed. On failure the previous table stays in place.
   * @returns the regions no longer in the table: the caller unmaps them with {@link RegionTable.release}
   */
  replace(descs: readonly MemoryRegionDescription[], fds: readonly number[]): readonly MappedRegion[] {
    const fresh: MappedRegion[] = [];
    try {
      if (descs.length > this.maxRegions) {
        throw new InvalidMemoryRegionError('more regions than memory slots', { count: descs.length, max: this.maxRegions });
      }
      const kept = new Set<MappedRegion>();
      const list = descs.map((d, i) => {
        const same = this.regions.find((r) => !kept.has(r) && sameRegion(r.desc, d));
        if (same !== undefined) {
          kept.add(same);
          return same;
        }
        const mapped = mapRegion(d, fds[i]!, this.keepFds);
        fresh.push(mapped);
        return mapped;
      });
      const memory = buildMemory(list);
      const removed = this.regions.filter((r) => !kept.has(r));
      this.regions = list;
      this._memory = memory;
      this._generation++;
      return removed;
    } catch (e) {
      unmapAll(fresh);
      throw e;
    } finally {
      for (const fd of fds) safeClose(fd);
    }
  }

  /** Adds one region (ADD_MEM_REG). Takes ownership of `fd`. */
  add(desc: MemoryRegionDescription, fd: number): void {
    let region: MappedRegion | undefined;
    try {
      if (this.regions.length >= this.maxRegions) {
        throw new InvalidMemoryRegionError('no free memory slot', { max: this.maxRegions });
      }
      region = mapRegion(desc, fd, this.keepFds);
      const list = [...this.regions, region].sort((a, b) => cmp(a.desc.guestPhysAddr, b.desc.guestPhysAddr));
      const memory = buildMemory(list);
      this.regions = list;
      this._memory = memory;
      this._generation++;
    } catch (e) {
      if (region !== undefined) unmapAll([region]);
      throw e;
    } finally {
      safeClose(fd);
    }
  }

  /**
   * Takes the region with this guest address, user address and size out of the table (REM_MEM_REG).
   * @returns the removed region: the caller unmaps it with {@link RegionTable.release}
   */
  remove(desc: MemoryRegionDescription): readonly MappedRegion[] {
    const idx = this.regions.findIndex(
      (r) => r.desc.guestPhysAddr === desc.guestPhysAddr && r.desc.userAddr === desc.userAddr && r.desc.memorySize === desc.memorySize,
    );
    if (idx < 0) {
      throw new InvalidOperationError('no such memory region', { gpa: desc.guestPhysAddr, uaddr: desc.userAddr, size: desc.memorySize });
    }
    const list = this.regions.slice();
    const gone = list.splice(idx, 1);
    this._memory = list.length === 0 ? null : buildMemory(list);
    this.regions = list;
    this._generation++;
    return gone;
  }

  /** Unmaps regions taken out of the table. */
  release(regions: readonly MappedRegion[]): void {
    unmapAll(regions);
  }

  /**
   * Translates a frontend virtual address to a guest physical address: the region whose user
   * range contains `[uaddr, uaddr + length)`.
   * @throws VhostUser.MissingMemoryMappingError when no region covers the range
   */
  translate(uaddr: bigint, length: number): bigint {
    const end = uaddr + BigInt(Math.max(length, 1));
    for (const r of this.regions) {
      const start = r.desc.userAddr;
      if (uaddr >= start && end <= start + r.desc.memorySize) return r.desc.guestPhysAddr + (uaddr - start);
    }
    throw new MissingMemoryMappingError({ uaddr, length, regions: this.regions.length });
  }

  /** Unmaps everything. */
  clear(): void {
    const old = this.regions;
    this.regions = [];
    this._memory = null;
    this._generation++;
    unmapAll(old);
  }
}

/** Whether two descriptions are the same frontend mapping (a table sent again keeps such a region's mapping). */
export function sameRegion(a: MemoryRegionDescription, b: MemoryRegionDescription): boolean {
  return a.guestPhysAddr === b.guestPhysAddr && a.memorySize === b.memorySize && a.userAddr === b.userAddr && a.mmapOffset === b.mmapOffset;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Maps one region from `fd` (not closed here), in chunks of at most {@link MAX_CHUNK} bytes.
 * @param keepFd - keep a copy of `fd` in the result (closed when the region is unmapped)
 * @throws VhostUser.InvalidMemoryRegionError / MapFailedError
 * @internal
 */
export function mapRegion(desc: MemoryRegionDescription, fd: number, keepFd = false): MappedRegion {
  if (desc.memorySize > MAX_SAFE || desc.mmapOffset + desc.memorySize > MAX_SAFE) {
    throw new InvalidMemoryRegionError('region too large to map', { size: desc.memorySize, mmapOffset: desc.mmapOffset });
  }
  const size = Number(desc.memorySize);
  const base = Number(desc.mmapOffset);
  const chunks: Mapping[] = [];
  try {
    for (let off = 0; off < size; off += MAX_CHUNK) {
      chunks.push(mmap(fd, Math.min(MAX_CHUNK, size - off), { offset: base + off, shared: true }));
    }
  } catch (e) {
    unmapChunks(chunks);
    throw new MapFailedError({ gpa: desc.guestPhysAddr, size: desc.memorySize, mmapOffset: desc.mmapOffset }, e);
  }
  if (!keepFd) return { desc, chunks, fd: null };
  try {
    return { desc, chunks, fd: dupFd(fd) };
  } catch (e) {
    unmapChunks(chunks);
    throw new MapFailedError({ gpa: desc.guestPhysAddr, size: desc.memorySize, mmapOffset: desc.mmapOffset }, e);
  }
}

/**
 * The guest memory made of mapped regions.
 * @throws VhostUser.InvalidMemoryRegionError when they overlap or do not form a valid memory
 * @internal
 */
export function buildMemory(list: readonly MappedRegion[]): GuestMemory {
  validateRegionLayout(list.map((r) => r.desc));
  const specs: { start: number | bigint; backing: ArrayBuffer }[] = [];
  for (const r of list) {
    let start = r.desc.guestPhysAddr;
    for (const c of r.chunks) {
      specs.push({ start: start < 2n ** 53n ? Number(start) : start, backing: c.buffer });
      start += BigInt(c.length);
    }
  }
  try {
    return GuestMemory.fromRegions(specs);
  } catch (e) {
    throw new InvalidMemoryRegionError('the regions do not form a valid guest memory', { cause: String(e) });
  }
}

/**
 * Unmaps regions (and closes the fds kept for them).
 * @internal
 */
export function unmapAll(list: readonly MappedRegion[]): void {
  for (const r of list) {
    unmapChunks(r.chunks);
    safeClose(r.fd);
  }
}

function unmapChunks(chunks: readonly Mapping[]): void {
  for (const c of chunks) {
    try {
      c.close();
    } catch {
      // sys leaves a mapping usable when the detach failed; nothing more can be done here
    }
  }
}

/** A guest address as @vmv/memory takes it: a number when it is safe, else the bigint. */
export function toGuestAddress(a: bigint): number | bigint {
  return a < 2n ** 53n ? Number(a) : a;
}
