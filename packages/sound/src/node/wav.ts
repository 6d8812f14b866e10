/**
 * WAV files as stream endpoints (for VIRTIO 1.2 §5.14.6.8's frames): {@link WavFileWriter} writes
 * what the guest plays into a RIFF/WAVE file whose data chunk is byte for byte the frames played
 * (the canonical 44-byte header, its sizes patched at every RELEASE and at close);
 * {@link WavFileReader} gives a file's data chunk to the guest's capture, then silence. The
 * formats a plain `fmt ` chunk describes: U8, S16, S24_3, S32 (PCM) and FLOAT, FLOAT64 (IEEE float).
 * @module
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Format, RATE_HZ } from '../constants.js';
import { fillSilence } from '../backend.js';
import type { PcmEndpoint, PcmParams } from '../backend.js';

/** WAVE format tags and bit widths of the formats a 16-byte `fmt ` chunk describes. */
const WAV_FORMATS: ReadonlyMap<number, { tag: number; bits: number }> = new Map([
  [Format.U8, { tag: 1, bits: 8 }],
  [Format.S16, { tag: 1, bits: 16 }],
  [Format.S24_3, { tag: 1, bits: 24 }],
  [Format.S32, { tag: 1, bits: 32 }],
  [Format.FLOAT, { tag: 3, bits: 32 }],
  [Format.FLOAT64, { tag: 3, bits: 64 }],
]);

/** Bytes of the canonical header (RIFF, WAVE, a 16-byte fmt chunk, the data chunk header). @example `file.subarray(WAV_HEADER_SIZE) // the frames` */
export const WAV_HEADER_SIZE = 44;

/**
 * The canonical 44-byte WAV header for `dataBytes` of frames.
 * @param format - a VIRTIO_SND_PCM_FMT_* code WAV can hold (U8, S16, S24_3, S32, FLOAT, FLOAT64).
 * @param rate - frames per second.
 * @param channels - channels per frame.
 * @param dataBytes - size of the data chunk.
 * @returns the header bytes.
 * @throws RangeError for a format WAV cannot describe this way, or sizes beyond a RIFF file's u32.
 * @example `const header = wavHeader(Format.S16, 48000, 2, 192000);`
 */
export function wavHeader(format: number, rate: number, channels: number, dataBytes: number): Uint8Array {
  const f = WAV_FORMATS.get(format);
  if (f === undefined) throw new RangeError(`wavHeader: format ${format} has no plain WAVE encoding (U8, S16, S24_3, S32, FLOAT, FLOAT64 do)`);
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > 0xffff_ffff - 36) throw new RangeError(`wavHeader: ${dataBytes} data bytes do not fit a RIFF file`);
  const h = new Uint8Array(WAV_HEADER_SIZE);
  const v = new DataView(h.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) h[at + i] = s.charCodeAt(i);
  };
  const block = (channels * f.bits) / 8;
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, f.tag, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * block, true);
  v.setUint16(32, block, true);
  v.setUint16(34, f.bits, true);
  ascii(36, 'data');
  v.setUint32(40, dataBytes, true);
  return h;
}

/**
 * The playback of one output stream into a WAV file. The header takes the format of the first
 * PREPARE; frames are appended in order, each `write` done once the file has them (a slow disk
 * holds the guest's buffers); the sizes are patched at every RELEASE and at {@link close}. A
 * later PREPARE in another format, or a format WAV cannot hold, fails its writes (IO_ERR).
 * @example
 * ```ts
 * const out = await WavFileWriter.create('/tmp/played.wav');
 * const device = new SoundDevice({ backend: routeStreams({ 0: out }) });
 * // ... the guest plays, stops, releases ...
 * await out.close();
 * ```
 */
export class WavFileWriter implements PcmEndpoint {
  /** The file. */
  readonly path: string;
  /** Frame bytes in the data chunk. */
  dataBytes = 0;
  private params: PcmParams | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(path: string, private readonly handle: FileHandle) {
    this.path = path;
  }

