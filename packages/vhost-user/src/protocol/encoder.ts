/**
 * Encoders: requests (for frontends and tests: the inverse of {@link decodeRequest}) and
 * backend replies. Replies carry flags `VERSION | REPLY` (0x5) exactly, which is what QEMU 7.2's
 * `vhost_user_read_header` insists on.
 *
 * @module
 */

import {
  HeaderFlags,
  PayloadSize,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_PAYLOAD_SIZE,
  VhostUserRequest,
} from './constants.js';
import { writeConfigAccess, type ConfigAccess } from './config.js';
import { decodeReplyHeader, writeHeader, type VhostUserHeader } from './header.js';
import { writeInflight, type InflightDescription } from './inflight.js';
import { writeLog } from './log.js';
import { writeMemoryTable, writeSingleMemoryRegion } from './memory-table.js';
import type { VhostUserRequestMessage } from './messages.js';
import { writeU64 } from './u64.js';
import { encodeVringFile, writeVringAddr, writeVringState, type VringState } from './vring.js';
import { BodySizeError, PartialMessageError } from '../errors.js';

const Q = VhostUserRequest;

/**
 * An encoded message: bytes for the stream and the fds to send with them (SCM_RIGHTS).
 *
 * @example
 * ```ts
 * const { bytes, fds }: EncodedMessage = encodeRequest({ request: VhostUserRequest.SET_VRING_CALL, needReply: false, index: 0, fd: callFd });
 * stream.sendmsg(bytes, fds);
 * ```
 */
export interface EncodedMessage {
  /** Header and payload. */
  readonly bytes: Uint8Array;
  /** File descriptors to attach, in order. */
  readonly fds: readonly number[];
}

/**
 * Frames a payload with a header.
 *
 * @param request - request code
 * @param flags - header flags
 * @param payload - payload bytes (≤ 0x1000)
 * @returns header + payload
 * @throws RangeError when the payload is larger than 0x1000 bytes
 * @example
 * ```ts
 * const bytes = encodeMessage(VhostUserRequest.GET_FEATURES, HeaderFlags.VERSION, new Uint8Array(0));
 * ```
 */
export function encodeMessage(request: number, flags: number, payload: Uint8Array): Uint8Array {
  if (payload.byteLength > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new RangeError(`encodeMessage: payload of ${payload.byteLength} bytes exceeds ${VHOST_USER_MAX_PAYLOAD_SIZE}`);
  }
  const bytes = new Uint8Array(VHOST_USER_HEADER_SIZE + payload.byteLength);
  writeHeader(new DataView(bytes.buffer), 0, { request, flags, size: payload.byteLength });
  bytes.set(payload, VHOST_USER_HEADER_SIZE);
  return bytes;
}

function framed(request: number, flags: number, size: number, fill: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(VHOST_USER_HEADER_SIZE + size);
  const view = new DataView(bytes.buffer);
  writeHeader(view, 0, { request, flags, size });
  fill(new DataView(bytes.buffer, VHOST_USER_HEADER_SIZE, size));
  return bytes;
}

/**
 * Encodes a request as a frontend sends it. `decodeRequest` of the result gives back an equal
 * message (with the same fds), for every message that passes validation.
 *
 * @param msg - the request
 * @returns bytes and fds
 * @throws RangeError when a field does not fit its wire type
 * @example
 * ```ts
 * const { bytes, fds } = encodeRequest({ request: VhostUserRequest.SET_VRING_KICK, needReply: false, index: 0, fd: kickFd });
 * ```
 */
