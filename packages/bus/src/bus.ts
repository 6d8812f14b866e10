/**
 * The PIO bus and the MMIO bus: devices registered at non-overlapping ranges, found by address
 * in O(log n), and accesses dispatched to them as `(base, offset, data)`.
 *
 * Validation (checklist rules 41-43): registration refuses an overlapping range with
 * {@link DeviceOverlapError} naming both ranges; an access must lie entirely inside one
 * registered range: a zero-length access is {@link EmptyAccessError}, an access that runs past
 * the end of the range holding its first byte is {@link AccessStraddlesRangeError}, and an
 * address with no device is {@link DeviceNotFoundError}. Dispatch of `number` addresses
 * allocates nothing.
 * @module
 */
import { checkPioAddress, MMIO_MAX_DEVICE_SIZE, toMmioBigInt } from './address.js';
import type { MmioAddress, PioAddress } from './address.js';
import type { MutDeviceMmio, MutDevicePio } from './device.js';
import { AccessStraddlesRangeError, DeviceNotFoundError, EmptyAccessError, InvalidRangeError } from './errors.js';
import { RangeTable } from './internal/range-table.js';
import type { BusEntry } from './manager.js';
import { MmioRange, PioRange } from './range.js';
import { show } from './internal/show.js';

/** Hint blocks of the PIO bus: one per port (PIO devices are a few ports wide). */
const PIO_HINT_BLOCK_SHIFT = 0;
/** Hint blocks of the MMIO bus: 512 bytes, the smallest virtio-mmio window, so packed windows do not share one. */
const MMIO_HINT_BLOCK_SHIFT = 9;

