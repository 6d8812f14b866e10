/**
 * {@link SpiDevice}: virtio-spi (VIRTIO 1.4 §5.21, device ID 45) over chip selects wired to
 * {@link SpiPeripheral}s, for any transport. Each request is one transfer:
 * `virtio_spi_transfer_head` and the tx buffer readable, the rx buffer and the result byte
 * writable (§5.21.6.1). Every head field is checked against `virtio_spi_config`; one outside it,
 * a malformed layout or unequal full-duplex buffers answer VIRTIO_SPI_PARAM_ERR and reach no
 * peripheral. A peripheral that fails (or an unwired chip select) answers VIRTIO_SPI_TRANS_ERR.
 * Chip select stays active from a message's first transfer until one with cs_change, a failure,
 * a transfer to another chip select, or a reset (see the README on what Linux sends). A corrupted
 * ring or a buffer outside guest memory is DEVICE_NEEDS_RESET.
 * @module
 */
import { ConfigSpace, DeviceId, Feature, featureBit, isGuestMemoryError, isQueueError, serveQueue } from '@vmv/device-trait';
import type { ActivationContext, ChainHandler, DescriptorChain, VirtioDevice } from '@vmv/device-trait';
import { SpiConfigOffset, SpiLayout, SpiMode, SpiModeFunc, SpiNbitsSupport, SpiQueue, SpiResult } from './constants.js';
import { wireCopy, wordBytes } from './peripheral.js';
import type { SpiPeripheral, SpiTransfer } from './peripheral.js';

/**
 * What the controller offers (`virtio_spi_config`, §5.21.4); every field has a default.
 * @example `{ bitsPerWordMask: 1 << 7, maxFreqHz: 50_000_000 }`
 */
export interface SpiControllerConfig {
  /** Chip select can toggle between the transfers of a message (default true). */
  readonly csChangeSupported?: boolean;
  /** `SpiNbitsSupport` bits for writes (default 0: single only). */
  readonly txNbitsSupported?: number;
  /** `SpiNbitsSupport` bits for reads (default 0: single only). */
  readonly rxNbitsSupported?: number;
  /** Bit n set: n+1 bits per word are supported (default 0xffffffff: 1 to 32; 0 is refused, see the README). */
  readonly bitsPerWordMask?: number;
  /** `SpiModeFunc` bits (default all: modes 0 to 3, CS high, LSB first, loopback). */
  readonly modeFuncSupported?: number;
  /** Highest clock in Hz (default 0: no limit). */
  readonly maxFreqHz?: number;
  /** Longest delay between words in ns a transfer may ask for (default 0: delays unsupported). */
  readonly maxWordDelayNs?: number;
  /** Longest delay after chip select goes active, in ns (default 0). */
  readonly maxCsSetupNs?: number;
  /** Longest delay before chip select goes inactive, in ns (default 0). */
  readonly maxCsHoldNs?: number;
  /** Longest delay after chip select goes inactive, in ns (default 0). */
  readonly maxCsInactiveNs?: number;
}

/**
 * Options of {@link SpiDevice}.
 * @example `new SpiDevice({ chipSelects: [flash, new LoopbackPeripheral()] })`
 */
export interface SpiDeviceOptions extends SpiControllerConfig {
  /** The peripheral on each chip select (null: nothing wired there); `cs_max_number` is the length, 1 to 255. */
  readonly chipSelects: readonly (SpiPeripheral | null)[];
  /** Size of the request queue (default 256; 1 to 32768). */
  readonly queueSize?: number;
}

/**
 * Counters of the guest's requests.
 * @example `device.stats.paramErrors`
 */
export interface SpiStats {
  /** Requests answered. */
  readonly requests: number;
  /** Of those, VIRTIO_SPI_PARAM_ERR. */
  readonly paramErrors: number;
  /** Of those, VIRTIO_SPI_TRANS_ERR. */
  readonly transferErrors: number;
  /** Messages begun (chip select went active). */
  readonly messages: number;
  /** Chains without a writable byte for the result, returned with used length 0. */
  readonly unanswerable: number;
}

const KNOWN_MODE = SpiMode.CPHA | SpiMode.CPOL | SpiMode.CS_HIGH | SpiMode.LSB_FIRST | SpiMode.LOOP;

function u32(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`SpiDevice: ${name} must be a u32, got ${String(v)}`);
  return v;
}