  /**
   * Creates (or truncates) the file.
   * @param path - where to write.
   * @returns the writer.
   * @throws what `fs.open` throws.
   * @example `const out = await WavFileWriter.create('out.wav');`
   */
  static async create(path: string): Promise<WavFileWriter> {
    return new WavFileWriter(path, await open(path, 'w'));
  }

  /**
   * Takes the stream's format, rate and channels for the header at the first PREPARE; a later
   * PREPARE with other ones makes writes fail (a WAV file holds one format).
   * @param params - the stream's parameters.
   */
  prepare(params: PcmParams): void {
    if (this.params === null) {
      this.params = params;
      this.patch();
    } else if (params.format !== this.params.format || params.rate !== this.params.rate || params.channels !== this.params.channels) {
      this.mismatch = `prepared again as format ${params.format}, ${params.rate} Hz, ${params.channels} channels; the file holds format ${this.params.format}, ${this.params.rate} Hz, ${this.params.channels}`;
    } else {
      this.mismatch = null;
    }
  }

  private mismatch: string | null = null;

  write(frames: Uint8Array, done: (error?: unknown) => void): void {
    const p = this.params;
    const problem = this.closed ? 'the writer is closed' : p === null ? 'no PREPARE yet' : !WAV_FORMATS.has(p.format) ? `format ${p.format} has no plain WAVE encoding` : this.mismatch;
    if (problem !== null) {
      done(new Error(`${this.path}: ${problem}`));
      return;
    }
    const at = WAV_HEADER_SIZE + this.dataBytes;
    this.dataBytes += frames.length;
    this.enqueue(() => this.handle.write(frames, 0, frames.length, at)).then(() => done(), done);
  }

  /** RELEASE: the sizes in the header are made right (the file is a complete WAV from here). */
  release(): void {
    this.patch();
  }

  /**
   * Patches the header and closes the file.
   * @returns when it is closed.
   * @example `await out.close();`
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.patch();
    this.closed = true;
    await this.tail.catch(() => undefined);
    await this.handle.close();
  }

  private patch(): void {
    const p = this.params;
    if (p === null || this.closed || !WAV_FORMATS.has(p.format)) return;
    const header = wavHeader(p.format, p.rate, p.channels, this.dataBytes);
    void this.enqueue(() => this.handle.write(header, 0, header.length, 0)).catch(() => undefined);
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** What a WAV file's `fmt ` chunk says, as virtio-snd values. @example `const { format, rate, channels } = clip.wav;` */
export interface WavFormat {
  /** VIRTIO_SND_PCM_FMT_* code. */
  readonly format: number;
  /** Frames per second (nSamplesPerSec). */
  readonly rate: number;
  /** Channels per frame (nChannels). */
  readonly channels: number;
  /** Offset of the data chunk's bytes in the file. */
  readonly dataOffset: number;
  /** Size of the data chunk. */
  readonly dataBytes: number;
}

/**
 * Parses a WAV file's header: the `fmt ` chunk (PCM or IEEE float, or WAVE_FORMAT_EXTENSIBLE of
 * those) and where the `data` chunk is.
 * @param bytes - the file's first bytes (enough to reach the data chunk's header).
 * @returns the format.
 * @throws RangeError for a file that is not such a WAV.
 * @example `const f = parseWavHeader(await readFile('in.wav'));`
 */
export function parseWavHeader(bytes: Uint8Array): WavFormat {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ascii = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || ascii(0) !== 'RIFF' || ascii(8) !== 'WAVE') throw new RangeError('parseWavHeader: not a RIFF/WAVE file');
  let at = 12;
  let fmt: { format: number; rate: number; channels: number } | null = null;
  while (at + 8 <= bytes.length) {
    const id = ascii(at);
    const size = v.getUint32(at + 4, true);
    if (id === 'fmt ') {
      if (size < 16 || at + 8 + 16 > bytes.length) throw new RangeError('parseWavHeader: a short fmt chunk');
      let tag = v.getUint16(at + 8, true);
      const channels = v.getUint16(at + 10, true);
      const rate = v.getUint32(at + 12, true);
      const bits = v.getUint16(at + 22, true);
      // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID's first two bytes are the tag
      if (tag === 0xfffe && size >= 40 && at + 8 + 26 <= bytes.length) tag = v.getUint16(at + 8 + 24, true);
      let format = -1;
      for (const [code, f] of WAV_FORMATS) if (f.tag === tag && f.bits === bits) format = code;
      if (format < 0) throw new RangeError(`parseWavHeader: format tag ${tag} with ${bits} bits is not one virtio-snd streams (U8, S16, S24_3, S32, FLOAT, FLOAT64)`);
      if (!RATE_HZ.includes(rate) || channels < 1 || channels > 255) throw new RangeError(`parseWavHeader: ${rate} Hz, ${channels} channels is not a virtio-snd rate and channel count`);
      fmt = { format, rate, channels };
    } else if (id === 'data') {
      if (fmt === null) throw new RangeError('parseWavHeader: the data chunk comes before the fmt chunk');
      return { ...fmt, dataOffset: at + 8, dataBytes: size };
    }
    at += 8 + size + (size & 1);
  }
  throw new RangeError('parseWavHeader: no data chunk in the bytes given');
}

