/**
 * The MSI-X table and pending bit array of a PCI function (PCI Local Bus 3.0 §6.8.2, used by
 * VIRTIO 1.2 §4.1.5.1.2): per-vector message address, data and mask bit, the pending bits, and the
 * function mask and enable bits of the capability's message control. A vector signalled while
 * masked (by its own bit or the function mask) sets its pending bit and is sent when unmasked.
 * Table accesses must be aligned DWORDs or QWORDs; anything else reads 0 and writes nothing.
 * @module
 */
import type { MsiConfig } from '@vmv/bus';

const ENTRY = 16;
const MASK_BIT = 1;
const CONTROL_ENABLE = 0x8000;
const CONTROL_FUNCTION_MASK = 0x4000;

/**
 * The MSI-X state of one function.
 * @example
 * ```ts
 * const msix = new MsixTable(3, (vector, message) => cpu.msi(message.addressLo, message.data));
 * msix.writeControl(0x8000); // enable
 * msix.signal(0);            // masked at reset: pending until the driver unmasks vector 0
 * ```
 */
export class MsixTable {
  /** The number of vectors (Table Size + 1). */
  readonly vectors: number;
  /** Offset of the PBA in the BAR (the table is at 0). */
  readonly pbaOffset: number;
  /** Bytes of BAR the table and PBA need (a power of two, at least 4 KiB). */
  readonly barSize: number;
  private readonly words: Uint32Array;
  private readonly pending: Uint8Array;
  private readonly deliver: (vector: number, message: MsiConfig) => void;
  private enabledValue = false;
  private functionMaskValue = false;

