/**
 * The inflight buffer of one connection (vhost-user.rst "Inflight I/O tracking",
 * INFLIGHT_SHMFD): GET_INFLIGHT_FD creates it, SET_INFLIGHT_FD maps one a previous backend
 * filled, and a ring (split or packed) that starts under it recovers the requests that backend
 * left in flight ("When reconnecting") and resubmits them to the device, validated like any
 * other chain. For a device that offers VIRTIO_F_RING_PACKED every queue region has the size of
 * a packed one (QueueRegionPacked), whichever format the driver picks, so the buffer is laid out
 * before the format is known and a restarted backend finds the same offsets.
 *
 * @module
 */

import { GuestMemory } from '@vmv/memory';
import { QueueConfig, createVirtqueue, splitRingSizes, type Virtqueue } from '@vmv/queue';
import { dupFd, mmap, type Mapping } from '@vmv/sys';
import { encodeInflightReply } from '../protocol/encoder.js';
import type { InflightDescription } from '../protocol/inflight.js';
import { InvalidInflightError } from '../errors.js';
import { INFLIGHT_VERSION, InflightQueue, inflightQueueRegionSize, type InflightTracker } from './inflight-region.js';
import { PackedInflightQueue, packedInflightQueueRegionSize, restorePackedInflight } from './inflight-packed.js';
import { createMappedMemfd, safeClose } from '../channel/fd.js';
import { toGuestAddress as addr } from './region-table.js';
import { startState, type Vring } from './vring.js';

const PAGE = 4096;

interface Inflight {
  readonly mapping: Mapping;
  /** A copy of the buffer's fd (queue workers map it too), or null when it could not be made. */
  readonly fd: number | null;
  /** Where the mapping starts in the fd. */
  readonly mmapOffset: number;
  readonly numQueues: number;
  readonly queueSize: number;
  readonly regionSize: number;
  /** Queue regions sized for the packed layout. */
  readonly packed: boolean;
}

/**
 * The inflight buffer of a connection and the ring starts it governs. Not exported from the package.
 * @internal
 */
export class InflightSession {
  private inflight: Inflight | null = null;
  /** Packed trackers by ring index: they map buffer IDs to entries, so a ring rebuilt over new memory keeps its own. */
  private readonly packedTrackers = new Map<number, PackedInflightQueue>();

  /**
   * @param replaced - called when a buffer replaces another (rings running over the old one must stop)
   * @param packedLayout - the device offers VIRTIO_F_RING_PACKED: queue regions take the packed size
   */
  constructor(
    private readonly replaced: () => void,
    private readonly packedLayout = false,
  ) {}

  private regionSize(queueSize: number): number {
    return this.packedLayout ? Math.max(packedInflightQueueRegionSize(queueSize), inflightQueueRegionSize(queueSize)) : inflightQueueRegionSize(queueSize);
  }

  /**
   * GET_INFLIGHT_FD: a fresh zeroed buffer for `desc.numQueues` queues of `desc.queueSize`.
   * @param desc - queue count and size
   * @returns the reply and the buffer's memfd, to be sent with it and closed after
   */
  create(desc: InflightDescription): { reply: Uint8Array; fd: number } {
    const regionSize = this.regionSize(desc.queueSize);
    const size = regionSize * desc.numQueues;
    const { fd, mapping } = createMappedMemfd('vhost-user-inflight', size);
    this.replace({ mapping, fd: copyFd(fd), mmapOffset: 0, numQueues: desc.numQueues, queueSize: desc.queueSize, regionSize, packed: this.packedLayout });
    const reply = encodeInflightReply({ mmapSize: BigInt(size), mmapOffset: 0n, numQueues: desc.numQueues, queueSize: desc.queueSize });
    return { reply, fd };
  }

  /**
   * SET_INFLIGHT_FD: maps the buffer a previous backend used. Closes `fd` in every case.
   * @throws VhostUser.InvalidInflightError when the buffer is too small for the queues or cannot be mapped
   */
  set(desc: InflightDescription, fd: number): void {
    try {
      const regionSize = this.regionSize(desc.queueSize);
      const needed = regionSize * desc.numQueues;
      if (desc.mmapSize < BigInt(needed) || desc.mmapSize > BigInt(Number.MAX_SAFE_INTEGER) || desc.mmapOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new InvalidInflightError('buffer size does not fit the queues', { mmapSize: desc.mmapSize, needed });
      }
      let mapping: Mapping;
      try {
        mapping = mmap(fd, needed, { offset: desc.mmapOffset });
      } catch (e) {
        throw new InvalidInflightError('cannot map the inflight buffer', { cause: String(e) });
      }
      this.replace({ mapping, fd: copyFd(fd), mmapOffset: Number(desc.mmapOffset), numQueues: desc.numQueues, queueSize: desc.queueSize, regionSize, packed: this.packedLayout });
    } finally {
      safeClose(fd);
    }
  }

