/**
 * Request processing for one virtqueue of a block device (VIRTIO 1.2 §5.2.6), served by
 * device-trait's `serveQueue` under the queue's in-flight budget: parses each request through the
 * chain's byte cursors (any descriptor layout), validates it, runs it against the backend, and
 * completes it in any order: status byte, then `served.complete` (used element, interrupt if the
 * driver wants one, a budget slot freed). Reads go through a bounce buffer of the request unless
 * `directReads`: the data reaches the guest at completion, and never after a reset. Completions
 * that arrive together (a backend delivering a batch) share one interrupt; a backend with
 * `submitRead`/`submitWrite` completes through a callback, without a promise per request.
 *
 * Internal to @vmv/block: the device creates one worker per enabled queue per activation. A
 * worker is killed by a reset, of the device or of its queue; a request still running in the backend then completes without
 * touching guest memory (the transport retired the queue, which drops the completion).
 * @module
 */
import { serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, InFlightBudget, Reader, ServedQueue, Writer } from '@vmv/device-trait';
import type { BlockBackend } from './backend.js';
import { BlockStatus, ID_BYTES, LIFETIME_SIZE, REQUEST_HEADER_SIZE, RequestType, SECTOR_SIZE, SEGMENT_SIZE, SegmentFlags } from './constants.js';
import { encodeLifetime, isValidLifetime } from './wire.js';
import type { BlockLifetime } from './wire.js';

const TWO_32 = 4294967296;
/** Schedules a microtask (pure ECMAScript: no queueMicrotask in the core's lib). */
const RESOLVED = Promise.resolve();
const OK = BlockStatus.OK;
const IOERR = BlockStatus.IOERR;
const UNSUPP = BlockStatus.UNSUPP;

/** What comes after a successful backend call. */
const STAGE_DONE = 0;
const STAGE_FLUSH = 1;

/** Limits of one command family (DISCARD, WRITE_ZEROES, SECURE_ERASE), as advertised. @example `{ maxSectors: 4194303, maxSegments: 32, alignment: 1 }` */
export interface SegmentLimits {
  readonly maxSectors: number;
  readonly maxSegments: number;
  readonly alignment: number;
}

/**
 * Request counters of a device (cumulative).
 * @example
 * ```ts
 * const { requests, ok, ioerr } = device.stats;
 * ```
 */
export interface BlockStats {
  /** Requests popped from the queues. */
  requests: number;
  /** Completed with VIRTIO_BLK_S_OK. */
  ok: number;
  /** Completed with VIRTIO_BLK_S_IOERR. */
  ioerr: number;
  /** Completed with VIRTIO_BLK_S_UNSUPP. */
  unsupp: number;
  /** Returned unanswered because the chain had no device-writable byte for the status. */
  noStatus: number;
  /** Backend operations that threw or rejected (each failed its request with IOERR). */
  backendErrors: number;
}

/** What a worker needs from its device (internal). Fixed fields are per activation; the two functions are live. @example `new QueueWorker(host, ctx, 0, budget)` */
export interface EngineHost {
  readonly backend: BlockBackend;
  readonly readOnly: boolean;
  /** Capacity in sectors (live: resize changes it). */
  capacity(): number;
  /** Whether writes must be stable before they complete (live: CONFIG_WCE). */
  writethrough(): boolean;
  readonly flushOffered: boolean;
  /** 20-byte GET_ID answer, or null to answer UNSUPP. */
  readonly id: Uint8Array | null;
  /** GET_LIFETIME source when negotiated, else null. */
  readonly lifetime: (() => BlockLifetime | Promise<BlockLifetime>) | null;
  /** Negotiated command families: null when not negotiated. */
  readonly discard: SegmentLimits | null;
  readonly writeZeroes: SegmentLimits | null;
  readonly secureErase: SegmentLimits | null;
  /** seg_max / size_max when offered, else 0 (not enforced). */
  readonly segMax: number;
  readonly sizeMax: number;
  /** Guest memory keeps a dirty-page log: data that lands late must be marked again. */
  readonly dirtyLogged: boolean;
  /** Reads go straight into guest buffers; otherwise through the request's bounce buffer. */
  readonly directReads: boolean;
  readonly stats: BlockStats;
  /** A backend operation went asynchronous / settled (for drain()). */
  opStarted(): void;
  opSettled(): void;
  backendError(error: unknown, type: number, sector: number): void;
  /** A DISCARD or WRITE_ZEROES ran: the backend may have found it cannot deallocate. */
  unmapAttempted(): void;
}

