/**
 * @packageDocumentation
 * `@vmv/sound/node`: stream endpoints for Node, to use with `routeStreams`: WAV files
 * ({@link WavFileWriter} for playback, {@link WavFileReader} for capture) and Node streams with
 * back-pressure ({@link WritableSink}, {@link ReadableSource}).
 */
export { WAV_HEADER_SIZE, WavFileReader, WavFileWriter, parseWavHeader, wavHeader } from './wav.js';
export type { WavFormat } from './wav.js';
export { ReadableSource, WritableSink } from './streams.js';
