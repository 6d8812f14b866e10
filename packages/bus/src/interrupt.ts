/**
 * Interrupt sources: the abstraction vm-device's users asked for (vm-device#68, PR#21, PR#29,
 * PR#71 merged then reverted) and never got.
 *
 * A device raises interrupts through an {@link InterruptSourceGroup}: a run of consecutive
 * interrupt numbers (`base .. base + count - 1`) of one kind.
 *
 * - **Legacy lines** ({@link LegacyInterruptGroup}), edge- or level-triggered. `trigger(i)` on an
 *   edge line sends one interrupt; on a level line it raises the line, which stays raised until
 *   the device calls `deassert(i)` or the controller acknowledges it (end of interrupt), after
 *   which the group notifies its resample listeners so the device can raise it again if its
 *   condition still holds (KVM's irqfd resamplefd, in object form). Device code that calls
 *   `trigger` when its condition becomes true and `deassert` when it becomes false works in both
 *   modes (`deassert` on an edge line does nothing).
 * - **MSI vectors** ({@link MsiInterruptGroup}), each configured with an address/data pair
 *   before it can be delivered.
 *
 * Every source can be masked. An interrupt raised while masked sets the source's pending bit
 * and is delivered when it is unmasked (for a level line: if the line is still raised). A whole
 * group can be disabled: triggers are then dropped (`'dropped'`), pending bits are cleared, and
 * a level line keeps its state so that enabling the group delivers it if still raised.
 *
 * Groups are exclusive objects: use one from the agent (thread) that created it.
 * {@link InMemoryInterruptController} is the reference implementation.
 * @module
 */

/** The kind of an interrupt source group. @example `const k: InterruptSourceKind = 'msi';` */
export type InterruptSourceKind = 'legacy' | 'msi';

/** How a legacy line signals. @example `const m: LegacyTriggerMode = 'level';` */
export type LegacyTriggerMode = 'edge' | 'level';

/**
 * What a `trigger` (or `unmask`/`enable`) did:
 * - `'delivered'`: an interrupt went to the controller now;
 * - `'pending'`: the source is masked; its pending bit is set and it is delivered at unmask;
 * - `'dropped'`: the group is disabled, or an MSI vector has no configuration;
 * - `'unchanged'`: a level line that was already raised (no new interrupt), or nothing to do.
 * @example `if (group.trigger(0) === 'dropped') stats.lost++;`
 */
export type TriggerOutcome = 'delivered' | 'pending' | 'dropped' | 'unchanged';

/**
 * The address/data pair of one MSI vector (PCI MSI/MSI-X message), plus an optional device id
 * for interrupt controllers that need one (ARM GICv3 ITS).
 * @example `const cfg: MsiConfig = { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 };`
 */
export interface MsiConfig {
  /** Low 32 bits of the message address (u32). */
  readonly addressLo: number;
  /** High 32 bits of the message address (u32). */
  readonly addressHi: number;
  /** Message data (u32). */
  readonly data: number;
  /** Requester / device id (u32), when the controller needs one. */
  readonly devid?: number;
}

/**
 * A group of interrupt sources of one kind with consecutive numbers.
 * @example
 * ```ts
 * function notify(irq: InterruptSourceGroup) { irq.trigger(0); }
 * ```
 */
export interface InterruptSourceGroup {
  /** `'legacy'` or `'msi'`. */
  readonly kind: InterruptSourceKind;
  /** First interrupt number (GSI / IRQ / vector number) of the group. */
  readonly base: number;
  /** Number of sources; valid indices are `0 .. count - 1`. */
  readonly count: number;
  /** Whether the group delivers interrupts. */
  readonly enabled: boolean;
  /**
   * Enables delivery (idempotent). Raised level lines are delivered if unmasked and become
   * pending if masked.
   * @returns nothing
   * @example `group.enable()`
   */
  enable(): void;
  /**
   * Disables delivery (idempotent): later triggers are dropped, pending bits are cleared.
   * @returns nothing
   * @example `group.disable()`
   */
  disable(): void;
  /**
   * Raises source `index`: one interrupt on an edge line or MSI vector, the line goes high on a
   * level line.
   * @param index - source index in the group
   * @returns what happened
   * @throws InvalidInterruptIndexError (`Bus.InvalidInterruptIndexError`) when index is outside the group
   * @example `if (group.trigger(0) === 'pending') console.log('masked')`
   */
  trigger(index: number): TriggerOutcome;
  /**
   * Masks source `index`: later triggers set its pending bit instead of delivering.
   * @param index - source index
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.mask(0)`
   */
  mask(index: number): void;
  /**
   * Unmasks source `index`, delivering it if it is pending.
   * @param index - source index
   * @returns `'delivered'` when a pending interrupt went out, else `'unchanged'`
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.unmask(0)`
   */
  unmask(index: number): TriggerOutcome;
  /**
   * @param index - source index
   * @returns whether the source is masked
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.isMasked(0)`
   */
  isMasked(index: number): boolean;
  /**
   * @param index - source index
   * @returns whether an interrupt is waiting for the source to be unmasked
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `group.isPending(0)`
   */
  isPending(index: number): boolean;
}

