/**
 * The one device loop over a virtqueue, with notification suppression as VIRTIO 1.2 §2.7.10
 * (split) and §2.8.21 (packed) describe it: notifications off while the device works through the
 * ring, back on, and one more look before sleeping, so that a buffer made available in between
 * is never left without a kick. Completions, immediate or asynchronous, signal the used-buffer
 * interrupt only when the driver asked for one (`needsNotification()`: NO_INTERRUPT, used_event
 * with EVENT_IDX, or the packed event suppression structure), once per pass of the loop.
 * @module
 */
import { isGuestMemoryError } from '@vmv/memory';
import { isQueueError } from '@vmv/queue';
import type { DescriptorChain, Virtqueue, Writer } from '@vmv/queue';
import type { ActivationContext } from './device.js';

/**
 * The queue a {@link serveQueue} handler is serving, and how it returns chains to the driver.
 * @example
 * ```ts
 * const handle: ChainHandler = (chain, served) => served.complete(chain, 0);
 * ```
 */
export interface ServedQueue {
  /** The queue index (as in `ctx.queues`). */
  readonly index: number;
  /** The virtqueue the chain was popped from. */
  readonly queue: Virtqueue;
  /**
   * Returns `chain` to the driver: `queue.addUsed(chain, written)`, then the used-buffer interrupt
   * if the driver wants one. Inside the loop (a handler completing at once) the interrupt is
   * decided once at the end of the pass; later (an asynchronous completion) at once. A completion
   * after a reset, or on a queue the guest broke, is dropped by the queue (see `Virtqueue`, "Late
   * completions"), and the interrupt of a reset context does nothing: calling it late is safe.
   * @param chain - a chain popped from this queue, not yet completed.
   * @param written - bytes the device wrote into its writable buffers.
   * @throws RangeError or TypeError as `Virtqueue.addUsed` (a device bug: a chain completed twice,
   *   a length above what the chain can hold).
   * @example `served.complete(chain, out.written);`
   */
  complete(chain: DescriptorChain, written: number): void;
}

/**
 * Handles one request: parse `chain`, do the work, and call `served.complete(chain, written)`
 * exactly once, now or later (after asynchronous I/O).
 * @example
 * ```ts
 * const handle: ChainHandler = (chain, served) => {
 *   const out = chain.writer();
 *   out.fill(out.remaining, 0);
 *   served.complete(chain, out.written);
 * };
 * ```
 */
export type ChainHandler = (chain: DescriptorChain, served: ServedQueue) => void;

/**
 * A bound on the chains popped from a queue and not yet completed (back-pressure): at the limit
 * {@link serveQueue} stops popping, leaves the rest in the ring (the driver need not kick, and its
 * ring fills up), and goes on when a completion frees a slot. Keep one budget per queue index for
 * the life of the device and pass it on every call: a chain popped by an earlier activation and
 * still running (a backend operation a reset cannot cancel) keeps its slot until it completes, so
 * a guest that resets in a loop cannot pile up work beyond the limit. Every chain served under a
 * budget must be completed once, late or not; one that will not be returned (a device reset
 * stopped it) frees its slot with {@link ServedQueue.complete} all the same (the queue drops it).
 * @example
 * ```ts
 * private readonly budgets = this.queueMaxSizes.map(() => new InFlightBudget(64));
 * queueNotify(i: number) { if (this.ctx) serveQueue(this.ctx, i, this.handle, this.budgets[i]); }
 * ```
 */
export class InFlightBudget {
  /** Most chains in flight at once. */
  readonly limit: number;
  /** @internal Chains popped under this budget and not completed. */
  used = 0;
  /** @internal Servers that stopped at the limit, in the order they did. */
  readonly waiting: Server[] = [];

