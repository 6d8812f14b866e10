/**
 * Errors of @vmv/transport-pci. The function itself never throws on guest input (a refused access
 * is a `PciDiagnostic`, a broken device is DEVICE_NEEDS_RESET); these errors come from the
 * driver model (`@vmv/transport-pci/driver`) when the function it initialises does not behave as a
 * virtio PCI function must. Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/** Options common to every @vmv/transport-pci error. @example `const o: TransportPciErrorOptions = { details: 'no common configuration capability' };` */
export type TransportPciErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/transport-pci error.
 * @example
 * ```ts
 * try { driver.probe(); } catch (e) { if (isTransportPciError(e)) console.log(e.code, e.shortMessage); }
 * ```
 */
export class TransportPciError extends VmvError {
  override readonly name: string = 'TransportPci.Error';
}

/**
 * Why the driver model gave up on a function, as Linux's virtio_pci_modern would:
 * - `NOT_VIRTIO`: the vendor is not 0x1AF4 or the device ID is outside 0x1040..0x107f
 *   (vp_modern_probe: -ENODEV; transitional IDs are legacy, not driven here);
 * - `NO_CAPABILITY`: no common configuration, ISR or notification capability on a memory BAR
 *   (Linux: "leaving for legacy driver" / -EINVAL);
 * - `BAD_CAPABILITY`: a capability that vp_modern_map_capability refuses (too short, misaligned,
 *   past its BAR), or a queue's notify offset past the notification structure;
 * - `NO_VERSION_1`: the device does not offer VIRTIO_F_VERSION_1;
 * - `FEATURES_REFUSED`: FEATURES_OK did not stick;
 * - `QUEUE_UNAVAILABLE`: queue_size read 0 (or not a power of two for a split ring);
 * - `QUEUE_IN_USE`: queue_enable read non-zero before setup;
 * - `NO_VECTOR`: an MSI-X vector mapping read back VIRTIO_MSI_NO_VECTOR (Linux: -EBUSY);
 * - `RESET_TIMEOUT`: device_status did not read 0 after a reset (§4.1.4.3.2).
 * @example `throw new DriverProbeError('NOT_VIRTIO', 'vendor 0x8086')`
 */
export type DriverProbeErrorCode = 'NOT_VIRTIO' | 'NO_CAPABILITY' | 'BAD_CAPABILITY' | 'NO_VERSION_1' | 'FEATURES_REFUSED' | 'QUEUE_UNAVAILABLE' | 'QUEUE_IN_USE' | 'NO_VECTOR' | 'RESET_TIMEOUT';

/**
 * The driver model could not initialise a function (see {@link DriverProbeErrorCode}).
 * @example
 * ```ts
 * if (isTransportPciError(e, 'TransportPci.DriverProbeError') && e.code === 'NO_VECTOR') useIntx();
 * ```
 */
export class DriverProbeError extends TransportPciError {
  override readonly name = 'TransportPci.DriverProbeError' as const;
  /** The reason, as a code. */
  declare readonly code: DriverProbeErrorCode;

  /**
   * @param code - why.
   * @param details - what was read.
   */
  constructor(code: DriverProbeErrorCode, details: string) {
    super(code, `virtio-pci driver probe failed: ${code}`, { details });
  }
}

/** Every error name @vmv/transport-pci can produce. @example `TRANSPORT_PCI_ERROR_NAMES.includes(e.name)` */
export const TRANSPORT_PCI_ERROR_NAMES = ['TransportPci.Error', 'TransportPci.DriverProbeError'] as const;

/** A @vmv/transport-pci error name. @example `const n: TransportPciErrorName = 'TransportPci.DriverProbeError';` */
export type TransportPciErrorName = (typeof TRANSPORT_PCI_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/transport-pci error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match.
 * @returns true when `e` is such an error.
 * @example `if (isTransportPciError(e, 'TransportPci.DriverProbeError')) console.log(e.code);`
 */
export const isTransportPciError: ErrorGuard<TransportPciError, TransportPciErrorName> = errorGuard('TransportPci', TRANSPORT_PCI_ERROR_NAMES);
