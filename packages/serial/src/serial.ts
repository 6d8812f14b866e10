/**
 * A 16550A UART: the register file of the National Semiconductor PC16550D, as a PIO device (and
 * an MMIO device with a register shift) for @vmv/bus, raising its interrupt through a
 * @vmv/bus {@link LegacyInterruptGroup}.
 *
 * Behaviour, and where it departs from the silicon on purpose:
 * - Transmission is instantaneous: a byte written to THR goes to the output callback at once
 *   (to the receiver in loopback mode), so THRE and TEMT always read 1 and the THRE interrupt is
 *   re-armed right after each write, as on a chip whose line is infinitely fast.
 * - Reception: 16-byte FIFO (1-byte holding register when FIFOs are off). Input never vanishes
 *   silently: {@link Serial16550.pushInput} takes only what fits and returns the count
 *   (back-pressure, with {@link Serial16550.onInputSpace} to resume), while
 *   {@link Serial16550.pushInputLossy} behaves like a real line: a byte arriving at a full
 *   receiver is an overrun, reported in LSR.OE (with the receiver-line-status interrupt) and
 *   counted in {@link Serial16550.stats}.
 * - Interrupt priority and IIR encoding follow the datasheet (RLS > RDA/timeout > THRE > MSR).
 *   The character timeout has no clock: it is pending whenever the FIFO holds fewer bytes than
 *   the trigger level (the guest drains it on the timeout interrupt exactly as it would after
 *   four character times).
 * - The interrupt output is gated by MCR.OUT2 as on PC boards (option `out2GatesInterrupt`), and
 *   is a level: raised while an enabled interrupt is pending, lowered when none is; an end of
 *   interrupt that lowers the line (resample) raises it again if still pending.
 * @module
 */
import type { LegacyInterruptGroup, MutDeviceMmio, MutDevicePio } from '@vmv/bus';
import { FCR, IER, IIR, LCR, LSR, MCR, MSR } from './registers.js';

const FIFO_SIZE = 16;
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;

/** Modem input lines (what the other end drives). @example `{ cts: true, dsr: true, dcd: true, ri: false }` */
export interface ModemInputs {
  /** Clear to send. */
  readonly cts?: boolean;
  /** Data set ready. */
  readonly dsr?: boolean;
  /** Ring indicator. */
  readonly ri?: boolean;
  /** Data carrier detect. */
  readonly dcd?: boolean;
}

/** Options of a {@link Serial16550}. @example `{ output: (b) => process.stdout.write(Uint8Array.of(b)), interrupt: ctl.createLegacyGroup(4, 1, 'level') }` */
export interface Serial16550Options {
  /** Receives every byte the guest transmits (not called in loopback mode). */
  readonly output?: (byte: number) => void;
  /** The UART's interrupt line; without one the UART is polled. */
  readonly interrupt?: LegacyInterruptGroup;
  /** Index of the line in `interrupt` (default 0). */
  readonly interruptIndex?: number;
  /** Gate the interrupt output with MCR.OUT2 as PC boards do (default true). */
  readonly out2GatesInterrupt?: boolean;
  /** Initial modem inputs (default: CTS, DSR and DCD asserted, RI not). */
  readonly modem?: ModemInputs;
  /** For MMIO: registers are `1 << regShift` bytes apart (default 0). */
  readonly regShift?: number;
}

/** Counters of a {@link Serial16550}. @example `uart.stats.overruns` */
export interface Serial16550Stats {
  /** Bytes sent to the output callback. */
  readonly txBytes: number;
  /** Bytes accepted into the receiver. */
  readonly rxBytes: number;
  /** Bytes lost to receiver overruns (each one also set LSR.OE), plus lossy input offered while in loopback mode (no LSR.OE: the chip never saw it). */
  readonly overruns: number;
  /** Interrupts raised on the line (rising edges). */
  readonly interrupts: number;
}

/**
 * A 16550A UART.
 * @example
 * ```ts
 * const ctl = new InMemoryInterruptController();
 * const uart = new Serial16550({ output: (b) => out.push(b), interrupt: ctl.createLegacyGroup(4, 1, 'level') });
 * io.registerPio(new PioRange(0x3f8, 8), uart);
 * uart.pushInput(new TextEncoder().encode('root\n'));
 * ```
 */
