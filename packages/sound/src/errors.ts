/**
 * Errors of @vmv/sound. Guest input never produces one: a request the guest gets wrong is
 * answered with a virtio-snd status (VIRTIO 1.2 §5.14.6: BAD_MSG, NOT_SUPP, IO_ERR). They come
 * from the host side (a backend that failed a write or a read) and reach the embedder through
 * `onError`; the I/O message it concerned is answered IO_ERR. Guards test `name`, never `instanceof`.
 * @module
 */
import { VmvError, errorGuard } from '@vmv/errors';
import type { ErrorGuard, VmvErrorOptions } from '@vmv/errors';

/** Options common to every @vmv/sound error. @example `new SoundError('X', 'summary', { details: 'why' })` */
export type SoundErrorOptions = VmvErrorOptions;

/**
 * Base class of every @vmv/sound error.
 * @example
 * ```ts
 * new SoundDevice({ onError: (e) => { if (isSoundError(e)) console.error(e.code, e.details); } });
 * ```
 */
export class SoundError extends VmvError {
  override readonly name: string = 'Sound.Error';
}

/**
 * A backend failed to take or give a stream's frames.
 */
export class BackendError extends SoundError {
  override readonly name = 'Sound.BackendError' as const;
  /**
   * @param stream - the stream id.
   * @param cause - what the backend gave `done`.
   */
  constructor(readonly stream: number, cause: unknown) {
    super('BACKEND_ERROR', `The backend of stream ${stream} failed`, { details: cause instanceof Error ? cause.message : String(cause), cause });
  }
}

/** Every error name @vmv/sound can produce. @example `SOUND_ERROR_NAMES.includes(e.name)` */
export const SOUND_ERROR_NAMES = ['Sound.Error', 'Sound.BackendError'] as const;
/** One of {@link SOUND_ERROR_NAMES}. @example `const n: SoundErrorName = 'Sound.BackendError';` */
export type SoundErrorName = (typeof SOUND_ERROR_NAMES)[number];

/**
 * Whether `e` is a @vmv/sound error, optionally of one name.
 * @param e - anything caught.
 * @param name - a specific error name to match.
 * @returns true when `e` is such an error.
 * @example
 * ```ts
 * if (isSoundError(e, 'Sound.BackendError')) console.error(`stream ${e.stream}: ${e.details}`);
 * ```
 */
export const isSoundError: ErrorGuard<SoundError, SoundErrorName> = errorGuard('Sound', SOUND_ERROR_NAMES);
