/**
 * The 16-byte vfio-user message header (vfio-user.rst "Header"): message id u16, command u16,
 * message size u32 (the whole message, header included), flags u32 (bits 0-3 type, bit 4
 * No_reply, bit 5 Error), error u32 (an errno, in replies). Framing rules come first: a size
 * below the header or above the limit, or a type other than command and reply, loses the stream.
 *
 * @module
 */
import { HeaderFlags, VFIO_USER_HEADER_SIZE, VfioUserCommand } from './constants.js';
import { InvalidFlagsError, InvalidHeaderError, OversizedMessageError, PartialMessageError, UnknownCommandError } from './errors.js';

/**
 * A message header as it is on the wire.
 * @example
 * ```ts
 * const h: VfioUserHeader = { id: 7, command: VfioUserCommand.DEVICE_RESET, size: 16, flags: 0, error: 0 };
 * ```
 */
export interface VfioUserHeader {
  /** Message id, echoed in the reply. */
  readonly id: number;
  /** Command code (see {@link VfioUserCommand}). */
  readonly command: number;
  /** Size of the whole message in bytes, header included. */
  readonly size: number;
  /** Flags (see {@link HeaderFlags}). */
  readonly flags: number;
  /** Error number (replies with the Error flag). */
  readonly error: number;
}

const KNOWN_COMMANDS: ReadonlySet<number> = new Set<number>(Object.values(VfioUserCommand));

/**
 * Reads a header without validating it.
 * @param bytes - at least 16 bytes
 * @returns the fields
 * @throws VfioUser.PartialMessageError when fewer than 16 bytes are given
 * @example `const h = readHeader(message);`
 */
export function readHeader(bytes: Uint8Array): VfioUserHeader {
  if (bytes.byteLength < VFIO_USER_HEADER_SIZE) throw new PartialMessageError({ part: 'header', received: bytes.byteLength });
  const v = new DataView(bytes.buffer, bytes.byteOffset, VFIO_USER_HEADER_SIZE);
  return { id: v.getUint16(0, true), command: v.getUint16(2, true), size: v.getUint32(4, true), flags: v.getUint32(8, true), error: v.getUint32(12, true) };
}

/**
 * Writes a header at the start of `bytes`.
 * @param bytes - at least 16 bytes
 * @param header - the fields
 * @example `writeHeader(out, { id, command, size: out.length, flags: HeaderFlags.REPLY, error: 0 });`
 */
export function writeHeader(bytes: Uint8Array, header: VfioUserHeader): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, VFIO_USER_HEADER_SIZE);
  v.setUint16(0, header.id, true);
  v.setUint16(2, header.command, true);
  v.setUint32(4, header.size, true);
  v.setUint32(8, header.flags, true);
  v.setUint32(12, header.error, true);
}

/**
 * The framing rules every received header must pass before its body is read: a size of at
 * least 16 and at most `maxMessageSize`, and the type of a command or a reply. Breaking one
 * loses the stream (the connection ends).
 * @param header - the fields read
 * @param maxMessageSize - the largest message accepted
 * @throws VfioUser.InvalidHeaderError, VfioUser.OversizedMessageError
 * @example `validateFrame(readHeader(head), session.maxMessageSize);`
 */
export function validateFrame(header: VfioUserHeader, maxMessageSize: number): void {
  if (header.size < VFIO_USER_HEADER_SIZE) throw new InvalidHeaderError({ size: header.size, reason: 'size below the header' });
  const type = header.flags & HeaderFlags.TYPE_MASK;
  if (type !== HeaderFlags.COMMAND && type !== HeaderFlags.REPLY) throw new InvalidHeaderError({ flags: header.flags, reason: 'unknown message type' });
  if (header.size > maxMessageSize) throw new OversizedMessageError({ command: header.command, size: header.size, max: maxMessageSize });
}

/**
 * Whether a framed header is a reply (else a command).
 * @param header - a header that passed {@link validateFrame}
 * @returns true for a reply
 * @example `if (isReply(h)) settle(h.id);`
 */
export function isReply(header: VfioUserHeader): boolean {
  return (header.flags & HeaderFlags.TYPE_MASK) === HeaderFlags.REPLY;
}

/**
 * Whether the command asks for no reply (No_reply bit).
 * @param header - a command header
 * @returns true when no reply is wanted
 * @example `if (!wantsNoReply(h)) send(reply);`
 */
export function wantsNoReply(header: VfioUserHeader): boolean {
  return (header.flags & HeaderFlags.NO_REPLY) !== 0;
}

/**
 * The rules of a command header beyond framing: no flag bits but No_reply, a zero error field,
 * and a command the protocol defines.
 * @param header - a framed command header
 * @throws VfioUser.InvalidFlagsError, VfioUser.UnknownCommandError
 * @example `validateCommandHeader(h);`
 */
export function validateCommandHeader(header: VfioUserHeader): void {
  if ((header.flags & ~(HeaderFlags.TYPE_MASK | HeaderFlags.NO_REPLY)) !== 0) {
    throw new InvalidFlagsError({ flags: header.flags, reason: 'flags other than No_reply on a command' });
  }
  if (header.error !== 0) throw new InvalidFlagsError({ error: header.error, reason: 'error field set on a command' });
  if (!KNOWN_COMMANDS.has(header.command)) throw new UnknownCommandError(header.command);
}