export function encodeRequest(msg: VhostUserRequestMessage): EncodedMessage {
  const flags = HeaderFlags.VERSION | (msg.needReply ? HeaderFlags.NEED_REPLY : 0);
  switch (msg.request) {
    case Q.GET_FEATURES:
    case Q.SET_OWNER:
    case Q.RESET_OWNER:
    case Q.GET_PROTOCOL_FEATURES:
    case Q.GET_QUEUE_NUM:
    case Q.RESET_DEVICE:
    case Q.GET_MAX_MEM_SLOTS:
    case Q.GET_STATUS:
      return { bytes: framed(msg.request, flags, 0, () => undefined), fds: [] };
    case Q.SET_FEATURES:
    case Q.SET_PROTOCOL_FEATURES:
    case Q.SEND_RARP:
    case Q.NET_SET_MTU:
    case Q.SET_STATUS:
      return { bytes: framed(msg.request, flags, PayloadSize.U64, (v) => writeU64(v, 0, msg.value)), fds: [] };
    case Q.SET_VRING_NUM:
    case Q.SET_VRING_BASE:
    case Q.GET_VRING_BASE:
    case Q.SET_VRING_ENABLE:
    case Q.SET_VRING_ENDIAN:
    case Q.VRING_KICK:
      return { bytes: framed(msg.request, flags, PayloadSize.VRING_STATE, (v) => writeVringState(v, 0, msg)), fds: [] };
    case Q.SET_VRING_ADDR:
      return { bytes: framed(msg.request, flags, PayloadSize.VRING_ADDR, (v) => writeVringAddr(v, 0, msg.addr)), fds: [] };
    case Q.SET_VRING_KICK:
    case Q.SET_VRING_CALL:
    case Q.SET_VRING_ERR: {
      const word = encodeVringFile({ index: msg.index, noFd: msg.fd === null });
      return {
        bytes: framed(msg.request, flags, PayloadSize.U64, (v) => writeU64(v, 0, word)),
        fds: msg.fd === null ? [] : [msg.fd],
      };
    }
    case Q.SET_MEM_TABLE: {
      const size = PayloadSize.MEM_TABLE_HEADER + msg.regions.length * PayloadSize.MEMORY_REGION;
      return { bytes: framed(msg.request, flags, size, (v) => writeMemoryTable(v, 0, msg.regions)), fds: [...msg.fds] };
    }
    case Q.ADD_MEM_REG:
      return {
        bytes: framed(msg.request, flags, PayloadSize.SINGLE_MEMORY_REGION, (v) => writeSingleMemoryRegion(v, 0, msg.region)),
        fds: [msg.fd],
      };
    case Q.REM_MEM_REG:
      return {
        bytes: framed(msg.request, flags, PayloadSize.SINGLE_MEMORY_REGION, (v) => writeSingleMemoryRegion(v, 0, msg.region)),
        fds: msg.fd === null ? [] : [msg.fd],
      };
    case Q.SET_LOG_BASE:
      return { bytes: framed(msg.request, flags, PayloadSize.LOG, (v) => writeLog(v, 0, msg.log)), fds: msg.fd === null ? [] : [msg.fd] };
    case Q.SET_LOG_FD:
    case Q.SET_BACKEND_REQ_FD:
      return { bytes: framed(msg.request, flags, 0, () => undefined), fds: [msg.fd] };
    case Q.GET_CONFIG:
    case Q.SET_CONFIG:
      return { bytes: framed(msg.request, flags, 12 + msg.config.size, (v) => writeConfigAccess(v, 0, msg.config)), fds: [] };
    case Q.GET_INFLIGHT_FD:
      return { bytes: framed(msg.request, flags, PayloadSize.INFLIGHT, (v) => writeInflight(v, 0, msg.inflight)), fds: [] };
    case Q.SET_INFLIGHT_FD:
      return { bytes: framed(msg.request, flags, PayloadSize.INFLIGHT, (v) => writeInflight(v, 0, msg.inflight)), fds: [msg.fd] };
  }
}

const REPLY_FLAGS = HeaderFlags.VERSION | HeaderFlags.REPLY;

/**
 * A reply carrying a u64 (GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS,
 * GET_STATUS) or a REPLY_ACK status (0 = success).
 *
 * @param request - the request answered
 * @param value - the u64
 * @returns 20 bytes
 * @throws RangeError when value is not a u64
 * @example
 * ```ts
 * socket.send(encodeU64Reply(VhostUserRequest.GET_FEATURES, features));
 * ```
 */
export function encodeU64Reply(request: number, value: bigint): Uint8Array {
  return framed(request, REPLY_FLAGS, PayloadSize.U64, (v) => writeU64(v, 0, value));
}

/**
 * A REPLY_ACK answer: u64 0 on success, 1 on failure.
 *
 * @param request - the request answered
 * @param ok - whether the request succeeded
 * @returns 20 bytes
 * @example
 * ```ts
 * if (msg.needReply) send(encodeAckReply(msg.request, true));
 * ```
 */
