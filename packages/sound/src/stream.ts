/**
 * One PCM stream (VIRTIO 1.2 §5.14.6.6): the command lifecycle of §5.14.6.6.1 as a transition
 * table, and the I/O messages of §5.14.6.8 paced at the stream's real rate. A playback buffer is
 * handed to the backend when its turn comes and completed once its frames have played (its
 * duration after the previous one ended, and not before the backend took them); a capture buffer
 * is filled once its frames' duration has passed. When the guest falls behind (no buffer when the
 * device needs one, for a whole period), that is an xrun: counted, reported as an XRUN event when
 * the driver enabled them, and the stream goes on from the moment a buffer comes, never faster to
 * catch up and never stalled. RELEASE completes every pending message (§5.14.6.6.5.1).
 * @module
 */
import type { DescriptorChain, Reader, ServedQueue, Writer } from '@vmv/device-trait';
import { PcmFeature, SoundStatus } from './constants.js';
import type { PcmParams, SoundBackend, SoundClock } from './backend.js';
import type { ValidStream } from './layout.js';

/**
 * States of the PCM command lifecycle (§5.14.6.6.1); `idle` is a stream whose parameters were
 * never set (after creation or a device reset).
 * @example `if (device.stream(0).state === PcmState.START) console.log('playing')`
 */
export const PcmState = {
  /** No parameters set yet (a new stream, or after a device reset). */
  IDLE: 'idle',
  /** After VIRTIO_SND_R_PCM_SET_PARAMS: parameters chosen, nothing allocated. */
  SET_PARAMS: 'set-params',
  /** After VIRTIO_SND_R_PCM_PREPARE: ready; I/O messages are taken and held until START (playback pre-buffering). */
  PREPARE: 'prepare',
  /** After VIRTIO_SND_R_PCM_START: running, frames paced at the rate. */
  START: 'start',
  /** After VIRTIO_SND_R_PCM_STOP: paused, held messages kept for the next START. */
  STOP: 'stop',
  /** After VIRTIO_SND_R_PCM_RELEASE: pending messages completed, resources freed. */
  RELEASE: 'release',
} as const;
/** One of {@link PcmState}. @example `const s: PcmStateName = 'start';` */
export type PcmStateName = (typeof PcmState)[keyof typeof PcmState];

/** The lifecycle commands. @example `PCM_TRANSITIONS.start` */
export type PcmCommand = 'set-params' | 'prepare' | 'start' | 'stop' | 'release';

/**
 * The states each command is valid in, as §5.14.6.6.1 lists the transitions; any other is
 * answered BAD_MSG and changes nothing.
 * @example `PCM_TRANSITIONS.start.includes('stop') // true`
 */
export const PCM_TRANSITIONS: Readonly<Record<PcmCommand, readonly PcmStateName[]>> = {
  'set-params': ['idle', 'set-params', 'prepare', 'release'],
  prepare: ['set-params', 'prepare', 'release'],
  start: ['prepare', 'stop'],
  stop: ['start'],
  release: ['prepare', 'stop'],
};

/** States in which I/O messages are taken (held until START for playback pre-buffering and capture buffers). */
const XFER_STATES: readonly PcmStateName[] = ['prepare', 'start', 'stop'];

/**
 * Counters of one stream since the device was created.
 * @example `const { bytes, xruns } = device.stream(0).stats;`
 */
export interface PcmStats {
  /** Frame bytes played (output) or captured (input) and completed. */
  bytes: number;
  /** I/O messages completed OK with their frames. */
  buffers: number;
  /** Underruns (output) or overruns (input). */
  xruns: number;
  /** XRUN events queued for the driver (only when it enabled VIRTIO_SND_PCM_F_EVT_XRUNS). */
  xrunEvents: number;
  /** I/O messages answered IO_ERR (malformed, wrong state, or a backend error). */
  ioErrors: number;
  /** I/O messages completed without their frames by RELEASE or a reset. */
  flushed: number;
}

