/**
 * Non-overlapping ranges in a balanced binary search tree (AVL), shared by PioBus and MmioBus:
 * registration, removal and lookup are all O(log n), as in vm-device's BTreeMap-based bus.
 *
 * The tree lives in typed arrays indexed by node id (bounds as doubles, child links and heights
 * as Int32Arrays), so a walk reads contiguous memory and allocates nothing. Each node keeps its
 * bounds twice: as bigints (exact over the 64-bit space) and as doubles (`lo` = base, or +Infinity
 * above 2^53 - 1; `hi` = last clamped to 2^53 - 1) for `number` addresses; a free id has the
 * empty bounds (+Infinity, -Infinity). A `number` lookup tries the node of the last hit, then a
 * hint table (one node id per hashed block of 2^keyShift addresses, filled by the walks), and
 * walks the tree only when both miss. A hint is only a guess: it is taken when the address lies
 * in that node's current bounds, and ranges are disjoint, so a stale hint (the node removed, its
 * id reused) can slow a lookup but never misdirect it. See the README for why and the figures.
 */
import { DeviceOverlapError } from '../errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);
const NIL = -1;
/**
 * The hint table: two-way sets (slots 2s and 2s + 1, most recent first), at least 8 slots per
 * range, from 64 up to 2^16 slots (simulated on the bench's layouts and on random blocks: with
 * fewer slots or one way, strided layouts or random blocks collide and walk much more often).
 */
const HINT_MIN_SLOT_BITS = 6;
const HINT_MAX_SLOT_BITS = 16;
const HINT_SLOTS_PER_RANGE = 8;
/** Fibonacci hashing (2^32 / golden ratio): consecutive blocks land on well-spread slots. */
const HINT_MULTIPLIER = 0x9e3779b1;

/** @internal */
export class RangeTable<E extends { readonly range: { toString(): string } }> {
  count = 0;
  /**
   * Bounds of node n as doubles, side by side (one cache line): `[2n]` is the first byte
   * (+Infinity when above 2^53 - 1), `[2n + 1]` the last byte, clamped to 2^53 - 1.
   */
  bounds = emptyBounds(8);
  /** Exact bounds of each node. */
  readonly base: bigint[] = [];
  readonly last: bigint[] = [];
  /** The entry of each node (undefined for a free id). */
  readonly entry: Array<E | undefined> = [];
  /** Children of node n: `[2n]` left, `[2n + 1]` right (-1 for none). */
  private kids = new Int32Array(16);
  private height = new Int32Array(8);
  private root = NIL;
  /** Node of the last successful number lookup (a guess: checked against its bounds). */
  private hit = 0;
  /** Hint table: node ids by hashed block of addresses (guesses, checked like `hit`). */
  private hint = new Int32Array(1 << HINT_MIN_SLOT_BITS);
  /** `32 - log2(number of sets)`: the set is the top bits of the hashed block number. */
  private hintShift = 32 - (HINT_MIN_SLOT_BITS - 1);
  /** 2^-keyShift: an address times this is its block number. */
  private readonly blockScale: number;
  private readonly freeIds: number[] = [];
  private used = 0;
  /** Entries in address order, rebuilt after a change. */
  private list: E[] | null = [];

  /** @param keyShift - log2 of the addresses per hint block (0 for PIO ports, 9 for MMIO). */
  constructor(keyShift: number) {
    this.blockScale = 2 ** -keyShift;
  }

  /** A node whose range shares a byte with [base, last], or -1. */
  findOverlap(base: bigint, last: bigint): number {
    let n = this.root;
    while (n !== NIL) {
      if (last < this.base[n]!) n = this.kids[2 * n]!;
      else if (base > this.last[n]!) n = this.kids[2 * n + 1]!;
      else return n;
    }
    return NIL;
  }

