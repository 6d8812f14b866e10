/**
 * The guard factory: one `is<Pkg>Error(e, name?)` per package, matching by name prefix.
 * @module
 */
import type { VmvError } from './vmv-error.js';

/**
 * A package's error guard: whether `e` is an error of that package, optionally of one name.
 * @example
 * ```ts
 * const isQueueError: ErrorGuard<QueueError, QueueErrorName> = errorGuard('Queue', QUEUE_ERROR_NAMES);
 * ```
 */
export type ErrorGuard<T extends VmvError, N extends string> = (e: unknown, name?: N) => e is T;

/**
 * Makes a package's error guard. The guard accepts any object whose `name` starts with
 * `'<prefix>.'` (so an error from another copy of the package, or one the package adds in a later
 * version, is still recognised), and with `name` given, only that exact name. It never uses
 * `instanceof`.
 *
 * @param prefix - the package's name prefix, such as `'Queue'` (no dot).
 * @param names - every error name of the package (its `<PKG>_ERROR_NAMES`); each must start with
 *   `'<prefix>.'`.
 * @returns the guard.
 * @throws RangeError when the prefix is empty or has a dot, or a name lacks the prefix.
 * @example
 * ```ts
 * export const isQueueError = errorGuard<QueueError, QueueErrorName>('Queue', QUEUE_ERROR_NAMES);
 * isQueueError(new Error('x')); // false
 * ```
 */
export function errorGuard<T extends VmvError, N extends string>(prefix: string, names: readonly N[]): ErrorGuard<T, N> {
  if (typeof prefix !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(prefix)) throw new RangeError(`errorGuard: prefix must be a PascalCase word without a dot, got ${String(prefix)}`);
  const start = `${prefix}.`;
  for (const n of names) {
    if (typeof n !== 'string' || !n.startsWith(start)) throw new RangeError(`errorGuard: error name ${String(n)} does not start with ${start}`);
  }
  return (e: unknown, name?: N): e is T => {
    if (typeof e !== 'object' || e === null) return false;
    const n = (e as { name?: unknown }).name;
    if (typeof n !== 'string' || !n.startsWith(start)) return false;
    return name === undefined || n === name;
  };
}
