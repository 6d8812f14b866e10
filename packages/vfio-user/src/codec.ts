/**
 * Payload codecs of the vfio-user commands a client sends (vfio-user.rst, one section per
 * command), the replies the server sends, and the DMA_READ / DMA_WRITE requests the server
 * sends for client memory it cannot map. Every decoder checks the payload size, `argsz`, the
 * fields the spec says must be zero, flags and fd counts, and throws a typed error (with the
 * errno of the error reply) for anything else; none reads past the payload.
 *
 * DMA_READ / DMA_WRITE: address u64, count u64, data from byte 16 of the payload, as the spec's
 * table has it and as QEMU 11.1 reads and writes them (its older `VFIOUserDMARW` with a u32 count
 * and data at byte 12 is gone; the real-guest test reads QEMU's BIOS through DMA_READ).
 *
 * @module
 */
import { DmaMapFlags, DmaUnmapFlags, HeaderFlags, IrqSetFlags, VFIO_USER_HEADER_SIZE, VfioUserCommand } from './constants.js';
import { BodySizeError, IncorrectFdsError, InvalidArgumentError, InvalidReplyError } from './errors.js';
import { writeHeader, type VfioUserHeader } from './header.js';

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function exactSize(command: number, body: Uint8Array, expected: number): DataView {
  if (body.byteLength !== expected) throw new BodySizeError({ command, size: body.byteLength, expected });
  return view(body);
}

function noFds(command: number, fds: readonly number[]): void {
  if (fds.length !== 0) throw new IncorrectFdsError({ command, count: fds.length, expected: 0 });
}

function argsz(command: number, v: DataView, min: number): number {
  const a = v.getUint32(0, true);
  if (a < min) throw new InvalidArgumentError('argsz too small', { command, argsz: a, min });
  return a;
}

/**
 * A DMA_MAP command.
 * @example `const m: DmaMapRequest = decodeDmaMap(body, fds);`
 */
export interface DmaMapRequest {
  /** DmaMapFlags (READ, WRITE). */
  readonly flags: number;
  /** File offset of the window in the fd. */
  readonly offset: bigint;
  /** DMA (guest physical) address. */
  readonly address: bigint;
  /** Bytes. */
  readonly size: bigint;
  /** The fd to map, or null: the window is reached through DMA_READ / DMA_WRITE. */
  readonly fd: number | null;
}

/**
 * Decodes DMA_MAP: 32 bytes (argsz >= 32, flags READ|WRITE only, offset, address, size), at most
 * one fd. Window rules (size, alignment, overlap) are the DMA table's.
 * @param body - the payload
 * @param fds - fds received with it
 * @returns the request
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `const req = decodeDmaMap(body, fds);`
 */
export function decodeDmaMap(body: Uint8Array, fds: readonly number[]): DmaMapRequest {
  const c = VfioUserCommand.DMA_MAP;
  const v = exactSize(c, body, 32);
  argsz(c, v, 32);
  if (fds.length > 1) throw new IncorrectFdsError({ command: c, count: fds.length, expected: '0 or 1' });
  const flags = v.getUint32(4, true);
  if ((flags & ~(DmaMapFlags.READ | DmaMapFlags.WRITE)) !== 0) throw new InvalidArgumentError('unknown DMA_MAP flags', { flags });
  return { flags, offset: v.getBigUint64(8, true), address: v.getBigUint64(16, true), size: v.getBigUint64(24, true), fd: fds[0] ?? null };
}

/**
 * A DMA_UNMAP command.
 * @example `const u: DmaUnmapRequest = decodeDmaUnmap(body, []);`
 */
export interface DmaUnmapRequest {
  /** 0, or DmaUnmapFlags.ALL (every window; address and size 0). */
  readonly flags: number;
  /** DMA address of the window. */
  readonly address: bigint;
  /** Bytes of the window. */
  readonly size: bigint;
}

/**
 * Decodes DMA_UNMAP: 24 bytes (argsz >= 24, flags 0 or ALL, address, size), no fds. The dirty
 * bitmap flag is refused: this server offers no migration.
 * @param body - the payload
 * @param fds - fds received with it
 * @returns the request
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `const req = decodeDmaUnmap(body, fds);`
 */
export function decodeDmaUnmap(body: Uint8Array, fds: readonly number[]): DmaUnmapRequest {
  const c = VfioUserCommand.DMA_UNMAP;
  noFds(c, fds);
  const v = exactSize(c, body, 24);
  argsz(c, v, 24);
  const flags = v.getUint32(4, true);
  const address = v.getBigUint64(8, true);
  const size = v.getBigUint64(16, true);
  if (flags !== 0 && flags !== DmaUnmapFlags.ALL) throw new InvalidArgumentError('unsupported DMA_UNMAP flags', { flags });
  if (flags === DmaUnmapFlags.ALL && (address !== 0n || size !== 0n)) throw new InvalidArgumentError('unmap-all with an address or size', { address, size });
  return { flags, address, size };
}