  /** Adds a range. @throws DeviceOverlapError naming both ranges when it overlaps one. */
  insert(entry: E, base: bigint, last: bigint): void {
    const o = this.findOverlap(base, last);
    if (o !== NIL) throw new DeviceOverlapError(entry.range.toString(), this.entry[o]!.range.toString());
    const id = this.allocId();
    this.bounds[2 * id] = base <= MAX_SAFE_BIG ? Number(base) : Infinity;
    this.bounds[2 * id + 1] = last <= MAX_SAFE_BIG ? Number(last) : MAX_SAFE;
    this.base[id] = base;
    this.last[id] = last;
    this.entry[id] = entry;
    this.kids[2 * id] = NIL;
    this.kids[2 * id + 1] = NIL;
    this.height[id] = 1;
    this.root = this.insertAt(this.root, id);
    this.count++;
    this.list = null;
    if (this.count * HINT_SLOTS_PER_RANGE > this.hint.length && this.hint.length < 1 << HINT_MAX_SLOT_BITS) {
      // A fresh, larger table: its zeros are guesses (node 0) like any other, refilled by walks.
      this.hint = new Int32Array(this.hint.length * 2);
      this.hintShift--;
    }
  }

  /** Removes node `id` (found by a lookup); returns its entry. */
  remove(id: number): E {
    const e = this.entry[id]!;
    this.root = this.removeAt(this.root, this.base[id]!);
    this.entry[id] = undefined;
    this.bounds[2 * id] = Infinity;
    this.bounds[2 * id + 1] = -Infinity;
    this.freeIds.push(id);
    this.count--;
    this.list = null;
    return e;
  }

  /** The node holding `addr` (a non-negative safe integer), or -1. */
  findNumber(addr: number): number {
    const b = this.bounds;
    let n = this.hit;
    if (b[2 * n]! <= addr && addr <= b[2 * n + 1]!) return n;
    // ToUint32 of the block number keeps its low 32 bits (exact: the block number is below 2^53).
    const slot = (Math.imul((addr * this.blockScale) >>> 0, HINT_MULTIPLIER) >>> this.hintShift) << 1;
    const hint = this.hint;
    n = hint[slot]!;
    if (b[2 * n]! <= addr && addr <= b[2 * n + 1]!) {
      this.hit = n;
      return n;
    }
    const older = hint[slot + 1]!;
    if (b[2 * older]! <= addr && addr <= b[2 * older + 1]!) {
      hint[slot + 1] = n;
      hint[slot] = older;
      this.hit = older;
      return older;
    }
    const found = this.walk(addr);
    if (found !== NIL) {
      hint[slot + 1] = n;
      hint[slot] = found;
      this.hit = found;
    }
    return found;
  }

  private walk(addr: number): number {
    const b = this.bounds;
    const kids = this.kids;
    let n = this.root;
    while (n !== NIL) {
      const i = 2 * n;
      if (addr < b[i]!) n = kids[i]!;
      else if (addr > b[i + 1]!) n = kids[i + 1]!;
      else return n;
    }
    return NIL;
  }

  /** The node holding `addr` (any bigint in the space), or -1. */
  findBig(addr: bigint): number {
    if (addr <= MAX_SAFE_BIG) return this.findNumber(Number(addr));
    let n = this.root;
    while (n !== NIL) {
      if (addr < this.base[n]!) n = this.kids[2 * n]!;
      else if (addr > this.last[n]!) n = this.kids[2 * n + 1]!;
      else return n;
    }
    return NIL;
  }

  /** Whether [addr, addr + length - 1] ends inside node `n` (addr known to be in it). */
  endsInside(n: number, addr: number, length: number): boolean {
    // `addr + length` is exact while it stays <= 2^53 - 1; beyond, a float sum can round down
    // (2^53 - 1 + 2 rounds to 2^53), so an access ending just past a range ending at 2^53 - 1
    // would pass a float comparison. Compare in bigints there.
    if (addr + length <= MAX_SAFE) return addr + length - 1 <= this.bounds[2 * n + 1]!;
    return BigInt(addr) + BigInt(length) - 1n <= this.last[n]!;
  }

  /** Same as endsInside for a bigint address. */
  endsInsideBig(n: number, addr: bigint, length: number): boolean {
    return addr + BigInt(length) - 1n <= this.last[n]!;
  }