/** One in-flight request; pooled per worker, so its two callbacks are created once. */
class BlockRequest {
  chain: DescriptorChain | null = null;
  served: ServedQueue | null = null;
  /** Where the status byte goes: its guest address, or else (-1) a writer over it. */
  statusAddr = -1;
  status: Writer | null = null;
  written = 1;
  stage = STAGE_DONE;
  type = 0;
  sector = 0;
  /** A read through `bounce`: its first `bounced` bytes go to the guest's buffers at completion. */
  bounced = 0;
  bounce: Uint8Array | null = null;
  /** `[bounce.subarray(0, n)]` of the last read through `bounce`, kept for the next one of that size. */
  bounceTarget: Uint8Array[] | null = null;
  /**
   * Counts backend submissions through a completion callback (`submitRead`, `submitWrite`): a
   * callback counts only while the ticket it was given is current, so a second call, or a late
   * call for an earlier use of this pooled object, is ignored.
   */
  ticket = 0;
  /** Inside a `submit*` call: a completion now is synchronous, recorded for after the call. */
  submitting = false;
  syncDone = false;
  syncError: unknown = undefined;
  readonly onOk: () => void;
  readonly onErr: (e: unknown) => void;

  constructor(worker: QueueWorker) {
    this.onOk = () => worker.settled(this);
    this.onErr = (e: unknown) => worker.settledWithError(this, e);
  }
}

/**
 * The context the worker serves its queue with: the activation's, except that used-buffer
 * interrupts can be held while a burst of asynchronous completions goes into the used ring, and
 * raised once after it (see `QueueWorker.hold`).
 */
class HeldInterrupts implements ActivationContext {
  readonly memory: ActivationContext['memory'];
  readonly features: bigint;
  readonly interrupt: ActivationContext['interrupt'];
  /** Interrupts are held (a burst of completions is running). */
  holding = false;
  /** An interrupt was asked for while holding. */
  owed = false;

  constructor(readonly ctx: ActivationContext) {
    this.memory = ctx.memory;
    this.features = ctx.features;
    this.interrupt = {
      signalUsedBuffer: (queueIndex: number) => {
        if (this.holding) this.owed = true;
        else ctx.interrupt.signalUsedBuffer(queueIndex);
      },
      signalConfigChange: () => ctx.interrupt.signalConfigChange(),
    };
  }

  /** The activation's live table: a reset retires queues in it. */
  get queues(): ActivationContext['queues'] {
    return this.ctx.queues;
  }

  needsReset(reason: unknown): void {
    this.ctx.needsReset(reason);
  }
}

let zeroes: Uint8Array | null = null;
/** A shared zero buffer for emulated WRITE_ZEROES (backends only read it). */
function zeroBuffer(): Uint8Array {
  if (zeroes === null) zeroes = new Uint8Array(256 * 1024);
  return zeroes;
}

function isThenable(v: unknown): v is PromiseLike<void> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** `sector` from its u32 halves, or Infinity when beyond 2^53 (beyond any capacity). */
function sectorOf(lo: number, hi: number): number {
  return hi < 0x200000 ? hi * TWO_32 + lo : Infinity;
}

/** `[sector, sector+count)` lies within `capacity` sectors; no intermediate overflows. */
function inRange(sector: number, count: number, capacity: number): boolean {
  return sector <= capacity && count <= capacity - sector;
}

/**
 * Serves one virtqueue (internal): `pump()` on every notification; `serveQueue` stops popping at
 * the budget's limit and goes on when a completion frees a slot.
 * @example
 * ```ts
 * const worker = new QueueWorker(host, ctx, 0, budget);
 * worker.pump();
 * ```
 */
export class QueueWorker {
  /** Set by reset: nothing may touch guest memory any more. */
  dead = false;
  private inflight = 0;
  private readonly free: BlockRequest[] = [];
  private readonly handle: ChainHandler = (chain, served) => this.start(chain, served);
  private readonly held: HeldInterrupts;
  private readonly releaseHeld = (): void => this.release();