  /** Unmaps the buffer (the connection ends). */
  drop(): void {
    if (this.inflight === null) return;
    this.packedTrackers.clear();
    release(this.inflight);
    this.inflight = null;
  }

  /**
   * Where a queue worker finds the split ring `ring`'s region of the buffer (it maps the buffer
   * itself from a copy of the fd), or null when the ring is not tracked in it.
   * @param ring - a started split ring
   * @returns the fd (the caller's copy), the mapping's offset and length in it, and the region's offset and capacity in the mapping
   */
  splitRegionFor(ring: Vring): { fd: number; mmapOffset: number; length: number; offset: number; capacity: number } | null {
    const inf = this.inflight;
    if (inf === null || inf.fd === null || ring.index >= inf.numQueues || ring.size !== inf.queueSize) return null;
    return { fd: dupFd(inf.fd), mmapOffset: inf.mmapOffset, length: inf.mapping.length, offset: ring.index * inf.regionSize, capacity: inf.queueSize };
  }

  /**
   * The inflight tracker of a running ring rebuilt over new memory, when the buffer covers it.
   * @param ring - the ring
   * @param inner - the ring rebuilt over `memory`
   * @param memory - the new guest memory
   */
  trackerFor(ring: Vring, inner: Virtqueue, memory: GuestMemory): InflightTracker | null {
    if (inner.format !== 'packed') return this.splitTracker(ring, inner);
    const tracker = this.packedTrackers.get(ring.index) ?? null;
    tracker?.rebind(memory, addr(ring.areas!.desc));
    return tracker;
  }

  private splitTracker(ring: Vring, inner: Virtqueue): InflightQueue | null {
    const inf = this.inflight;
    if (inf === null || inner.format !== 'split' || ring.index >= inf.numQueues || ring.size !== inf.queueSize) return null;
    return new InflightQueue(inf.mapping.buffer, ring.index * inf.regionSize, inf.queueSize);
  }

  /**
   * Attaches a freshly built ring to its BackendQueue: at its SET_VRING_BASE position, or, under
   * inflight tracking, after the entries a previous backend consumed, with those it left in
   * flight queued for resubmission.
   * @param ring - the ring (its areas, size and base are set)
   * @param inner - the ring built over `memory` from `config`
   * @returns how many chains a previous backend left in flight are queued for resubmission
   */
  attachFresh(ring: Vring, inner: Virtqueue, memory: GuestMemory, config: QueueConfig): number {
    if (inner.format === 'packed') return this.attachPacked(ring, inner, memory, config);
    const tracker = this.splitTracker(ring, inner);
    if (tracker === null) {
      inner.restoreState(startState(inner, ring.base));
      ring.queue.attach(inner, null);
      return 0;
    }
    // Inflight tracking: recover what a previous backend left in flight (vhost-user.rst
    // "When reconnecting"), then start after the entries consumed so far.
    const usedIdx = memory.atomicLoadU16(addr(ring.areas!.device + 2n));
    const recovery = tracker.version === INFLIGHT_VERSION && tracker.descNum === ring.size ? tracker.recover(usedIdx, ring.size) : null;
    if (recovery === null) {
      // a fresh buffer (version 0), or one that does not match this ring: start tracking anew
      tracker.initialize(ring.size);
      inner.restoreState(startState(inner, ring.base));
      ring.queue.attach(inner, tracker, 1);
      return 0;
    }
    const { heads, nextCounter } = recovery;
    inner.restoreState({ ...inner.saveState(), nextAvail: (usedIdx + heads.length) & 0xffff, nextUsed: undefined, numAdded: 0 });
    ring.queue.attach(inner, tracker, nextCounter);
    ring.owedCall = true;
    if (heads.length === 0) return 0;
    const shadow = resubmitQueue(memory, config, heads);
    if (shadow !== null) ring.queue.setResubmit(shadow.queue, shadow.count);
    ring.pendingKick = true;
    return shadow?.count ?? 0;
  }

