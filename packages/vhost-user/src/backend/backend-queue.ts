/**
 * The virtqueue a device sees behind the vhost-user backend: a thin {@link Virtqueue} wrapper
 * over the real ring that adds what vhost-user needs and a device must not know about:
 *
 * - **stop/enable** (vhost-user.rst "Ring states"): a stopped or disabled ring yields no chains;
 *   a used element completed after the ring was stopped is dropped, never written into a ring
 *   the frontend has taken back;
 * - **outstanding count**, so GET_VRING_BASE can wait for the device to finish what it popped;
 * - **inflight tracking** (split rings, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) and resubmission of
 *   the requests a previous backend left in flight;
 * - **inner swap**: when the memory table changes, the ring is rebuilt over the new memory and
 *   chains popped before still complete correctly.
 *
 * @module
 */

import type { DescriptorChain, QueueError, QueueState, RingFormat, Virtqueue } from '@vmv/queue';
import type { InflightQueue } from './inflight-region.js';

const NONE = 0;
const CURRENT = 1;
const STALE = 2;
const RESUBMIT = 3;

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
  private tracker: InflightQueue | null = null;
  private counter = 1;
  /** Per head: NONE, or where the pending chain came from. */
  private readonly origin = new Uint8Array(65536);
  private pending = 0;
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

  /** The real ring, or null when stopped. */
  get current(): Virtqueue | null {
    return this.inner;
  }

  /**
   * Attaches a real ring. Chains popped from a previous one stay completable (through their head).
   * @param counter - the next inflight counter; omitted, the current one is kept
   */
  attach(inner: Virtqueue, tracker: InflightQueue | null, counter?: number): void {
    if (this.inner !== null && this.pending > 0) {
      for (let h = 0; h < this.origin.length; h++) if (this.origin[h] === CURRENT) this.origin[h] = STALE;
    }
    this.inner = inner;
    this.tracker = tracker;
    if (counter !== undefined) this.counter = counter;
  }

  /** Queues chains (from a private ring over the same descriptor table) to hand out before new ones. */
  setResubmit(queue: Virtqueue | null, count: number): void {
    this.resubmit = count > 0 ? queue : null;
    this.resubmitSource = this.resubmit;
    this.resubmitLeft = count > 0 ? count : 0;
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
    this.running = false;
    this.inner = null;
    this.resubmit = null;
    this.resubmitSource = null;
    this.resubmitLeft = 0;
    this.tracker = null;
    if (this.pending > 0) {
      this.origin.fill(NONE);
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
    if (this.resubmitLeft > 0) {
      const chain = this.resubmit!.pop();
      this.resubmitLeft--;
      if (this.resubmitLeft === 0) this.resubmit = null;
      if (chain !== null) {
        if (this.origin[chain.head] === NONE) this.pending++;
        this.origin[chain.head] = RESUBMIT;
        return chain;
      }
    }
    const chain = inner.pop();
    if (chain === null) return null;
    const head = chain.head;
    if (this.origin[head] === NONE) this.pending++;
    this.origin[head] = CURRENT;
    if (this.tracker !== null) this.tracker.markInflight(head, this.counter++);
    return chain;
  }

  addUsed(chainOrHead: DescriptorChain | number, writtenLen: number): void {
    const head = typeof chainOrHead === 'number' ? chainOrHead : chainOrHead.head;
    const inner = this.inner;
    const origin = head >>> 0 === head && head < 65536 ? this.origin[head]! : NONE;
    // Not outstanding: the ring was stopped since the chain was popped, and the frontend owns the
    // ring now. Writing a used element would corrupt it, so the completion is dropped (its
    // inflight entry, if tracked, stays set for resubmission).
    if (inner === null || origin === NONE) return;
    const tracker = this.tracker;
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
    if (tracker !== null) tracker.endUsed(head, inner.nextUsed);
    this.origin[head] = NONE;
    this.pending--;
    if (this.pending === 0 && this.onIdle !== null) this.onIdle();
  }

  addUsedBatch(chainsOrHeads: ArrayLike<DescriptorChain | number>, writtenLens: ArrayLike<number>, count: number = chainsOrHeads.length): void {
    for (let i = 0; i < count; i++) this.addUsed(chainsOrHeads[i]!, writtenLens[i]!);
  }

  needsNotification(): boolean {
    return this.inner !== null && this.inner.needsNotification();
  }

  enableNotification(): boolean {
    if (this.inner === null || !this.running) return false;
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
