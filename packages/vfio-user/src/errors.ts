/**
 * Errors of @vmv/vfio-user. Everything a vfio-user client sends is untrusted: a malformed or
 * illegal command yields one of the named errors below, never another exception. Each carries
 * the Linux `errno` its error reply reports (vfio-user.rst "Header": the Error bit and field);
 * the framing errors (`InvalidHeaderError`, `OversizedMessageError`) end the connection instead,
 * since the stream can no longer be trusted. Guards test `name`, never `instanceof`.
 *
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';
import { Errno } from './constants.js';

/** The values an error was raised for (command, field, limits). @example `e.facts['command']` */
export type VfioUserFacts = Readonly<Record<string, unknown>>;

/** Options of the {@link VfioUserError} constructor. @example `{ details: 'index: 12', cause }` */
export type VfioUserErrorOptions = VmvErrorOptions;

/** `k: v, ...` with bigints in hex. */
function formatFacts(facts: VfioUserFacts): string | undefined {
  const text = Object.entries(facts)
    .map(([k, v]) => `${k}: ${typeof v === 'bigint' ? '0x' + v.toString(16) : String(v)}`)
    .join(', ');
  return text === '' ? undefined : text;
}

/**
 * Base class of every @vmv/vfio-user error.
 * @example
 * ```ts
 * try { decodeRegionAccess(body, false); } catch (e) { if (isVfioUserError(e)) reply(e.errno); }
 * ```
 */
export class VfioUserError extends VmvError {
  override readonly name: string = 'VfioUser.Error';
  /** The errno an error reply carries for this error. */
  readonly errno: number;
  /** The values involved. */
  readonly facts: VfioUserFacts;
  /**
   * @param code - stable code
   * @param message - summary
   * @param errno - the errno of the reply
   * @param facts - the values involved
   * @param cause - the underlying error
   */
  constructor(code: string, message: string, errno: number, facts: VfioUserFacts = {}, cause?: unknown) {
    super(code, message, { details: formatFacts(facts), cause });
    this.errno = errno;
    this.facts = facts;
  }
}

/** The header's size field is below 16, or the message type is neither command nor reply: the stream is lost. */
export class InvalidHeaderError extends VfioUserError {
  override readonly name = 'VfioUser.InvalidHeaderError' as const;
  /** @param facts - the header fields and the rule broken */
  constructor(facts: VfioUserFacts) {
    super('INVALID_HEADER', 'invalid vfio-user message header', Errno.EINVAL, facts);
  }
}

/** The header announces a message larger than this server accepts: the stream is lost. */
export class OversizedMessageError extends VfioUserError {
  override readonly name = 'VfioUser.OversizedMessageError' as const;
  /** @param facts - size and limit */
  constructor(facts: VfioUserFacts) {
    super('OVERSIZED_MESSAGE', 'vfio-user message exceeds the maximum size', Errno.E2BIG, facts);
  }
}

/** Fewer bytes than the header announces. */
export class PartialMessageError extends VfioUserError {
  override readonly name = 'VfioUser.PartialMessageError' as const;
  /** @param facts - lengths */
  constructor(facts: VfioUserFacts) {
    super('PARTIAL_MESSAGE', 'vfio-user message is truncated', Errno.EINVAL, facts);
  }
}

/** Unknown or reserved header flag bits, the Error bit or an error number on a command. */
export class InvalidFlagsError extends VfioUserError {
  override readonly name = 'VfioUser.InvalidFlagsError' as const;
  /** @param facts - flags and reason */
  constructor(facts: VfioUserFacts) {
    super('INVALID_FLAGS', 'invalid vfio-user header flags', Errno.EINVAL, facts);
  }
}

/** A command code the protocol does not define. */
export class UnknownCommandError extends VfioUserError {
  override readonly name = 'VfioUser.UnknownCommandError' as const;
  /** @param command - the code received */
  constructor(command: number) {
    super('UNKNOWN_COMMAND', 'unknown vfio-user command', Errno.ENOSYS, { command });
  }
}

