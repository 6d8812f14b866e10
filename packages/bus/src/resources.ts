/**
 * Resources: what a device needs ({@link ResourceConstraint}), what it was given
 * ({@link Resource}), and an allocator that turns the first into the second
 * ({@link ResourceAllocator}): addresses with alignment, first fit or at a fixed base; legacy
 * IRQs; MSI vectors; memory slots. Allocation is all-or-nothing.
 *
 * The flow (vm-device's `resources` module): the VMM asks a device for its constraints,
 * allocates resources for them, hands them to the device, then registers the device with
 * {@link IoManager.registerResources} (also all-or-nothing).
 * @module
 */
import type { MmioAddress } from './address.js';
import { MMIO_SPACE_SIZE, PIO_SPACE_SIZE } from './address.js';
import { InvalidConstraintError, ResourceExhaustedError, ResourceNotAllocatedError, ResourceUnavailableError } from './errors.js';
import { IntervalAllocator } from './internal/interval-allocator.js';
import { show } from './internal/show.js';

/**
 * One need of a device.
 * - `pio`: `size` ports, aligned to `align` (a power of two, default 1), at `base` if given.
 * - `mmio`: `size` bytes, aligned to `align` (a power of two; default 4096 for first fit, 1 with a
 *   fixed `base`, which an explicit `align` must divide), at `base` if given.
 * - `legacyIrq`: one legacy interrupt line, `irq` if given.
 * - `msi`: `count` consecutive MSI vectors.
 * - `memSlot`: `count` consecutive memory slots (KVM memslots), from `slot` if given.
 * @example
 * ```ts
 * const needs: ResourceConstraint[] = [
 *   { kind: 'mmio', size: 0x200 },
 *   { kind: 'legacyIrq' },
 * ];
 * ```
 */
export type ResourceConstraint =
  | {
      /** Port I/O space. */
      readonly kind: 'pio';
      /** Number of ports. */
      readonly size: number;
      /** Alignment of the first port, a power of two (default 1). */
      readonly align?: number;
      /** The port the range must start at; first fit when absent. */
      readonly base?: number;
    }
  | {
      /** MMIO space. */
      readonly kind: 'mmio';
      /** Number of bytes. */
      readonly size: number | bigint;
      /** Alignment, a power of two (default 4096 for first fit, 1 with a fixed `base`). */
      readonly align?: number | bigint;
      /** The address the range must start at; first fit when absent. */
      readonly base?: MmioAddress;
    }
  | {
      /** One legacy interrupt line. */
      readonly kind: 'legacyIrq';
      /** The line wanted; any free line when absent. */
      readonly irq?: number;
    }
  | {
      /** MSI vectors. */
      readonly kind: 'msi';
      /** Number of consecutive vectors. */
      readonly count: number;
    }
  | {
      /** Memory slots (KVM memslots). */
      readonly kind: 'memSlot';
      /** Number of consecutive slots. */
      readonly count: number;
      /** The first slot wanted; first fit when absent. */
      readonly slot?: number;
    };

/**
 * One resource given to a device.
 * @example
 * ```ts
 * const given: Resource[] = [
 *   { kind: 'mmio', base: 0xd0000000n, size: 0x200n },
 *   { kind: 'legacyIrq', irq: 5 },
 * ];
 * ```
 */
export type Resource =
  | {
      /** Port I/O space. */
      readonly kind: 'pio';
      /** First port of the range. */
      readonly base: number;
      /** Number of ports. */
      readonly size: number;
    }
  | {
      /** MMIO space. */
      readonly kind: 'mmio';
      /** Guest physical address of the first byte. */
      readonly base: MmioAddress;
      /** Number of bytes. */
      readonly size: number | bigint;
    }
  | {
      /** One legacy interrupt line. */
      readonly kind: 'legacyIrq';
      /** The line number. */
      readonly irq: number;
    }
  | {
      /** MSI vectors. */
      readonly kind: 'msi';
      /** First vector. */
      readonly base: number;
      /** Number of consecutive vectors. */
      readonly count: number;
    }
  | {
      /** Memory slots (KVM memslots). */
      readonly kind: 'memSlot';
      /** First slot. */
      readonly slot: number;
      /** Number of consecutive slots. */
      readonly count: number;
    };