/**
 * Decodes DEVICE_GET_INFO: 16 bytes, argsz >= 16, the other fields zero, no fds.
 * @param body - the payload
 * @param fds - fds received with it
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `decodeDeviceGetInfo(body, fds);`
 */
export function decodeDeviceGetInfo(body: Uint8Array, fds: readonly number[]): void {
  const c = VfioUserCommand.DEVICE_GET_INFO;
  noFds(c, fds);
  const v = exactSize(c, body, 16);
  argsz(c, v, 16);
  if (v.getUint32(4, true) !== 0 || v.getUint32(8, true) !== 0 || v.getUint32(12, true) !== 0) throw new InvalidArgumentError('non-zero fields in DEVICE_GET_INFO');
}

/**
 * A DEVICE_GET_REGION_INFO command.
 * @example `const { index } = decodeGetRegionInfo(body, []);`
 */
export interface RegionInfoRequest {
  /** The largest reply payload the client takes. */
  readonly argsz: number;
  /** The region asked about. */
  readonly index: number;
}

/**
 * Decodes DEVICE_GET_REGION_INFO: 32 bytes, argsz >= 32, only argsz and index set, no fds.
 * @param body - the payload
 * @param fds - fds received with it
 * @returns the region index and the client's argsz
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `const { index } = decodeGetRegionInfo(body, fds);`
 */
export function decodeGetRegionInfo(body: Uint8Array, fds: readonly number[]): RegionInfoRequest {
  const c = VfioUserCommand.DEVICE_GET_REGION_INFO;
  noFds(c, fds);
  const v = exactSize(c, body, 32);
  const a = argsz(c, v, 32);
  if (v.getUint32(4, true) !== 0 || v.getUint32(12, true) !== 0 || v.getBigUint64(16, true) !== 0n || v.getBigUint64(24, true) !== 0n) {
    throw new InvalidArgumentError('non-zero fields in DEVICE_GET_REGION_INFO');
  }
  return { argsz: a, index: v.getUint32(8, true) };
}

/**
 * Decodes DEVICE_GET_IRQ_INFO: 16 bytes, argsz >= 16, only argsz and index set, no fds.
 * @param body - the payload
 * @param fds - fds received with it
 * @returns the IRQ index
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `const index = decodeGetIrqInfo(body, fds);`
 */
export function decodeGetIrqInfo(body: Uint8Array, fds: readonly number[]): number {
  const c = VfioUserCommand.DEVICE_GET_IRQ_INFO;
  noFds(c, fds);
  const v = exactSize(c, body, 16);
  argsz(c, v, 16);
  if (v.getUint32(4, true) !== 0 || v.getUint32(12, true) !== 0) throw new InvalidArgumentError('non-zero fields in DEVICE_GET_IRQ_INFO');
  return v.getUint32(8, true);
}

/**
 * A DEVICE_SET_IRQS command.
 * @example `const s: SetIrqsRequest = decodeSetIrqs(body, fds);`
 */
export interface SetIrqsRequest {
  /** IrqSetFlags.DATA_* of the request. */
  readonly data: number;
  /** IrqSetFlags.ACTION_* of the request. */
  readonly action: number;
  /** IRQ index. */
  readonly index: number;
  /** First vector. */
  readonly start: number;
  /** Number of vectors. */
  readonly count: number;
  /** DATA_BOOL: one flag per vector. */
  readonly bools: Uint8Array | null;
  /** DATA_EVENTFD: one fd per vector, or none (de-assign). */
  readonly fds: readonly number[];
}

/**
 * Decodes DEVICE_SET_IRQS: argsz >= 20, exactly one data type and one action, the bool array of
 * DATA_BOOL (`count` bytes, each 0 or 1), fds only with DATA_EVENTFD and then `count` of them or
 * none; `count` 0 only to disable a whole index (start 0, DATA_NONE, TRIGGER). Index and range
 * against the device are the session's.
 * @param body - the payload
 * @param fds - fds received with it
 * @returns the request
 * @throws VfioUser.BodySizeError, IncorrectFdsError, InvalidArgumentError
 * @example `const req = decodeSetIrqs(body, fds);`
 */
