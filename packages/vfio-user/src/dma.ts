/**
 * The client's DMA windows (vfio-user.rst "VFIO_USER_DMA_MAP", "VFIO_USER_DMA_UNMAP"): a table of
 * non-overlapping windows, 4 KiB aligned, each either mapped from the fd the client sent (then a
 * region of the {@link GuestMemory} the device reads directly) or reached by DMA_READ /
 * DMA_WRITE messages. Every access is checked against the windows: an address the client did
 * not map, or a write to a window mapped without WRITE, is a `VfioUser.DmaFaultError`.
 *
 * @module
 */
import { GuestMemory, isGuestMemoryError, type GuestAddress } from '@vmv/memory';
import { DmaMapFlags, Errno } from './constants.js';
import { DisconnectedError, DmaFaultError, DmaMapError, InvalidArgumentError } from './errors.js';
import type { DmaMapRequest } from './codec.js';
import type { VfioUserDma } from './device.js';

/**
 * Client memory mapped into this process: consecutive chunks of one window, released (unmapped)
 * by `release`. What a {@link VfioUserHost} returns for a DMA_MAP with an fd.
 * @example `const m: VfioUserMapping = { chunks: [buffer], release: () => mapping.close() };`
 */
export interface VfioUserMapping {
  /** The window's bytes, in order (several when one mapping cannot hold them all). */
  readonly chunks: readonly ArrayBuffer[];
  /** Unmaps (every ArrayBuffer is detached afterwards). */
  release(): void;
}

/** One window. @internal */
interface DmaWindow {
  readonly address: bigint;
  readonly size: bigint;
  readonly end: bigint;
  readonly writable: boolean;
  readonly mapping: VfioUserMapping | null;
}

const PAGE = 4096n;
const TWO_64 = 1n << 64n;
const toAddress = (a: bigint): GuestAddress => (a < 2n ** 53n ? Number(a) : a);

/**
 * The DMA windows of one connection. Not exported from the package.
 * @internal
 */
export class DmaTable {
  private windows: DmaWindow[] = [];
  private _memory: GuestMemory | null = null;

  /** @param maxWindows - most windows at once */
  constructor(private readonly maxWindows: number) {}

  /** The fd-mapped windows as guest memory. */
  get memory(): GuestMemory | null {
    return this._memory;
  }

  /** Windows in the table. */
  get count(): number {
    return this.windows.length;
  }

  /**
   * Checks a DMA_MAP against the table before anything is mapped.
   * @throws VfioUser.InvalidArgumentError (size, alignment, range, no READ), DmaMapError (EEXIST, ENOSPC)
   */
  check(req: DmaMapRequest): void {
    const facts = { address: req.address, size: req.size };
    if (req.size === 0n || req.address % PAGE !== 0n || req.size % PAGE !== 0n) throw new InvalidArgumentError('DMA window empty or not 4 KiB aligned', facts);
    if (req.address + req.size > TWO_64) throw new InvalidArgumentError('DMA window past 2^64', facts);
    if ((req.flags & DmaMapFlags.READ) === 0) throw new InvalidArgumentError('DMA window without READ', { ...facts, flags: req.flags });
    const end = req.address + req.size;
    if (this.windows.some((w) => req.address < w.end && w.address < end)) throw new DmaMapError('overlaps a mapped window', Errno.EEXIST, facts);
    if (this.windows.length >= this.maxWindows) throw new DmaMapError('too many windows', Errno.ENOSPC, { ...facts, max: this.maxWindows });
  }

  /**
   * Adds a checked window (with its mapping, if it has an fd).
   * @throws VfioUser.InvalidArgumentError when the mapped windows do not form a guest memory
   */
  add(req: DmaMapRequest, mapping: VfioUserMapping | null): void {
    const w: DmaWindow = { address: req.address, size: req.size, end: req.address + req.size, writable: (req.flags & DmaMapFlags.WRITE) !== 0, mapping };
    const list = [...this.windows, w].sort((a, b) => (a.address < b.address ? -1 : 1));
    this._memory = buildMemory(list);
    this.windows = list;
  }

  /**
   * Takes out the window with exactly this address and size, or every window.
   * @returns the windows removed (their mappings are released here)
   * @throws VfioUser.DmaMapError (ENOENT) when no window matches
   */
  remove(address: bigint, size: bigint, all: boolean): number {
    const gone = all ? this.windows : this.windows.filter((w) => w.address === address && w.size === size);
    if (!all && gone.length === 0) throw new DmaMapError('no such window', Errno.ENOENT, { address, size });
    this.windows = all ? [] : this.windows.filter((w) => !gone.includes(w));
    this._memory = buildMemory(this.windows);
    for (const w of gone) w.mapping?.release();
    return gone.length;
  }

