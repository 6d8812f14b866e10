/**
 * A test driver for SoundDevice: the four queues on real rings in guest memory (split or packed,
 * direct or indirect), driven from the driver side (`@vmv/queue/driver`) as Linux's virtio_snd
 * drives them: control requests as a readable request and a writable response, I/O messages as
 * xfer header, frames, status (sound/virtio/virtio_pcm_msg.c), eventq full of 8-byte buffers.
 * Time is a FakeClock: pacing is exact and deterministic.
 */
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';
import { Request, SoundDevice, SoundFeature, SoundQueue } from '@vmv/sound';
import type { SoundClock, SoundDeviceOptions } from '@vmv/sound';

/** A clock whose time moves only when the test says so; timers fire in due order. */
export class FakeClock implements SoundClock {
  time = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const t = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due meanwhile at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: (typeof this.timers)[number] | undefined;
      for (const t of this.timers) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
  }
}

export interface HarnessOptions extends SoundDeviceOptions {
  packed?: boolean;
  indirect?: boolean;
  /** Negotiate VIRTIO_SND_F_CTLS when offered (default true). */
  ctls?: boolean;
}

interface Token {
  /** The writable pieces (response, frames, status). */
  readonly writable: DriverBuffer[];
  readonly tag: number;
}

/** A completed I/O message. */
export interface Completed {
  readonly tag: number;
  readonly len: number;
  /** status and latency_bytes, when the used length covers them. */
  readonly status: number | null;
  readonly latency: number | null;
  /** Captured frames (rx). */
  readonly frames: Uint8Array;
}

const RING_AREA = 0x1_0000;
const DATA_BASE = 0x20_0000;
const MEM = 8 << 20;

