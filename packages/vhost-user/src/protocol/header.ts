/**
 * The 12-byte vhost-user message header (vhost-user.rst "Header"): request u32, flags u32
 * (bits 0-1 version = 1, bit 2 reply, bit 3 need_reply, the rest reserved), size u32 (payload
 * length). Validation follows rust-vmm `VhostUserMsgHeader::is_valid` (checklist §2.10 item 45).
 *
 * @module
 */

import {
  HeaderFlags,
  NATIVE_LITTLE_ENDIAN as LE,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_PAYLOAD_SIZE,
  isKnownBackendRequest,
  isKnownRequest,
} from './constants.js';
import {
  InvalidFlagsError,
  InvalidReplyError,
  OversizedMessageError,
  PartialMessageError,
  UnknownRequestError,
  VersionError,
} from '../errors.js';
import { assertU32 } from './internal.js';

/**
 * A message header as it is on the wire.
 *
 * @example
 * ```ts
 * const header: VhostUserHeader = { request: VhostUserRequest.GET_FEATURES, flags: HeaderFlags.VERSION, size: 0 };
 * writeHeader(view, 0, header);
 * ```
 */
export interface VhostUserHeader {
  /** Request code (see `VhostUserRequest`). */
  readonly request: number;
  /** Flag word (see `HeaderFlags`). */
  readonly flags: number;
  /** Payload length in bytes. */
  readonly size: number;
}

/**
 * Reads a header at `offset` without validating it.
 *
 * @param view - bytes holding the header
 * @param offset - byte offset of the header
 * @returns the three fields
 * @throws RangeError when fewer than 12 bytes follow `offset`
 * @example
 * ```ts
 * const h = readHeader(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
 * ```
 */
export function readHeader(view: DataView, offset = 0): VhostUserHeader {
  return {
    request: view.getUint32(offset, LE),
    flags: view.getUint32(offset + 4, LE),
    size: view.getUint32(offset + 8, LE),
  };
}

/**
 * Writes a header at `offset`.
 *
 * @param view - destination
 * @param offset - byte offset of the header
 * @param header - fields (each a u32)
 * @throws RangeError when a field is not a u32 or the view is too short
 * @example
 * ```ts
 * writeHeader(view, 0, { request: VhostUserRequest.GET_FEATURES, flags: HeaderFlags.VERSION, size: 0 });
 * ```
 */
export function writeHeader(view: DataView, offset: number, header: VhostUserHeader): void {
  assertU32('writeHeader: request', header.request);
  assertU32('writeHeader: flags', header.flags);
  assertU32('writeHeader: size', header.size);
  view.setUint32(offset, header.request, LE);
  view.setUint32(offset + 4, header.flags, LE);
  view.setUint32(offset + 8, header.size, LE);
}

/**
 * Decodes and validates the header of a frontend request: at least 12 bytes, a known request
 * code, version 1, the reply bit clear, reserved bits clear, and a payload of at most 0x1000
 * bytes. The need_reply bit is allowed on every request.
 *
 * @param bytes - the received bytes (only the first 12 are read)
 * @returns the header
 * @throws VhostUser.PartialMessageError when fewer than 12 bytes are given
 * @throws VhostUser.UnknownRequestError, VhostUser.VersionError, VhostUser.InvalidFlagsError,
 *   VhostUser.OversizedMessageError on a bad header
 * @example
 * ```ts
 * const header = decodeHeader(headerBytes);
 * const body = await readExactly(header.size);
 * ```
 */
export function decodeHeader(bytes: Uint8Array): VhostUserHeader {
  if (bytes.byteLength < VHOST_USER_HEADER_SIZE) {
    throw new PartialMessageError({ part: 'header', received: bytes.byteLength, expected: VHOST_USER_HEADER_SIZE });
  }
  const header = readHeader(new DataView(bytes.buffer, bytes.byteOffset, VHOST_USER_HEADER_SIZE));
  validateRequestHeader(header);
  return header;
}

/**
 * Validates the fields of a request header (the rules of {@link decodeHeader}). Version,
 * reserved flags and size are checked before the request code, so after an
 * UnknownRequestError the framing is still trustworthy and `size` payload bytes can be skipped.
 *
 * @param header - fields read from the wire
 * @throws RangeError when a field is not a u32 (embedder misuse)
 * @throws VhostUser.VersionError, VhostUser.InvalidFlagsError, VhostUser.OversizedMessageError,
 *   VhostUser.UnknownRequestError on a bad header
 * @example
 * ```ts
 * validateRequestHeader({ request: 1, flags: 1, size: 0 });
 * ```
 */
export function validateRequestHeader(header: VhostUserHeader): void {
  assertU32('validateRequestHeader: request', header.request);
  assertU32('validateRequestHeader: flags', header.flags);
  assertU32('validateRequestHeader: size', header.size);
  checkCommonHeader(header);
  if ((header.flags & HeaderFlags.REPLY) !== 0) {
    throw new InvalidFlagsError({ flags: header.flags, reason: 'reply bit set on a request' });
  }
  if (!isKnownRequest(header.request)) throw new UnknownRequestError(header.request);
}

