/**
 * The one device loop over a virtqueue, with notification suppression as VIRTIO 1.2 §2.7.10
 * (split) and §2.8.21 (packed) describe it: notifications off while the device works through the
 * ring, back on, and one more look before sleeping, so that a buffer made available in between
 * is never left without a kick. Completions, immediate or asynchronous, signal the used-buffer
 * interrupt only when the driver asked for one (`needsNotification()`: NO_INTERRUPT, used_event
 * with EVENT_IDX, or the packed event suppression structure), once per pass of the loop.
 * @module
 */
import { isQueueError } from '@vmv/queue';
import type { DescriptorChain, Virtqueue } from '@vmv/queue';
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

class Server implements ServedQueue {
  /** Inside serveQueue's loop: completions leave the interrupt decision to the end of the pass. */
  looping = false;
  /** Chains completed inside the loop since the last interrupt decision. */
  pending = false;

  constructor(
    readonly ctx: ActivationContext,
    readonly index: number,
    readonly queue: Virtqueue,
  ) {}

  complete(chain: DescriptorChain, written: number): void {
    this.queue.addUsed(chain, written);
    if (this.looping) this.pending = true;
    else if (this.queue.needsNotification()) this.ctx.interrupt.signalUsedBuffer(this.index);
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
 * completions that arrive after a reset or on a broken queue (issue 12; `Virtqueue`, "Late
 * completions"), and on the transport to make a reset context's interrupts inert. A call while the
 * same queue is being served (a handler that re-enters) returns at once: the running loop looks
 * at the ring again before it ends.
 * @param ctx - the device's activation context.
 * @param index - the queue to serve; a queue that is not running (null in `ctx.queues`) is skipped.
 * @param handle - called for each chain; see {@link ChainHandler}.
 * @throws what `handle` throws, when it is not a Queue.* error.
 * @example
 * ```ts
 * queueNotify(index: number) {
 *   if (this.ctx) serveQueue(this.ctx, index, (chain, served) => served.complete(chain, 0));
 * }
 * ```
 */
export function serveQueue(ctx: ActivationContext, index: number, handle: ChainHandler): void {
  const queue = ctx.queues[index] ?? null;
  if (queue === null) return;
  let server = servers.get(queue);
  if (server === undefined || server.ctx !== ctx || server.index !== index) {
    server = new Server(ctx, index, queue);
    servers.set(queue, server);
  }
  if (server.looping) return;
  server.looping = true;
  try {
    do {
      queue.disableNotification();
      for (let chain = queue.pop(); chain !== null; chain = queue.pop()) handle(chain, server);
    } while (queue.enableNotification());
  } catch (e) {
    if (!isQueueError(e)) throw e;
    ctx.needsReset(e);
  } finally {
    server.looping = false;
    if (server.pending) {
      server.pending = false;
      if (queue.needsNotification()) ctx.interrupt.signalUsedBuffer(index);
    }
  }
}
