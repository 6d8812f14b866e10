/**
 * @packageDocumentation
 * Argument checks for embedder misuse: TypeError for a wrong type, RangeError for a bad value,
 * each with a labelled message. Internal.
 */

/** Largest fd number Linux can hand out (INT_MAX). */
const FD_MAX = 0x7fffffff;

/** @internal */
export function assertFd(fd: unknown, label: string): asserts fd is number {
  if (typeof fd !== 'number') throw new TypeError(`${label}: fd must be a number, got ${typeof fd}`);
  if (!Number.isInteger(fd) || fd < 0 || fd > FD_MAX) throw new RangeError(`${label}: fd must be an integer in [0, ${FD_MAX}], got ${fd}`);
}

/** @internal */
export function assertInteger(value: unknown, label: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${label} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${label} must be an integer in [${min}, ${max}], got ${value}`);
}

/** @internal */
export function assertFunction(value: unknown, label: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${label} must be a function, got ${typeof value}`);
}

/** @internal */
export function assertBytes(value: unknown, label: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${label} must be a Uint8Array`);
}

/** @internal */
export function assertString(value: unknown, label: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${label} must be a string, got ${typeof value}`);
}

/** @internal */
export function assertOptions(value: unknown, label: string): void {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw new TypeError(`${label}: options must be an object`);
}
