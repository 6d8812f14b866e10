/**
 * Bus ranges: `[base, base + size - 1]` on the PIO or MMIO address space (the equivalent of
 * vm-device's `BusRange`). A range never has a zero size and never ends beyond its space; both
 * are refused with {@link InvalidRangeError} (validation rule 41).
 * @module
 */
import { checkPioAddress, hex, MMIO_ADDRESS_MAX, PIO_SPACE_SIZE, toMmioBigInt } from './address.js';
import type { BusSpace, MmioAddress, PioAddress } from './address.js';
import { InvalidRangeError } from './errors.js';
import { show } from './internal/show.js';

/**
 * A range of ports `[base, last]` on the PIO bus.
 * @example
 * ```ts
 * const com1 = new PioRange(0x3f8, 8); // [0x3f8, 0x3ff]
 * com1.contains(0x3fd); // true
 * ```
 */
export class PioRange {
  /** Always `'pio'`. */
  readonly space = 'pio' as const;
  /** First port. */
  readonly base: PioAddress;
  /** Number of ports (>= 1). */
  readonly size: number;
  /** Last port, `base + size - 1`. */
  readonly last: PioAddress;

  /**
   * @param base - first port, an integer in [0, 0xffff]
   * @param size - number of ports, an integer >= 1
   * @throws InvalidRangeError (`Bus.InvalidRangeError`) when size is 0 or the range ends beyond 0xffff
   * @throws TypeError / RangeError when base or size is not a non-negative integer
   */
  constructor(base: PioAddress, size: number) {
    if (typeof base !== 'number' || !Number.isSafeInteger(base) || base < 0) throw new RangeError(`PioRange: base must be a non-negative integer, got ${show(base)}`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new RangeError(`PioRange: size must be a non-negative integer, got ${show(size)}`);
    if (size === 0) throw new InvalidRangeError('zero size', { space: 'pio', base, size });
    if (base + size > PIO_SPACE_SIZE) throw new InvalidRangeError('ends beyond the PIO space', { space: 'pio', base, size });
    this.base = base;
    this.size = size;
    this.last = base + size - 1;
  }

  /**
   * Tells whether a port lies in the range.
   * @param addr - a port
   * @returns true when base <= addr <= last
   * @throws RangeError / TypeError when addr is not a valid port
   * @example `new PioRange(0x60, 1).contains(0x60) === true`
   */
  contains(addr: PioAddress): boolean {
    checkPioAddress(addr, 'PioRange.contains');
    return addr >= this.base && addr <= this.last;
  }

  /**
   * Tells whether two ranges share a port.
   * @param other - another PIO range
   * @returns true when they overlap
   * @example `new PioRange(0, 4).overlaps(new PioRange(3, 4)) === true`
   */
  overlaps(other: PioRange): boolean {
    return this.base <= other.last && other.base <= this.last;
  }

  /** @returns `pio[0x3f8..0x3ff]` @example `String(new PioRange(0x3f8, 8))` */
  toString(): string {
    return `pio[${hex(this.base)}..${hex(this.last)}]`;
  }
}

/**
 * A range of bytes `[base, last]` on the MMIO bus. Bounds are kept as `bigint`s; the
 * constructor accepts safe-integer numbers too.
 * @example
 * ```ts
 * const virtio0 = new MmioRange(0xd000_0000, 0x200);
 * virtio0.last; // 0xd00001ffn
 * ```
 */
export class MmioRange {
  /** Always `'mmio'`. */
  readonly space = 'mmio' as const;
  /** First byte. */
  readonly base: bigint;
  /** Number of bytes (>= 1). */
  readonly size: bigint;
  /** Last byte, `base + size - 1`. */
  readonly last: bigint;

  /**
   * @param base - first byte, a non-negative safe integer or a bigint below 2^64
   * @param size - number of bytes, >= 1, as a non-negative safe integer or a bigint
   * @throws InvalidRangeError (`Bus.InvalidRangeError`) when size is 0 or the range ends beyond 2^64 - 1
   * @throws TypeError / RangeError when base or size is not a non-negative integer
   */
  constructor(base: MmioAddress, size: number | bigint) {
    const b = toMmioBigInt(base, 'MmioRange: base');
    let s: bigint;
    if (typeof size === 'bigint') {
      if (size < 0n) throw new RangeError(`MmioRange: size must be non-negative, got ${size}`);
      s = size;
    } else if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) {
      s = BigInt(size);
    } else {
      throw new RangeError(`MmioRange: size must be a non-negative safe integer or a bigint, got ${show(size)}`);
    }
    if (s === 0n) throw new InvalidRangeError('zero size', { space: 'mmio', base: b, size: s });
    if (b + s - 1n > MMIO_ADDRESS_MAX) throw new InvalidRangeError('ends beyond the MMIO space', { space: 'mmio', base: b, size: s });
    this.base = b;
    this.size = s;
    this.last = b + s - 1n;
  }

  /**
   * Tells whether an address lies in the range.
   * @param addr - an MMIO address
   * @returns true when base <= addr <= last
   * @throws RangeError / TypeError when addr is not a valid MMIO address
   * @example `new MmioRange(0x1000, 0x100).contains(0x10ff) === true`
   */
  contains(addr: MmioAddress): boolean {
    const a = toMmioBigInt(addr, 'MmioRange.contains');
    return a >= this.base && a <= this.last;
  }

  /**
   * Tells whether two ranges share a byte.
   * @param other - another MMIO range
   * @returns true when they overlap
   * @example `new MmioRange(0, 16).overlaps(new MmioRange(15, 1)) === true`
   */
  overlaps(other: MmioRange): boolean {
    return this.base <= other.last && other.base <= this.last;
  }

  /** @returns `mmio[0xd0000000..0xd00001ff]` @example `String(new MmioRange(0xd000_0000, 0x200))` */
  toString(): string {
    return `mmio[${hex(this.base)}..${hex(this.last)}]`;
  }
}

/** A range on either bus. @example `const r: BusRange = new PioRange(0x3f8, 8);` */
export type BusRange = PioRange | MmioRange;

/** The range type of a bus space. @example `const r: RangeOf<'pio'> = new PioRange(0, 1);` */
export type RangeOf<S extends BusSpace> = S extends 'pio' ? PioRange : MmioRange;
