/**
 * The virtqueue a device sees behind the vhost-user backend: a thin {@link Virtqueue} wrapper
 * over the real ring that adds what vhost-user needs and a device must not know about:
 *
 * - **stop/enable** (vhost-user.rst "Ring states"): a stopped or disabled ring yields no chains
 *   (a disabled ring the backend was told may discard returns its chains unused instead);
 *   a used element completed after the ring was stopped, or after the frontend broke it, is
 *   dropped, never written into a ring the frontend has taken back or corrupted;
 * - **outstanding count**, so GET_VRING_BASE can wait for the device to finish what it popped;
 * - **orphans**: chains the device still holds from a ring that was stopped since. Their
 *   completions are dropped, but they are still counted, so memory they may point into is not
 *   unmapped under the device while its session lives;
 * - **inflight tracking** (split and packed rings, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) and
 *   resubmission of the requests a previous backend left in flight;
 * - **inner swap**: when the memory table changes, the ring is rebuilt over the new memory and
 *   chains popped before still complete correctly.
 *
 * @module
 */

import type { DescriptorChain, QueueError, QueueState, RingFormat, Virtqueue } from '@vmv/queue';
import type { InflightTracker } from './inflight-region.js';

const NONE = 0;
const CURRENT = 1;
const STALE = 2;
const RESUBMIT = 3;
/** Popped before the ring was stopped; the device may still complete it (dropped, but counted). */
const ORPHAN = 4;

/**
 * A backend ring as a device sees it. Not exported from the package.
 * @internal
 */
export class BackendQueue implements Virtqueue {
  private inner: Virtqueue | null = null;
  private resubmit: Virtqueue | null = null;
  private resubmitLeft = 0;
  /** The private ring resubmitted chains come from, kept to recycle their chain objects. */
  private resubmitSource: Virtqueue | null = null;
  private tracker: InflightTracker | null = null;
  private counter = 1;
  /** Per head: NONE, or where the pending chain came from. */
  private readonly origin = new Uint8Array(65536);
  private pending = 0;
  /** Chain objects popped before the last stops and not returned yet (identity is exact: the rings they came from are gone, so their pools are never reused). */
  private readonly orphans = new Set<DescriptorChain>();
  /** Orphans known by head only (a number given to addUsed cannot be matched to a chain object). */
  private orphanHeads = 0;
  /** Per head: the chain object handed out (grown to the ring size at attach; no allocation per pop). */
  private heldChains: (DescriptorChain | null)[] = [];
  private running = false;
  /** Called when the outstanding count drops to zero. */
  onIdle: (() => void) | null = null;

  /** @param index - the ring index (for messages) */
  constructor(readonly index: number) {}

  /** Whether the ring yields chains (started and enabled). */
  get isRunning(): boolean {
    return this.running && this.inner !== null;
  }

  /** Chains popped and not yet returned. */
  get outstanding(): number {
    return this.pending;
  }

  /** Chains popped before the ring was last stopped that the device has not returned (their completions are dropped). */
  get orphaned(): number {
    return this.orphans.size + this.orphanHeads;
  }

  /** The device was reset: it drops what it held, so orphans no longer count. */
  forgetOrphans(): void {
    this.orphans.clear();
    this.orphanHeads = 0;
    this.origin.fill(NONE);
    this.heldChains.fill(null);
    this.pending = 0;
  }

  /** The next inflight counter (what a queue worker that takes the ring over continues from). */
  get inflightCounter(): number {
    return this.counter;
  }

  /** Continues inflight counting from `counter` (a queue worker gave the ring back). */
  resumeCounter(counter: number): void {
    this.counter = counter;
  }

  /** Whether chains a previous backend left in flight are still to be handed out. */
  get resubmitPending(): boolean {
    return this.resubmitLeft > 0;
  }

  /** Whether pops and completions are recorded in an inflight buffer. */
  get tracked(): boolean {
    return this.tracker !== null;
  }

  /** The real ring, or null when stopped. */
  get current(): Virtqueue | null {
    return this.inner;
  }

