/**
 * Sharing an {@link IoManager} with vCPU workers.
 *
 * An IoManager, its buses and ordinary (exclusive) devices are plain JS objects: they cannot be
 * shared between workers (postMessage would copy them, and the copies would diverge). The
 * supported pattern is: **one agent owns the IoManager and the exclusive devices; each vCPU
 * worker forwards its PIO/MMIO exits through a SharedArrayBuffer mailbox** and blocks with
 * `Atomics.wait` until the owner has dispatched them. Calls are serialised on the owner, as a
 * `Mutex` would serialise them in Rust.
 *
 * - {@link IoMailbox.create} allocates the shared buffer (one slot per vCPU); pass
 *   `mailbox.buffer` to the workers (SharedArrayBuffers are shared, not copied).
 * - {@link IoExitServer}, on the owning agent, serves the slots: `start()` (non-blocking, uses
 *   `Atomics.waitAsync` or falls back to a timer, so the owner's event loop keeps running),
 *   `serve(timeoutMs)` (blocking, for an owner that is itself a worker) or `poll()`.
 * - {@link IoExitClient}, in a vCPU worker, is a `PioDispatcher & MmioDispatcher` that forwards;
 *   its {@link IoExitClient.device} is a *shared* device (`shared: true`) that can sit in the
 *   worker's own `IoManager({ sharedOnly: true })` next to devices whose state lives in a
 *   SharedArrayBuffer and that the worker calls directly.
 *
 * What may be shared: SharedArrayBuffers (the mailbox, guest memory, the state of shared
 * devices). What must not: the IoManager, buses, exclusive devices, interrupt groups; they
 * stay on their owning agent. `Atomics.wait` is not allowed on a browser's main thread: there
 * the owner uses `start()` and the vCPUs run in Web Workers.
 * @module
 */
import type { MmioAddress, PioAddress } from './address.js';
import { checkPioAddress, toMmioBigInt } from './address.js';
import type { DeviceMmio, DevicePio } from './device.js';
import { BUS_ERROR_CODES, BUS_ERROR_NAMES, MailboxRemoteError, MailboxTimeoutError } from './errors.js';
import type { MmioDispatcher, PioDispatcher } from './manager.js';
import { show } from './internal/show.js';

const MAGIC = 0x564d5642; // 'VMVB'
const HEADER_WORDS = 4; // doorbell, slots, dataBytes, magic
const SLOT_HEADER_WORDS = 8; // state, op, addrLo, addrHi, length, status, reserved x2
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const BUSY = 3;
const OP_PIO_READ = 0;
const OP_PIO_WRITE = 1;
const OP_MMIO_READ = 2;
const OP_MMIO_WRITE = 3;
const STATUS_OK = 0;
const STATUS_OTHER = 0xffff;

/** Options of {@link IoMailbox.create}. @example `{ slots: 4, maxAccess: 64 }` */
export interface IoMailboxOptions {
  /** Number of slots, one per vCPU worker (1..1024). */
  readonly slots: number;
  /** Largest access in bytes a slot carries (default 64, at most 65536). */
  readonly maxAccess?: number;
}

interface Layout {
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  readonly slots: number;
  readonly dataBytes: number;
  readonly stride: number;
}

function layoutOf(buffer: SharedArrayBuffer, label: string): Layout {
  if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError(`${label}: buffer must be a SharedArrayBuffer`);
  if (buffer.byteLength < HEADER_WORDS * 4) throw new RangeError(`${label}: buffer too small for a mailbox`);
  const words = new Int32Array(buffer);
  if (words[3] !== MAGIC) throw new RangeError(`${label}: buffer is not an IoMailbox (bad magic)`);
  const slots = words[1]!;
  const dataBytes = words[2]!;
  const stride = SLOT_HEADER_WORDS + Math.ceil(dataBytes / 4);
  if (buffer.byteLength < (HEADER_WORDS + slots * stride) * 4) throw new RangeError(`${label}: buffer shorter than its header says`);
  return { words, bytes: new Uint8Array(buffer), slots, dataBytes, stride };
}

/**
 * The shared buffer of a mailbox.
 * @example
 * ```ts
 * const mailbox = IoMailbox.create({ slots: 2 });
 * new Worker(url, { workerData: { mailbox: mailbox.buffer, slot: 0 } });
 * ```
 */
