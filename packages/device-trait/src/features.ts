/**
 * Feature-bit arithmetic (VIRTIO 1.2 §2.2). Feature sets are bigints, so every bit is
 * representable (64 bits and beyond); transports exchange them 32 bits at a time as feature
 * words selected by an index.
 * @module
 */

const U32 = 0xffff_ffffn;

function checkBit(bit: number, what: string): void {
  if (!Number.isInteger(bit) || bit < 0 || bit > 0xffff) throw new RangeError(`${what}: bit must be an integer in 0..65535, got ${bit}`);
}

/**
 * The feature set with only `bit` set.
 * @param bit - feature bit number.
 * @returns `1n << bit`.
 * @throws RangeError if `bit` is not an integer in 0..65535.
 * @example
 * ```ts
 * featureBit(Feature.VERSION_1); // 0x1_0000_0000n
 * ```
 */
export function featureBit(bit: number): bigint {
  checkBit(bit, 'featureBit');
  return 1n << BigInt(bit);
}

/**
 * The feature set with every listed bit set.
 * @param bits - feature bit numbers.
 * @returns the union of `featureBit(b)`.
 * @throws RangeError if a bit is out of range.
 * @example
 * ```ts
 * features(Feature.VERSION_1, Feature.EVENT_IDX, 9 // VIRTIO_BLK_F_FLUSH
 * );
 * ```
 */
export function features(...bits: number[]): bigint {
  let f = 0n;
  for (const b of bits) f |= featureBit(b);
  return f;
}

/**
 * Whether `set` contains `bit`.
 * @param set - a feature set.
 * @param bit - a feature bit number.
 * @returns true when the bit is set.
 * @throws RangeError if `bit` is out of range.
 * @example
 * ```ts
 * hasFeature(negotiated, Feature.EVENT_IDX);
 * ```
 */
export function hasFeature(set: bigint, bit: number): boolean {
  checkBit(bit, 'hasFeature');
  return ((set >> BigInt(bit)) & 1n) === 1n;
}

/**
 * The 32-bit feature word `select` of a feature set (bits 32*select .. 32*select+31).
 * @param set - a feature set.
 * @param select - word index (the transport's FeaturesSel); any u32 value.
 * @returns the word as an unsigned 32-bit number (0 for words beyond the set).
 * @throws RangeError if `select` is not a u32.
 * @example
 * ```ts
 * featureWord(featureBit(Feature.VERSION_1), 1); // 1
 * ```
 */
export function featureWord(set: bigint, select: number): number {
  if (!Number.isInteger(select) || select < 0 || select > 0xffff_ffff) throw new RangeError(`featureWord: select must be a u32, got ${select}`);
  if (select > 2048) return 0;
  return Number((set >> BigInt(32 * select)) & U32);
}

/**
 * A copy of `set` with word `select` replaced by `value`.
 * @param set - a feature set.
 * @param select - word index.
 * @param value - the new word (u32).
 * @returns the updated feature set.
 * @throws RangeError if `select` or `value` is not a u32, or `select` is beyond bit 65535.
 * @example
 * ```ts
 * withFeatureWord(0n, 1, 1); // featureBit(Feature.VERSION_1)
 * ```
 */
export function withFeatureWord(set: bigint, select: number, value: number): bigint {
  if (!Number.isInteger(select) || select < 0 || select >= 2048) throw new RangeError(`withFeatureWord: select must be in 0..2047, got ${select}`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`withFeatureWord: value must be a u32, got ${value}`);
  const shift = BigInt(32 * select);
  return (set & ~(U32 << shift)) | (BigInt(value) << shift);
}
