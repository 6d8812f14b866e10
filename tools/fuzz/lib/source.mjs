/**
 * The bytes of one fuzz input, read the way libFuzzer's FuzzedDataProvider reads them: a target
 * draws every choice (sizes, flags, addresses, message codes) from the input, so an input is the
 * whole test case, replays exactly and mutates meaningfully. Past the end every read yields 0.
 */
export class ByteSource {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  get remaining() {
    return this.bytes.length - this.pos;
  }

  u8() {
    return this.pos < this.bytes.length ? this.bytes[this.pos++] : 0;
  }

  u16() {
    return this.u8() | (this.u8() << 8);
  }

  u32() {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }

  /** A 64-bit value as a bigint. */
  u64() {
    const lo = BigInt(this.u32());
    return (BigInt(this.u32()) << 32n) | lo;
  }

  /** An integer in [0, n). */
  below(n) {
    if (n <= 1) return 0;
    if (n <= 0x100) return this.u8() % n;
    if (n <= 0x10000) return this.u16() % n;
    return this.u32() % n;
  }

  bool() {
    return (this.u8() & 1) === 1;
  }

  /** One of `values`. */
  pick(values) {
    return values[this.below(values.length)];
  }

  /** `n` bytes (zeroes past the end). */
  take(n) {
    const out = new Uint8Array(n);
    const avail = Math.max(0, Math.min(n, this.bytes.length - this.pos));
    out.set(this.bytes.subarray(this.pos, this.pos + avail));
    this.pos += avail;
    return out;
  }
}
