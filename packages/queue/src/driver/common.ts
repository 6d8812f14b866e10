/**
 * Options and buffer shapes shared by the split and packed drivers.
 * @module
 */

/**
 * One buffer handed to a driver: a guest address and a length.
 * @example
 * ```ts
 * const b: DriverBuffer = { addr: 0x20000, len: 4096 };
 * ```
 */
export interface DriverBuffer {
  /** Guest physical address. */
  readonly addr: number | bigint;
  /** Length in bytes (u32). */
  readonly len: number;
}

/**
 * A used buffer taken back by a driver.
 * @example
 * ```ts
 * const u: UsedBuffer<string> | null = drv.getBuf();
 * ```
 */
export interface UsedBuffer<T> {
  /** The token given to `add`. */
  readonly token: T;
  /** The length the device reported written. */
  readonly len: number;
  /** The head index (split) or buffer ID (packed) the device reported. */
  readonly id: number;
}

/**
 * Where a driver's ring lives and what it negotiated.
 * @example
 * ```ts
 * const opts: DriverRingOptions = { size: 256, descTable: 0, driverArea: 0x1000, deviceArea: 0x2000, eventIdx: true };
 * ```
 */
export interface DriverRingOptions {
  /** Queue size (a power of two for a split ring; 1..32768). */
  readonly size: number;
  /** Descriptor table (split) or descriptor ring (packed), 16-byte aligned. */
  readonly descTable: number;
  /** Available ring (split, 2-aligned) or driver event suppression (packed, 4-aligned). */
  readonly driverArea: number;
  /** Used ring (split, 4-aligned) or device event suppression (packed, 4-aligned). */
  readonly deviceArea: number;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  readonly eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated (tables are used only with `indirectArea`). */
  readonly indirectDesc?: boolean;
  /** Guest memory for indirect tables: `size * entriesPerChain * 16` bytes at `address`. */
  readonly indirectArea?: {
    /** Guest physical address of the first table (16-byte aligned). */
    readonly address: number;
    /** Descriptors in each chain's table: the longest chain the driver can post indirectly. */
    readonly entriesPerChain: number;
  };
  /** Whether the driver wants used-buffer interrupts (Linux: a callback was given). Default true. */
  readonly callback?: boolean;
}

/** @internal Validates ring options (embedder misuse: RangeError/TypeError). */
export function checkRingOptions(o: DriverRingOptions, packed: boolean): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('driver: options must be an object');
  const n = o.size;
  if (!Number.isInteger(n) || n < 1 || n > 32768 || (!packed && (n & (n - 1)) !== 0)) {
    throw new RangeError(`driver: size must be ${packed ? 'in 1..32768' : 'a power of two in 1..32768'}, got ${String(n)}`);
  }
  for (const [k, align] of [
    ['descTable', 16],
    ['driverArea', packed ? 4 : 2],
    ['deviceArea', 4],
  ] as const) {
    const v = o[k];
    if (!Number.isSafeInteger(v) || v < 0 || v % align !== 0) throw new RangeError(`driver: ${k} must be a ${align}-aligned address, got ${String(v)}`);
  }
  if (o.indirectArea !== undefined) {
    const { address, entriesPerChain } = o.indirectArea;
    if (!Number.isSafeInteger(address) || address < 0 || !Number.isInteger(entriesPerChain) || entriesPerChain < 1 || entriesPerChain > 65536) {
      throw new RangeError('driver: indirectArea needs an address and 1..65536 entriesPerChain');
    }
  }
}

/**
 * Where `layout` puts a ring's three areas (the addresses DriverRingOptions takes), and its size.
 * @example
 * ```ts
 * const at: RingLayout = SplitDriver.layout(256, 0x10000);
 * const drv = new SplitDriver(memory, { size: 256, ...at });
 * ```
 */
export interface RingLayout {
  /** Address of the descriptor table (split) or descriptor ring (packed). */
  descTable: number;
  /** Address of the driver area: the available ring (split) or driver event suppression (packed). */
  driverArea: number;
  /** Address of the device area: the used ring (split) or device event suppression (packed). */
  deviceArea: number;
  /** Bytes from the base address to the end of the device area. */
  bytes: number;
}

/** @internal Validates the buffers of an add; returns their count. */
export function checkBuffers(out: readonly DriverBuffer[], inBufs: readonly DriverBuffer[], token: unknown): number {
  if (!Array.isArray(out) || !Array.isArray(inBufs)) throw new TypeError('driver.add: out and inBufs must be arrays');
  if (token === undefined) throw new TypeError('driver.add: token must not be undefined');
  const total = out.length + inBufs.length;
  if (total === 0) throw new RangeError('driver.add: at least one buffer is needed');
  for (const b of [...out, ...inBufs]) {
    if (typeof b !== 'object' || b === null || !(b.len >>> 0 === b.len)) throw new RangeError('driver.add: each buffer needs addr and a u32 len');
  }
  return total;
}