  constructor(
    private readonly host: EngineHost,
    private readonly ctx: ActivationContext,
    private readonly index: number,
    private readonly budget: InFlightBudget,
  ) {
    this.held = new HeldInterrupts(ctx);
  }

  /** Requests popped and not yet completed. */
  get inFlight(): number {
    return this.inflight;
  }

  /** Pops and starts requests while the budget has room. */
  pump(): void {
    if (!this.dead) serveQueue(this.held, this.index, this.handle, this.budget);
  }

  /**
   * An asynchronous completion: hold the used-buffer interrupt until the end of the current
   * microtask checkpoint, so that a backend settling many operations at once (FileBackend settles
   * those of one event-loop turn together) puts them all in the used ring under one interrupt, as
   * the serving loop does for requests completed while it runs. EVENT_IDX still decides whether
   * the driver wants one; it only comes after the burst. With no other request of the queue in
   * flight, nothing can come with this one: then the interrupt is not held.
   */
  private hold(): void {
    const held = this.held;
    // The queue's only request (queue depth 1): nothing can come with it, so no wait.
    if (held.holding || this.inflight < 2) return;
    held.holding = true;
    void RESOLVED.then(this.releaseHeld);
  }

  /** The end of a burst: the interrupt it owes, if any. */
  private release(): void {
    const held = this.held;
    held.holding = false;
    if (!held.owed) return;
    held.owed = false;
    if (this.dead) return;
    try {
      this.ctx.interrupt.signalUsedBuffer(this.index);
    } catch (e) {
      this.ctx.needsReset(e);
    }
  }

  // ------------------------------------------------------------------ completion

  /** Writes the status and returns the chain (after a reset: returns it unwritten, to be dropped). */
  private complete(r: BlockRequest, status: number, written: number): void {
    const chain = r.chain!;
    const sw = r.status;
    const statusAddr = r.statusAddr;
    const served = r.served!;
    const bounced = r.bounced;
    const bounce = r.bounce;
    const landed = bounced > 0 ? r.bounceTarget![0]! : null; // the read's `bounced` bytes
    r.chain = null;
    r.status = null;
    r.statusAddr = -1;
    r.served = null;
    r.bounced = 0;
    if (bounce !== null && bounce.length > BOUNCE_KEEP) {
      r.bounce = null;
      r.bounceTarget = null;
    }
    this.inflight--;
    this.free.push(r);
    if (this.dead) return served.complete(chain, 0); // a retired queue drops it; the budget slot is freed
    // A read through the bounce buffer: its data reaches the guest only now, on a live queue (and
    // is marked in a dirty log as it lands).
    if (landed !== null && status === OK) this.land(chain, landed);
    const stats = this.host.stats;
    if (status === OK) stats.ok++;
    else if (status === IOERR) stats.ioerr++;
    else stats.unsupp++;
    // A direct read's data was marked dirty when its views were taken; a dirty log taken while the
    // read was in flight has lost it, so mark the buffers again now that the data is there.
    if (landed === null && status === OK && r.type === RequestType.IN && this.host.dirtyLogged && written > 1) chain.writer().views(written - 1);
    if (sw === null) this.ctx.memory.writeU8(statusAddr, status);
    else sw.writeU8(status);
    served.complete(chain, written);
  }

  /**
   * Writes a read's `data` into the chain's first device-writable bytes: in one copy when the
   * first writable buffer holds it all, else through a writer (any layout, any region boundary).
   */
  private land(chain: DescriptorChain, data: Uint8Array): void {
    const w = chain.readableCount;
    const addr = chain.length(w) >= data.length ? chain.address(w) : -1;
    if (typeof addr === 'number' && addr >= 0) this.ctx.memory.write(addr, data);
    else copyInto(chain.writer().views(data.length), data);
  }

  /** A chain without a single device-writable byte: no status can be given; return it empty. */
  private completeWithoutStatus(r: BlockRequest): void {
    this.host.stats.noStatus++;
    const chain = r.chain!;
    const served = r.served!;
    r.chain = null;
    r.served = null;
    this.inflight--;
    this.free.push(r);
    served.complete(chain, 0);
  }