export function decodeSetIrqs(body: Uint8Array, fds: readonly number[]): SetIrqsRequest {
  const c = VfioUserCommand.DEVICE_SET_IRQS;
  if (body.byteLength < 20) throw new BodySizeError({ command: c, size: body.byteLength, min: 20 });
  const v = view(body);
  argsz(c, v, 20);
  const flags = v.getUint32(4, true);
  const data = flags & IrqSetFlags.DATA_MASK;
  const action = flags & IrqSetFlags.ACTION_MASK_BITS;
  const index = v.getUint32(8, true);
  const start = v.getUint32(12, true);
  const count = v.getUint32(16, true);
  if ((flags & ~(IrqSetFlags.DATA_MASK | IrqSetFlags.ACTION_MASK_BITS)) !== 0) throw new InvalidArgumentError('unknown SET_IRQS flags', { flags });
  if (data !== IrqSetFlags.DATA_NONE && data !== IrqSetFlags.DATA_BOOL && data !== IrqSetFlags.DATA_EVENTFD) throw new InvalidArgumentError('not exactly one data type', { flags });
  if (action !== IrqSetFlags.ACTION_MASK && action !== IrqSetFlags.ACTION_UNMASK && action !== IrqSetFlags.ACTION_TRIGGER) {
    throw new InvalidArgumentError('not exactly one action', { flags });
  }
  const expected = data === IrqSetFlags.DATA_BOOL ? 20 + count : 20;
  if (body.byteLength !== expected) throw new BodySizeError({ command: c, size: body.byteLength, expected });
  if (count === 0 && (start !== 0 || data !== IrqSetFlags.DATA_NONE || action !== IrqSetFlags.ACTION_TRIGGER)) {
    throw new InvalidArgumentError('count 0 is only the disable of a whole index', { flags, start });
  }
  if (data !== IrqSetFlags.DATA_EVENTFD) noFds(c, fds);
  else if (fds.length !== 0 && fds.length !== count) throw new IncorrectFdsError({ command: c, count: fds.length, expected: count });
  let bools: Uint8Array | null = null;
  if (data === IrqSetFlags.DATA_BOOL) {
    bools = body.slice(20);
    for (const b of bools) if (b > 1) throw new InvalidArgumentError('a bool that is neither 0 nor 1', { value: b });
  }
  return { data, action, index, start, count, bools, fds };
}

/**
 * A REGION_READ or REGION_WRITE command.
 * @example `const a: RegionAccess = decodeRegionAccess(body, [], true);`
 */
export interface RegionAccess {
  /** Offset in the region (a bigint: a client may send any u64). */
  readonly offset: bigint;
  /** Region index. */
  readonly region: number;
  /** Bytes. */
  readonly count: number;
  /** REGION_WRITE: the bytes to write (a view of the payload). */
  readonly data: Uint8Array | null;
}

/**
 * Decodes REGION_READ (16 bytes) or REGION_WRITE (16 + count bytes): offset u64, region u32,
 * count u32, data; no fds. Range and permission against the device are the session's.
 * @param body - the payload
 * @param fds - fds received with it
 * @param write - REGION_WRITE
 * @returns the access
 * @throws VfioUser.BodySizeError, IncorrectFdsError
 * @example `const w = decodeRegionAccess(body, fds, true);`
 */
export function decodeRegionAccess(body: Uint8Array, fds: readonly number[], write: boolean): RegionAccess {
  const c = write ? VfioUserCommand.REGION_WRITE : VfioUserCommand.REGION_READ;
  noFds(c, fds);
  if (body.byteLength < 16) throw new BodySizeError({ command: c, size: body.byteLength, min: 16 });
  const v = view(body);
  const count = v.getUint32(12, true);
  if (body.byteLength !== (write ? 16 + count : 16)) throw new BodySizeError({ command: c, size: body.byteLength, expected: write ? 16 + count : 16 });
  return { offset: v.getBigUint64(0, true), region: v.getUint32(8, true), count, data: write ? body.subarray(16) : null };
}

/**
 * Checks a command that takes no payload and no fds (DEVICE_RESET).
 * @param command - the code
 * @param body - the payload
 * @param fds - fds received with it
 * @throws VfioUser.BodySizeError, IncorrectFdsError
 * @example `decodeEmpty(VfioUserCommand.DEVICE_RESET, body, fds);`
 */
export function decodeEmpty(command: number, body: Uint8Array, fds: readonly number[]): void {
  noFds(command, fds);
  exactSize(command, body, 0);
}

/**
 * Builds a reply: the command's header with the Reply type (and Error with `errno`), then the payload.
 * @param request - the command answered
 * @param payload - reply payload (ignored for an error: an error reply is the header alone)
 * @param errno - 0, or the errno of an error reply
 * @returns the message bytes
 * @example `send(encodeReply(h, new Uint8Array(0)));`
 */