  /**
   * @param limit - most chains in flight at once (an integer from 1).
   * @throws RangeError when `limit` is not an integer of at least 1.
   */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`InFlightBudget: limit must be an integer of at least 1, got ${String(limit)}`);
    this.limit = limit;
  }

  /** Chains popped under this budget and not yet completed (of any activation). */
  get inFlight(): number {
    return this.used;
  }

  /** @internal A slot came free: the servers that stopped at the limit go on while there is room. */
  release(): void {
    if (this.used > 0) this.used--;
    const waiting = this.waiting;
    while (waiting.length > 0 && this.used < this.limit) {
      const server = waiting.shift()!;
      server.waiting = false;
      if (server.live()) server.serve(); // at the limit again, it queues itself once more
    }
  }
}

/** @internal The state of one queue of one activation being served. */
class Server implements ServedQueue {
  /** Inside the loop: completions leave the interrupt decision to the end of the pass. */
  looping = false;
  /** Chains completed inside the loop since the last interrupt decision. */
  pending = false;
  /** Stopped at the budget's limit, queued in `budget.waiting`. */
  waiting = false;
  handle: ChainHandler;
  budget: InFlightBudget | null;

  constructor(
    readonly ctx: ActivationContext,
    readonly index: number,
    readonly queue: Virtqueue,
    handle: ChainHandler,
    budget: InFlightBudget | null,
  ) {
    this.handle = handle;
    this.budget = budget;
  }

  /** Whether the queue is still the one the activation runs (not retired by a reset). */
  live(): boolean {
    return this.ctx.queues[this.index] === this.queue;
  }

  complete(chain: DescriptorChain, written: number): void {
    this.queue.addUsed(chain, written);
    if (this.looping) this.pending = true;
    else if (this.live() && this.queue.needsNotification()) this.ctx.interrupt.signalUsedBuffer(this.index);
    this.budget?.release();
  }

  /** The loop (see serveQueue). */
  serve(): void {
    if (this.looping) return;
    const queue = this.queue;
    const budget = this.budget;
    const handle = this.handle;
    this.looping = true;
    try {
      do {
        queue.disableNotification();
        if (budget === null) {
          for (let chain = queue.pop(); chain !== null; chain = queue.pop()) handle(chain, this);
        } else {
          for (;;) {
            if (budget.used >= budget.limit) {
              // Notifications stay off: a completion frees a slot and serves again.
              if (!this.waiting) {
                this.waiting = true;
                budget.waiting.push(this);
              }
              return;
            }
            const chain = queue.pop();
            if (chain === null) break;
            budget.used++;
            handle(chain, this);
          }
        }
      } while (queue.enableNotification());
    } catch (e) {
      if (!isQueueError(e)) throw e;
      this.ctx.needsReset(e);
    } finally {
      this.looping = false;
      if (this.pending) {
        this.pending = false;
        if (queue.needsNotification()) this.ctx.interrupt.signalUsedBuffer(this.index);
      }
    }
  }
}

/** One server per queue object (and activation), so serving allocates nothing per notification. */
const servers = new WeakMap<Virtqueue, Server>();

/**
 * Serves queue `index` of an activated device until the driver has nothing more in it: the loop
 * every device runs from `queueNotify`.
 *
 * ```text
 * do { disableNotification(); while (chain = pop()) handle(chain) } while (enableNotification())
 * if (something completed && needsNotification()) signalUsedBuffer(index)
 * ```
 * `enableNotification()` re-enables notifications (clears VIRTQ_USED_F_NO_NOTIFY, or publishes
 * avail_event with EVENT_IDX) and then looks at the ring once more: buffers the driver added while
 * notifications were off, which it did not kick for, are served now. A malformed ring (a Queue.*
 * error from the queue, or escaping the handler) is reported through `ctx.needsReset` and never
 * thrown: the driver must reset the device. Other exceptions from the handler propagate (the
 * transport turns them into DEVICE_NEEDS_RESET).
 *
 * Asynchronous devices complete later through `served.complete`; that relies on the queue to drop
 * completions that arrive after a reset or on a broken queue (`Virtqueue`, "Late completions"),
 * and on the transport to retire the queues of a reset (`ctx.queues[index]` becomes null). A call
 * while the same queue is being served (a handler that re-enters) returns at once: the running
 * loop looks at the ring again before it ends.
 *
 * With a `budget`, popping stops while `budget.inFlight` is at its limit and goes on by itself
 * when a completion frees a slot (the driver's kick is not needed then). A device that holds
 * chains indefinitely (receive or event buffers waiting for data) serves without one.
 * @param ctx - the device's activation context.
 * @param index - the queue to serve; a queue that is not running (null in `ctx.queues`) is skipped.
 * @param handle - called for each chain; see {@link ChainHandler}.
 * @param budget - the queue's {@link InFlightBudget}, the same object on every call; none: no bound.
 * @throws what `handle` throws, when it is not a Queue.* error.
 * @example
 * ```ts
 * queueNotify(index: number) {
 *   if (this.ctx) serveQueue(this.ctx, index, (chain, served) => served.complete(chain, 0));
 * }
 * ```
 */
