/**
 * The host side of the PCM streams (VIRTIO 1.2 §5.14.6.8): a {@link SoundBackend} takes the frames
 * the guest plays and gives the frames it captures, per stream, and hears the stream's lifecycle;
 * the clock ({@link SoundClock}) paces both at the stream's rate. {@link nullBackend} discards
 * playback and captures silence; file and Node stream backends are at `@vmv/sound/node`.
 * @module
 */
import { Format } from './constants.js';

/**
 * The parameters a stream was prepared with (from PCM_SET_PARAMS).
 * @example `const bytesPerSecond = p.frameBytes * p.rate;`
 */
export interface PcmParams {
  /** VIRTIO_SND_PCM_FMT_* code. */
  readonly format: number;
  /** Frames per second. */
  readonly rate: number;
  /** Channels per frame (interleaved samples). */
  readonly channels: number;
  /** Bytes of one frame. */
  readonly frameBytes: number;
  /** buffer_bytes: the size of the driver's hardware buffer; no I/O message is larger. */
  readonly bufferBytes: number;
  /** period_bytes: the size of one period, the I/O message size the driver should use (divides bufferBytes). */
  readonly periodBytes: number;
}

/**
 * Where the frames of every stream go (playback) and come from (capture). Calls for one stream
 * never overlap: the device waits for `done` before the next `write` or `read` of that stream,
 * and holds the guest's buffers meanwhile (back-pressure: nothing is dropped or buffered without
 * bound). `done` may be called at once or later; a `done` after the stream was released or the
 * device reset is ignored. Methods must not throw; an error is given to `done`.
 * @example
 * ```ts
 * const sink: SoundBackend = {
 *   write: (stream, frames, done) => { chunks.push(frames); done(); },
 *   read: (stream, into, done) => { into.fill(0); done(); },
 * };
 * ```
 */
export interface SoundBackend {
  /**
   * Frames the guest played on output stream `stream` (a copy: the backend may keep it).
   * @param stream - the stream id.
   * @param frames - the bytes, exactly as the guest wrote them.
   * @param done - call once the frames are taken (an error: the buffer is answered IO_ERR).
   */
  write(stream: number, frames: Uint8Array, done: (error?: unknown) => void): void;
  /**
   * Fill `into` with captured frames for input stream `stream`.
   * @param stream - the stream id.
   * @param into - to fill completely (valid until `done` is called).
   * @param done - call once `into` is filled (an error: the buffer is answered IO_ERR).
   */
  read(stream: number, into: Uint8Array, done: (error?: unknown) => void): void;
  /** The stream was prepared with `params` (PCM_PREPARE). */
  prepare?(stream: number, params: PcmParams): void;
  /** The stream starts (PCM_START). */
  start?(stream: number): void;
  /** The stream stops (PCM_STOP): no frames go or come until the next start. */
  stop?(stream: number): void;
  /** The stream was released (PCM_RELEASE, or a device reset): its resources may go. */
  release?(stream: number): void;
  /** Bytes the backend holds of `stream` beyond what the device completed (reported as latency_bytes). */
  latencyBytes?(stream: number): number;
}

/**
 * One stream's end of a {@link routeStreams} backend: a sink (output: `write`) or a source
 * (input: `read`), with the lifecycle hooks of {@link SoundBackend} for its stream alone.
 * @example `const sink: PcmEndpoint = { write: (frames, done) => { chunks.push(frames); done(); } };`
 */
export interface PcmEndpoint {
  /** Output: takes the frames (see {@link SoundBackend.write}). */
  write?(frames: Uint8Array, done: (error?: unknown) => void): void;
  /** Input: fills `into` (see {@link SoundBackend.read}). */
  read?(into: Uint8Array, done: (error?: unknown) => void): void;
  /** The stream was prepared with `params` (see {@link SoundBackend.prepare}). */
  prepare?(params: PcmParams): void;
  /** The stream starts (see {@link SoundBackend.start}). */
  start?(): void;
  /** The stream stops (see {@link SoundBackend.stop}). */
  stop?(): void;
  /** The stream was released (see {@link SoundBackend.release}). */
  release?(): void;
  /** Bytes held beyond what the device completed (see {@link SoundBackend.latencyBytes}). */
  latencyBytes?(): number;
}

