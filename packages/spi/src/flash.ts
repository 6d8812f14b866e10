/**
 * {@link SpiNorFlash}: a Winbond W25Q-series SPI NOR flash as an {@link SpiPeripheral}, the
 * commands Linux's spi-nor uses on a part it knows by JEDEC ID: READ ID (9Fh), READ (03h), FAST
 * READ (0Bh), PAGE PROGRAM (02h, the address wrapping inside its 256-byte page), SECTOR ERASE (20h,
 * 4 KiB), BLOCK ERASE (52h 32 KiB, D8h 64 KiB), CHIP ERASE (C7h, 60h), READ STATUS (05h, 35h),
 * WRITE STATUS (01h), WRITE ENABLE and DISABLE (06h, 04h) with the WIP and WEL bits. Its array
 * sits behind {@link SpiFlashStorage}, so a file can hold it (`@vmv/spi/node`).
 * @module
 */
import type { SpiPeripheral, SpiTransfer } from './peripheral.js';

/**
 * Where a flash keeps its array. A write that throws fails the guest's transfer
 * (VIRTIO_SPI_TRANS_ERR).
 * @example `const storage: SpiFlashStorage = new MemoryFlashStorage(4 << 20);`
 */
export interface SpiFlashStorage {
  /** Bytes in the array. */
  readonly size: number;
  /**
   * Reads `into.length` bytes at `offset` (within the array).
   * @param offset - the first byte.
   * @param into - filled.
   */
  read(offset: number, into: Uint8Array): void;
  /**
   * Writes `bytes` at `offset` (within the array): the array's new contents there.
   * @param offset - the first byte.
   * @param bytes - the bytes (a view: copy to keep).
   */
  write(offset: number, bytes: Uint8Array): void;
}

/**
 * A flash array in memory.
 * @example `new MemoryFlashStorage(1 << 20).bytes.fill(0xff)`
 */
export class MemoryFlashStorage implements SpiFlashStorage {
  /** The array, read and written by the host at will. */
  readonly bytes: Uint8Array;

  /**
   * @param sizeOrBytes - a size (a blank array, all 0xff as shipped) or the bytes to use in place.
   * @throws RangeError for a size that is not a positive integer.
   */
  constructor(sizeOrBytes: number | Uint8Array) {
    if (sizeOrBytes instanceof Uint8Array) {
      this.bytes = sizeOrBytes;
    } else {
      if (!Number.isInteger(sizeOrBytes) || sizeOrBytes < 1) throw new RangeError(`MemoryFlashStorage: the size is a positive integer, got ${String(sizeOrBytes)}`);
      this.bytes = new Uint8Array(sizeOrBytes).fill(0xff);
    }
  }

  get size(): number {
    return this.bytes.length;
  }

  read(offset: number, into: Uint8Array): void {
    into.set(this.bytes.subarray(offset, offset + into.length));
  }

  write(offset: number, bytes: Uint8Array): void {
    this.bytes.set(bytes, offset);
  }
}

/**
 * A part: its JEDEC ID and size (pages of 256 bytes, 4 KiB sectors, 32 and 64 KiB blocks).
 * @example `FLASH_MODELS.w25q32.size // 4 MiB`
 */
export interface FlashGeometry {
  /** Manufacturer, memory type, capacity: what READ ID returns. */
  readonly jedecId: readonly [number, number, number];
  /** Bytes in the array. */
  readonly size: number;
}

/** The parts, by name as Linux's spi-nor table has them. @example `FLASH_MODELS['w25q80bl'].jedecId // [0xef, 0x40, 0x14]` */
export const FLASH_MODELS: Readonly<Record<'w25q80bl' | 'w25q32', FlashGeometry>> = {
  w25q80bl: { jedecId: [0xef, 0x40, 0x14], size: 1 << 20 },
  w25q32: { jedecId: [0xef, 0x40, 0x16], size: 4 << 20 },
};
/** A key of {@link FLASH_MODELS}. @example `const m: FlashModel = 'w25q32';` */
export type FlashModel = keyof typeof FLASH_MODELS;

