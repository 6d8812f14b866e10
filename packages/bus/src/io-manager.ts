/**
 * IoManager: one PIO bus and one MMIO bus, registration and dispatch (vm-device's
 * `IoManager`), plus registration from resources that is all-or-nothing.
 *
 * vm-device's `register_*_resources` unwrap `BusRange::new` (a zero or overflowing resource
 * panics) and register range by range with no rollback (checklist rule 44). Here every range is
 * built and checked against the buses and against the other ranges of the same call first;
 * only then is anything registered, so any failure leaves the manager exactly as it was.
 * @module
 */
import type { MmioAddress, PioAddress } from './address.js';
import { PioBus, MmioBus } from './bus.js';
import { isMmioDevice, isPioDevice, isSharedDevice } from './device.js';
import type { MutDeviceMmio, MutDevicePio } from './device.js';
import { DeviceNotFoundError, DeviceOverlapError } from './errors.js';
import type { BusEntry, MmioManager, PioManager } from './manager.js';
import { MmioRange, PioRange } from './range.js';
import type { Resource } from './resources.js';

/** Options of an {@link IoManager}. @example `new IoManager({ sharedOnly: true })` */
export interface IoManagerOptions {
  /**
   * Refuse (TypeError) any device that does not declare `shared: true`: for a manager that each
   * vCPU worker builds for itself over devices whose state lives in a SharedArrayBuffer.
   */
  readonly sharedOnly?: boolean;
}

/**
 * The system I/O manager: a PIO bus and an MMIO bus.
 * @typeParam P - PIO device type (default: any exclusive PIO device)
 * @typeParam M - MMIO device type (default: any exclusive MMIO device)
 * @example
 * ```ts
 * const io = new IoManager();
 * io.registerPio(new PioRange(0x3f8, 8), uart);
 * io.registerMmio(new MmioRange(0xd000_0000, 0x200), virtioMmio);
 * io.pioWrite(0x3f8, Uint8Array.of(0x41));
 * const r = new Uint8Array(4); io.mmioRead(0xd000_0000, r);
 * ```
 */
export class IoManager<P extends MutDevicePio = MutDevicePio, M extends MutDeviceMmio = MutDeviceMmio> implements PioManager<P>, MmioManager<M> {
  /** The PIO bus. */
  readonly pio: PioBus<P> = new PioBus<P>();
  /** The MMIO bus. */
  readonly mmio: MmioBus<M> = new MmioBus<M>();
  /** Whether only shared devices are accepted. */
  readonly sharedOnly: boolean;

  /**
   * @param options - see {@link IoManagerOptions}
   * @throws TypeError when options is not an object
   */
  constructor(options: IoManagerOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('IoManager: options must be an object');
    this.sharedOnly = options.sharedOnly === true;
  }

  private checkShared(device: MutDevicePio | MutDeviceMmio, label: string): void {
    if (this.sharedOnly && !isSharedDevice(device)) throw new TypeError(`${label}: this IoManager holds only shared devices (shared: true)`);
  }

  /**
   * Dispatches a PIO read.
   * @param addr - first port
   * @param data - buffer the device fills
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError on a bad port or buffer
   * @example `const b = new Uint8Array(1); io.pioRead(0x3fd, b);`
   */
  pioRead(addr: PioAddress, data: Uint8Array): void {
    this.pio.read(addr, data);
  }

  /**
   * Dispatches a PIO write.
   * @param addr - first port
   * @param data - the bytes
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError on a bad port or buffer
   * @example `io.pioWrite(0x3f8, Uint8Array.of(0x41))`
   */
  pioWrite(addr: PioAddress, data: Uint8Array): void {
    this.pio.write(addr, data);
  }

  /**
   * Dispatches an MMIO read.
   * @param addr - first byte
   * @param data - buffer the device fills
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError on a bad address or buffer
   * @example `const b = new Uint8Array(4); io.mmioRead(0xd000_0000, b);`
   */
  mmioRead(addr: MmioAddress, data: Uint8Array): void {
    this.mmio.read(addr, data);
  }

