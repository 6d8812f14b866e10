/**
 * The inflight description of GET_INFLIGHT_FD / SET_INFLIGHT_FD (vhost-user.rst "Inflight
 * description"): mmap_size u64, mmap_offset u64, num_queues u16, queue_size u16, and 4 bytes of
 * C struct padding (QEMU sends `sizeof(VhostUserInflight)` = 24). Rules: checklist §2.10 item 55
 * plus bounds against the device's queue count and maximum queue size, since the backend sizes
 * a shared buffer from these numbers.
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE } from './constants.js';
import { InvalidInflightError } from '../errors.js';
import { ADDRESS_SPACE_END, assertU16, assertU64 } from './internal.js';

/**
 * An inflight buffer description.
 *
 * @example
 * ```ts
 * const wanted: InflightDescription = { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 }; // GET_INFLIGHT_FD request
 * writeInflight(view, 12, wanted);
 * ```
 */
export interface InflightDescription {
  /** Size of the shared buffer (0 in a GET_INFLIGHT_FD request). */
  readonly mmapSize: bigint;
  /** Offset of the buffer in its file descriptor. */
  readonly mmapOffset: bigint;
  /** Number of virtqueues tracked. */
  readonly numQueues: number;
  /** Size of each virtqueue. */
  readonly queueSize: number;
}

/**
 * Reads an inflight description (24 bytes).
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the description, unvalidated
 * @throws RangeError when fewer than 20 bytes follow `offset`
 * @example
 * ```ts
 * const inflight = readInflight(body);
 * ```
 */
export function readInflight(view: DataView, offset = 0): InflightDescription {
  return {
    mmapSize: view.getBigUint64(offset, LE),
    mmapOffset: view.getBigUint64(offset + 8, LE),
    numQueues: view.getUint16(offset + 16, LE),
    queueSize: view.getUint16(offset + 18, LE),
  };
}

/**
 * Writes an inflight description (24 bytes, padding zeroed).
 *
 * @param view - destination
 * @param offset - byte offset
 * @param inflight - the description
 * @throws RangeError when a field is out of range or the view is too short
 * @example
 * ```ts
 * writeInflight(view, 12, { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 });
 * ```
 */
export function writeInflight(view: DataView, offset: number, inflight: InflightDescription): void {
  assertU64('writeInflight: mmapSize', inflight.mmapSize);
  assertU64('writeInflight: mmapOffset', inflight.mmapOffset);
  assertU16('writeInflight: numQueues', inflight.numQueues);
  assertU16('writeInflight: queueSize', inflight.queueSize);
  view.setBigUint64(offset, inflight.mmapSize, LE);
  view.setBigUint64(offset + 8, inflight.mmapOffset, LE);
  view.setUint16(offset + 16, inflight.numQueues, LE);
  view.setUint16(offset + 18, inflight.queueSize, LE);
  view.setUint32(offset + 20, 0, LE);
}

/**
 * Limits an inflight description is checked against.
 *
 * @example
 * ```ts
 * const limits: InflightLimits = { maxQueues: 1, maxQueueSize: 256, requireMapping: true };
 * validateInflight(readInflight(body), limits); // SET_INFLIGHT_FD
 * ```
 */
export interface InflightLimits {
  /** Most queues the device has. */
  readonly maxQueues: number;
  /** Largest queue size the device accepts. */
  readonly maxQueueSize: number;
  /** Also require a nonzero, non-wrapping mapping (SET_INFLIGHT_FD). */
  readonly requireMapping: boolean;
}

/**
 * Checks an inflight description: 1 ≤ num_queues ≤ maxQueues, 1 ≤ queue_size ≤ maxQueueSize,
 * and with `requireMapping` a nonzero mmap_size whose range does not wrap past 2^64.
 *
 * @param inflight - a description from the wire
 * @param limits - the device's limits
 * @throws VhostUser.InvalidInflightError on a violation
 * @example
 * ```ts
 * validateInflight(readInflight(body), { maxQueues: 1, maxQueueSize: 256, requireMapping: true });
 * ```
 */
export function validateInflight(inflight: InflightDescription, limits: InflightLimits): void {
  if (inflight.numQueues === 0 || inflight.numQueues > limits.maxQueues) {
    throw new InvalidInflightError('queue count out of range', { numQueues: inflight.numQueues, max: limits.maxQueues });
  }
  if (inflight.queueSize === 0 || inflight.queueSize > limits.maxQueueSize) {
    throw new InvalidInflightError('queue size out of range', { queueSize: inflight.queueSize, max: limits.maxQueueSize });
  }
  if (limits.requireMapping) {
    if (inflight.mmapSize === 0n) throw new InvalidInflightError('zero mmap size');
    if (inflight.mmapOffset + inflight.mmapSize > ADDRESS_SPACE_END) {
      throw new InvalidInflightError('mapping wraps past 2^64', { mmapOffset: inflight.mmapOffset, mmapSize: inflight.mmapSize });
    }
  }
}
