/**
 * The `addr` field of `virtio_i2c_out_hdr` (VIRTIO 1.2 §5.16.6): a 7-bit address in bits 7..1, or
 * a 10-bit address as `11110 A9 A8 0` in the low byte and A7..A0 in the high byte.
 * @module
 */

/**
 * An I2C target address.
 * @example `{ address: 0x50, tenBit: false }`
 */
export interface I2cAddress {
  /** 0 to 0x7f (7-bit) or 0 to 0x3ff (10-bit). */
  readonly address: number;
  /** A 10-bit address. */
  readonly tenBit: boolean;
}

/**
 * Decodes the le16 `addr` of a request.
 * @param addr - the field's value.
 * @returns the address, or null for a value that is neither form (bit 0 set, or a high byte without the 10-bit marker).
 * @example `decodeAddress(0x50 << 1) // { address: 0x50, tenBit: false }`
 */
export function decodeAddress(addr: number): I2cAddress | null {
  if ((addr & 1) !== 0 || addr >>> 16 !== 0) return null;
  const low = addr & 0xff;
  if ((low & 0xf8) === 0xf0) return { address: ((low & 0x06) << 7) | (addr >>> 8), tenBit: true };
  if (addr >>> 8 !== 0) return null;
  return { address: low >>> 1, tenBit: false };
}

/**
 * Encodes an address as the driver puts it in `addr`.
 * @param address - 0 to 0x7f, or 0 to 0x3ff with `tenBit`.
 * @param tenBit - a 10-bit address.
 * @returns the le16 value.
 * @throws RangeError for an address out of range.
 * @example `encodeAddress(0x50) // 0xa0`
 */
export function encodeAddress(address: number, tenBit = false): number {
  const max = tenBit ? 0x3ff : 0x7f;
  if (!Number.isInteger(address) || address < 0 || address > max) throw new RangeError(`encodeAddress: a ${tenBit ? 10 : 7}-bit address is 0 to 0x${max.toString(16)}, got ${String(address)}`);
  return tenBit ? ((address & 0xff) << 8) | 0xf0 | ((address >>> 7) & 0x06) : address << 1;
}
