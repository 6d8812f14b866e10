/**
 * Inflight I/O tracking for packed virtqueues, in the shared buffer layout of vhost-user.rst
 * "Inflight I/O tracking" (QueueRegionPacked / DescStatePacked; DPDK's
 * rte_vhost_inflight_info_packed is the same). Each chain popped is copied into a list of
 * entries taken from a free list; using it returns the list; the `old_*` fields are the last
 * consistent state, so a restarted backend rolls back or commits a half-done update.
 *
 * Layout of one queue region (native byte order):
 * ```
 *   0 u64 features  8 u16 version (1)  10 u16 desc_num  12 u16 free_head  14 u16 old_free_head
 *  16 u16 used_idx  18 u16 old_used_idx  20 u8 used_wrap_counter  21 u8 old_used_wrap_counter
 *  22 u8 padding[7]
 *  32 DescStatePacked desc[desc_num], 32 bytes each: 0 u8 inflight, 1 u8 padding, 2 u16 next,
 *     4 u16 last, 6 u16 num, 8 u64 counter, 16 u16 id, 18 u16 flags, 20 u32 len, 24 u64 addr
 * ```
 * The region comes back from the frontend, so recovery checks every index and link: each entry
 * must be on the free list or in exactly one in-flight chain, else VhostUser.InvalidInflightError.
 *
 * @module
 */

import { GuestMemory, type GuestAddress } from '@vmv/memory';
import { QueueConfig, createVirtqueue, packedRingSizes, type Virtqueue } from '@vmv/queue';
import { NATIVE_LITTLE_ENDIAN as LE } from '../protocol/constants.js';
import { InvalidInflightError } from '../errors.js';
import { INFLIGHT_VERSION } from './inflight-region.js';
import { toGuestAddress } from './region-table.js';

const HEADER = 32;
const DESC = 32;
const NONE = 0xffff;
const F_NEXT = 1;
const F_WRITE = 2;
const F_INDIRECT = 4;
const F_AVAIL = 1 << 7;
const F_USED = 1 << 15;
const PAGE = 4096;

// header fields
const VERSION = 8;
const DESC_NUM = 10;
const FREE_HEAD = 12;
const OLD_FREE_HEAD = 14;
const USED_IDX = 16;
const OLD_USED_IDX = 18;
const USED_WRAP = 20;
const OLD_USED_WRAP = 21;
// DescStatePacked fields
const INFLIGHT = 0;
const NEXT = 2;
const LAST = 4;
const NUM = 6;
const COUNTER = 8;
const ID = 16;
const FLAGS = 18;
const LEN = 20;
const ADDR = 24;

/**
 * Bytes of one packed queue region for `queueSize` descriptors (header + states, rounded up to 64).
 *
 * @param queueSize - the virtqueue size (1..32768)
 * @returns the region size in bytes
 * @example
 * ```ts
 * packedInflightQueueRegionSize(128); // 32 + 32 × 128 = 4128, rounded up to 4160
 * ```
 */
export function packedInflightQueueRegionSize(queueSize: number): number {
  return Math.ceil((HEADER + DESC * queueSize) / 64) * 64;
}

/** One chain a previous backend left in flight. */
export interface PackedInflightChain {
  /** Its first DescStatePacked entry. */
  readonly entry: number;
  /** Its buffer ID (from its last descriptor). */
  readonly id: number;
  /** Its ring descriptors. */
  readonly num: number;
}

/** What recovery found in a packed queue region. */
export interface PackedInflightRecovery {
  /** Chains in flight, in submission order (by counter). */
  readonly chains: readonly PackedInflightChain[];
  /** The device's next used ring position and wrap counter after the rollback or commit. */
  readonly usedIdx: number;
  readonly usedWrap: number;
}

/**
 * One queue's packed region of an inflight buffer. Not exported from the package.
 * @internal
 */
export class PackedInflightQueue {
  private readonly view: DataView;
  /** Per buffer ID: its chain's first entry, or NONE. */
  private readonly entryOf = new Uint16Array(65536).fill(NONE);
  /** Set when the region stopped making sense mid-run (changed under us): tracking stops. */
  private lost = false;

