/**
 * A device configuration space as bytes (VIRTIO 1.2 §2.5): little-endian fields set by the
 * device, read by the driver at any offset and width, written by the driver only where the
 * device declared a field writable.
 * @module
 */

/**
 * Byte-backed configuration space.
 * @example
 * ```ts
 * const cfg = new ConfigSpace(60);          // struct virtio_blk_config
 * cfg.setU64(0, 2048n);                      // capacity in 512-byte sectors
 * cfg.allowWrite(32, 1);                     // writeback (CONFIG_WCE) is driver-writable
 * const out = new Uint8Array(4);
 * cfg.read(0, out);                          // low 32 bits of capacity
 * ```
 */
export class ConfigSpace {
  /** The raw bytes (little-endian fields). */
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly writable: Uint8Array;

  /**
   * @param size - size in bytes (0..4096).
   * @throws RangeError if `size` is not an integer in 0..4096.
   * @example `const cfg = new ConfigSpace(12); // struct virtio_console_config`
   */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 0 || size > 4096) throw new RangeError(`ConfigSpace: size must be an integer in 0..4096, got ${size}`);
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.writable = new Uint8Array(size);
  }

  /**
   * Size in bytes.
   * @example `readonly configSize = this.config.size;`
   */
  get size(): number {
    return this.bytes.length;
  }

  /**
   * Declare `[offset, offset+length)` writable by the driver.
   * @param offset - first byte.
   * @param length - number of bytes.
   * @throws RangeError if the range is outside the space.
   * @example `cfg.allowWrite(32, 1); // virtio_blk_config.writeback`
   */
  allowWrite(offset: number, length: number): void {
    this.checkRange('allowWrite', offset, length);
    this.writable.fill(1, offset, offset + length);
  }

  /**
   * Driver read: copy `data.length` bytes from `offset`; bytes past the end read as 0.
   * @param offset - any non-negative integer.
   * @param data - destination.
   * @example `readConfig(offset: number, data: Uint8Array) { this.config.read(offset, data); }`
   */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.bytes.length) return;
    data.set(this.bytes.subarray(offset, Math.min(offset + data.length, this.bytes.length)));
  }

  /**
   * Driver write: applied only if every byte lies in a writable field, otherwise ignored.
   * @param offset - any non-negative integer.
   * @param data - the bytes written.
   * @returns true when applied.
   * @example `writeConfig(offset: number, data: Uint8Array) { if (this.config.write(offset, data)) this.applyWriteback(); }`
   */
  write(offset: number, data: Uint8Array): boolean {
    if (!Number.isInteger(offset) || offset < 0 || data.length === 0 || offset + data.length > this.bytes.length) return false;
    for (let i = 0; i < data.length; i++) if (this.writable[offset + i] !== 1) return false;
    this.bytes.set(data, offset);
    return true;
  }

  /**
   * @param offset - byte offset.
   * @returns the u8 there.
   * @throws RangeError outside the space.
   * @example `const wce = cfg.getU8(32);`
   */
  getU8(offset: number): number {
    this.checkRange('getU8', offset, 1);
    return this.view.getUint8(offset);
  }
  /**
   * @param offset - byte offset.
   * @returns the LE u16 there.
   * @throws RangeError outside the space.
   * @example `const cols = cfg.getU16(0);`
   */
  getU16(offset: number): number {
    this.checkRange('getU16', offset, 2);
    return this.view.getUint16(offset, true);
  }
  /**
   * @param offset - byte offset.
   * @returns the LE u32 there.
   * @throws RangeError outside the space.
   * @example `const segMax = cfg.getU32(12);`
   */
  getU32(offset: number): number {
    this.checkRange('getU32', offset, 4);
    return this.view.getUint32(offset, true);
  }
  /**
   * @param offset - byte offset.
   * @returns the LE u64 there.
   * @throws RangeError outside the space.
   * @example `const capacity = cfg.getU64(0);`
   */
  getU64(offset: number): bigint {
    this.checkRange('getU64', offset, 8);
    return this.view.getBigUint64(offset, true);
  }
  /**
   * @param offset - byte offset.
   * @param value - a u8.
   * @throws RangeError outside the space or for a bad value.
   * @example `cfg.setU8(32, 1);`
   */
  setU8(offset: number, value: number): void {
    this.checkRange('setU8', offset, 1);
    this.checkValue('setU8', value, 0xff);
    this.view.setUint8(offset, value);
  }
  /**
   * @param offset - byte offset.
   * @param value - a u16 (stored LE).
   * @throws RangeError outside the space or for a bad value.
   * @example `cfg.setU16(0, 80);`
   */
  setU16(offset: number, value: number): void {
    this.checkRange('setU16', offset, 2);
    this.checkValue('setU16', value, 0xffff);
    this.view.setUint16(offset, value, true);
  }
  /**
   * @param offset - byte offset.
   * @param value - a u32 (stored LE).
   * @throws RangeError outside the space or for a bad value.
   * @example `cfg.setU32(20, 512); // blk_size`
   */
  setU32(offset: number, value: number): void {
    this.checkRange('setU32', offset, 4);
    this.checkValue('setU32', value, 0xffff_ffff);
    this.view.setUint32(offset, value, true);
  }
  /**
   * @param offset - byte offset.
   * @param value - a u64 (stored LE).
   * @throws RangeError outside the space or for a bad value.
   * @example `cfg.setU64(0, 2048n); // capacity`
   */
  setU64(offset: number, value: bigint | number): void {
    this.checkRange('setU64', offset, 8);
    const v = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`setU64: value must be a u64, got ${String(value)}`);
    this.view.setBigUint64(offset, v, true);
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new RangeError(`${what}: range ${offset}+${length} is outside the ${this.bytes.length}-byte config space`);
    }
  }

  private checkValue(what: string, value: number, max: number): void {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what}: value ${value} out of range 0..${max}`);
  }
}
