/**
 * Test harness: an RngDevice activated on a real ring in guest memory, driven from the driver side
 * (`@vmv/queue/driver`) with any descriptor layout: split or packed, direct or indirect, buffers cut
 * anywhere, readable buffers mixed in. Also a fake clock for the rate limiter and sources that
 * give a known byte stream.
 */
import { RngDevice } from '@vmv/rng';
import type { RateClock, RngDeviceOptions } from '@vmv/rng';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';

export const RING_AREA = 0x1_0000;
export const DATA_BASE = 0x10_0000;

export interface Piece {
  len: number;
  writable: boolean;
  /** Gap before it. */
  gap?: number;
}

export interface Done {
  /** Used length reported. */
  len: number;
  /** The writable pieces' bytes, concatenated. */
  written: Uint8Array;
  /** The readable pieces' bytes after completion. */
  readable: Uint8Array;
}

interface Pending {
  pieces: { addr: number; len: number; writable: boolean }[];
  resolve: (d: Done) => void;
}

export interface HarnessOptions {
  device?: RngDeviceOptions;
  packed?: boolean;
  queueSize?: number;
  memSize?: number;
  /** Driver features besides VERSION_1 (default: all offered). */
  features?: bigint;
}

export class Harness {
  readonly memory: GuestMemory;
  readonly device: RngDevice;
  driver!: SplitDriver<Pending> | PackedDriver<Pending>;
  queue!: Virtqueue;
  private live: (Virtqueue | null)[] = [];
  readonly needsReset: unknown[] = [];
  interrupts = 0;
  private next = DATA_BASE;
  private readonly memSize: number;

  constructor(readonly options: HarnessOptions = {}) {
    this.memSize = options.memSize ?? 4 << 20;
    this.memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(this.memSize) }]);
    const ring = options.packed ? featureBit(Feature.RING_PACKED) : 0n;
    this.device = new RngDevice({ queueSize: options.queueSize ?? 64, ringFeatures: featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | ring, ...options.device });
    this.activate();
  }

  activate(): void {
    const size = this.options.queueSize ?? 64;
    const f = this.options.features !== undefined ? this.options.features | featureBit(Feature.VERSION_1) : this.device.deviceFeatures;
    const eventIdx = (f & featureBit(Feature.EVENT_IDX)) !== 0n;
    const indirectDesc = (f & featureBit(Feature.INDIRECT_DESC)) !== 0n;
    this.memory.fill(RING_AREA, DATA_BASE - RING_AREA, 0);
    const layout = this.options.packed ? PackedDriver.layout(size, RING_AREA) : SplitDriver.layout(size, RING_AREA);
    const opts = { size, ...layout, eventIdx, indirectDesc, indirectArea: indirectDesc ? { address: RING_AREA + 0x8000, entriesPerChain: 64 } : undefined };
    this.driver = this.options.packed ? new PackedDriver<Pending>(this.memory, opts) : new SplitDriver<Pending>(this.memory, opts);
    this.queue = createVirtqueue(this.memory, this.driver.queueConfig(size));
    const queues = [this.queue];
    this.live = queues;
    const ctx: ActivationContext = {
      memory: this.memory,
      queues,
      features: f,
      interrupt: { signalUsedBuffer: () => { this.interrupts++; this.reap(); }, signalConfigChange: () => undefined },
      needsReset: (reason) => { if (this.live === queues) this.needsReset.push(reason); },
    };
    this.device.activate(ctx);
  }

  /** A reset as a transport makes it: the queue retired first, then `device.reset()`. */
  reset(): void {
    this.live[0]?.reset();
    this.live[0] = null;
    this.device.reset();
  }

  /** Places a chain (pre-filled with `fill`) and makes it available (not kicked). */
  add(pieces: Piece[], opts: { indirect?: boolean; fill?: number } = {}): Promise<Done> {
    const placed: Pending['pieces'] = [];
    for (const p of pieces) {
      let addr = this.next + (p.gap ?? 0);
      if (addr + p.len > this.memSize) addr = DATA_BASE;
      this.next = addr + p.len;
      this.memory.fill(addr, p.len, opts.fill ?? 0xee);
      placed.push({ addr, len: p.len, writable: p.writable });
    }
    return new Promise<Done>((resolve) => {
      const out = placed.filter((p) => !p.writable).map(({ addr, len }) => ({ addr, len }));
      const inb = placed.filter((p) => p.writable).map(({ addr, len }) => ({ addr, len }));
      if (this.driver.add(out, inb, { pieces: placed, resolve }, opts.indirect) < 0) throw new Error('harness: ring full');
    });
  }

  kick(): void {
    this.device.queueNotify(0);
  }

  /** Adds one chain and kicks. */
  submit(pieces: Piece[], opts: { indirect?: boolean; fill?: number } = {}): Promise<Done> {
    const p = this.add(pieces, opts);
    this.kick();
    return p;
  }

  reap(): void {
    for (let u = this.driver.getBuf(); u !== null; u = this.driver.getBuf()) {
      const w = u.token.pieces.filter((p) => p.writable);
      const r = u.token.pieces.filter((p) => !p.writable);
      u.token.resolve({ len: u.len, written: this.concat(w), readable: this.concat(r) });
    }
  }

  read(addr: number, len: number): Uint8Array {
    const b = new Uint8Array(len);
    this.memory.read(addr, b);
    return b;
  }

  private concat(pieces: { addr: number; len: number }[]): Uint8Array {
    const out = new Uint8Array(pieces.reduce((s, p) => s + p.len, 0));
    let at = 0;
    for (const p of pieces) {
      out.set(this.read(p.addr, p.len), at);
      at += p.len;
    }
    return out;
  }
}

/** A source giving the byte stream 0, 1, 2, ... 255, 0, ... and recording each call's length. */
export function counterSource(): { source: (n: number) => Uint8Array; calls: number[]; position: () => number } {
  let pos = 0;
  const calls: number[] = [];
  return {
    calls,
    position: () => pos,
    source: (n) => {
      calls.push(n);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (pos + i) & 0xff;
      pos += n;
      return b;
    },
  };
}

/** The counter stream's bytes [from, from + len). */
export function counterBytes(from: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (from + i) & 0xff;
  return b;
}

/** A fake clock: time moves only on `advance`, which runs the timers due. */
export class FakeClock implements RateClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (due === undefined || due.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}

/** Lets promise callbacks run. */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
