/**
 * A PCI function of `@vmv/transport-pci` (a `VirtioPciFunction`, VIRTIO 1.2 §4.1) served over
 * vfio-user: {@link pciFunctionDevice} turns anything with the `PciFunction` surface into a
 * {@link VfioUserDevice}. The function is taken structurally ({@link VfioUserPciFunction}), so this
 * package does not depend on the transport, and the transport does not depend on it.
 *
 * - Regions (vfio-user.rst "VFIO_USER_DEVICE_GET_REGION_INFO"): configuration space (256 bytes)
 *   and each BAR the function implements, read and write.
 * - Interrupts ("VFIO_USER_DEVICE_SET_IRQS"): INTx (1 vector) and MSI-X (the function's vectors).
 *   The client virtualises the MSI-X table, as a VFIO client does (QEMU's vfio-pci emulates the
 *   table and PBA over the BAR, and masks and unmasks by switching eventfds): table accesses never
 *   reach the server. So every vector of the function's own table is kept unmasked, and a vector
 *   the function fires (§4.1.5.3, §4.1.5.4; MSI-X enabled and not function-masked, which the
 *   client does forward) writes that vector's eventfd. The INTx level raises and lowers INTx.
 * - DMA ("VFIO_USER_DMA_MAP"): the function's memory is the client's fd-mapped windows, read at
 *   each use (the function reads it at DRIVER_OK and when a queue is re-enabled). With no window
 *   mapped it is a `VfioUser.DmaFaultError`, which puts a virtio device in DEVICE_NEEDS_RESET.
 * - DEVICE_RESET and a client leaving: a function level reset (the function back to power-on).
 *
 * @module
 */
import type { GuestMemory, MemorySource } from '@vmv/memory';
import { IrqIndex, PciRegion } from './constants.js';
import { DmaFaultError } from './errors.js';
import type { VfioUserBar, VfioUserDevice, VfioUserDeviceContext } from './device.js';

/** Bytes of a conventional PCI configuration space. */
const CONFIG_SIZE = 256;
/** Bytes of one MSI-X table entry; Vector Control is its last DWORD (PCI Local Bus 3.0 §6.8.2). */
const MSIX_ENTRY = 16;
const PCI_STATUS = 0x06;
const PCI_STATUS_CAP_LIST = 0x10;
const PCI_CAPABILITY_LIST = 0x34;
const PCI_CAP_ID_MSIX = 0x11;

/**
 * What {@link pciFunctionDevice} needs of a PCI function: `@vmv/transport-pci`'s `PciFunction`
 * (a `VirtioPciFunction` has it), by shape.
 * @example `const fn: VfioUserPciFunction = new VirtioPciFunction(device, { memory, interrupts });`
 */
export interface VfioUserPciFunction {
  /** The BARs implemented: index (0..5) and size in bytes (a power of two). */
  readonly bars: readonly {
    /** The BAR number. */
    readonly index: number;
    /** Its size in bytes. */
    readonly size: number;
  }[];
  /** The MSI-X table size (0: no MSI-X). */
  readonly msixVectors: number;
  /** A configuration space read of `data.length` bytes at `offset`. */
  configRead(offset: number, data: Uint8Array): void;
  /** A configuration space write. */
  configWrite(offset: number, data: Uint8Array): void;
  /** A read in BAR `bar`. */
  barRead(bar: number, offset: number, data: Uint8Array): void;
  /** A write in BAR `bar`. */
  barWrite(bar: number, offset: number, data: Uint8Array): void;
  /** Function level reset. */
  reset(): void;
}

/**
 * What the function is built with: give `memory` and `interrupts` to the function's options
 * (`VirtioPciFunctionOptions`).
 * @example `pciFunctionDevice(({ memory, interrupts }) => new VirtioPciFunction(blk, { memory, interrupts }))`
 */
export interface VfioUserPciWiring {
  /** The client's DMA memory, as the function reads it: `current`, the client's fd-mapped windows now (a `VfioUser.DmaFaultError` when there are none). */
  readonly memory: MemorySource;
  /** Where the function's interrupts go (a `PciInterruptSink`). */
  readonly interrupts: {
    /** MSI-X vector `vector` fired. */
    msix(vector: number): void;
    /** The INTx level changed. */
    intx(level: boolean): void;
  };
}

/**
 * A {@link VfioUserDevice} serving a PCI function, and the function.
 * @example `server = new VfioUserServer(pciFunctionDevice(wire => new VirtioPciFunction(dev, wire)))`
 */
export interface VfioUserPciDevice<F extends VfioUserPciFunction> extends VfioUserDevice {
  /** The function served. */
  readonly fn: F;
  /** The MSI-X table's BAR and offset in it, read from the capability (null without MSI-X). */
  readonly msixTable: {
    /** The BAR holding the table. */
    readonly bar: number;
    /** The table's offset in it. */
    readonly offset: number;
  } | null;
}