/** The kinds of resources. @example `const k: ResourceKind = 'mmio';` */
export type ResourceKind = Resource['kind'];

/** A pool of addresses or ids: `[base, base + size - 1]`. @example `{ base: 0xd000_0000, size: 0x1000_0000 }` */
export interface PoolSpec {
  /** First address or id of the pool. */
  readonly base: number | bigint;
  /** Number of addresses or ids. */
  readonly size: number | bigint;
}

/**
 * The pools of a {@link ResourceAllocator}. A pool left out cannot satisfy any request.
 * @example `{ pio: { base: 0, size: 0x10000 }, mmio: { base: 0xd000_0000, size: 0x1000_0000 }, legacyIrq: { base: 5, size: 19 } }`
 */
export interface ResourcePools {
  /** Ports (within `0..0xffff`). */
  readonly pio?: PoolSpec;
  /** MMIO addresses (within `0..2^64-1`). */
  readonly mmio?: PoolSpec;
  /** Legacy IRQ numbers (u32). */
  readonly legacyIrq?: PoolSpec;
  /** MSI vector numbers (u32). */
  readonly msi?: PoolSpec;
  /** Memory slot indices (u32). */
  readonly memSlot?: PoolSpec;
}

const U32_LIMIT = 0x1_0000_0000n;
const RESOURCE_KINDS = ['pio', 'mmio', 'legacyIrq', 'msi', 'memSlot'] as const;

function toBig(v: unknown, label: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new TypeError(`${label} must be a safe integer or a bigint, got ${show(v)}`);
}

/**
 * Allocates addresses in a pool: first fit with alignment, or at a fixed base; frees and
 * coalesces. All values are bigints (the MMIO space is 64-bit).
 * @example
 * ```ts
 * const a = new AddressAllocator(0xd000_0000, 0x1000_0000);
 * const base = a.allocate(0x200, 0x1000); // 0xd0000000n
 * a.free(base, 0x200);
 * ```
 */
export class AddressAllocator {
  private readonly alloc: IntervalAllocator;
  /** Name used in error messages. */
  readonly pool: string;

  /**
   * @param base - first address of the pool
   * @param size - number of addresses (>= 1)
   * @param pool - name used in errors (default `'address'`)
   * @throws InvalidConstraintError when size is zero or negative, or base is negative
   * @throws TypeError when base or size is not an integer
   */
  constructor(base: number | bigint, size: number | bigint, pool = 'address') {
    const b = toBig(base, 'AddressAllocator: base');
    const s = toBig(size, 'AddressAllocator: size');
    if (b < 0n || s <= 0n) throw new InvalidConstraintError('a pool needs a non-negative base and a size >= 1', { pool, base: b, size: s });
    this.alloc = new IntervalAllocator(b, b + s - 1n);
    this.pool = pool;
  }

  /** First address of the pool. */
  get base(): bigint {
    return this.alloc.min;
  }

  /** Last address of the pool. */
  get last(): bigint {
    return this.alloc.max;
  }

  /** Number of free addresses. */
  get freeSize(): bigint {
    return this.alloc.freeCount();
  }