  /**
   * Dispatches an MMIO write.
   * @param addr - first byte
   * @param data - the bytes
   * @throws EmptyAccessError, DeviceNotFoundError, AccessStraddlesRangeError
   * @throws RangeError / TypeError on a bad address or buffer
   * @example `io.mmioWrite(0xd000_0070, Uint8Array.of(1, 0, 0, 0))`
   */
  mmioWrite(addr: MmioAddress, data: Uint8Array): void {
    this.mmio.write(addr, data);
  }

  /**
   * Finds the PIO device holding `addr`.
   * @param addr - a port
   * @returns the entry or undefined
   * @throws RangeError / TypeError on a bad port
   * @example `io.pioDevice(0x3f8)?.device`
   */
  pioDevice(addr: PioAddress): BusEntry<PioRange, P> | undefined {
    return this.pio.find(addr);
  }

  /**
   * Finds the MMIO device holding `addr`.
   * @param addr - an MMIO address
   * @returns the entry or undefined
   * @throws RangeError / TypeError on a bad address
   * @example `io.mmioDevice(0xd000_0000)?.device`
   */
  mmioDevice(addr: MmioAddress): BusEntry<MmioRange, M> | undefined {
    return this.mmio.find(addr);
  }

  /**
   * Registers a PIO device.
   * @param range - the ports
   * @param device - the device
   * @throws DeviceOverlapError naming both ranges
   * @throws TypeError for a bad range/device, or an exclusive device on a `sharedOnly` manager
   * @example `io.registerPio(new PioRange(0x3f8, 8), uart)`
   */
  registerPio(range: PioRange, device: P): void {
    this.checkShared(device, 'IoManager.registerPio');
    this.pio.register(range, device);
  }

  /**
   * Registers an MMIO device.
   * @param range - the bytes (at most 2^53)
   * @param device - the device
   * @throws DeviceOverlapError naming both ranges; InvalidRangeError for a range over 2^53 bytes
   * @throws TypeError for a bad range/device, or an exclusive device on a `sharedOnly` manager
   * @example `io.registerMmio(new MmioRange(0xd000_0000, 0x200), dev)`
   */
  registerMmio(range: MmioRange, device: M): void {
    this.checkShared(device, 'IoManager.registerMmio');
    this.mmio.register(range, device);
  }

  /**
   * Unregisters the PIO device holding `addr`.
   * @param addr - any port of its range
   * @returns the removed entry
   * @throws DeviceNotFoundError when none holds addr
   * @example `io.unregisterPio(0x3f8)`
   */
  unregisterPio(addr: PioAddress): BusEntry<PioRange, P> {
    return this.pio.unregister(addr);
  }

  /**
   * Unregisters the MMIO device holding `addr`.
   * @param addr - any address of its range
   * @returns the removed entry
   * @throws DeviceNotFoundError when none holds addr
   * @example `io.unregisterMmio(0xd000_0000)`
   */
  unregisterMmio(addr: MmioAddress): BusEntry<MmioRange, M> {
    return this.mmio.unregister(addr);
  }

