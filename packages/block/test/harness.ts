/**
 * Test harness: a BlockDevice activated on real rings in guest memory, driven from the driver side
 * (`@vmv/queue/driver`) the way Linux's virtio_blk + virtio_ring drive it, with any descriptor layout.
 */
import { BlockDevice, encodeRequestHeader } from '@vmv/block';
import type { BlockDeviceOptions } from '@vmv/block';
import { Feature, featureBit } from '@vmv/device-trait';
import type { ActivationContext, Virtqueue } from '@vmv/device-trait';
import { GuestMemory } from '@vmv/memory';
import { createVirtqueue } from '@vmv/queue';
import { PackedDriver, SplitDriver } from '@vmv/queue/driver';
import type { DriverBuffer } from '@vmv/queue/driver';

/** Where each byte stream is cut into descriptors, and how the pieces are placed. */
export interface Layout {
  /** Lengths of the device-readable pieces (sum = readable bytes); default one piece. */
  readPieces?: number[];
  /** Lengths of the device-writable pieces (sum = writable bytes); default one piece. */
  writePieces?: number[];
  /** Gap in bytes before each piece (cycled); default 0. */
  gaps?: number[];
  /** Put the chain in an indirect table. */
  indirect?: boolean;
}

/** A request as bytes: the readable stream (header + data) and the size of the writable stream. */
export interface RawRequest {
  readable: Uint8Array;
  /** Bytes of the device-writable area (data + status). */
  writable: number;
  /** Bytes to pre-fill the writable area with (default 0xee), to see what the device wrote. */
  fill?: number;
  /** Bytes the driver places at the start of the writable area (after the fill), e.g. the segments Linux sends there for SECURE_ERASE. */
  writableInit?: Uint8Array;
  layout?: Layout;
}

export interface Completion {
  /** The whole writable area after completion. */
  writable: Uint8Array;
  /** Its last byte. */
  status: number;
  /** Guest addresses of the writable pieces. */
  writablePieces: { addr: number; len: number }[];
  /** Used length reported by the device. */
  len: number;
  /** The readable area after completion (the device must not have changed it). */
  readable: Uint8Array;
}

interface Pending {
  pieces: { addr: number; len: number; writable: boolean }[];
  readable: Uint8Array;
  resolve: (c: Completion) => void;
  done: boolean;
}

export interface HarnessOptions {
  device?: Partial<BlockDeviceOptions> & Pick<BlockDeviceOptions, 'backend'>;
  /** Driver features besides VERSION_1 (default: all offered). */
  features?: bigint;
  queueSize?: number;
  packed?: boolean;
  memSize?: number;
  /** Queues the driver enables (default all). */
  queues?: number;
  /** Keep a dirty-page log of guest memory with this page size. */
  dirtyPageSize?: number;
  /** The driver takes used buffers in its interrupt handler (default true); false: only on reap()/settle(). */
  reapInInterrupt?: boolean;
  /** The transport's used-buffer interrupt throws this (a transport failure). */
  interruptError?: Error;
}

const RING_AREA = 0x10_0000;
const DATA_BASE = 0x20_0000;

/** Random generator (xorshift32) for layouts, deterministic per seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** Cuts `total` into random positive pieces (at most `max` pieces). */
export function randomPieces(total: number, max: number, r: () => number): number[] {
  if (total === 0) return [];
  const n = 1 + Math.floor(r() * Math.min(max, total));
  const cuts = new Set<number>();
  while (cuts.size < n - 1) cuts.add(1 + Math.floor(r() * (total - 1)));
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), total];
  const out: number[] = [];
  for (let i = 1; i < sorted.length; i++) out.push(sorted[i]! - sorted[i - 1]!);
  return out;
}

export class Harness {
  readonly memory: GuestMemory;
  readonly device: BlockDevice;
  readonly drivers: (SplitDriver<Pending> | PackedDriver<Pending>)[] = [];
  readonly queues: Virtqueue[] = [];
  readonly interrupts: number[] = [];
  configChanges = 0;
  readonly resets: unknown[] = [];
  readonly features: bigint;
  private next = DATA_BASE;
  /** The activation's queue table (`ctx.queues`), which a reset retires. */
  private live: (Virtqueue | null)[] = [];
  private inflight = 0;
  private readonly memSize: number;
  private readonly options: HarnessOptions & { queueSize: number };