export class IoMailbox {
  /**
   * Allocates a mailbox.
   * @param options - slots and maximum access size
   * @returns the mailbox
   * @throws RangeError when slots or maxAccess is out of range
   * @example `IoMailbox.create({ slots: 4 })`
   */
  static create(options: IoMailboxOptions): IoMailbox {
    const slots = options?.slots;
    const maxAccess = options?.maxAccess ?? 64;
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) throw new RangeError(`IoMailbox.create: slots must be an integer in [1, 1024], got ${show(slots)}`);
    if (!Number.isInteger(maxAccess) || maxAccess < 1 || maxAccess > 65536) throw new RangeError(`IoMailbox.create: maxAccess must be an integer in [1, 65536], got ${show(maxAccess)}`);
    const stride = SLOT_HEADER_WORDS + Math.ceil(maxAccess / 4);
    const buffer = new SharedArrayBuffer((HEADER_WORDS + slots * stride) * 4);
    const words = new Int32Array(buffer);
    words[1] = slots;
    words[2] = maxAccess;
    words[3] = MAGIC;
    return new IoMailbox(buffer);
  }

  /** The shared memory; send it to workers. */
  readonly buffer: SharedArrayBuffer;
  /** Number of slots. */
  readonly slots: number;
  /** Largest access a slot carries, in bytes. */
  readonly maxAccess: number;

  /**
   * Wraps an existing mailbox buffer (as received by a worker).
   * @param buffer - a buffer made by {@link IoMailbox.create}
   * @throws TypeError / RangeError when it is not a mailbox buffer
   */
  constructor(buffer: SharedArrayBuffer) {
    const l = layoutOf(buffer, 'IoMailbox');
    this.buffer = buffer;
    this.slots = l.slots;
    this.maxAccess = l.dataBytes;
  }
}

/** Options of an {@link IoExitClient}. @example `{ timeoutMs: 5000 }` */
export interface IoExitClientOptions {
  /** How long one forwarded access may wait for the server (default: forever). */
  readonly timeoutMs?: number;
}

/**
 * The vCPU side of a mailbox: forwards accesses to the owning agent and blocks until they are
 * done. One client per slot, used by one worker; it must not run on a browser's main thread.
 * @example
 * ```ts
 * const io = new IoExitClient(workerData.mailbox, workerData.slot);
 * io.pioWrite(0x3f8, Uint8Array.of(0x41));
 * ```
 */
export class IoExitClient implements PioDispatcher, MmioDispatcher {
  private readonly l: Layout;
  private readonly base: number;
  private readonly timeout: number;
  /** The slot this client uses. */
  readonly slot: number;