/** @internal What a stream needs from its device. */
export interface StreamHost {
  /** Paces the stream's messages. */
  readonly clock: SoundClock;
  /** Takes and gives the stream's frames. */
  readonly backend: SoundBackend;
  /** Queues an XRUN event for this stream. */
  xrun(stream: number): void;
  /** A backend error, for the embedder. */
  backendError(stream: number, error: unknown): void;
}

/** One I/O message held by the stream. */
interface Xfer {
  readonly chain: DescriptorChain;
  readonly served: ServedQueue;
  /** Output: the frames. */
  readonly data: Reader | null;
  /** Input: where the frames go. */
  readonly into: Writer | null;
  readonly status: Writer;
  readonly bytes: number;
}

/** The message in progress: its timer, and whether the backend has answered. */
interface Turn {
  readonly xfer: Xfer;
  /** When its frames are due (clock ms). */
  due: number;
  /** Time left when the stream stopped (ms), to resume with. */
  left: number;
  cancel: (() => void) | null;
  elapsed: boolean;
  /** Backend answered (output: frames taken; input: frames given). */
  answered: boolean;
  error: unknown;
  /** Input: the captured frames (a copy, written into the guest buffer on completion). */
  captured: Uint8Array | null;
  /** Input: whether the backend was asked already. */
  asked: boolean;
}

/**
 * A PCM stream of a {@link SoundDevice}: its info, state, parameters and held I/O messages.
 * @example `const s = device.stream(0); console.log(s.state, s.params?.rate, s.stats.bytes);`
 */
export class PcmStream {
  /** What PCM_INFO reports. */
  readonly info: ValidStream;
  /** Counters since creation. */
  readonly stats: PcmStats = { bytes: 0, buffers: 0, xruns: 0, xrunEvents: 0, ioErrors: 0, flushed: 0 };
  private current: PcmStateName = 'idle';
  private parameters: PcmParams | null = null;
  /** Features the driver selected in SET_PARAMS. */
  private selected = 0;
  private readonly pending: Xfer[] = [];
  private turn: Turn | null = null;
  /** When the next message's frames start (clock ms). */
  private nextAt = 0;
  /** The guest ran out of messages: the next one starts when it comes. */
  private dry = true;
  private cancelXrun: (() => void) | null = null;
  /** Bumped by release and reset: late backend answers of an earlier generation are ignored. */
  private generation = 0;

  /**
   * @internal Made by the device (see {@link SoundDevice.stream}).
   * @param info - the stream's layout.
   * @param host - the device.
   */
  constructor(info: ValidStream, private readonly host: StreamHost) {
    this.info = info;
  }

  /** The lifecycle state. @returns it. @example `stream.state` */
  get state(): PcmStateName {
    return this.current;
  }

  /** The parameters set by the last SET_PARAMS, or null. @returns them. @example `stream.params?.rate` */
  get params(): PcmParams | null {
    return this.parameters;
  }

  /** I/O messages held (not yet completed). @returns the count. @example `stream.held` */
  get held(): number {
    return this.pending.length + (this.turn === null ? 0 : 1);
  }

  /**
   * Whether `command` is valid now (§5.14.6.6.1).
   * @param command - the command.
   * @returns true when the transition is allowed.
   */
  allows(command: PcmCommand): boolean {
    return PCM_TRANSITIONS[command].includes(this.current);
  }

  /**
   * SET_PARAMS, already validated against PCM_INFO and the state. Messages held from PREPARE were
   * for the old parameters: they complete IO_ERR (Linux never sets parameters with messages
   * pending; a guest that does would otherwise leave them where no command can reach them).
   */
  setParams(params: PcmParams, features: number): void {
    if (this.held > 0) this.flush(SoundStatus.IO_ERR);
    this.parameters = params;
    this.selected = features;
    this.current = 'set-params';
  }

  /** PREPARE (state already checked). */
  prepare(): void {
    this.current = 'prepare';
    this.host.backend.prepare?.(this.info.id, this.parameters!);
  }

