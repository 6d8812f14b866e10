/**
 * Errors of @vmv/input. The guest never produces one: a bad buffer is counted and returned empty
 * (see `InputStats`). They come from the host: a device description that evdev could not
 * report. Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/**
 * Base class of every @vmv/input error.
 * @example
 * ```ts
 * try { validateDescription(json); } catch (e) { if (isInputError(e)) console.error(e.message); }
 * ```
 */
export class InputError extends VmvError {
  override readonly name: string = 'Input.Error';
}

/**
 * A device description that cannot be served: a name too long, a code past its type's count,
 * an absolute axis without its range, min above max, a value out of its field's range.
 * `path` names the field (`events.EV_KEY[3]`, `abs.ABS_X.max`).
 */
export class InvalidDescriptionError extends InputError {
  override readonly name = 'Input.InvalidDescriptionError' as const;
  /** The field at fault, as a path into the description. */
  readonly path: string;
  /**
   * @param path - the field at fault.
   * @param problem - what is wrong with it.
   * @param options - cause.
   */
  constructor(path: string, problem: string, options: VmvErrorOptions = {}) {
    super('INVALID_DESCRIPTION', `Invalid input device description: ${path}: ${problem}`, options);
    this.path = path;
  }
}

/** Every error name this package produces. @example `INPUT_ERROR_NAMES.includes(e.name)` */
export const INPUT_ERROR_NAMES = ['Input.Error', 'Input.InvalidDescriptionError'] as const;
/** One of {@link INPUT_ERROR_NAMES}. @example `const n: InputErrorName = 'Input.InvalidDescriptionError';` */
export type InputErrorName = (typeof INPUT_ERROR_NAMES)[number];

/**
 * Whether `e` is an error of this package (optionally of one name).
 * @param e - anything caught.
 * @param name - a specific error name.
 * @returns true if `e` is such an error.
 * @example
 * ```ts
 * if (isInputError(e, 'Input.InvalidDescriptionError')) console.error(e.path);
 * ```
 */
export const isInputError: ErrorGuard<InputError, InputErrorName> = errorGuard('Input', INPUT_ERROR_NAMES);
