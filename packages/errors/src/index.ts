/**
 * @packageDocumentation
 * The one error shape of @vmv: a base class ({@link VmvError}) every package's errors derive
 * from, and a guard factory ({@link errorGuard}) that recognises a package's errors by name prefix.
 */
export { VmvError } from './vmv-error.js';
export type { VmvErrorOptions } from './vmv-error.js';
export { errorGuard } from './guard.js';
export type { ErrorGuard } from './guard.js';