function checkData(data: unknown, label: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${label}: data must be a Uint8Array`);
}

/**
 * The PIO bus: ports `0..0xffff`.
 * @typeParam D - the device type it holds
 * @example
 * ```ts
 * const bus = new PioBus();
 * bus.register(new PioRange(0x3f8, 8), uart);
 * bus.write(0x3f8, Uint8Array.of(0x41)); // uart.pioWrite(0x3f8, 0, [0x41])
 * ```
 */
export class PioBus<D extends MutDevicePio = MutDevicePio> {
  private readonly table = new RangeTable<BusEntry<PioRange, D>>(PIO_HINT_BLOCK_SHIFT);

  /** Number of registered ranges. */
  get size(): number {
    return this.table.count;
  }

  /**
   * Registers a device at a range.
   * @param range - the ports
   * @param device - the device
   * @throws DeviceOverlapError (`Bus.DeviceOverlapError`) when range overlaps a registered range
   * @throws TypeError when range is not a PioRange or device lacks pioRead/pioWrite
   * @example `bus.register(new PioRange(0x60, 1), keyboard)`
   */
  register(range: PioRange, device: D): void {
    if (!(range instanceof PioRange)) throw new TypeError('PioBus.register: range must be a PioRange');
    if (typeof device?.pioRead !== 'function' || typeof device.pioWrite !== 'function') throw new TypeError('PioBus.register: device must implement pioRead and pioWrite');
    this.table.insert({ range, device }, BigInt(range.base), BigInt(range.last));
  }

  /**
   * Tells which registered range overlaps `range`, if any.
   * @param range - a candidate range
   * @returns the entry it overlaps, or undefined
   * @throws TypeError when range is not a PioRange
   * @example `if (bus.overlapping(r)) console.log('taken');`
   */
  overlapping(range: PioRange): BusEntry<PioRange, D> | undefined {
    if (!(range instanceof PioRange)) throw new TypeError('PioBus.overlapping: range must be a PioRange');
    const t = this.table;
    const n = t.findOverlap(BigInt(range.base), BigInt(range.last));
    return n < 0 ? undefined : t.entry[n];
  }

  /**
   * Unregisters the device whose range holds `addr`.
   * @param addr - any port of the range
   * @returns the removed entry
   * @throws DeviceNotFoundError (`Bus.DeviceNotFoundError`) when no range holds addr
   * @throws RangeError / TypeError when addr is not a port
   * @example `bus.unregister(0x3f8)`
   */
  unregister(addr: PioAddress): BusEntry<PioRange, D> {
    checkPioAddress(addr, 'PioBus.unregister');
    const n = this.table.findNumber(addr);
    if (n < 0) throw new DeviceNotFoundError('pio', addr);
    return this.table.remove(n);
  }

  /**
   * Finds the device whose range holds `addr`, in O(log n).
   * @param addr - a port
   * @returns the entry, or undefined
   * @throws RangeError / TypeError when addr is not a port
   * @example `bus.find(0x3fd)?.range.base === 0x3f8`
   */
  find(addr: PioAddress): BusEntry<PioRange, D> | undefined {
    checkPioAddress(addr, 'PioBus.find');
    const n = this.table.findNumber(addr);
    return n < 0 ? undefined : this.table.entry[n];
  }

  /**
   * Checks that `[addr, addr + length - 1]` lies inside one registered range.
   * @param addr - first port
   * @param length - access width in bytes
   * @returns the entry holding the access
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not a port or length not a non-negative integer
   * @example `bus.checkAccess(0x3f8, 1).device === uart`
   */
  checkAccess(addr: PioAddress, length: number): BusEntry<PioRange, D> {
    if (typeof addr !== 'number' || (addr & 0xffff) !== addr) checkPioAddress(addr, 'PioBus.checkAccess');
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`PioBus.checkAccess: length must be a non-negative integer, got ${show(length)}`);
    return this.resolve(addr, length);
  }

  private resolve(addr: number, length: number): BusEntry<PioRange, D> {
    if (length === 0) throw new EmptyAccessError('pio', addr);
    const t = this.table;
    const n = t.findNumber(addr);
    if (n < 0) throw new DeviceNotFoundError('pio', addr);
    const e = t.entry[n]!;
    if (addr + length - 1 > t.bounds[2 * n + 1]!) throw new AccessStraddlesRangeError('pio', addr, length, e.range.toString());
    return e;
  }

  /**
   * Dispatches a read of `data.length` bytes at `addr`.
   * @param addr - first port
   * @param data - buffer the device fills
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not a port or data not a Uint8Array
   * @example `const b = new Uint8Array(1); bus.read(0x3fd, b);`
   */
  read(addr: PioAddress, data: Uint8Array): void {
    if (typeof addr !== 'number' || (addr & 0xffff) !== addr) checkPioAddress(addr, 'PioBus.read');
    checkData(data, 'PioBus.read');
    const e = this.resolve(addr, data.length);
    e.device.pioRead(e.range.base, addr - e.range.base, data);
  }

  /**
   * Dispatches a write of `data` at `addr`.
   * @param addr - first port
   * @param data - the bytes
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not a port or data not a Uint8Array
   * @example `bus.write(0x3f8, Uint8Array.of(0x41))`
   */
  write(addr: PioAddress, data: Uint8Array): void {
    if (typeof addr !== 'number' || (addr & 0xffff) !== addr) checkPioAddress(addr, 'PioBus.write');
    checkData(data, 'PioBus.write');
    const e = this.resolve(addr, data.length);
    e.device.pioWrite(e.range.base, addr - e.range.base, data);
  }

  /**
   * The registered entries in address order.
   * @returns a copy of the entries
   * @example `for (const { range } of bus.entries()) console.log(String(range));`
   */
  entries(): BusEntry<PioRange, D>[] {
    return this.table.entries().slice();
  }
}

/**
 * The MMIO bus: bytes `0..2^64-1`. Device ranges hold at most 2^53 bytes.
 * @typeParam D - the device type it holds
 * @example
 * ```ts
 * const bus = new MmioBus();
 * bus.register(new MmioRange(0xd000_0000, 0x200), virtioMmio);
 * const b = new Uint8Array(4);
 * bus.read(0xd000_0000, b); // device.mmioRead(0xd0000000n, 0, b)
 * ```
 */
export class MmioBus<D extends MutDeviceMmio = MutDeviceMmio> {
  private readonly table = new RangeTable<BusEntry<MmioRange, D>>(MMIO_HINT_BLOCK_SHIFT);

  /** Number of registered ranges. */
  get size(): number {
    return this.table.count;
  }

  /**
   * Checks that a range may be registered on an MMIO bus (at most 2^53 bytes).
   * @param range - the range
   * @throws InvalidRangeError (`Bus.InvalidRangeError`) when it is larger than 2^53 bytes
   * @throws TypeError when range is not an MmioRange
   * @example `MmioBus.checkDeviceRange(new MmioRange(0, 0x1000))`
   */
  static checkDeviceRange(range: MmioRange): void {
    if (!(range instanceof MmioRange)) throw new TypeError('MmioBus: range must be an MmioRange');
    if (range.size > MMIO_MAX_DEVICE_SIZE) throw new InvalidRangeError('an MMIO device range holds at most 2^53 bytes', { space: 'mmio', base: range.base, size: range.size });
  }

  /**
   * Registers a device at a range.
   * @param range - the bytes (at most 2^53)
   * @param device - the device
   * @throws DeviceOverlapError (`Bus.DeviceOverlapError`) when range overlaps a registered range
   * @throws InvalidRangeError when range is larger than 2^53 bytes
   * @throws TypeError when range is not an MmioRange or device lacks mmioRead/mmioWrite
   * @example `bus.register(new MmioRange(0xd000_0000, 0x200), dev)`
   */
  register(range: MmioRange, device: D): void {
    MmioBus.checkDeviceRange(range);
    if (typeof device?.mmioRead !== 'function' || typeof device.mmioWrite !== 'function') throw new TypeError('MmioBus.register: device must implement mmioRead and mmioWrite');
    this.table.insert({ range, device }, range.base, range.last);
  }

  /**
   * Tells which registered range overlaps `range`, if any.
   * @param range - a candidate range
   * @returns the entry it overlaps, or undefined
   * @throws TypeError when range is not an MmioRange
   * @example `if (bus.overlapping(r)) console.log('taken');`
   */
  overlapping(range: MmioRange): BusEntry<MmioRange, D> | undefined {
    if (!(range instanceof MmioRange)) throw new TypeError('MmioBus.overlapping: range must be an MmioRange');
    const t = this.table;
    const n = t.findOverlap(range.base, range.last);
    return n < 0 ? undefined : t.entry[n];
  }

  /**
   * Unregisters the device whose range holds `addr`.
   * @param addr - any address of the range
   * @returns the removed entry
   * @throws DeviceNotFoundError (`Bus.DeviceNotFoundError`) when no range holds addr
   * @throws RangeError / TypeError when addr is not an MMIO address
   * @example `bus.unregister(0xd000_0000)`
   */
  unregister(addr: MmioAddress): BusEntry<MmioRange, D> {
    const a = toMmioBigInt(addr, 'MmioBus.unregister');
    const n = this.table.findBig(a);
    if (n < 0) throw new DeviceNotFoundError('mmio', addr);
    return this.table.remove(n);
  }

  /**
   * Finds the device whose range holds `addr`, in O(log n).
   * @param addr - an MMIO address
   * @returns the entry, or undefined
   * @throws RangeError / TypeError when addr is not an MMIO address
   * @example `bus.find(0xd000_0010)?.range.base === 0xd0000000n`
   */
  find(addr: MmioAddress): BusEntry<MmioRange, D> | undefined {
    const n = this.table.findBig(toMmioBigInt(addr, 'MmioBus.find'));
    return n < 0 ? undefined : this.table.entry[n];
  }

  /**
   * Checks that `[addr, addr + length - 1]` lies inside one registered range.
   * @param addr - first byte
   * @param length - access width in bytes
   * @returns the entry holding the access
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not an MMIO address or length not a non-negative integer
   * @example `bus.checkAccess(0xd000_0000, 4).device === dev`
   */
  checkAccess(addr: MmioAddress, length: number): BusEntry<MmioRange, D> {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`MmioBus.checkAccess: length must be a non-negative integer, got ${show(length)}`);
    const n = typeof addr === 'number' && isAddrNumber(addr) ? this.resolveNumber(addr, length) : this.resolveBig(toMmioBigInt(addr, 'MmioBus.checkAccess'), length);
    return this.table.entry[n]!;
  }

  private resolveNumber(addr: number, length: number): number {
    if (length === 0) throw new EmptyAccessError('mmio', addr);
    const t = this.table;
    const n = t.findNumber(addr);
    if (n < 0) throw new DeviceNotFoundError('mmio', addr);
    if (!t.endsInside(n, addr, length)) throw new AccessStraddlesRangeError('mmio', addr, length, t.entry[n]!.range.toString());
    return n;
  }

  private resolveBig(addr: bigint, length: number): number {
    if (length === 0) throw new EmptyAccessError('mmio', addr);
    const t = this.table;
    const n = t.findBig(addr);
    if (n < 0) throw new DeviceNotFoundError('mmio', addr);
    if (!t.endsInsideBig(n, addr, length)) throw new AccessStraddlesRangeError('mmio', addr, length, t.entry[n]!.range.toString());
    return n;
  }

  /**
   * Dispatches a read of `data.length` bytes at `addr`.
   * @param addr - first byte (number or bigint)
   * @param data - buffer the device fills
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not an MMIO address or data not a Uint8Array
   * @example `const b = new Uint8Array(4); bus.read(0xd000_0000, b);`
   */
  read(addr: MmioAddress, data: Uint8Array): void {
    checkData(data, 'MmioBus.read');
    const t = this.table;
    const len = data.length;
    if (typeof addr === 'number') {
      // Fast path: a safe-integer address whose access ends inside the range holding it.
      if (addr >= 0 && addr + len <= MAX_SAFE && len !== 0 && Number.isInteger(addr)) {
        const n = t.findNumber(addr);
        if (n >= 0 && addr + len - 1 <= t.bounds[2 * n + 1]!) {
          t.entry[n]!.device.mmioRead(t.base[n]!, addr - t.bounds[2 * n]!, data);
          return;
        }
      }
      if (isAddrNumber(addr)) {
        const n = this.resolveNumber(addr, len);
        t.entry[n]!.device.mmioRead(t.base[n]!, addr - t.bounds[2 * n]!, data);
        return;
      }
    }
    const a = toMmioBigInt(addr, 'MmioBus.read');
    const n = this.resolveBig(a, len);
    t.entry[n]!.device.mmioRead(t.base[n]!, Number(a - t.base[n]!), data);
  }

  /**
   * Dispatches a write of `data` at `addr`.
   * @param addr - first byte (number or bigint)
   * @param data - the bytes
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError when addr is not an MMIO address or data not a Uint8Array
   * @example `bus.write(0xd000_0050, Uint8Array.of(0, 0, 0, 0))`
   */
  write(addr: MmioAddress, data: Uint8Array): void {
    checkData(data, 'MmioBus.write');
    const t = this.table;
    const len = data.length;
    if (typeof addr === 'number') {
      // Fast path: a safe-integer address whose access ends inside the range holding it.
      if (addr >= 0 && addr + len <= MAX_SAFE && len !== 0 && Number.isInteger(addr)) {
        const n = t.findNumber(addr);
        if (n >= 0 && addr + len - 1 <= t.bounds[2 * n + 1]!) {
          t.entry[n]!.device.mmioWrite(t.base[n]!, addr - t.bounds[2 * n]!, data);
          return;
        }
      }
      if (isAddrNumber(addr)) {
        const n = this.resolveNumber(addr, len);
        t.entry[n]!.device.mmioWrite(t.base[n]!, addr - t.bounds[2 * n]!, data);
        return;
      }
    }
    const a = toMmioBigInt(addr, 'MmioBus.write');
    const n = this.resolveBig(a, len);
    t.entry[n]!.device.mmioWrite(t.base[n]!, Number(a - t.base[n]!), data);
  }

  /**
   * The registered entries in address order.
   * @returns a copy of the entries
   * @example `bus.entries().length === bus.size`
   */
  entries(): BusEntry<MmioRange, D>[] {
    return this.table.entries().slice();
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A number usable directly as an MMIO address: a non-negative safe integer. */
function isAddrNumber(addr: number): boolean {
  return addr >= 0 && addr <= Number.MAX_SAFE_INTEGER && Math.floor(addr) === addr;
}
