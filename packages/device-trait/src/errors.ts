/**
 * Errors of @vmv/device-trait. Guards test `name`, never `instanceof`, so two copies of the
 * package in one program still recognise each other's errors.
 * @module
 */

/**
 * Options common to every @vmv/device-trait error.
 * @example
 * ```ts
 * const options: DeviceErrorOptions = { details: 'queue 0 is not enabled', cause: err };
 * ```
 */
export interface DeviceErrorOptions {
  /** Longer explanation for logs. */
  details?: string;
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * Base class of every @vmv/device-trait error.
 * @example
 * ```ts
 * try { state.restore(saved); } catch (e) { if (isDeviceError(e)) console.log(e.code, e.shortMessage); }
 * ```
 */
export class DeviceError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** One-line summary, without details. */
  readonly shortMessage: string;
  /** Longer explanation, when there is one. */
  readonly details: string | undefined;

  constructor(code: string, shortMessage: string, options: DeviceErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'Device.Error';
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/**
 * Saved device state that cannot be restored (wrong shape, impossible values).
 * @example
 * ```ts
 * throw new InvalidSnapshotError('status', 'status must be a u8');
 * ```
 */
export class InvalidSnapshotError extends DeviceError {
  constructor(field: string, details: string) {
    super('INVALID_SNAPSHOT', `Invalid device snapshot: ${field}`, { details });
    this.name = 'Device.InvalidSnapshotError';
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
  constructor(details: string, cause?: unknown) {
    super('ACTIVATION_FAILED', 'Device activation failed', { details, cause });
    this.name = 'Device.ActivationError';
  }
}

/** Every error name @vmv/device-trait can produce. @example `DEVICE_ERROR_NAMES.includes(e.name)` */
export const DEVICE_ERROR_NAMES = ['Device.Error', 'Device.InvalidSnapshotError', 'Device.ActivationError'] as const;

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
export function isDeviceError(e: unknown, name?: (typeof DEVICE_ERROR_NAMES)[number]): e is DeviceError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  if (typeof n !== 'string' || !n.startsWith('Device.')) return false;
  return name === undefined || n === name;
}