  /**
   * @param buffer - the mapped inflight buffer
   * @param offset - byte offset of this queue's region
   * @param capacity - the ring size (desc entries of the region)
   * @param memory - guest memory holding the descriptor ring
   * @param ring - guest address of the descriptor ring
   */
  constructor(
    buffer: ArrayBuffer,
    offset: number,
    readonly capacity: number,
    private memory: GuestMemory,
    private ring: GuestAddress,
  ) {
    this.view = new DataView(buffer, offset, packedInflightQueueRegionSize(capacity));
  }

  /** The version field (0: uninitialised). */
  get version(): number {
    return this.view.getUint16(VERSION, LE);
  }

  /** The desc_num field. */
  get descNum(): number {
    return this.view.getUint16(DESC_NUM, LE);
  }

  /**
   * The ring was rebuilt over a new memory table: descriptors are read from there from now on.
   * @param memory - the new guest memory
   * @param ring - guest address of the descriptor ring
   */
  rebind(memory: GuestMemory, ring: GuestAddress): void {
    this.memory = memory;
    this.ring = ring;
  }

  /** Whether tracking stopped because the region changed under the backend. */
  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Clears the region: every entry free, the device's used position `usedIdx` / `usedWrap`.
   * @param usedIdx - the ring's next used position
   * @param usedWrap - its wrap counter
   */
  initialize(usedIdx: number, usedWrap: number): void {
    const v = this.view;
    const n = this.capacity;
    new Uint8Array(v.buffer, v.byteOffset, v.byteLength).fill(0);
    for (let e = 0; e < n; e++) v.setUint16(HEADER + DESC * e + NEXT, e + 1, LE);
    v.setUint16(USED_IDX, usedIdx, LE);
    v.setUint16(OLD_USED_IDX, usedIdx, LE);
    v.setUint8(USED_WRAP, usedWrap);
    v.setUint8(OLD_USED_WRAP, usedWrap);
    v.setUint16(DESC_NUM, n, LE);
    v.setUint16(VERSION, INFLIGHT_VERSION, LE);
    this.entryOf.fill(NONE);
    this.lost = false;
  }

  /**
   * A chain was fetched: records its ring descriptors `from`..`to` (exclusive, mod the size) in
   * the order of vhost-user.rst "When receiving available buffers".
   * @param id - its buffer ID
   * @param counter - the global fetch counter (a non-negative safe integer)
   * @param from - its first ring position
   * @param to - the ring position after it (equal to `from`: the whole ring)
   */
  markInflight(id: number, counter: number, from: number, to: number): void {
    if (this.lost) return;
    const v = this.view;
    const n = this.capacity;
    const count = to > from ? to - from : to - from + n;
    const head = v.getUint16(OLD_FREE_HEAD, LE);
    let free = v.getUint16(FREE_HEAD, LE);
    if (head !== free) return this.lose();
    for (let k = 0; k < count; k++) {
      if (free >= n) return this.lose();
      const h = HEADER + DESC * head;
      if (k === 0) {
        v.setUint16(h + NUM, 0, LE);
        this.setU64(h + COUNTER, counter);
        v.setUint8(h + INFLIGHT, 1);
      }
      if (k === count - 1) v.setUint16(h + LAST, free, LE);
      v.setUint16(h + NUM, v.getUint16(h + NUM, LE) + 1, LE);
      let p = from + k;
      if (p >= n) p -= n;
      const e = HEADER + DESC * free;
      const d = this.ring;
      const at = typeof d === 'number' ? d + 16 * p : d + BigInt(16 * p);
      const m = this.memory;
      const lo = m.readU32(at);
      const hi = m.readU32(typeof at === 'number' ? at + 4 : at + 4n);
      v.setUint32(e + ADDR, LE ? lo : hi, LE);
      v.setUint32(e + ADDR + 4, LE ? hi : lo, LE);
      v.setUint32(e + LEN, m.readU32(typeof at === 'number' ? at + 8 : at + 8n), LE);
      v.setUint16(e + FLAGS, m.readU16(typeof at === 'number' ? at + 14 : at + 14n), LE);
      v.setUint16(e + ID, m.readU16(typeof at === 'number' ? at + 12 : at + 12n), LE);
      free = v.getUint16(e + NEXT, LE);
      v.setUint16(FREE_HEAD, free, LE);
      if (k === count - 1) v.setUint16(OLD_FREE_HEAD, free, LE);
    }
    this.entryOf[id] = head;
  }

