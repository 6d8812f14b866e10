/**
 * Typed vhost-user requests: what {@link decodeRequest} returns and {@link encodeRequest}
 * takes. A discriminated union on `request` (the numeric code), one shape per payload kind.
 * File descriptors ride along in the fields that use them, so after a successful decode every
 * received fd appears in exactly one field and the caller knows what to close.
 *
 * @module
 */

import type { VhostUserRequest } from './constants.js';
import type { ConfigAccess } from './config.js';
import type { InflightDescription } from './inflight.js';
import type { LogDescription } from './log.js';
import type { MemoryRegionDescription } from './memory-table.js';
import type { VringAddr } from './vring.js';

type R = typeof VhostUserRequest;

/**
 * Fields every request has.
 *
 * @example
 * ```ts
 * const msg = decodeRequest(header, body, fds, ctx);
 * if (msg.needReply) send(encodeAckReply(msg.request, true));
 * ```
 */
export interface RequestBase {
  /** The frontend set need_reply: answer with a REPLY_ACK u64 (0 = success) unless the request has its own reply. */
  readonly needReply: boolean;
}

/**
 * Requests without a payload.
 *
 * @example
 * ```ts
 * const code: NoPayloadRequestCode = VhostUserRequest.GET_FEATURES;
 * ```
 */
export type NoPayloadRequestCode =
  | R['GET_FEATURES']
  | R['SET_OWNER']
  | R['RESET_OWNER']
  | R['GET_PROTOCOL_FEATURES']
  | R['GET_QUEUE_NUM']
  | R['RESET_DEVICE']
  | R['GET_MAX_MEM_SLOTS']
  | R['GET_STATUS'];

/**
 * GET_FEATURES, SET_OWNER, RESET_OWNER, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, RESET_DEVICE, GET_MAX_MEM_SLOTS, GET_STATUS.
 *
 * @example
 * ```ts
 * const msg: NoPayloadRequest = { request: VhostUserRequest.SET_OWNER, needReply: false };
 * const { bytes } = encodeRequest(msg); // 12 bytes, no payload
 * ```
 */
export interface NoPayloadRequest extends RequestBase {
  /** The request code: one of the {@link NoPayloadRequestCode} requests, which carry no payload. */
  readonly request: NoPayloadRequestCode;
}

/**
 * Requests with a single u64 payload.
 *
 * @example
 * ```ts
 * const code: U64RequestCode = VhostUserRequest.SET_FEATURES;
 * ```
 */
export type U64RequestCode =
  | R['SET_FEATURES']
  | R['SET_PROTOCOL_FEATURES']
  | R['SEND_RARP']
  | R['NET_SET_MTU']
  | R['SET_STATUS'];

/**
 * SET_FEATURES, SET_PROTOCOL_FEATURES, SEND_RARP, NET_SET_MTU, SET_STATUS (value ≤ 0xff).
 *
 * @example
 * ```ts
 * const msg: U64Request = { request: VhostUserRequest.SET_FEATURES, needReply: true, value: 1n << 32n | 1n << 30n };
 * const { bytes } = encodeRequest(msg); // 12 + 8 bytes
 * ```
 */
export interface U64Request extends RequestBase {
  /** The request code: one of the {@link U64RequestCode} requests, whose payload is one u64. */
  readonly request: U64RequestCode;
  /** The payload. */
  readonly value: bigint;
}

/**
 * Requests with a vring state payload.
 *
 * @example
 * ```ts
 * const code: VringStateRequestCode = VhostUserRequest.SET_VRING_NUM;
 * ```
 */
export type VringStateRequestCode =
  | R['SET_VRING_NUM']
  | R['SET_VRING_BASE']
  | R['GET_VRING_BASE']
  | R['SET_VRING_ENABLE']
  | R['SET_VRING_ENDIAN']
  | R['VRING_KICK'];

/**
 * SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE (num 0/1), SET_VRING_ENDIAN (num 0/1), VRING_KICK (num 0).
 *
 * @example
 * ```ts
 * const msg: VringStateRequest = { request: VhostUserRequest.SET_VRING_NUM, needReply: false, index: 0, num: 256 };
 * const { bytes } = encodeRequest(msg);
 * ```
 */
export interface VringStateRequest extends RequestBase {
  /** The request code: one of the {@link VringStateRequestCode} requests (`struct vhost_vring_state`). */
  readonly request: VringStateRequestCode;
  /** Vring index, below the device's queue count. */
  readonly index: number;
  /** Size, base, enable flag or endianness. */
  readonly num: number;
}