  /** An asynchronous backend operation resolved. */
  settled(r: BlockRequest): void {
    this.hold();
    try {
      if (this.dead) this.complete(r, OK, 0);
      else this.next(r);
    } catch (e) {
      this.ctx.needsReset(e); // a device bug on the completion path: the driver must reset
    } finally {
      this.host.opSettled();
    }
  }

  /** An asynchronous backend operation rejected. */
  settledWithError(r: BlockRequest, e: unknown): void {
    this.hold();
    try {
      if (this.dead) this.complete(r, IOERR, 0);
      else this.backendFailed(r, e);
    } catch (err) {
      this.ctx.needsReset(err);
    } finally {
      this.host.opSettled();
    }
  }

  private backendFailed(r: BlockRequest, e: unknown): void {
    this.host.stats.backendErrors++;
    try {
      this.host.backendError(e, r.type, r.sector);
    } catch {
      // an embedder's error hook must not break the queue
    }
    this.complete(r, IOERR, 1);
  }

  /** Runs `op` (the result of a backend call) and continues with `next` when it succeeds. */
  private follow(r: BlockRequest, op: unknown): void {
    if (isThenable(op)) {
      this.host.opStarted();
      op.then(r.onOk, r.onErr);
    } else {
      this.next(r);
    }
  }

  /** Calls a backend method, turning a synchronous throw into a failed request. */
  private call(r: BlockRequest, fn: () => unknown): void {
    let op: unknown;
    try {
      op = fn();
    } catch (e) {
      return this.backendFailed(r, e);
    }
    this.follow(r, op);
  }

  /**
   * Runs a read or a write: through the backend's completion-callback form when it has one (no
   * promise, no microtask per request), else through its promise form.
   */
  private transfer(r: BlockRequest, isWrite: boolean, offset: number, buffers: Uint8Array[]): void {
    const backend = this.host.backend;
    const submit = isWrite ? backend.submitWrite : backend.submitRead;
    if (typeof submit !== 'function') {
      let op: unknown;
      try {
        op = isWrite ? backend.write(offset, buffers) : backend.read(offset, buffers);
      } catch (e) {
        return this.backendFailed(r, e);
      }
      return this.follow(r, op);
    }
    const ticket = ++r.ticket;
    r.submitting = true;
    let threw = false;
    let thrown: unknown;
    try {
      submit.call(backend, offset, buffers, (error: unknown) => this.called(r, ticket, error));
    } catch (e) {
      threw = true;
      thrown = e;
    }
    r.submitting = false;
    if (r.syncDone) {
      // Completed within the call (a throw after that is ignored, as a second callback would be).
      const error = r.syncError;
      r.syncDone = false;
      r.syncError = undefined;
      return error === null || error === undefined ? this.next(r) : this.backendFailed(r, error);
    }
    if (threw) {
      r.ticket++; // a callback after the throw is ignored
      return this.backendFailed(r, thrown);
    }
    this.host.opStarted();
  }

  /** The completion callback of a `submit*` call. */
  private called(r: BlockRequest, ticket: number, error: unknown): void {
    if (r.ticket !== ticket) return;
    r.ticket++;
    if (r.submitting) {
      r.syncDone = true;
      r.syncError = error;
    } else if (error === null || error === undefined) {
      this.settled(r);
    } else {
      this.settledWithError(r, error);
    }
  }

  /** The step after a successful backend operation. */
  private next(r: BlockRequest): void {
    if (r.stage === STAGE_FLUSH) {
      r.stage = STAGE_DONE;
      const backend = this.host.backend;
      let op: unknown;
      try {
        op = backend.flush();
      } catch (e) {
        return this.backendFailed(r, e);
      }
      return this.follow(r, op);
    }
    this.complete(r, OK, r.written);
  }

  // ------------------------------------------------------------------ parsing