  /** The entries in address order (a shared array: copy it before handing it out). */
  entries(): readonly E[] {
    if (this.list === null) {
      const out: E[] = [];
      const stack: number[] = [];
      let n = this.root;
      while (n !== NIL || stack.length > 0) {
        while (n !== NIL) {
          stack.push(n);
          n = this.kids[2 * n]!;
        }
        const top = stack.pop()!;
        out.push(this.entry[top]!);
        n = this.kids[2 * top + 1]!;
      }
      this.list = out;
    }
    return this.list;
  }

  // ---- tree maintenance ------------------------------------------------------------------

  private allocId(): number {
    const free = this.freeIds.pop();
    if (free !== undefined) return free;
    const id = this.used++;
    if (id === this.height.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      const bounds = emptyBounds(2 * id);
      bounds.set(this.bounds);
      this.bounds = bounds;
      this.kids = grow(this.kids);
      this.height = grow(this.height);
    }
    return id;
  }

  private h(n: number): number {
    return n === NIL ? 0 : this.height[n]!;
  }

  private update(n: number): void {
    const l = this.h(this.kids[2 * n]!);
    const r = this.h(this.kids[2 * n + 1]!);
    this.height[n] = (l > r ? l : r) + 1;
  }

  private rotateRight(n: number): number {
    const l = this.kids[2 * n]!;
    this.kids[2 * n] = this.kids[2 * l + 1]!;
    this.kids[2 * l + 1] = n;
    this.update(n);
    this.update(l);
    return l;
  }

  private rotateLeft(n: number): number {
    const r = this.kids[2 * n + 1]!;
    this.kids[2 * n + 1] = this.kids[2 * r]!;
    this.kids[2 * r] = n;
    this.update(n);
    this.update(r);
    return r;
  }

  private rebalance(n: number): number {
    this.update(n);
    const l = this.kids[2 * n]!;
    const r = this.kids[2 * n + 1]!;
    const bf = this.h(l) - this.h(r);
    if (bf > 1) {
      if (this.h(this.kids[2 * l]!) < this.h(this.kids[2 * l + 1]!)) this.kids[2 * n] = this.rotateLeft(l);
      return this.rotateRight(n);
    }
    if (bf < -1) {
      if (this.h(this.kids[2 * r + 1]!) < this.h(this.kids[2 * r]!)) this.kids[2 * n + 1] = this.rotateRight(r);
      return this.rotateLeft(n);
    }
    return n;
  }

  private insertAt(n: number, id: number): number {
    if (n === NIL) return id;
    if (this.base[id]! < this.base[n]!) this.kids[2 * n] = this.insertAt(this.kids[2 * n]!, id);
    else this.kids[2 * n + 1] = this.insertAt(this.kids[2 * n + 1]!, id);
    return this.rebalance(n);
  }

  private removeMin(n: number): number {
    if (this.kids[2 * n] === NIL) return this.kids[2 * n + 1]!;
    this.kids[2 * n] = this.removeMin(this.kids[2 * n]!);
    return this.rebalance(n);
  }

  private removeAt(n: number, base: bigint): number {
    if (n === NIL) return NIL;
    const b = this.base[n]!;
    if (base < b) this.kids[2 * n] = this.removeAt(this.kids[2 * n]!, base);
    else if (base > b) this.kids[2 * n + 1] = this.removeAt(this.kids[2 * n + 1]!, base);
    else {
      const l = this.kids[2 * n]!;
      const r = this.kids[2 * n + 1]!;
      if (l === NIL) return r;
      if (r === NIL) return l;
      let m = r;
      while (this.kids[2 * m] !== NIL) m = this.kids[2 * m]!;
      this.kids[2 * m + 1] = this.removeMin(r);
      this.kids[2 * m] = l;
      return this.rebalance(m);
    }
    return this.rebalance(n);
  }
}

/** Bounds for `ids` node ids, all empty (no number lies in [+Infinity, -Infinity]). */
function emptyBounds(ids: number): Float64Array {
  const b = new Float64Array(2 * ids);
  for (let i = 0; i < b.length; i += 2) {
    b[i] = Infinity;
    b[i + 1] = -Infinity;
  }
  return b;
}
