/**
 * {@link CanFrame}: a frame as the host side of the bus handles it (VIRTIO 1.4 §5.20.5.2 and
 * §5.20.5.3 carry the same fields on the wire), its checks, and its text form, the one of
 * can-utils (`cansend`, `candump -L`): `123#DEADBEEF`, `12345678#R4`, `123##0` followed by FD data.
 * @module
 */
import { CAN_FD_LENGTHS, CanLayout } from './constants.js';

/**
 * A CAN frame. `data.length` is the frame's length: up to 8 bytes for a classic frame, one of
 * {@link CAN_FD_LENGTHS} for a CAN FD frame. A remote transmission request carries no data: its
 * `data` is as many zero bytes as the length (DLC, up to 8) it asks for.
 * @example `{ id: 0x123, data: Uint8Array.of(0xde, 0xad) }`
 */
export interface CanFrame {
  /** The identifier: 11 bits (up to 0x7ff), or 29 bits when `extended`. */
  readonly id: number;
  /** A 29-bit identifier (CAN 2.0B). */
  readonly extended?: boolean;
  /** A CAN FD frame. */
  readonly fd?: boolean;
  /** A remote transmission request (classic only). */
  readonly rtr?: boolean;
  /** The data (zeros for an RTR frame). */
  readonly data: Uint8Array;
}

/**
 * Why a frame is not one the bus can carry, or null when it is.
 * @param frame - any value.
 * @returns the problem in words, or null.
 * @example `frameProblem({ id: 0x800, data: new Uint8Array(0) }) // 'a standard id is at most 0x7ff'`
 */
export function frameProblem(frame: unknown): string | null {
  if (typeof frame !== 'object' || frame === null) return 'a frame is an object';
  const f = frame as Partial<Record<keyof CanFrame, unknown>>;
  if (!(f.data instanceof Uint8Array)) return 'data must be a Uint8Array';
  for (const k of ['extended', 'fd', 'rtr'] as const) if (f[k] !== undefined && typeof f[k] !== 'boolean') return `${k} must be a boolean`;
  const max = f.extended === true ? CanLayout.EXTENDED_ID_MAX : CanLayout.STANDARD_ID_MAX;
  if (typeof f.id !== 'number' || !Number.isInteger(f.id) || f.id < 0 || f.id > max) return `${f.extended === true ? 'an extended' : 'a standard'} id is an integer up to 0x${max.toString(16)}`;
  const length = f.data.length;
  if (f.fd === true) {
    if (f.rtr === true) return 'CAN FD has no remote frames';
    if (!CAN_FD_LENGTHS.includes(length)) return `a CAN FD frame's length is one of ${CAN_FD_LENGTHS.join(', ')}`;
  } else if (length > CanLayout.CLASSIC_MAX_LENGTH) return 'a classic frame has at most 8 data bytes';
  if (f.rtr === true && f.data.some((b) => b !== 0)) return 'an RTR frame carries no data: its data are zeros';
  return null;
}

/**
 * A frozen copy of a frame the bus can carry.
 * @param frame - the frame.
 * @param label - how messages name the caller.
 * @returns the copy (its data copied too).
 * @throws TypeError or RangeError (labelled) when the frame is not one the bus can carry.
 * @example `const f = checkFrame({ id: 0x123, data: Uint8Array.of(1) }, 'send');`
 */
export function checkFrame(frame: CanFrame, label: string): CanFrame {
  const problem = frameProblem(frame);
  if (problem !== null) throw (typeof frame !== 'object' || frame === null || !((frame as { data?: unknown }).data instanceof Uint8Array) ? new TypeError(`${label}: ${problem}`) : new RangeError(`${label}: ${problem}`));
  return Object.freeze({ id: frame.id, extended: frame.extended === true, fd: frame.fd === true, rtr: frame.rtr === true, data: frame.data.slice() });
}

const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');

/**
 * A frame in can-utils' text form: `123#0102` (classic), `12345678#...` (extended: 8 digits),
 * `123#R` or `123#R4` (RTR, with its length when not 0), `123##0` then the data (CAN FD; the flags
 * digit is 0, virtio-can carries neither BRS nor ESI).
 * @param frame - a frame the bus can carry.
 * @returns the text.
 * @example `formatFrame({ id: 0x123, data: Uint8Array.of(0xde, 0xad) }) // '123#DEAD'`
 */
export function formatFrame(frame: CanFrame): string {
  const id = frame.extended === true ? frame.id.toString(16).toUpperCase().padStart(8, '0') : frame.id.toString(16).toUpperCase().padStart(3, '0');
  if (frame.rtr === true) return `${id}#R${frame.data.length === 0 ? '' : frame.data.length}`;
  let data = '';
  for (const b of frame.data) data += hex(b);
  return frame.fd === true ? `${id}##0${data}` : `${id}#${data}`;
}

/**
 * Parses can-utils' text form of a frame (what `cansend` takes): 3 hex digits for a standard id,
 * 8 for an extended one; data as hex bytes, optionally separated by dots; `#R` with an optional
 * length digit for an RTR frame; `##F` (one hex flags digit, BRS and ESI: not carried by
 * virtio-can and dropped) before the data of a CAN FD frame. Not accepted: CAN XL, error frames
 * (an id with bit 29 set), len8_dlc.
 * @param text - the text.
 * @returns the frame.
 * @throws RangeError (labelled) for text that is not such a frame.
 * @example `parseFrame('1F334455#1122334455667788').extended // true`
 */
export function parseFrame(text: string): CanFrame {
  const m = /^([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#(?:(R)([0-8])?|#([0-9A-Fa-f])((?:[0-9A-Fa-f]{2}\.?)*)|((?:[0-9A-Fa-f]{2}\.?)*))$/.exec(typeof text === 'string' ? text.trim() : '');
  if (m === null) throw new RangeError(`parseFrame: not a frame (ID#DATA, ID#R[LEN], ID##FLAGS DATA; ID 3 or 8 hex digits): ${JSON.stringify(text)}`);
  const extended = m[1]!.length === 8;
  const id = parseInt(m[1]!, 16);
  const bytes = (s: string) => Uint8Array.from(s.replace(/\./g, '').match(/../g) ?? [], (b) => parseInt(b, 16));
  let frame: CanFrame;
  if (m[2] !== undefined) frame = { id, extended, rtr: true, data: new Uint8Array(Number(m[3] ?? 0)) };
  else if (m[4] !== undefined) frame = { id, extended, fd: true, data: bytes(m[5] ?? '') };
  else frame = { id, extended, data: bytes(m[6] ?? '') };
  const problem = frameProblem(frame);
  if (problem !== null) throw new RangeError(`parseFrame: ${problem}: ${JSON.stringify(text)}`);
  return checkFrame(frame, 'parseFrame');
}
