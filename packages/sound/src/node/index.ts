/**
 * @packageDocumentation
 * `@vmv/sound/node`: stream endpoints for Node, to use with `routeStreams`: WAV files
 * ({@link WavFileWriter} for playback, {@link WavFileReader} for capture) and Node streams with
 * back-pressure ({@link WritableSink}, {@link ReadableSource}), and the system's sound through
 * `aplay` and `arecord` ({@link PlaybackProcess}, {@link CaptureProcess}).
 */
export { WAV_HEADER_SIZE, WavFileReader, WavFileWriter, parseWavHeader, wavHeader } from './wav.js';
export type { WavFormat } from './wav.js';
export { ReadableSource, WritableSink } from './streams.js';
export { CaptureProcess, PlaybackProcess, alsaArgs } from './subprocess.js';
export type { AlsaProcessOptions } from './subprocess.js';