export class Serial16550 implements MutDevicePio, MutDeviceMmio {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  private msrDeltas = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud at the PC's 1.8432 MHz clock
  private dlm = 0;
  private fifoEnabled = false;
  private trigger = 1;
  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;
  private thrEmptyPending = false;
  private modem: { cts: boolean; dsr: boolean; ri: boolean; dcd: boolean };
  private lineHigh = false;
  private readonly output: ((byte: number) => void) | undefined;
  private readonly irq: LegacyInterruptGroup | undefined;
  private readonly irqIndex: number;
  private readonly gateOut2: boolean;
  private readonly shift: number;
  private readonly spaceListeners = new Set<() => void>();
  /** A pushInput call took fewer bytes than offered: notify when the receiver can take more. */
  private starved = false;
  private readonly offResample: (() => void) | undefined;
  private counters = { txBytes: 0, rxBytes: 0, overruns: 0, interrupts: 0 };

  /**
   * @param options - output, interrupt line, modem inputs, register shift
   * @throws TypeError when options is not an object, output is not a function, interrupt is not a
   * legacy group, modem is not an object of booleans or out2GatesInterrupt not a boolean
   * @throws RangeError when interruptIndex or regShift is out of range
   */
  constructor(options: Serial16550Options = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Serial16550: options must be an object');
    if (options.output !== undefined && typeof options.output !== 'function') throw new TypeError('Serial16550: output must be a function');
    const irq = options.interrupt;
    if (irq !== undefined && !isLegacyGroup(irq)) throw new TypeError('Serial16550: interrupt must be a LegacyInterruptGroup');
    const index = options.interruptIndex ?? 0;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || (irq !== undefined && index >= irq.count)) throw new RangeError(`Serial16550: interruptIndex must be an index of the interrupt group, got ${show(index)}`);
    const shift = options.regShift ?? 0;
    if (typeof shift !== 'number' || !Number.isInteger(shift) || shift < 0 || shift > 4) throw new RangeError(`Serial16550: regShift must be an integer in [0, 4], got ${show(shift)}`);
    if (options.out2GatesInterrupt !== undefined && typeof options.out2GatesInterrupt !== 'boolean') throw new TypeError('Serial16550: out2GatesInterrupt must be a boolean');
    this.output = options.output;
    this.irq = irq;
    this.irqIndex = index;
    this.gateOut2 = options.out2GatesInterrupt ?? true;
    this.shift = shift;
    const m = options.modem ?? {};
    checkModem(m, 'Serial16550: modem');
    this.modem = { cts: m.cts ?? true, dsr: m.dsr ?? true, ri: m.ri ?? false, dcd: m.dcd ?? true };
    this.offResample = irq?.onResample((i) => {
      if (i !== this.irqIndex) return;
      // The controller lowered the line at end of interrupt: raise it again if still pending.
      this.lineHigh = false;
      this.updateInterrupt();
    });
  }

  // ---- bus interfaces -------------------------------------------------------------------

  /**
   * PIO read: each byte of `data` reads the register at `offset + i` (a wide access is split
   * into byte accesses, as the ISA bus does).
   * @param _base - the range base (unused)
   * @param offset - register offset (0..7)
   * @param data - filled with register values
   * @example `uart.pioRead(0x3f8, 5, lsr)`
   */
  pioRead(_base: number, offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = this.readRegister((offset + i) & 7);
  }

  /**
   * PIO write: each byte of `data` is written to the register at `offset + i`.
   * @param _base - the range base (unused)
   * @param offset - register offset (0..7)
   * @param data - the bytes
   * @example `uart.pioWrite(0x3f8, 0, Uint8Array.of(0x41))`
   */
  pioWrite(_base: number, offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.writeRegister((offset + i) & 7, data[i]!);
  }

  /**
   * MMIO read: register `offset >> regShift`; the value is in the low byte, other bytes read 0.
   * @param _base - the range base (unused)
   * @param offset - byte offset in the range
   * @param data - filled (little-endian)
   * @example `uart.mmioRead(0x1000_0000n, 5 << 2, lsr32)`
   */
  mmioRead(_base: bigint, offset: number, data: Uint8Array): void {
    data.fill(0);
    if ((offset & ((1 << this.shift) - 1)) !== 0) return;
    data[0] = this.readRegister((offset >> this.shift) & 7);
  }

  /**
   * MMIO write: the low byte of `data` goes to register `offset >> regShift`.
   * @param _base - the range base (unused)
   * @param offset - byte offset in the range
   * @param data - the bytes (little-endian)
   * @example `uart.mmioWrite(0x1000_0000n, 0, Uint8Array.of(0x41, 0, 0, 0))`
   */
  mmioWrite(_base: bigint, offset: number, data: Uint8Array): void {
    if ((offset & ((1 << this.shift) - 1)) !== 0 || data.length === 0) return;
    this.writeRegister((offset >> this.shift) & 7, data[0]!);
  }

  // ---- registers ------------------------------------------------------------------------

  /**
   * Reads one register, with the read's side effects (RBR pops the FIFO, IIR acknowledges a
   * THRE interrupt, LSR clears error bits, MSR clears delta bits).
   * @param offset - 0..7
   * @returns the byte
   * @throws RangeError when offset is not in 0..7
   * @example `uart.readRegister(UART_REG.LSR)`
   */
  readRegister(offset: number): number {
    let v: number;
    switch (offset) {
      case 0:
        if (this.lcr & LCR.DLAB) return this.dll;
        v = this.popRx();
        break;
      case 1:
        return this.lcr & LCR.DLAB ? this.dlm : this.ier;
      case 2:
        v = this.iir();
        if ((v & IIR.ID_MASK) === IIR.THRI) this.thrEmptyPending = false;
        break;
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        v = this.lsr();
        this.lsrErrors = 0;
        break;
      case 6:
        v = this.msr();
        this.msrDeltas = 0;
        break;
      case 7:
        return this.scr;
      default:
        throw new RangeError(`Serial16550.readRegister: offset must be in 0..7, got ${show(offset)}`);
    }
    this.afterAccess();
    return v;
  }

  /**
   * Writes one register.
   * @param offset - 0..7
   * @param value - a byte (only the low 8 bits are used)
   * @throws RangeError when offset is not in 0..7; TypeError when value is not a number
   * @example `uart.writeRegister(UART_REG.IER, IER.RDI)`
   */
  writeRegister(offset: number, value: number): void {
    if (typeof value !== 'number') throw new TypeError(`Serial16550.writeRegister: value must be a number, got ${typeof value}`);
    const b = value & 0xff;
    switch (offset) {
      case 0:
        if (this.lcr & LCR.DLAB) {
          this.dll = b;
          return;
        }
        this.transmit(b);
        break;
      case 1:
        if (this.lcr & LCR.DLAB) {
          this.dlm = b;
          return;
        }
        // The THRE interrupt arms when ETBEI goes from 0 to 1 while THR is empty (always here).
        if (b & IER.THRI && !(this.ier & IER.THRI)) this.thrEmptyPending = true;
        this.ier = b & 0x0f;
        break;
      case 2:
        this.writeFcr(b);
        break;
      case 3:
        this.lcr = b;
        return;
      case 4:
        this.writeMcr(b & 0x1f);
        break;
      case 5:
      case 6:
        return; // LSR and MSR are read-only (factory test writes are ignored)
      case 7:
        this.scr = b;
        return;
      default:
        throw new RangeError(`Serial16550.writeRegister: offset must be in 0..7, got ${show(offset)}`);
    }
    this.afterAccess();
  }

  private writeFcr(b: number): void {
    const enable = (b & FCR.ENABLE_FIFO) !== 0;
    if (enable !== this.fifoEnabled) {
      // Switching between FIFO and 16450 mode empties the FIFOs.
      this.fifoEnabled = enable;
      this.clearRx();
    }
    if (!enable) return; // other FCR bits are only programmed with FCR0 set
    if (b & FCR.CLEAR_RCVR) this.clearRx();
    this.trigger = TRIGGER_LEVELS[(b & FCR.TRIGGER_MASK) >> 6]!;
  }

  private writeMcr(b: number): void {
    const before = this.modemLines();
    this.mcr = b;
    this.noteModemChange(before);
  }

  private transmit(b: number): void {
    if (this.mcr & MCR.LOOP) {
      this.receiveOne(b, true);
    } else {
      this.counters.txBytes++;
      this.output?.(b);
    }
    // THR empties at once: the THRE interrupt re-arms.
    this.thrEmptyPending = true;
  }

  private iir(): number {
    const fifo = this.fifoEnabled ? IIR.FIFO_ENABLED : 0;
    const ier = this.ier;
    if (ier & IER.RLSI && this.lsrErrors !== 0) return fifo | IIR.RLSI;
    if (ier & IER.RDI && this.rxCount > 0) return fifo | (this.fifoEnabled && this.rxCount < this.trigger ? IIR.RX_TIMEOUT : IIR.RDI);
    if (ier & IER.THRI && this.thrEmptyPending) return fifo | IIR.THRI;
    if (ier & IER.MSI && this.msrDeltas !== 0) return fifo | IIR.MSI;
    return fifo | IIR.NO_INT;
  }

  private lsr(): number {
    let v = LSR.THRE | LSR.TEMT | this.lsrErrors;
    if (this.rxCount > 0) v |= LSR.DR;
    return v;
  }

  private modemLines(): number {
    if (this.mcr & MCR.LOOP) {
      const m = this.mcr;
      return (m & MCR.RTS ? MSR.CTS : 0) | (m & MCR.DTR ? MSR.DSR : 0) | (m & MCR.OUT1 ? MSR.RI : 0) | (m & MCR.OUT2 ? MSR.DCD : 0);
    }
    const i = this.modem;
    return (i.cts ? MSR.CTS : 0) | (i.dsr ? MSR.DSR : 0) | (i.ri ? MSR.RI : 0) | (i.dcd ? MSR.DCD : 0);
  }

  private noteModemChange(before: number): void {
    const after = this.modemLines();
    const changed = before ^ after;
    if (changed & MSR.CTS) this.msrDeltas |= MSR.DCTS;
    if (changed & MSR.DSR) this.msrDeltas |= MSR.DDSR;
    if (changed & MSR.DCD) this.msrDeltas |= MSR.DDCD;
    if (before & MSR.RI && !(after & MSR.RI)) this.msrDeltas |= MSR.TERI;
  }

  private msr(): number {
    return this.modemLines() | this.msrDeltas;
  }

  // ---- receiver -------------------------------------------------------------------------

  private get capacity(): number {
    return this.fifoEnabled ? FIFO_SIZE : 1;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  private popRx(): number {
    if (this.rxCount === 0) return 0;
    const b = this.rx[this.rxHead]!;
    this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
    this.rxCount--;
    return b;
  }

  /** Stores one received byte; on a full receiver it is an overrun (returns false). */
  private receiveOne(b: number, lossy: boolean): boolean {
    if (this.rxCount >= this.capacity) {
      if (!lossy) return false;
      this.counters.overruns++;
      this.lsrErrors |= LSR.OE;
      // In 16450 mode the new character overwrites the holding register; a full FIFO keeps its
      // contents and loses the character in the shift register.
      if (!this.fifoEnabled) this.rx[this.rxHead] = b;
      return false;
    }
    this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = b;
    this.rxCount++;
    this.counters.rxBytes++;
    return true;
  }

  /**
   * After a guest register access: update the interrupt line, then, if input was refused
   * earlier and the receiver can take bytes again (RBR read, FIFO cleared or enabled, loopback
   * left), tell the input-space listeners.
   */
  private afterAccess(): void {
    this.updateInterrupt();
    if (this.starved && !(this.mcr & MCR.LOOP) && this.rxCount < this.capacity) {
      this.starved = false;
      for (const l of [...this.spaceListeners]) l();
    }
  }

  /**
   * Free space in the receiver (16 with FIFOs on, else 1, minus what it holds).
   * @example `if (uart.inputSpace > 0) uart.pushInput(next)`
   */
  get inputSpace(): number {
    return this.capacity - this.rxCount;
  }

  /**
   * Offers input bytes with back-pressure: takes as many as fit and returns how many it took.
   * Nothing is dropped; offer the rest again from an {@link Serial16550.onInputSpace} listener.
   * Takes nothing (returns 0) in loopback mode, where the line is disconnected; the listeners are
   * told when the guest leaves loopback.
   * @param bytes - input bytes
   * @returns the number of bytes taken
   * @throws TypeError when bytes is not a Uint8Array or array of numbers
   * @example `let rest = data.subarray(uart.pushInput(data));`
   */
  pushInput(bytes: Uint8Array | readonly number[]): number {
    checkBytes(bytes, 'pushInput');
    let n = 0;
    if (!(this.mcr & MCR.LOOP)) while (n < bytes.length && this.receiveOne(bytes[n]! & 0xff, false)) n++;
    if (n < bytes.length) this.starved = true;
    if (n > 0) this.updateInterrupt();
    return n;
  }

  /**
   * Delivers input bytes the way a real line does: every byte arrives, and a byte that finds the
   * receiver full is an overrun (LSR.OE, the line-status interrupt, `stats.overruns`).
   * In loopback mode the line is disconnected and every byte is lost (counted as overrun too).
   * @param bytes - input bytes
   * @returns the number of bytes lost to overruns
   * @throws TypeError when bytes is not a Uint8Array or array of numbers
   * @example `const lost = uart.pushInputLossy(burst);`
   */
  pushInputLossy(bytes: Uint8Array | readonly number[]): number {
    checkBytes(bytes, 'pushInputLossy');
    if (this.mcr & MCR.LOOP) {
      this.counters.overruns += bytes.length;
      return bytes.length;
    }
    let lost = 0;
    for (let i = 0; i < bytes.length; i++) if (!this.receiveOne(bytes[i]! & 0xff, true)) lost++;
    if (bytes.length > 0) this.updateInterrupt();
    return lost;
  }

  /**
   * Subscribes to "input was refused and the receiver can take bytes again": called once after a
   * {@link Serial16550.pushInput} that took fewer bytes than offered, as soon as a guest access
   * makes room (an RBR read, a FIFO clear or enable, leaving loopback). Offer the rest from it.
   * @param listener - called synchronously, at the end of the guest's register access
   * @returns unsubscribe
   * @throws TypeError when listener is not a function
   * @example `uart.onInputSpace(() => { rest = rest.subarray(uart.pushInput(rest)); });`
   */
  onInputSpace(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('onInputSpace: listener must be a function');
    this.spaceListeners.add(listener);
    return () => {
      this.spaceListeners.delete(listener);
    };
  }

  // ---- host side ------------------------------------------------------------------------

  /**
   * Changes modem input lines (what the far end drives); changes set MSR delta bits.
   * @param inputs - the lines to change
   * @throws TypeError when inputs is not an object of booleans
   * @example `uart.setModemInputs({ dcd: false })`
   */
  setModemInputs(inputs: ModemInputs): void {
    checkModem(inputs, 'setModemInputs');
    const before = this.modemLines();
    this.modem = { cts: inputs.cts ?? this.modem.cts, dsr: inputs.dsr ?? this.modem.dsr, ri: inputs.ri ?? this.modem.ri, dcd: inputs.dcd ?? this.modem.dcd };
    this.noteModemChange(before);
    this.updateInterrupt();
  }

  /**
   * Counters.
   * @example `console.log(uart.stats.overruns)`
   */
  get stats(): Serial16550Stats {
    return { ...this.counters };
  }

  /**
   * The divisor latch (DLM << 8 | DLL).
   * @example `uart.divisor === 1 // 115200 baud`
   */
  get divisor(): number {
    return (this.dlm << 8) | this.dll;
  }

  /**
   * The baud rate the divisor selects with the PC's 1.8432 MHz clock (0 when the divisor is 0).
   * @example `uart.baudRate === 115200`
   */
  get baudRate(): number {
    const d = this.divisor;
    return d === 0 ? 0 : 115200 / d;
  }

  /**
   * Whether the interrupt output is raised (an enabled interrupt is pending and OUT2 allows it).
   * @example `if (uart.interruptAsserted) console.log("IRQ pending")`
   */
  get interruptAsserted(): boolean {
    return this.wantInterrupt();
  }

  /**
   * Detaches from the interrupt group (stops listening to resample notifications) and lowers
   * the line.
   * @example `uart.dispose()`
   */
  dispose(): void {
    this.offResample?.();
    if (this.lineHigh) this.irq?.deassert(this.irqIndex);
    this.lineHigh = false;
  }

  private wantInterrupt(): boolean {
    if (this.gateOut2 && (!(this.mcr & MCR.OUT2) || this.mcr & MCR.LOOP)) return false;
    return (this.iir() & IIR.NO_INT) === 0;
  }

  private updateInterrupt(): void {
    const irq = this.irq;
    if (irq === undefined) return;
    const want = this.wantInterrupt();
    if (want && !this.lineHigh) {
      this.lineHigh = true;
      this.counters.interrupts++;
      irq.trigger(this.irqIndex);
    } else if (!want && this.lineHigh) {
      this.lineHigh = false;
      irq.deassert(this.irqIndex);
    }
  }
}

/** A printable form of any value for an error message; never throws. */
function show(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

function isLegacyGroup(irq: unknown): irq is LegacyInterruptGroup {
  if (typeof irq !== 'object' || irq === null) return false;
  const g = irq as Record<string, unknown>;
  return g.kind === 'legacy' && typeof g.count === 'number' && typeof g.trigger === 'function' && typeof g.deassert === 'function' && typeof g.onResample === 'function';
}

function checkModem(inputs: unknown, label: string): void {
  if (typeof inputs !== 'object' || inputs === null) throw new TypeError(`${label}: modem inputs must be an object`);
  for (const k of ['cts', 'dsr', 'ri', 'dcd'] as const) {
    const v = (inputs as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`${label}: ${k} must be a boolean, got ${show(v)}`);
  }
}

function checkBytes(bytes: unknown, label: string): void {
  if (bytes instanceof Uint8Array) return;
  if (Array.isArray(bytes) && bytes.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)) return;
  throw new TypeError(`Serial16550.${label}: bytes must be a Uint8Array or an array of byte values`);
}