  /**
   * @param vectors - 1..2048.
   * @param deliver - sends the message of a vector (called synchronously).
   * @throws RangeError when `vectors` is outside 1..2048.
   */
  constructor(vectors: number, deliver: (vector: number, message: MsiConfig) => void) {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 0x800) throw new RangeError(`MsixTable: vectors must be in 1..2048, got ${String(vectors)}`);
    this.vectors = vectors;
    this.pbaOffset = Math.ceil((vectors * ENTRY) / 0x800) * 0x800;
    let size = 0x1000;
    while (size < this.pbaOffset + Math.ceil(vectors / 64) * 8) size *= 2;
    this.barSize = size;
    this.words = new Uint32Array(vectors * 4);
    this.pending = new Uint8Array(vectors);
    this.deliver = deliver;
    this.reset();
  }

  /** MSI-X Enable. @example `if (msix.enabled) ...` */
  get enabled(): boolean {
    return this.enabledValue;
  }

  /** Function Mask. @example `msix.functionMask` */
  get functionMask(): boolean {
    return this.functionMaskValue;
  }

  /** Back to the reset state: disabled, every vector masked, no pending bit, no message. @example `msix.reset()` */
  reset(): void {
    this.words.fill(0);
    for (let v = 0; v < this.vectors; v++) this.words[v * 4 + 3] = MASK_BIT;
    this.pending.fill(0);
    this.enabledValue = false;
    this.functionMaskValue = false;
  }

  /** Message Control as read: Table Size, Function Mask, Enable. @example `msix.control() & 0x7ff` */
  control(): number {
    return (this.vectors - 1) | (this.functionMaskValue ? CONTROL_FUNCTION_MASK : 0) | (this.enabledValue ? CONTROL_ENABLE : 0);
  }

  /**
   * A write of Message Control (only Enable and Function Mask are writable); pending vectors now
   * unmasked are sent.
   * @param value - the u16 written.
   * @example `msix.writeControl(0xc000)`
   */
  writeControl(value: number): void {
    this.enabledValue = (value & CONTROL_ENABLE) !== 0;
    this.functionMaskValue = (value & CONTROL_FUNCTION_MASK) !== 0;
    for (let v = 0; v < this.vectors; v++) this.flush(v);
  }

  /**
   * Whether vector `v` is masked (by its own bit or the function mask).
   * @param v - a vector.
   * @returns true when masked.
   * @example `msix.isMasked(0)`
   */
  isMasked(v: number): boolean {
    return this.functionMaskValue || (this.words[v * 4 + 3]! & MASK_BIT) !== 0;
  }

  /**
   * Whether vector `v` has its pending bit set.
   * @param v - a vector.
   * @returns the pending bit.
   * @example `msix.isPending(0)`
   */
  isPending(v: number): boolean {
    return this.pending[v] === 1;
  }

  /**
   * The message of vector `v` as the table holds it.
   * @param v - a vector.
   * @returns its address and data.
   * @example `msix.message(1).data`
   */
  message(v: number): MsiConfig {
    const i = v * 4;
    return { addressLo: this.words[i]!, addressHi: this.words[i + 1]!, data: this.words[i + 2]! };
  }

  /**
   * Signals vector `v`: sent now, or pending while masked. Nothing when MSI-X is disabled.
   * @param v - a vector below {@link MsixTable.vectors}.
   * @returns whether a message was sent.
   * @example `msix.signal(queueVector)`
   */
  signal(v: number): boolean {
    if (!this.enabledValue || v >= this.vectors) return false;
    if (this.isMasked(v)) {
      this.pending[v] = 1;
      return false;
    }
    this.deliver(v, this.message(v));
    return true;
  }

  /**
   * A read of the table or PBA.
   * @param offset - offset in the BAR.
   * @param data - filled with the value (zeros when refused).
   * @returns null, or why the access was refused.
   * @example `const why = msix.read(0x0c, word);`
   */
  read(offset: number, data: Uint8Array): string | null {
    const why = this.check(offset, data.length);
    if (why !== null) {
      data.fill(0);
      return why;
    }
    for (let i = 0; i < data.length; i += 4) {
      const at = offset + i;
      let v = 0;
      if (at < this.vectors * ENTRY) v = this.words[at >>> 2]!;
      else if (at >= this.pbaOffset) {
        const first = (at - this.pbaOffset) * 8;
        for (let b = 0; b < 32 && first + b < this.vectors; b++) v |= this.pending[first + b]! << b;
        v >>>= 0;
      }
      data[i] = v & 0xff;
      data[i + 1] = (v >>> 8) & 0xff;
      data[i + 2] = (v >>> 16) & 0xff;
      data[i + 3] = v >>> 24;
    }
    return null;
  }

  /**
   * A write of the table (the PBA is read-only). Unmasking a pending vector sends it.
   * @param offset - offset in the BAR.
   * @param data - the bytes written.
   * @returns null, or why the write was refused.
   * @example `msix.write(0x0c, Uint8Array.of(0, 0, 0, 0)); // unmask vector 0`
   */
  write(offset: number, data: Uint8Array): string | null {
    const why = this.check(offset, data.length);
    if (why !== null) return why;
    if (offset >= this.vectors * ENTRY) return 'the pending bit array is read-only: write ignored';
    for (let i = 0; i < data.length; i += 4) {
      const word = (offset + i) >>> 2;
      const v = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
      // Vector Control: only the mask bit is writable, the rest is reserved (reads 0).
      this.words[word] = (word & 3) === 3 ? v & MASK_BIT : v;
      if ((word & 3) === 3) this.flush(word >>> 2);
    }
    return null;
  }

  private check(offset: number, width: number): string | null {
    if ((width !== 4 && width !== 8) || offset % width !== 0) return `MSI-X table and PBA take aligned 4- or 8-byte accesses, not ${width} bytes at 0x${offset.toString(16)}`;
    const inTable = offset + width <= this.vectors * ENTRY;
    const inPba = offset >= this.pbaOffset && offset + width <= this.pbaOffset + Math.ceil(this.vectors / 64) * 8;
    return inTable || inPba ? null : `0x${offset.toString(16)} is neither in the MSI-X table nor in the PBA`;
  }

  private flush(v: number): void {
    if (this.pending[v] === 1 && this.enabledValue && !this.isMasked(v)) {
      this.pending[v] = 0;
      this.deliver(v, this.message(v));
    }
  }
}