  /** The window holding `[address, address + length)`, if one does. */
  find(address: bigint, length: number): DmaWindow | undefined {
    const end = address + BigInt(length);
    return this.windows.find((w) => address >= w.address && end <= w.end);
  }
}

function buildMemory(list: readonly DmaWindow[]): GuestMemory | null {
  const specs: { start: GuestAddress; backing: ArrayBuffer; readOnly: boolean }[] = [];
  for (const w of list) {
    if (w.mapping === null) continue;
    let start = w.address;
    for (const chunk of w.mapping.chunks) {
      specs.push({ start: toAddress(start), backing: chunk, readOnly: !w.writable });
      start += BigInt(chunk.byteLength);
    }
  }
  if (specs.length === 0) return null;
  try {
    return GuestMemory.fromRegions(specs);
  } catch (e) {
    throw new InvalidArgumentError('the mapped windows do not form a guest memory', { cause: e instanceof Error ? e.message : String(e) });
  }
}

/** What {@link DmaAccess} sends for windows without an fd. @internal */
export interface DmaMessenger {
  /** DMA_READ of `count` bytes (at most the transfer limit). */
  read(address: bigint, count: number): Promise<Uint8Array>;
  /** DMA_WRITE of `data` (at most the transfer limit). */
  write(address: bigint, data: Uint8Array): Promise<void>;
  /** Most bytes one message may carry. */
  readonly maxTransfer: number;
  /** Whether the client has left. */
  readonly closed: boolean;
}

/**
 * The device's view of the table ({@link VfioUserDma}). Not exported from the package.
 * @internal
 */
export class DmaAccess implements VfioUserDma {
  constructor(
    private readonly table: DmaTable,
    private readonly messenger: DmaMessenger,
  ) {}

  get memory(): GuestMemory | null {
    return this.table.memory;
  }

  async read(address: GuestAddress, length: number): Promise<Uint8Array> {
    const a = checkAccess(address, length);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const w = this.window(a, length, false);
    if (w.mapping !== null) {
      this.direct(address, length, 'read', () => this.table.memory!.read(address, out));
      return out;
    }
    for (let done = 0; done < length; ) {
      const n = Math.min(this.messenger.maxTransfer, length - done);
      out.set(await this.messenger.read(a + BigInt(done), n), done);
      done += n;
    }
    return out;
  }

  async write(address: GuestAddress, data: Uint8Array): Promise<void> {
    const a = checkAccess(address, data.byteLength);
    if (data.byteLength === 0) return;
    const w = this.window(a, data.byteLength, true);
    if (w.mapping !== null) {
      this.direct(address, data.byteLength, 'write', () => this.table.memory!.write(address, data));
      return;
    }
    for (let done = 0; done < data.byteLength; ) {
      const n = Math.min(this.messenger.maxTransfer, data.byteLength - done);
      await this.messenger.write(a + BigInt(done), data.subarray(done, done + n));
      done += n;
    }
  }

  private window(address: bigint, length: number, write: boolean): DmaWindow {
    if (this.messenger.closed) throw new DisconnectedError({ address, length });
    const w = this.table.find(address, length);
    if (w === undefined) throw new DmaFaultError({ address, length, access: write ? 'write' : 'read', reason: 'not inside one mapped window' });
    if (write && !w.writable) throw new DmaFaultError({ address, length, access: 'write', reason: 'window mapped without WRITE' });
    return w;
  }

  private direct(address: GuestAddress, length: number, access: string, run: () => void): void {
    try {
      run();
    } catch (e) {
      if (isGuestMemoryError(e)) throw new DmaFaultError({ address: BigInt(address), length, access }, e);
      throw e;
    }
  }
}

function checkAccess(address: GuestAddress, length: number): bigint {
  if (!Number.isSafeInteger(length) || length < 0 || length > 2 ** 31) throw new RangeError(`VfioUserDma: length must be an integer in [0, 2^31], got ${length}`);
  if (typeof address === 'number' ? !Number.isSafeInteger(address) || address < 0 : typeof address !== 'bigint' || address < 0n || address >= TWO_64) {
    throw new RangeError(`VfioUserDma: address must be a u64, got ${String(address)}`);
  }
  return BigInt(address);
}
