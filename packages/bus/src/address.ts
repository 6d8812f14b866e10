/**
 * Address types of the two buses: the x86 port I/O space (16 bits) and the memory-mapped I/O
 * space (64 bits).
 *
 * PIO addresses are `number`s in `[0, 0xffff]`. MMIO addresses are accepted as a `number` (a
 * non-negative safe integer) or a `bigint` in `[0, 2^64 - 1]`; ranges keep them as `bigint`,
 * while dispatch of a `number` address never allocates. Offsets inside a device's range are
 * always `number`s (a device range is at most 2^53 bytes, see {@link MMIO_MAX_DEVICE_SIZE}).
 * @module
 */

/** A port number on the PIO bus, an integer in `[0, 0xffff]`. @example `const com1: PioAddress = 0x3f8;` */
export type PioAddress = number;
/** A byte offset inside a PIO device's range. @example `const lsr: PioAddressOffset = 5;` */
export type PioAddressOffset = number;
/**
 * An address on the MMIO bus: a non-negative safe integer `number`, or a `bigint` below 2^64.
 * @example `const virtio0: MmioAddress = 0xd000_0000; const high: MmioAddress = 0x1_0000_0000_0000n;`
 */
export type MmioAddress = number | bigint;
/** A byte offset inside an MMIO device's range (always a safe integer). @example `const queueNotify: MmioAddressOffset = 0x50;` */
export type MmioAddressOffset = number;

/** The bus an address, range or device belongs to. @example `const s: BusSpace = 'pio';` */
export type BusSpace = 'pio' | 'mmio';

/** Number of ports on the PIO bus (2^16). @example `PIO_SPACE_SIZE === 0x10000` */
export const PIO_SPACE_SIZE = 0x10000;
/** Number of bytes of the MMIO space (2^64). @example `MMIO_SPACE_SIZE === 1n << 64n` */
export const MMIO_SPACE_SIZE: bigint = 1n << 64n;
/** The largest MMIO address (2^64 - 1). @example `MMIO_ADDRESS_MAX === 0xffff_ffff_ffff_ffffn` */
export const MMIO_ADDRESS_MAX: bigint = MMIO_SPACE_SIZE - 1n;
/**
 * The largest size of an MMIO range registered on a bus (2^53 bytes), so that every offset a
 * device receives is an exact `number`. Ranges used as allocation pools may be larger.
 * @example `MMIO_MAX_DEVICE_SIZE === 2n ** 53n`
 */
export const MMIO_MAX_DEVICE_SIZE: bigint = 1n << 53n;

/**
 * Checks a PIO address supplied by the embedder.
 * @param addr - the port
 * @param label - prefix of the error message
 * @returns addr
 * @throws TypeError when addr is not a number; RangeError when it is not an integer in [0, 0xffff]
 * @example `checkPioAddress(0x3f8, 'pioRead')`
 */
export function checkPioAddress(addr: unknown, label: string): PioAddress {
  if (typeof addr !== 'number') throw new TypeError(`${label}: PIO address must be a number, got ${typeof addr}`);
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffff) throw new RangeError(`${label}: PIO address must be an integer in [0, 0xffff], got ${addr}`);
  return addr;
}

/**
 * Converts an MMIO address supplied by the embedder to a `bigint`.
 * @param addr - a non-negative safe integer or a bigint below 2^64
 * @param label - prefix of the error message
 * @returns the address as a bigint
 * @throws TypeError when addr is neither a number nor a bigint; RangeError when it is negative,
 * not a safe integer, or not below 2^64
 * @example `toMmioBigInt(0xd000_0000, 'mmioRead') === 0xd000_0000n`
 */
export function toMmioBigInt(addr: unknown, label: string): bigint {
  if (typeof addr === 'bigint') {
    if (addr < 0n || addr > MMIO_ADDRESS_MAX) throw new RangeError(`${label}: MMIO address must be in [0, 2^64 - 1], got 0x${addr.toString(16)}`);
    return addr;
  }
  if (typeof addr === 'number') {
    if (!Number.isSafeInteger(addr) || addr < 0) throw new RangeError(`${label}: MMIO address must be a non-negative safe integer or a bigint, got ${addr}`);
    return BigInt(addr);
  }
  throw new TypeError(`${label}: MMIO address must be a number or a bigint, got ${typeof addr}`);
}

/**
 * Formats an address as hexadecimal (`0x3f8`).
 * @param addr - a number or bigint
 * @returns the hex string
 * @example `hex(1016) === '0x3f8'`
 */
export function hex(addr: number | bigint): string {
  return `0x${addr.toString(16)}`;
}
