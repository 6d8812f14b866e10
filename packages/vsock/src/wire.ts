/**
 * virtio-vsock numbers and the packet header (VIRTIO 1.2 §5.10, with the feature bits of 1.3):
 * feature bits, socket types, operations, flags, the 8-byte configuration space `{le64 guest_cid}`
 * and the 44-byte `struct virtio_vsock_hdr`. A transmitted packet's header is checked against its
 * chain here ({@link checkTxHeader}): a typed outcome, never an exception.
 * @module
 */
import type { Writer } from '@vmv/device-trait';

/** Device feature bits (§5.10.3). @example `features(Feature.VERSION_1, VsockFeature.SEQPACKET)` */
export const VsockFeature = {
  /** Stream sockets. */
  STREAM: 0,
  /** Seqpacket sockets (message and record boundaries). */
  SEQPACKET: 1,
  /** Stream sockets are not implied by the absence of other bits (or by SEQPACKET). */
  NO_IMPLIED_STREAM: 2,
} as const;
/** One of {@link VsockFeature}'s values. @example `const b: VsockFeature = VsockFeature.STREAM;` */
export type VsockFeature = (typeof VsockFeature)[keyof typeof VsockFeature];

/** Packet operations (§5.10.6). @example `header.op === VsockOp.RW` */
export const VsockOp = {
  /** Never valid. */
  INVALID: 0,
  /** Connection request. */
  REQUEST: 1,
  /** Connection accepted. */
  RESPONSE: 2,
  /** Connection refused or aborted. */
  RST: 3,
  /** The sender will not receive (flag RECEIVE) and/or send (flag SEND) any more. */
  SHUTDOWN: 4,
  /** Payload. */
  RW: 5,
  /** The sender's buf_alloc and fwd_cnt, unasked or as a reply. */
  CREDIT_UPDATE: 6,
  /** Asks for a CREDIT_UPDATE. */
  CREDIT_REQUEST: 7,
} as const;
/** One of {@link VsockOp}'s values. @example `const op: VsockOp = VsockOp.RST;` */
export type VsockOp = (typeof VsockOp)[keyof typeof VsockOp];

/** Socket types in the header's `type` (§5.10.6.3). @example `header.type === VsockType.STREAM` */
export const VsockType = {
  /** In-order byte stream. */
  STREAM: 1,
  /** In-order messages with message (EOM) and record (EOR) boundaries. */
  SEQPACKET: 2,
} as const;
/** One of {@link VsockType}'s values. @example `const t: VsockType = VsockType.SEQPACKET;` */
export type VsockType = (typeof VsockType)[keyof typeof VsockType];

/** SHUTDOWN flags (§5.10.6.6). @example `flags & ShutdownFlag.SEND` */
export const ShutdownFlag = {
  /** The sender will receive no more data. */
  RECEIVE: 1,
  /** The sender will send no more data. */
  SEND: 2,
} as const;

/** Seqpacket RW flags (§5.10.6.7). @example `flags & SeqFlag.EOM` */
export const SeqFlag = {
  /** The last packet of a message. */
  EOM: 1,
  /** The last packet of a record (MSG_EOR). */
  EOR: 2,
} as const;

/** Bytes of `struct virtio_vsock_hdr`. @example `chain.readableBytes >= HEADER_SIZE` */
export const HEADER_SIZE = 44;
/** The host's well-known CID. @example `header.dstCid === HOST_CID` */
export const HOST_CID = 2;
/** Bytes of the configuration space (`le64 guest_cid`). @example `device.configSize === VSOCK_CONFIG_SIZE` */
export const VSOCK_CONFIG_SIZE = 8;
/** The one event id (§5.10.6.8): the transport was reset. @example `view.getUint32(0, true) === EVENT_TRANSPORT_RESET` */
export const EVENT_TRANSPORT_RESET = 0;
/** Bytes of `struct virtio_vsock_event`. @example `chain.writableBytes >= EVENT_SIZE` */
export const EVENT_SIZE = 4;
/** The largest payload of one packet (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE); longer ones are refused. @example `header.len <= MAX_PAYLOAD` */
export const MAX_PAYLOAD = 64 * 1024;

/**
 * `struct virtio_vsock_hdr`. CIDs are numbers: the upper 32 bits are reserved and zero in a valid
 * packet, and a CID of 2^32 or more never equals a guest's (the value is then approximate).
 * @example
 * ```ts
 * const h: VsockHeader = { srcCid: 2, dstCid: 3, srcPort: 1024, dstPort: 5000, len: 0, type: VsockType.STREAM, op: VsockOp.REQUEST, flags: 0, bufAlloc: 262144, fwdCnt: 0 };
 * ```
 */
export interface VsockHeader {
  /** Source CID. */
  readonly srcCid: number;
  /** Destination CID. */
  readonly dstCid: number;
  /** Source port. */
  readonly srcPort: number;
  /** Destination port. */
  readonly dstPort: number;
  /** Payload bytes after the header. */
  readonly len: number;
  /** Socket type ({@link VsockType} when known). */
  readonly type: number;
  /** Operation ({@link VsockOp} when known). */
  readonly op: number;
  /** SHUTDOWN or seqpacket flags. */
  readonly flags: number;
  /** The sender's receive buffer space for this connection. */
  readonly bufAlloc: number;
  /** The sender's free-running count of bytes it received and consumed. */
  readonly fwdCnt: number;
}

