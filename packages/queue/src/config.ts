/**
 * The transport-side configuration of one virtqueue: what the driver writes through the
 * transport's registers (VIRTIO 1.2 §4.2.2 virtio-mmio QueueNum, QueueReady, QueueDescLow/High,
 * QueueDriverLow/High, QueueDeviceLow/High; §4.1.4.3 PCI common config), validated as VIRTIO 1.2 §2.6-2.8
 * require. A {@link Virtqueue} is created from it with {@link createVirtqueue}.
 * @module
 */
import type { GuestMemory } from '@vmv/memory';
import { MAX_QUEUE_SIZE, Feature } from './constants.js';
import { AreaOutOfMemoryError, InvalidSizeError, MisalignedAreaError, OverlappingAreasError } from './errors.js';
import type { GuestAddress } from './types.js';

/** The three areas of a virtqueue. @example `config.setAreaLow('descTable', 0x1000)` */
export type QueueArea = 'descTable' | 'driverArea' | 'deviceArea';

const AREAS: readonly QueueArea[] = ['descTable', 'driverArea', 'deviceArea'];
const TWO_32 = 4294967296;

function checkU32(value: unknown, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${label}: value must be a u32, got ${String(value)}`);
  }
  return value;
}

/** Splits an address into u32 halves. */
function halves(addr: unknown, label: string): [number, number] {
  if (typeof addr === 'number') {
    if (!Number.isSafeInteger(addr) || addr < 0) throw new RangeError(`${label}: address must be a non-negative safe integer or a bigint, got ${addr}`);
    return [addr % TWO_32, Math.floor(addr / TWO_32)];
  }
  if (typeof addr === 'bigint') {
    if (addr < 0n || addr > 0xffffffffffffffffn) throw new RangeError(`${label}: address must be in 0..2^64-1, got ${addr}`);
    return [Number(addr & 0xffffffffn), Number(addr >> 32n)];
  }
  throw new TypeError(`${label}: address must be a number or a bigint, got ${typeof addr}`);
}

/** Alignment of each area (VIRTIO 1.2 §2.7 table "Virtqueue Part Alignment"; §2.8.10 for packed). */
function alignmentOf(area: QueueArea, packed: boolean): number {
  if (area === 'descTable') return 16;
  if (area === 'driverArea') return packed ? 4 : 2;
  return 4;
}

function hex(lo: number, hi: number): string {
  return hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
}

/**
 * The configuration of one virtqueue as a transport holds it: size, ready, the three area
 * addresses (settable whole or from 32-bit halves as the MMIO registers do) and the negotiated
 * ring features.
 *
 * Setters throw a typed error for a value that is invalid on its own (a size that is not allowed,
 * a misaligned low address half) **and keep that value**, so nothing from before survives a bad
 * write and `validate()` / {@link createVirtqueue} keep failing until the driver writes a good
 * value. Rules that need all fields or the memory (areas inside guest memory, no overlap) are
 * checked by {@link QueueConfig.validate}.
 *
 * @example
 * ```ts
 * const cfg = new QueueConfig(256);
 * cfg.setFeatures(negotiated);          // at FEATURES_OK
 * cfg.setSize(128);
 * cfg.setAreaLow('descTable', 0x10000); cfg.setAreaHigh('descTable', 0);
 * cfg.setArea('driverArea', 0x11000);  // or a whole address
 * cfg.setArea('deviceArea', 0x12000);
 * cfg.ready = true;
 * const queue = createVirtqueue(memory, cfg);
 * ```
 */
export class QueueConfig {
  /** The device's maximum size for this queue (QueueNumMax). */
  readonly maxSize: number;
  /** Whether the driver enabled the queue (QueueReady). */
  ready = false;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx = false;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  indirectDesc = false;
  /** VIRTIO_F_RING_PACKED negotiated. */
  ringPacked = false;
  private _size: number;
  // [descLo, descHi, driverLo, driverHi, deviceLo, deviceHi]
  private readonly _addr = [0, 0, 0, 0, 0, 0];

  /**
   * @param maxSize - the device's maximum queue size: 1..32768 (a power of two, so that split
   *   rings are possible). The size starts at `maxSize`, as VIRTIO 1.2 §4.1.4.3 describes.
   * @throws RangeError when `maxSize` is not a power of two in 1..32768.
   * @example
   * ```ts
   * new QueueConfig(1024)
   * ```
   */
  constructor(maxSize: number = MAX_QUEUE_SIZE) {
    if (typeof maxSize !== 'number' || !Number.isInteger(maxSize) || maxSize < 1 || maxSize > MAX_QUEUE_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`QueueConfig: maxSize must be a power of two in 1..32768, got ${String(maxSize)}`);
    }
    this.maxSize = maxSize;
    this._size = maxSize;
  }

  /** The queue size (QueueNum); set with {@link QueueConfig.setSize}. */
  get size(): number {
    return this._size;
  }

  /**
   * Sets the queue size. Split rings need a power of two; both formats need 1..maxSize.
   * @param size - the value the driver wrote.
   * @throws RangeError when `size` is not an integer in 0..65535 (a register holds 16 bits).
   * @throws Queue.InvalidSizeError when the size is not allowed (the value is kept).
   * @example
   * ```ts
   * cfg.setSize(256)
   * ```
   */
  setSize(size: number): void {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 0xffff) {
      throw new RangeError(`QueueConfig.setSize: size must be an integer in 0..65535, got ${String(size)}`);
    }
    this._size = size;
    const problem = this.sizeProblem();
    if (problem !== null) throw new InvalidSizeError(problem);
  }

  /**
   * Takes the ring features from the negotiated feature word (EVENT_IDX, INDIRECT_DESC,
   * RING_PACKED).
   * @param features - the negotiated 64-bit feature set.
   * @throws TypeError when `features` is not a bigint.
   * @example
   * ```ts
   * cfg.setFeatures(1n << 29n)  // EVENT_IDX
   * ```
   */
  setFeatures(features: bigint): void {
    if (typeof features !== 'bigint') throw new TypeError('QueueConfig.setFeatures: features must be a bigint');
    const has = (bit: number): boolean => ((features >> BigInt(bit)) & 1n) === 1n;
    this.eventIdx = has(Feature.EVENT_IDX);
    this.indirectDesc = has(Feature.INDIRECT_DESC);
    this.ringPacked = has(Feature.RING_PACKED);
  }

  /**
   * The address of an area.
   * @param area - which area.
   * @returns the address (a bigint when at or above 2^53).
   * @example
   * ```ts
   * cfg.area('deviceArea')
   * ```
   */
  area(area: QueueArea): GuestAddress {
    const i = areaIndex(area);
    const lo = this._addr[i]!;
    const hi = this._addr[i + 1]!;
    return hi < 0x200000 ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * Sets an area's address.
   * @param area - which area.
   * @param addr - the address.
   * @throws RangeError / TypeError when `addr` is not a valid address.
   * @throws Queue.MisalignedAreaError when misaligned (the value is kept).
   * @example
   * ```ts
   * cfg.setArea('driverArea', 0x11000)
   * ```
   */
  setArea(area: QueueArea, addr: GuestAddress): void {
    const [lo, hi] = halves(addr, `QueueConfig.setArea(${area})`);
    const i = areaIndex(area);
    this._addr[i + 1] = hi;
    this.setLow(area, i, lo);
  }

  /**
   * Sets the low 32 bits of an area's address (QueueDescLow, QueueDriverLow, QueueDeviceLow).
   * @param area - which area.
   * @param value - the u32 the driver wrote.
   * @throws RangeError when `value` is not a u32.
   * @throws Queue.MisalignedAreaError when misaligned (the value is kept).
   * @example
   * ```ts
   * cfg.setAreaLow('descTable', 0x10000)
   * ```
   */
  setAreaLow(area: QueueArea, value: number): void {
    this.setLow(area, areaIndex(area), checkU32(value, `QueueConfig.setAreaLow(${area})`));
  }

  /**
   * Sets the high 32 bits of an area's address (QueueDescHigh, ...).
   * @param area - which area.
   * @param value - the u32 the driver wrote.
   * @throws RangeError when `value` is not a u32.
   * @example
   * ```ts
   * cfg.setAreaHigh('descTable', 0)
   * ```
   */
  setAreaHigh(area: QueueArea, value: number): void {
    this._addr[areaIndex(area) + 1] = checkU32(value, `QueueConfig.setAreaHigh(${area})`);
  }

  /** The descriptor area (split: descriptor table; packed: descriptor ring). */
  get descTable(): GuestAddress {
    return this.area('descTable');
  }
  /** The driver area (split: available ring; packed: driver event suppression). */
  get driverArea(): GuestAddress {
    return this.area('driverArea');
  }
  /** The device area (split: used ring; packed: device event suppression). */
  get deviceArea(): GuestAddress {
    return this.area('deviceArea');
  }

  /**
   * Byte length of an area for the current size and format.
   * @param area - which area.
   * @returns the length in bytes.
   * @example `cfg.areaLength('deviceArea') // 6 + 8 * size for a split ring`
   */
  areaLength(area: QueueArea): number {
    const n = this._size;
    if (area === 'descTable') return 16 * n;
    if (this.ringPacked) return 4;
    return area === 'driverArea' ? 6 + 2 * n : 6 + 8 * n;
  }

  /**
   * Checks every rule that does not depend on `ready`: the size, the alignments, each area
   * inside one region of `memory` (writable where the device writes: the device area, and the
   * packed descriptor ring), and no two areas overlapping.
   * @param memory - the guest memory the rings live in.
   * @throws Queue.InvalidSizeError, Queue.MisalignedAreaError, Queue.AreaOutOfMemoryError or
   *   Queue.OverlappingAreasError.
   * @example
   * ```ts
   * try { cfg.validate(mem); } catch (e) { if (isQueueError(e)) setNeedsReset(); }
   * ```
   */
  validate(memory: GuestMemory): void {
    const problem = this.sizeProblem();
    if (problem !== null) throw new InvalidSizeError(problem);
    const packed = this.ringPacked;
    const starts: bigint[] = [];
    const ends: bigint[] = [];
    for (const area of AREAS) {
      const i = areaIndex(area);
      const lo = this._addr[i]!;
      const hi = this._addr[i + 1]!;
      const align = alignmentOf(area, packed);
      if (lo % align !== 0) throw new MisalignedAreaError(`${area} ${hex(lo, hi)} is not ${align}-byte aligned`);
      const len = this.areaLength(area);
      const addr = this.area(area);
      // The device writes the used ring / device event area, and the packed descriptor ring.
      const write = area === 'deviceArea' || (packed && area === 'descTable');
      try {
        memory.view(addr, len, write ? 'write' : 'read');
      } catch (e) {
        throw new AreaOutOfMemoryError(`${area} ${hex(lo, hi)}+${len} is not inside one ${write ? 'writable ' : ''}region of guest memory`, e);
      }
      const start = (BigInt(hi) << 32n) | BigInt(lo);
      starts.push(start);
      ends.push(start + BigInt(len));
    }
    for (let a = 0; a < 3; a++) {
      for (let b = a + 1; b < 3; b++) {
        if (starts[a]! < ends[b]! && starts[b]! < ends[a]!) {
          throw new OverlappingAreasError(`${AREAS[a]} [0x${starts[a]!.toString(16)}, 0x${ends[a]!.toString(16)}) overlaps ${AREAS[b]} [0x${starts[b]!.toString(16)}, 0x${ends[b]!.toString(16)})`);
        }
      }
    }
  }

  /**
   * Back to the reset state: size = maxSize, not ready, addresses 0, no ring features.
   * @example `cfg.reset()`
   */
  reset(): void {
    this.ready = false;
    this.eventIdx = false;
    this.indirectDesc = false;
    this.ringPacked = false;
    this._size = this.maxSize;
    this._addr.fill(0);
  }

  private setLow(area: QueueArea, i: number, lo: number): void {
    this._addr[i] = lo;
    const align = alignmentOf(area, this.ringPacked);
    if (lo % align !== 0) throw new MisalignedAreaError(`${area} low half 0x${lo.toString(16)} is not ${align}-byte aligned`);
  }

  private sizeProblem(): string | null {
    const n = this._size;
    if (n === 0) return 'size 0';
    if (n > this.maxSize) return `size ${n} is above the maximum ${this.maxSize}`;
    if (n > MAX_QUEUE_SIZE) return `size ${n} is above 32768`;
    if (!this.ringPacked && (n & (n - 1)) !== 0) return `size ${n} is not a power of two (split ring)`;
    return null;
  }
}

function areaIndex(area: QueueArea): number {
  switch (area) {
    case 'descTable':
      return 0;
    case 'driverArea':
      return 2;
    case 'deviceArea':
      return 4;
    default:
      throw new TypeError(`QueueConfig: unknown area ${String(area)}`);
  }
}