/** A command the protocol defines that this server does not serve (migration, region I/O fds). */
export class UnsupportedCommandError extends VfioUserError {
  override readonly name = 'VfioUser.UnsupportedCommandError' as const;
  /** @param command - the code @param errno - the errno of the reply (ENOSYS, or ENOTTY for DEVICE_FEATURE as VFIO's ioctl) */
  constructor(command: number, errno: number = Errno.ENOSYS) {
    super('UNSUPPORTED_COMMAND', 'vfio-user command is not supported by this server', errno, { command });
  }
}

/** The payload size is wrong for the command. */
export class BodySizeError extends VfioUserError {
  override readonly name = 'VfioUser.BodySizeError' as const;
  /** @param facts - command, size and expectation */
  constructor(facts: VfioUserFacts) {
    super('BODY_SIZE', 'vfio-user payload size is wrong for this command', Errno.EINVAL, facts);
  }
}

/** File descriptors on a command that takes none, in the wrong number, or more than announced. */
export class IncorrectFdsError extends VfioUserError {
  override readonly name = 'VfioUser.IncorrectFdsError' as const;
  /** @param facts - command, count and expectation */
  constructor(facts: VfioUserFacts) {
    super('INCORRECT_FDS', 'wrong file descriptors attached to a vfio-user command', Errno.EINVAL, facts);
  }
}

/** A field breaks a rule (argsz, flags, an index, a range outside a region or an IRQ set). */
export class InvalidArgumentError extends VfioUserError {
  override readonly name = 'VfioUser.InvalidArgumentError' as const;
  /** @param reason - which rule @param facts - the values @param errno - EINVAL unless said */
  constructor(reason: string, facts: VfioUserFacts = {}, errno: number = Errno.EINVAL) {
    super('INVALID_ARGUMENT', `invalid vfio-user argument: ${reason}`, errno, facts);
  }
}

/** VERSION with another major version or capabilities that are not valid JSON of the right shape. */
export class VersionError extends VfioUserError {
  override readonly name = 'VfioUser.VersionError' as const;
  /** @param reason - why @param facts - the values */
  constructor(reason: string, facts: VfioUserFacts = {}) {
    super('BAD_VERSION', `vfio-user version negotiation failed: ${reason}`, Errno.EINVAL, facts);
  }
}

/** A well-formed command not allowed now (before VERSION, a second VERSION). */
export class InvalidStateError extends VfioUserError {
  override readonly name = 'VfioUser.InvalidStateError' as const;
  /** @param reason - why @param facts - the values */
  constructor(reason: string, facts: VfioUserFacts = {}) {
    super('INVALID_STATE', `vfio-user command not allowed now: ${reason}`, Errno.EINVAL, facts);
  }
}

/** DMA_MAP over an existing window (EEXIST), past the map limit (ENOSPC), DMA_UNMAP of no window (ENOENT). */
export class DmaMapError extends VfioUserError {
  override readonly name = 'VfioUser.DmaMapError' as const;
  /** @param reason - why @param errno - EEXIST, ENOSPC or ENOENT @param facts - the window */
  constructor(reason: string, errno: number, facts: VfioUserFacts = {}) {
    super('DMA_MAP', `vfio-user DMA window refused: ${reason}`, errno, facts);
  }
}

/** Mapping a DMA window's fd failed (the host refused the mmap). */
export class MapFailedError extends VfioUserError {
  override readonly name = 'VfioUser.MapFailedError' as const;
  /** @param facts - the window @param errno - the host's errno (EFAULT when unknown) @param cause - the host error */
  constructor(facts: VfioUserFacts, errno: number = Errno.EFAULT, cause?: unknown) {
    super('MAP_FAILED', 'mapping client memory failed', errno, facts, cause);
  }
}

/** The device accessed client memory the client did not map (or mapped without that permission). */
export class DmaFaultError extends VfioUserError {
  override readonly name = 'VfioUser.DmaFaultError' as const;
  /** @param facts - address, length, access @param cause - the memory error, if any */
  constructor(facts: VfioUserFacts, cause?: unknown) {
    super('DMA_FAULT', 'DMA outside the client memory mapped for it', Errno.EFAULT, facts, cause);
  }
}