  private start(chain: DescriptorChain, served: ServedQueue): void {
    const r = this.free.pop() ?? new BlockRequest(this);
    r.chain = chain;
    r.served = served;
    r.stage = STAGE_DONE;
    r.written = 1;
    r.type = -1;
    r.sector = 0;
    this.inflight++;
    this.host.stats.requests++;
    const writable = chain.writableBytes;
    if (writable === 0) return this.completeWithoutStatus(r);
    // The status is the last device-writable byte. Where the last buffer holds it, it is written
    // at its address; otherwise through a writer over it. (The data before it is reached through
    // writers of the chain, always for at most `writable - 1` bytes.)
    const last = chain.descriptorCount - 1;
    const lastLen = chain.length(last);
    const lastAddr = lastLen > 0 ? chain.address(last) : -1;
    if (typeof lastAddr === 'number' && lastAddr >= 0) r.statusAddr = lastAddr + lastLen - 1;
    else r.status = chain.writer().split(writable - 1);
    if (chain.readableBytes < REQUEST_HEADER_SIZE) return this.complete(r, IOERR, 1);
    // The header: straight from guest memory when the first buffer holds it (as Linux sends it),
    // else through a reader, which follows it across buffers.
    let type: number;
    let lo: number;
    let hi: number;
    let rd: Reader | null = null;
    const first = chain.length(0) >= REQUEST_HEADER_SIZE ? chain.address(0) : -1;
    if (typeof first === 'number' && first >= 0) {
      const memory = this.ctx.memory;
      type = memory.readU32(first);
      lo = memory.readU32(first + 8);
      hi = memory.readU32(first + 12);
    } else {
      rd = chain.reader();
      type = rd.readU32();
      rd.skip(4);
      lo = rd.readU32();
      hi = rd.readU32();
    }
    r.type = type;
    const sector = sectorOf(lo, hi);
    r.sector = sector;
    const dataIn = chain.readableBytes - REQUEST_HEADER_SIZE; // device-readable bytes after the header
    const dataOut = writable - 1; // device-writable bytes before the status
    switch (type) {
      case RequestType.IN:
        return this.startIn(r, chain, sector, dataIn, dataOut);
      case RequestType.OUT:
        return this.startOut(r, chain, rd ?? afterHeader(chain), sector, dataIn, dataOut);
      case RequestType.FLUSH:
        if (!this.host.flushOffered) return this.complete(r, UNSUPP, 1);
        if (lo !== 0 || hi !== 0) return this.complete(r, IOERR, 1); // "MUST set sector to 0"
        return this.call(r, () => this.host.backend.flush());
      case RequestType.GET_ID: {
        const id = this.host.id;
        if (id === null) return this.complete(r, UNSUPP, 1);
        if (dataIn !== 0 || dataOut !== ID_BYTES) return this.complete(r, IOERR, 1);
        chain.writer().write(id);
        return this.complete(r, OK, ID_BYTES + 1);
      }
      case RequestType.GET_LIFETIME: {
        if (this.host.lifetime === null) return this.complete(r, UNSUPP, 1);
        if (dataIn !== 0 || dataOut !== LIFETIME_SIZE) return this.complete(r, IOERR, 1);
        r.written = LIFETIME_SIZE + 1;
        const data = chain.writer();
        return this.call(r, () => this.lifetimeOp(data));
      }
      case RequestType.DISCARD:
        return this.startSegments(r, chain, rd ?? afterHeader(chain), type, this.host.discard, dataIn, dataOut);
      case RequestType.WRITE_ZEROES:
        return this.startSegments(r, chain, rd ?? afterHeader(chain), type, this.host.writeZeroes, dataIn, dataOut);
      case RequestType.SECURE_ERASE:
        return this.startSegments(r, chain, rd ?? afterHeader(chain), type, this.host.secureErase, dataIn, dataOut);
      default:
        return this.complete(r, UNSUPP, 1);
    }
  }

  /**
   * The advertised data-segment limits (seg_max, size_max) hold for the data bytes
   * `[skip, skip+length)` of the readable (`writable` false) or writable buffers. A descriptor
   * counts as a segment when it carries at least one data byte.
   */
  private shapeOk(chain: DescriptorChain, writable: boolean, skip: number, length: number): boolean {
    const segMax = this.host.segMax;
    const sizeMax = this.host.sizeMax;
    if ((segMax === 0 && sizeMax === 0) || length === 0) return true;
    const end = skip + length;
    let i = writable ? chain.readableCount : 0;
    const last = writable ? chain.descriptorCount : chain.readableCount;
    let pos = 0;
    let segments = 0;
    for (; i < last && pos < end; i++) {
      const len = chain.length(i);
      const a = pos > skip ? pos : skip;
      const b = pos + len < end ? pos + len : end;
      if (b > a) {
        segments++;
        if (sizeMax !== 0 && b - a > sizeMax) return false;
      }
      pos += len;
    }
    return segMax === 0 || segments <= segMax;
  }