  /**
   * Registers `device` at every PIO and MMIO range among `resources` (other kinds are ignored),
   * all or nothing: any failure leaves both buses exactly as they were.
   * @param device - the device; it must implement the PIO methods if a PIO range is given and the MMIO methods if an MMIO range is given
   * @param resources - resources, typically from {@link ResourceAllocator.allocate}
   * @returns the ranges registered, in the order of the resources
   * @throws InvalidRangeError (zero size, end beyond the space, MMIO range over 2^53 bytes)
   * @throws DeviceOverlapError (with a registered range or between two of the resources)
   * @throws TypeError when resources is not an array, the device lacks the methods a range needs, or a `sharedOnly` manager gets an exclusive device
   * @example `io.registerResources(dev, [{ kind: 'mmio', base: 0xd0000000n, size: 0x200n }, { kind: 'legacyIrq', irq: 5 }])`
   */
  registerResources(device: P | M, resources: readonly Resource[]): Array<PioRange | MmioRange> {
    if (!Array.isArray(resources)) throw new TypeError('IoManager.registerResources: resources must be an array');
    const ranges: Array<PioRange | MmioRange> = [];
    for (const r of resources) {
      if (r?.kind === 'pio') {
        if (!isPioDevice(device)) throw new TypeError('IoManager.registerResources: a PIO range needs a device with pioRead/pioWrite');
        this.checkShared(device, 'IoManager.registerResources');
        const range = new PioRange(r.base, r.size);
        const clash = this.pio.overlapping(range);
        if (clash) throw new DeviceOverlapError(range.toString(), clash.range.toString());
        ranges.push(range);
      } else if (r?.kind === 'mmio') {
        if (!isMmioDevice(device)) throw new TypeError('IoManager.registerResources: an MMIO range needs a device with mmioRead/mmioWrite');
        this.checkShared(device, 'IoManager.registerResources');
        const range = new MmioRange(r.base, r.size);
        MmioBus.checkDeviceRange(range);
        const clash = this.mmio.overlapping(range);
        if (clash) throw new DeviceOverlapError(range.toString(), clash.range.toString());
        ranges.push(range);
      }
    }
    for (let i = 0; i < ranges.length; i++) {
      for (let j = 0; j < i; j++) {
        const a = ranges[i]!;
        const b = ranges[j]!;
        if (a.space === 'pio' && b.space === 'pio' ? a.overlaps(b) : a.space === 'mmio' && b.space === 'mmio' && a.overlaps(b)) {
          throw new DeviceOverlapError(a.toString(), b.toString());
        }
      }
    }
    const done: Array<PioRange | MmioRange> = [];
    try {
      for (const range of ranges) {
        if (range.space === 'pio') this.pio.register(range, device as P);
        else this.mmio.register(range, device as M);
        done.push(range);
      }
    } catch (e) {
      // Unreachable after the checks above; kept so that the all-or-nothing promise holds even then.
      for (const range of done) {
        if (range.space === 'pio') this.pio.unregister(range.base);
        else this.mmio.unregister(range.base);
      }
      throw e;
    }
    return ranges;
  }

  /**
   * Unregisters the device at every PIO and MMIO range among `resources`, all or nothing:
   * each range must be registered exactly (same base and size) or nothing is removed.
   * @param resources - the resources given to {@link IoManager.registerResources}
   * @returns the removed entries
   * @throws DeviceNotFoundError when a range is not registered exactly
   * @throws TypeError when resources is not an array
   * @example `io.unregisterResources(res)`
   */
  unregisterResources(resources: readonly Resource[]): Array<BusEntry<PioRange, P> | BusEntry<MmioRange, M>> {
    if (!Array.isArray(resources)) throw new TypeError('IoManager.unregisterResources: resources must be an array');
    const plan: Array<['pio', number] | ['mmio', bigint]> = [];
    for (const r of resources) {
      if (r?.kind === 'pio') {
        const range = new PioRange(r.base, r.size);
        const e = this.pio.find(range.base);
        if (!e || e.range.base !== range.base || e.range.size !== range.size || plan.some(([s, b]) => s === 'pio' && b === range.base)) throw new DeviceNotFoundError('pio', range.base);
        plan.push(['pio', range.base]);
      } else if (r?.kind === 'mmio') {
        const range = new MmioRange(r.base, r.size);
        const e = this.mmio.find(range.base);
        if (!e || e.range.base !== range.base || e.range.size !== range.size || plan.some(([s, b]) => s === 'mmio' && b === range.base)) throw new DeviceNotFoundError('mmio', range.base);
        plan.push(['mmio', range.base]);
      }
    }
    return plan.map(([space, base]) => (space === 'pio' ? this.pio.unregister(base) : this.mmio.unregister(base)));
  }
}