  /**
   * Before publishing the used element of buffer `id`: returns its entries to the free list and
   * advances used_idx / used_wrap_counter ("When supplying used buffers", steps 1-5).
   * @param id - the buffer ID
   */
  beginUsed(id: number): void {
    if (this.lost) return;
    const e = this.entryOf[id]!;
    const v = this.view;
    const n = this.capacity;
    if (e >= n) return this.lose();
    const h = HEADER + DESC * e;
    const last = v.getUint16(h + LAST, LE);
    const num = v.getUint16(h + NUM, LE);
    if (last >= n || num === 0 || num > n) return this.lose();
    v.setUint16(HEADER + DESC * last + NEXT, v.getUint16(FREE_HEAD, LE), LE);
    v.setUint16(FREE_HEAD, e, LE);
    let used = v.getUint16(USED_IDX, LE) + num;
    let wrap = v.getUint8(USED_WRAP) & 1;
    if (used >= n) {
      used -= n;
      wrap ^= 1;
    }
    v.setUint16(USED_IDX, used, LE);
    v.setUint8(USED_WRAP, wrap);
  }

  /**
   * After publishing: `id` is no longer in flight, and the new state becomes the consistent one
   * (steps 7-8).
   * @param id - the buffer ID
   */
  endUsed(id: number): void {
    if (this.lost) return;
    const e = this.entryOf[id]!;
    const v = this.view;
    if (e >= this.capacity) return this.lose();
    v.setUint8(HEADER + DESC * e + INFLIGHT, 0);
    v.setUint16(OLD_FREE_HEAD, v.getUint16(FREE_HEAD, LE), LE);
    v.setUint16(OLD_USED_IDX, v.getUint16(USED_IDX, LE), LE);
    v.setUint8(OLD_USED_WRAP, v.getUint8(USED_WRAP));
    this.entryOf[id] = NONE;
  }

