/**
 * Hot-add / hot-remove of guest memory: a holder of the current {@link GuestMemory} that can be
 * replaced as a whole (rust-vmm's `GuestMemoryAtomic`). Because a GuestMemory is immutable,
 * replacing it never disturbs code still using the previous snapshot: it keeps working on the
 * regions it was built from (whose backings stay alive while referenced).
 *
 * @module
 */
import { GuestMemory } from './guest-memory.js';

/**
 * Holds the current guest memory of a VM; devices read `current` at the start of each unit of
 * work (e.g. each queue notification) and use that snapshot throughout it.
 *
 * @example
 * ```ts
 * const holder = new GuestMemoryHolder(GuestMemory.fromRegions([{ start: 0, backing: ram }]));
 * const mem = holder.current;               // a snapshot
 * holder.update((m) => m.insertRegion({ start: 0x1_0000_0000, backing: hotplugged }));
 * mem.readU32(0);                           // the old snapshot still works
 * holder.current.readU32(0x1_0000_0000);    // the new one sees the added region
 * ```
 */
export class GuestMemoryHolder {
  private _current: GuestMemory;
  private _generation = 0;

  /**
   * @param initial - the first memory.
   * @throws TypeError if `initial` is not a GuestMemory.
   */
  constructor(initial: GuestMemory) {
    if (!(initial instanceof GuestMemory)) throw new TypeError('GuestMemoryHolder: initial must be a GuestMemory');
    this._current = initial;
  }

  /**
   * The current memory: a snapshot that stays valid after a replacement.
   * @returns the current GuestMemory.
   * @example
   * ```ts
   * const mem = holder.current;
   * ```
   */
  get current(): GuestMemory {
    return this._current;
  }

  /**
   * How many times the memory was replaced (lets a device notice a change cheaply).
   * @returns the generation number, 0 for the initial memory.
   * @example
   * ```ts
   * if (holder.generation !== seen) { mem = holder.current; seen = holder.generation; }
   * ```
   */
  get generation(): number {
    return this._generation;
  }

  /**
   * Replaces the current memory.
   * @param next - the new memory.
   * @returns the previous memory.
   * @throws TypeError if `next` is not a GuestMemory.
   * @example
   * ```ts
   * holder.replace(holder.current.removeRegion(0x1_0000_0000));
   * ```
   */
  replace(next: GuestMemory): GuestMemory {
    if (!(next instanceof GuestMemory)) throw new TypeError('GuestMemoryHolder.replace: next must be a GuestMemory');
    const prev = this._current;
    this._current = next;
    this._generation++;
    return prev;
  }

  /**
   * Replaces the current memory by `fn(current)`. If `fn` throws (e.g. an invalid layout),
   * nothing changes.
   * @param fn - computes the new memory from the current one.
   * @returns the new memory.
   * @throws whatever `fn` throws; TypeError if it does not return a GuestMemory.
   * @example
   * ```ts
   * holder.update((m) => m.insertRegion(spec));
   * ```
   */
  update(fn: (current: GuestMemory) => GuestMemory): GuestMemory {
    const next = fn(this._current);
    this.replace(next);
    return next;
  }
}

/**
 * Something holding the current guest memory, such as a {@link GuestMemoryHolder}: for guests whose
 * memory map changes (hot-add, or a vfio-user client's DMA windows), a transport reads `current`
 * at the start of each unit of work (DRIVER_OK, a queue re-enabled).
 * @example `const source: MemorySource = new GuestMemoryHolder(memory);`
 */
export interface MemorySource {
  /** The guest memory now. */
  readonly current: GuestMemory;
}

/**
 * Whether a `memory` option is a {@link MemorySource} rather than a GuestMemory itself. Only the
 * shape is looked at: `current` is not read (a source may have no memory yet).
 * @param m - the option.
 * @returns true for a source.
 * @example `const now = isMemorySource(m) ? m.current : m;`
 */
export function isMemorySource(m: GuestMemory | MemorySource): m is MemorySource {
  return typeof m === 'object' && m !== null && 'current' in m;
}
