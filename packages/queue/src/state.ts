/**
 * Validation helpers for saved queue state ({@link QueueState}): plain JSON data from anywhere
 * (a migration stream, a vhost-user frontend), so every field is checked before use.
 * @module
 */
import { InvalidStateError } from './errors.js';
import type { GuestAddress, RingFormat } from './types.js';

/** A parsed state object with its fields not yet checked. */
export type LooseState = Record<string, unknown>;

/**
 * Checks that `state` is an object of the given format.
 * @throws Queue.InvalidStateError otherwise.
 */
export function checkStateObject(state: unknown, format?: RingFormat): LooseState {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new InvalidStateError('state must be an object');
  const s = state as LooseState;
  if (s.format !== 'split' && s.format !== 'packed') throw new InvalidStateError(`format must be 'split' or 'packed', got ${String(s.format)}`);
  if (format !== undefined && s.format !== format) throw new InvalidStateError(`format ${s.format} does not match the queue's ${format}`);
  return s;
}

/** An address for a state object: a number below 2^53, a decimal string above. */
export function addressToState(addr: GuestAddress): number | string {
  return typeof addr === 'number' ? addr : addr.toString();
}

/**
 * Parses an address from a state object.
 * @throws Queue.InvalidStateError when it is not a u64.
 */
export function addressFromState(v: unknown, field: string): GuestAddress {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v;
  } else if (typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) {
    const b = BigInt(v);
    if (b <= 0xffffffffffffffffn) return b < 2n ** 53n ? Number(b) : b;
  }
  throw new InvalidStateError(`${field} must be a u64 (a number below 2^53 or a decimal string), got ${String(v)}`);
}

/** @throws Queue.InvalidStateError when `v` is not a boolean. */
export function stateBool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new InvalidStateError(`${field} must be a boolean, got ${String(v)}`);
  return v;
}

/** @throws Queue.InvalidStateError when `v` is not an integer in 0..max. */
export function stateInt(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new InvalidStateError(`${field} must be an integer in 0..${max}, got ${String(v)}`);
  return v;
}

/** @throws Queue.InvalidStateError when `v` is not a u16. */
export function stateU16(v: unknown, field: string): number {
  return stateInt(v, field, 0xffff);
}
