/**
 * The one error base class of @vmv. Every package derives its own base from it
 * (`class QueueError extends VmvError`, name `'Queue.Error'`) and its subclasses from that
 * (`'Queue.InvalidSizeError'`). Guards test `name`, never `instanceof`: two copies of a package
 * in one program (a bundler duplicate, ESM next to CommonJS) break `instanceof`, never a name.
 * @module
 */

/**
 * Options of every {@link VmvError} constructor.
 * @example
 * ```ts
 * const options: VmvErrorOptions = { details: 'head 300 >= size 256', cause: err };
 * ```
 */
export interface VmvErrorOptions {
  /** Longer explanation for logs: the values involved. Appended to `message`. */
  readonly details?: string | undefined;
  /** The error this one wraps (for example a `GuestMemory.*` error under a `Queue.*` one). */
  readonly cause?: unknown;
}

/**
 * Base class of every error a `@vmv` package throws. `name` is `'<Pkg>.Error'` for a package's own
 * base and `'<Pkg>.<Something>Error'` for its subclasses; `code` is a stable UPPER_SNAKE string;
 * `message` is `shortMessage`, plus `\n\nDetails: <details>` when there are details. Facts a
 * program may act on are typed readonly fields of the subclass, not text in `details`.
 *
 * @example
 * ```ts
 * export class QueueError extends VmvError {
 *   override readonly name: string = 'Queue.Error';
 * }
 * export class NotReadyError extends QueueError {
 *   override readonly name = 'Queue.NotReadyError' as const;
 *   constructor() { super('NOT_READY', 'Queue is not ready'); }
 * }
 * new NotReadyError().message; // 'Queue is not ready'
 * ```
 */
export abstract class VmvError extends Error {
  /** `'<Pkg>.Error'` or `'<Pkg>.<Something>Error'`: what guards test. */
  abstract override readonly name: string;
  /** Stable machine-readable code in UPPER_SNAKE case, e.g. `INVALID_AVAIL_INDEX`. */
  readonly code: string;
  /** One line saying what went wrong, without details. */
  readonly shortMessage: string;
  /** Longer explanation, when there is one. */
  readonly details: string | undefined;

  /**
   * @param code - stable machine-readable code (UPPER_SNAKE).
   * @param shortMessage - one line saying what went wrong.
   * @param options - details and cause.
   */
  constructor(code: string, shortMessage: string, options: VmvErrorOptions = {}) {
    const details = options.details === '' ? undefined : options.details;
    super(details === undefined ? shortMessage : `${shortMessage}\n\nDetails: ${details}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = details;
  }
}
