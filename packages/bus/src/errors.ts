/**
 * Errors of @vmv/bus.
 *
 * Every failure the package reports for input that may come from a guest or from a resource
 * description (a bus access, a range, an allocation request, an interrupt index) is a
 * {@link BusError} subclass with a stable `name` (`<Area>.<Thing>Error`) and `code`. Embedder
 * misuse (a wrong type, a non-integer) throws `TypeError`/`RangeError` with a labelled message.
 *
 * Test errors with {@link isBusError}, never `instanceof` (two copies of the package break it).
 * @module
 */
import { show } from './internal/show.js';

/**
 * Options accepted by every {@link BusError} constructor.
 * @example
 * ```ts
 * const options: BusErrorOptions = { details: { base: 0x3f8, size: 8 }, cause: err };
 * ```
 */
export interface BusErrorOptions {
  /** Structured data about the failure (ranges, addresses, sizes). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The error that caused this one. */
  readonly cause?: unknown;
}

/**
 * Base class of every typed error thrown by @vmv/bus.
 * @example
 * ```ts
 * try { bus.read(0x3f8, new Uint8Array(1)); }
 * catch (e) { if (isBusError(e, 'Bus.DeviceNotFoundError')) console.log(e.code); }
 * ```
 */
export class BusError extends Error {
  override name: string = 'BusError';
  /** Stable machine-readable code, e.g. `DEVICE_NOT_FOUND`. */
  readonly code: string;
  /** The message without details. */
  readonly shortMessage: string;
  /** Structured data about the failure. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  /**
   * @param code - stable code
   * @param shortMessage - human-readable summary
   * @param options - details and cause
   */
  constructor(code: string, shortMessage: string, options: BusErrorOptions = {}) {
    super(options.details === undefined ? shortMessage : `${shortMessage} (${formatDetails(options.details)})`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

function formatDetails(details: Readonly<Record<string, unknown>>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}: ${typeof v === 'bigint' ? `0x${v.toString(16)}` : typeof v === 'number' && Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : show(v)}`)
    .join(', ');
}

/**
 * Every error name @vmv/bus can throw as a {@link BusError}.
 * @example
 * ```ts
 * expect(BUS_ERROR_NAMES).toContain((e as Error).name); // an allowlist in a property test
 * ```
 */
export const BUS_ERROR_NAMES = [
  'Bus.InvalidRangeError',
  'Bus.DeviceOverlapError',
  'Bus.EmptyAccessError',
  'Bus.AccessStraddlesRangeError',
  'Bus.DeviceNotFoundError',
  'Resources.InvalidConstraintError',
  'Resources.ExhaustedError',
  'Resources.UnavailableError',
  'Resources.NotAllocatedError',
  'Interrupt.InvalidIndexError',
  'Interrupt.SourceBusyError',
  'Interrupt.InvalidMsiConfigError',
  'Mailbox.TimeoutError',
  'Mailbox.RemoteError',
] as const;

/**
 * The stable `code` of each error name.
 * @example `BUS_ERROR_CODES['Bus.DeviceNotFoundError'] === 'DEVICE_NOT_FOUND'`
 */
export const BUS_ERROR_CODES: Readonly<Record<(typeof BUS_ERROR_NAMES)[number], string>> = {
  'Bus.InvalidRangeError': 'INVALID_RANGE',
  'Bus.DeviceOverlapError': 'DEVICE_OVERLAP',
  'Bus.EmptyAccessError': 'EMPTY_ACCESS',
  'Bus.AccessStraddlesRangeError': 'ACCESS_STRADDLES_RANGE',
  'Bus.DeviceNotFoundError': 'DEVICE_NOT_FOUND',
  'Resources.InvalidConstraintError': 'INVALID_CONSTRAINT',
  'Resources.ExhaustedError': 'RESOURCE_EXHAUSTED',
  'Resources.UnavailableError': 'RESOURCE_UNAVAILABLE',
  'Resources.NotAllocatedError': 'NOT_ALLOCATED',
  'Interrupt.InvalidIndexError': 'INVALID_INTERRUPT_INDEX',
  'Interrupt.SourceBusyError': 'INTERRUPT_SOURCE_BUSY',
  'Interrupt.InvalidMsiConfigError': 'INVALID_MSI_CONFIG',
  'Mailbox.TimeoutError': 'MAILBOX_TIMEOUT',
  'Mailbox.RemoteError': 'MAILBOX_REMOTE',
};

/**
 * Union of the names in {@link BUS_ERROR_NAMES}.
 * @example
 * ```ts
 * const name: BusErrorName = 'Bus.DeviceOverlapError';
 * ```
 */
export type BusErrorName = (typeof BUS_ERROR_NAMES)[number];

/**
 * Tells whether `e` is a @vmv/bus error, optionally of one name. Tests `name`, not `instanceof`.
 * @param e - any thrown value
 * @param name - the error name to match, e.g. `'Bus.DeviceOverlapError'`
 * @returns true when `e` is a BusError (of that name)
 * @example
 * ```ts
 * if (isBusError(e, 'Bus.DeviceOverlapError')) console.log(e.details);
 * ```
 */
export function isBusError(e: unknown, name?: BusErrorName): e is BusError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  const c = (e as { code?: unknown }).code;
  if (typeof n !== 'string' || typeof c !== 'string') return false;
  return name === undefined ? (BUS_ERROR_NAMES as readonly string[]).includes(n) : n === name;
}

/**
 * A range with a zero size, or whose end lies beyond its address space (also: an MMIO device
 * range too large for exact `number` offsets). Code `INVALID_RANGE`.
 * @example `new PioRange(0xfff0, 0x20)` throws it.
 */
export class InvalidRangeError extends BusError {
  override name = 'Bus.InvalidRangeError' as const;
  /** @param reason - why @param details - base, size, space */
  constructor(reason: string, details: Readonly<Record<string, unknown>>) {
    super('INVALID_RANGE', `invalid bus range: ${reason}`, { details });
  }
}

/**
 * A registration whose range overlaps a range already registered; names both ranges.
 * Code `DEVICE_OVERLAP`.
 * @example `bus.register(new PioRange(0x3f8, 8), a); bus.register(new PioRange(0x3fc, 8), b)` throws it.
 */
export class DeviceOverlapError extends BusError {
  override name = 'Bus.DeviceOverlapError' as const;
  /** @param range - the range being registered @param existing - the registered range it overlaps */
  constructor(range: string, existing: string) {
    super('DEVICE_OVERLAP', `range ${range} overlaps registered range ${existing}`, { details: { range, existing } });
  }
}

/**
 * An access of zero bytes. Code `EMPTY_ACCESS`.
 * @example `bus.read(0x3f8, new Uint8Array(0))` throws it.
 */
export class EmptyAccessError extends BusError {
  override name = 'Bus.EmptyAccessError' as const;
  /** @param space - 'pio' or 'mmio' @param addr - the address */
  constructor(space: string, addr: number | bigint) {
    super('EMPTY_ACCESS', `zero-length ${space} access`, { details: { space, addr } });
  }
}

/**
 * An access that starts inside a registered range but ends beyond it. Code `ACCESS_STRADDLES_RANGE`.
 * @example a 4-byte read at the last byte of a device's range throws it.
 */
export class AccessStraddlesRangeError extends BusError {
  override name = 'Bus.AccessStraddlesRangeError' as const;
  /** @param space - bus @param addr - first byte @param length - bytes @param range - the range holding addr */
  constructor(space: string, addr: number | bigint, length: number, range: string) {
    super('ACCESS_STRADDLES_RANGE', `${space} access of ${length} bytes straddles the end of ${range}`, { details: { space, addr, length, range } });
  }
}

/**
 * No device is registered at the address. Code `DEVICE_NOT_FOUND`.
 * @example `new IoManager().pioRead(0x80, new Uint8Array(1))` throws it.
 */
export class DeviceNotFoundError extends BusError {
  override name = 'Bus.DeviceNotFoundError' as const;
  /** @param space - bus @param addr - the address */
  constructor(space: string, addr: number | bigint) {
    super('DEVICE_NOT_FOUND', `no ${space} device at this address`, { details: { space, addr } });
  }
}

/**
 * A resource constraint or resource description that cannot be satisfied by construction
 * (zero size, alignment not a power of two, fixed base not aligned, range outside the pool).
 * Code `INVALID_CONSTRAINT`.
 * @example `allocator.allocate([{ kind: 'mmio', size: 0 }])` throws it.
 */
export class InvalidConstraintError extends BusError {
  override name = 'Resources.InvalidConstraintError' as const;
  /** @param reason - what is wrong @param details - the offending constraint */
  constructor(reason: string, details: Readonly<Record<string, unknown>>) {
    super('INVALID_CONSTRAINT', `invalid resource constraint: ${reason}`, { details });
  }
}

/**
 * A pool has no free space (or no free ids) that satisfies the request. Code `RESOURCE_EXHAUSTED`.
 * @example requesting 17 legacy IRQs from a pool of 16 throws it.
 */
export class ResourceExhaustedError extends BusError {
  override name = 'Resources.ExhaustedError' as const;
  /** @param pool - pool name @param details - the request */
  constructor(pool: string, details: Readonly<Record<string, unknown>>) {
    super('RESOURCE_EXHAUSTED', `no free ${pool} resource satisfies the request`, { details });
  }
}

/**
 * A fixed resource (fixed address, fixed IRQ, fixed slot) is already taken. Code `RESOURCE_UNAVAILABLE`.
 * @example asking for legacy IRQ 4 twice throws it the second time.
 */
export class ResourceUnavailableError extends BusError {
  override name = 'Resources.UnavailableError' as const;
  /** @param pool - pool name @param details - the request */
  constructor(pool: string, details: Readonly<Record<string, unknown>>) {
    super('RESOURCE_UNAVAILABLE', `the fixed ${pool} resource is already allocated`, { details });
  }
}

/**
 * Freeing a resource that is not allocated. Code `NOT_ALLOCATED`.
 * @example freeing the same resources twice throws it the second time.
 */
export class ResourceNotAllocatedError extends BusError {
  override name = 'Resources.NotAllocatedError' as const;
  /** @param pool - pool name @param details - the resource */
  constructor(pool: string, details: Readonly<Record<string, unknown>>) {
    super('NOT_ALLOCATED', `the ${pool} resource is not allocated`, { details });
  }
}

/**
 * An interrupt index outside its group. Code `INVALID_INTERRUPT_INDEX`.
 * @example `group.trigger(group.count)` throws it.
 */
export class InvalidInterruptIndexError extends BusError {
  override name = 'Interrupt.InvalidIndexError' as const;
  /** @param index - the index @param count - sources in the group */
  constructor(index: number, count: number) {
    super('INVALID_INTERRUPT_INDEX', `interrupt index outside its group`, { details: { index, count } });
  }
}

/**
 * An interrupt number already used by another group of the same controller. Code `INTERRUPT_SOURCE_BUSY`.
 * @example creating two legacy groups on IRQ 4 throws it.
 */
export class InterruptSourceBusyError extends BusError {
  override name = 'Interrupt.SourceBusyError' as const;
  /** @param kind - 'legacy' or 'msi' @param base - first number @param count - sources */
  constructor(kind: string, base: number, count: number) {
    super('INTERRUPT_SOURCE_BUSY', `${kind} interrupt numbers already in use`, { details: { kind, base, count } });
  }
}

/**
 * An MSI configuration with a field outside u32. Code `INVALID_MSI_CONFIG`.
 * @example `group.update(0, { addressLo: -1, addressHi: 0, data: 0 })` throws it.
 */
export class InvalidMsiConfigError extends BusError {
  override name = 'Interrupt.InvalidMsiConfigError' as const;
  /** @param field - the bad field @param value - its value */
  constructor(field: string, value: unknown) {
    super('INVALID_MSI_CONFIG', `MSI ${field} must be a u32`, { details: { field, value: show(value) } });
  }
}

/**
 * A mailbox request that got no answer in time. Code `MAILBOX_TIMEOUT`.
 * @example `client.pioRead(0x3f8, buf)` with no server running and a timeout throws it.
 */
export class MailboxTimeoutError extends BusError {
  override name = 'Mailbox.TimeoutError' as const;
  /** @param slot - the client slot @param timeoutMs - how long it waited */
  constructor(slot: number, timeoutMs: number) {
    super('MAILBOX_TIMEOUT', 'no answer from the mailbox server in time', { details: { slot, timeoutMs } });
  }
}

/**
 * The thread owning the devices failed a forwarded access; `details.remoteName` and
 * `details.remoteCode` carry the name and code of the error it raised there (for example
 * `Bus.DeviceNotFoundError`). Code `MAILBOX_REMOTE`.
 * @example a forwarded read of an unmapped port throws it with remoteName `Bus.DeviceNotFoundError`.
 */
export class MailboxRemoteError extends BusError {
  override name = 'Mailbox.RemoteError' as const;
  /** @param remoteName - error name on the owner side @param remoteCode - its code */
  constructor(remoteName: string, remoteCode: string) {
    super('MAILBOX_REMOTE', `forwarded access failed: ${remoteName}`, { details: { remoteName, remoteCode } });
  }
}