/**
 * Decodes a header from at least 44 bytes.
 * @param bytes - the bytes (only the first 44 are read).
 * @returns the header.
 * @throws RangeError for fewer than 44 bytes.
 * @example `decodeHeader(encodeHeader(h))`
 */
export function decodeHeader(bytes: Uint8Array): VsockHeader {
  if (bytes.length < HEADER_SIZE) throw new RangeError(`decodeHeader: needs ${HEADER_SIZE} bytes, got ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  return {
    srcCid: v.getUint32(0, true) + v.getUint32(4, true) * 0x1_0000_0000,
    dstCid: v.getUint32(8, true) + v.getUint32(12, true) * 0x1_0000_0000,
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type: v.getUint16(28, true),
    op: v.getUint16(30, true),
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

const U16 = 0xffff;
const U32 = 0xffff_ffff;

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`encodeHeader: ${name} must be an integer in 0..${max}, got ${value}`);
}

/**
 * Encodes a header (CIDs up to 2^32 - 1).
 * @param h - the header.
 * @returns 44 bytes.
 * @throws RangeError when a field is out of range.
 * @example `encodeHeader({ ...h, op: VsockOp.RST })`
 */
export function encodeHeader(h: VsockHeader): Uint8Array {
  checkField('srcCid', h.srcCid, U32);
  checkField('dstCid', h.dstCid, U32);
  for (const k of ['srcPort', 'dstPort', 'len', 'flags', 'bufAlloc', 'fwdCnt'] as const) checkField(k, h[k], U32);
  checkField('type', h.type, U16);
  checkField('op', h.op, U16);
  const out = new Uint8Array(HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, h.srcCid, true);
  v.setUint32(8, h.dstCid, true);
  v.setUint32(16, h.srcPort, true);
  v.setUint32(20, h.dstPort, true);
  v.setUint32(24, h.len, true);
  v.setUint16(28, h.type, true);
  v.setUint16(30, h.op, true);
  v.setUint32(32, h.flags, true);
  v.setUint32(36, h.bufAlloc, true);
  v.setUint32(40, h.fwdCnt, true);
  return out;
}

/** @internal Writes a header the device built (fields known to be in range) through a chain writer. */
export function writeHeader(out: Writer, h: VsockHeader): void {
  out.writeU64(h.srcCid);
  out.writeU64(h.dstCid);
  out.writeU32(h.srcPort);
  out.writeU32(h.dstPort);
  out.writeU32(h.len);
  out.writeU16(h.type);
  out.writeU16(h.op);
  out.writeU32(h.flags);
  out.writeU32(h.bufAlloc);
  out.writeU32(h.fwdCnt);
}

/**
 * Why a transmitted packet was dropped without a reply: `short` (fewer than 44 readable bytes),
 * `bad-src-cid` (not the guest's own CID: §5.10.6.4 makes guest_cid the source of every packet),
 * `length` (`len` beyond the chain's readable bytes after the header), `too-long` (`len` above
 * {@link MAX_PAYLOAD}).
 * @example `const r: DropReason = 'bad-src-cid';`
 */
export type DropReason = 'short' | 'bad-src-cid' | 'length' | 'too-long';

/**
 * What {@link checkTxHeader} found.
 * @example
 * ```ts
 * const c = checkTxHeader(bytes, chain.readableBytes, 3);
 * if (!c.ok) console.log(c.reason);
 * ```
 */
export type TxHeaderCheck =
  | {
      /** The packet can be acted on (its type, op and destination are the device's to judge). */
      readonly ok: true;
      /** The header. */
      readonly header: VsockHeader;
    }
  | {
      /** The packet is dropped. */
      readonly ok: false;
      /** Why. */
      readonly reason: DropReason;
      /** The header, when there were 44 bytes. */
      readonly header?: VsockHeader;
    };

/**
 * Checks a packet the guest transmitted: its header against the chain it came in and the guest's CID.
 * @param bytes - the chain's first readable bytes (up to 44 are looked at).
 * @param readable - the chain's readable bytes in all.
 * @param guestCid - the device's guest CID.
 * @returns the header, or why the packet is dropped.
 * @example `checkTxHeader(encodeHeader(h), 44 + h.len, 3)`
 */
export function checkTxHeader(bytes: Uint8Array, readable: number, guestCid: number): TxHeaderCheck {
  if (readable < HEADER_SIZE || bytes.length < HEADER_SIZE) return { ok: false, reason: 'short' };
  const header = decodeHeader(bytes);
  if (header.srcCid !== guestCid) return { ok: false, reason: 'bad-src-cid', header };
  if (header.len > MAX_PAYLOAD) return { ok: false, reason: 'too-long', header };
  if (header.len > readable - HEADER_SIZE) return { ok: false, reason: 'length', header };
  return { ok: true, header };
}

/**
 * Whether `cid` may be a guest's CID (§5.10.4: not 0, 1, 2, 0xffffffff; below 2^32).
 * @param cid - a CID.
 * @returns true when it is usable.
 * @example `isGuestCid(3) === true`
 */
export function isGuestCid(cid: number): boolean {
  return Number.isInteger(cid) && cid > HOST_CID && cid < U32;
}

/** The name of a {@link VsockOp} value, or `op N`. @example `opName(5) === 'RW'` */
export function opName(op: number): string {
  for (const [name, value] of Object.entries(VsockOp)) if (value === op) return name;
  return `op ${op}`;
}
