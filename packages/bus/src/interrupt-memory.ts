/**
 * The reference, in-memory implementation of the interrupt abstraction: an interrupt
 * controller that records every delivery (for tests) and hands it to a callback (for an
 * emulator's PIC/IOAPIC/PLIC/GIC model). It also plays the controller's side of level lines:
 * {@link InMemoryInterruptController.ack} is the end of interrupt that lowers a line and
 * notifies the device's resample listeners.
 * @module
 */
import { InterruptSourceBusyError, InvalidInterruptIndexError, InvalidMsiConfigError } from './errors.js';
import type { InterruptManager, InterruptSourceGroup, InterruptSourceKind, LegacyInterruptGroup, LegacyTriggerMode, MsiConfig, MsiInterruptGroup, TriggerOutcome } from './interrupt.js';
import { show } from './internal/show.js';

/**
 * One interrupt delivered to the controller.
 * @example `{ seq: 0, kind: 'legacy', irq: 4, index: 0, mode: 'level' }`
 */
export interface InterruptDelivery {
  /** Sequence number across the controller, from 0. */
  readonly seq: number;
  /** Kind of the source. */
  readonly kind: InterruptSourceKind;
  /** Interrupt number: group base + index. */
  readonly irq: number;
  /** Index in the group. */
  readonly index: number;
  /** Trigger mode of a legacy line. */
  readonly mode?: LegacyTriggerMode;
  /** Message of an MSI vector. */
  readonly config?: MsiConfig;
}

/** Options of an {@link InMemoryInterruptController}. @example `{ onDeliver: (d) => cpu.raise(d.irq), recordLimit: 0 }` */
export interface InMemoryInterruptControllerOptions {
  /** Called synchronously with every delivery. */
  readonly onDeliver?: (delivery: InterruptDelivery) => void;
  /** How many deliveries {@link InMemoryInterruptController.deliveries} keeps before it stops recording (default 4096; 0 records none). */
  readonly recordLimit?: number;
}

/**
 * The most sources one group may hold (a group keeps per-source state). MSI-X allows 2048
 * vectors per function and an IOAPIC has 24 lines; this leaves ample room.
 */
const MAX_GROUP_SOURCES = 65536;

function checkU32(v: unknown, label: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`${label} must be a u32, got ${show(v)}`);
  return v;
}

abstract class GroupBase {
  abstract readonly kind: InterruptSourceKind;
  protected readonly masked: Uint8Array;
  protected readonly pending: Uint8Array;
  protected on = true;
  /** @internal */ destroyed = false;

  constructor(
    protected readonly controller: InMemoryInterruptController,
    readonly base: number,
    readonly count: number,
  ) {
    this.masked = new Uint8Array(count);
    this.pending = new Uint8Array(count);
  }

  /** Whether the group delivers interrupts. @example `if (!group.enabled) group.enable();` */
  get enabled(): boolean {
    return this.on;
  }

  protected check(index: number): void {
    if (typeof index !== 'number' || (index >>> 0) !== index || index >= this.count) throw new InvalidInterruptIndexError(index, this.count);
  }

  /**
   * Masks a source: later triggers set its pending bit instead of delivering.
   * @param index - source index
   * @throws InvalidInterruptIndexError (`Bus.InvalidInterruptIndexError`) when index is outside the group
   * @example `group.mask(0)`
   */
  mask(index: number): void {
    this.check(index);
    this.masked[index] = 1;
  }

  /**
   * @param index - source index
   * @returns whether the source is masked
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.isMasked(0)`
   */
  isMasked(index: number): boolean {
    this.check(index);
    return this.masked[index] === 1;
  }

  /**
   * @param index - source index
   * @returns whether an interrupt waits for the source to be unmasked
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.isPending(0)`
   */
  isPending(index: number): boolean {
    this.check(index);
    return this.pending[index] === 1;
  }
}

/**
 * Legacy lines of an {@link InMemoryInterruptController}. Create with
 * {@link InMemoryInterruptController.createLegacyGroup}.
 * @example
 * ```ts
 * const irq = controller.createLegacyGroup(4, 1, 'level');
 * irq.trigger(0); // 'delivered'
 * ```
 */
export class InMemoryLegacyGroup extends GroupBase implements LegacyInterruptGroup {
  /** Always `'legacy'`. */
  readonly kind = 'legacy' as const;
  private readonly level: Uint8Array;
  private readonly listeners = new Set<(index: number) => void>();