/**
 * Legacy interrupt lines (INTx, ISA IRQs), edge- or level-triggered.
 * @example
 * ```ts
 * // a device whose interrupt condition is `cond()`:
 * irq.onResample(() => { if (cond()) irq.trigger(0); });
 * if (cond()) irq.trigger(0); else irq.deassert(0);
 * ```
 */
export interface LegacyInterruptGroup extends InterruptSourceGroup {
  /** Always `'legacy'`. */
  readonly kind: 'legacy';
  /** `'edge'` or `'level'`. */
  readonly mode: LegacyTriggerMode;
  /**
   * Lowers a level line (no-op on an edge line); clears its pending bit.
   * @param index - source index
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.deassert(0)`
   */
  deassert(index: number): void;
  /**
   * @param index - source index
   * @returns whether a level line is raised (always false for an edge line)
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `irq.isAsserted(0)`
   */
  isAsserted(index: number): boolean;
  /**
   * Subscribes to resample notifications: called with the source index after the controller
   * acknowledged a level interrupt and lowered the line.
   * @param listener - called synchronously with the index
   * @returns a function that unsubscribes
   * @example `const off = irq.onResample((i) => { if (stillBusy()) irq.trigger(i); });`
   */
  onResample(listener: (index: number) => void): () => void;
}

/**
 * MSI / MSI-X vectors, each with an address/data configuration.
 * @example
 * ```ts
 * msi.update(0, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 });
 * msi.trigger(0);
 * ```
 */
export interface MsiInterruptGroup extends InterruptSourceGroup {
  /** Always `'msi'`. */
  readonly kind: 'msi';
  /**
   * Sets (or with `undefined`, clears) the address/data pair of vector `index`.
   * @param index - vector index
   * @param config - the message, or undefined to clear it
   * @throws InvalidInterruptIndexError when index is outside the group
   * @throws InvalidMsiConfigError (`Bus.InvalidMsiConfigError`) when a field is not a u32
   * @example `msi.update(0, { addressLo: 0xfee0_0000, addressHi: 0, data: 0x41 })`
   */
  update(index: number, config: MsiConfig | undefined): void;
  /**
   * @param index - vector index
   * @returns the vector's configuration, or undefined when it has none
   * @throws InvalidInterruptIndexError when index is outside the group
   * @example `msi.getConfig(0)?.data`
   */
  getConfig(index: number): MsiConfig | undefined;
}

/**
 * Creates and destroys interrupt source groups: the interface a VMM's interrupt controller
 * (KVM irqfds, an emulator's PIC/IOAPIC/PLIC model, or {@link InMemoryInterruptController})
 * offers to devices.
 * @example
 * ```ts
 * const irq = controller.createLegacyGroup(4, 1, 'level'); // COM1's IRQ 4
 * ```
 */
export interface InterruptManager {
  /**
   * @param base - first legacy interrupt number
   * @param count - number of lines (>= 1; the in-memory controller allows up to 65536)
   * @param mode - edge or level
   * @returns a new, enabled group with every line unmasked and low
   * @throws InterruptSourceBusyError (`Bus.InterruptSourceBusyError`) when a number is used by another group
   * @throws RangeError when base or count is not a valid u32 / count is 0 or too large
   * @example `manager.createLegacyGroup(4, 1, 'level')`
   */
  createLegacyGroup(base: number, count: number, mode: LegacyTriggerMode): LegacyInterruptGroup;
  /**
   * @param base - first MSI vector number
   * @param count - number of vectors (>= 1; the in-memory controller allows up to 65536)
   * @returns a new, enabled group with every vector unmasked and unconfigured
   * @throws InterruptSourceBusyError when a number is used by another group
   * @throws RangeError when base or count is not a valid u32 / count is 0 or too large
   * @example `manager.createMsiGroup(32, 4)`
   */
  createMsiGroup(base: number, count: number): MsiInterruptGroup;
  /**
   * Destroys a group: its numbers become free, later calls on it throw nothing but deliver nothing.
   * @param group - a group created by this manager
   * @throws TypeError when the group was not created by this manager (or was already destroyed)
   * @example `manager.destroyGroup(group)`
   */
  destroyGroup(group: InterruptSourceGroup): void;
}