  /** START (state already checked): frames flow from now on. */
  start(): void {
    this.current = 'start';
    this.host.backend.start?.(this.info.id);
    const now = this.host.clock.now();
    const t = this.turn;
    if (t !== null && !t.elapsed) {
      // resumed after a STOP in the middle of a message: the rest of its duration from now
      t.due = now + t.left;
      t.cancel = this.host.clock.setTimer(t.left, () => this.elapse(t));
      this.nextAt = t.due;
      return;
    }
    this.nextAt = now;
    this.dry = true;
    this.pump();
  }

  /** STOP (state already checked): held messages stay until START or RELEASE. */
  stop(): void {
    this.current = 'stop';
    this.host.backend.stop?.(this.info.id);
    this.clearXrunTimer();
    const t = this.turn;
    if (t !== null && !t.elapsed && t.cancel !== null) {
      t.cancel();
      t.cancel = null;
      t.left = Math.max(0, t.due - this.host.clock.now());
    }
  }

  /** RELEASE (state already checked): every held message completes now, without frames. */
  release(): void {
    this.current = 'release';
    this.flush(SoundStatus.OK);
    this.host.backend.release?.(this.info.id);
  }

  /** Device reset: held messages are dropped (the queues are gone), the stream is idle again. */
  reset(): void {
    const was = this.current;
    this.flush(null);
    this.current = 'idle';
    this.parameters = null;
    this.selected = 0;
    if (was !== 'idle' && was !== 'release') this.host.backend.release?.(this.info.id);
  }

  /**
   * Takes one I/O message whose header named this stream; answers IO_ERR at once when the stream
   * cannot take it (wrong direction or state, larger than the buffer), else holds it.
   * @param chain - the message.
   * @param served - its queue.
   * @param data - output: the frames after the header.
   * @param into - input: the frame part of the writable buffers.
   * @param status - the status part.
   * @param queueDirection - the direction of the queue it came on.
   */
  take(chain: DescriptorChain, served: ServedQueue, data: Reader | null, into: Writer | null, status: Writer, queueDirection: number): void {
    const bytes = data !== null ? data.remaining : into!.remaining;
    const p = this.parameters;
    if (queueDirection !== this.info.direction || !XFER_STATES.includes(this.current) || p === null || bytes > p.bufferBytes) {
      this.stats.ioErrors++;
      answer(status, SoundStatus.IO_ERR, 0);
      served.complete(chain, status.written);
      return;
    }
    this.pending.push({ chain, served, data, into, status, bytes });
    if (this.current === 'start') this.pump();
  }

  /** Starts the next held message when none is in progress and the stream runs. */
  private pump(): void {
    if (this.turn !== null || this.current !== 'start') return;
    const x = this.pending.shift();
    const clock = this.host.clock;
    if (x === undefined) {
      this.armXrun();
      return;
    }
    this.clearXrunTimer();
    const now = clock.now();
    // After running dry the stream restarts from now: no burst to catch up with the lost time.
    if (this.dry && this.nextAt < now) this.nextAt = now;
    this.dry = false;
    const p = this.parameters!;
    const ms = (x.bytes * 1000) / (p.frameBytes * p.rate);
    const t: Turn = { xfer: x, due: this.nextAt + ms, left: 0, cancel: null, elapsed: false, answered: false, error: undefined, captured: null, asked: false };
    this.turn = t;
    t.cancel = clock.setTimer(Math.max(0, t.due - now), () => this.elapse(t));
    if (x.data !== null) {
      const gen = this.generation;
      let frames: Uint8Array;
      try {
        frames = x.data.readBytes(x.bytes);
      } catch (e) {
        // the guest's buffer is outside guest memory: nothing to play
        t.error = e;
        t.answered = true;
        return;
      }
      this.host.backend.write(this.info.id, frames, (error) => this.answered(t, gen, error));
    }
  }

