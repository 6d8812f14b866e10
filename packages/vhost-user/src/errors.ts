/**
 * Errors of @vmv/vhost-user.
 *
 * Everything a vhost-user frontend sends is untrusted: a malformed message yields one of the
 * named errors below (never another kind of exception). The backend turns them into an error
 * reply (REPLY_ACK) or a disconnect. Guards test `name`, never `instanceof`, so two copies of
 * the package still recognise each other's errors.
 *
 * @module
 */

/**
 * Options of a {@link VhostUserError}.
 *
 * @example
 * ```ts
 * const options: VhostUserErrorOptions = { details: { request: 5, fd: 7 }, cause: err };
 * throw new VhostUserError('MY_CODE', 'cannot map the region', options);
 * ```
 */
export interface VhostUserErrorOptions {
  /** Structured facts about the failure (request code, offending field, limits). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * Base class of every error @vmv/vhost-user throws for frontend input or a backend failure.
 *
 * @example
 * ```ts
 * try { decodeHeader(bytes); } catch (e) { if (isVhostUserError(e)) console.log(e.code); }
 * ```
 */
export class VhostUserError extends Error {
  /** Stable machine-readable code, e.g. `BODY_SIZE`. */
  readonly code: string;
  /** The message without details. */
  readonly shortMessage: string;
  /** Structured facts about the failure. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  /**
   * @param code - stable code
   * @param shortMessage - one-line description
   * @param options - details and cause
   */
  constructor(code: string, shortMessage: string, options: VhostUserErrorOptions = {}) {
    const detailText = options.details ? ` (${formatDetails(options.details)})` : '';
    super(shortMessage + detailText, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
  override name = 'VhostUserError';
}

function formatDetails(details: Readonly<Record<string, unknown>>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}: ${typeof v === 'bigint' ? '0x' + v.toString(16) : String(v)}`)
    .join(', ');
}

/**
 * True when `e` is a @vmv/vhost-user error (optionally of the given `name`). Tests the name,
 * so errors from another copy of the package are recognised too.
 *
 * @param e - anything caught
 * @param name - optional exact error name, e.g. `'VhostUser.BodySizeError'`
 * @returns whether `e` is such an error
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.IncorrectFdsError')) closeAll(fds);
 * ```
 */
export function isVhostUserError(e: unknown, name?: VhostUserErrorName): e is VhostUserError {
  if (typeof e !== 'object' || e === null) return false;
  const n = (e as { name?: unknown }).name;
  if (typeof n !== 'string') return false;
  if (name !== undefined) return n === name;
  return n === 'VhostUserError' || n.startsWith('VhostUser.');
}

/**
 * A header or body shorter than announced (a truncated read).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.PartialMessageError')) console.error(e.details);
 * ```
 */
export class PartialMessageError extends VhostUserError {
  override name = 'VhostUser.PartialMessageError' as const;
  /** @param details - lengths involved */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('PARTIAL_MESSAGE', 'vhost-user message is truncated', { details });
  }
}

/**
 * The request code is not one QEMU 7.2 defines.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.UnknownRequestError')) console.error(e.details);
 * ```
 */
export class UnknownRequestError extends VhostUserError {
  override name = 'VhostUser.UnknownRequestError' as const;
  /** @param request - the code received */
  constructor(request: number) {
    super('UNKNOWN_REQUEST', 'unknown vhost-user request code', { details: { request } });
  }
}

/**
 * The header announces a payload larger than the protocol maximum (0x1000 bytes).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.OversizedMessageError')) console.error(e.details);
 * ```
 */
export class OversizedMessageError extends VhostUserError {
  override name = 'VhostUser.OversizedMessageError' as const;
  /** @param details - size and limit */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('OVERSIZED_MESSAGE', 'vhost-user payload exceeds the maximum message size', { details });
  }
}

/**
 * The version bits of the header flags are not 1.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.VersionError')) console.error(e.details);
 * ```
 */
export class VersionError extends VhostUserError {
  override name = 'VhostUser.VersionError' as const;
  /** @param version - the version received */
  constructor(version: number) {
    super('BAD_VERSION', 'unsupported vhost-user protocol version', { details: { version } });
  }
}

/**
 * Reserved header flag bits are set, or a request carries the reply flag (or vice versa).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidFlagsError')) console.error(e.details);
 * ```
 */
export class InvalidFlagsError extends VhostUserError {
  override name = 'VhostUser.InvalidFlagsError' as const;
  /** @param details - flags and reason */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('INVALID_FLAGS', 'invalid vhost-user header flags', { details });
  }
}

/**
 * The payload size does not match what the request requires.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.BodySizeError')) console.error(e.details);
 * ```
 */