  /**
   * attachFresh for a packed ring: as for split, but the region's rollback/commit protocol gives
   * the used position, and the chains in flight are resubmitted from the descriptors the region
   * kept (the ring slots may hold used elements since).
   * @returns how many chains are queued for resubmission
   * @throws VhostUser.InvalidInflightError when the region is inconsistent (the ring fails)
   */
  private attachPacked(ring: Vring, inner: Virtqueue, memory: GuestMemory, config: QueueConfig): number {
    this.packedTrackers.delete(ring.index);
    const inf = this.inflight;
    if (inf === null || ring.index >= inf.numQueues || ring.size !== inf.queueSize) {
      inner.restoreState(startState(inner, ring.base));
      ring.queue.attach(inner, null);
      return 0;
    }
    if (!inf.packed && packedInflightQueueRegionSize(ring.size) > inf.regionSize) {
      throw new InvalidInflightError('the inflight buffer has no room for a packed queue region', { index: ring.index, regionSize: inf.regionSize });
    }
    const tracker = new PackedInflightQueue(inf.mapping.buffer, ring.index * inf.regionSize, inf.queueSize, memory, addr(ring.areas!.desc));
    if (tracker.version !== INFLIGHT_VERSION || tracker.descNum !== ring.size) {
      // a fresh buffer (version 0), or one laid out for another ring: start tracking anew
      inner.restoreState(startState(inner, ring.base));
      const s = inner.saveState();
      tracker.initialize(s.nextUsed ?? 0, s.usedWrapCounter ?? 1);
      this.packedTrackers.set(ring.index, tracker);
      ring.queue.attach(inner, tracker, 1);
      return 0;
    }
    const { queue, count, nextCounter } = restorePackedInflight(tracker, inner, memory, config);
    this.packedTrackers.set(ring.index, tracker);
    ring.queue.attach(inner, tracker, nextCounter);
    ring.owedCall = true;
    if (queue === null) return 0;
    ring.queue.setResubmit(queue, count);
    ring.pendingKick = true;
    return count;
  }

  private replace(next: Inflight): void {
    const old = this.inflight;
    this.inflight = next;
    this.packedTrackers.clear();
    if (old !== null) {
      this.replaced();
      release(old);
    }
  }
}

function release(inflight: Inflight): void {
  safeClose(inflight.fd);
  try {
    inflight.mapping.close();
  } catch {
    // nothing more to release
  }
}

/** A copy of `fd`, or null when the process is out of fds (workers then leave the ring in the main thread). */
function copyFd(fd: number): number | null {
  try {
    return dupFd(fd);
  } catch {
    return null;
  }
}

/**
 * A private split ring over the same descriptor table whose available ring lists `heads`: popping
 * it yields fully validated chains for requests a previous backend left in flight. Its available
 * and used rings live in a private region placed above the guest's highest address.
 */
function resubmitQueue(memory: GuestMemory, config: QueueConfig, heads: readonly number[]): { queue: Virtqueue; count: number } | null {
  const n = config.size;
  const { availRing, usedRing } = splitRingSizes(n);
  const usedOff = Math.ceil(availRing / 4) * 4;
  const size = Math.ceil((usedOff + usedRing) / PAGE) * PAGE;
  let top = 0n;
  for (const r of memory.regions) {
    const end = r.start + BigInt(r.size);
    if (end > top) top = end;
  }
  const base = ((top + BigInt(PAGE - 1)) / BigInt(PAGE)) * BigInt(PAGE);
  if (base + BigInt(size) > 1n << 64n) return null;
  try {
    const shadowMemory = GuestMemory.fromRegions([...memory.regions, { start: addr(base), backing: new ArrayBuffer(size) }]);
    const shadow = new QueueConfig(config.maxSize);
    shadow.indirectDesc = config.indirectDesc;
    shadow.setSize(n);
    shadow.setArea('descTable', config.descTable);
    shadow.setArea('driverArea', addr(base));
    shadow.setArea('deviceArea', addr(base + BigInt(usedOff)));
    shadow.ready = true;
    const unique = [...new Set(heads)].filter((h) => h < n);
    const avail = addr(base);
    for (let i = 0; i < unique.length; i++) shadowMemory.writeU16(typeof avail === 'number' ? avail + 4 + 2 * i : avail + BigInt(4 + 2 * i), unique[i]!);
    shadowMemory.writeU16(typeof avail === 'number' ? avail + 2 : avail + 2n, unique.length);
    return { queue: createVirtqueue(shadowMemory, shadow), count: unique.length };
  } catch {
    return null;
  }
}
