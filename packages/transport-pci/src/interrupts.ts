/**
 * Where a PCI function's interrupts go (VIRTIO 1.2 §4.1.5.3, §4.1.5.4): MSI-X messages, each a
 * vector of the function's table with the address and data the driver programmed, and the level
 * of the INTx line. {@link busInterruptSink} delivers them through @vmv/bus interrupt groups.
 * @module
 */
import type { LegacyInterruptGroup, MsiConfig, MsiInterruptGroup } from '@vmv/bus';

/**
 * The interrupt outputs of a PCI function. A vfio-user server maps `msix(vector)` to the vector's
 * eventfd and `intx(level)` to the INTx eventfd; an emulator sends the message to its interrupt
 * controller and drives its IRQ line.
 * @example
 * ```ts
 * const sink: PciInterruptSink = {
 *   msix: (vector, message) => cpu.msi(message.addressLo, message.data),
 *   intx: (level) => (level ? pic.raise(11) : pic.lower(11)),
 * };
 * ```
 */
export interface PciInterruptSink {
  /**
   * An MSI-X message was sent: vector `vector` of the table, unmasked, with MSI-X enabled.
   * @param vector - the table entry.
   * @param message - its address and data as the driver programmed them.
   */
  msix(vector: number, message: MsiConfig): void;
  /**
   * The INTx line changed level (high while ISR status is non-zero, MSI-X is disabled and the
   * command register does not disable INTx).
   * @param level - true for asserted.
   */
  intx(level: boolean): void;
}

/**
 * The @vmv/bus groups a {@link busInterruptSink} delivers to.
 * @example `const targets: BusInterruptTargets = { msi: irqs.createMsiGroup(32, 3), intx: irqs.createLegacyGroup(11, 1, 'level') };`
 */
export interface BusInterruptTargets {
  /** MSI vectors, one per MSI-X table entry (entry i → source i); omit to drop MSI-X messages. */
  readonly msi?: MsiInterruptGroup;
  /** The INTx line (level-triggered, as PCI INTx is); omit to drop INTx. */
  readonly intx?: LegacyInterruptGroup;
  /** Which source of `intx` is the function's pin (default 0). */
  readonly intxIndex?: number;
}

/**
 * What {@link busInterruptSink} returns.
 * @example
 * ```ts
 * const { sink, dispose }: BusInterruptSink = busInterruptSink({ intx: irqs.createLegacyGroup(11, 1, 'level') });
 * ```
 */
export interface BusInterruptSink {
  /** The sink to give the function (`VirtioPciFunctionOptions.interrupts`). */
  readonly sink: PciInterruptSink;
  /** Stops listening for the INTx group's resamples. */
  readonly dispose: () => void;
}

/**
 * A {@link PciInterruptSink} over @vmv/bus interrupt groups: an MSI-X message updates source
 * `vector` of `msi` with the message and triggers it; the INTx level raises or lowers `intx`, and
 * after the controller's end of interrupt lowers a line still asserted, raises it again.
 * @param targets - the groups.
 * @returns the sink, and `dispose` to stop listening for resamples.
 * @throws RangeError when `intxIndex` is outside the INTx group.
 * @example
 * ```ts
 * const irqs = new InMemoryInterruptController();
 * const { sink } = busInterruptSink({ msi: irqs.createMsiGroup(32, 3), intx: irqs.createLegacyGroup(11, 1, 'level') });
 * ```
 */
export function busInterruptSink(targets: BusInterruptTargets): BusInterruptSink {
  const { msi, intx } = targets;
  const index = targets.intxIndex ?? 0;
  if (intx !== undefined && (!Number.isInteger(index) || index < 0 || index >= intx.count)) throw new RangeError(`busInterruptSink: intxIndex must be in 0..${intx.count - 1}, got ${String(index)}`);
  let level = false;
  const off = intx?.onResample((i) => {
    if (i === index && level) intx.trigger(index);
  });
  const sink: PciInterruptSink = {
    msix(vector, message) {
      if (msi === undefined || vector >= msi.count) return;
      msi.update(vector, message);
      msi.trigger(vector);
    },
    intx(high) {
      level = high;
      if (intx === undefined) return;
      if (high) intx.trigger(index);
      else intx.deassert(index);
    },
  };
  return { sink, dispose: () => off?.() };
}