  /**
   * @internal Use {@link InMemoryInterruptController.createLegacyGroup}.
   * @param controller - owner @param base - first irq @param count - lines @param mode - edge or level
   */
  constructor(
    controller: InMemoryInterruptController,
    base: number,
    count: number,
    readonly mode: LegacyTriggerMode,
  ) {
    super(controller, base, count);
    this.level = new Uint8Array(count);
  }

  /**
   * Enables the group; raised level lines are delivered if unmasked, and become pending if
   * masked (so that unmask delivers them while they stay raised).
   * @example `irq.enable()`
   */
  enable(): void {
    if (this.on || this.destroyed) return;
    this.on = true;
    if (this.mode === 'level') {
      for (let i = 0; i < this.count; i++) {
        if (this.level[i] === 0) continue;
        if (this.masked[i] === 1) this.pending[i] = 1;
        else this.controller.deliver(this, i, undefined);
      }
    }
  }

  /** Disables the group; pending bits are cleared, level lines keep their state. @example `irq.disable()` */
  disable(): void {
    this.on = false;
    this.pending.fill(0);
  }

  /**
   * Edge: one interrupt. Level: raises the line (an interrupt on the rising edge only).
   * @param index - line index
   * @returns the outcome
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.trigger(0)`
   */
  trigger(index: number): TriggerOutcome {
    this.check(index);
    if (this.destroyed) return 'dropped';
    if (this.mode === 'level') {
      if (this.level[index] === 1) return 'unchanged';
      this.level[index] = 1;
    }
    if (!this.on) return 'dropped';
    if (this.masked[index] === 1) {
      this.pending[index] = 1;
      return 'pending';
    }
    this.controller.deliver(this, index, undefined);
    return 'delivered';
  }

  /**
   * Unmasks a line, delivering it if pending (a level line: only if still raised).
   * @param index - line index
   * @returns `'delivered'` or `'unchanged'`
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.unmask(0)`
   */
  unmask(index: number): TriggerOutcome {
    this.check(index);
    this.masked[index] = 0;
    if (this.pending[index] === 0) return 'unchanged';
    this.pending[index] = 0;
    if (this.destroyed || !this.on || (this.mode === 'level' && this.level[index] === 0)) return 'unchanged';
    this.controller.deliver(this, index, undefined);
    return 'delivered';
  }

  /**
   * Lowers a level line and clears its pending bit (edge: no-op).
   * @param index - line index
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.deassert(0)`
   */
  deassert(index: number): void {
    this.check(index);
    if (this.mode === 'edge') return;
    this.level[index] = 0;
    this.pending[index] = 0;
  }

  /**
   * @param index - line index
   * @returns whether the level line is raised
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.isAsserted(0)`
   */
  isAsserted(index: number): boolean {
    this.check(index);
    return this.level[index] === 1;
  }

