/**
 * What a virtio PCI function reports when a driver does something VIRTIO 1.2 §4.1 (driver
 * requirements of §4.1.3.1, §4.1.4.3.2, §4.1.4.9.2, §4.1.5.1.2.2) or the PCI specification
 * forbids, or when the device enters DEVICE_NEEDS_RESET (§2.1.2). Nothing here is thrown: guest
 * input never throws out of the function; the embedder may log these.
 * @module
 */

/**
 * The kind of a {@link PciDiagnostic}, and what the function did:
 * - `bad-access`: an access of the wrong width or alignment for the field (§4.1.3.1: natural
 *   width, 64-bit fields as two 32-bit halves; MSI-X: aligned DWORDs or QWORDs; a notification of
 *   the wrong width), or of no bytes. A read returns zeros, a write is ignored.
 * - `reserved`: an offset with nothing behind it (past a structure, a BAR the function does not
 *   implement, past the 256-byte configuration space). A read returns zeros, a write is ignored.
 * - `read-only`: a write to a field the driver must not write (device_feature, num_queues,
 *   config_generation, queue_notify_off, queue_notify_data, the admin fields, ISR status, a virtio
 *   capability, the PBA). Ignored.
 * - `refused`: a write the spec forbids in the current state or with this value (driver features
 *   outside DRIVER..FEATURES_OK, queue fields before FEATURES_OK or while the queue is enabled,
 *   queue_enable = 0, queue_reset without VIRTIO_F_RING_RESET, a notification before DRIVER_OK or
 *   naming another queue, a device configuration write before FEATURES_OK, a PCI configuration
 *   access capability window outside every other structure). Ignored: nothing changes.
 * - `features-refused`: FEATURES_OK with features the device does not accept; the bit stays clear.
 * - `invalid-queue-value`: a queue size or area address recorded but invalid; DRIVER_OK then
 *   leads to DEVICE_NEEDS_RESET unless the driver writes a good value first.
 * - `no-vector`: a config_msix_vector or queue_msix_vector write naming a vector the function does
 *   not have: the field reads VIRTIO_MSI_NO_VECTOR (§4.1.5.1.2.1, a mapping failure).
 * - `needs-reset`: the device entered DEVICE_NEEDS_RESET, or DRIVER_OK was set on a device already
 *   in it.
 * - `device-error`: the device threw from `reset()`; the reset completed anyway.
 * @example `if (d.kind === 'needs-reset') log.warn(d.message, d.cause);`
 */
export type PciDiagnosticKind = 'bad-access' | 'reserved' | 'read-only' | 'refused' | 'features-refused' | 'invalid-queue-value' | 'no-vector' | 'needs-reset' | 'device-error';

/**
 * One report from the function to its embedder.
 * @example
 * ```ts
 * const fn = new VirtioPciFunction(dev, { memory, interrupts, onDiagnostic: (d) => console.warn(`virtio-pci ${d.kind} ${d.space} 0x${d.offset.toString(16)}: ${d.message}`) });
 * ```
 */
export interface PciDiagnostic {
  /** What happened. */
  readonly kind: PciDiagnosticKind;
  /** Where the access went: the configuration space, a BAR, or nowhere (a device event). */
  readonly space: 'config' | 'bar' | 'none';
  /** The BAR index for a `bar` access, else -1. */
  readonly bar: number;
  /** Offset of the access in its space, or -1 when no access caused it. */
  readonly offset: number;
  /** Width of the access in bytes (0 when no access caused it). */
  readonly width: number;
  /** Whether the access was a write. */
  readonly write: boolean;
  /** A sentence saying what was refused and why. */
  readonly message: string;
  /** The error behind a `needs-reset` or `invalid-queue-value`. */
  readonly cause?: unknown;
}
