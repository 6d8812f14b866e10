/**
 * {@link GpioChip}: the simulated GPIO controller behind a {@link GpioDevice} (VIRTIO 1.2 §5.18).
 * It holds every line's state (name, direction, output value, the level the host drives, pull)
 * and the interrupt logic of §5.18.6.6 and §5.18.7: edge interrupts latched while masked, level
 * interrupts never latched and re-fired while the level holds. The host drives inputs and watches
 * outputs through it; the device turns guest requests into calls of its `guest*` members.
 * @module
 */
import { GpioDirection, GpioIrqType, GpioStatus } from './constants.js';
import type { GpioDirectionValue, GpioIrqTypeValue } from './constants.js';

/**
 * One line of a chip's description: a name (unique in the chip, 7-bit ASCII, may be empty) and
 * the pull (bias) an input reads when the host does not drive it.
 * @example `{ name: 'button', pull: 'up' }`
 */
export interface GpioLineDescription {
  /** The line's name in GET_LINE_NAMES ('' or absent: none). */
  readonly name?: string;
  /** What an undriven input reads: 'up' is 1, 'down' (the default) is 0. */
  readonly pull?: 'up' | 'down';
}

/**
 * What became of an input change the host made (see {@link GpioChip.setInput}).
 * - `'delivered'`: it raised an interrupt, the guest received it and unmasked the line again
 *   (re-posted its eventq buffer), or disabled the interrupt after receiving it.
 * - `'discarded'`: it raised an edge that was latched and then discarded (the guest disabled the
 *   interrupt, set the line's direction to none, or the device was reset) before delivery.
 * - `'none'`: it raised no interrupt (no change of level, no interrupt of a matching type, or a
 *   level interrupt while masked, which is not latched).
 * @example `if ((await chip.setInput(0, 1)) === 'delivered') console.log('the guest saw it');`
 */
export type GpioEdgeOutcome = 'delivered' | 'discarded' | 'none';

/**
 * What the guest did to a line, as {@link GpioChip.onChange} reports it.
 * @example `chip.onChange((e) => { if (e.kind === 'output') led = e.value; });`
 */
export type GpioLineEvent =
  | {
      /** The line's direction changed. */
      readonly kind: 'direction';
      /** The line number. */
      readonly line: number;
      /** Its new direction. */
      readonly direction: GpioDirectionValue;
    }
  | {
      /** An output line's driven value changed (or a line became an output). */
      readonly kind: 'output';
      /** The line number. */
      readonly line: number;
      /** The value it drives. */
      readonly value: 0 | 1;
    }
  | {
      /** The line's interrupt type changed. */
      readonly kind: 'irq-type';
      /** The line number. */
      readonly line: number;
      /** Its new type (NONE: disabled). */
      readonly irqType: GpioIrqTypeValue;
    };

/**
 * A snapshot of one line.
 * @example `const { direction, value } = chip.line(3);`
 */
export interface GpioLineState {
  /** The line's name ('' for none). */
  readonly name: string;
  /** What the guest set (NONE until it requests the line). */
  readonly direction: GpioDirectionValue;
  /** The level on the line: an output's value, else what the host drives, else the pull. */
  readonly value: 0 | 1;
  /** The value SET_VALUE stored (driven while the line is an output). */
  readonly output: 0 | 1;
  /** What the host drives (null: nothing, the pull decides). */
  readonly driven: 0 | 1 | null;
  /** The pull an undriven input reads. */
  readonly pull: 'up' | 'down';
  /** The interrupt type the guest enabled (NONE: disabled). */
  readonly irqType: GpioIrqTypeValue;
  /** An edge is latched, waiting for the guest to unmask the line. */
  readonly latched: boolean;
}

/** @internal Where the chip delivers interrupts: the device serving it. */
export interface GpioIrqPort {
  /** Fires line `line` if its eventq buffer is posted (unmasked): true if delivered. */
  fire(line: number): boolean;
  /** Returns the line's posted buffer, if any, with VIRTIO_GPIO_IRQ_STATUS_INVALID. */
  invalidate(line: number): void;
}

/** @internal The mutable state of a line. */
interface Line {
  readonly name: string;
  readonly pull: 0 | 1;
  direction: GpioDirectionValue;
  output: 0 | 1;
  driven: 0 | 1 | null;
  irqType: GpioIrqTypeValue;
  latched: boolean;
  /** Host changes whose edge is latched, settled at delivery or discard. */
  latchWaiters: ((o: GpioEdgeOutcome) => void)[];
  /** Host changes whose interrupt was delivered, settled when the guest unmasks again. */
  ackWaiters: ((o: GpioEdgeOutcome) => void)[];
}

