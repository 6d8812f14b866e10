/**
 * A reference model of the block device's request semantics, written from VIRTIO 1.2 §5.2.6 and
 * the package's documented choices, independently of the engine: plain bigint arithmetic, whole
 * byte arrays, no cursors.
 */
import { encodeId, encodeLifetime } from '@vmv/block';
import type { BlockLifetime } from '@vmv/block';

export interface ModelLimits {
  maxSectors: number;
  maxSegments: number;
  alignment: number;
}

export interface ModelConfig {
  capacity: number; // sectors
  readOnly: boolean;
  flushOffered: boolean;
  serial: string | null;
  lifetime: BlockLifetime | null; // negotiated
  discard: ModelLimits | null; // negotiated
  writeZeroes: ModelLimits | null;
  secureErase: ModelLimits | null;
  segMax: number; // 0 = not offered
  sizeMax: number; // 0 = not offered
}

export interface ModelResult {
  /** null: no status byte at all (used length 0). */
  status: number | null;
  len: number;
  /** Expected writable area after completion. */
  writable: Uint8Array;
}

const IOERR = 1;
const UNSUPP = 2;

export class BlockModel {
  constructor(
    readonly disk: Uint8Array,
    readonly cfg: ModelConfig,
  ) {}

  private inRange(sector: bigint, count: bigint): boolean {
    return sector + count <= BigInt(this.cfg.capacity);
  }

  /** Segments of a data range over the pieces (lengths) of one side: a piece counts if it holds a data byte. */
  private shapeOk(pieces: number[], start: number, length: number): boolean {
    if ((this.cfg.segMax === 0 && this.cfg.sizeMax === 0) || length === 0) return true;
    let pos = 0;
    let segs = 0;
    for (const len of pieces) {
      const a = Math.max(pos, start);
      const b = Math.min(pos + len, start + length);
      if (b > a) {
        segs++;
        if (this.cfg.sizeMax !== 0 && b - a > this.cfg.sizeMax) return false;
      }
      pos += len;
    }
    return this.cfg.segMax === 0 || segs <= this.cfg.segMax;
  }

  /**
   * Applies one request.
   * @param readable - header + data bytes as the driver placed them.
   * @param writableLen - size of the device-writable area.
   * @param fill - the byte the writable area was pre-filled with.
   * @param readPieces - descriptor lengths of the readable side.
   * @param writePieces - descriptor lengths of the writable side.
   */
  apply(readable: Uint8Array, writableLen: number, fill: number, readPieces: number[], writePieces: number[], writableInit: Uint8Array = new Uint8Array(0)): ModelResult {
    const w = new Uint8Array(writableLen).fill(fill);
    w.set(writableInit.subarray(0, writableLen));
    if (writableLen === 0) return { status: null, len: 0, writable: w };
    const done = (status: number, len = 1): ModelResult => {
      w[writableLen - 1] = status;
      return { status, len, writable: w };
    };
    if (readable.length < 16) return done(IOERR);
    const dv = new DataView(readable.buffer, readable.byteOffset, readable.length);
    const type = dv.getUint32(0, true);
    const sector = dv.getBigUint64(8, true);
    const dataIn = readable.length - 16;
    const dataOut = writableLen - 1;
    const c = this.cfg;
    switch (type) {
      case 0: {
        if (dataIn !== 0 || dataOut % 512 !== 0) return done(IOERR);
        if (!this.inRange(sector, BigInt(dataOut / 512))) return done(IOERR);
        if (!this.shapeOk(writePieces, 0, dataOut)) return done(IOERR);
        const off = Number(sector) * 512;
        w.set(this.disk.subarray(off, off + dataOut));
        return done(0, dataOut + 1);
      }
      case 1: {
        if (c.readOnly) return done(IOERR);
        if (dataOut !== 0 || dataIn % 512 !== 0) return done(IOERR);
        if (!this.inRange(sector, BigInt(dataIn / 512))) return done(IOERR);
        if (!this.shapeOk(readPieces, 16, dataIn)) return done(IOERR);
        this.disk.set(readable.subarray(16), Number(sector) * 512);
        return done(0);
      }
      case 4:
        if (!c.flushOffered) return done(UNSUPP);
        if (sector !== 0n) return done(IOERR);
        return done(0);
      case 8:
        if (c.serial === null) return done(UNSUPP);
        if (dataIn !== 0 || dataOut !== 20) return done(IOERR);
        w.set(encodeId(c.serial));
        return done(0, 21);
      case 10:
        if (c.lifetime === null) return done(UNSUPP);
        if (dataIn !== 0 || dataOut !== 6) return done(IOERR);
        w.set(encodeLifetime(c.lifetime));
        return done(0, 7);
      case 11:
      case 13:
      case 14: {
        if (c.readOnly) return done(IOERR);
        const lim = type === 11 ? c.discard : type === 13 ? c.writeZeroes : c.secureErase;
        if (lim === null) return done(UNSUPP);
        // Linux sends SECURE_ERASE segments device-writable (it keys the direction on type & 1).
        const inWritable = type === 14 && dataIn === 0 && dataOut !== 0;
        const len = inWritable ? dataOut : dataIn;
        if ((!inWritable && dataOut !== 0) || len === 0 || len % 16 !== 0) return done(IOERR);
        const n = len / 16;
        if (n > lim.maxSegments) return done(IOERR);
        if (inWritable ? !this.shapeOk(writePieces, 0, len) : !this.shapeOk(readPieces, 16, len)) return done(IOERR);
        const src = inWritable ? new DataView(w.buffer, 0, len) : new DataView(readable.buffer, readable.byteOffset + 16, len);
        const segs = [];
        for (let i = 0; i < n; i++) {
          const o = 16 * i;
          segs.push({ sector: src.getBigUint64(o, true), num: src.getUint32(o + 8, true), flags: src.getUint32(o + 12, true) });
        }
        const allowed = type === 13 ? 1 : 0;
        if (segs.some((s) => (s.flags & ~allowed) !== 0)) return done(UNSUPP);
        for (const s of segs) {
          if (s.num > lim.maxSectors || !this.inRange(s.sector, BigInt(s.num)) || s.sector % BigInt(lim.alignment) !== 0n) return done(IOERR);
        }
        for (const s of segs) this.disk.fill(0, Number(s.sector) * 512, (Number(s.sector) + s.num) * 512);
        return done(0);
      }
      default:
        return done(UNSUPP);
    }
  }
}
