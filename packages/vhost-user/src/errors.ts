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
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Options of the {@link VhostUserError} constructor.
 *
 * @example
 * ```ts
 * const options: VhostUserErrorOptions = { details: 'request: 5, fd: 7', cause: err };
 * ```
 */
export type VhostUserErrorOptions = VmvErrorOptions;

/**
 * The values a decoder or the backend found wrong (request code, offending field, limits), kept
 * as the `facts` field of the errors whose values vary by request.
 *
 * @example
 * ```ts
 * if (isVhostUserError(e, 'VhostUser.BodySizeError')) console.log(e.facts['expected']);
 * ```
 */
export type VhostUserFacts = Readonly<Record<string, unknown>>;

/**
 * Base class of every error @vmv/vhost-user throws for frontend input or a backend failure.
 *
 * @example
 * ```ts
 * try { decodeHeader(bytes); } catch (e) { if (isVhostUserError(e)) console.log(e.code); }
 * ```
 */
export class VhostUserError extends VmvError {
  override readonly name: string = 'VhostUser.Error';
}

/** `k: v, ...` with bigints in hex: the `details` text of an error built from facts. */
function formatFacts(facts: VhostUserFacts): string | undefined {
  const text = Object.entries(facts)
    .map(([k, v]) => `${k}: ${typeof v === 'bigint' ? '0x' + v.toString(16) : String(v)}`)
    .join(', ');
  return text === '' ? undefined : text;
}

/**
 * A header or body shorter than announced (a truncated read).
 */
