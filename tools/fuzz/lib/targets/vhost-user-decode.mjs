/**
 * vhost-user message parsing (vhost-user protocol; QEMU docs/interop/vhost-user.rst): the backend's
 * decoder of frontend requests (header rules, body sizes, payload rules, fd counts, features and
 * protocol features in effect) and the frontend's readers of backend replies and requests, on
 * random and on well-framed random messages with random fd counts and negotiation states. A
 * decoded request must hold every fd that came with it exactly once.
 */
import {
  DECODE_ERROR_NAMES,
  checkReply,
  decodeBackendRequest,
  decodeMessage,
  readConfigAccess,
  readHeader,
  readU64Reply,
  validateBackendRequestHeader,
  validateReplyHeader,
} from '@vmv/vhost-user/protocol';

const FLAGS = [1, 5, 9, 0, 2, 0x11, 0xd];
const ALL = (1n << 64n) - 1n;

function heldFds(m) {
  const out = [];
  if ('fds' in m) out.push(...m.fds);
  if ('fd' in m && m.fd !== null) out.push(m.fd);
  return out.sort((a, b) => a - b);
}

function framed(src) {
  const request = src.u8() < 224 ? src.below(50) : src.u32();
  const flags = src.u8() < 224 ? src.pick(FLAGS) : src.u32();
  const bodyLen = src.u8() < 128 ? src.pick([0, 8, 16, 24, 40, 72, 8 + 32 * src.below(9), 20]) : src.below(600);
  const body = src.take(bodyLen);
  const size = src.u8() < 240 ? bodyLen : src.u32();
  const bytes = new Uint8Array(12 + bodyLen);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, request >>> 0, true);
  v.setUint32(4, flags >>> 0, true);
  v.setUint32(8, size >>> 0, true);
  bytes.set(body, 12);
  return bytes;
}

export const vhostUserDecodeTarget = {
  name: 'vhost-user-decode',
  description: 'vhost-user request decoding (backend side) and reply/backend-request reading (frontend side)',
  maxLen: 1024,
  allowed: new Set([...DECODE_ERROR_NAMES, 'VhostUser.InvalidReplyError']),
  setup() {
    return {};
  },
  run(_state, src, report) {
    const mode = src.u8() % 4;
    const nfds = src.u8() < 160 ? src.below(3) : src.below(40);
    const fds = Array.from({ length: nfds }, (_, i) => 100 + i);
    if (mode < 2) {
      const full = src.u8() < 128;
      const ctx = {
        offeredFeatures: full ? ALL : src.u64(),
        ackedFeatures: full ? ALL & ~(1n << 34n) : src.u64(),
        offeredProtocolFeatures: full ? (1n << 17n) - 1n : src.u64() & ((1n << 17n) - 1n),
        ackedProtocolFeatures: full ? (1n << 17n) - 1n : src.u64() & ((1n << 17n) - 1n),
        queueCount: 1 + src.below(256),
        maxQueueSize: src.pick([1, 128, 256, 1024, 32768]),
      };
      const bytes = mode === 0 ? framed(src) : src.take(src.below(700));
      let msg;
      try {
        msg = decodeMessage(bytes, fds, ctx);
      } catch (e) {
        report.error(e);
        return null;
      }
      report.feature(`decoded:${msg.request}`);
      const held = heldFds(msg);
      if (held.length !== fds.length || held.some((fd, i) => fd !== fds[i])) throw new Error(`request ${msg.request} decoded holding fds [${held}] of [${fds}]`);
      return null;
    }
    const bytes = framed(src);
    try {
      const header = readHeader(new DataView(bytes.buffer, bytes.byteOffset, 12));
      const body = bytes.subarray(12, 12 + header.size);
      if (mode === 2) {
        validateBackendRequestHeader(header);
        const msg = decodeBackendRequest(header, body, fds);
        report.feature(`backend-request:${msg.request}`);
      } else {
        validateReplyHeader(header);
        const request = src.below(46);
        const size = src.pick([undefined, 8, 24]);
        const view = checkReply(header, body, fds, request, size);
        if (request === 24) readConfigAccess(view, 0, view.byteLength);
        else if (size === 8) readU64Reply(view);
        report.feature(`reply:${request}`);
      }
    } catch (e) {
      report.error(e);
    }
    return null;
  },
};
