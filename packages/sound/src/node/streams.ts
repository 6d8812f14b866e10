/**
 * Node streams as stream endpoints (for VIRTIO 1.2 §5.14.6.8's frames), with back-pressure both
 * ways: {@link WritableSink} hands the guest's playback to a `Writable` and holds the guest's next
 * buffer until the Writable wants more ('drain'), so a slow consumer slows the guest down instead
 * of data being dropped or piling up; its buffered bytes are the latency reported. {@link ReadableSource}
 * takes capture frames from a `Readable` in paused mode, only as many as the guest's buffers ask
 * for (the producer sees back-pressure), and silence once it has ended.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { fillSilence } from '../backend.js';
import type { PcmEndpoint, PcmParams } from '../backend.js';

/**
 * The playback of one output stream into a Writable (a file, a socket, a player's stdin).
 * @example
 * ```ts
 * const player = spawn('aplay', ['-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '2']);
 * const device = new SoundDevice({ backend: routeStreams({ 0: new WritableSink(player.stdin) }) });
 * ```
 */
export class WritableSink implements PcmEndpoint {
  /** Frame bytes handed to the Writable. */
  bytes = 0;
  private failed: unknown = undefined;

  /**
   * Plays into `writable`; past its high-water mark, the guest's buffer waits until it drains.
   * @param writable - where the frames go (bytes, not object mode).
   */
  constructor(readonly writable: Writable) {
    writable.on('error', (e) => {
      this.failed = e;
    });
  }

  write(frames: Uint8Array, done: (error?: unknown) => void): void {
    const w = this.writable;
    if (this.failed !== undefined || w.destroyed || w.writableEnded) {
      done(this.failed ?? new Error('the Writable is closed'));
      return;
    }
    this.bytes += frames.length;
    if (w.write(frames)) {
      done();
      return;
    }
    // over its high-water mark: the guest's buffer waits until the Writable drains
    const settle = (e?: unknown) => {
      w.off('drain', onDrain);
      w.off('error', settle);
      w.off('close', onClose);
      done(e);
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('the Writable closed before it drained'));
    w.once('drain', onDrain);
    w.once('error', settle);
    w.once('close', onClose);
  }

  /** Bytes the Writable holds, not yet consumed. @returns them. */
  latencyBytes(): number {
    return this.writable.writableLength;
  }
}

/**
 * The capture of one input stream from a Readable (a file, a socket, a recorder's stdout), read
 * in paused mode, as fast as the guest's buffers fill at the stream's rate.
 * @example
 * ```ts
 * const source = new ReadableSource(createReadStream('clip.raw'));
 * const device = new SoundDevice({ backend: routeStreams({ 1: source }) });
 * ```
 */
export class ReadableSource implements PcmEndpoint {
  /** Frame bytes taken from the Readable. */
  bytes = 0;
  /** Bytes of silence given after the Readable ended. */
  silence = 0;
  private format = 5;
  private ended = false;
  private failed: unknown = undefined;

  /**
   * Captures from `readable`, which it pauses to read only what the guest's buffers take.
   * @param readable - where the frames come from (bytes, not object mode).
   */
  constructor(readonly readable: Readable) {
    readable.pause();
    readable.on('end', () => {
      this.ended = true;
    });
    readable.on('error', (e) => {
      this.failed = e;
    });
  }

  /** Notes the stream's format, for the silence given after the Readable ends. @param params - the stream's parameters. */
  prepare(params: PcmParams): void {
    this.format = params.format;
  }

  read(into: Uint8Array, done: (error?: unknown) => void): void {
    const r = this.readable;
    let got = 0;
    const take = (): void => {
      while (got < into.length) {
        const chunk: unknown = r.read();
        if (chunk === null) break;
        const c = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array);
        const use = Math.min(c.length, into.length - got);
        into.set(c.subarray(0, use), got);
        got += use;
        if (use < c.length) r.unshift(c.subarray(use));
      }
      this.bytes += got - counted;
      counted = got;
      if (got === into.length) return done();
      if (this.failed !== undefined) return done(this.failed);
      if (this.ended || r.readableEnded || r.destroyed) {
        fillSilence(into.subarray(got), this.format);
        this.silence += into.length - got;
        return done();
      }
      const again = () => {
        r.off('readable', again);
        r.off('end', again);
        r.off('error', again);
        take();
      };
      r.once('readable', again);
      r.once('end', again);
      r.once('error', again);
    };
    let counted = 0;
    take();
  }
}