export function encodeReply(request: Pick<VfioUserHeader, 'id' | 'command'>, payload: Uint8Array, errno = 0): Uint8Array {
  const body = errno === 0 ? payload : new Uint8Array(0);
  const out = new Uint8Array(VFIO_USER_HEADER_SIZE + body.byteLength);
  writeHeader(out, {
    id: request.id,
    command: request.command,
    size: out.byteLength,
    flags: errno === 0 ? HeaderFlags.REPLY : HeaderFlags.REPLY | HeaderFlags.ERROR,
    error: errno,
  });
  out.set(body, VFIO_USER_HEADER_SIZE);
  return out;
}

/**
 * A payload of little-endian u32 / u64 fields, in order.
 * @param fields - `[bytes, value]` pairs, bytes 2, 4 or 8
 * @returns the payload
 * @example `fields([4, 16], [4, flags])`
 */
export function fields(...fields: readonly (readonly [2 | 4 | 8, number | bigint])[]): Uint8Array {
  const out = new Uint8Array(fields.reduce((n, [b]) => n + b, 0));
  const v = view(out);
  let at = 0;
  for (const [b, x] of fields) {
    if (b === 2) v.setUint16(at, Number(x), true);
    else if (b === 4) v.setUint32(at, Number(x), true);
    else v.setBigUint64(at, BigInt(x), true);
    at += b;
  }
  return out;
}

/** Payload bytes of a DMA_READ / DMA_WRITE before its data (address u64, count u64). @example `reply.subarray(16 + DMA_RW_DATA_OFFSET)` */
export const DMA_RW_DATA_OFFSET = 16;
/** The size of a DMA message without data: header, address, count. @example `new Uint8Array(DMA_RW_MIN_SIZE + count)` */
export const DMA_RW_MIN_SIZE = VFIO_USER_HEADER_SIZE + DMA_RW_DATA_OFFSET;

/**
 * Builds a DMA_READ request for `count` bytes at `address`.
 * @param id - message id
 * @param address - client DMA address
 * @param count - bytes wanted
 * @returns the message
 * @example `send(encodeDmaRead(id, 0x1000n, 64));`
 */
export function encodeDmaRead(id: number, address: bigint, count: number): Uint8Array {
  const out = new Uint8Array(DMA_RW_MIN_SIZE);
  writeHeader(out, { id, command: VfioUserCommand.DMA_READ, size: out.byteLength, flags: HeaderFlags.COMMAND, error: 0 });
  const v = view(out);
  v.setBigUint64(16, address, true);
  v.setBigUint64(24, BigInt(count), true);
  return out;
}

/**
 * Builds a DMA_WRITE request of `data` at `address`.
 * @param id - message id
 * @param address - client DMA address
 * @param data - bytes to write
 * @returns the message
 * @example `send(encodeDmaWrite(id, 0x1000n, bytes));`
 */
export function encodeDmaWrite(id: number, address: bigint, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(DMA_RW_MIN_SIZE + data.byteLength);
  writeHeader(out, { id, command: VfioUserCommand.DMA_WRITE, size: out.byteLength, flags: HeaderFlags.COMMAND, error: 0 });
  const v = view(out);
  v.setBigUint64(16, address, true);
  v.setBigUint64(24, BigInt(data.byteLength), true);
  out.set(data, VFIO_USER_HEADER_SIZE + DMA_RW_DATA_OFFSET);
  return out;
}

/**
 * Takes the data out of a successful DMA_READ reply: it must echo the address and count and hold
 * the count's bytes.
 * @param body - the reply payload
 * @param address - the address asked for
 * @param count - the bytes asked for
 * @returns the bytes read (a copy)
 * @throws VfioUser.InvalidReplyError
 * @example `const bytes = decodeDmaReadReply(body, 0x1000n, 64);`
 */
export function decodeDmaReadReply(body: Uint8Array, address: bigint, count: number): Uint8Array {
  if (body.byteLength < DMA_RW_DATA_OFFSET + count) throw new InvalidReplyError('DMA_READ reply too short', { size: body.byteLength, count });
  const v = view(body);
  const a = v.getBigUint64(0, true);
  const n = v.getBigUint64(8, true);
  if (a !== address || n !== BigInt(count)) throw new InvalidReplyError('DMA_READ reply for another range', { address: a, count: n, expected: count });
  return body.slice(DMA_RW_DATA_OFFSET, DMA_RW_DATA_OFFSET + count);
}
