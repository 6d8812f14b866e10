/**
 * Backend requests (vhost-user.rst "Back-end message types"), sent by the backend on the channel
 * the frontend gave it with SET_BACKEND_REQ_FD, and the REPLY_ACK answers to them. Same header
 * as the frontend's requests; need_reply is set only when REPLY_ACK was negotiated, and then the
 * frontend answers with the u64 status (0: success) and the REPLY flag. Only CONFIG_CHANGE_MSG
 * (no payload: the frontend re-reads the config space with GET_CONFIG) is decoded; the other
 * codes are known but refused (UnsupportedRequestError), which a frontend answers with a failure.
 *
 * @module
 */

import { HeaderFlags, PayloadSize, VHOST_USER_HEADER_SIZE, VhostUserBackendRequest } from './constants.js';
import { writeHeader, type VhostUserHeader } from './header.js';
import { readU64 } from './u64.js';
import { BodySizeError, IncorrectFdsError, InvalidReplyError, UnsupportedRequestError } from '../errors.js';

/**
 * A decoded backend request: CONFIG_CHANGE_MSG, the one this package sends and serves.
 *
 * @example
 * ```ts
 * const msg: BackendRequestMessage = { request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, needReply: true };
 * ```
 */
export interface BackendRequestMessage {
  /** The request code. */
  readonly request: typeof VhostUserBackendRequest.CONFIG_CHANGE_MSG;
  /** Whether the sender wants a REPLY_ACK answer. */
  readonly needReply: boolean;
}

/**
 * Encodes a backend request.
 *
 * @param msg - the request
 * @returns header and payload, ready to send (no fds)
 * @example
 * ```ts
 * channel.send(encodeBackendRequest({ request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, needReply: true }));
 * ```
 */
export function encodeBackendRequest(msg: BackendRequestMessage): Uint8Array {
  const bytes = new Uint8Array(VHOST_USER_HEADER_SIZE);
  writeHeader(new DataView(bytes.buffer), 0, { request: msg.request, flags: HeaderFlags.VERSION | (msg.needReply ? HeaderFlags.NEED_REPLY : 0), size: 0 });
  return bytes;
}

/**
 * Decodes a backend request whose header passed `validateBackendRequestHeader`. The decoder
 * never closes fds: on a throw the caller still owns them.
 *
 * @param header - the validated header
 * @param body - exactly `header.size` payload bytes
 * @param fds - fds received with the message
 * @returns the request
 * @throws VhostUser.UnsupportedRequestError for a known request other than CONFIG_CHANGE_MSG
 * @throws VhostUser.BodySizeError, VhostUser.IncorrectFdsError when CONFIG_CHANGE_MSG carries a payload or fds
 * @example
 * ```ts
 * const msg = decodeBackendRequest(header, body, fds); // then answer with encodeAckReply(msg.request, true) if msg.needReply
 * ```
 */
export function decodeBackendRequest(header: VhostUserHeader, body: Uint8Array, fds: readonly number[]): BackendRequestMessage {
  if (header.request !== VhostUserBackendRequest.CONFIG_CHANGE_MSG) throw new UnsupportedRequestError(header.request);
  if (body.byteLength !== 0 || header.size !== 0) throw new BodySizeError({ request: header.request, size: body.byteLength, expected: 0 });
  if (fds.length !== 0) throw new IncorrectFdsError({ request: header.request, count: fds.length, expected: 0 });
  return { request: VhostUserBackendRequest.CONFIG_CHANGE_MSG, needReply: (header.flags & HeaderFlags.NEED_REPLY) !== 0 };
}

/**
 * Checks a reply whose header passed `validateReplyHeader` against the request it must answer:
 * its code, its payload size, and no fds.
 *
 * @param header - the validated reply header
 * @param body - exactly `header.size` payload bytes
 * @param fds - fds received with it
 * @param request - the request awaited
 * @param size - the payload size it must have, or undefined for any
 * @returns a view of the payload
 * @throws VhostUser.InvalidReplyError (another request), VhostUser.BodySizeError, VhostUser.IncorrectFdsError
 * @example
 * ```ts
 * const status = readU64Reply(checkReply(header, body, fds, VhostUserBackendRequest.CONFIG_CHANGE_MSG, 8));
 * ```
 */
export function checkReply(header: VhostUserHeader, body: Uint8Array, fds: readonly number[], request: number, size: number | undefined): DataView {
  if (header.request !== request) throw new InvalidReplyError('reply to another request', { request: header.request, expected: request });
  if (size !== undefined && body.byteLength !== size) throw new BodySizeError({ request, size: body.byteLength, expected: size });
  if (fds.length !== 0) throw new IncorrectFdsError({ request, count: fds.length, expected: 0 });
  return new DataView(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Reads the u64 of a reply payload (a REPLY_ACK status or a GET_* value).
 *
 * @param view - a payload of 8 bytes (see {@link checkReply})
 * @returns the value
 * @throws VhostUser.BodySizeError when the payload is not 8 bytes
 * @example
 * ```ts
 * if (readU64Reply(view) !== 0n) throw new RequestRejectedError({ request });
 * ```
 */
export function readU64Reply(view: DataView): bigint {
  if (view.byteLength !== PayloadSize.U64) throw new BodySizeError({ size: view.byteLength, expected: PayloadSize.U64 });
  return readU64(view, 0);
}