  constructor(options: HarnessOptions) {
    const queueSize = options.queueSize ?? 64;
    this.memSize = options.memSize ?? 16 << 20;
    this.memory = GuestMemory.fromRegions([{ start: 0, backing: new ArrayBuffer(this.memSize), ...(options.dirtyPageSize ? { dirtyPageSize: options.dirtyPageSize } : {}) }]);
    this.memory.fill(DATA_BASE, this.memSize - DATA_BASE, 0x5a);
    this.device = new BlockDevice({ queueSize, ...options.device } as BlockDeviceOptions);
    const offered = this.device.deviceFeatures | (options.packed ? featureBit(Feature.RING_PACKED) : 0n);
    this.features = options.features !== undefined ? options.features | featureBit(Feature.VERSION_1) : offered;
    this.options = { ...options, queueSize };
    this.device.attach({ configChanged: () => this.configChanges++ });
    this.activate();
  }

  /** Sets up fresh rings (the driver side and the device's queues) and activates the device. */
  private activate(): void {
    const options = this.options;
    const queueSize = options.queueSize;
    const eventIdx = (this.features & featureBit(Feature.EVENT_IDX)) !== 0n;
    const indirectDesc = (this.features & featureBit(Feature.INDIRECT_DESC)) !== 0n;
    const nq = options.queues ?? this.device.queueMaxSizes.length;
    const queues: (Virtqueue | null)[] = [];
    this.drivers.length = 0;
    this.queues.length = 0;
    this.interrupts.length = 0;
    this.memory.fill(RING_AREA, DATA_BASE - RING_AREA, 0);
    for (let i = 0; i < this.device.queueMaxSizes.length; i++) {
      if (i >= nq) {
        queues.push(null);
        continue;
      }
      const base = RING_AREA + i * 0x4_0000;
      const ring = options.packed ? PackedDriver.layout(queueSize, base) : SplitDriver.layout(queueSize, base);
      const opts = { size: queueSize, ...ring, eventIdx, indirectDesc, indirectArea: indirectDesc ? { address: base + 0x1_0000, entriesPerChain: 64 } : undefined };
      const drv = options.packed ? new PackedDriver<Pending>(this.memory, opts) : new SplitDriver<Pending>(this.memory, opts);
      this.drivers.push(drv);
      const cfg = drv.queueConfig(queueSize);
      const q = createVirtqueue(this.memory, cfg);
      this.queues.push(q);
      queues.push(q);
      this.interrupts.push(0);
    }
    this.device.validateFeatures(this.features);
    let reported = false;
    const ctx: ActivationContext = {
      memory: this.memory,
      queues,
      features: this.features,
      interrupt: {
        signalUsedBuffer: (i) => {
          if (this.options.interruptError !== undefined) throw this.options.interruptError;
          this.interrupts[i] = (this.interrupts[i] ?? 0) + 1;
          if (this.options.reapInInterrupt !== false) this.reap(i);
        },
        signalConfigChange: () => this.configChanges++,
      },
      needsReset: (reason) => {
        // once per activation, and not from a reset one, as a transport does
        if (this.live === queues && !reported) this.resets.push(reason);
        reported = true;
      },
    };
    this.live = queues;
    this.device.activate(ctx);
  }

  /**
   * What a driver does after a device reset: resets the device, sets up fresh rings and activates
   * it again. Requests of the old rings are forgotten (their promises never settle).
   */
  reactivate(): void {
    this.resetDevice();
    this.activate();
  }

  /**
   * A device reset as a transport makes it (DeviceSession): the queues are retired first (reset, so
   * late completions are dropped, and taken out of `ctx.queues`), then `device.reset()`.
   */
  resetDevice(): void {
    for (let i = 0; i < this.live.length; i++) {
      this.live[i]?.reset();
      this.live[i] = null;
    }
    this.device.reset();
  }

  /** Guest memory for `len` bytes after `gap` bytes; wraps to the start when nothing is in flight. */
  private alloc(len: number, gap: number): number {
    if (this.next + gap + len > this.memSize) {
      if (this.inflight !== 0) throw new Error('harness: out of guest memory with requests in flight');
      this.next = DATA_BASE;
    }
    const a = this.next + gap;
    this.next = a + len;
    return a;
  }