  /**
   * Allocates `size` addresses aligned to `align`, at `fixed` if given (first fit otherwise).
   * @param size - number of addresses (>= 1)
   * @param align - a power of two (default 1)
   * @param fixed - required base, or undefined
   * @returns the base of the block
   * @throws InvalidConstraintError when size is 0, align is not a power of two, fixed is not aligned or the block leaves the pool
   * @throws ResourceExhaustedError when no free block fits; ResourceUnavailableError when the fixed block is taken
   * @example `a.allocate(0x1000, 0x1000)`
   */
  allocate(size: number | bigint, align: number | bigint = 1n, fixed?: number | bigint): bigint {
    const s = toBig(size, `${this.pool} allocate: size`);
    const al = toBig(align, `${this.pool} allocate: align`);
    if (s <= 0n) throw new InvalidConstraintError('size must be >= 1', { pool: this.pool, size: s });
    if (al <= 0n || (al & (al - 1n)) !== 0n) throw new InvalidConstraintError('alignment must be a power of two', { pool: this.pool, align: al });
    if (fixed === undefined) {
      const got = this.alloc.allocateFirstFit(s, al);
      if (got === undefined) throw new ResourceExhaustedError(this.pool, { size: s, align: al });
      return got;
    }
    const f = toBig(fixed, `${this.pool} allocate: fixed base`);
    if (f % al !== 0n) throw new InvalidConstraintError('fixed base is not aligned', { pool: this.pool, base: f, align: al });
    if (f < this.alloc.min || f + s - 1n > this.alloc.max) throw new InvalidConstraintError('fixed block lies outside the pool', { pool: this.pool, base: f, size: s });
    if (!this.alloc.allocateAt(f, s)) throw new ResourceUnavailableError(this.pool, { base: f, size: s });
    return f;
  }

  /**
   * Frees a block returned by {@link AddressAllocator.allocate} (same base and size).
   * @param base - the block's base
   * @param size - the block's size
   * @throws ResourceNotAllocatedError when no allocated block has this base and size
   * @example `a.free(0xd0000000n, 0x200)`
   */
  free(base: number | bigint, size: number | bigint): void {
    const b = toBig(base, `${this.pool} free: base`);
    const s = toBig(size, `${this.pool} free: size`);
    if (!this.alloc.release(b, s)) throw new ResourceNotAllocatedError(this.pool, { base: b, size: s });
  }

  /**
   * @param base - a block's base
   * @param size - its size
   * @returns whether exactly this block is allocated
   * @example `a.isAllocated(0xd0000000n, 0x200)`
   */
  isAllocated(base: number | bigint, size: number | bigint): boolean {
    return this.alloc.isAllocated(toBig(base, 'isAllocated: base'), toBig(size, 'isAllocated: size'));
  }

  /**
   * The allocated blocks in address order.
   * @returns `[base, size]` pairs
   * @example `a.allocated()`
   */
  allocated(): Array<readonly [bigint, bigint]> {
    return this.alloc.allocatedBlocks();
  }
}

/**
 * Allocates runs of consecutive ids (IRQ numbers, MSI vectors, memory slots) in a pool.
 * @example
 * ```ts
 * const irqs = new IdAllocator(5, 19, 'legacyIrq');
 * irqs.allocate(1); // 5
 * irqs.allocate(1, 4); // 4 would be outside: throws Bus.InvalidConstraintError
 * ```
 */
export class IdAllocator {
  private readonly inner: AddressAllocator;

  /**
   * @param base - first id (u32)
   * @param count - number of ids (>= 1, ending within u32)
   * @param pool - name used in errors
   * @throws InvalidConstraintError when the pool is empty or leaves u32
   */
  constructor(base: number, count: number, pool = 'id') {
    const b = toBig(base, 'IdAllocator: base');
    const c = toBig(count, 'IdAllocator: count');
    if (b < 0n || c <= 0n || b + c > U32_LIMIT) throw new InvalidConstraintError('an id pool lies within u32 and is not empty', { pool, base: b, count: c });
    this.inner = new AddressAllocator(b, c, pool);
  }

  /**
   * Allocates `count` consecutive ids, from `fixed` if given.
   * @param count - number of ids (>= 1)
   * @param fixed - required first id, or undefined for first fit
   * @returns the first id
   * @throws InvalidConstraintError, ResourceExhaustedError, ResourceUnavailableError
   * @example `irqs.allocate(1, 4)`
   */
  allocate(count: number, fixed?: number): number {
    return Number(this.inner.allocate(count, 1n, fixed));
  }