  /**
   * @param buffer - the mailbox buffer
   * @param slot - this worker's slot, in [0, slots)
   * @param options - timeout
   * @throws TypeError / RangeError when the buffer is not a mailbox or slot is out of range
   */
  constructor(buffer: SharedArrayBuffer, slot: number, options: IoExitClientOptions = {}) {
    this.l = layoutOf(buffer, 'IoExitClient');
    if (typeof options !== 'object' || options === null) throw new TypeError('IoExitClient: options must be an object');
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.l.slots) throw new RangeError(`IoExitClient: slot must be an integer in [0, ${this.l.slots}), got ${show(slot)}`);
    const t = options.timeoutMs ?? Infinity;
    if (typeof t !== 'number' || !(t >= 0)) throw new RangeError(`IoExitClient: timeoutMs must be >= 0, got ${show(t)}`);
    this.slot = slot;
    this.base = HEADER_WORDS + slot * this.l.stride;
    this.timeout = t;
  }

  private call(op: number, lo: number, hi: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('IoExitClient: data must be a Uint8Array');
    if (data.length > this.l.dataBytes) throw new RangeError(`IoExitClient: access of ${data.length} bytes exceeds the mailbox's maxAccess ${this.l.dataBytes}`);
    const w = this.l.words;
    const b = this.base;
    const dataOff = (b + SLOT_HEADER_WORDS) * 4;
    w[b + 1] = op;
    w[b + 2] = lo | 0;
    w[b + 3] = hi | 0;
    w[b + 4] = data.length;
    w[b + 5] = STATUS_OK;
    if (op === OP_PIO_WRITE || op === OP_MMIO_WRITE) this.l.bytes.set(data, dataOff);
    Atomics.store(w, b, REQUEST);
    Atomics.add(w, 0, 1);
    Atomics.notify(w, 0);
    const deadline = this.timeout === Infinity ? Infinity : Date.now() + this.timeout;
    for (let state = Atomics.load(w, b); state !== DONE; state = Atomics.load(w, b)) {
      if (state === BUSY) {
        // The server has taken the request: its answer comes, whatever the timeout.
        Atomics.wait(w, b, BUSY);
        continue;
      }
      const left = deadline === Infinity ? Infinity : deadline - Date.now();
      if (left <= 0 || Atomics.wait(w, b, REQUEST, left) === 'timed-out') {
        // Withdraw the request unless the server took it meanwhile.
        if (Atomics.compareExchange(w, b, REQUEST, IDLE) === REQUEST) throw new MailboxTimeoutError(this.slot, this.timeout);
      }
    }
    const status = w[b + 5]!;
    if (status === STATUS_OK && (op === OP_PIO_READ || op === OP_MMIO_READ)) data.set(this.l.bytes.subarray(dataOff, dataOff + data.length));
    Atomics.store(w, b, IDLE);
    if (status !== STATUS_OK) {
      const name = status === STATUS_OTHER ? undefined : BUS_ERROR_NAMES[status - 1];
      throw new MailboxRemoteError(name ?? 'Error', name === undefined ? 'UNKNOWN' : BUS_ERROR_CODES[name]);
    }
  }

  /**
   * Forwards a PIO read; fills data.
   * @param addr - port
   * @param data - buffer (length <= maxAccess)
   * @throws MailboxRemoteError (remote name/code of the owner's error), MailboxTimeoutError
   * @throws TypeError / RangeError on a bad port or buffer
   * @example `const b = new Uint8Array(1); io.pioRead(0x3fd, b);`
   */
  pioRead(addr: PioAddress, data: Uint8Array): void {
    checkPioAddress(addr, 'IoExitClient.pioRead');
    this.call(OP_PIO_READ, addr, 0, data);
  }

  /**
   * Forwards a PIO write.
   * @param addr - port
   * @param data - bytes (length <= maxAccess)
   * @throws MailboxRemoteError, MailboxTimeoutError; TypeError / RangeError on bad arguments
   * @example `io.pioWrite(0x3f8, Uint8Array.of(0x41))`
   */
  pioWrite(addr: PioAddress, data: Uint8Array): void {
    checkPioAddress(addr, 'IoExitClient.pioWrite');
    this.call(OP_PIO_WRITE, addr, 0, data);
  }

  /**
   * Forwards an MMIO read; fills data.
   * @param addr - address
   * @param data - buffer (length <= maxAccess)
   * @throws MailboxRemoteError, MailboxTimeoutError; TypeError / RangeError on bad arguments
   * @example `const b = new Uint8Array(4); io.mmioRead(0xd000_0000, b);`
   */
  mmioRead(addr: MmioAddress, data: Uint8Array): void {
    const a = toMmioBigInt(addr, 'IoExitClient.mmioRead');
    this.call(OP_MMIO_READ, Number(a & 0xffff_ffffn), Number(a >> 32n), data);
  }

  /**
   * Forwards an MMIO write.
   * @param addr - address
   * @param data - bytes (length <= maxAccess)
   * @throws MailboxRemoteError, MailboxTimeoutError; TypeError / RangeError on bad arguments
   * @example `io.mmioWrite(0xd000_0050, Uint8Array.of(0, 0, 0, 0))`
   */
  mmioWrite(addr: MmioAddress, data: Uint8Array): void {
    const a = toMmioBigInt(addr, 'IoExitClient.mmioWrite');
    this.call(OP_MMIO_WRITE, Number(a & 0xffff_ffffn), Number(a >> 32n), data);
  }

  /**
   * A shared device that forwards every access it receives (at `base + offset`) to the owner.
   * Register it in the worker's own IoManager at the ranges the owner serves.
   * @returns a `DevicePio & DeviceMmio` with `shared: true`
   * @example `local.registerPio(new PioRange(0x3f8, 8), client.device())`
   */
  device(): DevicePio & DeviceMmio {
    return {
      shared: true,
      pioRead: (base, offset, data) => this.pioRead(base + offset, data),
      pioWrite: (base, offset, data) => this.pioWrite(base + offset, data),
      mmioRead: (base, offset, data) => this.mmioRead(base + BigInt(offset), data),
      mmioWrite: (base, offset, data) => this.mmioWrite(base + BigInt(offset), data),
    };
  }
}

/** setTimeout exists in browsers and Node, but not in the ES library this package compiles against. */
const timer = (globalThis as unknown as { setTimeout?: (cb: () => void, ms: number) => unknown }).setTimeout;