/** The client did not answer a DMA_READ or DMA_WRITE within the time allowed. */
export class DmaTimeoutError extends VfioUserError {
  override readonly name = 'VfioUser.DmaTimeoutError' as const;
  /** @param facts - the request and the bound */
  constructor(facts: VfioUserFacts) {
    super('DMA_TIMEOUT', 'no vfio-user reply to a DMA request in time', Errno.ETIMEDOUT, facts);
  }
}

/** The client answered a DMA_READ or DMA_WRITE with an error reply. */
export class RequestRejectedError extends VfioUserError {
  override readonly name = 'VfioUser.RequestRejectedError' as const;
  /** @param facts - the request @param errno - the client's errno */
  constructor(facts: VfioUserFacts, errno: number) {
    super('REQUEST_REJECTED', 'the vfio-user client refused a DMA request', errno, facts);
  }
}

/** A reply from the client that matches no request, or does not fit the request it answers. */
export class InvalidReplyError extends VfioUserError {
  override readonly name = 'VfioUser.InvalidReplyError' as const;
  /** @param reason - why @param facts - the values */
  constructor(reason: string, facts: VfioUserFacts = {}) {
    super('INVALID_REPLY', `invalid vfio-user reply: ${reason}`, Errno.EINVAL, facts);
  }
}

/** A device callback threw: the command is answered EIO. */
export class DeviceError extends VfioUserError {
  override readonly name = 'VfioUser.DeviceError' as const;
  /** @param facts - the command @param cause - what the device threw */
  constructor(facts: VfioUserFacts, cause: unknown) {
    super('DEVICE_ERROR', 'the device failed the access', Errno.EIO, facts, cause);
  }
}

/** The client went away (pending DMA requests fail with this). */
export class DisconnectedError extends VfioUserError {
  override readonly name = 'VfioUser.DisconnectedError' as const;
  /** @param facts - what was pending */
  constructor(facts: VfioUserFacts = {}) {
    super('DISCONNECTED', 'the vfio-user client disconnected', Errno.ENODEV, facts);
  }
}

/**
 * The error names a command from a client can produce (the allowlist of the codec's property
 * and fuzz tests).
 * @example `expect(COMMAND_ERROR_NAMES).toContain(e.name)`
 */
export const COMMAND_ERROR_NAMES = [
  'VfioUser.InvalidHeaderError',
  'VfioUser.OversizedMessageError',
  'VfioUser.PartialMessageError',
  'VfioUser.InvalidFlagsError',
  'VfioUser.UnknownCommandError',
  'VfioUser.UnsupportedCommandError',
  'VfioUser.BodySizeError',
  'VfioUser.IncorrectFdsError',
  'VfioUser.InvalidArgumentError',
  'VfioUser.VersionError',
  'VfioUser.InvalidStateError',
  'VfioUser.DmaMapError',
  'VfioUser.MapFailedError',
] as const;

/**
 * Every error name this package uses.
 * @example `VFIO_USER_ERROR_NAMES.includes(e.name)`
 */
export const VFIO_USER_ERROR_NAMES = [
  'VfioUser.Error',
  ...COMMAND_ERROR_NAMES,
  'VfioUser.DmaFaultError',
  'VfioUser.DmaTimeoutError',
  'VfioUser.RequestRejectedError',
  'VfioUser.InvalidReplyError',
  'VfioUser.DeviceError',
  'VfioUser.DisconnectedError',
] as const;

/** One of {@link VFIO_USER_ERROR_NAMES}. @example `const n: VfioUserErrorName = 'VfioUser.DmaFaultError';` */
export type VfioUserErrorName = (typeof VFIO_USER_ERROR_NAMES)[number];

/**
 * True when `e` is a @vmv/vfio-user error (optionally of the given name). Tests the name, so
 * errors from another copy of the package are recognised too.
 * @param e - anything caught
 * @param name - optional exact name
 * @returns whether `e` is such an error
 * @example
 * ```ts
 * dma.read(addr, 64).catch((e) => { if (isVfioUserError(e, 'VfioUser.DmaFaultError')) deviceError(); });
 * ```
 */
export const isVfioUserError: ErrorGuard<VfioUserError, VfioUserErrorName> = errorGuard('VfioUser', VFIO_USER_ERROR_NAMES);
