/**
 * Non-overlapping ranges in a balanced binary search tree (AVL), shared by PioBus and MmioBus:
 * registration, removal and lookup are all O(log n), as vm-device's BTreeMap-based bus is.
 *
 * Each node keeps its bounds twice: as bigints (exact over the 64-bit space) and as numbers
 * (`lo` = base, or +Infinity above 2^53 - 1; `hi` = last clamped to 2^53 - 1), so the lookup of a
 * `number` address walks the tree comparing doubles, with no allocation. Ranges are disjoint, so
 * the walk needs no predecessor search: left when the address is below the node, right when it is
 * above, done when it is inside. A last-hit node is checked first (a vCPU tends to hit the same
 * device again).
 */
import { DeviceOverlapError } from '../errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/** @internal One registered range. */
export class RangeNode<E> {
  left: RangeNode<E> | null = null;
  right: RangeNode<E> | null = null;
  height = 1;
  /** First byte as a number; +Infinity when above 2^53 - 1. */
  readonly lo: number;
  /** Last byte as a number, clamped to 2^53 - 1. */
  readonly hi: number;

  constructor(
    readonly entry: E,
    readonly base: bigint,
    readonly last: bigint,
  ) {
    this.lo = base <= MAX_SAFE_BIG ? Number(base) : Infinity;
    this.hi = last <= MAX_SAFE_BIG ? Number(last) : MAX_SAFE;
  }
}

type Link<E> = RangeNode<E> | null;

function height<E>(n: Link<E>): number {
  return n === null ? 0 : n.height;
}

function update<E>(n: RangeNode<E>): void {
  const l = height(n.left);
  const r = height(n.right);
  n.height = (l > r ? l : r) + 1;
}

function rotateRight<E>(n: RangeNode<E>): RangeNode<E> {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft<E>(n: RangeNode<E>): RangeNode<E> {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

function rebalance<E>(n: RangeNode<E>): RangeNode<E> {
  update(n);
  const bf = height(n.left) - height(n.right);
  if (bf > 1) {
    if (height(n.left!.left) < height(n.left!.right)) n.left = rotateLeft(n.left!);
    return rotateRight(n);
  }
  if (bf < -1) {
    if (height(n.right!.right) < height(n.right!.left)) n.right = rotateRight(n.right!);
    return rotateLeft(n);
  }
  return n;
}

function insertNode<E>(n: Link<E>, x: RangeNode<E>): RangeNode<E> {
  if (n === null) return x;
  if (x.base < n.base) n.left = insertNode(n.left, x);
  else n.right = insertNode(n.right, x);
  return rebalance(n);
}

function removeMin<E>(n: RangeNode<E>): Link<E> {
  if (n.left === null) return n.right;
  n.left = removeMin(n.left);
  return rebalance(n);
}

function removeNode<E>(n: Link<E>, base: bigint): Link<E> {
  if (n === null) return null;
  if (base < n.base) n.left = removeNode(n.left, base);
  else if (base > n.base) n.right = removeNode(n.right, base);
  else {
    if (n.left === null) return n.right;
    if (n.right === null) return n.left;
    let m = n.right;
    while (m.left !== null) m = m.left;
    m.right = removeMin(n.right);
    m.left = n.left;
    return rebalance(m);
  }
  return rebalance(n);
}

/** @internal */
export class RangeTable<E extends { readonly range: { toString(): string } }> {
  count = 0;
  private root: Link<E> = null;
  /** The node of the last successful number lookup. */
  private hit: Link<E> = null;
  /** Entries in address order, rebuilt after a change. */
  private list: E[] | null = [];

  /** A node whose range shares a byte with [base, last], or null. */
  findOverlap(base: bigint, last: bigint): Link<E> {
    let n = this.root;
    while (n !== null) {
      if (last < n.base) n = n.left;
      else if (base > n.last) n = n.right;
      else return n;
    }
    return null;
  }

  /** Adds a range. @throws DeviceOverlapError naming both ranges when it overlaps one. */
  insert(entry: E, base: bigint, last: bigint): void {
    const o = this.findOverlap(base, last);
    if (o !== null) throw new DeviceOverlapError(entry.range.toString(), o.entry.range.toString());
    this.root = insertNode(this.root, new RangeNode(entry, base, last));
    this.count++;
    this.list = null;
  }

  /** Removes a node found by a lookup; returns its entry. */
  remove(node: RangeNode<E>): E {
    this.root = removeNode(this.root, node.base);
    this.count--;
    this.list = null;
    if (this.hit === node) this.hit = null;
    return node.entry;
  }

  /** The node holding `addr` (a non-negative safe integer), or null. */
  findNumber(addr: number): Link<E> {
    const h = this.hit;
    if (h !== null && h.lo <= addr && addr <= h.hi) return h;
    let n = this.root;
    while (n !== null) {
      if (addr < n.lo) n = n.left;
      else if (addr > n.hi) n = n.right;
      else {
        this.hit = n;
        return n;
      }
    }
    return null;
  }

  /** The node holding `addr` (any bigint in the space), or null. */
  findBig(addr: bigint): Link<E> {
    if (addr <= MAX_SAFE_BIG) return this.findNumber(Number(addr));
    let n = this.root;
    while (n !== null) {
      if (addr < n.base) n = n.left;
      else if (addr > n.last) n = n.right;
      else return n;
    }
    return null;
  }

  /** Whether [addr, addr + length - 1] ends inside `node` (addr known to be in it). */
  endsInside(node: RangeNode<E>, addr: number, length: number): boolean {
    // `addr + length` is exact while it stays <= 2^53 - 1; beyond, a float sum can round down
    // (2^53 - 1 + 2 rounds to 2^53), so an access ending just past a range ending at 2^53 - 1
    // would pass a float comparison. Compare in bigints there.
    if (addr + length <= MAX_SAFE) return addr + length - 1 <= node.hi;
    return BigInt(addr) + BigInt(length) - 1n <= node.last;
  }

  /** Same as endsInside for a bigint address. */
  endsInsideBig(node: RangeNode<E>, addr: bigint, length: number): boolean {
    return addr + BigInt(length) - 1n <= node.last;
  }

  /** The entries in address order (a shared array: copy before handing it out). */
  entries(): readonly E[] {
    if (this.list === null) {
      const out: E[] = [];
      const stack: Array<RangeNode<E>> = [];
      let n = this.root;
      while (n !== null || stack.length > 0) {
        while (n !== null) {
          stack.push(n);
          n = n.left;
        }
        const top = stack.pop()!;
        out.push(top.entry);
        n = top.right;
      }
      this.list = out;
    }
    return this.list;
  }
}
