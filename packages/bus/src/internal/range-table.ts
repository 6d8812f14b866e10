/**
 * Sorted, non-overlapping ranges with O(log n) lookup, shared by PioBus and MmioBus.
 *
 * The ranges are kept sorted by base in parallel arrays. Lookup of a `number` address is a
 * binary search over Float64Arrays of bases and lasts (plus a last-hit check), with no
 * allocation; `bigint` addresses above 2^53 use the bigint arrays. Registration and removal
 * find their place by binary search and then shift the arrays (a memmove of n entries), which
 * beats a balanced tree for any plausible device count and keeps lookup cache-friendly.
 */
import { DeviceOverlapError } from '../errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/** @internal */
export class RangeTable<E extends { readonly range: { toString(): string } }> {
  count = 0;
  /** Bases as numbers; +Infinity when the base is above 2^53 - 1. */
  loBase = new Float64Array(8);
  /** Lasts as numbers, clamped to 2^53 - 1. */
  loLast = new Float64Array(8);
  bigBase: bigint[] = [];
  bigLast: bigint[] = [];
  entries: E[] = [];
  /** Index of the last range hit, or -1. */
  hit = -1;

  /** Index of the first range whose base is > b (bigint search). */
  private upperBound(b: bigint): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.bigBase[mid]! <= b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The index of a range overlapping [base, last], or -1. */
  findOverlap(base: bigint, last: bigint): number {
    const pos = this.upperBound(base);
    if (pos > 0 && this.bigLast[pos - 1]! >= base) return pos - 1;
    if (pos < this.count && this.bigBase[pos]! <= last) return pos;
    return -1;
  }

  insert(entry: E, base: bigint, last: bigint): void {
    const o = this.findOverlap(base, last);
    if (o >= 0) throw new DeviceOverlapError(entry.range.toString(), this.entries[o]!.range.toString());
    const pos = this.upperBound(base);
    const n = this.count;
    if (n === this.loBase.length) {
      const nb = new Float64Array(n * 2);
      nb.set(this.loBase);
      this.loBase = nb;
      const nl = new Float64Array(n * 2);
      nl.set(this.loLast);
      this.loLast = nl;
    }
    this.loBase.copyWithin(pos + 1, pos, n);
    this.loLast.copyWithin(pos + 1, pos, n);
    this.loBase[pos] = base <= MAX_SAFE_BIG ? Number(base) : Infinity;
    this.loLast[pos] = last <= MAX_SAFE_BIG ? Number(last) : MAX_SAFE;
    this.bigBase.splice(pos, 0, base);
    this.bigLast.splice(pos, 0, last);
    this.entries.splice(pos, 0, entry);
    this.count = n + 1;
    this.hit = -1;
  }

  removeAt(i: number): E {
    const n = this.count;
    this.loBase.copyWithin(i, i + 1, n);
    this.loLast.copyWithin(i, i + 1, n);
    this.bigBase.splice(i, 1);
    this.bigLast.splice(i, 1);
    const [e] = this.entries.splice(i, 1);
    this.count = n - 1;
    this.hit = -1;
    return e!;
  }

  /** Index of the range holding `addr` (a non-negative safe integer), or -1. */
  findNumber(addr: number): number {
    const h = this.hit;
    const loBase = this.loBase;
    const loLast = this.loLast;
    if (h >= 0 && loBase[h]! <= addr && addr <= loLast[h]!) return h;
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (loBase[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found >= 0 && addr <= loLast[found]!) {
      this.hit = found;
      return found;
    }
    return -1;
  }

  /** Index of the range holding `addr` (any bigint in the space), or -1. */
  findBig(addr: bigint): number {
    if (addr <= MAX_SAFE_BIG) return this.findNumber(Number(addr));
    const pos = this.upperBound(addr) - 1;
    if (pos >= 0 && addr <= this.bigLast[pos]!) return pos;
    return -1;
  }

  /** Whether [addr, addr + length - 1] ends inside range i (addr known to be in it). */
  endsInside(i: number, addr: number, length: number): boolean {
    const end = addr + length - 1;
    const last = this.loLast[i]!;
    if (end <= last && end <= MAX_SAFE) return true;
    if (last < MAX_SAFE) return false;
    return BigInt(addr) + BigInt(length) - 1n <= this.bigLast[i]!;
  }

  /** Same as endsInside for a bigint address. */
  endsInsideBig(i: number, addr: bigint, length: number): boolean {
    return addr + BigInt(length) - 1n <= this.bigLast[i]!;
  }
}