  /**
   * Recovers the state a previous backend left ("When reconnecting"): commits an update whose
   * used element reached the ring, rolls back any other, clears the free entries and lists the
   * chains in flight by counter, renumbered 1..n.
   * @returns the chains and the used position
   * @throws VhostUser.InvalidInflightError when the region is inconsistent
   */
  recover(): PackedInflightRecovery {
    const v = this.view;
    const n = this.capacity;
    let freeHead = v.getUint16(FREE_HEAD, LE);
    const oldFreeHead = v.getUint16(OLD_FREE_HEAD, LE);
    let usedIdx = v.getUint16(USED_IDX, LE);
    const oldUsedIdx = v.getUint16(OLD_USED_IDX, LE);
    let usedWrap = v.getUint8(USED_WRAP);
    const oldUsedWrap = v.getUint8(OLD_USED_WRAP);
    if (freeHead > n || oldFreeHead > n || usedIdx >= n || oldUsedIdx >= n || usedWrap > 1 || oldUsedWrap > 1) {
      throw corrupt('a header field is outside the ring', { freeHead, oldFreeHead, usedIdx, oldUsedIdx, usedWrap, oldUsedWrap, size: n });
    }
    if (usedIdx !== oldUsedIdx || usedWrap !== oldUsedWrap) {
      // the descriptor at old_used_idx still available for old_used_wrap_counter: the used element
      // was not published, so the update rolls back; otherwise it is committed
      const d = this.ring;
      const flags = this.memory.readU16(typeof d === 'number' ? d + 16 * oldUsedIdx + 14 : d + BigInt(16 * oldUsedIdx + 14));
      const avail = oldUsedWrap === 1 ? F_AVAIL : F_USED;
      if ((flags & (F_AVAIL | F_USED)) !== avail) {
        v.setUint16(OLD_FREE_HEAD, freeHead, LE);
        v.setUint16(OLD_USED_IDX, usedIdx, LE);
        v.setUint8(OLD_USED_WRAP, usedWrap);
      }
    }
    freeHead = v.getUint16(OLD_FREE_HEAD, LE);
    usedIdx = v.getUint16(OLD_USED_IDX, LE);
    usedWrap = v.getUint8(OLD_USED_WRAP);
    v.setUint16(FREE_HEAD, freeHead, LE);
    v.setUint16(USED_IDX, usedIdx, LE);
    v.setUint8(USED_WRAP, usedWrap);
    // 0: unseen, 1: free, 2: in a chain
    const seen = new Uint8Array(n);
    let free = 0;
    for (let e = freeHead; e !== n; e = v.getUint16(HEADER + DESC * e + NEXT, LE)) {
      if (e > n || seen[e] !== 0) throw corrupt('the free list leaves the ring or loops', { entry: e, size: n });
      seen[e] = 1;
      v.setUint8(HEADER + DESC * e + INFLIGHT, 0);
      free++;
    }
    const found: { entry: number; id: number; num: number; counter: bigint }[] = [];
    const ids = new Set<number>();
    let taken = 0;
    for (let e = 0; e < n; e++) {
      const h = HEADER + DESC * e;
      if (seen[e] !== 0 || v.getUint8(h + INFLIGHT) === 0) continue;
      const num = v.getUint16(h + NUM, LE);
      const last = v.getUint16(h + LAST, LE);
      if (num === 0 || num > n) throw corrupt('an in-flight chain has no descriptors or more than the ring', { entry: e, num });
      let x = e;
      for (let k = 0; ; k++) {
        if (x >= n || seen[x] !== 0) throw corrupt('an in-flight chain leaves the ring or shares an entry', { entry: e, at: x });
        if (k > 0 && v.getUint8(HEADER + DESC * x + INFLIGHT) !== 0) throw corrupt('an in-flight chain contains the head of another', { entry: e, at: x });
        seen[x] = 2;
        if (k === num - 1) break;
        x = v.getUint16(HEADER + DESC * x + NEXT, LE);
      }
      if (x !== last) throw corrupt('an in-flight chain does not end at its last entry', { entry: e, last, end: x });
      const id = v.getUint16(HEADER + DESC * x + ID, LE);
      if (ids.has(id)) throw corrupt('two in-flight chains have the same buffer ID', { id });
      ids.add(id);
      taken += num;
      found.push({ entry: e, id, num, counter: v.getBigUint64(h + COUNTER, LE) });
    }
    if (free + taken !== n) throw corrupt('entries are neither free nor in flight', { free, inFlight: taken, size: n });
    found.sort((a, b) => (a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : a.entry - b.entry));
    this.entryOf.fill(NONE);
    found.forEach((f, i) => {
      this.setU64(HEADER + DESC * f.entry + COUNTER, i + 1);
      this.entryOf[f.id] = f.entry;
    });
    this.lost = false;
    return { chains: found.map(({ entry, id, num }) => ({ entry, id, num })), usedIdx, usedWrap };
  }

  /**
   * The ring descriptors of an in-flight chain as recorded, in the packed descriptor format,
   * available for wrap counter 1, written to `out` at `pos` (ring slots).
   */
  copyChain(chain: PackedInflightChain, out: DataView, pos: number): void {
    const v = this.view;
    let x = chain.entry;
    for (let k = 0; k < chain.num; k++) {
      const e = HEADER + DESC * x;
      const o = 16 * (pos + k);
      // the region is in native byte order, a descriptor ring little-endian
      out.setUint32(o, v.getUint32(e + (LE ? ADDR : ADDR + 4), LE), true);
      out.setUint32(o + 4, v.getUint32(e + (LE ? ADDR + 4 : ADDR), LE), true);
      out.setUint32(o + 8, v.getUint32(e + LEN, LE), true);
      out.setUint16(o + 12, chain.id, true);
      const flags = (v.getUint16(e + FLAGS, LE) & (F_WRITE | F_INDIRECT)) | (k < chain.num - 1 ? F_NEXT : 0) | F_AVAIL;
      out.setUint16(o + 14, flags, true);
      x = v.getUint16(e + NEXT, LE);
    }
  }