/**
 * Options of {@link SpiNorFlash}.
 * @example `{ storage: new MemoryFlashStorage(saved), busyReads: 3 }`
 */
export interface SpiNorFlashOptions {
  /** The array (default: a blank one in memory); exactly the model's size. */
  readonly storage?: SpiFlashStorage;
  /** Status reads that see WIP set after each program, erase or status write (default 1; 0 to 1000). */
  readonly busyReads?: number;
}

/**
 * What a flash carried out.
 * @example `flash.counts.erases`
 */
export interface FlashCounts {
  /** Page programs. */
  programs: number;
  /** Sector, block and chip erases. */
  erases: number;
  /** Status register writes. */
  statusWrites: number;
}

/** Opcodes (W25Q32 datasheet). */
const Op = {
  WRSR: 0x01,
  PP: 0x02,
  READ: 0x03,
  WRDI: 0x04,
  RDSR: 0x05,
  WREN: 0x06,
  FAST_READ: 0x0b,
  SE_4K: 0x20,
  RDSR2: 0x35,
  BE_32K: 0x52,
  CE_60: 0x60,
  RDID: 0x9f,
  CE_C7: 0xc7,
  BE_64K: 0xd8,
} as const;

/** Address bytes, dummy bytes and whether a data phase follows, by opcode. */
const COMMANDS = new Map<number, { addr: number; dummy: number; data: boolean }>([
  [Op.WRSR, { addr: 0, dummy: 0, data: true }],
  [Op.PP, { addr: 3, dummy: 0, data: true }],
  [Op.READ, { addr: 3, dummy: 0, data: true }],
  [Op.WRDI, { addr: 0, dummy: 0, data: false }],
  [Op.RDSR, { addr: 0, dummy: 0, data: true }],
  [Op.WREN, { addr: 0, dummy: 0, data: false }],
  [Op.FAST_READ, { addr: 3, dummy: 1, data: true }],
  [Op.SE_4K, { addr: 3, dummy: 0, data: false }],
  [Op.RDSR2, { addr: 0, dummy: 0, data: true }],
  [Op.BE_32K, { addr: 3, dummy: 0, data: false }],
  [Op.CE_60, { addr: 0, dummy: 0, data: false }],
  [Op.RDID, { addr: 0, dummy: 0, data: true }],
  [Op.CE_C7, { addr: 0, dummy: 0, data: false }],
  [Op.BE_64K, { addr: 3, dummy: 0, data: false }],
]);
const ERASE_SIZE = new Map<number, number>([[Op.SE_4K, 4096], [Op.BE_32K, 32768], [Op.BE_64K, 65536]]);

/** Status register 1 bits. */
const SR1_WIP = 1 << 0;
const SR1_WEL = 1 << 1;
/** What WRSR may change: BP0-2, TB, SEC, SRP0 in SR1; SRP1, QE, CMP in SR2 (not the OTP lock bits). */
const SR1_WRITABLE = 0xfc;
const SR2_WRITABLE = 0x43;
const PAGE = 256;

/** Where the command being clocked is. */
const Phase = {
  OPCODE: 0,
  ADDRESS: 1,
  DUMMY: 2,
  DATA: 3,
  /** The command takes no more bytes (or is ignored): the rest are don't-care until chip select goes inactive. */
  DONE: 4,
} as const;

/**
 * A W25Q SPI NOR flash.
 * @example
 * ```ts
 * const flash = new SpiNorFlash('w25q32');
 * const device = new SpiDevice({ chipSelects: [flash] }); // the guest's spi-nor finds a w25q32
 * ```
 */
export class SpiNorFlash implements SpiPeripheral {
  /** The model. */
  readonly model: FlashModel;
  /** The array. */
  readonly storage: SpiFlashStorage;
  /** Programs, erases and status writes carried out. */
  readonly counts: FlashCounts = { programs: 0, erases: 0, statusWrites: 0 };
  private readonly geometry: FlashGeometry;
  private readonly busyReads: number;
  private sr1 = 0;
  private sr2 = 0;
  private busy = 0;
  private phase: number = Phase.OPCODE;
  private opcode = -1;
  private left = 0;
  private address = 0;
  private dataBytes = 0;
  /** PAGE PROGRAM's latched page (bytes not given stay 0xff: programming them changes nothing). */
  private readonly page = new Uint8Array(PAGE);
  private statusIn: number[] = [];

