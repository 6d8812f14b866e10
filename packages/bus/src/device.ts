/**
 * Device interfaces: what a device implements to sit on the PIO or MMIO bus.
 *
 * vm-device has four traits because Rust separates shared (`&self`) from exclusive
 * (`&mut self`) borrows. JavaScript has no borrows, and inside one agent (a thread: the main
 * thread or one worker) calls never overlap, so that distinction carries no meaning there.
 * What does carry meaning is the *agent*: ordinary JS objects cannot be shared between
 * workers at all (postMessage copies them), and only state in a `SharedArrayBuffer` is seen by
 * several vCPU workers at once. @vmv/bus therefore keeps the four names with this meaning:
 *
 * - {@link MutDevicePio} / {@link MutDeviceMmio}: an **exclusive** device. Its state is ordinary
 *   JS state owned by one agent; every call must come from that agent. This is what most
 *   devices are, and what {@link IoManager} accepts by default.
 * - {@link DevicePio} / {@link DeviceMmio}: a **shared** device. It declares `shared: true`,
 *   promising that its methods are safe to call from several agents at once over the same state
 *   (state in a `SharedArrayBuffer` accessed with `Atomics`, or no state). One instance per
 *   worker over the same buffer behaves as one device.
 *
 * A shared device is usable wherever an exclusive one is (the interfaces extend each other that
 * way round). The Rust rule "a `Mutex`-wrapped mutable device is a shared device" becomes "an
 * exclusive device served by an {@link IoExitServer} is a shared device": the server serialises
 * calls on the owning agent, and {@link IoExitClient.device} in any worker is a `DevicePio &
 * DeviceMmio` (with `shared: true`) that forwards to it.
 *
 * Access width is `data.length`. A read fills `data`; a write consumes it. A device must not
 * keep `data` after the call returns (the caller reuses the buffer).
 * @module
 */
import type { MmioAddressOffset, PioAddress, PioAddressOffset } from './address.js';

/**
 * An exclusive PIO device: called only from the agent that owns it.
 * @example
 * ```ts
 * class Port80 implements MutDevicePio {
 *   last = 0;
 *   pioRead(_base: number, _offset: number, data: Uint8Array) { data.fill(0xff); }
 *   pioWrite(_base: number, _offset: number, data: Uint8Array) { this.last = data[0]!; }
 * }
 * ```
 */
export interface MutDevicePio {
  /**
   * Handles a read: fill `data` (its length is the access width).
   * @param base - first port of the range the device was registered at
   * @param offset - port minus base
   * @param data - buffer to fill, 1 or more bytes; do not keep it
   * @example `pioRead(_base, offset, data) { data[0] = this.regs[offset]!; }`
   */
  pioRead(base: PioAddress, offset: PioAddressOffset, data: Uint8Array): void;
  /**
   * Handles a write of `data` (its length is the access width).
   * @param base - first port of the range the device was registered at
   * @param offset - port minus base
   * @param data - the bytes written, 1 or more; do not keep it
   * @example `pioWrite(_base, offset, data) { this.regs[offset] = data[0]!; }`
   */
  pioWrite(base: PioAddress, offset: PioAddressOffset, data: Uint8Array): void;
}

/**
 * A shared PIO device: safe to call from several agents at once (state in a
 * SharedArrayBuffer, accessed with Atomics).
 * @example
 * ```ts
 * class SharedScratch implements DevicePio {
 *   readonly shared = true as const;
 *   constructor(private readonly cell: Int32Array) {} // over a SharedArrayBuffer
 *   pioRead(_b: number, _o: number, data: Uint8Array) { data[0] = Atomics.load(this.cell, 0); }
 *   pioWrite(_b: number, _o: number, data: Uint8Array) { Atomics.store(this.cell, 0, data[0]!); }
 * }
 * ```
 */
export interface DevicePio extends MutDevicePio {
  /** The promise that calls from several agents at once are safe. */
  readonly shared: true;
}

/**
 * An exclusive MMIO device: called only from the agent that owns it.
 * @example
 * ```ts
 * class Regs implements MutDeviceMmio {
 *   readonly regs = new Uint8Array(0x100);
 *   mmioRead(_base: bigint, offset: number, data: Uint8Array) { data.set(this.regs.subarray(offset, offset + data.length)); }
 *   mmioWrite(_base: bigint, offset: number, data: Uint8Array) { this.regs.set(data, offset); }
 * }
 * ```
 */
export interface MutDeviceMmio {
  /**
   * Handles a read: fill `data` (its length is the access width).
   * @param base - first byte of the range the device was registered at
   * @param offset - address minus base (a safe integer)
   * @param data - buffer to fill, 1 or more bytes; do not keep it
   * @example `mmioRead(_base, offset, data) { data.set(this.regs.subarray(offset, offset + data.length)); }`
   */
  mmioRead(base: bigint, offset: MmioAddressOffset, data: Uint8Array): void;
  /**
   * Handles a write of `data` (its length is the access width).
   * @param base - first byte of the range the device was registered at
   * @param offset - address minus base (a safe integer)
   * @param data - the bytes written, 1 or more; do not keep it
   * @example `mmioWrite(_base, offset, data) { this.regs.set(data, offset); }`
   */
  mmioWrite(base: bigint, offset: MmioAddressOffset, data: Uint8Array): void;
}

/**
 * A shared MMIO device: safe to call from several agents at once.
 * @example
 * ```ts
 * const dev: DeviceMmio = { shared: true, mmioRead: (_b, _o, d) => d.fill(0), mmioWrite: () => {} };
 * ```
 */
export interface DeviceMmio extends MutDeviceMmio {
  /** The promise that calls from several agents at once are safe. */
  readonly shared: true;
}

/**
 * Tells whether a device declares itself shared (`shared === true`).
 * @param device - any device
 * @returns true for a {@link DevicePio} / {@link DeviceMmio}
 * @example `isSharedDevice({ shared: true, pioRead() {}, pioWrite() {} }) === true`
 */
export function isSharedDevice(device: MutDevicePio | MutDeviceMmio): device is DevicePio | DeviceMmio {
  return (device as { shared?: unknown }).shared === true;
}

/**
 * Tells whether a value implements the PIO device methods.
 * @param value - anything
 * @returns true when `pioRead` and `pioWrite` are functions
 * @example `isPioDevice({ pioRead() {}, pioWrite() {} }) === true`
 */
export function isPioDevice(value: unknown): value is MutDevicePio {
  return typeof value === 'object' && value !== null && typeof (value as MutDevicePio).pioRead === 'function' && typeof (value as MutDevicePio).pioWrite === 'function';
}

/**
 * Tells whether a value implements the MMIO device methods.
 * @param value - anything
 * @returns true when `mmioRead` and `mmioWrite` are functions
 * @example `isMmioDevice({ mmioRead() {}, mmioWrite() {} }) === true`
 */
export function isMmioDevice(value: unknown): value is MutDeviceMmio {
  return typeof value === 'object' && value !== null && typeof (value as MutDeviceMmio).mmioRead === 'function' && typeof (value as MutDeviceMmio).mmioWrite === 'function';
}
