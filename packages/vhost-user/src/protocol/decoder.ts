/**
 * The request decoder: turns a header, a payload and the received file descriptors into a
 * typed {@link VhostUserRequestMessage}, enforcing every rule of the validation checklist
 * §2.10 (items 45-57) and the request table of vhost-user.rst as QEMU 7.2 speaks it.
 *
 * Order of checks: header (known code, version, flags, size ≤ 0x1000), payload length against
 * the header, at most 32 fds, feature gating (InactiveOperation), supported request, exact
 * payload size, fd count, payload rules, then rules that depend on the negotiation so far
 * (vring index < queue count, ring size, feature subsets, config and inflight bounds).
 *
 * The decoder never closes fds. On success every fd passed in appears in exactly one field of
 * the result; on error the caller owns (and should close) them all.
 *
 * @module
 */

import { Feature, hasFeature } from '@vmv/device-trait';
import {
  HeaderFlags,
  ProtocolFeature,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_FDS,
  VhostFeature,
  VhostUserRequest,
  VringAddrFlags,
  PayloadSize,
  requestName,
} from './constants.js';
import { readConfigAccess } from './config.js';
import { decodeHeader, validateRequestHeader, type VhostUserHeader } from './header.js';
import { readInflight, validateInflight } from './inflight.js';
import { readLog, validateLog } from './log.js';
import { readMemoryTable, readSingleMemoryRegion, validateMemoryRegion } from './memory-table.js';
import type { VhostUserDecodeContext, VhostUserRequestMessage } from './messages.js';
import { readU64 } from './u64.js';
import { parseVringFile, readVringAddr, readVringState, validateVringAddr } from './vring.js';
import {
  BodySizeError,
  InactiveOperationError,
  IncorrectFdsError,
  InvalidParamError,
  InvalidVringAddrError,
  InvalidVringIndexError,
  PartialMessageError,
  UnsupportedFeaturesError,
  UnsupportedRequestError,
} from '../errors.js';

const Q = VhostUserRequest;

/** A feature gate: the request is legal only when this bit is negotiated. */
type Gate =
  | { readonly kind: 'protocol'; readonly bit: number }
  | { readonly kind: 'offered'; readonly bit: number }
  | { readonly kind: 'acked'; readonly bit: number };

const protocolGate = (bit: number): Gate => ({ kind: 'protocol', bit });

/** Requests gated by a protocol feature or a feature bit (checklist item 56). */
const GATES: ReadonlyMap<number, Gate> = new Map<number, Gate>([
  [Q.GET_PROTOCOL_FEATURES, { kind: 'offered', bit: VhostFeature.PROTOCOL_FEATURES }],
  [Q.SET_PROTOCOL_FEATURES, { kind: 'offered', bit: VhostFeature.PROTOCOL_FEATURES }],
  [Q.SET_VRING_ENABLE, { kind: 'acked', bit: VhostFeature.PROTOCOL_FEATURES }],
  [Q.SET_LOG_BASE, { kind: 'offered', bit: VhostFeature.LOG_ALL }],
  [Q.SET_LOG_FD, { kind: 'offered', bit: VhostFeature.LOG_ALL }],
  [Q.IOTLB_MSG, { kind: 'acked', bit: Feature.ACCESS_PLATFORM }],
  [Q.GET_QUEUE_NUM, protocolGate(ProtocolFeature.MQ)],
  [Q.SEND_RARP, protocolGate(ProtocolFeature.RARP)],
  [Q.NET_SET_MTU, protocolGate(ProtocolFeature.MTU)],
  [Q.SET_BACKEND_REQ_FD, protocolGate(ProtocolFeature.BACKEND_REQ)],
  [Q.SET_VRING_ENDIAN, protocolGate(ProtocolFeature.CROSS_ENDIAN)],
  [Q.GET_CONFIG, protocolGate(ProtocolFeature.CONFIG)],
  [Q.SET_CONFIG, protocolGate(ProtocolFeature.CONFIG)],
  [Q.CREATE_CRYPTO_SESSION, protocolGate(ProtocolFeature.CRYPTO_SESSION)],
  [Q.CLOSE_CRYPTO_SESSION, protocolGate(ProtocolFeature.CRYPTO_SESSION)],
  [Q.POSTCOPY_ADVISE, protocolGate(ProtocolFeature.PAGEFAULT)],
  [Q.POSTCOPY_LISTEN, protocolGate(ProtocolFeature.PAGEFAULT)],
  [Q.POSTCOPY_END, protocolGate(ProtocolFeature.PAGEFAULT)],
  [Q.GET_INFLIGHT_FD, protocolGate(ProtocolFeature.INFLIGHT_SHMFD)],
  [Q.SET_INFLIGHT_FD, protocolGate(ProtocolFeature.INFLIGHT_SHMFD)],
  [Q.RESET_DEVICE, protocolGate(ProtocolFeature.RESET_DEVICE)],
  [Q.VRING_KICK, protocolGate(ProtocolFeature.INBAND_NOTIFICATIONS)],
  [Q.GET_MAX_MEM_SLOTS, protocolGate(ProtocolFeature.CONFIGURE_MEM_SLOTS)],
  [Q.ADD_MEM_REG, protocolGate(ProtocolFeature.CONFIGURE_MEM_SLOTS)],
  [Q.REM_MEM_REG, protocolGate(ProtocolFeature.CONFIGURE_MEM_SLOTS)],
  [Q.SET_STATUS, protocolGate(ProtocolFeature.STATUS)],
  [Q.GET_STATUS, protocolGate(ProtocolFeature.STATUS)],
]);