/**
 * SET_VRING_ADDR.
 *
 * @example
 * ```ts
 * const msg = decodeRequest(header, body, [], ctx);
 * if (msg.request === VhostUserRequest.SET_VRING_ADDR) console.log(msg.addr.descUserAddr); // msg is a VringAddrRequest
 * ```
 */
export interface VringAddrRequest extends RequestBase {
  /** The request code: always SET_VRING_ADDR. */
  readonly request: R['SET_VRING_ADDR'];
  /** The validated address description. */
  readonly addr: VringAddr;
}

/**
 * Requests carrying a vring file word and maybe one eventfd.
 *
 * @example
 * ```ts
 * const code: VringFdRequestCode = VhostUserRequest.SET_VRING_KICK;
 * ```
 */
export type VringFdRequestCode = R['SET_VRING_KICK'] | R['SET_VRING_CALL'] | R['SET_VRING_ERR'];

/**
 * SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR.
 *
 * @example
 * ```ts
 * const msg: VringFdRequest = { request: VhostUserRequest.SET_VRING_KICK, needReply: false, index: 0, fd: kickFd };
 * const { bytes, fds } = encodeRequest(msg); // fds = [kickFd]
 * ```
 */
export interface VringFdRequest extends RequestBase {
  /** The request code: SET_VRING_KICK, SET_VRING_CALL or SET_VRING_ERR ({@link VringFdRequestCode}). */
  readonly request: VringFdRequestCode;
  /** Vring index, below the device's queue count. */
  readonly index: number;
  /** The eventfd, or null when the no-fd bit was set (polling). */
  readonly fd: number | null;
}

/**
 * SET_MEM_TABLE.
 *
 * @example
 * ```ts
 * const msg: SetMemTableRequest = { request: VhostUserRequest.SET_MEM_TABLE, needReply: true, regions: [ram], fds: [memfd] };
 * const { bytes, fds } = encodeRequest(msg); // 12 + 8 + 32 bytes, fds = [memfd]
 * ```
 */
export interface SetMemTableRequest extends RequestBase {
  /** The request code: always SET_MEM_TABLE. */
  readonly request: R['SET_MEM_TABLE'];
  /** Validated regions, sorted and non-overlapping. */
  readonly regions: readonly MemoryRegionDescription[];
  /** One fd per region, same order. */
  readonly fds: readonly number[];
}

/**
 * ADD_MEM_REG.
 *
 * @example
 * ```ts
 * const msg: AddMemRegRequest = { request: VhostUserRequest.ADD_MEM_REG, needReply: true, region: ram, fd: memfd };
 * const { bytes, fds } = encodeRequest(msg); // 12 + 40 bytes
 * ```
 */
export interface AddMemRegRequest extends RequestBase {
  /** The request code: always ADD_MEM_REG. */
  readonly request: R['ADD_MEM_REG'];
  /** The validated region. */
  readonly region: MemoryRegionDescription;
  /** The region's fd. */
  readonly fd: number;
}

/**
 * REM_MEM_REG.
 *
 * @example
 * ```ts
 * const msg: RemMemRegRequest = { request: VhostUserRequest.REM_MEM_REG, needReply: true, region: ram, fd: null };
 * const { bytes } = encodeRequest(msg);
 * ```
 */
export interface RemMemRegRequest extends RequestBase {
  /** The request code: always REM_MEM_REG. */
  readonly request: R['REM_MEM_REG'];
  /** The region to remove (matched by guest address, user address and size; mmap offset ignored). */
  readonly region: MemoryRegionDescription;
  /** An fd older frontends (QEMU 5.1 to 7.0) attach; QEMU 7.1+ sends none (vhost-user.rst: ignore and close it). */
  readonly fd: number | null;
}

/**
 * SET_LOG_BASE.
 *
 * @example
 * ```ts
 * const msg = decodeRequest(header, body, fds, ctx);
 * if (msg.request === VhostUserRequest.SET_LOG_BASE && msg.fd !== null) closeFd(msg.fd); // logging not served
 * ```
 */
export interface SetLogBaseRequest extends RequestBase {
  /** The request code: always SET_LOG_BASE. */
  readonly request: R['SET_LOG_BASE'];
  /** The validated log description. */
  readonly log: LogDescription;
  /** The log's shared memory fd (with LOG_SHMFD), else null. */
  readonly fd: number | null;
}

/**
 * Requests that only carry one fd.
 *
 * @example
 * ```ts
 * const code: FdOnlyRequestCode = VhostUserRequest.SET_BACKEND_REQ_FD;
 * ```
 */
export type FdOnlyRequestCode = R['SET_LOG_FD'] | R['SET_BACKEND_REQ_FD'];

