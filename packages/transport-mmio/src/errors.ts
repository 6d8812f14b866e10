/**
 * Errors of @vmv/transport-mmio. The transport itself never throws on guest input (a refused
 * access is a {@link MmioDiagnostic}, a broken device is DEVICE_NEEDS_RESET); these errors come
 * from the driver model (`@vmv/transport-mmio/driver`) when the device it initialises does not
 * behave as a virtio-mmio device must, and from restoring a snapshot that cannot be accepted.
 * Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Options common to every @vmv/transport-mmio error.
 * @example
 * ```ts
 * const options: TransportMmioErrorOptions = { details: 'status read back without FEATURES_OK' };
 * ```
 */
export type TransportMmioErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/transport-mmio error.
 * @example
 * ```ts
 * try { driver.probe(); } catch (e) { if (isTransportMmioError(e)) console.log(e.code, e.shortMessage); }
 * ```
 */
export class TransportMmioError extends VmvError {
  override readonly name: string = 'TransportMmio.Error';
}

/**
 * Why the driver model gave up on a device, as Linux's virtio-mmio and virtio core would:
 * - `BAD_MAGIC` / `BAD_VERSION`: MagicValue is not "virt", Version is not 2 (Linux: -ENODEV / -ENXIO);
 * - `NO_DEVICE`: DeviceID 0, a placeholder (Linux: -ENODEV, silently);
 * - `NO_VERSION_1`: the device does not offer VIRTIO_F_VERSION_1 (Linux: -EINVAL in finalize_features);
 * - `FEATURES_REFUSED`: FEATURES_OK did not stick (Linux: "device refuses features", -ENODEV);
 * - `QUEUE_IN_USE`: QueueReady read non-zero before setup (Linux vm_setup_vq: -ENOENT);
 * - `QUEUE_UNAVAILABLE`: QueueNumMax read 0 (Linux: -ENOENT);
 * - `RESET_TIMEOUT`: Status did not read 0 after a reset (VIRTIO 1.2 §2.4.2);
 * - `NEEDS_RESET`: the device set DEVICE_NEEDS_RESET.
 * @example `throw new DriverProbeError('BAD_MAGIC', 'MagicValue is 0x0, not 0x74726976')`
 */
export type DriverProbeErrorCode = 'BAD_MAGIC' | 'BAD_VERSION' | 'NO_DEVICE' | 'NO_VERSION_1' | 'FEATURES_REFUSED' | 'QUEUE_IN_USE' | 'QUEUE_UNAVAILABLE' | 'RESET_TIMEOUT' | 'NEEDS_RESET';

/**
 * The driver model could not initialise a device (see {@link DriverProbeErrorCode}).
 * @example
 * ```ts
 * if (isTransportMmioError(e, 'TransportMmio.DriverProbeError') && e.code === 'FEATURES_REFUSED') retryWithFewerFeatures();
 * ```
 */
export class DriverProbeError extends TransportMmioError {
  override readonly name = 'TransportMmio.DriverProbeError' as const;
  /** The reason, as a code. */
  declare readonly code: DriverProbeErrorCode;

  /**
   * @param code - why.
   * @param details - what was read.
   */
  constructor(code: DriverProbeErrorCode, details: string) {
    super(code, `virtio-mmio driver probe failed: ${code}`, { details });
  }
}

/**
 * A transport snapshot that {@link VirtioMmioTransport.restore} cannot accept: malformed, from
 * another device, inconsistent (queues enabled before FEATURES_OK, ring positions that do not
 * match the queue or the ring in guest memory, ...), or refused by the device's own `restore`.
 * `cause` holds the underlying Device.* or Queue.* error when there is one.
 * @example
 * ```ts
 * try { transport.restore(saved); } catch (e) { if (isTransportMmioError(e, 'TransportMmio.InvalidSnapshotError')) log(e.details); }
 * ```
 */
export class InvalidSnapshotError extends TransportMmioError {
  override readonly name = 'TransportMmio.InvalidSnapshotError' as const;
  /** The snapshot field at fault, such as `queues[1].ring` or `state`. */
  readonly field: string;

  /**
   * @param field - the field at fault.
   * @param details - what is wrong with it.
   * @param cause - the underlying error, if any.
   */
  constructor(field: string, details: string, cause?: unknown) {
    super('INVALID_SNAPSHOT', `Invalid virtio-mmio transport snapshot: ${field}`, cause === undefined ? { details } : { details, cause });
    this.field = field;
  }
}

/** Every error name @vmv/transport-mmio can produce. @example `TRANSPORT_MMIO_ERROR_NAMES.includes(e.name)` */
export const TRANSPORT_MMIO_ERROR_NAMES = ['TransportMmio.Error', 'TransportMmio.DriverProbeError', 'TransportMmio.InvalidSnapshotError'] as const;

/** A @vmv/transport-mmio error name. @example `const n: TransportMmioErrorName = 'TransportMmio.DriverProbeError';` */
export type TransportMmioErrorName = (typeof TRANSPORT_MMIO_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/transport-mmio error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isTransportMmioError(e, 'TransportMmio.DriverProbeError')) console.log(e.code);
 * ```
 */
export const isTransportMmioError: ErrorGuard<TransportMmioError, TransportMmioErrorName> = errorGuard('TransportMmio', TRANSPORT_MMIO_ERROR_NAMES);