  /**
   * @param listener - called with the line index after an end of interrupt lowered it
   * @returns unsubscribe
   * @example `const off = irq.onResample((i) => { if (busy()) irq.trigger(i); });`
   */
  onResample(listener: (index: number) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('onResample: listener must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** @internal Called by the controller on end of interrupt. */
  eoi(index: number): boolean {
    if (this.mode !== 'level' || this.level[index] === 0) return false;
    this.level[index] = 0;
    this.pending[index] = 0;
    for (const l of [...this.listeners]) l(index);
    return true;
  }
}

/**
 * MSI vectors of an {@link InMemoryInterruptController}. Create with
 * {@link InMemoryInterruptController.createMsiGroup}.
 * @example
 * ```ts
 * const msi = controller.createMsiGroup(32, 4);
 * msi.update(1, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 });
 * msi.trigger(1); // 'delivered'
 * ```
 */
export class InMemoryMsiGroup extends GroupBase implements MsiInterruptGroup {
  /** Always `'msi'`. */
  readonly kind = 'msi' as const;
  private readonly configs: Array<MsiConfig | undefined>;

  /** @internal Use {@link InMemoryInterruptController.createMsiGroup}. @param controller - owner @param base - first vector @param count - vectors */
  constructor(controller: InMemoryInterruptController, base: number, count: number) {
    super(controller, base, count);
    this.configs = new Array<MsiConfig | undefined>(count).fill(undefined);
  }

  /** Enables the group. @example `msi.enable()` */
  enable(): void {
    if (!this.destroyed) this.on = true;
  }

  /** Disables the group; pending bits are cleared. @example `msi.disable()` */
  disable(): void {
    this.on = false;
    this.pending.fill(0);
  }

  /**
   * Sends vector `index` (dropped when the group is disabled or the vector unconfigured).
   * @param index - vector index
   * @returns the outcome
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `msi.trigger(0)`
   */
  trigger(index: number): TriggerOutcome {
    this.check(index);
    if (this.destroyed || !this.on || this.configs[index] === undefined) return 'dropped';
    if (this.masked[index] === 1) {
      this.pending[index] = 1;
      return 'pending';
    }
    this.controller.deliver(this, index, this.configs[index]);
    return 'delivered';
  }

  /**
   * Unmasks a vector, sending it if pending.
   * @param index - vector index
   * @returns `'delivered'` or `'unchanged'`
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `msi.unmask(0)`
   */
  unmask(index: number): TriggerOutcome {
    this.check(index);
    this.masked[index] = 0;
    if (this.pending[index] === 0) return 'unchanged';
    this.pending[index] = 0;
    const cfg = this.configs[index];
    if (this.destroyed || !this.on || cfg === undefined) return 'unchanged';
    this.controller.deliver(this, index, cfg);
    return 'delivered';
  }

  /**
   * Sets or clears a vector's message.
   * @param index - vector index
   * @param config - the message, or undefined
   * @throws InvalidInterruptIndexError; InvalidMsiConfigError when a field is not a u32
   * @example `msi.update(0, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x30 })`
   */
  update(index: number, config: MsiConfig | undefined): void {
    this.check(index);
    if (config === undefined) {
      this.configs[index] = undefined;
      return;
    }
    const fields = ['addressLo', 'addressHi', 'data'] as const;
    for (const f of fields) {
      const v = (config as unknown as Record<string, unknown>)?.[f];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new InvalidMsiConfigError(f, v);
    }
    if (config.devid !== undefined && (typeof config.devid !== 'number' || !Number.isInteger(config.devid) || config.devid < 0 || config.devid > 0xffff_ffff)) throw new InvalidMsiConfigError('devid', config.devid);
    const copy: MsiConfig = config.devid === undefined ? { addressLo: config.addressLo, addressHi: config.addressHi, data: config.data } : { addressLo: config.addressLo, addressHi: config.addressHi, data: config.data, devid: config.devid };
    this.configs[index] = Object.freeze(copy);
  }

  /**
   * @param index - vector index
   * @returns its message or undefined
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `msi.getConfig(0)?.data`
   */
  getConfig(index: number): MsiConfig | undefined {
    this.check(index);
    return this.configs[index];
  }
}

/**
 * An interrupt controller in memory: creates groups, records deliveries, and acknowledges
 * level interrupts.
 * @example
 * ```ts
 * const ctl = new InMemoryInterruptController();
 * const irq = ctl.createLegacyGroup(4, 1, 'level');
 * irq.trigger(0);
 * ctl.takeDeliveries(); // [{ seq: 0, kind: 'legacy', irq: 4, index: 0, mode: 'level' }]
 * ctl.ack(4);           // lowers IRQ 4, resample listeners run
 * ```
 */
export class InMemoryInterruptController implements InterruptManager {
  private readonly groups: Array<InMemoryLegacyGroup | InMemoryMsiGroup> = [];
  private readonly records: InterruptDelivery[] = [];
  private readonly onDeliver: ((d: InterruptDelivery) => void) | undefined;
  private readonly recordLimit: number;
  private seq = 0;
  /** Deliveries not kept because {@link InMemoryInterruptControllerOptions.recordLimit} was reached. */
  unrecorded = 0;

  /**
   * @param options - see {@link InMemoryInterruptControllerOptions}
   * @throws TypeError when options is not an object or onDeliver not a function; RangeError for a bad recordLimit
   */
  constructor(options: InMemoryInterruptControllerOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('InMemoryInterruptController: options must be an object');
    if (options.onDeliver !== undefined && typeof options.onDeliver !== 'function') throw new TypeError('InMemoryInterruptController: onDeliver must be a function');
    this.onDeliver = options.onDeliver;
    const limit = options.recordLimit ?? 4096;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`InMemoryInterruptController: recordLimit must be a non-negative integer, got ${show(limit)}`);
    this.recordLimit = limit;
  }

  /** Total number of deliveries so far. */
  get deliveryCount(): number {
    return this.seq;
  }

  /** The recorded deliveries, oldest first (a live, read-only view). */
  get deliveries(): readonly InterruptDelivery[] {
    return this.records;
  }

  /**
   * Returns the recorded deliveries and forgets them.
   * @returns the deliveries, oldest first
   * @example `expect(ctl.takeDeliveries().map((d) => d.irq)).toEqual([4])`
   */
  takeDeliveries(): InterruptDelivery[] {
    return this.records.splice(0, this.records.length);
  }

  private reserve(kind: InterruptSourceKind, base: number, count: number): void {
    checkU32(base, `create ${kind} group: base`);
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_GROUP_SOURCES || base + count - 1 > 0xffff_ffff) {
      throw new RangeError(`create ${kind} group: count must be in [1, ${MAX_GROUP_SOURCES}] and end within u32, got ${show(count)}`);
    }
    for (const g of this.groups) {
      if (g.kind === kind && g.base <= base + count - 1 && base <= g.base + g.count - 1) throw new InterruptSourceBusyError(kind, base, count);
    }
  }

