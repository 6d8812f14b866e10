/**
 * {@link Eeprom}: a 24Cxx serial EEPROM as an {@link I2cTarget}, the protocol Linux's at24 driver
 * and i2c-tools use: a word address of 1 byte (24C01/24C02) or 2 bytes (24C32 and up) written
 * first, then data bytes (a page write: the address wraps inside the page) or, after a repeated
 * START, reads (sequential, wrapping at the end of memory). A page write takes effect at STOP, as
 * the chip's write cycle starts there; the write cycle itself takes no time (see the README).
 * @module
 */
import type { I2cTarget } from './bus.js';

/**
 * The geometry of a 24Cxx part.
 * @example `const g: EepromGeometry = { size: 256, page: 8, addressBytes: 1 };`
 */
export interface EepromGeometry {
  /** Bytes of memory. */
  readonly size: number;
  /** Bytes of a page write (the address wraps inside a page). */
  readonly page: number;
  /** Bytes of the word address written first (1, or 2 high byte first). */
  readonly addressBytes: 1 | 2;
}

/** The models, by part number. @example `EEPROM_MODELS['24c32'].size // 4096` */
export const EEPROM_MODELS: Readonly<Record<'24c01' | '24c02' | '24c32' | '24c64' | '24c256', EepromGeometry>> = {
  '24c01': { size: 128, page: 8, addressBytes: 1 },
  '24c02': { size: 256, page: 8, addressBytes: 1 },
  '24c32': { size: 4096, page: 32, addressBytes: 2 },
  '24c64': { size: 8192, page: 32, addressBytes: 2 },
  '24c256': { size: 32768, page: 64, addressBytes: 2 },
};
/** A key of {@link EEPROM_MODELS}. @example `const m: EepromModel = '24c02';` */
export type EepromModel = keyof typeof EEPROM_MODELS;

/**
 * Options of {@link Eeprom}.
 * @example `{ memory: saved, onWrite: (offset, bytes) => persist(offset, bytes) }`
 */
export interface EepromOptions {
  /** The contents (exactly the model's size; default: all 0xff, as shipped). Used in place, not copied. */
  readonly memory?: Uint8Array;
  /** Called after each page write took effect, with the page's offset and bytes (a view: copy to keep). */
  readonly onWrite?: (offset: number, bytes: Uint8Array) => void;
}

/**
 * A 24Cxx EEPROM.
 * @example
 * ```ts
 * const eeprom = new Eeprom('24c32');
 * bus.attach(0x50, eeprom);
 * eeprom.memory.set(new TextEncoder().encode('hello'), 0x100); // what the guest will read at 0x100
 * ```
 */
export class Eeprom implements I2cTarget {
  /** The model. */
  readonly model: EepromModel;
  /** The contents, read and written by the host at will. */
  readonly memory: Uint8Array;
  private readonly page: number;
  private readonly addressBytes: number;
  private readonly onWrite: ((offset: number, bytes: Uint8Array) => void) | undefined;
  private pointer = 0;
  /** Address bytes still expected in the current write segment (-1: not in a write). */
  private addressLeft = -1;
  private addressAcc = 0;
  /** Data of a page write, applied at STOP: [offset, byte] pairs. */
  private pending: number[] = [];

  /**
   * @param model - the part.
   * @param options - contents and write listener.
   * @throws RangeError for an unknown model or contents of the wrong size.
   */
  constructor(model: EepromModel, options: EepromOptions = {}) {
    const m = Object.prototype.hasOwnProperty.call(EEPROM_MODELS, model) ? EEPROM_MODELS[model] : undefined;
    if (m === undefined) throw new RangeError(`Eeprom: the model is one of ${Object.keys(EEPROM_MODELS).join(', ')}, got ${String(model)}`);
    this.model = model;
    this.page = m.page;
    this.addressBytes = m.addressBytes;
    if (options.memory !== undefined && (!(options.memory instanceof Uint8Array) || options.memory.length !== m.size)) {
      throw new RangeError(`Eeprom: a ${model} holds ${m.size} bytes, the memory given has ${options.memory instanceof Uint8Array ? options.memory.length : 'none'}`);
    }
    this.memory = options.memory ?? new Uint8Array(m.size).fill(0xff);
    this.onWrite = options.onWrite;
  }

  /** The word address the next read or write uses. @returns it. @example `eeprom.address` */
  get address(): number {
    return this.pointer;
  }

  start(read: boolean): boolean {
    // A repeated START aborts a page write that has not seen its STOP, as the chip does.
    this.pending = [];
    this.addressLeft = read ? -1 : this.addressBytes;
    this.addressAcc = 0;
    return true;
  }

  write(byte: number): boolean {
    if (this.addressLeft > 0) {
      this.addressAcc = (this.addressAcc << 8) | byte;
      if (--this.addressLeft === 0) this.pointer = this.addressAcc & (this.memory.length - 1);
      return true;
    }
    if (this.addressLeft < 0) return false;
    this.pending.push(this.pointer, byte);
    const base = this.pointer - (this.pointer % this.page);
    this.pointer = base + ((this.pointer + 1) % this.page);
    return true;
  }

  read(): number {
    const b = this.memory[this.pointer]!;
    this.pointer = (this.pointer + 1) % this.memory.length;
    return b;
  }

  stop(): void {
    const p = this.pending;
    this.pending = [];
    this.addressLeft = -1;
    if (p.length === 0) return;
    for (let i = 0; i < p.length; i += 2) this.memory[p[i]!] = p[i + 1]!;
    const base = p[0]! - (p[0]! % this.page);
    this.onWrite?.(base, this.memory.subarray(base, base + this.page));
  }
}