  private lose(): void {
    this.lost = true;
  }

  private setU64(at: number, value: number): void {
    const lo = value % 0x1_0000_0000;
    const hi = (value - lo) / 0x1_0000_0000;
    this.view.setUint32(at, LE ? lo : hi, LE);
    this.view.setUint32(at + 4, LE ? hi : lo, LE);
  }
}

function corrupt(reason: string, facts: Record<string, number>): InvalidInflightError {
  return new InvalidInflightError(`packed queue region: ${reason}`, facts);
}

/**
 * Brings a freshly built packed ring to the state a previous backend left in the region: the
 * device's used position from the region, the available position after every chain in flight,
 * and a private packed ring over a copy of those chains' descriptors to resubmit them from.
 *
 * @param tracker - the ring's region (initialised, desc_num matching)
 * @param inner - the real ring, just built
 * @param memory - guest memory
 * @param config - the real ring's configuration
 * @returns the private ring and its chain count (null queue when none is in flight), and the next counter
 * @throws VhostUser.InvalidInflightError when the region is inconsistent or does not fit the ring
 */
export function restorePackedInflight(tracker: PackedInflightQueue, inner: Virtqueue, memory: GuestMemory, config: QueueConfig): { queue: Virtqueue | null; count: number; nextCounter: number } {
  const n = inner.size;
  const { chains, usedIdx, usedWrap } = tracker.recover();
  let total = 0;
  for (const c of chains) total += c.num;
  let availIdx = usedIdx + total;
  let availWrap = usedWrap;
  if (availIdx >= n) {
    availIdx -= n;
    availWrap ^= 1;
  }
  try {
    inner.restoreState({
      ...inner.saveState(),
      nextAvail: availIdx,
      availWrapCounter: availWrap,
      nextUsed: usedIdx,
      usedWrapCounter: usedWrap,
      numAdded: 0,
      inflight: chains.map((c) => [c.id, c.num]),
    });
  } catch (e) {
    throw new InvalidInflightError('packed queue region does not fit the ring', { cause: String(e) });
  }
  const nextCounter = chains.length + 1;
  if (chains.length === 0) return { queue: null, count: 0, nextCounter };
  const sizes = packedRingSizes(n);
  const size = Math.ceil((sizes.descRing + 8) / PAGE) * PAGE;
  let top = 0n;
  for (const r of memory.regions) {
    const end = r.start + BigInt(r.size);
    if (end > top) top = end;
  }
  const base = ((top + BigInt(PAGE - 1)) / BigInt(PAGE)) * BigInt(PAGE);
  if (base + BigInt(size) > 1n << 64n) throw new InvalidInflightError('no guest address left for the resubmission ring');
  const backing = new ArrayBuffer(size);
  const out = new DataView(backing);
  let pos = 0;
  for (const c of chains) {
    tracker.copyChain(c, out, pos);
    pos += c.num;
  }
  const at = (off: number): GuestAddress => toGuestAddress(base + BigInt(off));
  const shadowMemory = GuestMemory.fromRegions([...memory.regions, { start: at(0), backing }]);
  const shadow = new QueueConfig(config.maxSize);
  shadow.indirectDesc = config.indirectDesc;
  shadow.ringPacked = true;
  shadow.setSize(n);
  shadow.setArea('descTable', at(0));
  shadow.setArea('driverArea', at(sizes.descRing));
  shadow.setArea('deviceArea', at(sizes.descRing + 4));
  shadow.ready = true;
  return { queue: createVirtqueue(shadowMemory, shadow), count: chains.length, nextCounter };
}
