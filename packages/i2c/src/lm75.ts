/**
 * {@link Lm75}: an LM75 temperature sensor as an {@link I2cTarget}, as Linux's lm75 driver reads
 * it: a pointer register (the first byte written) selecting temperature (0, read-only),
 * configuration (1, one byte), T_HYST (2) and T_OS (3) (two bytes, MSB first); temperatures are
 * 9-bit two's complement in 0.5 °C steps, left-aligned in 16 bits. The host sets the temperature.
 * @module
 */
import type { I2cTarget } from './bus.js';

/** LM75 registers (the pointer's values). @example `Lm75Register.TEMP` */
export const Lm75Register = {
  /** Temperature, read-only. */
  TEMP: 0,
  /** Configuration: bit 0 shutdown, bit 1 interrupt mode, bit 2 OS polarity, bits 3-4 fault queue. */
  CONF: 1,
  /** Hysteresis temperature. */
  THYST: 2,
  /** Overtemperature shutdown threshold. */
  TOS: 3,
} as const;

/**
 * Options of {@link Lm75}.
 * @example `{ temperature: 21.5 }`
 */
export interface Lm75Options {
  /** Initial temperature in °C (default 25). */
  readonly temperature?: number;
}

/** °C to the 16-bit register value: 0.5 °C steps, -55 to 125 °C. */
const toRegister = (celsius: number): number => (Math.round(Math.min(125, Math.max(-55, celsius)) * 2) << 7) & 0xffff;
/** The 16-bit register value to °C. */
const fromRegister = (reg: number): number => ((reg << 16) >> 23) / 2;

/**
 * An LM75 at power-up: T_OS 80 °C, T_HYST 75 °C, configuration 0.
 * @example
 * ```ts
 * const sensor = new Lm75({ temperature: 21.5 });
 * bus.attach(0x48, sensor);
 * sensor.temperature = 42; // the guest's hwmon temp1_input follows: 42000
 * ```
 */
export class Lm75 implements I2cTarget {
  private readonly regs = [0, 0, toRegister(75), toRegister(80)];
  private sensed: number;
  private pointer = 0;
  /** Bytes moved in the current segment. */
  private index = 0;
  private msb = 0;

  /**
   * @param options - the initial temperature.
   * @throws RangeError for a temperature that is not a finite number.
   */
  constructor(options: Lm75Options = {}) {
    this.sensed = 25;
    this.temperature = options.temperature ?? 25;
  }

  /** The temperature the sensor measures, in °C. */
  get temperature(): number {
    return this.sensed;
  }

  /**
   * Sets the temperature the sensor measures. The register holds it in 0.5 °C steps within
   * -55 to 125 °C; in shutdown (configuration bit 0) the register keeps its last conversion.
   * @throws RangeError for a value that is not a finite number.
   */
  set temperature(celsius: number) {
    if (typeof celsius !== 'number' || !Number.isFinite(celsius)) throw new RangeError(`Lm75.temperature: a finite number of °C, got ${String(celsius)}`);
    this.sensed = celsius;
    if ((this.regs[Lm75Register.CONF]! & 1) === 0) this.regs[Lm75Register.TEMP] = toRegister(celsius);
  }

  /**
   * The temperature register as the guest reads it, in °C (a multiple of 0.5).
   * @returns the value.
   * @example `sensor.reported // 21.5`
   */
  get reported(): number {
    return fromRegister(this.regs[Lm75Register.TEMP]!);
  }

  /**
   * A register's value: the configuration byte, or a temperature register in °C.
   * @param register - one of {@link Lm75Register}.
   * @returns the value.
   * @throws RangeError for a register that does not exist.
   * @example `sensor.register(Lm75Register.TOS) // 80`
   */
  register(register: number): number {
    const v = Number.isInteger(register) ? this.regs[register] : undefined;
    if (v === undefined) throw new RangeError(`Lm75.register: 0 to 3, got ${String(register)}`);
    return register === Lm75Register.CONF ? v : fromRegister(v);
  }

  start(read: boolean): boolean {
    void read; // the pointer decides what a read returns
    this.index = 0;
    return true;
  }

  write(byte: number): boolean {
    const i = this.index++;
    if (i === 0) {
      if (byte > 3) return false; // the pointer register has two bits; the rest must be 0
      this.pointer = byte;
      return true;
    }
    const p = this.pointer;
    if (p === Lm75Register.TEMP) return true; // read-only: acknowledged, ignored
    if (p === Lm75Register.CONF) {
      if (i === 1) {
        const wasShutdown = this.regs[p]! & 1;
        this.regs[p] = byte & 0x1f;
        if (wasShutdown && (byte & 1) === 0) this.regs[Lm75Register.TEMP] = toRegister(this.sensed);
      }
      return true;
    }
    if (i === 1) this.msb = byte;
    else if (i === 2) this.regs[p] = ((this.msb << 8) | byte) & 0xff80;
    return true;
  }

  read(): number {
    const p = this.pointer;
    const i = this.index++;
    const v = this.regs[p]!;
    if (p === Lm75Register.CONF) return v;
    return i % 2 === 0 ? v >>> 8 : v & 0xff;
  }

  stop(): void {
    this.index = 0;
  }
}
