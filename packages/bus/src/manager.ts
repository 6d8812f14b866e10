/**
 * The manager interfaces, apart from their implementation ({@link IoManager}), so that a
 * package can depend on "something that dispatches PIO/MMIO accesses" alone (vm-device's
 * `PioManager` / `MmioManager` traits).
 * @module
 */
import type { MmioAddress, PioAddress } from './address.js';
import type { MutDeviceMmio, MutDevicePio } from './device.js';
import type { MmioRange, PioRange } from './range.js';

/**
 * A registered range and its device.
 * @example `const e: BusEntry<PioRange, MutDevicePio> | undefined = manager.pioDevice(0x3f8);`
 */
export interface BusEntry<R, D> {
  /** The range the device is registered at. */
  readonly range: R;
  /** The device. */
  readonly device: D;
}

/**
 * Dispatch of PIO accesses (what a vCPU loop needs on an IN/OUT exit).
 * @example
 * ```ts
 * function onIoExit(io: PioDispatcher, port: number, data: Uint8Array, write: boolean) {
 *   if (write) io.pioWrite(port, data); else io.pioRead(port, data);
 * }
 * ```
 */
export interface PioDispatcher {
  /**
   * Reads `data.length` bytes at port `addr` from the device registered there.
   * @param addr - first port
   * @param data - buffer the device fills (length >= 1)
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError (typed, see errors)
   * @throws TypeError / RangeError when addr is not a port or data is not a Uint8Array
   * @example `const b = new Uint8Array(1); io.pioRead(0x3fd, b);`
   */
  pioRead(addr: PioAddress, data: Uint8Array): void;
  /**
   * Writes `data` at port `addr` to the device registered there.
   * @param addr - first port
   * @param data - the bytes (length >= 1)
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws TypeError / RangeError when addr is not a port or data is not a Uint8Array
   * @example `io.pioWrite(0x3f8, Uint8Array.of(0x41))`
   */
  pioWrite(addr: PioAddress, data: Uint8Array): void;
}

/**
 * Dispatch of MMIO accesses (what a vCPU loop needs on an MMIO exit).
 * @example
 * ```ts
 * function onMmioExit(io: MmioDispatcher, gpa: number, data: Uint8Array, write: boolean) {
 *   if (write) io.mmioWrite(gpa, data); else io.mmioRead(gpa, data);
 * }
 * ```
 */
export interface MmioDispatcher {
  /**
   * Reads `data.length` bytes at `addr` from the device registered there.
   * @param addr - first byte (number or bigint)
   * @param data - buffer the device fills (length >= 1)
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws TypeError / RangeError when addr is not an MMIO address or data is not a Uint8Array
   * @example `const b = new Uint8Array(4); io.mmioRead(0xd000_0000, b);`
   */
  mmioRead(addr: MmioAddress, data: Uint8Array): void;
  /**
   * Writes `data` at `addr` to the device registered there.
   * @param addr - first byte (number or bigint)
   * @param data - the bytes (length >= 1)
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws TypeError / RangeError when addr is not an MMIO address or data is not a Uint8Array
   * @example `io.mmioWrite(0xd000_0050, Uint8Array.of(0, 0, 0, 0))`
   */
  mmioWrite(addr: MmioAddress, data: Uint8Array): void;
}

/**
 * Registration and dispatch of PIO devices.
 * @typeParam D - the device type accepted (exclusive devices by default; `DevicePio` for a
 * manager that may only hold shared devices)
 * @example
 * ```ts
 * function attachCom1(pio: PioManager, uart: MutDevicePio) { pio.registerPio(new PioRange(0x3f8, 8), uart); }
 * ```
 */
export interface PioManager<D extends MutDevicePio = MutDevicePio> extends PioDispatcher {
  /**
   * Finds the device whose range holds `addr`, in O(log n).
   * @param addr - a port
   * @returns the entry, or undefined
   * @example `pio.pioDevice(0x3f8)?.device`
   */
  pioDevice(addr: PioAddress): BusEntry<PioRange, D> | undefined;
  /**
   * Registers a device at a range.
   * @param range - the ports
   * @param device - the device
   * @throws DeviceOverlapError (`Bus.DeviceOverlapError`) naming both ranges
   * @example `pio.registerPio(new PioRange(0x3f8, 8), uart)`
   */
  registerPio(range: PioRange, device: D): void;
  /**
   * Unregisters the device whose range holds `addr`.
   * @param addr - any port of the range
   * @returns the removed entry
   * @throws DeviceNotFoundError (`Bus.DeviceNotFoundError`) when no range holds addr
   * @example `pio.unregisterPio(0x3f8)`
   */
  unregisterPio(addr: PioAddress): BusEntry<PioRange, D>;
}

/**
 * Registration and dispatch of MMIO devices.
 * @typeParam D - the device type accepted
 * @example
 * ```ts
 * function attach(mmio: MmioManager, dev: MutDeviceMmio) { mmio.registerMmio(new MmioRange(0xd000_0000, 0x200), dev); }
 * ```
 */
export interface MmioManager<D extends MutDeviceMmio = MutDeviceMmio> extends MmioDispatcher {
  /**
   * Finds the device whose range holds `addr`, in O(log n).
   * @param addr - an MMIO address
   * @returns the entry, or undefined
   * @example `mmio.mmioDevice(0xd000_0000)?.range`
   */
  mmioDevice(addr: MmioAddress): BusEntry<MmioRange, D> | undefined;
  /**
   * Registers a device at a range.
   * @param range - the bytes (at most 2^53 of them)
   * @param device - the device
   * @throws DeviceOverlapError naming both ranges; InvalidRangeError when the range is larger than 2^53 bytes
   * @example `mmio.registerMmio(new MmioRange(0xd000_0000, 0x200), dev)`
   */
  registerMmio(range: MmioRange, device: D): void;
  /**
   * Unregisters the device whose range holds `addr`.
   * @param addr - any address of the range
   * @returns the removed entry
   * @throws DeviceNotFoundError when no range holds addr
   * @example `mmio.unregisterMmio(0xd000_0000)`
   */
  unregisterMmio(addr: MmioAddress): BusEntry<MmioRange, D>;
}