/**
 * SET_LOG_FD, SET_BACKEND_REQ_FD.
 *
 * @example
 * ```ts
 * const msg: FdOnlyRequest = { request: VhostUserRequest.SET_BACKEND_REQ_FD, needReply: false, fd: channelFd };
 * const { bytes, fds } = encodeRequest(msg); // fds = [channelFd]
 * ```
 */
export interface FdOnlyRequest extends RequestBase {
  /** The request code: SET_LOG_FD or SET_BACKEND_REQ_FD ({@link FdOnlyRequestCode}); the payload is an fd. */
  readonly request: FdOnlyRequestCode;
  /** The fd. */
  readonly fd: number;
}

/**
 * GET_CONFIG, SET_CONFIG.
 *
 * @example
 * ```ts
 * const msg: ConfigRequest = { request: VhostUserRequest.GET_CONFIG, needReply: false, config: { offset: 0, size: 60, flags: 0, data: new Uint8Array(60) } };
 * const { bytes } = encodeRequest(msg);
 * ```
 */
export interface ConfigRequest extends RequestBase {
  /** The request code: GET_CONFIG or SET_CONFIG. */
  readonly request: R['GET_CONFIG'] | R['SET_CONFIG'];
  /** The validated access. */
  readonly config: ConfigAccess;
}

/**
 * GET_INFLIGHT_FD.
 *
 * @example
 * ```ts
 * const msg: GetInflightRequest = { request: VhostUserRequest.GET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 0n, mmapOffset: 0n, numQueues: 1, queueSize: 128 } };
 * const { bytes } = encodeRequest(msg);
 * ```
 */
export interface GetInflightRequest extends RequestBase {
  /** The request code: always GET_INFLIGHT_FD. */
  readonly request: R['GET_INFLIGHT_FD'];
  /** Queue count and size to size the buffer (mmap fields unused). */
  readonly inflight: InflightDescription;
}

/**
 * SET_INFLIGHT_FD.
 *
 * @example
 * ```ts
 * const msg: SetInflightRequest = { request: VhostUserRequest.SET_INFLIGHT_FD, needReply: false, inflight: { mmapSize: 4224n, mmapOffset: 0n, numQueues: 1, queueSize: 128 }, fd: inflightFd };
 * const { bytes, fds } = encodeRequest(msg);
 * ```
 */
export interface SetInflightRequest extends RequestBase {
  /** The request code: always SET_INFLIGHT_FD. */
  readonly request: R['SET_INFLIGHT_FD'];
  /** The validated description. */
  readonly inflight: InflightDescription;
  /** The buffer's fd. */
  readonly fd: number;
}

/**
 * Every request the decoder returns.
 *
 * @example
 * ```ts
 * const msg: VhostUserRequestMessage = decodeRequest(header, body, fds, ctx);
 * switch (msg.request) {
 *   case VhostUserRequest.SET_VRING_NUM: setSize(msg.index, msg.num); break;
 * }
 * ```
 */
export type VhostUserRequestMessage =
  | NoPayloadRequest
  | U64Request
  | VringStateRequest
  | VringAddrRequest
  | VringFdRequest
  | SetMemTableRequest
  | AddMemRegRequest
  | RemMemRegRequest
  | SetLogBaseRequest
  | FdOnlyRequest
  | ConfigRequest
  | GetInflightRequest
  | SetInflightRequest;

/**
 * What the decoder needs to know about the backend and the negotiation so far. The backend
 * keeps one and updates it as SET_FEATURES / SET_PROTOCOL_FEATURES arrive.
 *
 * @example
 * ```ts
 * const ctx: VhostUserDecodeContext = { offeredFeatures, ackedFeatures: 0n, offeredProtocolFeatures, ackedProtocolFeatures: 0n, queueCount: 1, maxQueueSize: 256 };
 * const msg = decodeRequest(header, body, fds, ctx);
 * ```
 */
export interface VhostUserDecodeContext {
  /** Features the backend offers in GET_FEATURES (device bits and vhost bits such as PROTOCOL_FEATURES). */
  readonly offeredFeatures: bigint;
  /** Features the frontend acked with SET_FEATURES (0n before). */
  readonly ackedFeatures: bigint;
  /** Protocol features the backend offers. */
  readonly offeredProtocolFeatures: bigint;
  /** Protocol features the frontend acked with SET_PROTOCOL_FEATURES (0n before). */
  readonly ackedProtocolFeatures: bigint;
  /** Number of queues of the device (1..256): vring indices must be below it. */
  readonly queueCount: number;
  /** Largest queue size the device accepts (1..32768). */
  readonly maxQueueSize: number;
}
