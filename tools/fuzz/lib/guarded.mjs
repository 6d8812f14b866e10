/**
 * Guest memory fenced by canaries: two regions (with a hole between them in guest physical
 * space) are windows of one host ArrayBuffer, and every host byte outside the windows (before,
 * between, after) holds a canary pattern. After each input:
 * - a changed canary byte is a write outside guest memory;
 * - the canary's 8 bytes appearing inside guest memory (or in a device's disk) is host memory
 *   read from outside the windows and handed to the guest (any leak of 15 bytes or more, or of 8
 *   bytes at a window's edge, contains one aligned copy of the pattern).
 * The pattern never occurs in a fresh input by chance in practice (2^-64 per position).
 */
import { GuestMemory } from '@vmv/memory';

export const CANARY = Uint8Array.of(0xc3, 0x5a, 0xa5, 0x3c, 0x96, 0x69, 0x0f, 0xf1);
export const GUARD = 4096;

/** Host bytes a GuardedMemory of these sizes needs. */
export function guardedHostSize(lowSize, highSize) {
  return GUARD + lowSize + GUARD + highSize + GUARD;
}

export class GuardedMemory {
  /**
   * @param {number} lowSize bytes of the region at GPA 0
   * @param {number} highStart GPA of the second region
   * @param {number} highSize its bytes
   * @param {ArrayBuffer} [host] the host buffer (e.g. a mapping of a memfd), guardedHostSize() bytes
   */
  constructor(lowSize = 0x10000, highStart = 0x20000, highSize = 0x4000, host = undefined) {
    this.lowSize = lowSize;
    this.highStart = highStart;
    this.highSize = highSize;
    this.host = host ?? new ArrayBuffer(guardedHostSize(lowSize, highSize));
    this.bytes = new Uint8Array(this.host);
    this.lowAt = GUARD;
    this.highAt = GUARD + lowSize + GUARD;
    for (let i = 0; i < this.bytes.length; i++) this.bytes[i] = CANARY[i & 7];
    this.pristine = Buffer.from(this.bytes.slice(0, GUARD));
    this.guards = [
      [0, GUARD],
      [GUARD + lowSize, GUARD],
      [this.highAt + highSize, GUARD],
    ];
    this.memory = GuestMemory.fromRegions([
      { start: 0, backing: this.host, offset: this.lowAt, size: lowSize },
      { start: highStart, backing: this.host, offset: this.highAt, size: highSize },
    ]);
    this.low = this.bytes.subarray(this.lowAt, this.lowAt + lowSize);
    this.high = this.bytes.subarray(this.highAt, this.highAt + highSize);
    this.buf = Buffer.from(this.host);
    this.needle = Buffer.from(CANARY);
    this.clear();
  }

  /** Zeroes guest memory (the canaries stay). */
  clear() {
    this.low.fill(0);
    this.high.fill(0);
  }

  /**
   * @param {Uint8Array[]} [extra] other guest-visible stores to search for leaked canaries (a disk)
   * @returns {string | null} what went wrong, or null
   */
  check(extra = []) {
    for (const [at, len] of this.guards) {
      // every guard starts at a multiple of 8, so each equals the pristine pattern
      if (this.buf.compare(this.pristine, 0, len, at, at + len) !== 0) {
        let i = at;
        while (this.bytes[i] === CANARY[i & 7]) i++;
        return `write outside guest memory: host byte ${i - at} of the guard at host offset ${at} changed`;
      }
    }
    const windows = [
      ['guest region at GPA 0', Buffer.from(this.host, this.lowAt, this.lowSize)],
      [`guest region at GPA 0x${this.highStart.toString(16)}`, Buffer.from(this.host, this.highAt, this.highSize)],
      ...extra.map((b, i) => [`store ${i}`, Buffer.from(b.buffer, b.byteOffset, b.byteLength)]),
    ];
    for (const [what, b] of windows) {
      const at = b.indexOf(this.needle);
      if (at >= 0) return `read outside guest memory: the guard canary appears in the ${what} at offset ${at}`;
    }
    return null;
  }

  /** A random guest address: mostly inside a region, sometimes at an edge, in the hole or far out. */
  address(src) {
    switch (src.u8() & 7) {
      case 0:
      case 1:
      case 2:
        return src.below(this.lowSize);
      case 3:
        return this.highStart + src.below(this.highSize);
      case 4:
        return src.pick([this.lowSize, this.highStart, this.highStart + this.highSize]) - src.below(64);
      case 5:
        return this.lowSize + src.below(this.highStart - this.lowSize);
      case 6:
        return src.u32();
      default:
        return Number(src.u64() & 0x1f_ffff_ffff_ffffn);
    }
  }
}
