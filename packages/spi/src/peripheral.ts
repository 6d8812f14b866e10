/**
 * {@link SpiPeripheral}: a device on a chip select, transfer by transfer as the controller drives
 * it (the bus side of VIRTIO 1.4 §5.21.6): chip select asserted, transfers (bytes out on MOSI and
 * in from MISO at once), chip select released. {@link LoopbackPeripheral} answers with what it is
 * sent, as a wire from MOSI to MISO does.
 * @module
 */

/**
 * One transfer as the peripheral sees it: the guest's `virtio_spi_transfer_head`, decoded and
 * already checked against the controller's config, and the buffers.
 * @example `{ tx: Uint8Array.of(0x9f), rx: null, length: 1, bitsPerWord: 8, mode: 0, ... }`
 */
export interface SpiTransfer {
  /** The chip select. */
  readonly chipSelect: number;
  /** The bytes sent on MOSI (null: a half-duplex read, the controller sends nothing meaningful). */
  readonly tx: Uint8Array | null;
  /** Where MISO's bytes go (null: a half-duplex write). Zero-filled on entry. */
  readonly rx: Uint8Array | null;
  /** Bytes clocked (the length of `tx` and `rx`, whichever are present). */
  readonly length: number;
  /** Bits of each word, 1 to 32; a word takes 1, 2 or 4 bytes (little-endian), as Linux lays them out. */
  readonly bitsPerWord: number;
  /** `SpiMode` bits: CPHA, CPOL, CS_HIGH, LSB_FIRST (LOOP never reaches a peripheral). */
  readonly mode: number;
  /** Clock in Hz (0: the controller's default). */
  readonly freqHz: number;
  /** Bus width of the write, 1, 2, 4 or 8 (0 in the head reads as 1). */
  readonly txNbits: number;
  /** Bus width of the read, 1, 2, 4 or 8 (0 in the head reads as 1). */
  readonly rxNbits: number;
  /** Chip select goes inactive after this transfer (cs_change). */
  readonly csChange: boolean;
  /** Delay between words asked for, in ns (within the config's maximum). */
  readonly wordDelayNs: number;
  /** Delay after chip select goes active, in ns. */
  readonly csSetupNs: number;
  /** Delay before chip select goes inactive, in ns. */
  readonly csHoldNs: number;
  /** Delay after chip select goes inactive, in ns. */
  readonly csInactiveNs: number;
}

/**
 * A device on a chip select. Implement it for a device of your own. A peripheral must not throw;
 * if it does, the transfer fails (VIRTIO_SPI_TRANS_ERR) and the device reports the error.
 * @example
 * ```ts
 * // A shift register that answers each byte with the one before it.
 * let last = 0;
 * const peripheral: SpiPeripheral = {
 *   transfer(t) { for (let i = 0; i < t.length; i++) { const b = t.tx?.[i] ?? 0; if (t.rx) t.rx[i] = last; last = b; } return true; },
 * };
 * ```
 */
export interface SpiPeripheral {
  /** Chip select went active: a message begins. */
  select?(): void;
  /**
   * A transfer while selected: read `tx`, fill `rx`.
   * @returns true (or nothing) when it went through, false for VIRTIO_SPI_TRANS_ERR.
   */
  transfer(t: SpiTransfer): boolean | void;
  /** Chip select went inactive: the message is over. */
  deselect?(): void;
}

/**
 * Bytes of one word of `bitsPerWord` bits in a Linux SPI buffer.
 * @param bitsPerWord - 1 to 32.
 * @returns 1, 2 or 4.
 * @example `wordBytes(12) // 2`
 */
export function wordBytes(bitsPerWord: number): 1 | 2 | 4 {
  return bitsPerWord <= 8 ? 1 : bitsPerWord <= 16 ? 2 : 4;
}

/**
 * Copies `from` into `to` word by word, keeping the low `bitsPerWord` bits of each little-endian
 * word and zeroing the rest: what travels on the wire of what a buffer holds.
 * @param from - the words sent.
 * @param to - as long as `from`, a whole number of words.
 * @param bitsPerWord - 1 to 32.
 * @example `wireCopy(Uint8Array.of(0xff, 0xff), out, 12) // out = [0xff, 0x0f]`
 */
export function wireCopy(from: Uint8Array, to: Uint8Array, bitsPerWord: number): void {
  const w = wordBytes(bitsPerWord);
  to.set(from.subarray(0, to.length));
  for (let j = 0; j < w; j++) {
    const bits = bitsPerWord - 8 * j;
    if (bits >= 8) continue;
    const mask = bits <= 0 ? 0 : (1 << bits) - 1;
    for (let i = j; i < to.length; i += w) to[i]! &= mask;
  }
}

/**
 * A wire from MOSI to MISO: every transfer reads back what it sent (the low `bitsPerWord` bits of
 * each word; a half-duplex read gets zeros).
 * @example `controller.wire(1, new LoopbackPeripheral())`
 */
export class LoopbackPeripheral implements SpiPeripheral {
  /** Transfers seen. */
  transfers = 0;
  /** Bytes sent to it. */
  bytes = 0;

  transfer(t: SpiTransfer): boolean {
    this.transfers++;
    if (t.tx !== null) this.bytes += t.length;
    if (t.rx !== null && t.tx !== null) wireCopy(t.tx, t.rx, t.bitsPerWord);
    return true;
  }
}