export function encodeAckReply(request: number, ok: boolean): Uint8Array {
  return encodeU64Reply(request, ok ? 0n : 1n);
}

/**
 * A reply carrying a vring state (GET_VRING_BASE).
 *
 * @param request - the request answered
 * @param state - index and num
 * @returns 20 bytes
 * @throws RangeError when a field is not a u32
 * @example
 * ```ts
 * send(encodeVringStateReply(VhostUserRequest.GET_VRING_BASE, { index: 0, num: nextAvail }));
 * ```
 */
export function encodeVringStateReply(request: number, state: VringState): Uint8Array {
  return framed(request, REPLY_FLAGS, PayloadSize.VRING_STATE, (v) => writeVringState(v, 0, state));
}

/**
 * The GET_CONFIG reply: the request's offset/size/flags and the config bytes, or, for an
 * error, an empty payload (vhost-user.rst: "zero length of payload to indicate an error").
 *
 * @param access - the answer, or null for an error
 * @returns the reply bytes
 * @throws RangeError when the data length differs from size
 * @example
 * ```ts
 * send(encodeConfigReply({ offset: 0, size: 60, flags: 0, data: configBytes }));
 * ```
 */
export function encodeConfigReply(access: ConfigAccess | null): Uint8Array {
  if (access === null) return framed(Q.GET_CONFIG, REPLY_FLAGS, 0, () => undefined);
  return framed(Q.GET_CONFIG, REPLY_FLAGS, 12 + access.size, (v) => writeConfigAccess(v, 0, access));
}

/**
 * The GET_INFLIGHT_FD reply (the fd travels alongside with SCM_RIGHTS).
 *
 * @param inflight - size, offset, queue count and size of the buffer
 * @returns 36 bytes
 * @throws RangeError when a field is out of range
 * @example
 * ```ts
 * send(encodeInflightReply({ mmapSize: 4224n, mmapOffset: 0n, numQueues: 1, queueSize: 128 }), [memfd]);
 * ```
 */
export function encodeInflightReply(inflight: InflightDescription): Uint8Array {
  return framed(Q.GET_INFLIGHT_FD, REPLY_FLAGS, PayloadSize.INFLIGHT, (v) => writeInflight(v, 0, inflight));
}

/**
 * A decoded reply: header and a view of its payload.
 *
 * @example
 * ```ts
 * const reply: DecodedReply = decodeReply(bytes, VhostUserRequest.GET_PROTOCOL_FEATURES, 8);
 * const protocolFeatures = reply.body.getBigUint64(0, true);
 * ```
 */
export interface DecodedReply {
  /** The header (flags 0x5). */
  readonly header: VhostUserHeader;
  /** The payload (exactly `header.size` bytes). */
  readonly body: DataView;
}

/**
 * Decodes a backend reply as a frontend (QEMU 7.2 rules): flags 0x5, the expected request,
 * and optionally an exact payload size.
 *
 * @param bytes - exactly one reply (header + payload)
 * @param expectedRequest - the request it answers
 * @param expectedSize - the payload size required, if fixed
 * @returns header and payload view
 * @throws VhostUser.PartialMessageError when bytes are shorter than announced
 * @throws VhostUser.BodySizeError when the size differs from `expectedSize` or bytes trail
 * @throws VhostUser.InvalidReplyError when flags or request differ
 * @example
 * ```ts
 * const { body } = decodeReply(bytes, VhostUserRequest.GET_FEATURES, 8);
 * const features = body.getBigUint64(0, true);
 * ```
 */
export function decodeReply(bytes: Uint8Array, expectedRequest: number, expectedSize?: number): DecodedReply {
  const header = decodeReplyHeader(bytes, expectedRequest);
  const available = bytes.byteLength - VHOST_USER_HEADER_SIZE;
  if (available < header.size) throw new PartialMessageError({ part: 'payload', received: available, expected: header.size });
  if (available > header.size) throw new BodySizeError({ request: header.request, size: available, expected: header.size, reason: 'trailing bytes' });
  if (expectedSize !== undefined && header.size !== expectedSize) {
    throw new BodySizeError({ request: header.request, size: header.size, expected: expectedSize });
  }
  return { header, body: new DataView(bytes.buffer, bytes.byteOffset + VHOST_USER_HEADER_SIZE, header.size) };
}
