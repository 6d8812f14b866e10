/**
 * Guest addresses: 64-bit unsigned values passed as a number when below 2^53 and as a bigint
 * otherwise. Internal helpers that validate and normalise them.
 *
 * @module
 */

/**
 * A guest physical address. A number must be a non-negative safe integer (below 2^53); a bigint
 * must lie in 0..2^64-1. Anything else is embedder misuse (RangeError / TypeError).
 * @example
 * ```ts
 * const a: GuestAddress = 0x1000;
 * const b: GuestAddress = 0xffff_ffff_ffff_f000n;
 * ```
 */
export type GuestAddress = number | bigint;

/** 2^53 as a bigint: addresses from here on arrive as bigints. */
export const TWO_POW_53 = 2n ** 53n;
/** 2^64: one past the last guest address. */
export const TWO_POW_64 = 2n ** 64n;
/**
 * 2^64 - 1, the last guest address.
 * @example
 * ```ts
 * mem.readU8(MAX_GUEST_ADDRESS); // the top byte, if a region backs it
 * ```
 */
export const MAX_GUEST_ADDRESS = TWO_POW_64 - 1n;

/**
 * Validates a guest address and returns it as a number when it is below 2^53, else as a bigint.
 * @internal
 */
export function normalizeAddress(addr: unknown, label: string): number | bigint {
  if (typeof addr === 'number') {
    if (addr >= 0 && Number.isSafeInteger(addr)) return addr;
    throw new RangeError(`${label}: addr must be a non-negative safe integer (or a bigint up to 2^64-1), got ${addr}`);
  }
  if (typeof addr === 'bigint') {
    if (addr >= 0n && addr < TWO_POW_64) return addr < TWO_POW_53 ? Number(addr) : addr;
    throw new RangeError(`${label}: addr must be in 0..2^64-1, got ${addr}`);
  }
  throw new TypeError(`${label}: addr must be a number or a bigint, got ${typeof addr}`);
}

/** Validates a byte length (a non-negative safe integer). @internal */
export function checkLength(length: unknown, label: string): number {
  if (typeof length !== 'number') throw new TypeError(`${label}: length must be a number, got ${typeof length}`);
  if (length >= 0 && Number.isSafeInteger(length)) return length;
  throw new RangeError(`${label}: length must be a non-negative safe integer, got ${length}`);
}

/** Formats an address for messages. @internal */
export function hex(addr: number | bigint): string {
  return '0x' + addr.toString(16);
}