export class Harness {
  readonly memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(MEM) }]);
  readonly clock: FakeClock;
  readonly device: SoundDevice;
  readonly drivers: (SplitDriver<Token> | PackedDriver<Token>)[] = [];
  readonly queues: Virtqueue[] = [];
  readonly interrupts = [0, 0, 0, 0];
  readonly resets: unknown[] = [];
  ctx!: ActivationContext;
  private next = DATA_BASE;
  private tags = 0;

  constructor(readonly options: HarnessOptions = {}) {
    const { packed, indirect, ctls, ...deviceOptions } = options;
    this.clock = (deviceOptions.clock as FakeClock | undefined) ?? new FakeClock();
    this.device = new SoundDevice({ ...deviceOptions, clock: this.clock });
    const size = this.device.queueMaxSizes[0]!;
    for (let i = 0; i < 4; i++) {
      const base = RING_AREA + i * 0x4_0000;
      const ring = packed ? PackedDriver.layout(size, base) : SplitDriver.layout(size, base);
      const opts = { size, ...ring, eventIdx: true, indirectDesc: indirect === true, indirectArea: indirect ? { address: base + 0x2_0000, entriesPerChain: 16 } : undefined };
      this.drivers.push(packed ? new PackedDriver<Token>(this.memory, opts) : new SplitDriver<Token>(this.memory, opts));
    }
    this.activate(ctls !== false);
  }

  /** (Re)activates with fresh rings, as a driver does after a reset. */
  activate(ctls = true): void {
    this.queues.length = 0;
    for (const drv of this.drivers) this.queues.push(createVirtqueue(this.memory, drv.queueConfig(this.device.queueMaxSizes[0])));
    let features = featureBit(Feature.VERSION_1) | featureBit(Feature.EVENT_IDX) | (this.options.packed ? featureBit(Feature.RING_PACKED) : 0n);
    if (ctls) features |= this.device.deviceFeatures & featureBit(SoundFeature.CTLS);
    this.ctx = {
      memory: this.memory,
      queues: this.queues,
      features,
      interrupt: { signalUsedBuffer: (i) => void this.interrupts[i]!++, signalConfigChange: () => undefined },
      needsReset: (reason) => void this.resets.push(reason),
    };
    this.device.activate(this.ctx);
  }

  /** A reset as DeviceSession does it: the queues retired first, then the device. */
  resetDevice(): void {
    for (let i = 0; i < this.queues.length; i++) {
      const q = this.queues[i]!;
      (this.queues as (Virtqueue | null)[])[i] = null;
      q.reset();
    }
    this.device.reset();
  }

  alloc(len: number): number {
    if (this.next + len + 16 > MEM) this.next = DATA_BASE;
    const a = this.next;
    this.next += len + 16;
    return a;
  }

  /** Adds a chain of readable `out` bytes (cut into `split`-byte pieces when given) and writable pieces of `writable` lengths. */
  add(q: number, out: Uint8Array[], writable: number[]): number {
    const outBufs = out.map((b) => {
      const addr = this.alloc(b.length);
      this.memory.write(addr, b);
      return { addr, len: b.length };
    });
    const inBufs = writable.map((len) => {
      const addr = this.alloc(len);
      this.memory.fill(addr, len, 0xee);
      return { addr, len };
    });
    const tag = this.tags++;
    if (this.drivers[q]!.add(outBufs, inBufs, { writable: inBufs, tag }, this.options.indirect) < 0) throw new Error(`harness: queue ${q} full`);
    return tag;
  }

  /** Kicks queue q when the ring asks for it (as Linux does); returns whether it did. */
  kick(q: number): boolean {
    const want = this.drivers[q]!.kickPrepare();
    if (want) this.device.queueNotify(q);
    return want;
  }

  /** Used buffers of queue q: tag, used length, the writable bytes. */
  reap(q: number): { tag: number; len: number; bytes: Uint8Array }[] {
    const got = [];
    for (let u = this.drivers[q]!.getBuf(); u !== null; u = this.drivers[q]!.getBuf()) {
      const total = u.token.writable.reduce((s, p) => s + p.len, 0);
      const bytes = new Uint8Array(total);
      let o = 0;
      for (const p of u.token.writable) {
        const b = new Uint8Array(p.len);
        this.memory.read(p.addr, b);
        bytes.set(b, o);
        o += p.len;
      }
      got.push({ tag: u.token.tag, len: u.len, bytes });
    }
    return got;
  }

  /** Sends one control request and returns its response (the used bytes), answered at once. */
  control(request: Uint8Array, responseLen = 4, pieces?: number[]): Uint8Array {
    this.add(SoundQueue.CONTROLQ, [request], pieces ?? [responseLen]);
    this.device.queueNotify(SoundQueue.CONTROLQ);
    const done = this.reap(SoundQueue.CONTROLQ);
    if (done.length !== 1) throw new Error(`harness: ${done.length} control responses`);
    return done[0]!.bytes.subarray(0, done[0]!.len);
  }

  /** The status code of a request answered with a header alone. */
  status(request: Uint8Array, responseLen = 4): number {
    const r = this.control(request, responseLen);
    return r.length >= 4 ? new DataView(r.buffer, r.byteOffset).getUint32(0, true) : -1;
  }

  /** Posts an output message: header, frames (in pieces when `split`), status. */
  tx(stream: number, frames: Uint8Array, split?: number): number {
    const parts = [u32s(stream)];
    if (split === undefined || frames.length === 0) parts.push(frames);
    else for (let i = 0; i < frames.length; i += split) parts.push(frames.subarray(i, i + split));
    return this.add(SoundQueue.TXQ, parts, [8]);
  }

  /** Posts an input message for `bytes` frame bytes. */
  rx(stream: number, bytes: number): number {
    return this.add(SoundQueue.RXQ, [u32s(stream)], bytes > 0 ? [bytes, 8] : [8]);
  }

  /** Completed I/O messages of txq or rxq. */
  completed(q: number): Completed[] {
    return this.reap(q).map(({ tag, len, bytes }) => {
      const dv = new DataView(bytes.buffer);
      const frames = q === SoundQueue.RXQ ? bytes.subarray(0, Math.max(0, len - 8)) : new Uint8Array(0);
      const at = q === SoundQueue.RXQ ? bytes.length - 8 : 0;
      const has = len >= 8;
      return { tag, len, status: has ? dv.getUint32(at, true) : null, latency: has ? dv.getUint32(at + 4, true) : null, frames };
    });
  }

  /** Posts `n` event buffers of `len` bytes. */
  postEvents(n: number, len = 8): void {
    for (let i = 0; i < n; i++) this.add(SoundQueue.EVENTQ, [], [len]);
    this.kick(SoundQueue.EVENTQ);
  }

  /** Events delivered: [code, data]. */
  events(): [number, number][] {
    return this.reap(SoundQueue.EVENTQ)
      .filter((e) => e.len === 8)
      .map((e) => {
        const dv = new DataView(e.bytes.buffer);
        return [dv.getUint32(0, true), dv.getUint32(4, true)];
      });
  }

  /** SET_PARAMS and PREPARE for a stream with `params`; throws unless both OK. */
  prepareStream(stream: number, params: Partial<SetParams> = {}): void {
    this.expectOk(stream, setParams({ stream, ...params }), pcm(Request.PCM_PREPARE, stream));
  }

  /** SET_PARAMS, PREPARE, START for a stream with `params` (START alone when `prepared`); throws unless all OK. */
  startStream(stream: number, params: Partial<SetParams> = {}, prepared = false): void {
    if (!prepared) this.prepareStream(stream, params);
    this.expectOk(stream, pcm(Request.PCM_START, stream));
  }

  private expectOk(stream: number, ...requests: Uint8Array[]): void {
    for (const req of requests) {
      const s = this.status(req);
      if (s !== 0x8000) throw new Error(`harness: stream ${stream}: status ${s.toString(16)}`);
    }
  }
}

export function u32s(...values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setUint32(i * 4, v >>> 0, true));
  return b;
}

export const query = (code: number, start: number, count: number, size: number): Uint8Array => u32s(code, start, count, size);
export const pcm = (code: number, stream: number): Uint8Array => u32s(code, stream);

export interface SetParams {
  stream: number;
  bufferBytes: number;
  periodBytes: number;
  features: number;
  channels: number;
  /** VIRTIO_SND_PCM_FMT_* */
  format: number;
  /** VIRTIO_SND_PCM_RATE_* */
  rate: number;
  padding: number;
}

/** PCM_SET_PARAMS; default stereo S16 48 kHz, 4 periods of 1920 bytes (10 ms), XRUN events on. */
export function setParams(p: Partial<SetParams> = {}): Uint8Array {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, Request.PCM_SET_PARAMS, true);
  dv.setUint32(4, p.stream ?? 0, true);
  dv.setUint32(8, p.bufferBytes ?? 4 * 1920, true);
  dv.setUint32(12, p.periodBytes ?? 1920, true);
  dv.setUint32(16, p.features ?? 1 << 4, true);
  b[20] = p.channels ?? 2;
  b[21] = p.format ?? 5;
  b[22] = p.rate ?? 7;
  b[23] = p.padding ?? 0;
  return b;
}

/** Bytes of a generated clip: a deterministic pattern, different at every byte. */
export function clip(bytes: number, seed = 1): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