/**
 * A virtio-spi controller.
 * @example
 * ```ts
 * const flash = new SpiNorFlash('w25q32');
 * const device = new SpiDevice({ chipSelects: [flash, new LoopbackPeripheral()] });
 * // serve it: new VirtioMmioTransport(device, ...) or new VhostUserBackend(device)
 * ```
 */
export class SpiDevice implements VirtioDevice {
  readonly deviceId = DeviceId.SPI;
  readonly deviceFeatures = featureBit(Feature.VERSION_1) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.EVENT_IDX) | featureBit(Feature.RING_PACKED);
  readonly queueMaxSizes: readonly number[];
  readonly configSize = SpiLayout.CONFIG_SIZE;
  /** The peripheral on each chip select. */
  readonly chipSelects: readonly (SpiPeripheral | null)[];
  private readonly config = new ConfigSpace(SpiLayout.CONFIG_SIZE);
  private readonly limits: { csChange: boolean; tx: number; rx: number; bpw: number; modeFunc: number; freq: number; word: number; setup: number; hold: number; inactive: number };
  private ctx: ActivationContext | null = null;
  /** The chip select active now (-1: none). */
  private selected = -1;
  private readonly errorListeners = new Set<(error: unknown, chipSelect: number) => void>();
  private counters = { requests: 0, paramErrors: 0, transferErrors: 0, messages: 0, unanswerable: 0 };

  /**
   * @param options - the chip selects, the config and the queue size.
   * @throws TypeError for chip selects that are not an array of peripherals or nulls.
   * @throws RangeError for a config field out of range (1 to 255 chip selects, a u32 elsewhere,
   *   n-bit bits beyond octal, a `mode_func_supported` without a CPHA or a CPOL setting, a zero
   *   bits-per-word mask) or a queue size out of 1..32768.
   */
  constructor(options: SpiDeviceOptions) {
    const cs = (options as Partial<SpiDeviceOptions> | null)?.chipSelects;
    if (!Array.isArray(cs) || cs.some((p: unknown) => p !== null && (typeof p !== 'object' || typeof (p as SpiPeripheral).transfer !== 'function'))) {
      throw new TypeError('SpiDevice: options.chipSelects must be an array of SpiPeripheral (or null for an unwired chip select)');
    }
    if (cs.length < 1 || cs.length > 255) throw new RangeError(`SpiDevice: 1 to 255 chip selects, got ${cs.length}`);
    const size = options.queueSize ?? 256;
    if (!Number.isInteger(size) || size < 1 || size > 32768) throw new RangeError(`SpiDevice: queueSize must be 1 to 32768, got ${size}`);
    const nbits = (name: string, v: number | undefined) => {
      const n = v ?? 0;
      if (!Number.isInteger(n) || n < 0 || n > (SpiNbitsSupport.DUAL | SpiNbitsSupport.QUAD | SpiNbitsSupport.OCTAL)) throw new RangeError(`SpiDevice: ${name} takes the DUAL, QUAD and OCTAL bits only, got ${String(n)}`);
      return n;
    };
    const modeFunc = u32('modeFuncSupported', options.modeFuncSupported, 0x7f);
    if (modeFunc > 0x7f || (modeFunc & 3) === 0 || (modeFunc & 0xc) === 0) throw new RangeError(`SpiDevice: modeFuncSupported takes bits 0 to 6 and at least one CPHA and one CPOL setting, got 0x${modeFunc.toString(16)}`);
    const bpw = u32('bitsPerWordMask', options.bitsPerWordMask, 0xffff_ffff);
    if (bpw === 0) throw new RangeError('SpiDevice: bitsPerWordMask 0 ("no limitation") would let a guest ask for words over 32 bits, which no buffer layout has; name the widths');
    this.limits = {
      csChange: options.csChangeSupported ?? true,
      tx: nbits('txNbitsSupported', options.txNbitsSupported),
      rx: nbits('rxNbitsSupported', options.rxNbitsSupported),
      bpw,
      modeFunc,
      freq: u32('maxFreqHz', options.maxFreqHz, 0),
      word: u32('maxWordDelayNs', options.maxWordDelayNs, 0),
      setup: u32('maxCsSetupNs', options.maxCsSetupNs, 0),
      hold: u32('maxCsHoldNs', options.maxCsHoldNs, 0),
      inactive: u32('maxCsInactiveNs', options.maxCsInactiveNs, 0),
    };
    const l = this.limits;
    const c = this.config;
    c.setU8(SpiConfigOffset.CS_MAX_NUMBER, cs.length);
    c.setU8(SpiConfigOffset.CS_CHANGE_SUPPORTED, l.csChange ? 1 : 0);
    c.setU8(SpiConfigOffset.TX_NBITS_SUPPORTED, l.tx);
    c.setU8(SpiConfigOffset.RX_NBITS_SUPPORTED, l.rx);
    c.setU32(SpiConfigOffset.BITS_PER_WORD_MASK, l.bpw);
    c.setU32(SpiConfigOffset.MODE_FUNC_SUPPORTED, l.modeFunc);
    c.setU32(SpiConfigOffset.MAX_FREQ_HZ, l.freq);
    c.setU32(SpiConfigOffset.MAX_WORD_DELAY_NS, l.word);
    c.setU32(SpiConfigOffset.MAX_CS_SETUP_NS, l.setup);
    c.setU32(SpiConfigOffset.MAX_CS_HOLD_NS, l.hold);
    c.setU32(SpiConfigOffset.MAX_CS_INACTIVE_NS, l.inactive);
    this.chipSelects = [...cs];
    this.queueMaxSizes = [size];
  }

  /** The counters. @returns a snapshot. @example `device.stats.requests` */
  get stats(): SpiStats {
    return { ...this.counters };
  }

  /**
   * Adds a listener for peripherals that threw (each such transfer failed with VIRTIO_SPI_TRANS_ERR).
   * @param listener - called with the error and the chip select.
   * @returns a function that removes it.
   * @example `device.onPeripheralError((e, cs) => console.error(cs, e));`
   */
  onPeripheralError(listener: (error: unknown, chipSelect: number) => void): () => void {
    this.errorListeners.add(listener);
    return () => void this.errorListeners.delete(listener);
  }

  readConfig(offset: number, data: Uint8Array): void {
    this.config.read(offset, data);
  }

  /** Every field is read-only for the driver (§5.21.4). */
  writeConfig(): void {}

  activate(ctx: ActivationContext): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = null;
    this.release();
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (ctx === null || index !== SpiQueue.REQUESTQ) return;
    serveQueue(ctx, index, this.handle);
  }

  private readonly handle: ChainHandler = (chain, served) => {
    let written: number;
    try {
      written = this.answer(chain);
    } catch (e) {
      if (!isQueueError(e) && !isGuestMemoryError(e)) throw e;
      this.ctx?.needsReset(e);
      written = 0;
    }
    served.complete(chain, written);
  };

  /** Parses, runs and answers one request; returns the used length. */
  private answer(chain: DescriptorChain): number {
    const room = chain.writableBytes;
    if (room < SpiLayout.RESULT_SIZE) {
      this.counters.unanswerable++;
      this.release();
      return 0;
    }
    this.counters.requests++;
    const rxLen = room - SpiLayout.RESULT_SIZE;
    const rx = rxLen > 0 ? new Uint8Array(rxLen) : null;
    const t = this.parse(chain, rx);
    const result = t === null ? SpiResult.PARAM_ERR : this.run(t);
    if (result === SpiResult.PARAM_ERR) this.counters.paramErrors++;
    else if (result === SpiResult.TRANS_ERR) this.counters.transferErrors++;
    if (result !== SpiResult.TRANS_OK) this.release();
    const w = chain.writer();
    if (rx !== null) {
      if (result === SpiResult.TRANS_OK) w.write(rx);
      else w.fill(rxLen, 0);
    }
    w.writeU8(result);
    return room;
  }

  /** The transfer of a request, or null when it must answer VIRTIO_SPI_PARAM_ERR. */
  private parse(chain: DescriptorChain, rx: Uint8Array | null): SpiTransfer | null {
    const readable = chain.readableBytes;
    if (readable < SpiLayout.HEAD_SIZE) return null;
    const txLen = readable - SpiLayout.HEAD_SIZE;
    const rxLen = rx?.length ?? 0;
    if (txLen > 0 && rxLen > 0 && txLen !== rxLen) return null;
    const length = Math.max(txLen, rxLen);
    if (length > SpiLayout.MAX_TRANSFER) return null;
    const r = chain.reader();
    const chipSelect = r.readU8();
    const bitsPerWord = r.readU8();
    const csChange = r.readU8();
    const txNbits = r.readU8();
    const rxNbits = r.readU8();
    const reserved = r.readU8() | r.readU8() | r.readU8();
    const mode = r.readU32();
    const freqHz = r.readU32();
    const wordDelayNs = r.readU32();
    const csSetupNs = r.readU32();
    const csHoldNs = r.readU32();
    const csInactiveNs = r.readU32();
    const l = this.limits;
    const nbitsOk = (n: number, supported: number) => n <= 1 || (n === 2 && (supported & SpiNbitsSupport.DUAL) !== 0) || (n === 4 && (supported & SpiNbitsSupport.QUAD) !== 0) || (n === 8 && (supported & SpiNbitsSupport.OCTAL) !== 0);
    const modeOk =
      (mode & ~KNOWN_MODE) === 0 &&
      (l.modeFunc & ((mode & SpiMode.CPHA) !== 0 ? SpiModeFunc.CPHA_1 : SpiModeFunc.CPHA_0)) !== 0 &&
      (l.modeFunc & ((mode & SpiMode.CPOL) !== 0 ? SpiModeFunc.CPOL_1 : SpiModeFunc.CPOL_0)) !== 0 &&
      ((mode & SpiMode.CS_HIGH) === 0 || (l.modeFunc & SpiModeFunc.CS_HIGH) !== 0) &&
      ((mode & SpiMode.LSB_FIRST) === 0 || (l.modeFunc & SpiModeFunc.LSB_FIRST) !== 0) &&
      ((mode & SpiMode.LOOP) === 0 || (l.modeFunc & SpiModeFunc.LOOPBACK) !== 0);
    if (
      chipSelect >= this.chipSelects.length ||
      bitsPerWord < 1 || bitsPerWord > 32 || (l.bpw & (1 << (bitsPerWord - 1))) === 0 ||
      csChange > 1 || (csChange === 1 && !l.csChange) ||
      !nbitsOk(txNbits, l.tx) || !nbitsOk(rxNbits, l.rx) ||
      reserved !== 0 ||
      !modeOk ||
      (l.freq !== 0 && freqHz > l.freq) ||
      wordDelayNs > l.word || csSetupNs > l.setup || csHoldNs > l.hold || csInactiveNs > l.inactive ||
      length % wordBytes(bitsPerWord) !== 0
    ) {
      return null;
    }
    const tx = txLen > 0 ? r.readBytes(txLen) : null;
    return { chipSelect, tx, rx, length, bitsPerWord, mode, freqHz, txNbits: Math.max(txNbits, 1), rxNbits: Math.max(rxNbits, 1), csChange: csChange === 1, wordDelayNs, csSetupNs, csHoldNs, csInactiveNs };
  }

  /** Runs a valid transfer; returns its result. */
  private run(t: SpiTransfer): number {
    if ((t.mode & SpiMode.LOOP) !== 0) {
      // The controller's own loopback: MISO is MOSI inside it, no peripheral and no chip select involved.
      if (t.rx !== null && t.tx !== null) wireCopy(t.tx, t.rx, t.bitsPerWord);
      return SpiResult.TRANS_OK;
    }
    const p = this.chipSelects[t.chipSelect];
    if (p === null || p === undefined) return SpiResult.TRANS_ERR;
    if (this.selected !== t.chipSelect) {
      this.release();
      this.selected = t.chipSelect;
      this.counters.messages++;
      if (!this.guard(t.chipSelect, () => (p.select?.(), true))) return SpiResult.TRANS_ERR;
    }
    if (!this.guard(t.chipSelect, () => p.transfer(t) !== false)) return SpiResult.TRANS_ERR;
    if (t.csChange) this.release();
    return SpiResult.TRANS_OK;
  }

  /** Chip select goes inactive, if one is active. */
  private release(): void {
    const cs = this.selected;
    if (cs < 0) return;
    this.selected = -1;
    const p = this.chipSelects[cs];
    if (p?.deselect !== undefined) this.guard(cs, () => (p.deselect!(), true));
  }

  private guard(chipSelect: number, step: () => boolean): boolean {
    try {
      return step();
    } catch (e) {
      for (const l of this.errorListeners) l(e, chipSelect);
      return false;
    }
  }
}
