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

/** Fields every request has. */
export interface RequestBase {
  /** The frontend set need_reply: answer with a REPLY_ACK u64 (0 = success) unless the request has its own reply. */
  readonly needReply: boolean;
}

/** Requests without a payload. */
export type NoPayloadRequestCode =
  | R['GET_FEATURES']
  | R['SET_OWNER']
  | R['RESET_OWNER']
  | R['GET_PROTOCOL_FEATURES']
  | R['GET_QUEUE_NUM']
  | R['RESET_DEVICE']
  | R['GET_MAX_MEM_SLOTS']
  | R['GET_STATUS'];

/** GET_FEATURES, SET_OWNER, RESET_OWNER, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM, RESET_DEVICE, GET_MAX_MEM_SLOTS, GET_STATUS. */
export interface NoPayloadRequest extends RequestBase {
  readonly request: NoPayloadRequestCode;
}

/** Requests with a single u64 payload. */
export type U64RequestCode =
  | R['SET_FEATURES']
  | R['SET_PROTOCOL_FEATURES']
  | R['SEND_RARP']
  | R['NET_SET_MTU']
  | R['SET_STATUS'];

/** SET_FEATURES, SET_PROTOCOL_FEATURES, SEND_RARP, NET_SET_MTU, SET_STATUS (value ≤ 0xff). */
export interface U64Request extends RequestBase {
  readonly request: U64RequestCode;
  /** The payload. */
  readonly value: bigint;
}

/** Requests with a vring state payload. */
export type VringStateRequestCode =
  | R['SET_VRING_NUM']
  | R['SET_VRING_BASE']
  | R['GET_VRING_BASE']
  | R['SET_VRING_ENABLE']
  | R['SET_VRING_ENDIAN']
  | R['VRING_KICK'];

/** SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE (num 0/1), SET_VRING_ENDIAN (num 0/1), VRING_KICK (num 0). */
export interface VringStateRequest extends RequestBase {
  readonly request: VringStateRequestCode;
  /** Vring index, below the device's queue count. */
  readonly index: number;
  /** Size, base, enable flag or endianness. */
  readonly num: number;
}

/** SET_VRING_ADDR. */
export interface VringAddrRequest extends RequestBase {
  readonly request: R['SET_VRING_ADDR'];
  /** The validated address description. */
  readonly addr: VringAddr;
}

/** Requests carrying a vring file word and maybe one eventfd. */
export type VringFdRequestCode = R['SET_VRING_KICK'] | R['SET_VRING_CALL'] | R['SET_VRING_ERR'];

/** SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR. */
export interface VringFdRequest extends RequestBase {
  readonly request: VringFdRequestCode;
  /** Vring index, below the device's queue count. */
  readonly index: number;
  /** The eventfd, or null when the no-fd bit was set (polling). */
  readonly fd: number | null;
}

/** SET_MEM_TABLE. */
export interface SetMemTableRequest extends RequestBase {
  readonly request: R['SET_MEM_TABLE'];
  /** Validated regions, sorted and non-overlapping. */
  readonly regions: readonly MemoryRegionDescription[];
  /** One fd per region, same order. */
  readonly fds: readonly number[];
}

/** ADD_MEM_REG. */
export interface AddMemRegRequest extends RequestBase {
  readonly request: R['ADD_MEM_REG'];
  /** The validated region. */
  readonly region: MemoryRegionDescription;
  /** The region's fd. */
  readonly fd: number;
}

/** REM_MEM_REG. */
export interface RemMemRegRequest extends RequestBase {
  readonly request: R['REM_MEM_REG'];
  /** The region to remove (matched by guest address, user address and size; mmap offset ignored). */
  readonly region: MemoryRegionDescription;
  /** An fd some frontends (QEMU ≤ 8.0) attach anyway; the spec says close it unused. */
  readonly fd: number | null;
}

/** SET_LOG_BASE. */
export interface SetLogBaseRequest extends RequestBase {
  readonly request: R['SET_LOG_BASE'];
  /** The validated log description. */
  readonly log: LogDescription;
  /** The log's shared memory fd (with LOG_SHMFD), else null. */
  readonly fd: number | null;
}

/** Requests that only carry one fd. */
export type FdOnlyRequestCode = R['SET_LOG_FD'] | R['SET_BACKEND_REQ_FD'];

/** SET_LOG_FD, SET_BACKEND_REQ_FD. */
export interface FdOnlyRequest extends RequestBase {
  readonly request: FdOnlyRequestCode;
  /** The fd. */
  readonly fd: number;
}

/** GET_CONFIG, SET_CONFIG. */
export interface ConfigRequest extends RequestBase {
  readonly request: R['GET_CONFIG'] | R['SET_CONFIG'];
  /** The validated access. */
  readonly config: ConfigAccess;
}

/** GET_INFLIGHT_FD. */
export interface GetInflightRequest extends RequestBase {
  readonly request: R['GET_INFLIGHT_FD'];
  /** Queue count and size to size the buffer (mmap fields unused). */
  readonly inflight: InflightDescription;
}

/** SET_INFLIGHT_FD. */
export interface SetInflightRequest extends RequestBase {
  readonly request: R['SET_INFLIGHT_FD'];
  /** The validated description. */
  readonly inflight: InflightDescription;
  /** The buffer's fd. */
  readonly fd: number;
}

/** Every request the decoder returns. */
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
