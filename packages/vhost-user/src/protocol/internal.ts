/**
 * Internal helpers of the protocol layer (not exported from the package).
 *
 * @module
 */

const U64_MAX = (1n << 64n) - 1n;

/** 2^64: one past the last byte of the address space. */
export const ADDRESS_SPACE_END = 1n << 64n;

/** Embedder-misuse check for u16 fields. */
export function assertU16(label: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${label} must be a u16, got ${String(value)}`);
}

/** Embedder-misuse check for u32 fields. */
export function assertU32(label: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${label} must be a u32, got ${String(value)}`);
  }
}

/** Embedder-misuse check for u64 fields. */
export function assertU64(label: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    throw new RangeError(`${label} must be a u64 bigint, got ${String(value)}`);
  }
}