  private startIn(r: BlockRequest, chain: DescriptorChain, sector: number, dataIn: number, dataOut: number): void {
    // Device-readable bytes after the header where the data must be device-writable.
    if (dataIn !== 0 || dataOut % SECTOR_SIZE !== 0) return this.complete(r, IOERR, 1);
    if (!inRange(sector, dataOut / SECTOR_SIZE, this.host.capacity())) return this.complete(r, IOERR, 1);
    if (!this.shapeOk(chain, true, 0, dataOut)) return this.complete(r, IOERR, 1);
    r.written = dataOut + 1;
    if (dataOut === 0) return this.complete(r, OK, 1);
    const offset = sector * SECTOR_SIZE;
    if (this.host.directReads) return this.transfer(r, false, offset, chain.writer().views(dataOut));
    // Through the request's bounce buffer; the guest's buffers are written at completion.
    let b = r.bounce;
    let t = r.bounceTarget;
    if (b === null || b.length < dataOut) {
      r.bounce = b = new Uint8Array(dataOut > BOUNCE_MIN ? dataOut : BOUNCE_MIN);
      t = null;
    }
    if (t === null || t[0]!.length !== dataOut) r.bounceTarget = t = [b.subarray(0, dataOut)];
    r.bounced = dataOut;
    this.transfer(r, false, offset, t);
  }

  private startOut(r: BlockRequest, chain: DescriptorChain, rd: Reader, sector: number, dataIn: number, dataOut: number): void {
    const host = this.host;
    if (host.readOnly) return this.complete(r, IOERR, 1); // §5.2.6.2: IOERR, no data written
    // Device-writable bytes before the status where the data must be device-readable.
    if (dataOut !== 0 || dataIn % SECTOR_SIZE !== 0) return this.complete(r, IOERR, 1);
    if (!inRange(sector, dataIn / SECTOR_SIZE, host.capacity())) return this.complete(r, IOERR, 1);
    if (!this.shapeOk(chain, false, REQUEST_HEADER_SIZE, dataIn)) return this.complete(r, IOERR, 1);
    if (dataIn === 0) return this.complete(r, OK, 1);
    const views = rd.views(dataIn);
    if (host.writethrough()) r.stage = STAGE_FLUSH;
    this.transfer(r, true, sector * SECTOR_SIZE, views);
  }

  private async lifetimeOp(data: Writer): Promise<void> {
    const l = await this.host.lifetime!();
    if (!isValidLifetime(l)) throw new RangeError('GET_LIFETIME: the backend reported reserved values');
    if (!this.dead) data.write(encodeLifetime(l));
  }