export class BodySizeError extends VhostUserError {
  override name = 'VhostUser.BodySizeError' as const;
  /** @param details - request, size and expected size */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('BODY_SIZE', 'vhost-user payload size is wrong for this request', { details });
  }
}

/**
 * File descriptors arrived on a request that takes none, or in the wrong number, or too many.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.IncorrectFdsError')) console.error(e.details);
 * ```
 */
export class IncorrectFdsError extends VhostUserError {
  override name = 'VhostUser.IncorrectFdsError' as const;
  /** @param details - request, count and expectation */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('INCORRECT_FDS', 'wrong file descriptors attached to vhost-user message', { details });
  }
}

/**
 * A request gated by a (protocol) feature that has not been negotiated.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InactiveOperationError')) console.error(e.details);
 * ```
 */
export class InactiveOperationError extends VhostUserError {
  override name = 'VhostUser.InactiveOperationError' as const;
  /** @param details - request and the feature it needs */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('INACTIVE_OPERATION', 'vhost-user request needs a feature that was not negotiated', { details });
  }
}

/**
 * A request this implementation does not serve (crypto sessions, postcopy, IOTLB, GPU).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.UnsupportedRequestError')) console.error(e.details);
 * ```
 */
export class UnsupportedRequestError extends VhostUserError {
  override name = 'VhostUser.UnsupportedRequestError' as const;
  /** @param request - the request code */
  constructor(request: number) {
    super('UNSUPPORTED_REQUEST', 'vhost-user request is not supported by this backend', { details: { request } });
  }
}

/**
 * A memory table or memory region description breaks a rule (size, overflow, order, overlap).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidMemoryRegionError')) console.error(e.details);
 * ```
 */
export class InvalidMemoryRegionError extends VhostUserError {
  override name = 'VhostUser.InvalidMemoryRegionError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_MEMORY_REGION', `invalid vhost-user memory region: ${reason}`, { details });
  }
}

/**
 * A vring index outside the device's queues.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidVringIndexError')) console.error(e.details);
 * ```
 */
export class InvalidVringIndexError extends VhostUserError {
  override name = 'VhostUser.InvalidVringIndexError' as const;
  /** @param details - index and queue count */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('INVALID_VRING_INDEX', 'vhost-user vring index out of range', { details });
  }
}

/**
 * A vring address description with bad alignment or unknown flags.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidVringAddrError')) console.error(e.details);
 * ```
 */
export class InvalidVringAddrError extends VhostUserError {
  override name = 'VhostUser.InvalidVringAddrError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_VRING_ADDR', `invalid vhost-user vring address: ${reason}`, { details });
  }
}

/**
 * A numeric parameter outside its allowed set (ring size, enable flag, status, reserved bits).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidParamError')) console.error(e.details);
 * ```
 */
export class InvalidParamError extends VhostUserError {
  override name = 'VhostUser.InvalidParamError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_PARAM', `invalid vhost-user parameter: ${reason}`, { details });
  }
}

/**
 * SET_FEATURES / SET_PROTOCOL_FEATURES with bits the backend did not offer.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.UnsupportedFeaturesError')) console.error(e.details);
 * ```
 */
export class UnsupportedFeaturesError extends VhostUserError {
  override name = 'VhostUser.UnsupportedFeaturesError' as const;
  /** @param details - requested, offered */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('UNSUPPORTED_FEATURES', 'vhost-user frontend acked features the backend did not offer', { details });
  }
}

/**
 * A GET_CONFIG / SET_CONFIG description out of bounds or with unknown flags.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidConfigError')) console.error(e.details);
 * ```
 */
export class InvalidConfigError extends VhostUserError {
  override name = 'VhostUser.InvalidConfigError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_CONFIG', `invalid vhost-user config access: ${reason}`, { details });
  }
}

/**
 * An inflight description with zero or out-of-range sizes, or a bad inflight buffer.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidInflightError')) console.error(e.details);
 * ```
 */
export class InvalidInflightError extends VhostUserError {
  override name = 'VhostUser.InvalidInflightError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_INFLIGHT', `invalid vhost-user inflight description: ${reason}`, { details });
  }
}

/**
 * A log description with a zero size or an overflowing range.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidLogError')) console.error(e.details);
 * ```
 */