/** Requests this implementation does not serve even when their gate is open. */
const UNSUPPORTED: ReadonlySet<number> = new Set<number>([
  Q.IOTLB_MSG,
  Q.CREATE_CRYPTO_SESSION,
  Q.CLOSE_CRYPTO_SESSION,
  Q.POSTCOPY_ADVISE,
  Q.POSTCOPY_LISTEN,
  Q.POSTCOPY_END,
  Q.GPU_SET_SOCKET,
]);

/**
 * Decodes one complete message (header + payload in one buffer, nothing more).
 *
 * @param bytes - exactly 12 + size bytes
 * @param fds - file descriptors received with the message
 * @param ctx - negotiation state and device limits
 * @returns the typed request
 * @throws VhostUser.PartialMessageError when `bytes` is shorter than the header announces
 * @throws VhostUser.BodySizeError when `bytes` holds trailing bytes
 * @throws any other error of `DECODE_ERROR_NAMES` (see {@link decodeRequest})
 * @example
 * ```ts
 * const msg = decodeMessage(bytes, [], ctx);
 * if (msg.request === VhostUserRequest.GET_FEATURES) reply(features);
 * ```
 */
export function decodeMessage(bytes: Uint8Array, fds: readonly number[], ctx: VhostUserDecodeContext): VhostUserRequestMessage {
  const header = decodeHeader(bytes);
  const body = bytes.subarray(VHOST_USER_HEADER_SIZE);
  if (body.byteLength > header.size) {
    throw new BodySizeError({ request: header.request, size: body.byteLength, expected: header.size, reason: 'trailing bytes' });
  }
  return decodeRequest(header, body, fds, ctx);
}

/**
 * Decodes and validates a request payload.
 *
 * @param header - a header (re-validated here, so an unvalidated one is safe)
 * @param body - the payload; only its first `header.size` bytes are read
 * @param fds - file descriptors received with the message (the decoder never closes them)
 * @param ctx - negotiation state and device limits
 * @returns the typed request
 * @throws VhostUser.PartialMessageError when `body` is shorter than `header.size`
 * @throws VhostUser.UnknownRequestError, VersionError, InvalidFlagsError, OversizedMessageError on a bad header
 * @throws VhostUser.IncorrectFdsError when fds are not allowed, in the wrong number, or more than 32
 * @throws VhostUser.InactiveOperationError when the request's feature is not negotiated
 * @throws VhostUser.UnsupportedRequestError for crypto, postcopy, IOTLB and GPU requests
 * @throws VhostUser.BodySizeError when the payload size is wrong for the request
 * @throws VhostUser.InvalidMemoryRegionError, InvalidVringAddrError, InvalidVringIndexError,
 *   InvalidParamError, UnsupportedFeaturesError, InvalidConfigError, InvalidInflightError,
 *   InvalidLogError when the payload breaks a rule
 * @example
 * ```ts
 * const header = decodeHeader(headerBytes);
 * const msg = decodeRequest(header, bodyBytes, receivedFds, ctx);
 * ```
 */