  /**
   * Attaches a real ring. Chains popped from a previous one stay completable (through their head).
   * @param counter - the next inflight counter; omitted, the current one is kept
   */
  attach(inner: Virtqueue, tracker: InflightTracker | null, counter?: number): void {
    if (this.inner !== null && this.pending > 0) {
      for (let h = 0; h < this.origin.length; h++) if (this.origin[h] === CURRENT) this.origin[h] = STALE;
    }
    this.inner = inner;
    this.tracker = tracker;
    if (counter !== undefined) this.counter = counter;
    if (this.heldChains.length < inner.size) {
      const grown = new Array<DescriptorChain | null>(inner.size).fill(null);
      for (let h = 0; h < this.heldChains.length; h++) grown[h] = this.heldChains[h]!;
      this.heldChains = grown;
    }
  }

  /** Queues chains (from a private ring over the same descriptor table) to hand out before new ones. */
  setResubmit(queue: Virtqueue | null, count: number): void {
    this.resubmit = count > 0 ? queue : null;
    this.resubmitSource = this.resubmit;
    this.resubmitLeft = count > 0 ? count : 0;
  }

  /**
   * A started ring that is disabled and discards (vhost-user "Ring states": processed without
   * side effects): up to one ring's worth of available chains is consumed and returned used with
   * length 0, the device never seeing them. Returns how many; a full ring's worth means more may wait.
   * @throws Queue errors of a ring the frontend broke
   */
  discardAvailable(): number {
    const inner = this.inner;
    if (inner === null || this.running) return 0;
    this.running = true;
    let n = 0;
    try {
      for (let chain = n < inner.size ? this.pop() : null; chain !== null; chain = ++n < inner.size ? this.pop() : null) this.addUsed(chain, 0);
    } finally {
      this.running = false;
    }
    return n;
  }

  /** Starts or pauses yielding chains (enabled state). */
  setRunning(running: boolean): void {
    this.running = running;
  }

  /**
   * Stops the ring: no more chains, and completions of chains still outstanding are dropped.
   * Their inflight entries stay set, so a later start resubmits them.
   */
  detach(): void {
    this.suppressKicks = false;
    this.running = false;
    this.inner = null;
    this.resubmit = null;
    this.resubmitSource = null;
    this.resubmitLeft = 0;
    this.tracker = null;
    if (this.pending > 0) {
      for (let h = 0; h < this.origin.length; h++) {
        if (this.origin[h] === NONE || this.origin[h] === ORPHAN) continue;
        const chain = this.heldChains[h];
        if (chain !== null && chain !== undefined) {
          this.orphans.add(chain);
          this.origin[h] = NONE;
        } else {
          this.origin[h] = ORPHAN;
          this.orphanHeads++;
        }
        this.heldChains[h] = null;
      }
      this.pending = 0;
    }
  }

  get format(): RingFormat {
    return this.inner?.format ?? 'split';
  }
  get size(): number {
    return this.inner?.size ?? 0;
  }
  get eventIdx(): boolean {
    return this.inner?.eventIdx ?? false;
  }
  get error(): QueueError | null {
    return this.inner?.error ?? null;
  }
  get nextAvail(): number {
    return this.inner?.nextAvail ?? 0;
  }
  get nextUsed(): number {
    return this.inner?.nextUsed ?? 0;
  }

  pop(): DescriptorChain | null {
    const inner = this.inner;
    if (inner === null || !this.running) return null;
    // a broken ring: inner.pop() throws Queue.BrokenError, which tells the device
    if (this.resubmitLeft > 0 && inner.error === null) {
      const chain = this.resubmit!.pop();
      this.resubmitLeft--;
      if (this.resubmitLeft === 0) this.resubmit = null;
      if (chain !== null) {
        this.take(chain, RESUBMIT);
        return chain;
      }
    }
    const from = inner.nextAvail;
    const chain = inner.pop();
    if (chain === null) return null;
    const head = chain.head;
    this.take(chain, CURRENT);
    if (this.tracker !== null) this.tracker.markInflight(head, this.counter++, from, inner.nextAvail);
    return chain;
  }

