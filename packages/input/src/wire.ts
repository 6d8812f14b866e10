/**
 * `struct virtio_input_event` as bytes (VIRTIO 1.2 §5.8.6): le16 type, le16 code, le32 value.
 * @module
 */
import { EVENT_SIZE } from './constants.js';
import type { InputEvent } from './event-queue.js';

/**
 * The 8 bytes of an event.
 * @param e - the event (value signed or unsigned 32-bit).
 * @returns the bytes.
 * @example `encodeEvent({ type: 1, code: 30, value: 1 }) // 01 00 1e 00 01 00 00 00`
 */
export function encodeEvent(e: InputEvent): Uint8Array {
  const b = new Uint8Array(EVENT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint16(0, e.type, true);
  v.setUint16(2, e.code, true);
  v.setInt32(4, e.value | 0, true);
  return b;
}

/**
 * The event in 8 bytes.
 * @param b - at least 8 bytes.
 * @param offset - where the event starts (default 0).
 * @returns the event, value signed.
 * @throws RangeError when fewer than 8 bytes follow `offset`.
 * @example `decodeEvent(bytes).code`
 */
export function decodeEvent(b: Uint8Array, offset = 0): InputEvent {
  if (offset < 0 || offset + EVENT_SIZE > b.length) throw new RangeError(`decodeEvent: 8 bytes needed at ${offset}, have ${b.length - offset}`);
  const v = new DataView(b.buffer, b.byteOffset + offset, EVENT_SIZE);
  return { type: v.getUint16(0, true), code: v.getUint16(2, true), value: v.getInt32(4, true) };
}
