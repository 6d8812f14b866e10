/**
 * The log description of SET_LOG_BASE (vhost-user.rst "Log description"): mmap_size u64,
 * mmap_offset u64. Rule: checklist §2.10 item 55 (nonzero size, no wrap).
 *
 * @module
 */

import { NATIVE_LITTLE_ENDIAN as LE } from './constants.js';
import { InvalidLogError } from '../errors.js';
import { ADDRESS_SPACE_END, assertU64 } from './internal.js';

/**
 * A dirty-log area description.
 *
 * @example
 * ```ts
 * const log: LogDescription = { mmapSize: 0x2_0000n, mmapOffset: 0n };
 * validateLog(log);
 * ```
 */
export interface LogDescription {
  /** Size of the log area in bytes. */
  readonly mmapSize: bigint;
  /** Offset of the area in its file descriptor. */
  readonly mmapOffset: bigint;
}

/**
 * Reads a log description (16 bytes).
 *
 * @param view - payload bytes
 * @param offset - byte offset (default 0)
 * @returns the description, unvalidated
 * @throws RangeError when fewer than 16 bytes follow `offset`
 * @example
 * ```ts
 * const log = readLog(body);
 * ```
 */
export function readLog(view: DataView, offset = 0): LogDescription {
  return { mmapSize: view.getBigUint64(offset, LE), mmapOffset: view.getBigUint64(offset + 8, LE) };
}

/**
 * Writes a log description.
 *
 * @param view - destination
 * @param offset - byte offset
 * @param log - the description
 * @throws RangeError when a field is not a u64 or the view is too short
 * @example
 * ```ts
 * writeLog(view, 12, { mmapSize: 0x1000n, mmapOffset: 0n });
 * ```
 */
export function writeLog(view: DataView, offset: number, log: LogDescription): void {
  assertU64('writeLog: mmapSize', log.mmapSize);
  assertU64('writeLog: mmapOffset', log.mmapOffset);
  view.setBigUint64(offset, log.mmapSize, LE);
  view.setBigUint64(offset + 8, log.mmapOffset, LE);
}

/**
 * Checks a log description: nonzero size, `mmapOffset + mmapSize ≤ 2^64`.
 *
 * @param log - a description from the wire
 * @throws VhostUser.InvalidLogError on a violation
 * @example
 * ```ts
 * validateLog(readLog(body));
 * ```
 */
export function validateLog(log: LogDescription): void {
  if (log.mmapSize === 0n) throw new InvalidLogError('zero size');
  if (log.mmapOffset + log.mmapSize > ADDRESS_SPACE_END) {
    throw new InvalidLogError('range wraps past 2^64', { mmapOffset: log.mmapOffset, mmapSize: log.mmapSize });
  }
}