/**
 * Serves a PCI function over vfio-user. `create` builds the function with the wiring; the result
 * is the device to give a `VfioUserSession` or `VfioUserServer`.
 * @param create - builds the function from the wiring (called once, now)
 * @returns the device, with the function as `fn`
 * @throws TypeError when `create` returns something without the PCI function surface; RangeError
 *   for a BAR outside 0..5 or a size that is not a power of two, an MSI-X count above 2048, or an
 *   MSI-X capability that points outside the function's BARs
 * @example
 * ```ts
 * const device = pciFunctionDevice(({ memory, interrupts }) => new VirtioPciFunction(new RngDevice(), { memory, interrupts }));
 * new VfioUserServer(device).listen('/tmp/rng.sock');
 * ```
 */
export function pciFunctionDevice<F extends VfioUserPciFunction>(create: (wiring: VfioUserPciWiring) => F): VfioUserPciDevice<F> {
  if (typeof create !== 'function') throw new TypeError('pciFunctionDevice: create must be a function (wiring) => PciFunction');
  let ctx: VfioUserDeviceContext | null = null;
  const memory = {
    get current(): GuestMemory {
      const m = ctx?.dma.memory ?? null;
      if (m !== null) return m;
      throw new DmaFaultError({ reason: ctx === null ? 'no client is connected' : 'the client mapped no memory with an fd' });
    },
  };
  const interrupts = {
    msix(vector: number): void {
      if (ctx !== null && Number.isInteger(vector) && vector >= 0 && vector < vectors) ctx.irqs.trigger(IrqIndex.MSIX, vector);
    },
    intx(level: boolean): void {
      if (ctx === null) return;
      if (level) ctx.irqs.trigger(IrqIndex.INTX);
      else ctx.irqs.lowerIntx();
    },
  };
  let vectors = 0;
  const fn = create({ memory, interrupts });
  for (const m of ['configRead', 'configWrite', 'barRead', 'barWrite', 'reset'] as const) {
    if (typeof fn?.[m] !== 'function') throw new TypeError(`pciFunctionDevice: the function has no ${m}()`);
  }
  if (!Array.isArray(fn.bars)) throw new TypeError('pciFunctionDevice: the function has no bars');
  if (!Number.isInteger(fn.msixVectors) || fn.msixVectors < 0 || fn.msixVectors > 2048) throw new RangeError(`pciFunctionDevice: msixVectors must be in 0..2048, got ${String(fn.msixVectors)}`);
  vectors = fn.msixVectors;
  const bars: (VfioUserBar | null)[] = new Array<VfioUserBar | null>(PciRegion.ROM + 1).fill(null);
  for (const b of fn.bars) {
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) throw new RangeError(`pciFunctionDevice: BAR index ${String(b.index)} is not in 0..5`);
    if (!Number.isSafeInteger(b.size) || b.size <= 0 || (b.size & (b.size - 1)) !== 0) throw new RangeError(`pciFunctionDevice: BAR ${b.index} size ${String(b.size)} is not a power of two`);
    bars[b.index] = { size: b.size };
  }
  const msixTable = vectors === 0 ? null : findMsixTable(fn, bars, vectors);
  /** Clears Vector Control's mask bit of every entry: the client masks (see the module header). */
  const unmaskTable = (): void => {
    if (msixTable === null) return;
    const zero = new Uint8Array(4);
    for (let v = 0; v < vectors; v++) fn.barWrite(msixTable.bar, msixTable.offset + v * MSIX_ENTRY + 12, zero);
  };
  unmaskTable();
  const functionReset = (): void => {
    fn.reset();
    unmaskTable();
  };
  return {
    fn,
    msixTable,
    configSize: CONFIG_SIZE,
    bars,
    irqCounts: [1, 0, vectors, 0, 0],
    read(region, offset, data) {
      if (region === PciRegion.CONFIG) fn.configRead(offset, data);
      else fn.barRead(region, offset, data);
    },
    write(region, offset, data) {
      if (region === PciRegion.CONFIG) fn.configWrite(offset, data);
      else fn.barWrite(region, offset, data);
    },
    reset: functionReset,
    attach(context) {
      ctx = context;
    },
    detach() {
      ctx = null;
      // The client's memory is gone: nothing of the driver's setup can be used by the next one.
      functionReset();
    },
  };
}

/** The MSI-X table's BAR and offset from the capability list (PCI Local Bus 3.0 §6.8.2). */
function findMsixTable(fn: VfioUserPciFunction, bars: readonly (VfioUserBar | null)[], vectors: number): { bar: number; offset: number } {
  const read = (offset: number, n: number): number => {
    const d = new Uint8Array(n);
    fn.configRead(offset, d);
    return d.reduceRight((v, b) => v * 256 + b, 0);
  };
  if ((read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) !== 0) {
    let at = read(PCI_CAPABILITY_LIST, 1) & 0xfc;
    for (let hops = 0; at >= 0x40 && hops < 48; hops++) {
      if (read(at, 1) === PCI_CAP_ID_MSIX) {
        const table = read(at + 4, 4);
        const bar = table & 7;
        const offset = table - bar;
        const size = bars[bar]?.size ?? 0;
        if (bar > 5 || offset + vectors * MSIX_ENTRY > size) throw new RangeError(`pciFunctionDevice: the MSI-X table (BIR ${bar}, offset 0x${offset.toString(16)}) is outside the function's BARs`);
        return { bar, offset };
      }
      at = read(at + 1, 1) & 0xfc;
    }
  }
  throw new RangeError('pciFunctionDevice: the function has MSI-X vectors but no MSI-X capability');
}