  /** Records a chain handed to the device. */
  private take(chain: DescriptorChain, from: number): void {
    const head = chain.head;
    const was = this.origin[head];
    if (was === ORPHAN) {
      // the head was reused while an old use of it is still with the device: the two cannot be
      // told apart by head, so the old one stops counting
      this.orphanHeads--;
      this.pending++;
    } else if (was === NONE) {
      this.pending++;
    }
    this.origin[head] = from;
    this.heldChains[head] = chain;
  }

  addUsed(chainOrHead: DescriptorChain | number, writtenLen: number): void {
    const head = typeof chainOrHead === 'number' ? chainOrHead : chainOrHead.head;
    // A chain from before the ring was stopped: the frontend owns that ring now. Dropped, counted.
    if (this.orphans.size > 0 && typeof chainOrHead !== 'number' && this.orphans.delete(chainOrHead)) return;
    const inner = this.inner;
    const origin = head >>> 0 === head && head < 65536 ? this.origin[head]! : NONE;
    if (origin === ORPHAN) {
      this.origin[head] = NONE;
      this.orphanHeads--;
      return;
    }
    // Not outstanding: the ring was stopped since the chain was popped, and the frontend owns the
    // ring now. Writing a used element would corrupt it, so the completion is dropped (its
    // inflight entry, if tracked, stays set for resubmission).
    if (inner === null || origin === NONE) return;
    // A ring the frontend broke drops the completion in the same way (the real ring does: see
    // Virtqueue, "Late completions"), and its inflight entry stays set too; it stops counting as
    // outstanding all the same, so GET_VRING_BASE never waits for it.
    const tracker = inner.error === null ? this.tracker : null;
    if (tracker !== null) tracker.beginUsed(head);
    if (origin === CURRENT) inner.addUsed(chainOrHead, writtenLen);
    else inner.addUsed(head, writtenLen);
    if (origin === RESUBMIT && typeof chainOrHead !== 'number') {
      // give the chain object back to the private ring it came from
      try {
        this.resubmitSource?.addUsed(chainOrHead, 0);
      } catch {
        // the private ring is only a source of chains; nothing to undo
      }
    }
    if (tracker !== null && inner.error === null) tracker.endUsed(head, inner.nextUsed);
    this.origin[head] = NONE;
    this.heldChains[head] = null;
    this.pending--;
    if (this.pending === 0 && this.onIdle !== null) this.onIdle();
  }

  addUsedBatch(chainsOrHeads: ArrayLike<DescriptorChain | number>, writtenLens: ArrayLike<number>, count: number = chainsOrHeads.length): void {
    for (let i = 0; i < count; i++) this.addUsed(chainsOrHeads[i]!, writtenLens[i]!);
  }

  needsNotification(): boolean {
    return this.inner !== null && this.inner.needsNotification();
  }

  /**
   * While set (an interrupt coalescer's hold, a poller's window), the device's
   * enableNotification() leaves driver notifications off and answers false: the coalescer's timer
   * or the poller's loop looks at the ring instead of the driver kicking for every request, and
   * clears this before it stops looking.
   */
  suppressKicks = false;

  enableNotification(): boolean {
    if (this.inner === null || !this.running) return false;
    if (this.suppressKicks || this.inner.error !== null) return false;
    return this.inner.enableNotification() || this.resubmitLeft > 0;
  }

  disableNotification(): void {
    if (this.inner !== null && this.running) this.inner.disableNotification();
  }

  saveState(): QueueState {
    if (this.inner === null) throw new TypeError(`vhost-user ring ${this.index} is stopped`);
    return this.inner.saveState();
  }

  restoreState(state: unknown): void {
    if (this.inner === null) throw new TypeError(`vhost-user ring ${this.index} is stopped`);
    this.inner.restoreState(state);
  }

  reset(): void {
    this.inner?.reset();
  }
}
