/**
 * Guest memory a vhost-user frontend shares with its backend: one memfd, mapped here as the
 * backing of a `@vmv/memory` GuestMemory, described to the backend by SET_MEM_TABLE as one region
 * (vhost-user.rst "Memory regions description"). The frontend virtual addresses of the region
 * (`userAddr`) are a fixed base plus the guest address: the backend only uses them to translate
 * SET_VRING_ADDR, so any consistent values serve.
 *
 * @module
 */

import { GuestMemory } from '@vmv/memory';
import { closeFd, type Mapping } from '@vmv/sys';
import { createMappedMemfd } from '../channel/fd.js';
import type { MemoryRegionDescription } from '../protocol/memory-table.js';

/** Where the frontend says the region is mapped in its own address space (any value serves). */
const USER_BASE = 0x7f00_0000_0000n;

/**
 * Options of {@link SharedGuestMemory.create}.
 *
 * @example
 * ```ts
 * const options: SharedGuestMemoryOptions = { name: 'vm0-ram', guestAddress: 0 };
 * ```
 */
export interface SharedGuestMemoryOptions {
  /** The memfd's name (in /proc/PID/maps). Default `vmv-guest-ram`. */
  readonly name?: string;
  /** Guest physical address of the first byte. Default 0. */
  readonly guestAddress?: number;
}

/**
 * Guest RAM in a memfd, shareable with a vhost-user backend.
 *
 * @example
 * ```ts
 * const ram = SharedGuestMemory.create(16 << 20);
 * await frontend.setMemTable(ram);
 * ram.memory.write(0x1000, bytes);
 * ram.close(); // after the frontend is closed
 * ```
 */
export class SharedGuestMemory {
  /** The guest memory over the mapping. */
  readonly memory: GuestMemory;
  /** The memfd (passed to the backend by SET_MEM_TABLE). */
  readonly fd: number;
  /** The region as SET_MEM_TABLE describes it. */
  readonly region: MemoryRegionDescription;
  private readonly mapping: Mapping;
  private closed = false;

  private constructor(fd: number, mapping: Mapping, memory: GuestMemory, region: MemoryRegionDescription) {
    this.fd = fd;
    this.mapping = mapping;
    this.memory = memory;
    this.region = region;
  }

  /**
   * Creates and maps a memfd of `size` bytes.
   * @param size - bytes (a positive multiple of the page size)
   * @param options - name, guest address
   * @returns the memory
   * @throws RangeError on a bad size or address
   * @throws Sys.SysError when memfd_create or mmap fail
   * @example
   * ```ts
   * const ram = SharedGuestMemory.create(8 << 20, { name: 'blk-test' });
   * ```
   */
  static create(size: number, options: SharedGuestMemoryOptions = {}): SharedGuestMemory {
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) throw new RangeError('SharedGuestMemory.create: size must be a positive multiple of 4096');
    const guestAddress = options.guestAddress ?? 0;
    if (!Number.isSafeInteger(guestAddress) || guestAddress < 0 || guestAddress % 4096 !== 0) {
      throw new RangeError('SharedGuestMemory.create: guestAddress must be a page-aligned non-negative integer');
    }
    const { fd, mapping } = createMappedMemfd(options.name ?? 'vmv-guest-ram', size);
    const memory = GuestMemory.fromRegions([{ start: guestAddress, backing: mapping.buffer, offset: 0, size }]);
    const region = { guestPhysAddr: BigInt(guestAddress), memorySize: BigInt(size), userAddr: USER_BASE + BigInt(guestAddress), mmapOffset: 0n };
    return new SharedGuestMemory(fd, mapping, memory, region);
  }

  /**
   * The frontend virtual address of a guest physical address (what SET_VRING_ADDR carries).
   * @param gpa - an address inside the region
   * @returns the address in the region's `userAddr` space
   * @throws RangeError outside the region
   * @example
   * ```ts
   * const uaddr = ram.userAddress(layout.descTable);
   * ```
   */
  userAddress(gpa: number): bigint {
    const off = BigInt(gpa) - this.region.guestPhysAddr;
    if (!Number.isSafeInteger(gpa) || off < 0n || off >= this.region.memorySize) throw new RangeError(`SharedGuestMemory.userAddress: ${gpa} is outside the region`);
    return this.region.userAddr + off;
  }

  /**
   * Unmaps and closes the memfd. Idempotent. The backend keeps its own mapping until it drops it.
   * @example
   * ```ts
   * ram.close();
   * ```
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mapping.close();
    closeFd(this.fd);
  }
}