  /**
   * Frees ids returned by {@link IdAllocator.allocate}.
   * @param first - first id
   * @param count - number of ids
   * @throws ResourceNotAllocatedError when that run is not allocated
   * @example `irqs.free(5, 1)`
   */
  free(first: number, count: number): void {
    this.inner.free(first, count);
  }

  /**
   * @param first - first id
   * @param count - number of ids
   * @returns whether exactly this run is allocated
   * @example `irqs.isAllocated(5, 1)`
   */
  isAllocated(first: number, count: number): boolean {
    return this.inner.isAllocated(first, count);
  }
}

function checkPool(spec: PoolSpec | undefined, name: string, limit: bigint): AddressAllocator | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`ResourceAllocator: pool ${name} must be an object { base, size }`);
  const b = toBig(spec.base, `ResourceAllocator: ${name}.base`);
  const s = toBig(spec.size, `ResourceAllocator: ${name}.size`);
  if (b < 0n || s <= 0n || b + s > limit) throw new InvalidConstraintError('pool must be non-empty and inside its space', { pool: name, base: b, size: s });
  return new AddressAllocator(b, s, name);
}

/**
 * Satisfies a device's constraints from its pools, all or nothing: when any constraint fails,
 * every resource already taken for the same call is given back before the error propagates.
 * @example
 * ```ts
 * const alloc = new ResourceAllocator({ mmio: { base: 0xd000_0000, size: 0x1000_0000 }, legacyIrq: { base: 5, size: 19 } });
 * const res = alloc.allocate([{ kind: 'mmio', size: 0x200 }, { kind: 'legacyIrq' }]);
 * // [{ kind: 'mmio', base: 0xd0000000n, size: 0x200n }, { kind: 'legacyIrq', irq: 5 }]
 * alloc.free(res);
 * ```
 */
export class ResourceAllocator {
  private readonly pools: Record<ResourceKind, AddressAllocator | undefined>;

  /**
   * @param pools - the pools to allocate from
   * @throws InvalidConstraintError when a pool is empty or leaves its space (PIO 2^16, MMIO 2^64, ids u32)
   * @throws TypeError when pools or a pool is not an object, or a bound is not an integer
   */
  constructor(pools: ResourcePools) {
    if (typeof pools !== 'object' || pools === null) throw new TypeError('ResourceAllocator: pools must be an object');
    this.pools = {
      pio: checkPool(pools.pio, 'pio', BigInt(PIO_SPACE_SIZE)),
      mmio: checkPool(pools.mmio, 'mmio', MMIO_SPACE_SIZE),
      legacyIrq: checkPool(pools.legacyIrq, 'legacyIrq', U32_LIMIT),
      msi: checkPool(pools.msi, 'msi', U32_LIMIT),
      memSlot: checkPool(pools.memSlot, 'memSlot', U32_LIMIT),
    };
  }

  private pool(kind: ResourceKind): AddressAllocator {
    const p = this.pools[kind];
    if (p === undefined) throw new InvalidConstraintError('no pool of this kind is configured', { kind });
    return p;
  }

  /**
   * Allocates one resource per constraint, in order; all or nothing.
   * @param constraints - the device's needs
   * @returns the resources, in the order of the constraints
   * @throws InvalidConstraintError, ResourceExhaustedError, ResourceUnavailableError (nothing stays allocated)
   * @throws TypeError when constraints is not an array, for a constraint of unknown kind, or a size that is not an integer
   * @example `alloc.allocate([{ kind: 'pio', size: 8, base: 0x3f8 }, { kind: 'legacyIrq', irq: 4 }])`
   */
  allocate(constraints: readonly ResourceConstraint[]): Resource[] {
    if (!Array.isArray(constraints)) throw new TypeError('ResourceAllocator.allocate: constraints must be an array');
    const done: Resource[] = [];
    try {
      for (const c of constraints) done.push(this.allocateOne(c));
    } catch (e) {
      for (let i = done.length - 1; i >= 0; i--) this.freeOne(done[i]!);
      throw e;
    }
    return done;
  }

