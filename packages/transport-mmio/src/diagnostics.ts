/**
 * What the transport reports when a driver does something VIRTIO 1.2 §4.2.2.2 (driver
 * requirements) forbids, or when the device enters DEVICE_NEEDS_RESET (§2.1.2). Nothing here is
 * thrown: guest input never throws out of the MMIO device; the embedder may log these.
 * @module
 */

/**
 * The kind of a {@link MmioDiagnostic}, and what the transport did:
 * - `bad-access`: a register access (offset below 0x100) that is not 32 bits wide and 4-byte
 *   aligned (§4.2.2.2). A read returns zeros, a write is ignored. QEMU does the same
 *   (it logs "wrong size access" and returns 0); Linux never makes such accesses.
 * - `reserved`: an offset below 0x100 with no register (including the legacy GuestPageSize,
 *   QueueAlign and QueuePFN). A read returns 0, a write is ignored.
 * - `read-only`: a write to a read-only register. Ignored.
 * - `write-only`: a read of a write-only register. Returns 0.
 * - `refused`: a write the spec forbids in the current state or with this value: driver
 *   features outside DRIVER..FEATURES_OK, queue fields before FEATURES_OK, after DRIVER_OK or while
 *   QueueReady is 1, a queue that does not exist, an out-of-order status, QueueNotify before
 *   DRIVER_OK, QueueReset without VIRTIO_F_RING_RESET, a configuration write before
 *   FEATURES_OK, ... Ignored: nothing changes.
 * - `features-refused`: the driver set FEATURES_OK with features the device does not accept;
 *   the bit stays clear, which the driver sees when it reads Status back (§3.1.1 step 6).
 * - `invalid-queue-value`: a queue size or area address that is recorded but invalid (not a
 *   power of two, above QueueNumMax, misaligned). The queue cannot start: DRIVER_OK then leads
 *   to DEVICE_NEEDS_RESET unless the driver writes a good value first.
 * - `config-range`: a configuration space access beyond the device's configuration space.
 *   A read returns zeros, a write is ignored.
 * - `needs-reset`: the device entered DEVICE_NEEDS_RESET (a queue the guest configured badly, a
 *   queue error the device reported, an exception from the device), or the driver set DRIVER_OK
 *   on a device already in DEVICE_NEEDS_RESET (it is not started). If DRIVER_OK was set, a
 *   configuration change interrupt went to the driver.
 * - `device-error`: the device threw from `reset()`; the transport completed the reset anyway
 *   (Status reads 0, as the driver waits for).
 * @example `if (d.kind === 'needs-reset') log.warn(d.message, d.cause);`
 */
export type MmioDiagnosticKind = 'bad-access' | 'reserved' | 'read-only' | 'write-only' | 'refused' | 'features-refused' | 'invalid-queue-value' | 'config-range' | 'needs-reset' | 'device-error';

/**
 * One report from the transport to its embedder.
 * @example
 * ```ts
 * const t = new VirtioMmioTransport(dev, { memory, interrupt, onDiagnostic: (d) => console.warn(`virtio-mmio ${d.kind} at 0x${d.offset.toString(16)}: ${d.message}`) });
 * ```
 */
export interface MmioDiagnostic {
  /** What happened. */
  readonly kind: MmioDiagnosticKind;
  /** Offset of the access from the device base, or -1 when no access caused it. */
  readonly offset: number;
  /** Width of the access in bytes (0 when no access caused it). */
  readonly width: number;
  /** Whether the access was a write. */
  readonly write: boolean;
  /** The value written, for a 32-bit register write. */
  readonly value: number | undefined;
  /** A sentence saying what was refused and why. */
  readonly message: string;
  /** The error behind a `needs-reset` or `invalid-queue-value` (a Queue.* error, a device exception). */
  readonly cause?: unknown;
}
