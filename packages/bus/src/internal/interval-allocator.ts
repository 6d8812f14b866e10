/**
 * Free-list allocator over an inclusive integer interval [min, max] (bigints): first fit with
 * alignment, fixed placement, exact release with coalescing.
 */

/** @internal */
export class IntervalAllocator {
  /** Free intervals [start, end], sorted, disjoint and non-adjacent. */
  private readonly freeList: Array<[bigint, bigint]>;
  /** Allocated blocks: base -> size. */
  private readonly blocks = new Map<bigint, bigint>();

  constructor(
    readonly min: bigint,
    readonly max: bigint,
  ) {
    this.freeList = [[min, max]];
  }

  freeCount(): bigint {
    let n = 0n;
    for (const [s, e] of this.freeList) n += e - s + 1n;
    return n;
  }

  allocateFirstFit(size: bigint, align: bigint): bigint | undefined {
    for (let i = 0; i < this.freeList.length; i++) {
      const [s, e] = this.freeList[i]!;
      const start = ((s + align - 1n) / align) * align;
      if (start + size - 1n <= e) {
        this.carve(i, start, size);
        return start;
      }
    }
    return undefined;
  }

  allocateAt(base: bigint, size: bigint): boolean {
    for (let i = 0; i < this.freeList.length; i++) {
      const [s, e] = this.freeList[i]!;
      if (base >= s && base <= e) {
        if (base + size - 1n > e) return false;
        this.carve(i, base, size);
        return true;
      }
      if (s > base) return false;
    }
    return false;
  }

  private carve(i: number, start: bigint, size: bigint): void {
    const [s, e] = this.freeList[i]!;
    const end = start + size - 1n;
    const parts: Array<[bigint, bigint]> = [];
    if (start > s) parts.push([s, start - 1n]);
    if (end < e) parts.push([end + 1n, e]);
    this.freeList.splice(i, 1, ...parts);
    this.blocks.set(start, size);
  }

  isAllocated(base: bigint, size: bigint): boolean {
    return this.blocks.get(base) === size;
  }

  release(base: bigint, size: bigint): boolean {
    if (this.blocks.get(base) !== size) return false;
    this.blocks.delete(base);
    const end = base + size - 1n;
    let i = 0;
    while (i < this.freeList.length && this.freeList[i]![0] < base) i++;
    let start = base;
    let last = end;
    let from = i;
    let count = 0;
    const prev = this.freeList[i - 1];
    if (prev !== undefined && prev[1] + 1n === base) {
      start = prev[0];
      from = i - 1;
      count++;
    }
    const next = this.freeList[i];
    if (next !== undefined && end + 1n === next[0]) {
      last = next[1];
      count++;
    }
    this.freeList.splice(from, count, [start, last]);
    return true;
  }

  allocatedBlocks(): Array<readonly [bigint, bigint]> {
    return [...this.blocks.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