export class InvalidLogError extends VhostUserError {
  override name = 'VhostUser.InvalidLogError' as const;
  /** @param reason - which rule @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_LOG', `invalid vhost-user log description: ${reason}`, { details });
  }
}

/**
 * A request that is well formed but not allowed in the current connection state.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidOperationError')) console.error(e.details);
 * ```
 */
export class InvalidOperationError extends VhostUserError {
  override name = 'VhostUser.InvalidOperationError' as const;
  /** @param reason - why @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_OPERATION', `vhost-user request not allowed now: ${reason}`, { details });
  }
}

/**
 * A frontend virtual address (ring address) not covered by any memory region.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.MissingMemoryMappingError')) console.error(e.details);
 * ```
 */
export class MissingMemoryMappingError extends VhostUserError {
  override name = 'VhostUser.MissingMemoryMappingError' as const;
  /** @param details - the address and length */
  constructor(details: Readonly<Record<string, unknown>>) {
    super('MISSING_MEMORY_MAPPING', 'frontend address is not inside any memory region', { details });
  }
}

/**
 * Mapping a region or inflight fd failed (the host refused the mmap).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.MapFailedError')) console.error(e.details);
 * ```
 */
export class MapFailedError extends VhostUserError {
  override name = 'VhostUser.MapFailedError' as const;
  /** @param details - what was mapped @param cause - the host error */
  constructor(details: Readonly<Record<string, unknown>>, cause?: unknown) {
    super('MAP_FAILED', 'mapping frontend memory failed', { details, cause });
  }
}

/**
 * A reply from the backend that does not match the request (frontend side).
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.InvalidReplyError')) console.error(e.details);
 * ```
 */
export class InvalidReplyError extends VhostUserError {
  override name = 'VhostUser.InvalidReplyError' as const;
  /** @param reason - why @param details - the values */
  constructor(reason: string, details: Readonly<Record<string, unknown>> = {}) {
    super('INVALID_REPLY', `invalid vhost-user reply: ${reason}`, { details });
  }
}

/**
 * The peer closed the connection.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.DisconnectedError')) console.error(e.details);
 * ```
 */
export class DisconnectedError extends VhostUserError {
  override name = 'VhostUser.DisconnectedError' as const;
  /** @param details - what was pending */
  constructor(details: Readonly<Record<string, unknown>> = {}) {
    super('DISCONNECTED', 'vhost-user peer disconnected', { details });
  }
}

/**
 * Every error name this package uses.
 *
 * @example
 * ```ts
 * const allowed: readonly VhostUserErrorName[] = ['VhostUser.BodySizeError', 'VhostUser.IncorrectFdsError'];
 * if (isVhostUserError(e) && allowed.includes(e.name)) reject(e);
 * ```
 */
export type VhostUserErrorName =
  | 'VhostUserError'
  | 'VhostUser.PartialMessageError'
  | 'VhostUser.UnknownRequestError'
  | 'VhostUser.OversizedMessageError'
  | 'VhostUser.VersionError'
  | 'VhostUser.InvalidFlagsError'
  | 'VhostUser.BodySizeError'
  | 'VhostUser.IncorrectFdsError'
  | 'VhostUser.InactiveOperationError'
  | 'VhostUser.UnsupportedRequestError'
  | 'VhostUser.InvalidMemoryRegionError'
  | 'VhostUser.InvalidVringIndexError'
  | 'VhostUser.InvalidVringAddrError'
  | 'VhostUser.InvalidParamError'
  | 'VhostUser.UnsupportedFeaturesError'
  | 'VhostUser.InvalidConfigError'
  | 'VhostUser.InvalidInflightError'
  | 'VhostUser.InvalidLogError'
  | 'VhostUser.InvalidOperationError'
  | 'VhostUser.MissingMemoryMappingError'
  | 'VhostUser.MapFailedError'
  | 'VhostUser.InvalidReplyError'
  | 'VhostUser.DisconnectedError';

/**
 * The error names {@link decodeRequest} and {@link decodeHeader} can throw: the allowlist for
 * fuzzing the decoder.
 *
 * @example
 * ```ts
 * expect(DECODE_ERROR_NAMES).toContain(err.name);
 * ```
 */
export const DECODE_ERROR_NAMES: readonly VhostUserErrorName[] = [
  'VhostUser.PartialMessageError',
  'VhostUser.UnknownRequestError',
  'VhostUser.OversizedMessageError',
  'VhostUser.VersionError',
  'VhostUser.InvalidFlagsError',
  'VhostUser.BodySizeError',
  'VhostUser.IncorrectFdsError',
  'VhostUser.InactiveOperationError',
  'VhostUser.UnsupportedRequestError',
  'VhostUser.InvalidMemoryRegionError',
  'VhostUser.InvalidVringIndexError',
  'VhostUser.InvalidVringAddrError',
  'VhostUser.InvalidParamError',
  'VhostUser.UnsupportedFeaturesError',
  'VhostUser.InvalidConfigError',
  'VhostUser.InvalidInflightError',
  'VhostUser.InvalidLogError',
];
