/**
 * Errors of @vmv/bus.
 *
 * Every failure the package reports for input that may come from a guest or from a resource
 * description (a bus access, a range, an allocation request, an interrupt index) is a
 * {@link BusError} subclass (`'Bus.<Thing>Error'`, derived from `@vmv/errors`'s `VmvError`) with
 * a stable `code` and the values involved as typed fields. Embedder misuse (a wrong type, a
 * non-integer) throws `TypeError`/`RangeError` with a labelled message.
 *
 * Test errors with {@link isBusError}, never `instanceof` (two copies of the package break it).
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';
import { show } from './internal/show.js';

/**
 * Options accepted by the {@link BusError} constructor.
 * @example
 * ```ts
 * const options: BusErrorOptions = { details: 'base: 0x3f8, size: 0x8', cause: err };
 * ```
 */
export type BusErrorOptions = VmvErrorOptions;

/**
 * Base class of every typed error thrown by @vmv/bus.
 * @example
 * ```ts
 * try { bus.read(0x3f8, new Uint8Array(1)); }
 * catch (e) { if (isBusError(e, 'Bus.DeviceNotFoundError')) console.log(e.code); }
 * ```
 */
export class BusError extends VmvError {
  override readonly name: string = 'Bus.Error';
}

/** `k: v, ...` with integers in hex: the `details` text of an error built from facts. */
function formatFacts(facts: Readonly<Record<string, unknown>>): string | undefined {
  const text = Object.entries(facts)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'bigint' ? `0x${v.toString(16)}` : typeof v === 'number' && Number.isInteger(v) && v >= 0 ? `0x${v.toString(16)}` : show(v)}`)
    .join(', ');
  return text === '' ? undefined : text;
}

/**
 * Every error name @vmv/bus can throw as a {@link BusError}.
 * @example
 * ```ts
 * expect(BUS_ERROR_NAMES).toContain((e as Error).name); // an allowlist in a property test
 * ```
 */
export const BUS_ERROR_NAMES = [
  'Bus.Error',
  'Bus.InvalidRangeError',
  'Bus.DeviceOverlapError',
  'Bus.EmptyAccessError',
  'Bus.AccessStraddlesRangeError',
  'Bus.DeviceNotFoundError',
  'Bus.InvalidConstraintError',
  'Bus.ResourceExhaustedError',
  'Bus.ResourceUnavailableError',
  'Bus.ResourceNotAllocatedError',
  'Bus.InvalidInterruptIndexError',
  'Bus.InterruptSourceBusyError',
  'Bus.InvalidMsiConfigError',
  'Bus.MailboxTimeoutError',
  'Bus.MailboxRemoteError',
] as const;

/**
 * The stable `code` of each error name (`BUS_ERROR` for the base class thrown as such).
 * @example `BUS_ERROR_CODES['Bus.DeviceNotFoundError'] === 'DEVICE_NOT_FOUND'`
 */
export const BUS_ERROR_CODES: Readonly<Record<(typeof BUS_ERROR_NAMES)[number], string>> = {
  'Bus.Error': 'BUS_ERROR',
  'Bus.InvalidRangeError': 'INVALID_RANGE',
  'Bus.DeviceOverlapError': 'DEVICE_OVERLAP',
  'Bus.EmptyAccessError': 'EMPTY_ACCESS',
  'Bus.AccessStraddlesRangeError': 'ACCESS_STRADDLES_RANGE',
  'Bus.DeviceNotFoundError': 'DEVICE_NOT_FOUND',
  'Bus.InvalidConstraintError': 'INVALID_CONSTRAINT',
  'Bus.ResourceExhaustedError': 'RESOURCE_EXHAUSTED',
  'Bus.ResourceUnavailableError': 'RESOURCE_UNAVAILABLE',
  'Bus.ResourceNotAllocatedError': 'NOT_ALLOCATED',
  'Bus.InvalidInterruptIndexError': 'INVALID_INTERRUPT_INDEX',
  'Bus.InterruptSourceBusyError': 'INTERRUPT_SOURCE_BUSY',
  'Bus.InvalidMsiConfigError': 'INVALID_MSI_CONFIG',
  'Bus.MailboxTimeoutError': 'MAILBOX_TIMEOUT',
  'Bus.MailboxRemoteError': 'MAILBOX_REMOTE',
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
export const isBusError: ErrorGuard<BusError, BusErrorName> = errorGuard('Bus', BUS_ERROR_NAMES);

/**
 * The range an {@link InvalidRangeError} is about.
 * @example `const r: BusRangeFacts = { space: 'pio', base: 0xfff0, size: 0x20 };`
 */
export interface BusRangeFacts {
  /** `'pio'` or `'mmio'`. */
  readonly space: string;
  /** First address. */
  readonly base: number | bigint;
  /** Size in bytes. */
  readonly size: number | bigint;
}

/**
 * A range with a zero size, or whose end lies beyond its address space (also: an MMIO device
 * range too large for exact `number` offsets). Code `INVALID_RANGE`.
 * @example `new PioRange(0xfff0, 0x20)` throws it.
 */
export class InvalidRangeError extends BusError {
  override readonly name = 'Bus.InvalidRangeError' as const;
  /** `'pio'` or `'mmio'`. */
  readonly space: string;
  /** First address of the range. */
  readonly base: number | bigint;
  /** Size of the range in bytes. */
  readonly size: number | bigint;
  /** @param reason - why @param range - base, size, space */
  constructor(reason: string, range: BusRangeFacts) {
    super('INVALID_RANGE', `invalid bus range: ${reason}`, { details: formatFacts({ ...range }) });
    this.space = range.space;
    this.base = range.base;
    this.size = range.size;
  }
}

/**
 * A registration whose range overlaps a range already registered; names both ranges.
 * Code `DEVICE_OVERLAP`.
 * @example `bus.register(new PioRange(0x3f8, 8), a); bus.register(new PioRange(0x3fc, 8), b)` throws it.
 */
export class DeviceOverlapError extends BusError {
  override readonly name = 'Bus.DeviceOverlapError' as const;
  /** The range being registered, e.g. `pio[0x3fc..0x403]`. */
  readonly range: string;
  /** The registered range it overlaps. */
  readonly existing: string;
  /** @param range - the range being registered @param existing - the registered range it overlaps */
  constructor(range: string, existing: string) {
    super('DEVICE_OVERLAP', `range ${range} overlaps registered range ${existing}`);
    this.range = range;
    this.existing = existing;
  }
}

/**
 * An access of zero bytes. Code `EMPTY_ACCESS`.
 * @example `bus.read(0x3f8, new Uint8Array(0))` throws it.
 */
export class EmptyAccessError extends BusError {
  override readonly name = 'Bus.EmptyAccessError' as const;
  /** `'pio'` or `'mmio'`. */
  readonly space: string;
  /** The address. */
  readonly addr: number | bigint;
  /** @param space - 'pio' or 'mmio' @param addr - the address */
  constructor(space: string, addr: number | bigint) {
    super('EMPTY_ACCESS', `zero-length ${space} access`, { details: formatFacts({ space, addr }) });
    this.space = space;
    this.addr = addr;
  }
}

/**
 * An access that starts inside a registered range but ends beyond it. Code `ACCESS_STRADDLES_RANGE`.
 * @example a 4-byte read at the last byte of a device's range throws it.
 */
export class AccessStraddlesRangeError extends BusError {
  override readonly name = 'Bus.AccessStraddlesRangeError' as const;
  /** `'pio'` or `'mmio'`. */
  readonly space: string;
  /** First byte of the access. */
  readonly addr: number | bigint;
  /** Bytes accessed. */
  readonly length: number;
  /** The registered range holding `addr`. */
  readonly range: string;
  /** @param space - bus @param addr - first byte @param length - bytes @param range - the range holding addr */
  constructor(space: string, addr: number | bigint, length: number, range: string) {
    super('ACCESS_STRADDLES_RANGE', `${space} access of ${length} bytes straddles the end of ${range}`, { details: formatFacts({ addr }) });
    this.space = space;
    this.addr = addr;
    this.length = length;
    this.range = range;
  }
}

/**
 * No device is registered at the address. Code `DEVICE_NOT_FOUND`.
 * @example `new IoManager().pioRead(0x80, new Uint8Array(1))` throws it.
 */
export class DeviceNotFoundError extends BusError {
  override readonly name = 'Bus.DeviceNotFoundError' as const;
  /** `'pio'` or `'mmio'`. */
  readonly space: string;
  /** The address. */
  readonly addr: number | bigint;
  /** @param space - bus @param addr - the address */
  constructor(space: string, addr: number | bigint) {
    super('DEVICE_NOT_FOUND', `no ${space} device at this address`, { details: formatFacts({ space, addr }) });
    this.space = space;
    this.addr = addr;
  }
}

/**
 * A resource constraint or resource description that cannot be satisfied by construction
 * (zero size, alignment not a power of two, fixed base not aligned, range outside the pool).
 * Code `INVALID_CONSTRAINT`.
 * @example `allocator.allocate([{ kind: 'mmio', size: 0 }])` throws it.
 */
export class InvalidConstraintError extends BusError {
  override readonly name = 'Bus.InvalidConstraintError' as const;
  /** The offending constraint (pool, kind, base, size, align, count: those that apply). */
  readonly constraint: Readonly<Record<string, unknown>>;
  /** @param reason - what is wrong @param constraint - the offending constraint */
  constructor(reason: string, constraint: Readonly<Record<string, unknown>>) {
    super('INVALID_CONSTRAINT', `invalid resource constraint: ${reason}`, { details: formatFacts(constraint) });
    this.constraint = constraint;
  }
}

/**
 * A pool has no free space (or no free ids) that satisfies the request. Code `RESOURCE_EXHAUSTED`.
 * @example requesting 17 legacy IRQs from a pool of 16 throws it.
 */
export class ResourceExhaustedError extends BusError {
  override readonly name = 'Bus.ResourceExhaustedError' as const;
  /** The pool's name. */
  readonly pool: string;
  /** The request (size, align, count: those that apply). */
  readonly request: Readonly<Record<string, unknown>>;
  /** @param pool - pool name @param request - the request */
  constructor(pool: string, request: Readonly<Record<string, unknown>>) {
    super('RESOURCE_EXHAUSTED', `no free ${pool} resource satisfies the request`, { details: formatFacts(request) });
    this.pool = pool;
    this.request = request;
  }
}

/**
 * A fixed resource (fixed address, fixed IRQ, fixed slot) is already taken. Code `RESOURCE_UNAVAILABLE`.
 * @example asking for legacy IRQ 4 twice throws it the second time.
 */
export class ResourceUnavailableError extends BusError {
  override readonly name = 'Bus.ResourceUnavailableError' as const;
  /** The pool's name. */
  readonly pool: string;
  /** The request (base, size: those that apply). */
  readonly request: Readonly<Record<string, unknown>>;
  /** @param pool - pool name @param request - the request */
  constructor(pool: string, request: Readonly<Record<string, unknown>>) {
    super('RESOURCE_UNAVAILABLE', `the fixed ${pool} resource is already allocated`, { details: formatFacts(request) });
    this.pool = pool;
    this.request = request;
  }
}

/**
 * Freeing a resource that is not allocated. Code `NOT_ALLOCATED`.
 * @example freeing the same resources twice throws it the second time.
 */
export class ResourceNotAllocatedError extends BusError {
  override readonly name = 'Bus.ResourceNotAllocatedError' as const;
  /** The pool's name. */
  readonly pool: string;
  /** The resource being freed. */
  readonly resource: Readonly<Record<string, unknown>>;
  /** @param pool - pool name @param resource - the resource */
  constructor(pool: string, resource: Readonly<Record<string, unknown>>) {
    super('NOT_ALLOCATED', `the ${pool} resource is not allocated`, { details: formatFacts(resource) });
    this.pool = pool;
    this.resource = resource;
  }
}

/**
 * An interrupt index outside its group. Code `INVALID_INTERRUPT_INDEX`.
 * @example `group.trigger(group.count)` throws it.
 */
export class InvalidInterruptIndexError extends BusError {
  override readonly name = 'Bus.InvalidInterruptIndexError' as const;
  /** The index. */
  readonly index: number;
  /** Sources in the group. */
  readonly count: number;
  /** @param index - the index @param count - sources in the group */
  constructor(index: number, count: number) {
    super('INVALID_INTERRUPT_INDEX', `interrupt index outside its group`, { details: formatFacts({ index, count }) });
    this.index = index;
    this.count = count;
  }
}

/**
 * An interrupt number already used by another group of the same controller. Code `INTERRUPT_SOURCE_BUSY`.
 * @example creating two legacy groups on IRQ 4 throws it.
 */
export class InterruptSourceBusyError extends BusError {
  override readonly name = 'Bus.InterruptSourceBusyError' as const;
  /** `'legacy'` or `'msi'`. */
  readonly kind: string;
  /** First interrupt number asked for. */
  readonly base: number;
  /** Sources asked for. */
  readonly count: number;
  /** @param kind - 'legacy' or 'msi' @param base - first number @param count - sources */
  constructor(kind: string, base: number, count: number) {
    super('INTERRUPT_SOURCE_BUSY', `${kind} interrupt numbers already in use`, { details: formatFacts({ kind, base, count }) });
    this.kind = kind;
    this.base = base;
    this.count = count;
  }
}

/**
 * An MSI configuration with a field outside u32. Code `INVALID_MSI_CONFIG`.
 * @example `group.update(0, { addressLo: -1, addressHi: 0, data: 0 })` throws it.
 */
export class InvalidMsiConfigError extends BusError {
  override readonly name = 'Bus.InvalidMsiConfigError' as const;
  /** The bad field. */
  readonly field: string;
  /** Its value. */
  readonly value: unknown;
  /** @param field - the bad field @param value - its value */
  constructor(field: string, value: unknown) {
    super('INVALID_MSI_CONFIG', `MSI ${field} must be a u32`, { details: `${field}: ${show(value)}` });
    this.field = field;
    this.value = value;
  }
}

/**
 * A mailbox request that got no answer in time. Code `MAILBOX_TIMEOUT`.
 * @example `client.pioRead(0x3f8, buf)` with no server running and a timeout throws it.
 */
export class MailboxTimeoutError extends BusError {
  override readonly name = 'Bus.MailboxTimeoutError' as const;
  /** The client slot. */
  readonly slot: number;
  /** How long it waited, in milliseconds. */
  readonly timeoutMs: number;
  /** @param slot - the client slot @param timeoutMs - how long it waited */
  constructor(slot: number, timeoutMs: number) {
    super('MAILBOX_TIMEOUT', 'no answer from the mailbox server in time', { details: `slot ${slot}, ${timeoutMs} ms` });
    this.slot = slot;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The thread owning the devices failed a forwarded access; `remoteName` and `remoteCode` carry
 * the name and code of the error it raised there (for example `Bus.DeviceNotFoundError`).
 * Code `MAILBOX_REMOTE`.
 * @example a forwarded read of an unmapped port throws it with remoteName `Bus.DeviceNotFoundError`.
 */
export class MailboxRemoteError extends BusError {
  override readonly name = 'Bus.MailboxRemoteError' as const;
  /** The error's name on the owner side (`'Error'` for an error that is not a bus error). */
  readonly remoteName: string;
  /** Its code (`'UNKNOWN'` for an error that is not a bus error). */
  readonly remoteCode: string;
  /** @param remoteName - error name on the owner side @param remoteCode - its code */
  constructor(remoteName: string, remoteCode: string) {
    super('MAILBOX_REMOTE', `forwarded access failed: ${remoteName}`, { details: `code ${remoteCode}` });
    this.remoteName = remoteName;
    this.remoteCode = remoteCode;
  }
}