/**
 * The capture of one input stream from a WAV file: its data chunk in order, then silence (a
 * microphone with nothing more to say). A stream prepared in another format, rate or channel
 * count than the file's fails its reads (IO_ERR).
 * @example
 * ```ts
 * const clip = await WavFileReader.open('/tmp/clip.wav');
 * const device = new SoundDevice({ backend: routeStreams({ 1: clip }) });
 * ```
 */
export class WavFileReader implements PcmEndpoint {
  /** The file. */
  readonly path: string;
  /** Its format. */
  readonly wav: WavFormat;
  /** Data bytes given so far. */
  position = 0;
  private problem: string | null = 'no PREPARE yet';

  private constructor(path: string, private readonly handle: FileHandle, wav: WavFormat) {
    this.path = path;
    this.wav = wav;
  }

  /**
   * Opens a WAV file and reads its header.
   * @param path - the file.
   * @returns the reader.
   * @throws what `fs.open` throws, or RangeError for a file that is not a WAV virtio-snd can stream.
   * @example `const clip = await WavFileReader.open('clip.wav');`
   */
  static async open(path: string): Promise<WavFileReader> {
    const handle = await open(path, 'r');
    try {
      const head = new Uint8Array(4096);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return new WavFileReader(path, handle, parseWavHeader(head.subarray(0, bytesRead)));
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /**
   * Checks the stream's format, rate and channels against the file's: reads fail while they differ.
   * @param params - the stream's parameters.
   */
  prepare(params: PcmParams): void {
    const w = this.wav;
    this.problem = params.format !== w.format || params.rate !== w.rate || params.channels !== w.channels ? `the stream is format ${params.format}, ${params.rate} Hz, ${params.channels} channels; the file is format ${w.format}, ${w.rate} Hz, ${w.channels}` : null;
  }

  read(into: Uint8Array, done: (error?: unknown) => void): void {
    if (this.problem !== null) {
      done(new Error(`${this.path}: ${this.problem}`));
      return;
    }
    const left = Math.max(0, this.wav.dataBytes - this.position);
    const n = Math.min(left, into.length);
    const at = this.wav.dataOffset + this.position;
    this.position += n;
    const finish = (got: number) => {
      fillSilence(into.subarray(got), this.wav.format);
      done();
    };
    if (n === 0) return finish(0);
    this.handle.read(into, 0, n, at).then(({ bytesRead }) => finish(bytesRead), done);
  }

  /**
   * Closes the file.
   * @returns when it is closed.
   * @example `await clip.close();`
   */
  close(): Promise<void> {
    return this.handle.close();
  }
}
