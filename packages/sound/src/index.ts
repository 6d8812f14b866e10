/**
 * @packageDocumentation
 * virtio-snd (VIRTIO 1.2 §5.14, sound device) for @vmv: a transport-independent
 * {@link SoundDevice} with any layout of PCM streams, jacks, channel maps and control elements,
 * the PCM command lifecycle checked request by request, playback and capture paced at each
 * stream's real rate by an injectable {@link SoundClock}, xruns reported as events, and the frames
 * going to and coming from a {@link SoundBackend} ({@link nullBackend} here; WAV files and Node
 * streams at `@vmv/sound/node`).
 */
export { SoundDevice } from './device.js';
export type { SoundDeviceOptions, SoundStats } from './device.js';
export { PcmStream, PcmState, PCM_TRANSITIONS } from './stream.js';
export type { PcmCommand, PcmStateName, PcmStats } from './stream.js';
export { VOLUME_MAX, frameBytes, validateLayout } from './layout.js';
export type { ChmapLayout, JackLayout, SoundLayout, StreamLayout, ValidChmap, ValidControl, ValidJack, ValidLayout, ValidStream } from './layout.js';
export { fillSilence, nullBackend, routeStreams, systemClock } from './backend.js';
export type { PcmEndpoint, PcmParams, SoundBackend, SoundClock } from './backend.js';
export {
  CHMAP_MAX_SIZE,
  ChannelPosition,
  ControlAccess,
  ControlEventMask,
  ControlRole,
  ControlType,
  Direction,
  Event,
  FORMAT_BITS,
  Format,
  JackFeature,
  PCM_FEATURES_DEFINED,
  PcmFeature,
  RATE_HZ,
  Request,
  Size,
  SoundFeature,
  SoundQueue,
  SoundStatus,
} from './constants.js';
export type { ChannelPositionName, DirectionValue, FormatName } from './constants.js';
export { BackendError, SOUND_ERROR_NAMES, SoundError, isSoundError } from './errors.js';
export type { SoundErrorName, SoundErrorOptions } from './errors.js';