type WaitAsync = (typedArray: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' };

/**
 * The owner side of a mailbox: dispatches forwarded accesses to a dispatcher (usually the
 * IoManager) on the agent that owns it.
 * @example
 * ```ts
 * const server = new IoExitServer(mailbox.buffer, io);
 * const stop = server.start();
 * // ... later
 * await stop();
 * ```
 */
export class IoExitServer {
  private readonly l: Layout;
  private readonly scratch: Uint8Array[];
  private running = false;
  private loop: Promise<void> | undefined;
  /** Number of accesses served so far. */
  served = 0;

  /**
   * @param buffer - the mailbox buffer
   * @param dispatcher - where accesses go (an IoManager)
   * @throws TypeError / RangeError when the buffer is not a mailbox
   */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly dispatcher: PioDispatcher & MmioDispatcher,
  ) {
    this.l = layoutOf(buffer, 'IoExitServer');
    this.scratch = [];
    for (let n = 0; n <= this.l.dataBytes; n++) this.scratch.push(new Uint8Array(n));
  }

  /**
   * Serves every slot holding a request, without waiting.
   * @returns the number of requests served
   * @example `server.poll()`
   */
  poll(): number {
    const { words: w, bytes, slots, stride } = this.l;
    let n = 0;
    for (let s = 0; s < slots; s++) {
      const b = HEADER_WORDS + s * stride;
      if (Atomics.compareExchange(w, b, REQUEST, BUSY) !== REQUEST) continue;
      const op = w[b + 1]!;
      const lo = w[b + 2]! >>> 0;
      const hi = w[b + 3]! >>> 0;
      const len = w[b + 4]!;
      const dataOff = (b + SLOT_HEADER_WORDS) * 4;
      let status = STATUS_OK;
      try {
        if (len < 0 || len > this.l.dataBytes) throw new RangeError('IoExitServer: bad length in slot');
        const data = this.scratch[len]!;
        const isWrite = op === OP_PIO_WRITE || op === OP_MMIO_WRITE;
        if (isWrite) data.set(bytes.subarray(dataOff, dataOff + len));
        const mmioAddr = hi === 0 ? lo : hi < 0x200000 ? hi * 0x1_0000_0000 + lo : (BigInt(hi) << 32n) | BigInt(lo);
        switch (op) {
          case OP_PIO_READ:
            this.dispatcher.pioRead(lo, data);
            break;
          case OP_PIO_WRITE:
            this.dispatcher.pioWrite(lo, data);
            break;
          case OP_MMIO_READ:
            this.dispatcher.mmioRead(mmioAddr, data);
            break;
          case OP_MMIO_WRITE:
            this.dispatcher.mmioWrite(mmioAddr, data);
            break;
          default:
            throw new RangeError('IoExitServer: bad op in slot');
        }
        if (!isWrite) bytes.set(data, dataOff);
      } catch (e) {
        const name = (e as { name?: unknown })?.name;
        const i = typeof name === 'string' ? (BUS_ERROR_NAMES as readonly string[]).indexOf(name) : -1;
        status = i >= 0 ? i + 1 : STATUS_OTHER;
      }
      w[b + 5] = status;
      this.served++;
      n++;
      Atomics.store(w, b, DONE);
      Atomics.notify(w, b);
    }
    return n;
  }

  /**
   * Serves requests, blocking with `Atomics.wait` until at least one arrives or the timeout
   * passes. For an owner that is a worker (or Node's main thread while it has nothing else to do).
   * @param timeoutMs - how long to wait at most (default forever)
   * @returns the number of requests served
   * @example `while (running) server.serve(100);`
   */
  serve(timeoutMs = Infinity): number {
    const w = this.l.words;
    const seen = Atomics.load(w, 0);
    const n = this.poll();
    if (n > 0) return n;
    Atomics.wait(w, 0, seen, timeoutMs);
    return this.poll();
  }

  /**
   * Serves requests in the background of the owner's event loop (`Atomics.waitAsync`, or a
   * 1 ms timer where it is missing) until the returned function is called.
   * @returns `stop`, which resolves once the loop has ended
   * @throws TypeError when the server is already started, or the platform has neither `Atomics.waitAsync` nor `setTimeout`
   * @example `const stop = server.start(); ...; await stop();`
   */
  start(): () => Promise<void> {
    if (this.running) throw new TypeError('IoExitServer.start: already started');
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    if (typeof waitAsync !== 'function' && typeof timer !== 'function') throw new TypeError('IoExitServer.start: needs Atomics.waitAsync or setTimeout; use serve() or poll()');
    this.running = true;
    const w = this.l.words;
    const run = async (): Promise<void> => {
      while (this.running) {
        const seen = Atomics.load(w, 0);
        this.poll();
        if (!this.running) break;
        if (typeof waitAsync === 'function') {
          const r = waitAsync(w, 0, seen);
          if (r.async) await r.value;
        } else {
          await new Promise<void>((resolve) => timer!(resolve, 1));
        }
      }
    };
    this.loop = run();
    return async () => {
      this.running = false;
      Atomics.add(w, 0, 1);
      Atomics.notify(w, 0);
      await this.loop;
    };
  }
}