/**
 * Decodes and validates the header of a backend reply, as QEMU 7.2 does
 * (`vhost_user_read_header`): flags exactly `VERSION | REPLY` (0x5), the expected request code
 * and a payload of at most 0x1000 bytes.
 *
 * @param bytes - the received bytes (only the first 12 are read)
 * @param expectedRequest - the request this reply answers
 * @returns the header
 * @throws VhostUser.PartialMessageError when fewer than 12 bytes are given
 * @throws VhostUser.InvalidReplyError when the flags or request code differ
 * @throws VhostUser.OversizedMessageError when the payload is too large
 * @example
 * ```ts
 * const h = decodeReplyHeader(bytes, VhostUserRequest.GET_FEATURES);
 * ```
 */
export function decodeReplyHeader(bytes: Uint8Array, expectedRequest: number): VhostUserHeader {
  if (bytes.byteLength < VHOST_USER_HEADER_SIZE) {
    throw new PartialMessageError({ part: 'header', received: bytes.byteLength, expected: VHOST_USER_HEADER_SIZE });
  }
  const header = readHeader(new DataView(bytes.buffer, bytes.byteOffset, VHOST_USER_HEADER_SIZE));
  if (header.flags !== (HeaderFlags.VERSION | HeaderFlags.REPLY)) {
    throw new InvalidReplyError('flags must be VERSION|REPLY', { flags: header.flags });
  }
  if (header.request !== expectedRequest) {
    throw new InvalidReplyError('reply to another request', { request: header.request, expected: expectedRequest });
  }
  if (header.size > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new OversizedMessageError({ size: header.size, max: VHOST_USER_MAX_PAYLOAD_SIZE });
  }
  return header;
}

/**
 * Validates the fields of a reply header as the framing layer of a reader of replies sees them:
 * version 1, flags exactly `VERSION | REPLY` (as QEMU 7.2 checks them), a payload of at most
 * 0x1000 bytes. The request code is checked against the request awaited by the caller.
 *
 * @param header - fields read from the wire
 * @throws VhostUser.VersionError, VhostUser.InvalidReplyError, VhostUser.OversizedMessageError
 * @example
 * ```ts
 * validateReplyHeader({ request: 1, flags: 0x5, size: 8 });
 * ```
 */
export function validateReplyHeader(header: VhostUserHeader): void {
  const version = header.flags & HeaderFlags.VERSION_MASK;
  if (version !== HeaderFlags.VERSION) throw new VersionError(version);
  if (header.flags !== (HeaderFlags.VERSION | HeaderFlags.REPLY)) {
    throw new InvalidReplyError('flags must be VERSION|REPLY', { flags: header.flags });
  }
  if (header.size > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new OversizedMessageError({ size: header.size, max: VHOST_USER_MAX_PAYLOAD_SIZE });
  }
}

/**
 * Validates the fields of a backend request header (backend request channel): the rules of
 * {@link validateRequestHeader} with the backend's request codes. Version, reserved flags and
 * size are checked first, so after an UnknownRequestError `size` payload bytes can be skipped.
 *
 * @param header - fields read from the wire
 * @throws VhostUser.VersionError, VhostUser.InvalidFlagsError, VhostUser.OversizedMessageError,
 *   VhostUser.UnknownRequestError on a bad header
 * @example
 * ```ts
 * validateBackendRequestHeader({ request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, flags: 0x9, size: 0 });
 * ```
 */
export function validateBackendRequestHeader(header: VhostUserHeader): void {
  checkCommonHeader(header);
  if ((header.flags & HeaderFlags.REPLY) !== 0) {
    throw new InvalidFlagsError({ flags: header.flags, reason: 'reply bit set on a request' });
  }
  if (!isKnownBackendRequest(header.request)) throw new UnknownRequestError(header.request);
}

function checkCommonHeader(header: VhostUserHeader): void {
  const version = header.flags & HeaderFlags.VERSION_MASK;
  if (version !== HeaderFlags.VERSION) throw new VersionError(version);
  if ((header.flags & HeaderFlags.RESERVED_MASK) >>> 0 !== 0) {
    throw new InvalidFlagsError({ flags: header.flags, reason: 'reserved bits set' });
  }
  if (header.size > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new OversizedMessageError({ size: header.size, max: VHOST_USER_MAX_PAYLOAD_SIZE });
  }
}

/**
 * True when the header asks for a REPLY_ACK answer (need_reply bit).
 *
 * @param header - a decoded header
 * @returns whether bit 3 is set
 * @example
 * ```ts
 * if (needsReply(header)) sendAck(header.request, ok);
 * ```
 */
export function needsReply(header: VhostUserHeader): boolean {
  return (header.flags & HeaderFlags.NEED_REPLY) !== 0;
}