export function decodeRequest(
  header: VhostUserHeader,
  body: Uint8Array,
  fds: readonly number[],
  ctx: VhostUserDecodeContext,
): VhostUserRequestMessage {
  validateRequestHeader(header);
  const request = header.request;
  const size = header.size;
  if (body.byteLength < size) {
    throw new PartialMessageError({ part: 'payload', request, received: body.byteLength, expected: size });
  }
  if (fds.length > VHOST_USER_MAX_FDS) {
    throw new IncorrectFdsError({ request, count: fds.length, max: VHOST_USER_MAX_FDS });
  }
  checkGate(request, ctx);
  if (UNSUPPORTED.has(request)) throw new UnsupportedRequestError(request);

  const view = new DataView(body.buffer, body.byteOffset, size);
  const needReply = (header.flags & HeaderFlags.NEED_REPLY) !== 0;

  switch (request) {
    case Q.GET_FEATURES:
    case Q.SET_OWNER:
    case Q.RESET_OWNER:
    case Q.GET_PROTOCOL_FEATURES:
    case Q.GET_QUEUE_NUM:
    case Q.RESET_DEVICE:
    case Q.GET_MAX_MEM_SLOTS:
    case Q.GET_STATUS:
      expectSize(request, size, 0);
      expectFds(request, fds, 0);
      return { request, needReply };

    case Q.SET_FEATURES: {
      const value = u64Payload(request, size, fds, view);
      if ((value & ~ctx.offeredFeatures) !== 0n) {
        throw new UnsupportedFeaturesError({ request, requested: value, offered: ctx.offeredFeatures });
      }
      return { request, needReply, value };
    }
    case Q.SET_PROTOCOL_FEATURES: {
      const value = u64Payload(request, size, fds, view);
      if ((value & ~ctx.offeredProtocolFeatures) !== 0n) {
        throw new UnsupportedFeaturesError({ request, requested: value, offered: ctx.offeredProtocolFeatures });
      }
      // vhost-user.rst "In-band notifications": the backend must refuse INBAND_NOTIFICATIONS
      // without BACKEND_REQ and REPLY_ACK.
      if (hasFeature(value, ProtocolFeature.INBAND_NOTIFICATIONS) &&
          !(hasFeature(value, ProtocolFeature.BACKEND_REQ) && hasFeature(value, ProtocolFeature.REPLY_ACK))) {
        throw new InvalidParamError('INBAND_NOTIFICATIONS needs BACKEND_REQ and REPLY_ACK', { value });
      }
      return { request, needReply, value };
    }
    case Q.SEND_RARP:
    case Q.NET_SET_MTU:
      return { request, needReply, value: u64Payload(request, size, fds, view) };
    case Q.SET_STATUS: {
      const value = u64Payload(request, size, fds, view);
      if (value > 0xffn) throw new InvalidParamError('device status is a u8', { value });
      return { request, needReply, value };
    }

    case Q.SET_VRING_NUM: {
      const { index, num } = vringStatePayload(request, size, fds, view, ctx);
      if (num < 1 || num > ctx.maxQueueSize) {
        throw new InvalidParamError('ring size out of range', { index, num, max: ctx.maxQueueSize });
      }
      if (!hasFeature(ctx.ackedFeatures, Feature.RING_PACKED) && (num & (num - 1)) !== 0) {
        throw new InvalidParamError('split ring size must be a power of two', { index, num });
      }
      return { request, needReply, index, num };
    }
    case Q.SET_VRING_BASE: {
      const { index, num } = vringStatePayload(request, size, fds, view, ctx);
      if (!hasFeature(ctx.ackedFeatures, Feature.RING_PACKED) && num > 0xffff) {
        throw new InvalidParamError('split ring base is a u16', { index, num });
      }
      return { request, needReply, index, num };
    }
    case Q.GET_VRING_BASE: {
      const { index, num } = vringStatePayload(request, size, fds, view, ctx);
      return { request, needReply, index, num };
    }
    case Q.SET_VRING_ENABLE:
    case Q.SET_VRING_ENDIAN: {
      const { index, num } = vringStatePayload(request, size, fds, view, ctx);
      if (num !== 0 && num !== 1) throw new InvalidParamError('value must be 0 or 1', { request, index, num });
      return { request, needReply, index, num };
    }
    case Q.VRING_KICK: {
      const { index, num } = vringStatePayload(request, size, fds, view, ctx);
      if (num !== 0) throw new InvalidParamError('VRING_KICK num is reserved and must be 0', { index, num });
      return { request, needReply, index, num };
    }

    case Q.SET_VRING_ADDR: {
      expectSize(request, size, PayloadSize.VRING_ADDR);
      expectFds(request, fds, 0);
      const addr = readVringAddr(view);
      checkIndex(request, addr.index, ctx);
      validateVringAddr(addr);
      if ((addr.flags & VringAddrFlags.LOG) !== 0 && !hasFeature(ctx.ackedFeatures, VhostFeature.LOG_ALL)) {
        throw new InvalidVringAddrError('LOG flag without VHOST_F_LOG_ALL negotiated', { index: addr.index });
      }
      return { request, needReply, addr };
    }

    case Q.SET_VRING_KICK:
    case Q.SET_VRING_CALL:
    case Q.SET_VRING_ERR: {
      expectSize(request, size, PayloadSize.U64);
      const file = parseVringFile(readU64(view));
      checkIndex(request, file.index, ctx);
      // checklist item 51: bit 8 must say whether an fd is attached
      expectFds(request, fds, file.noFd ? 0 : 1);
      return { request, needReply, index: file.index, fd: file.noFd ? null : fds[0]! };
    }

    case Q.SET_MEM_TABLE: {
      if (size < PayloadSize.MEM_TABLE_HEADER) {
        throw new BodySizeError({ request, size, expected: 'at least 8' });
      }
      const regions = readMemoryTable(view, 0, size);
      expectFds(request, fds, regions.length);
      return { request, needReply, regions, fds: [...fds] };
    }
    case Q.ADD_MEM_REG: {
      expectSize(request, size, PayloadSize.SINGLE_MEMORY_REGION);
      expectFds(request, fds, 1);
      const region = readSingleMemoryRegion(view);
      validateMemoryRegion(region);
      return { request, needReply, region, fd: fds[0]! };
    }
    case Q.REM_MEM_REG: {
      expectSize(request, size, PayloadSize.SINGLE_MEMORY_REGION);
      if (fds.length > 1) throw new IncorrectFdsError({ request, count: fds.length, expected: '0 or 1' });
      const region = readSingleMemoryRegion(view);
      validateMemoryRegion(region, false);
      return { request, needReply, region, fd: fds.length === 1 ? fds[0]! : null };
    }

    case Q.SET_LOG_BASE: {
      expectSize(request, size, PayloadSize.LOG);
      const shm = hasFeature(ctx.ackedProtocolFeatures, ProtocolFeature.LOG_SHMFD);
      expectFds(request, fds, shm ? 1 : 0);
      const log = readLog(view);
      validateLog(log);
      return { request, needReply, log, fd: shm ? fds[0]! : null };
    }
    case Q.SET_LOG_FD:
    case Q.SET_BACKEND_REQ_FD:
      expectSize(request, size, 0);
      expectFds(request, fds, 1);
      return { request, needReply, fd: fds[0]! };

    case Q.GET_CONFIG:
    case Q.SET_CONFIG: {
      expectFds(request, fds, 0);
      return { request, needReply, config: readConfigAccess(view, 0, size) };
    }

    case Q.GET_INFLIGHT_FD:
    case Q.SET_INFLIGHT_FD: {
      expectSize(request, size, PayloadSize.INFLIGHT);
      const set = request === Q.SET_INFLIGHT_FD;
      expectFds(request, fds, set ? 1 : 0);
      const inflight = readInflight(view);
      validateInflight(inflight, { maxQueues: ctx.queueCount, maxQueueSize: ctx.maxQueueSize, requireMapping: set });
      return set ? { request, needReply, inflight, fd: fds[0]! } : { request, needReply, inflight };
    }
  }
  // Unreachable: validateRequestHeader admits only known codes and every known code is handled
  // above or listed in UNSUPPORTED.
  throw new UnsupportedRequestError(request);
}

