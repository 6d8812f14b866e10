/**
 * Errors of @vmv/rng. Guest input never produces one: a chain the device cannot fill is answered
 * as VIRTIO 1.2 §5.4 says. They come from the entropy source (it failed, ran out, or returned
 * something other than bytes) and reach the embedder through `onSourceError`. Guards test
 * `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/** Options common to every @vmv/rng error. @example `new RngError('X', 'summary', { details: 'why' })` */
export type RngErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/rng error.
 * @example
 * ```ts
 * new RngDevice({ onSourceError: (e) => { if (isRngError(e)) console.error(e.code, e.details); } });
 * ```
 */
export class RngError extends VmvError {
  override readonly name: string = 'Rng.Error';
}

/**
 * The entropy source threw, rejected, or returned something other than a `Uint8Array`.
 */
export class SourceError extends RngError {
  override readonly name = 'Rng.SourceError' as const;
  /**
   * @param details - what went wrong.
   * @param cause - the underlying error, if any.
   */
  constructor(details: string, cause?: unknown) {
    super('SOURCE_ERROR', 'The entropy source failed', { details, cause });
  }
}

/**
 * The entropy source returned no bytes: it ran out (a regular file read to its end).
 */
export class SourceExhaustedError extends RngError {
  override readonly name = 'Rng.SourceExhaustedError' as const;
  /** @param details - which source, after how many bytes. */
  constructor(details: string) {
    super('SOURCE_EXHAUSTED', 'The entropy source ran out', { details });
  }
}

/** Every error name @vmv/rng can produce. @example `RNG_ERROR_NAMES.includes(e.name)` */
export const RNG_ERROR_NAMES = ['Rng.Error', 'Rng.SourceError', 'Rng.SourceExhaustedError'] as const;
/** One of {@link RNG_ERROR_NAMES}. @example `const n: RngErrorName = 'Rng.SourceError';` */
export type RngErrorName = (typeof RNG_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/rng error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isRngError(e, 'Rng.SourceExhaustedError')) console.error('the entropy file ran out');
 * ```
 */
export const isRngError: ErrorGuard<RngError, RngErrorName> = errorGuard('Rng', RNG_ERROR_NAMES);