  /** Places a request in guest memory and makes it available on queue `q` (not kicked). */
  add(req: RawRequest, q = 0): Promise<Completion> {
    if (this.inflight === 0) this.next = DATA_BASE;
    const layout = req.layout ?? {};
    const readPieces = layout.readPieces ?? (req.readable.length > 0 ? [req.readable.length] : []);
    const writePieces = layout.writePieces ?? (req.writable > 0 ? [req.writable] : []);
    const gaps = layout.gaps ?? [0];
    let g = 0;
    const out: DriverBuffer[] = [];
    const inBufs: DriverBuffer[] = [];
    const pieces: Pending['pieces'] = [];
    let at = 0;
    for (const len of readPieces) {
      const addr = this.alloc(len, gaps[g++ % gaps.length]!);
      this.memory.write(addr, req.readable.subarray(at, at + len));
      at += len;
      out.push({ addr, len });
      pieces.push({ addr, len, writable: false });
    }
    let wat = 0;
    for (const len of writePieces) {
      const addr = this.alloc(len, gaps[g++ % gaps.length]!);
      this.memory.fill(addr, len, req.fill ?? 0xee);
      const init = req.writableInit;
      if (init !== undefined && wat < init.length) this.memory.write(addr, init.subarray(wat, Math.min(init.length, wat + len)));
      wat += len;
      inBufs.push({ addr, len });
      pieces.push({ addr, len, writable: true });
    }
    return new Promise<Completion>((resolve) => {
      const p: Pending = { pieces, readable: req.readable, resolve, done: false };
      const drv = this.drivers[q]!;
      const head = drv.add(out, inBufs, p, layout.indirect);
      if (head < 0) throw new Error('harness: ring full');
      this.inflight++;
    });
  }

  /** Notifies the device about queue `q` (as the driver does when kickPrepare says so, or always). */
  kick(q = 0, always = true): void {
    const want = this.drivers[q]!.kickPrepare();
    if (want || always) this.device.queueNotify(q);
  }

  /** Adds and kicks one request; resolves when the device completes it. */
  submit(req: RawRequest, q = 0): Promise<Completion> {
    const p = this.add(req, q);
    this.kick(q);
    return p;
  }

  /** Takes every used buffer of queue `q` and resolves its request. */
  reap(q = 0): void {
    const drv = this.drivers[q]!;
    for (let u = drv.getBuf(); u !== null; u = drv.getBuf()) {
      const p = u.token;
      const parts: Uint8Array[] = [];
      for (const piece of p.pieces) if (piece.writable) parts.push(this.read(piece.addr, piece.len));
      const total = parts.reduce((s, x) => s + x.length, 0);
      const writable = new Uint8Array(total);
      let o = 0;
      for (const x of parts) {
        writable.set(x, o);
        o += x.length;
      }
      const rparts = p.pieces.filter((x) => !x.writable).map((x) => this.read(x.addr, x.len));
      const readable = new Uint8Array(p.readable.length);
      o = 0;
      for (const x of rparts) {
        readable.set(x, o);
        o += x.length;
      }
      p.done = true;
      this.inflight--;
      const writablePieces = p.pieces.filter((x) => x.writable).map(({ addr, len }) => ({ addr, len }));
      p.resolve({ writable, status: writable.length > 0 ? writable[writable.length - 1]! : -1, len: u.len, readable, writablePieces });
    }
  }

  /**
   * Submits a request and reports every guest byte of the data area that changed: a request may
   * only change its own writable buffers.
   */
  async submitGuarded(req: RawRequest, q = 0): Promise<Completion & { changed: number[] }> {
    const p = this.add(req, q);
    const end = this.next + 4096;
    const before = this.read(DATA_BASE, end - DATA_BASE);
    this.kick(q);
    const c = await Promise.race([p, this.settle().then(() => null)]);
    if (c === null) throw new Error('harness: the request did not complete');
    const after = this.read(DATA_BASE, end - DATA_BASE);
    const changed: number[] = [];
    if (!sameBytes(before, after)) for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed.push(DATA_BASE + i);
    return { ...c, changed };
  }

  read(addr: number, len: number): Uint8Array {
    const b = new Uint8Array(len);
    this.memory.read(addr, b);
    return b;
  }

  /** Waits for the backend to go idle and reaps everything (for interrupts the driver suppressed). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await this.device.drain();
      await new Promise((r) => setImmediate(r));
      for (let q = 0; q < this.drivers.length; q++) this.reap(q);
    }
  }
}

/** The readable stream of a request: header then `data`. */
export function requestBytes(type: number, sector: bigint | number, data: Uint8Array = new Uint8Array(0), reserved = 0): Uint8Array {
  const h = encodeRequestHeader({ type, sector: BigInt(sector), reserved });
  const out = new Uint8Array(16 + data.length);
  out.set(h);
  out.set(data, 16);
  return out;
}

/** Deterministic sector contents for tests. */
export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  const r = rng(seed);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Fast byte equality (jest's toEqual walks typed arrays element by element). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