const MAX_LINES = 0xffff;
const IRQ_TYPES: readonly number[] = Object.values(GpioIrqType);
const settle = (waiters: ((o: GpioEdgeOutcome) => void)[], outcome: GpioEdgeOutcome): void => {
  for (const w of waiters.splice(0)) w(outcome);
};

/**
 * A simulated GPIO chip. Lines start with direction NONE; the guest sets directions and output
 * values, the host drives inputs ({@link GpioChip.setInput}) and hears about outputs
 * ({@link GpioChip.onChange}). Interrupts (see the package README, "Interrupts"): an edge of an
 * enabled edge type is delivered at once when the guest's eventq buffer for the line is posted,
 * and latched (one pending edge, as an interrupt controller latches) when it is not; a level
 * interrupt fires while the level holds and the buffer is posted. `setInput` resolves when the
 * guest acknowledged the interrupt it raised (re-posted the buffer), so awaiting it paces a burst
 * of edges on the guest: none coalesced, none reported twice.
 * @example
 * ```ts
 * const chip = new GpioChip([{ name: 'button', pull: 'up' }, { name: 'led' }]);
 * chip.onChange((e) => { if (e.kind === 'output') console.log('led', e.value); });
 * for (let i = 0; i < 10; i++) await chip.pulse(0); // ten presses, each seen by the guest
 * ```
 */
export class GpioChip {
  /** Number of lines (`ngpio`). */
  readonly ngpio: number;
  /** The GET_LINE_NAMES block: each name NUL-terminated, in line order; empty when no line has a name. */
  readonly namesBlock: Uint8Array;
  private readonly lines: Line[];
  private readonly listeners = new Set<(e: GpioLineEvent) => void>();
  private port: GpioIrqPort | null = null;

  /**
   * @param lines - the number of lines (unnamed, pulled down), or one description (or name) per line.
   * @throws RangeError for no lines, more than 65,535, a name that is not 7-bit ASCII without NUL,
   *   or a name used twice.
   * @throws TypeError for a description that is not an object or a string.
   */
  constructor(lines: number | readonly (GpioLineDescription | string)[]) {
    const list: readonly (GpioLineDescription | string)[] = typeof lines === 'number' ? (Number.isInteger(lines) && lines >= 0 ? new Array<string>(lines).fill('') : []) : lines;
    if (!Array.isArray(list) && typeof lines !== 'number') throw new TypeError('GpioChip: lines must be a count or an array of line descriptions');
    if (list.length < 1 || list.length > MAX_LINES) throw new RangeError(`GpioChip: a chip has 1 to ${MAX_LINES} lines, got ${typeof lines === 'number' ? lines : list.length}`);
    const seen = new Set<string>();
    const encoded: number[] = [];
    this.lines = list.map((d, i) => {
      const desc: GpioLineDescription = typeof d === 'string' ? { name: d } : d;
      if (typeof desc !== 'object' || desc === null) throw new TypeError(`GpioChip: line ${i}: a description must be an object or a name`);
      const name = desc.name ?? '';
      if (typeof name !== 'string' || [...name].some((c) => c.charCodeAt(0) === 0 || c.charCodeAt(0) > 0x7f)) throw new RangeError(`GpioChip: line ${i}: a name is 7-bit ASCII without NUL, got ${JSON.stringify(name)}`);
      if (name !== '' && seen.has(name)) throw new RangeError(`GpioChip: line ${i}: the name ${JSON.stringify(name)} is used twice (names are unique in a chip)`);
      seen.add(name);
      if (desc.pull !== undefined && desc.pull !== 'up' && desc.pull !== 'down') throw new RangeError(`GpioChip: line ${i}: pull must be 'up' or 'down', got ${String(desc.pull)}`);
      for (let k = 0; k < name.length; k++) encoded.push(name.charCodeAt(k));
      encoded.push(0);
      return { name, pull: desc.pull === 'up' ? 1 : 0, direction: GpioDirection.NONE, output: 0, driven: null, irqType: GpioIrqType.NONE, latched: false, latchWaiters: [], ackWaiters: [] };
    });
    this.ngpio = this.lines.length;
    this.namesBlock = seen.size === 1 && seen.has('') ? new Uint8Array(0) : Uint8Array.from(encoded);
  }

  /**
   * A snapshot of line `line`.
   * @param line - the line number.
   * @returns its state.
   * @throws RangeError for a line the chip does not have.
   * @example `chip.line(0).value`
   */
  line(line: number): GpioLineState {
    const l = this.at(line, 'GpioChip.line');
    return { name: l.name, direction: l.direction, value: this.level(l), output: l.output, driven: l.driven, pull: l.pull === 1 ? 'up' : 'down', irqType: l.irqType, latched: l.latched };
  }

