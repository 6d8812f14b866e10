/**
 * Errors of @vmv/device-trait. Guards test `name`, never `instanceof`, so two copies of the
 * package in one program still recognise each other's errors.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Options common to every @vmv/device-trait error.
 * @example
 * ```ts
 * const options: DeviceErrorOptions = { details: 'queue 0 is not enabled', cause: err };
 * ```
 */
export type DeviceErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/device-trait error.
 * @example
 * ```ts
 * try { state.restore(saved); } catch (e) { if (isDeviceError(e)) console.log(e.code, e.shortMessage); }
 * ```
 */
export class DeviceError extends VmvError {
  override readonly name: string = 'Device.Error';
}

/**
 * Saved device state that cannot be restored (wrong shape, impossible values).
 * @example
 * ```ts
 * throw new InvalidSnapshotError('status', 'status must be a u8');
 * ```
 */
export class InvalidSnapshotError extends DeviceError {
  override readonly name = 'Device.InvalidSnapshotError' as const;
  constructor(field: string, details: string) {
    super('INVALID_SNAPSHOT', `Invalid device snapshot: ${field}`, { details });
  }
}

/**
 * A device's activation failed (for example a device refused its queues or features).
 * @example
 * ```ts
 * throw new ActivationError('queue 0 size 8 is below the minimum of 16');
 * ```
 */
export class ActivationError extends DeviceError {
  override readonly name = 'Device.ActivationError' as const;
  constructor(details: string, cause?: unknown) {
    super('ACTIVATION_FAILED', 'Device activation failed', { details, cause });
  }
}

/** Every error name @vmv/device-trait can produce. @example `DEVICE_ERROR_NAMES.includes(e.name)` */
export const DEVICE_ERROR_NAMES = ['Device.Error', 'Device.InvalidSnapshotError', 'Device.ActivationError'] as const;
/** One of {@link DEVICE_ERROR_NAMES}. @example `const n: DeviceErrorName = 'Device.ActivationError';` */
export type DeviceErrorName = (typeof DEVICE_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/device-trait error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match, such as `'Device.InvalidSnapshotError'`.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isDeviceError(e, 'Device.InvalidSnapshotError')) reject(e.shortMessage);
 * ```
 */
export const isDeviceError: ErrorGuard<DeviceError, DeviceErrorName> = errorGuard('Device', DEVICE_ERROR_NAMES);
