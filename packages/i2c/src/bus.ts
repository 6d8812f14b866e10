/**
 * {@link I2cBus}: simulated I2C targets at addresses, and transactions over them as an I2C
 * controller runs them (the bus side of VIRTIO 1.2 §5.16.6): START, address, data bytes each
 * acknowledged or not, repeated START between the segments of one transaction, STOP at its end.
 * @module
 */
import type { I2cAddress } from './address.js';

/**
 * A device on the bus, byte by byte as the wire sees it. Implement it for a device of your own.
 * A target must not throw; if it does, the segment fails as a NACK and the bus reports the error.
 * @example
 * ```ts
 * // A one-register device: writes set it, reads return it.
 * let reg = 0;
 * const target: I2cTarget = { start: () => true, write: (b) => ((reg = b), true), read: () => reg, stop: () => {} };
 * bus.attach(0x20, target);
 * ```
 */
export interface I2cTarget {
  /**
   * A START (or repeated START) addressed to this target.
   * @param read - the direction bit: true for a read.
   * @returns true to ACK the address, false to NACK it (the segment fails).
   */
  start(read: boolean): boolean;
  /**
   * A byte the controller writes.
   * @param byte - 0 to 255.
   * @returns true to ACK it, false to NACK (the segment fails; the rest of it is not sent).
   */
  write(byte: number): boolean;
  /**
   * The next byte the controller reads.
   * @returns 0 to 255 (other bits are dropped).
   */
  read(): number;
  /** STOP, or a repeated START to another target: this target's transaction is over. */
  stop(): void;
}

/**
 * One segment of a transaction: a write of `data`, or a read into `data` (its length is what is read).
 * A segment with no data is a zero-length transfer (SMBus quick command).
 * @example `{ address: 0x50, read: true, data: new Uint8Array(16) }`
 */
export interface I2cSegment extends Partial<Pick<I2cAddress, 'tenBit'>> {
  /** The target's address. */
  readonly address: number;
  /** A read (into `data`) or a write (of `data`). */
  readonly read: boolean;
  /** The bytes written, or the buffer read into. */
  readonly data: Uint8Array;
}

const key = (address: number, tenBit: boolean): number => (tenBit ? 0x400 | address : address);

/**
 * An I2C bus of simulated targets: 7-bit addresses 0x00 to 0x77 (0x78 to 0x7f are reserved for
 * 10-bit addressing and future use) and 10-bit addresses 0x000 to 0x3ff.
 * @example
 * ```ts
 * const bus = new I2cBus();
 * bus.attach(0x50, new Eeprom('24c02'));
 * bus.transfer([{ address: 0x50, read: false, data: Uint8Array.of(0x00) }, { address: 0x50, read: true, data: new Uint8Array(8) }]);
 * ```
 */
export class I2cBus {
  private readonly targets = new Map<number, I2cTarget>();
  private readonly errorListeners = new Set<(error: unknown, address: number) => void>();

  /**
   * Places `target` at `address`.
   * @param address - 0x00 to 0x77, or 0x000 to 0x3ff with `tenBit`.
   * @param target - the device.
   * @param tenBit - a 10-bit address.
   * @throws RangeError for an address out of range or already taken.
   * @throws TypeError for a target without the four methods.
   * @example `bus.attach(0x48, new Lm75())`
   */
  attach(address: number, target: I2cTarget, tenBit = false): void {
    const max = tenBit ? 0x3ff : 0x77;
    if (!Number.isInteger(address) || address < 0 || address > max) throw new RangeError(`I2cBus.attach: a ${tenBit ? 10 : 7}-bit address is 0 to 0x${max.toString(16)}, got ${String(address)}`);
    if (typeof target !== 'object' || target === null || ['start', 'write', 'read', 'stop'].some((m) => typeof (target as unknown as Record<string, unknown>)[m] !== 'function')) {
      throw new TypeError('I2cBus.attach: a target has start, write, read and stop methods');
    }
    const k = key(address, tenBit);
    if (this.targets.has(k)) throw new RangeError(`I2cBus.attach: address 0x${address.toString(16)} is taken`);
    this.targets.set(k, target);
  }

  /**
   * Removes the target at `address`.
   * @param address - its address.
   * @param tenBit - a 10-bit address.
   * @returns whether there was one.
   * @example `bus.detach(0x48)`
   */
  detach(address: number, tenBit = false): boolean {
    return this.targets.delete(key(address, tenBit));
  }

  /**
   * The target at `address`.
   * @param address - its address.
   * @param tenBit - a 10-bit address.
   * @returns it, or undefined.
   * @example `bus.target(0x50)`
   */
  target(address: number, tenBit = false): I2cTarget | undefined {
    return this.targets.get(key(address, tenBit));
  }

  /**
   * The 7-bit addresses that have a target, ascending (what i2cdetect should find).
   * @returns the addresses.
   * @example `bus.addresses() // [0x48, 0x50]`
   */
  addresses(): number[] {
    return [...this.targets.keys()].filter((k) => k < 0x400).sort((a, b) => a - b);
  }

  /**
   * Adds a listener for targets that threw (each such segment failed as a NACK).
   * @param listener - called with the error and the target's address.
   * @returns a function that removes it.
   * @example `bus.onTargetError((e, a) => console.error(a, e));`
   */
  onTargetError(listener: (error: unknown, address: number) => void): () => void {
    this.errorListeners.add(listener);
    return () => void this.errorListeners.delete(listener);
  }

  /**
   * Runs one transaction: each segment after a (repeated) START, then STOP. It ends at the first
   * segment that fails (no target at its address, the address or a written byte NACKed).
   * @param segments - the segments in order; reads fill their `data`.
   * @returns how many segments completed (the one after them failed, unless all did).
   * @example `if (bus.transfer([{ address: 0x48, read: true, data: new Uint8Array(2) }]) !== 1) console.log('NACK');`
   */
  transfer(segments: readonly I2cSegment[]): number {
    let current: I2cTarget | null = null;
    let at = 0;
    let done = 0;
    try {
      for (const s of segments) {
        const target = this.targets.get(key(s.address, s.tenBit === true));
        if (current !== null && current !== target) {
          current.stop();
          current = null;
        }
        if (target === undefined || !this.guard(s.address, () => target.start(s.read))) break;
        current = target;
        at = s.address;
        const data = s.data;
        let ok = true;
        if (s.read) ok = this.guard(s.address, () => { for (let i = 0; i < data.length; i++) data[i] = target.read() & 0xff; return true; });
        else ok = this.guard(s.address, () => { for (let i = 0; i < data.length; i++) if (!target.write(data[i]!)) return false; return true; });
        if (!ok) break;
        done++;
      }
    } finally {
      if (current !== null) {
        const last = current;
        this.guard(at, () => (last.stop(), true));
      }
    }
    return done;
  }

  private guard(address: number, step: () => boolean): boolean {
    try {
      return step() === true;
    } catch (e) {
      for (const l of this.errorListeners) l(e, address);
      return false;
    }
  }
}