  /**
   * @param model - the part.
   * @param options - the storage and the busy time.
   * @throws RangeError for an unknown model, a storage of another size or a busyReads out of range.
   */
  constructor(model: FlashModel, options: SpiNorFlashOptions = {}) {
    const g = Object.prototype.hasOwnProperty.call(FLASH_MODELS, model) ? FLASH_MODELS[model] : undefined;
    if (g === undefined) throw new RangeError(`SpiNorFlash: the model is one of ${Object.keys(FLASH_MODELS).join(', ')}, got ${String(model)}`);
    const storage = options.storage ?? new MemoryFlashStorage(g.size);
    if (storage.size !== g.size) throw new RangeError(`SpiNorFlash: a ${model} holds ${g.size} bytes, the storage has ${storage.size}`);
    const busy = options.busyReads ?? 1;
    if (!Number.isInteger(busy) || busy < 0 || busy > 1000) throw new RangeError(`SpiNorFlash: busyReads is 0 to 1000, got ${String(busy)}`);
    this.model = model;
    this.geometry = g;
    this.storage = storage;
    this.busyReads = busy;
  }

  /** Status register 1 as a READ STATUS would return it now. @returns it. @example `flash.status & 1 // WIP` */
  get status(): number {
    return this.sr1 | (this.busy > 0 ? SR1_WIP : 0);
  }

  select(): void {
    this.phase = Phase.OPCODE;
    this.opcode = -1;
  }

  transfer(t: SpiTransfer): boolean {
    // A serial flash samples in modes 0 and 3 only, MSB first, 8-bit words, one data line, chip select active low.
    const cpha = (t.mode & 1) !== 0;
    const cpol = (t.mode & 2) !== 0;
    if (cpha !== cpol || (t.mode & ~3) !== 0 || t.bitsPerWord !== 8 || t.txNbits !== 1 || t.rxNbits !== 1) return false;
    let i = 0;
    while (i < t.length) {
      if (this.phase === Phase.DATA) {
        this.data(t, i);
        i = t.length;
      } else {
        const out = this.clock(t.tx === null ? 0 : t.tx[i]!);
        if (t.rx !== null) t.rx[i] = out;
        i++;
      }
    }
    // Linux's spi-virtio sends a message's transfers one request at a time and never says where the
    // message ends (cs_change is 0 on its last transfer too), so chip select never goes inactive
    // between commands by the spec's words: a command ends with the transfer that completes it.
    if (this.phase === Phase.DONE || (this.phase === Phase.DATA && this.dataBytes > 0)) this.deselect();
    return true;
  }

  deselect(): void {
    const op = this.opcode;
    const phase = this.phase;
    this.phase = Phase.OPCODE;
    this.opcode = -1;
    if (op < 0 || this.busy > 0) return;
    if (op === Op.WREN) this.sr1 |= SR1_WEL;
    else if (op === Op.WRDI) this.sr1 &= ~SR1_WEL;
    if ((this.sr1 & SR1_WEL) === 0) return;
    const addressed = phase === Phase.DONE || phase === Phase.DATA;
    if (op === Op.PP && addressed && this.dataBytes > 0) {
      const base = this.address - (this.address % PAGE);
      const old = new Uint8Array(PAGE);
      this.storage.read(base, old);
      for (let k = 0; k < PAGE; k++) old[k]! &= this.page[k]!;
      this.storage.write(base, old);
      this.counts.programs++;
      this.complete();
    } else if (ERASE_SIZE.has(op) && addressed) {
      const size = ERASE_SIZE.get(op)!;
      this.storage.write(this.address - (this.address % size), new Uint8Array(size).fill(0xff));
      this.counts.erases++;
      this.complete();
    } else if (op === Op.CE_C7 || op === Op.CE_60) {
      const block = new Uint8Array(Math.min(this.geometry.size, 1 << 20)).fill(0xff);
      for (let at = 0; at < this.geometry.size; at += block.length) this.storage.write(at, block);
      this.counts.erases++;
      this.complete();
    } else if (op === Op.WRSR && this.statusIn.length > 0) {
      this.sr1 = (this.sr1 & ~SR1_WRITABLE) | (this.statusIn[0]! & SR1_WRITABLE);
      if (this.statusIn.length > 1) this.sr2 = (this.sr2 & ~SR2_WRITABLE) | (this.statusIn[1]! & SR2_WRITABLE);
      this.counts.statusWrites++;
      this.complete();
    }
  }