export function serveQueue(ctx: ActivationContext, index: number, handle: ChainHandler, budget?: InFlightBudget): void {
  const queue = ctx.queues[index] ?? null;
  if (queue === null) return;
  let server = servers.get(queue);
  if (server === undefined || server.ctx !== ctx || server.index !== index) {
    server = new Server(ctx, index, queue, handle, budget ?? null);
    servers.set(queue, server);
  } else {
    server.handle = handle;
    server.budget = budget ?? null;
  }
  server.serve();
}

/**
 * Moves what a device has waiting into queue `index`'s buffers, the other direction of
 * {@link serveQueue} (receive and event queues, whose buffers the driver posts ahead for the device
 * to fill): a buffer is popped only while `waiting()`, given to `fill` and returned at once with
 * the bytes `fill` wrote, never held (a ring the frontend stops has nothing in flight, and every
 * buffer the driver posted is still its own, as rust-vmm's daemons and Linux's drivers expect).
 * Notifications (kicks) are wanted only while something waits and the ring is empty:
 *
 * ```text
 * loop { while (waiting() && (chain = pop())) { fill(chain.writer()); addUsed } ;
 *        if (!waiting()) { disableNotification(); break } ; if (!enableNotification()) break }
 * if (something was used && needsNotification()) signalUsedBuffer(index)
 * ```
 * A buffer too small for what waits is `fill`'s to decide: it writes nothing (the buffer goes
 * back with 0 bytes) or what fits. A malformed ring or buffer (a Queue.* or GuestMemory.* error)
 * is reported through `ctx.needsReset` and never thrown; other exceptions from `fill` propagate.
 * @param ctx - the device's activation context.
 * @param index - the queue; a queue that is not running (null in `ctx.queues`) is skipped.
 * @param waiting - whether something waits for a buffer (asked before each pop).
 * @param fill - writes what waits (or what fits of it) into one buffer, and takes it off the device's list.
 * @returns whether a buffer was returned to the driver.
 * @throws what `fill` throws, when it is not a Queue.* or GuestMemory.* error.
 * @example
 * ```ts
 * fillQueue(this.ctx, EVENTQ, () => this.events.length > 0, (out) => {
 *   if (out.remaining >= 8) out.write(this.events.shift()!);
 * });
 * ```
 */
export function fillQueue(ctx: ActivationContext, index: number, waiting: () => boolean, fill: (out: Writer) => void): boolean {
  const queue = ctx.queues[index] ?? null;
  if (queue === null) return false;
  let used = false;
  try {
    for (;;) {
      while (waiting()) {
        const chain = queue.pop();
        if (chain === null) break;
        const out = chain.writer();
        fill(out);
        queue.addUsed(chain, out.written);
        used = true;
      }
      if (!waiting()) {
        queue.disableNotification();
        break;
      }
      // Something waits and the ring is empty: ask for a kick, and look once more.
      if (!queue.enableNotification()) break;
    }
  } catch (e) {
    if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
    ctx.needsReset(e);
  }
  if (used && queue.needsNotification()) ctx.interrupt.signalUsedBuffer(index);
  return used;
}