/**
 * A backend made of one endpoint per stream (a WAV file for stream 0, a Node stream for 1, ...);
 * a stream without one behaves as {@link nullBackend}'s, and so does an endpoint without the
 * method its direction needs.
 * @param endpoints - stream id to endpoint.
 * @returns the backend.
 * @example `new SoundDevice({ backend: routeStreams({ 0: await WavFileWriter.create('out.wav') }) })`
 */
export function routeStreams(endpoints: Readonly<Record<number, PcmEndpoint>>): SoundBackend {
  const fallback = nullBackend();
  const at = (stream: number): PcmEndpoint | undefined => (Object.prototype.hasOwnProperty.call(endpoints, stream) ? endpoints[stream] : undefined);
  return {
    write: (stream, frames, done) => {
      const e = at(stream);
      if (e?.write !== undefined) e.write(frames, done);
      else fallback.write(stream, frames, done);
    },
    read: (stream, into, done) => {
      const e = at(stream);
      if (e?.read !== undefined) e.read(into, done);
      else fallback.read(stream, into, done);
    },
    prepare: (stream, params) => {
      fallback.prepare!(stream, params);
      at(stream)?.prepare?.(params);
    },
    start: (stream) => at(stream)?.start?.(),
    stop: (stream) => at(stream)?.stop?.(),
    release: (stream) => at(stream)?.release?.(),
    latencyBytes: (stream) => at(stream)?.latencyBytes?.() ?? 0,
  };
}

/**
 * Discards playback and captures silence (the format's zero level: 0x80 for U8, 0 for signed
 * formats, the midpoint for unsigned ones), both at the stream's real rate (the device paces).
 * @example `new SoundDevice({ backend: nullBackend() })`
 */
export function nullBackend(): SoundBackend {
  const silence = new Map<number, number>();
  return {
    write: (_stream, _frames, done) => done(),
    read: (stream, into, done) => {
      fillSilence(into, silence.get(stream) ?? Format.S16);
      done();
    },
    prepare: (stream, params) => void silence.set(stream, params.format),
  };
}

/**
 * Fills `into` with silence in `format`: zero for signed, float and A-law/µ-law formats' own
 * zero codes, the midpoint for unsigned ones (little-endian: the top byte 0x80).
 * @param into - the bytes.
 * @param format - a VIRTIO_SND_PCM_FMT_* code.
 * @example `fillSilence(buffer, Format.U8) // 0x80 bytes`
 */
export function fillSilence(into: Uint8Array, format: number): void {
  switch (format) {
    case Format.U8:
      into.fill(0x80);
      return;
    case Format.MU_LAW:
      into.fill(0xff);
      return;
    case Format.A_LAW:
      into.fill(0xd5);
      return;
    case Format.U16:
      return fillPattern(into, [0x00, 0x80]);
    case Format.U18_3:
      return fillPattern(into, [0x00, 0x00, 0x02]);
    case Format.U20_3:
      return fillPattern(into, [0x00, 0x00, 0x08]);
    case Format.U24_3:
      return fillPattern(into, [0x00, 0x00, 0x80]);
    case Format.U20:
      return fillPattern(into, [0x00, 0x00, 0x08, 0x00]);
    case Format.U24:
      return fillPattern(into, [0x00, 0x00, 0x80, 0x00]);
    case Format.U32:
      return fillPattern(into, [0x00, 0x00, 0x00, 0x80]);
    default:
      into.fill(0);
  }
}

function fillPattern(into: Uint8Array, pattern: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i] = pattern[i % pattern.length]!;
}

/**
 * Where the device reads the time and sets its timers (milliseconds), so that pacing can be
 * driven by a fake clock in tests.
 * @example
 * ```ts
 * const clock: SoundClock = { now: () => performance.now(), setTimer: (ms, fn) => { const t = setTimeout(fn, ms); return () => clearTimeout(t); } };
 * ```
 */
export interface SoundClock {
  /** The current time in milliseconds (monotonic). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds (0 or more); returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** The runtime's clock: `performance.now()` and `setTimeout` (rounded up to whole milliseconds), as browsers and Node have them. @example `new SoundDevice({ clock: systemClock })` */
export const systemClock: SoundClock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => {
    // whole milliseconds, rounded up: a timer never fires before its time
    const t = setTimeout(fn, Math.ceil(ms));
    return () => clearTimeout(t);
  },
};