  /** A program, erase or status write took effect: busy for a while, then WEL clears. */
  private complete(): void {
    this.sr1 &= ~SR1_WEL;
    this.busy = this.busyReads;
  }

  /** One byte of the opcode, address or dummy phase; returns MISO (high, 0xff: the chip is not driving it). */
  private clock(mosi: number): number {
    switch (this.phase) {
      case Phase.OPCODE: {
        this.opcode = mosi;
        this.dataBytes = 0;
        this.address = 0;
        const c = COMMANDS.get(mosi);
        // While a program or erase runs, the chip takes the READ STATUS commands and nothing else.
        if (c === undefined || (this.busy > 0 && mosi !== Op.RDSR && mosi !== Op.RDSR2)) {
          this.phase = Phase.DONE;
          this.opcode = -1;
        } else {
          if (mosi === Op.PP) this.page.fill(0xff);
          if (mosi === Op.WRSR) this.statusIn = [];
          this.left = c.addr;
          this.phase = c.addr > 0 ? Phase.ADDRESS : c.data ? Phase.DATA : Phase.DONE;
        }
        break;
      }
      case Phase.ADDRESS: {
        this.address = ((this.address << 8) | mosi) % this.geometry.size;
        if (--this.left === 0) {
          const c = COMMANDS.get(this.opcode)!;
          this.left = c.dummy;
          this.phase = c.dummy > 0 ? Phase.DUMMY : c.data ? Phase.DATA : Phase.DONE;
        }
        break;
      }
      case Phase.DUMMY:
        if (--this.left === 0) this.phase = Phase.DATA;
        break;
      default:
        break;
    }
    return 0xff;
  }

  /** The data phase from byte `from` of the transfer to its end. */
  private data(t: SpiTransfer, from: number): void {
    const n = t.length - from;
    const rx = t.rx === null ? null : t.rx.subarray(from);
    this.dataBytes += n;
    switch (this.opcode) {
      case Op.READ:
      case Op.FAST_READ: {
        if (rx === null) {
          this.address = (this.address + n) % this.geometry.size;
          return;
        }
        // Sequential reads wrap at the end of the array.
        for (let done = 0; done < n; ) {
          const k = Math.min(n - done, this.geometry.size - this.address);
          this.storage.read(this.address, rx.subarray(done, done + k));
          done += k;
          this.address = (this.address + k) % this.geometry.size;
        }
        return;
      }
      case Op.RDID:
        for (let k = 0; k < n; k++) if (rx !== null) rx[k] = this.geometry.jedecId[this.dataBytes - n + k] ?? 0;
        return;
      case Op.RDSR:
        for (let k = 0; k < n; k++) {
          const s = this.status;
          if (this.busy > 0) this.busy--;
          if (rx !== null) rx[k] = s;
        }
        return;
      case Op.RDSR2:
        if (rx !== null) rx.fill(this.sr2);
        return;
      case Op.PP: {
        // Bytes past the end of the page wrap to its start, overwriting what was latched there.
        const tx = t.tx;
        const start = this.address % PAGE;
        const sent = this.dataBytes - n;
        for (let k = Math.max(0, n - PAGE); k < n; k++) this.page[(start + sent + k) % PAGE] = tx === null ? 0 : tx[from + k]!;
        if (rx !== null) rx.fill(0xff);
        return;
      }
      case Op.WRSR:
        for (let k = 0; k < n && this.statusIn.length < 2; k++) this.statusIn.push(t.tx === null ? 0 : t.tx[from + k]!);
        if (rx !== null) rx.fill(0xff);
        return;
      default:
        if (rx !== null) rx.fill(0xff);
    }
  }
}