export class PartialMessageError extends VhostUserError {
  override readonly name = 'VhostUser.PartialMessageError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - lengths involved */
  constructor(facts: VhostUserFacts) {
    super('PARTIAL_MESSAGE', 'vhost-user message is truncated', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * The request code is not one QEMU 7.2 defines.
 */
export class UnknownRequestError extends VhostUserError {
  override readonly name = 'VhostUser.UnknownRequestError' as const;
  /** The request code received. */
  readonly request: number;
  /** @param request - the code received */
  constructor(request: number) {
    super('UNKNOWN_REQUEST', 'unknown vhost-user request code', { details: `request: ${request}` });
    this.request = request;
  }
}

/**
 * The header announces a payload larger than the protocol maximum (0x1000 bytes).
 */
export class OversizedMessageError extends VhostUserError {
  override readonly name = 'VhostUser.OversizedMessageError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - size and limit */
  constructor(facts: VhostUserFacts) {
    super('OVERSIZED_MESSAGE', 'vhost-user payload exceeds the maximum message size', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * The version bits of the header flags are not 1.
 */
export class VersionError extends VhostUserError {
  override readonly name = 'VhostUser.VersionError' as const;
  /** The version received. */
  readonly version: number;
  /** @param version - the version received */
  constructor(version: number) {
    super('BAD_VERSION', 'unsupported vhost-user protocol version', { details: `version: ${version}` });
    this.version = version;
  }
}

/**
 * Reserved header flag bits are set, or a request carries the reply flag (or vice versa).
 */
export class InvalidFlagsError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidFlagsError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - flags and reason */
  constructor(facts: VhostUserFacts) {
    super('INVALID_FLAGS', 'invalid vhost-user header flags', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * The payload size does not match what the request requires.
 */
export class BodySizeError extends VhostUserError {
  override readonly name = 'VhostUser.BodySizeError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - request, size and expected size */
  constructor(facts: VhostUserFacts) {
    super('BODY_SIZE', 'vhost-user payload size is wrong for this request', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * File descriptors arrived on a request that takes none, or in the wrong number, or too many.
 */
export class IncorrectFdsError extends VhostUserError {
  override readonly name = 'VhostUser.IncorrectFdsError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - request, count and expectation */
  constructor(facts: VhostUserFacts) {
    super('INCORRECT_FDS', 'wrong file descriptors attached to vhost-user message', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A request gated by a (protocol) feature that has not been negotiated.
 */
export class InactiveOperationError extends VhostUserError {
  override readonly name = 'VhostUser.InactiveOperationError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - request and the feature it needs */
  constructor(facts: VhostUserFacts) {
    super('INACTIVE_OPERATION', 'vhost-user request needs a feature that was not negotiated', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A request this implementation does not serve (crypto sessions, postcopy, IOTLB, GPU).
 */
export class UnsupportedRequestError extends VhostUserError {
  override readonly name = 'VhostUser.UnsupportedRequestError' as const;
  /** The request code. */
  readonly request: number;
  /** @param request - the request code */
  constructor(request: number) {
    super('UNSUPPORTED_REQUEST', 'vhost-user request is not supported by this backend', { details: `request: ${request}` });
    this.request = request;
  }
}

/**
 * A memory table or memory region description breaks a rule (size, overflow, order, overlap).
 */
export class InvalidMemoryRegionError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidMemoryRegionError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_MEMORY_REGION', `invalid vhost-user memory region: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A vring index outside the device's queues.
 */
export class InvalidVringIndexError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidVringIndexError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - index and queue count */
  constructor(facts: VhostUserFacts) {
    super('INVALID_VRING_INDEX', 'vhost-user vring index out of range', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A vring address description with bad alignment or unknown flags.
 */
export class InvalidVringAddrError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidVringAddrError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_VRING_ADDR', `invalid vhost-user vring address: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A numeric parameter outside its allowed set (ring size, enable flag, status, reserved bits).
 */
export class InvalidParamError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidParamError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_PARAM', `invalid vhost-user parameter: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * SET_FEATURES / SET_PROTOCOL_FEATURES with bits the backend did not offer.
 */
export class UnsupportedFeaturesError extends VhostUserError {
  override readonly name = 'VhostUser.UnsupportedFeaturesError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - requested, offered */
  constructor(facts: VhostUserFacts) {
    super('UNSUPPORTED_FEATURES', 'vhost-user frontend acked features the backend did not offer', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A GET_CONFIG / SET_CONFIG description out of bounds or with unknown flags.
 */
export class InvalidConfigError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidConfigError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_CONFIG', `invalid vhost-user config access: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * An inflight description with zero or out-of-range sizes, or a bad inflight buffer.
 */
export class InvalidInflightError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidInflightError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_INFLIGHT', `invalid vhost-user inflight description: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A log description with a zero size or an overflowing range.
 */
export class InvalidLogError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidLogError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - which rule @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_LOG', `invalid vhost-user log description: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A request that is well formed but not allowed in the current connection state.
 */
export class InvalidOperationError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidOperationError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - why @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_OPERATION', `vhost-user request not allowed now: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A frontend virtual address (ring address) not covered by any memory region.
 */
export class MissingMemoryMappingError extends VhostUserError {
  override readonly name = 'VhostUser.MissingMemoryMappingError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - the address and length */
  constructor(facts: VhostUserFacts) {
    super('MISSING_MEMORY_MAPPING', 'frontend address is not inside any memory region', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * Mapping a region or inflight fd failed (the host refused the mmap).
 */
export class MapFailedError extends VhostUserError {
  override readonly name = 'VhostUser.MapFailedError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - what was mapped @param cause - the host error */
  constructor(facts: VhostUserFacts, cause?: unknown) {
    super('MAP_FAILED', 'mapping frontend memory failed', { details: formatFacts(facts), cause });
    this.facts = facts;
  }
}

/**
 * A reply from the backend that does not match the request (frontend side).
 */
export class InvalidReplyError extends VhostUserError {
  override readonly name = 'VhostUser.InvalidReplyError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param reason - why @param facts - the values */
  constructor(reason: string, facts: VhostUserFacts = {}) {
    super('INVALID_REPLY', `invalid vhost-user reply: ${reason}`, { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * The peer closed the connection.
 */
export class DisconnectedError extends VhostUserError {
  override readonly name = 'VhostUser.DisconnectedError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** Whether the peer left in the middle of a message (rather than between messages). */
  readonly midMessage: boolean;
  /** @param facts - what was pending (`midMessage: true` when a message was cut short) */
  constructor(facts: VhostUserFacts = {}) {
    super('DISCONNECTED', 'vhost-user peer disconnected', { details: formatFacts(facts) });
    this.facts = facts;
    this.midMessage = facts['midMessage'] === true;
  }
}

/**
 * The peer did not answer within the bound its caller set (a silent or stalled peer).
 */
export class ReplyTimeoutError extends VhostUserError {
  override readonly name = 'VhostUser.ReplyTimeoutError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - the request awaited and the bound in ms */
  constructor(facts: VhostUserFacts) {
    super('REPLY_TIMEOUT', 'no vhost-user reply within the time allowed', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * The peer answered a request with a REPLY_ACK failure (a non-zero u64), or refused it (an empty
 * GET_CONFIG reply).
 */
export class RequestRejectedError extends VhostUserError {
  override readonly name = 'VhostUser.RequestRejectedError' as const;
  /** The values involved. */
  readonly facts: VhostUserFacts;
  /** @param facts - the request and the status the peer returned */
  constructor(facts: VhostUserFacts) {
    super('REQUEST_REJECTED', 'the vhost-user peer refused the request', { details: formatFacts(facts) });
    this.facts = facts;
  }
}

/**
 * A queue worker thread (the backend's `queueWorkers` option) failed: its device could not be
 * built, or the thread crashed. The device served is put in DEVICE_NEEDS_RESET with it.
 */
export class QueueWorkerError extends VhostUserError {
  override readonly name = 'VhostUser.QueueWorkerError' as const;
  /** The worker's number (0-based). */
  readonly worker: number;
  /** @param worker - the worker's number @param reason - what happened */
  constructor(worker: number, reason: string) {
    super('QUEUE_WORKER', `queue worker ${worker} failed: ${reason}`);
    this.worker = worker;
  }
}

/** What the decoder throws; the head of {@link VHOST_USER_ERROR_NAMES}. */
const DECODE_NAMES = [
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
] as const;

/**
 * The error names the daemon kit (`@vmv/vhost-user/daemon`) adds; a usage error exits 2. Part of
 * {@link VHOST_USER_ERROR_NAMES}.
 * @example `DAEMON_ERROR_NAMES.includes(e.name)`
 */
export const DAEMON_ERROR_NAMES = ['VhostUser.UsageError', 'VhostUser.SocketError', 'VhostUser.ControlError'] as const;

/**
 * Every error name this package uses.
 *
 * @example
 * ```ts
 * expect(VHOST_USER_ERROR_NAMES).toContain((e as Error).name);
 * ```
 */
export const VHOST_USER_ERROR_NAMES = [
  'VhostUser.Error',
  ...DECODE_NAMES,
  'VhostUser.InvalidOperationError',
  'VhostUser.MissingMemoryMappingError',
  'VhostUser.MapFailedError',
  'VhostUser.InvalidReplyError',
  'VhostUser.DisconnectedError',
  'VhostUser.ReplyTimeoutError',
  'VhostUser.RequestRejectedError',
  'VhostUser.QueueWorkerError',
  ...DAEMON_ERROR_NAMES,
] as const;

/**
 * One of {@link VHOST_USER_ERROR_NAMES}.
 *
 * @example
 * ```ts
 * const allowed: readonly VhostUserErrorName[] = ['VhostUser.BodySizeError', 'VhostUser.IncorrectFdsError'];
 * if (isVhostUserError(e) && allowed.includes(e.name as VhostUserErrorName)) reject(e);
 * ```
 */
export type VhostUserErrorName = (typeof VHOST_USER_ERROR_NAMES)[number];

/**
 * The error names {@link decodeRequest} and {@link decodeHeader} can throw: the allowlist for
 * fuzzing the decoder.
 *
 * @example
 * ```ts
 * expect(DECODE_ERROR_NAMES).toContain(err.name);
 * ```
 */
export const DECODE_ERROR_NAMES: readonly VhostUserErrorName[] = DECODE_NAMES;

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
export const isVhostUserError: ErrorGuard<VhostUserError, VhostUserErrorName> = errorGuard('VhostUser', VHOST_USER_ERROR_NAMES);


