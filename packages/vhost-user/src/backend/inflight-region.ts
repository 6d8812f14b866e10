/**
 * Inflight I/O tracking for split virtqueues, in the shared buffer layout of vhost-user.rst
 * "Inflight I/O tracking" (QueueRegionSplit / DescStateSplit). The buffer is created by the
 * backend (GET_INFLIGHT_FD), kept by the frontend, and handed to a restarted backend
 * (SET_INFLIGHT_FD), which resubmits the requests that were in flight.
 *
 * Layout of one queue region (little-endian, native):
 * ```
 *   0  u64 features        (0)
 *   8  u16 version         (1; 0 = uninitialised buffer)
 *  10  u16 desc_num        (queue size)
 *  12  u16 last_batch_head
 *  14  u16 used_idx
 *  16  DescStateSplit desc[desc_num], 16 bytes each:
 *        0 u8 inflight, 1 u8 padding[5], 6 u16 next, 8 u64 counter
 * ```
 * Each queue region is rounded up to 64 bytes; queue i starts at i × regionSize.
 *
 * The buffer comes back from the frontend, so recovery treats it as untrusted: indices are
 * bounded by desc_num, the last-batch list walk is bounded by the batch size and the queue size.
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE } from '../protocol/constants.js';

/**
 * Version written into initialised queue regions.
 *
 * @example
 * ```ts
 * new DataView(buf).getUint16(8, true) === INFLIGHT_VERSION
 * ```
 */
export const INFLIGHT_VERSION = 1;
const HEADER = 16;
const DESC = 16;

/**
 * Bytes of one queue region for `queueSize` descriptors (header + states, rounded up to 64).
 *
 * @param queueSize - the virtqueue size (1..32768)
 * @returns the region size in bytes
 * @example
 * ```ts
 * inflightQueueRegionSize(128); // 2064 rounded up to 2112
 * ```
 */
export function inflightQueueRegionSize(queueSize: number): number {
  return Math.ceil((HEADER + DESC * queueSize) / 64) * 64;
}

/** What recovery found in a queue region. */
export interface InflightRecovery {
  /** Heads that were in flight, in submission order (by counter). */
  readonly heads: readonly number[];
  /** The next counter value to use (the resubmitted heads are renumbered 1..n in order). */
  readonly nextCounter: number;
}

/**
 * What a BackendQueue tells the inflight region of its ring, split or packed. Not exported from
 * the package.
 * @internal
 */
export interface InflightTracker {
  /** A chain was fetched: buffer `head`, fetch `counter`, ring positions `from`..`to` (packed). */
  markInflight(head: number, counter: number, from: number, to: number): void;
  /** Before its used element is published. */
  beginUsed(head: number): void;
  /** After it is published; `usedIdx` is the ring's next used index. */
  endUsed(head: number, usedIdx: number): void;
}

/**
 * One queue's region of an inflight buffer. Not exported from the package.
 * @internal
 */
export class InflightQueue implements InflightTracker {
  private readonly view: DataView;

  /**
   * @param buffer - the mapped inflight buffer
   * @param offset - byte offset of this queue's region
   * @param capacity - the buffer's queue size (desc entries that fit)
   */
  constructor(buffer: ArrayBuffer, offset: number, readonly capacity: number) {
    this.view = new DataView(buffer, offset, inflightQueueRegionSize(capacity));
  }

  /** The version field (0: uninitialised). */
  get version(): number {
    return this.view.getUint16(8, LE);
  }

  /** The desc_num field. */
  get descNum(): number {
    return this.view.getUint16(10, LE);
  }

  /** Clears the region and marks it initialised for `queueSize` descriptors. */
  initialize(queueSize: number): void {
    new Uint8Array(this.view.buffer, this.view.byteOffset, this.view.byteLength).fill(0);
    this.view.setUint16(8, INFLIGHT_VERSION, LE);
    this.view.setUint16(10, queueSize, LE);
  }

  /**
   * Recovers the state left by a previous backend (vhost-user.rst "When reconnecting"): undoes a
   * half-finished last batch when `used_idx` lags the used ring's idx, then lists the heads still
   * in flight in counter order.
   *
   * @param ringUsedIdx - the used ring's idx in guest memory
   * @param queueSize - the ring's size (must equal desc_num, checked by the caller)
   * @returns the heads to resubmit and the next counter, or null when the buffer is inconsistent
   *   with the ring (the caller then starts afresh)
   */
  recover(ringUsedIdx: number, queueSize: number): InflightRecovery | null {
    const v = this.view;
    const usedIdx = v.getUint16(14, LE);
    if (usedIdx !== ringUsedIdx) {
      const batch = (ringUsedIdx - usedIdx) & 0xffff;
      // A batch larger than the ring means the buffer does not belong to this ring's history.
      if (batch > queueSize) return null;
      let head = v.getUint16(12, LE);
      for (let i = 0; i < batch && head < queueSize; i++) {
        v.setUint8(HEADER + DESC * head, 0);
        head = v.getUint16(HEADER + DESC * head + 6, LE);
      }
      v.setUint16(14, ringUsedIdx, LE);
    }
    const found: { head: number; counter: bigint }[] = [];
    for (let head = 0; head < queueSize; head++) {
      const at = HEADER + DESC * head;
      if (v.getUint8(at) !== 0) found.push({ head, counter: v.getBigUint64(at + 8, LE) });
    }
    found.sort((a, b) => (a.counter < b.counter ? -1 : a.counter > b.counter ? 1 : a.head - b.head));
    // Renumber 1..n: keeps the order and keeps counters small numbers whatever the buffer held.
    found.forEach((f, i) => this.writeCounter(f.head, i + 1));
    return { heads: found.map((f) => f.head), nextCounter: found.length + 1 };
  }

  /** A head was fetched from the available ring (`counter` a non-negative safe integer). */
  markInflight(head: number, counter: number): void {
    this.writeCounter(head, counter);
    this.view.setUint8(HEADER + DESC * head, 1);
  }

  private writeCounter(head: number, counter: number): void {
    const at = HEADER + DESC * head + 8;
    const lo = counter % 0x1_0000_0000;
    const hi = (counter - lo) / 0x1_0000_0000;
    this.view.setUint32(at, LE ? lo : hi, LE);
    this.view.setUint32(at + 4, LE ? hi : lo, LE);
  }

  /** Before publishing a used element for `head`: link it into the last batch. */
  beginUsed(head: number): void {
    const v = this.view;
    v.setUint16(HEADER + DESC * head + 6, v.getUint16(12, LE), LE);
    v.setUint16(12, head, LE);
  }

  /** After publishing: `head` is no longer in flight; the used ring's idx is now `usedIdx`. */
  endUsed(head: number, usedIdx: number): void {
    this.view.setUint8(HEADER + DESC * head, 0);
    this.view.setUint16(14, usedIdx & 0xffff, LE);
  }
}