  private allocateOne(c: ResourceConstraint): Resource {
    switch (c?.kind) {
      case 'pio': {
        const base = this.pool('pio').allocate(c.size, c.align ?? 1, c.base);
        return { kind: 'pio', base: Number(base), size: c.size };
      }
      case 'mmio': {
        const base = this.pool('mmio').allocate(c.size, c.align ?? (c.base === undefined ? 0x1000 : 1), c.base);
        return { kind: 'mmio', base, size: toBig(c.size, 'mmio size') };
      }
      case 'legacyIrq':
        return { kind: 'legacyIrq', irq: Number(this.pool('legacyIrq').allocate(1, 1, c.irq)) };
      case 'msi':
        return { kind: 'msi', base: Number(this.pool('msi').allocate(c.count, 1)), count: c.count };
      case 'memSlot':
        return { kind: 'memSlot', slot: Number(this.pool('memSlot').allocate(c.count, 1, c.slot)), count: c.count };
      default:
        throw new TypeError(`ResourceAllocator.allocate: unknown constraint kind ${show((c as { kind?: unknown })?.kind)}`);
    }
  }

  private freeOne(r: Resource): void {
    switch (r.kind) {
      case 'pio':
      case 'mmio':
        this.pool(r.kind).free(r.base, r.size);
        return;
      case 'legacyIrq':
        this.pool('legacyIrq').free(r.irq, 1);
        return;
      case 'msi':
        this.pool('msi').free(r.base, r.count);
        return;
      case 'memSlot':
        this.pool('memSlot').free(r.slot, r.count);
        return;
    }
  }

  private isHeld(r: Resource): boolean {
    switch (r?.kind) {
      case 'pio':
      case 'mmio':
        return this.pool(r.kind).isAllocated(r.base, r.size);
      case 'legacyIrq':
        return this.pool('legacyIrq').isAllocated(r.irq, 1);
      case 'msi':
        return this.pool('msi').isAllocated(r.base, r.count);
      case 'memSlot':
        return this.pool('memSlot').isAllocated(r.slot, r.count);
      default:
        throw new TypeError(`ResourceAllocator.free: unknown resource kind ${show((r as { kind?: unknown })?.kind)}`);
    }
  }

  /**
   * The blocks allocated in one pool, in order (ids for IRQ/MSI/slot pools).
   * @param kind - the pool
   * @returns `[base, size]` pairs; empty when the pool is not configured
   * @throws TypeError when kind is not a resource kind
   * @example `alloc.allocated('mmio')`
   */
  allocated(kind: ResourceKind): Array<readonly [bigint, bigint]> {
    if (!(RESOURCE_KINDS as readonly unknown[]).includes(kind)) throw new TypeError(`ResourceAllocator.allocated: kind must be one of ${RESOURCE_KINDS.join(', ')}, got ${show(kind)}`);
    return this.pools[kind]?.allocated() ?? [];
  }

  /**
   * Gives resources back; all or nothing (every one must be allocated, each at most once).
   * @param resources - resources returned by {@link ResourceAllocator.allocate}
   * @throws ResourceNotAllocatedError (`Bus.ResourceNotAllocatedError`) when one is not allocated (nothing is freed)
   * @throws TypeError when resources is not an array of resources
   * @example `alloc.free(res)`
   */
  free(resources: readonly Resource[]): void {
    if (!Array.isArray(resources)) throw new TypeError('ResourceAllocator.free: resources must be an array');
    const seen = new Set<string>();
    for (const r of resources) {
      const held = this.isHeld(r); // throws TypeError for anything but a resource
      const key = `${r.kind}:${show((r as { base?: unknown }).base ?? (r as { irq?: unknown }).irq ?? (r as { slot?: unknown }).slot)}`;
      if (!held || seen.has(key)) throw new ResourceNotAllocatedError(r.kind, { ...r });
      seen.add(key);
    }
    for (const r of resources) this.freeOne(r);
  }
}
