/**
 * The arguments of a `VirtioMmioTransport`, checked (embedder misuse throws TypeError or
 * RangeError with a labelled message), and the shared memory region registers they imply
 * (VIRTIO 1.2 §2.10, §4.2.2 SHMLen / SHMBase).
 * @module
 */
import type { InterruptSourceGroup } from '@vmv/bus';
import type { VirtioDevice } from '@vmv/device-trait';
import { isMemorySource } from '@vmv/memory';
import type { GuestMemory, MemorySource } from '@vmv/memory';
import type { MmioDiagnostic } from './diagnostics.js';

const U32 = 0xffff_ffff;


/**
 * Options of a `VirtioMmioTransport`.
 * @example
 * ```ts
 * const opts: VirtioMmioTransportOptions = { memory, interrupt: irqs.createLegacyGroup(5, 1, 'level') };
 * ```
 */
export interface VirtioMmioTransportOptions {
  /** Guest memory the device's queues live in (or a holder of it). */
  readonly memory: GuestMemory | MemorySource;
  /**
   * The device's interrupt: a legacy line (level-triggered is what virtio-mmio describes: it
   * stays asserted while InterruptStatus is non-zero; an edge line gets one pulse per event) or
   * an MSI vector (one message per event).
   */
  readonly interrupt: InterruptSourceGroup;
  /** Which source of `interrupt` is this device's (default 0). */
  readonly interruptIndex?: number;
  /** The VendorID register (u32, default 0). */
  readonly vendorId?: number;
  /**
   * Guest physical base address of each shared memory region the device declares in
   * `sharedMemoryRegions` (VIRTIO 1.2 §2.10), by region ID.
   */
  readonly sharedMemoryBases?: ReadonlyMap<number, number | bigint>;
  /** Told about every refused access and every entry into DEVICE_NEEDS_RESET (see {@link MmioDiagnostic}). */
  readonly onDiagnostic?: (diagnostic: MmioDiagnostic) => void;
}

/**
 * The SHMLen and SHMBase register halves of one shared memory region.
 * @example `const e: ShmEntry = { lenLo: 0x1000, lenHi: 0, baseLo: 0, baseHi: 1 };`
 */
export interface ShmEntry {
  readonly lenLo: number;
  readonly lenHi: number;
  readonly baseLo: number;
  readonly baseHi: number;
}

/**
 * The transport's options after {@link checkTransportOptions}.
 * @example `const { memory, interruptIndex } = checkTransportOptions(device, options);`
 */
export interface CheckedTransportOptions {
  readonly memory: GuestMemory | MemorySource;
  readonly interrupt: InterruptSourceGroup;
  readonly interruptIndex: number;
  readonly vendorId: number;
  readonly configSize: number;
  readonly onDiagnostic: ((d: MmioDiagnostic) => void) | undefined;
  /** Shared memory region registers by region ID. */
  readonly shm: Map<number, ShmEntry>;
}


function toU64(value: number | bigint, label: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${label} must be a u64, got ${value}`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RangeError(`${label} must be a non-negative safe integer or a bigint, got ${String(value)}`);
  return BigInt(value);
}

/**
 * Checks the constructor arguments of a `VirtioMmioTransport` (the device's shape, the options)
 * and lays out the shared memory region registers.
 * @param device - the device to serve.
 * @param options - the transport options.
 * @returns the options with defaults applied.
 * @throws TypeError when `device` or an option has the wrong type.
 * @throws RangeError when the config size is not in 0..4096, `interruptIndex` is outside the
 *   group, `vendorId` is not a u32, or a shared memory region has no base address or does not fit.
 * @example `const checked = checkTransportOptions(device, { memory, interrupt });`
 */
export function checkTransportOptions(device: VirtioDevice, options: VirtioMmioTransportOptions): CheckedTransportOptions {
  if (typeof device !== 'object' || device === null) throw new TypeError('VirtioMmioTransport: device must be a VirtioDevice');
  for (const m of ['readConfig', 'writeConfig', 'activate', 'queueNotify', 'reset'] as const) {
    if (typeof device[m] !== 'function') throw new TypeError(`VirtioMmioTransport: device.${m} must be a function`);
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('VirtioMmioTransport: options must be an object');
  const { memory, interrupt } = options;
  if (typeof memory !== 'object' || memory === null || (!isMemorySource(memory) && typeof (memory as GuestMemory).view !== 'function')) {
    throw new TypeError('VirtioMmioTransport: options.memory must be a GuestMemory or an object with a `current` GuestMemory');
  }
  if (typeof interrupt !== 'object' || interrupt === null || typeof interrupt.trigger !== 'function') throw new TypeError('VirtioMmioTransport: options.interrupt must be an InterruptSourceGroup');
  const interruptIndex = options.interruptIndex ?? 0;
  if (!Number.isInteger(interruptIndex) || interruptIndex < 0 || interruptIndex >= interrupt.count) {
    throw new RangeError(`VirtioMmioTransport: interruptIndex must be in 0..${interrupt.count - 1}, got ${String(interruptIndex)}`);
  }
  const vendorId = options.vendorId ?? 0;
  if (!Number.isInteger(vendorId) || vendorId < 0 || vendorId > U32) throw new RangeError(`VirtioMmioTransport: vendorId must be a u32, got ${String(vendorId)}`);
  if (options.onDiagnostic !== undefined && typeof options.onDiagnostic !== 'function') throw new TypeError('VirtioMmioTransport: options.onDiagnostic must be a function');
  if (typeof device.deviceFeatures !== 'bigint') throw new TypeError('VirtioMmioTransport: device.deviceFeatures must be a bigint');
  const configSize = device.configSize;
  if (!Number.isInteger(configSize) || configSize < 0 || configSize > 4096) throw new RangeError(`VirtioMmioTransport: device.configSize must be an integer in 0..4096, got ${String(configSize)}`);
  if (!Array.isArray(device.queueMaxSizes)) throw new TypeError('VirtioMmioTransport: device.queueMaxSizes must be an array');
  const shm = new Map<number, ShmEntry>();
  for (const region of device.sharedMemoryRegions ?? []) {
    const base = options.sharedMemoryBases?.get(region.id);
    if (base === undefined) throw new RangeError(`VirtioMmioTransport: shared memory region ${region.id} needs a base address in options.sharedMemoryBases`);
    const len = toU64(region.length, `VirtioMmioTransport: shared memory region ${region.id} length`);
    const b = toU64(base, `VirtioMmioTransport: shared memory region ${region.id} base`);
    if (len === 0xffff_ffff_ffff_ffffn || b + len > 1n << 64n) throw new RangeError(`VirtioMmioTransport: shared memory region ${region.id} does not fit below 2^64`);
    shm.set(region.id >>> 0, { lenLo: Number(len & 0xffff_ffffn), lenHi: Number(len >> 32n), baseLo: Number(b & 0xffff_ffffn), baseHi: Number(b >> 32n) });
  }
  return { memory, interrupt, interruptIndex, vendorId, configSize, onDiagnostic: options.onDiagnostic, shm };
}