function checkGate(request: number, ctx: VhostUserDecodeContext): void {
  const gate = GATES.get(request);
  if (gate === undefined) return;
  let open: boolean;
  let feature: string;
  if (gate.kind === 'protocol') {
    open = hasFeature(ctx.ackedProtocolFeatures, gate.bit);
    feature = `protocol feature ${gate.bit}`;
  } else if (gate.kind === 'offered') {
    open = hasFeature(ctx.offeredFeatures, gate.bit);
    feature = `offered feature ${gate.bit}`;
  } else {
    open = hasFeature(ctx.ackedFeatures, gate.bit);
    feature = `acked feature ${gate.bit}`;
  }
  if (!open) throw new InactiveOperationError({ request, name: requestName(request), needs: feature });
}

function expectSize(request: number, size: number, expected: number): void {
  if (size !== expected) throw new BodySizeError({ request, name: requestName(request), size, expected });
}

function expectFds(request: number, fds: readonly number[], expected: number): void {
  if (fds.length !== expected) {
    throw new IncorrectFdsError({ request, name: requestName(request), count: fds.length, expected });
  }
}

function checkIndex(request: number, index: number, ctx: VhostUserDecodeContext): void {
  if (index >= ctx.queueCount) {
    throw new InvalidVringIndexError({ request, name: requestName(request), index, queueCount: ctx.queueCount });
  }
}

function u64Payload(request: number, size: number, fds: readonly number[], view: DataView): bigint {
  expectSize(request, size, PayloadSize.U64);
  expectFds(request, fds, 0);
  return readU64(view);
}

function vringStatePayload(
  request: number,
  size: number,
  fds: readonly number[],
  view: DataView,
  ctx: VhostUserDecodeContext,
): { index: number; num: number } {
  expectSize(request, size, PayloadSize.VRING_STATE);
  expectFds(request, fds, 0);
  const state = readVringState(view);
  checkIndex(request, state.index, ctx);
  return state;
}