  /**
   * The number of the line named `name`.
   * @param name - a line name.
   * @returns its number, or -1.
   * @example `chip.setInput(chip.find('button'), 0)`
   */
  find(name: string): number {
    return name === '' ? -1 : this.lines.findIndex((l) => l.name === name);
  }

  /**
   * Adds a listener for what the guest does to lines (directions, output values, interrupt types).
   * @param listener - called synchronously, in order (must not throw).
   * @returns a function that removes it.
   * @example `const off = chip.onChange((e) => console.log(e));`
   */
  onChange(listener: (e: GpioLineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Drives line `line` to `value` from the host side (null: stops driving; the pull decides). The
   * level an input senses changes at once; an edge or level of the guest's interrupt type raises
   * the interrupt. The promise settles when the guest acknowledged that interrupt (see
   * {@link GpioEdgeOutcome}); await it before the next change to pace edges on the guest.
   * Driving an output line only records the value: it shows when the guest makes it an input.
   * @param line - the line number.
   * @param value - 0, 1, or null.
   * @returns what became of the interrupt this change raised. Never rejects.
   * @throws RangeError for a line the chip does not have or a value other than 0, 1 or null.
   * @example `await chip.setInput(0, 1); // the guest's gpiomon saw the rising edge`
   */
  setInput(line: number, value: 0 | 1 | null): Promise<GpioEdgeOutcome> {
    const l = this.at(line, 'GpioChip.setInput');
    if (value !== 0 && value !== 1 && value !== null) throw new RangeError(`GpioChip.setInput: value must be 0, 1 or null, got ${String(value)}`);
    const before = this.level(l);
    l.driven = value;
    const after = this.level(l);
    if (before === after) return Promise.resolve('none');
    return this.sense(line, l, after);
  }

  /**
   * Toggles an input line and back (two edges), each change paced as {@link GpioChip.setInput}.
   * @param line - the line number.
   * @returns the outcomes of the two changes.
   * @throws RangeError for a line the chip does not have.
   * @example `await chip.pulse(chip.find('button'));`
   */
  async pulse(line: number): Promise<[GpioEdgeOutcome, GpioEdgeOutcome]> {
    const l = this.at(line, 'GpioChip.pulse');
    const rest = this.level(l);
    const first = await this.setInput(line, rest === 1 ? 0 : 1);
    return [first, await this.setInput(line, rest)];
  }

  /** @internal The device serving the chip attaches itself (one at a time). */
  attach(port: GpioIrqPort | null): void {
    if (port !== null && this.port !== null && this.port !== port) throw new RangeError('GpioChip: the chip is already served by another device');
    this.port = port;
  }

  /** @internal GET_DIRECTION. */
  guestGetDirection(line: number): number {
    return this.lines[line]!.direction;
  }

  /** @internal GET_VALUE. */
  guestGetValue(line: number): 0 | 1 {
    return this.level(this.lines[line]!);
  }

  /** @internal SET_VALUE. @returns a status. */
  guestSetValue(line: number, value: number): number {
    const l = this.lines[line]!;
    if (value !== 0 && value !== 1) return GpioStatus.ERR;
    const before = l.output;
    l.output = value;
    if (l.direction === GpioDirection.OUT && before !== value) this.emit({ kind: 'output', line, value });
    return GpioStatus.OK;
  }

  /** @internal SET_DIRECTION. @returns a status. */
  guestSetDirection(line: number, direction: number): number {
    const l = this.lines[line]!;
    if (direction !== GpioDirection.NONE && direction !== GpioDirection.OUT && direction !== GpioDirection.IN) return GpioStatus.ERR;
    // An interrupt belongs to an input: the driver may not make such a line an output (§5.18.6.7).
    if (direction === GpioDirection.OUT && l.irqType !== GpioIrqType.NONE) return GpioStatus.ERR;
    if (direction === GpioDirection.NONE) {
      // §5.18.6.7: all state of the line is discarded, its interrupt with it.
      this.disableIrq(line, l);
      l.output = 0;
    }
    if (l.direction !== direction) {
      l.direction = direction as GpioDirectionValue;
      this.emit({ kind: 'direction', line, direction: l.direction });
      if (direction === GpioDirection.OUT) this.emit({ kind: 'output', line, value: l.output });
    }
    return GpioStatus.OK;
  }

  /** @internal SET_IRQ_TYPE (the device checked VIRTIO_GPIO_F_IRQ). @returns a status. */
  guestSetIrqType(line: number, type: number): number {
    const l = this.lines[line]!;
    if (!IRQ_TYPES.includes(type)) return GpioStatus.ERR;
    if (type === GpioIrqType.NONE) {
      this.disableIrq(line, l);
      return GpioStatus.OK;
    }
    if (l.direction === GpioDirection.OUT) return GpioStatus.ERR; // §5.18.6.7: no IRQ messages for an output
    if (l.irqType === type) return GpioStatus.OK;
    // A new type without disabling first (the driver should not, §5.18.6.7): what was latched
    // under the old type is discarded, and the interrupt stays unmasked if it was.
    this.discardLatch(l);
    l.irqType = type as GpioIrqTypeValue;
    this.emit({ kind: 'irq-type', line, irqType: l.irqType });
    if (this.levelActive(l)) this.port?.fire(line);
    return GpioStatus.OK;
  }

  /**
   * @internal The guest posted its eventq buffer for `line` (unmask). Settles the host changes
   * delivered before; then fires a latched edge or a level that still holds.
   * @returns whether the line's interrupt is enabled (a disabled one gets its buffer back INVALID).
   */
  guestUnmasked(line: number): boolean {
    const l = this.lines[line]!;
    settle(l.ackWaiters, 'delivered');
    if (l.irqType === GpioIrqType.NONE) return false;
    if (l.latched) {
      // The waiters move before the fire: a guest may unmask again from inside it (synchronously).
      l.latched = false;
      const waiters = l.latchWaiters.splice(0);
      l.ackWaiters.push(...waiters);
      if (!this.port?.fire(line)) {
        l.latched = true;
        l.latchWaiters.push(...waiters);
        l.ackWaiters.splice(l.ackWaiters.length - waiters.length);
      }
    } else if (this.levelActive(l)) this.port?.fire(line);
    return true;
  }

  /** @internal A device reset: every line back to its initial state; what the host drives stays. */
  guestReset(): void {
    for (let i = 0; i < this.lines.length; i++) {
      const l = this.lines[i]!;
      this.discardLatch(l);
      settle(l.ackWaiters, 'delivered');
      if (l.irqType !== GpioIrqType.NONE) {
        l.irqType = GpioIrqType.NONE;
        this.emit({ kind: 'irq-type', line: i, irqType: l.irqType });
      }
      l.output = 0;
      if (l.direction !== GpioDirection.NONE) {
        l.direction = GpioDirection.NONE;
        this.emit({ kind: 'direction', line: i, direction: l.direction });
      }
    }
  }

  private sense(line: number, l: Line, level: 0 | 1): Promise<GpioEdgeOutcome> {
    const t = l.irqType;
    if (l.direction === GpioDirection.OUT || t === GpioIrqType.NONE) return Promise.resolve('none');
    const isLevel = t === GpioIrqType.LEVEL_HIGH || t === GpioIrqType.LEVEL_LOW;
    if (isLevel ? !this.levelActive(l) : (t & (level === 1 ? GpioIrqType.EDGE_RISING : GpioIrqType.EDGE_FALLING)) === 0) return Promise.resolve('none');
    return new Promise((resolve) => {
      // The waiter goes in before the fire: the guest may take the interrupt and unmask again inside it.
      if (!l.latched) {
        l.ackWaiters.push(resolve);
        if (this.port?.fire(line)) return;
        l.ackWaiters.splice(l.ackWaiters.indexOf(resolve), 1);
      }
      // §5.18.6.7: a level is not latched; an edge is, one pending edge however many come, as a controller latches.
      if (isLevel) return resolve('none');
      l.latched = true;
      l.latchWaiters.push(resolve);
    });
  }

  private disableIrq(line: number, l: Line): void {
    this.discardLatch(l);
    settle(l.ackWaiters, 'delivered');
    this.port?.invalidate(line);
    if (l.irqType !== GpioIrqType.NONE) {
      l.irqType = GpioIrqType.NONE;
      this.emit({ kind: 'irq-type', line, irqType: l.irqType });
    }
  }

  private discardLatch(l: Line): void {
    l.latched = false;
    settle(l.latchWaiters, 'discarded');
  }

  private levelActive(l: Line): boolean {
    if (l.direction === GpioDirection.OUT) return false;
    const v = this.level(l);
    return (l.irqType === GpioIrqType.LEVEL_HIGH && v === 1) || (l.irqType === GpioIrqType.LEVEL_LOW && v === 0);
  }

  private level(l: Line): 0 | 1 {
    if (l.direction === GpioDirection.OUT) return l.output;
    return l.driven ?? l.pull;
  }

  private emit(e: GpioLineEvent): void {
    for (const listener of this.listeners) listener(e);
  }

  private at(line: number, label: string): Line {
    const l = Number.isInteger(line) ? this.lines[line] : undefined;
    if (l === undefined) throw new RangeError(`${label}: line must be an integer in 0..${this.ngpio - 1}, got ${String(line)}`);
    return l;
  }
}
