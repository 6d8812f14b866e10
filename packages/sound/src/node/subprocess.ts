/**
 * The system's sound through a subprocess that desktop Linux already has (for VIRTIO 1.2
 * §5.14.6.8's frames): {@link PlaybackProcess} pipes a stream's playback into `aplay`,
 * {@link CaptureProcess} takes its capture from `arecord` (ALSA's utilities; with PipeWire or
 * PulseAudio their ALSA plugin routes to the sound server). The process starts at PREPARE with the
 * stream's format, rate and channels, and its pipe carries the frames with back-pressure (a
 * {@link WritableSink} or {@link ReadableSource} over it); RELEASE ends it.
 * @module
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { PcmEndpoint, PcmParams } from '../backend.js';
import { ReadableSource, WritableSink } from './streams.js';

/** ALSA's names of the virtio-snd formats (`aplay -f`), by VIRTIO_SND_PCM_FMT_* code. */
const ALSA_FORMATS: readonly string[] = [
  'IMA_ADPCM', 'MU_LAW', 'A_LAW', 'S8', 'U8', 'S16_LE', 'U16_LE', 'S18_3LE', 'U18_3LE', 'S20_3LE', 'U20_3LE', 'S24_3LE', 'U24_3LE',
  'S20_LE', 'U20_LE', 'S24_LE', 'U24_LE', 'S32_LE', 'U32_LE', 'FLOAT_LE', 'FLOAT64_LE', 'DSD_U8', 'DSD_U16_LE', 'DSD_U32_LE', 'IEC958_SUBFRAME_LE',
];

/**
 * The `aplay`/`arecord` arguments for raw frames of `params` on stdin or stdout.
 * @param params - the stream's parameters.
 * @param device - an ALSA PCM name (`-D`), or none for the default.
 * @returns the arguments.
 * @example `alsaArgs(params, 'default') // ['-q', '-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '2', '-D', 'default', '-']`
 */
export function alsaArgs(params: PcmParams, device?: string): string[] {
  const args = ['-q', '-t', 'raw', '-f', ALSA_FORMATS[params.format] ?? 'S16_LE', '-r', String(params.rate), '-c', String(params.channels)];
  if (device !== undefined) args.push('-D', device);
  args.push('-');
  return args;
}

/**
 * Options of {@link PlaybackProcess} and {@link CaptureProcess}.
 * @example `{ device: 'plughw:0,0' }`
 */
export interface AlsaProcessOptions {
  /** The ALSA PCM (`-D`). Default: ALSA's default. */
  readonly device?: string;
  /** Variables added to the process's environment (ALSA_CONFIG_PATH, PIPEWIRE_REMOTE, ...). */
  readonly env?: Readonly<Record<string, string>>;
}

abstract class AlsaProcess {
  protected child: ChildProcess | null = null;
  private params: PcmParams | null = null;
  /** Why the process could not be used (spawn failed, it exited), for the next call. */
  protected failure: Error | null = null;

  constructor(
    private readonly program: 'aplay' | 'arecord',
    private readonly options: AlsaProcessOptions,
  ) {}

  /** The running process, if any. @returns it. */
  get process(): ChildProcess | null {
    return this.child;
  }

  /**
   * Starts the process for the stream's format, rate and channels (PCM_PREPARE); one already
   * running with the same ones is kept, another is ended and replaced.
   * @param params - the stream's parameters.
   */
  prepare(params: PcmParams): void {
    const p = this.params;
    if (this.child !== null && p !== null && p.format === params.format && p.rate === params.rate && p.channels === params.channels) return;
    this.stopProcess();
    this.params = params;
    this.failure = null;
    const child = spawn(this.program, alsaArgs(params, this.options.device), {
      stdio: this.program === 'aplay' ? ['pipe', 'ignore', 'pipe'] : ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.options.env },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 2000) stderr += d.toString();
    });
    child.on('error', (e) => {
      this.failure = new Error(`${this.program}: ${e.message}`);
    });
    // 'close' once its pipes are shut; 'error' alone when it could not be spawned
    const exited = new Promise((r) => {
      child.once('close', r);
      child.once('error', r);
    });
    this.exiting.add(exited);
    void exited.then(() => this.exiting.delete(exited));
    child.on('exit', (code, signal) => {
      if (this.child === child) {
        this.child = null;
        this.failure ??= new Error(`${this.program} exited (${signal ?? `code ${String(code)}`})${stderr ? `: ${stderr.trim()}` : ''}`);
      }
    });
    this.child = child;
    this.attach(child);
  }

  /** RELEASE: the process is ended (playback: its input closed, so it plays what it has and exits). */
  release(): void {
    this.stopProcess();
  }

  /**
   * Ends the process and waits for it, and for those of earlier RELEASEs, to exit (aplay has then
   * played everything it was given).
   * @returns when they have exited.
   */
  async close(): Promise<void> {
    this.stopProcess();
    await Promise.all(this.exiting);
  }

  /** Processes ended and not yet exited. */
  private readonly exiting = new Set<Promise<unknown>>();

  protected abstract attach(child: ChildProcess): void;
  protected abstract end(child: ChildProcess): void;

  private stopProcess(): void {
    const child = this.child;
    this.child = null;
    if (child !== null) this.end(child);
  }
}

/**
 * The playback of one output stream through `aplay` (raw frames on its stdin).
 * @example
 * ```ts
 * const speakers = new PlaybackProcess(); // ALSA's default PCM
 * const device = new SoundDevice({ backend: routeStreams({ 0: speakers }) });
 * ```
 */
export class PlaybackProcess extends AlsaProcess implements PcmEndpoint {
  private sink: WritableSink | null = null;

  /**
   * Plays through `aplay`, started at the stream's PREPARE.
   * @param options - the ALSA device and environment.
   */
  constructor(options: AlsaProcessOptions = {}) {
    super('aplay', options);
  }

  write(frames: Uint8Array, done: (error?: unknown) => void): void {
    if (this.child === null || this.sink === null) return done(this.failure ?? new Error('aplay: not running (no PREPARE yet, or released)'));
    this.sink.write(frames, done);
  }

  /** Bytes in the pipe not yet taken by aplay. @returns them. */
  latencyBytes(): number {
    return this.sink?.latencyBytes() ?? 0;
  }

  protected attach(child: ChildProcess): void {
    this.sink = new WritableSink(child.stdin!);
  }

  protected end(child: ChildProcess): void {
    this.sink = null;
    child.stdin!.end();
  }
}

/**
 * The capture of one input stream from `arecord` (raw frames from its stdout).
 * @example
 * ```ts
 * const microphone = new CaptureProcess({ device: 'default' });
 * const device = new SoundDevice({ backend: routeStreams({ 1: microphone }) });
 * ```
 */
export class CaptureProcess extends AlsaProcess implements PcmEndpoint {
  private source: ReadableSource | null = null;

  /**
   * Captures from `arecord`, started at the stream's PREPARE.
   * @param options - the ALSA device and environment.
   */
  constructor(options: AlsaProcessOptions = {}) {
    super('arecord', options);
  }

  override prepare(params: PcmParams): void {
    super.prepare(params);
    this.source?.prepare(params);
  }

  read(into: Uint8Array, done: (error?: unknown) => void): void {
    if (this.child === null || this.source === null) return done(this.failure ?? new Error('arecord: not running (no PREPARE yet, or released)'));
    this.source.read(into, done);
  }

  protected attach(child: ChildProcess): void {
    this.source = new ReadableSource(child.stdout!);
  }

  protected end(child: ChildProcess): void {
    this.source = null;
    child.kill('SIGTERM');
  }
}