  private startSegments(r: BlockRequest, chain: DescriptorChain, rd: Reader, type: number, limits: SegmentLimits | null, dataIn: number, dataOut: number): void {
    const host = this.host;
    if (host.readOnly) return this.complete(r, IOERR, 1);
    if (limits === null) return this.complete(r, UNSUPP, 1);
    // The segments are device-readable data after the header. Linux's virtio_blk picks the data
    // direction from bit 0 of the type (`type & VIRTIO_BLK_T_OUT`), so it sends the segments of a
    // SECURE_ERASE (type 14, bit 0 clear) in a device-writable buffer: accept them there too, for
    // SECURE_ERASE only, and read them without writing them.
    const writableSegments = type === RequestType.SECURE_ERASE && dataIn === 0 && dataOut !== 0;
    const length = writableSegments ? dataOut : dataIn;
    if ((!writableSegments && dataOut !== 0) || length === 0 || length % SEGMENT_SIZE !== 0) return this.complete(r, IOERR, 1);
    const count = length / SEGMENT_SIZE;
    if (count > limits.maxSegments) return this.complete(r, IOERR, 1);
    if (writableSegments ? !this.shapeOk(chain, true, 0, length) : !this.shapeOk(chain, false, REQUEST_HEADER_SIZE, length)) return this.complete(r, IOERR, 1);
    // A private copy: the guest cannot change a segment between validation and execution.
    const segs = writableSegments ? copyOf(chain.writer().views(length), length) : rd.readBytes(length);
    const dv = new DataView(segs.buffer);
    const allowed = type === RequestType.WRITE_ZEROES ? SegmentFlags.UNMAP : 0;
    // Flags first: an unknown flag (or UNMAP outside WRITE_ZEROES) MUST give UNSUPP (§5.2.6.2).
    for (let i = 0; i < count; i++) {
      if ((dv.getUint32(i * SEGMENT_SIZE + 12, true) & ~allowed) !== 0) return this.complete(r, UNSUPP, 1);
    }
    const capacity = host.capacity();
    for (let i = 0; i < count; i++) {
      const o = i * SEGMENT_SIZE;
      const sector = sectorOf(dv.getUint32(o, true), dv.getUint32(o + 4, true));
      const n = dv.getUint32(o + 8, true);
      if (n > limits.maxSectors || !inRange(sector, n, capacity) || sector % limits.alignment !== 0) return this.complete(r, IOERR, 1);
    }
    this.call(r, () => this.segmentsOp(type, dv, count));
  }

  /** Runs the segments one after the other; stops early if the device is reset. */
  private async segmentsOp(type: number, dv: DataView, count: number): Promise<void> {
    const backend = this.host.backend;
    for (let i = 0; i < count && !this.dead; i++) {
      const o = i * SEGMENT_SIZE;
      const offset = (dv.getUint32(o + 4, true) * TWO_32 + dv.getUint32(o, true)) * SECTOR_SIZE;
      const length = dv.getUint32(o + 8, true) * SECTOR_SIZE;
      if (length === 0) continue;
      if (type === RequestType.DISCARD) {
        if (typeof backend.discard === 'function') await backend.discard(offset, length);
      } else if (type === RequestType.WRITE_ZEROES) {
        const unmap = (dv.getUint32(o + 12, true) & SegmentFlags.UNMAP) !== 0;
        if (typeof backend.writeZeroes === 'function') await backend.writeZeroes(offset, length, unmap);
        else await writeZeroBuffers(backend, offset, length);
      } else if (typeof backend.secureErase === 'function') {
        await backend.secureErase(offset, length);
      } else if (typeof backend.writeZeroes === 'function') {
        await backend.writeZeroes(offset, length, false);
      } else {
        await writeZeroBuffers(backend, offset, length);
      }
    }
    if (type !== RequestType.SECURE_ERASE) this.host.unmapAttempted();
    if (this.dead) return;
    // Secure erase without a native implementation: the zeroes must reach stable storage.
    const eraseFlush = type === RequestType.SECURE_ERASE && typeof backend.secureErase !== 'function';
    if (type !== RequestType.DISCARD && (eraseFlush || this.host.writethrough())) await backend.flush();
  }
}

/** A reader positioned after the request header (the chain has at least its 16 readable bytes). */
function afterHeader(chain: DescriptorChain): Reader {
  const rd = chain.reader();
  rd.skip(REQUEST_HEADER_SIZE);
  return rd;
}

/** Bounce buffers of pooled requests start this big, and are kept up to BOUNCE_KEEP bytes. */
const BOUNCE_MIN = 64 * 1024;
const BOUNCE_KEEP = 1024 * 1024;

/** Copies `from` into `views` (of the same total length), in order. */
function copyInto(views: readonly Uint8Array[], from: Uint8Array): void {
  let at = 0;
  for (const v of views) {
    v.set(from.subarray(at, at + v.length));
    at += v.length;
  }
}

/** The bytes of `views` (`length` in all) in one new array. */
function copyOf(views: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/** WRITE_ZEROES through plain writes of a shared zero buffer. */
async function writeZeroBuffers(backend: BlockBackend, offset: number, length: number): Promise<void> {
  const z = zeroBuffer();
  while (length > 0) {
    const n = length < z.length ? length : z.length;
    await backend.write(offset, [z.subarray(0, n)]);
    offset += n;
    length -= n;
  }
}