  /**
   * @param base - first IRQ number
   * @param count - lines
   * @param mode - `'edge'` or `'level'`
   * @returns an enabled group, lines unmasked and low
   * @throws InterruptSourceBusyError when a number is taken; RangeError / TypeError on bad arguments
   * @example `ctl.createLegacyGroup(4, 1, 'level')`
   */
  createLegacyGroup(base: number, count: number, mode: LegacyTriggerMode): InMemoryLegacyGroup {
    if (mode !== 'edge' && mode !== 'level') throw new TypeError(`createLegacyGroup: mode must be 'edge' or 'level', got ${show(mode)}`);
    this.reserve('legacy', base, count);
    const g = new InMemoryLegacyGroup(this, base, count, mode);
    this.groups.push(g);
    return g;
  }

  /**
   * @param base - first vector number
   * @param count - vectors
   * @returns an enabled group, vectors unmasked and unconfigured
   * @throws InterruptSourceBusyError when a number is taken; RangeError on bad arguments
   * @example `ctl.createMsiGroup(32, 4)`
   */
  createMsiGroup(base: number, count: number): InMemoryMsiGroup {
    this.reserve('msi', base, count);
    const g = new InMemoryMsiGroup(this, base, count);
    this.groups.push(g);
    return g;
  }

  /**
   * Destroys a group: its numbers become free; it delivers nothing afterwards.
   * @param group - a group of this controller
   * @throws TypeError when the group is not (or no longer) one of this controller's
   * @example `ctl.destroyGroup(irq)`
   */
  destroyGroup(group: InterruptSourceGroup): void {
    const i = this.groups.indexOf(group as InMemoryLegacyGroup | InMemoryMsiGroup);
    if (i < 0) throw new TypeError('destroyGroup: not a live group of this controller');
    this.groups.splice(i, 1);
    const g = group as InMemoryLegacyGroup | InMemoryMsiGroup;
    g.destroyed = true;
    g.disable();
  }

  /**
   * End of interrupt for legacy IRQ `irq`: a raised level line is lowered, then the group's
   * resample listeners run (and may raise it again).
   * @param irq - the IRQ number
   * @returns true when a level line was lowered; false for an edge line, a low line or an unknown number
   * @example `ctl.ack(4)`
   */
  ack(irq: number): boolean {
    if (typeof irq !== 'number') return false;
    for (const g of this.groups) {
      if (g.kind === 'legacy' && irq >= g.base && irq <= g.base + g.count - 1) return g.eoi(irq - g.base);
    }
    return false;
  }

  /**
   * Whether legacy IRQ `irq` is a raised level line.
   * @param irq - the IRQ number
   * @returns the line state (false for unknown numbers and edge lines)
   * @example `ctl.isAsserted(4)`
   */
  isAsserted(irq: number): boolean {
    if (typeof irq !== 'number') return false;
    for (const g of this.groups) {
      if (g.kind === 'legacy' && irq >= g.base && irq <= g.base + g.count - 1) return g.isAsserted(irq - g.base);
    }
    return false;
  }

  /** @internal Records and forwards one delivery. */
  deliver(group: InMemoryLegacyGroup | InMemoryMsiGroup, index: number, config: MsiConfig | undefined): void {
    const d: InterruptDelivery =
      group.kind === 'legacy'
        ? { seq: this.seq++, kind: 'legacy', irq: group.base + index, index, mode: group.mode }
        : { seq: this.seq++, kind: 'msi', irq: group.base + index, index, config: config! };
    if (this.records.length < this.recordLimit) this.records.push(d);
    else this.unrecorded++;
    this.onDeliver?.(d);
  }
}
