/**
 * The device side of the vfio-user server: what a PCI function must tell and do to be served
 * (vfio-user.rst "VFIO Device Model"). A device is PCI-shaped and small: a configuration space,
 * up to six BARs and an expansion ROM, interrupt vector counts per IRQ index, read and write
 * callbacks per region, and a reset. When a client connects it receives a context: the client's
 * memory for DMA and the interrupt path.
 *
 * @module
 */
import type { GuestAddress, GuestMemory } from '@vmv/memory';

/**
 * One BAR (or the expansion ROM): its size in bytes (a power of two, or 0 for none) and whether
 * the client may read and write it (default both; the ROM is read-only whatever is said).
 * @example `const bar: VfioUserBar = { size: 0x1000 };`
 */
export interface VfioUserBar {
  /** Bytes: a power of two, or 0 when the BAR is not implemented. */
  readonly size: number;
  /** Whether REGION_READ is allowed (default true). */
  readonly readable?: boolean;
  /** Whether REGION_WRITE is allowed (default true). */
  readonly writable?: boolean;
}

/**
 * A PCI function served over vfio-user. Regions are numbered as VFIO numbers them
 * (`PciRegion`): BAR0-5 are 0-5, the ROM 6, configuration space 7. Offsets passed to `read` and
 * `write` are checked against the region's size before the call, and `data` is never empty.
 *
 * @example
 * ```ts
 * const config = new Uint8Array(256);
 * config.set([0xf4, 0x1a, 0x01, 0x10]); // vendor 0x1af4, device 0x1001
 * const device: VfioUserDevice = {
 *   configSize: 256,
 *   bars: [{ size: 0x1000 }],
 *   irqCounts: [0, 0, 0, 0, 0],
 *   read: (region, offset, data) => { if (region === PciRegion.CONFIG) data.set(config.subarray(offset, offset + data.length)); else data.fill(0); },
 *   write: () => {},
 *   reset: () => {},
 * };
 * ```
 */
export interface VfioUserDevice {
  /** Bytes of configuration space: 256 (PCI) or 4096 (PCI Express). */
  readonly configSize: number;
  /** BAR0 to BAR5, then the expansion ROM at index 6; missing or null entries have size 0. */
  readonly bars: readonly (VfioUserBar | null | undefined)[];
  /** Vectors per IRQ index (`IrqIndex`: INTx <= 1, MSI <= 32, MSI-X <= 2048, ERR <= 1, REQ <= 1); missing entries are 0. */
  readonly irqCounts: readonly number[];
  /**
   * Fills `data` with the region's bytes at `offset` (REGION_READ).
   * @param region - region index
   * @param offset - byte offset, `offset + data.length` within the region
   * @param data - where the bytes go
   */
  read(region: number, offset: number, data: Uint8Array): void;
  /**
   * Takes `data` written at `offset` of the region (REGION_WRITE).
   * @param region - region index
   * @param offset - byte offset, `offset + data.length` within the region
   * @param data - the bytes (valid only during the call)
   */
  write(region: number, offset: number, data: Uint8Array): void;
  /** DEVICE_RESET: return to the power-on state; the reply waits for a returned promise. */
  reset(): void | Promise<void>;
  /**
   * A client connected: its memory and the interrupt path, valid until {@link VfioUserDevice.detach}.
   * @param context - DMA and interrupts
   */
  attach?(context: VfioUserDeviceContext): void;
  /** The client left: its memory is unmapped and its interrupt fds closed. The device keeps its state. */
  detach?(): void;
}

/**
 * What a device receives while a client is connected.
 * @example `attach(ctx) { this.dma = ctx.dma; this.irqs = ctx.irqs; }`
 */
export interface VfioUserDeviceContext {
  /** The client's memory. */
  readonly dma: VfioUserDma;
  /** The interrupt path. */
  readonly irqs: VfioUserIrqs;
}

/**
 * The client's memory as the device sees it (DMA_MAP windows). Windows the client mapped with
 * a file descriptor form {@link VfioUserDma.memory}, accessed synchronously; windows without one
 * are reached through DMA_READ / DMA_WRITE messages by {@link VfioUserDma.read} and
 * {@link VfioUserDma.write}, which also serve mapped windows. An address the client did not map
 * is a `VfioUser.DmaFaultError`, never another exception.
 *
 * @example
 * ```ts
 * const desc = await ctx.dma.read(0x10_0000, 16);
 * await ctx.dma.write(0x10_0100, new Uint8Array([1]));
 * ```
 */
export interface VfioUserDma {
  /** The windows mapped from fds, as guest memory (read-only where mapped without WRITE); null when there are none. Replaced at every DMA_MAP / DMA_UNMAP. */
  readonly memory: GuestMemory | null;
  /**
   * Reads client memory.
   * @param address - DMA address
   * @param length - bytes (at most 2^31)
   * @returns the bytes
   * @throws (rejects) VfioUser.DmaFaultError, DmaTimeoutError, RequestRejectedError, DisconnectedError
   */
  read(address: GuestAddress, length: number): Promise<Uint8Array>;
  /**
   * Writes client memory.
   * @param address - DMA address
   * @param data - the bytes
   * @throws (rejects) VfioUser.DmaFaultError, DmaTimeoutError, RequestRejectedError, DisconnectedError
   */
  write(address: GuestAddress, data: Uint8Array): Promise<void>;
}

/**
 * The interrupt path: signals the eventfds the client set with DEVICE_SET_IRQS. Nothing is sent
 * for a vector without an eventfd.
 * @example `ctx.irqs.trigger(IrqIndex.MSIX, queueVector);`
 */
export interface VfioUserIrqs {
  /**
   * Signals a vector. For INTx it raises the line, level-triggered and automasked as VFIO's
   * INTx: one signal, then none until the client unmasks; still raised at the unmask, it signals again.
   * @param index - IRQ index
   * @param vector - vector within the index (default 0)
   * @returns whether an eventfd was signalled
   * @throws RangeError for an index or vector the device does not have
   */
  trigger(index: number, vector?: number): boolean;
  /** Lowers the INTx line. */
  lowerIntx(): void;
  /**
   * Whether the client set an eventfd for a vector.
   * @param index - IRQ index
   * @param vector - vector (default 0)
   * @returns true when set
   */
  enabled(index: number, vector?: number): boolean;
}