  /** The message's duration has passed. */
  private elapse(t: Turn): void {
    if (this.turn !== t) return;
    t.cancel = null;
    // a timer that fired early (a coarse clock): never complete before the frames' time
    const early = t.due - this.host.clock.now();
    if (early > 0) {
      t.cancel = this.host.clock.setTimer(Math.max(early, 1), () => this.elapse(t));
      return;
    }
    t.elapsed = true;
    if (t.xfer.into !== null && !t.asked) {
      t.asked = true;
      const gen = this.generation;
      const into = new Uint8Array(t.xfer.bytes);
      t.captured = into;
      this.host.backend.read(this.info.id, into, (error) => this.answered(t, gen, error));
      return;
    }
    this.settle(t);
  }

  private answered(t: Turn, gen: number, error: unknown): void {
    if (gen !== this.generation || this.turn !== t || t.answered) return;
    t.answered = true;
    t.error = error;
    this.settle(t);
  }

  /** Completes the message once both its time has come and the backend answered. */
  private settle(t: Turn): void {
    if (!t.elapsed || !t.answered || this.turn !== t) return;
    this.turn = null;
    const x = t.xfer;
    const id = this.info.id;
    const now = this.host.clock.now();
    // A backend slower than real time holds the stream back (back-pressure), never the reverse.
    this.nextAt = Math.max(t.due, now);
    if (t.error !== undefined) {
      this.stats.ioErrors++;
      this.host.backendError(id, t.error);
      answer(x.status, SoundStatus.IO_ERR, 0);
      x.served.complete(x.chain, x.status.written);
    } else {
      let written = 0;
      if (x.into !== null) {
        try {
          x.into.write(t.captured!);
          written = x.bytes;
        } catch {
          // the guest's buffer is outside guest memory: answered IO_ERR below
          written = -1;
        }
      }
      if (written < 0) {
        this.stats.ioErrors++;
        answer(x.status, SoundStatus.IO_ERR, 0);
        x.served.complete(x.chain, x.status.written);
      } else {
        this.stats.bytes += x.bytes;
        this.stats.buffers++;
        answer(x.status, SoundStatus.OK, this.latency());
        x.served.complete(x.chain, written + x.status.written);
      }
    }
    if (this.current === 'start') {
      if (this.pending.length === 0) this.dry = true;
      this.pump();
    }
  }

  private latency(): number {
    const l = this.host.backend.latencyBytes?.(this.info.id) ?? 0;
    return Number.isInteger(l) && l > 0 ? Math.min(l, 0xffff_ffff) : 0;
  }

  /** Nothing to play or fill: a whole period later with still nothing, that is an xrun. */
  private armXrun(): void {
    if (this.cancelXrun !== null) return;
    const p = this.parameters!;
    const periodMs = (p.periodBytes * 1000) / (p.frameBytes * p.rate);
    const at = Math.max(this.nextAt, this.host.clock.now()) + periodMs;
    this.cancelXrun = this.host.clock.setTimer(Math.max(0, at - this.host.clock.now()), () => {
      this.cancelXrun = null;
      if (this.current !== 'start' || this.turn !== null || this.pending.length > 0) return;
      this.stats.xruns++;
      if ((this.selected & (1 << PcmFeature.EVT_XRUNS)) !== 0) {
        this.stats.xrunEvents++;
        this.host.xrun(this.info.id);
      }
    });
  }

  private clearXrunTimer(): void {
    this.cancelXrun?.();
    this.cancelXrun = null;
  }

  /** Completes every held message without frames, with `status` (null: a reset, the queue drops them unwritten). */
  private flush(status: number | null): void {
    this.generation++;
    this.clearXrunTimer();
    const all = this.turn === null ? this.pending.splice(0) : [this.turn.xfer, ...this.pending.splice(0)];
    if (this.turn !== null) this.turn.cancel?.();
    this.turn = null;
    this.dry = true;
    for (const x of all) {
      this.stats.flushed++;
      if (status !== null) {
        answer(x.status, status, 0);
        x.served.complete(x.chain, x.status.written);
      } else {
        x.served.complete(x.chain, 0);
      }
    }
  }
}

/** Writes a virtio_snd_pcm_status. */
function answer(status: Writer, code: number, latency: number): void {
  status.writeU32(code);
  status.writeU32(latency);
}
